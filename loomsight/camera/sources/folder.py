"""A folder of images, read in name order (corrupt images skipped and counted)."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from loomsight.camera.frames import SYSTEM_CLOCK, Clock, Frame
from loomsight.camera.sources.base import Pacer
from loomsight.camera.sources.config import FolderSourceConfig
from loomsight.datasets.layout import IMAGE_SUFFIXES
from loomsight.errors import SourceLost

log = logging.getLogger(__name__)


class FolderSource:
    """Images of a folder in name order; corrupt ones are skipped and counted."""

    def __init__(self, config: FolderSourceConfig, clock: Clock = SYSTEM_CLOCK) -> None:
        self.config = config
        self._name = config.name or f"folder:{config.path.name}"
        self._clock = clock
        self._pacer = Pacer(config.fps if config.realtime else None, clock)
        self._paths: list[Path] | None = None
        self._position = 0
        self._last_key: str | None = None  # the last file tried; a reopen goes on after it
        self._read_in_pass = 0
        self._index = 0
        self.corrupt_images = 0
        self._warned: set[Path] = set()
        self.vanished_images = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def skipped_inputs(self) -> int:
        return self.corrupt_images + self.vanished_images

    def _scan(self) -> list[Path]:
        folder = self.config.path
        if not folder.is_dir():
            raise SourceLost(f"{self._name}: expected an image folder at {folder}, found none")
        try:
            found = folder.glob(self.config.pattern)
            images = [p for p in found if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
            return sorted(images, key=self._key)
        except OSError as exc:
            raise SourceLost(f"{self._name}: cannot list {folder}: {exc}") from exc

    def _key(self, path: Path) -> str:
        return path.relative_to(self.config.path).as_posix()

    def open(self) -> None:
        if self._paths is not None:
            return
        paths = self._scan()
        if not paths:
            raise SourceLost(
                f"{self._name}: no images matching {self.config.pattern!r} "
                f"({', '.join(sorted(IMAGE_SUFFIXES))}) in {self.config.path}"
            )
        self._paths = paths
        last = self._last_key
        self._position = 0 if last is None else sum(1 for p in paths if self._key(p) <= last)
        self._read_in_pass = 0

    def read(self) -> Frame | None:
        if self._paths is None:
            raise SourceLost(f"{self._name}: read before open() or after close()")
        while True:
            if self._position >= len(self._paths):
                if not self.config.loop:
                    return None
                if self._read_in_pass == 0:
                    raise SourceLost(f"{self._name}: not one readable image in {self.config.path}")
                self._paths, self._position, self._read_in_pass = self._scan(), 0, 0
                continue
            path = self._paths[self._position]
            self._position += 1
            image = self._decode(path)
            self._last_key = self._key(path)  # tried: not again after a reopen
            if image is None:
                continue
            self._read_in_pass += 1
            self._pacer.wait()
            frame = Frame.stamped(
                image, index=self._index, source_name=self._name, clock=self._clock
            )
            self._index += 1
            return frame

    def _decode(self, path: Path) -> object:
        try:
            data = np.fromfile(path, dtype=np.uint8)
        except OSError as exc:
            if not self.config.path.is_dir():
                raise SourceLost(f"{self._name}: the folder {self.config.path} is gone") from exc
            self.vanished_images += 1
            log.warning("%s: %s vanished before it was read; skipped", self._name, path.name)
            return None
        image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        if image is None:
            self.corrupt_images += 1
            if path not in self._warned:  # once per file, not on every pass of a loop
                self._warned.add(path)
                log.warning("%s: %s is not a readable image; skipped", self._name, path.name)
        return image

    def close(self) -> None:
        self._paths = None
