"""Content-addressed blob storage for images and model files, behind one small interface.

`LocalFolderStore` keeps blobs in a folder (`ROOT/KIND/ab/abcdef...`); an S3-compatible store
would implement the same `BlobStore` protocol. Names are sha256 digests in lowercase hex and
nothing else, so no request can reach outside the folder. Writes go to a temporary file that is
renamed into place: a reader never sees half a blob, and two concurrent puts of the same content
both end with the one right file.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO, Protocol

from loomsight.api.errors import InvalidInputError, NotFoundError, TooLargeError

SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
CHUNK_BYTES = 1024 * 1024


class BlobKind(StrEnum):
    IMAGE = "images"
    MODEL = "models"


@dataclass(frozen=True)
class StoredBlob:
    key: str
    sha256: str
    size_bytes: int
    new: bool  # False: the store held it already


def check_sha256(name: str) -> str:
    if not SHA256_PATTERN.fullmatch(name):
        raise InvalidInputError(
            f"a blob name must be 64 lowercase hex digits (sha256), got {name!r}"
        )
    return name


class BlobStore(Protocol):
    def put_bytes(self, kind: BlobKind, sha256: str, data: bytes) -> StoredBlob:
        """Store DATA under SHA256 (the caller has checked that it is DATA's digest)."""
        ...

    def put_stream(
        self,
        kind: BlobKind,
        stream: BinaryIO,
        expected_sha256: str,
        expected_size_bytes: int,
        max_bytes: int,
    ) -> StoredBlob:
        """Copy STREAM in, hashing it; refused (nothing kept) unless its digest and size are the
        expected ones."""
        ...

    def exists(self, kind: BlobKind, sha256: str) -> bool: ...

    def read_bytes(self, kind: BlobKind, sha256: str) -> bytes: ...

    def stream(self, kind: BlobKind, sha256: str) -> Iterator[bytes]: ...

    def delete(self, kind: BlobKind, sha256: str) -> bool:
        """Remove a blob; False if there was none."""
        ...


class LocalFolderStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, kind: BlobKind, sha256: str) -> Path:
        check_sha256(sha256)
        return self.root / kind.value / sha256[:2] / sha256

    @staticmethod
    def key(kind: BlobKind, sha256: str) -> str:
        return f"{kind.value}/{sha256[:2]}/{sha256}"

    def _temporary(self, path: Path) -> tuple[BinaryIO, Path]:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        return os.fdopen(handle, "wb"), Path(name)

    def put_bytes(self, kind: BlobKind, sha256: str, data: bytes) -> StoredBlob:
        path = self._path(kind, sha256)
        key = self.key(kind, sha256)
        if path.is_file():
            return StoredBlob(key, sha256, len(data), new=False)
        stream, temporary = self._temporary(path)
        with stream:
            stream.write(data)
        temporary.replace(path)
        return StoredBlob(key, sha256, len(data), new=True)

    def put_stream(
        self,
        kind: BlobKind,
        stream: BinaryIO,
        expected_sha256: str,
        expected_size_bytes: int,
        max_bytes: int,
    ) -> StoredBlob:
        path = self._path(kind, expected_sha256)
        output, temporary = self._temporary(path)
        digest = hashlib.sha256()
        size = 0
        try:
            with output:
                while chunk := stream.read(CHUNK_BYTES):
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLargeError(f"file is over the limit of {max_bytes} bytes")
                    digest.update(chunk)
                    output.write(chunk)
            if digest.hexdigest() != expected_sha256:
                raise InvalidInputError(
                    f"file sha256 is {digest.hexdigest()} ({size} bytes), "
                    f"expected {expected_sha256}"
                )
            if size != expected_size_bytes:
                raise InvalidInputError(
                    f"file has {size} bytes, expected {expected_size_bytes} (sha256 matches: "
                    "the size given is wrong)"
                )
            new = not path.is_file()
            temporary.replace(path)
        finally:
            temporary.unlink(missing_ok=True)
        return StoredBlob(self.key(kind, expected_sha256), expected_sha256, size, new=new)

    def exists(self, kind: BlobKind, sha256: str) -> bool:
        return self._path(kind, sha256).is_file()

    def delete(self, kind: BlobKind, sha256: str) -> bool:
        path = self._path(kind, sha256)
        if not path.is_file():
            return False
        path.unlink()
        return True

    def read_bytes(self, kind: BlobKind, sha256: str) -> bytes:
        try:
            return self._path(kind, sha256).read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"no {kind.value} blob {sha256}") from None

    def stream(self, kind: BlobKind, sha256: str) -> Iterator[bytes]:
        path = self._path(kind, sha256)
        if not path.is_file():
            raise NotFoundError(f"no {kind.value} blob {sha256}")
        return self._chunks(path)

    @staticmethod
    def _chunks(path: Path) -> Iterator[bytes]:
        with path.open("rb") as source:
            while chunk := source.read(CHUNK_BYTES):
                yield chunk
