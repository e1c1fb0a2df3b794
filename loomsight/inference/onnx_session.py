"""ONNX Runtime sessions on the CPU: `open_session`, and `SessionLanes` to share a batch out.

One session runs a batch on all its intra-op threads. The int8 model gains little from a second
core that way: ONNX Runtime's CPU DequantizeLinear is single-threaded scalar code, and the
model's concats and resizes barely speed up either (1.42x from two threads, against 1.88x for
fp32; see benchmarks/int8_silu.py). The images of a batch, a frame's tiles and their flip views,
are independent, so with two cores two single-thread sessions ("lanes"), each on half of them in
its own thread, get more done than one two-thread session on all of them. ONNX Runtime releases
the GIL while it runs, so the lanes run side by side.

Measured with the shipped default model on this 2-core machine, whole `detect` calls on 1280x720
frames, 2 threads (benchmarks/detector_latency.py, 2026-11-28): 8 tiles took 43.0 ms with int8
in lanes against 48.3 on one session (4 images a run), 74.4 against 75.7 with fp32; with the
card's flip views as well (24 images) 126.1 against 144.8 ms with int8, 216.0 against 222.1 with
fp32. A lane runs one image at a time: on 3200x416 frames with the views (30 images) that was
faster than up to 16 a run (int8 160 against 195 ms) and held less memory (+71 against +462 MiB).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import onnxruntime as ort

from loomsight.errors import ModelFileError

Part = TypeVar("Part")
Result = TypeVar("Result")


def open_session(path: Path, threads: int) -> ort.InferenceSession:
    """An ONNX Runtime CPU session on PATH with THREADS intra-op threads; ModelFileError if the
    file does not load."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime's own exception types derive from Exception only
        raise ModelFileError(f"{path}: not a loadable ONNX model ({error})") from None


class SessionLanes:
    """COUNT single-thread sessions of one ONNX file, each run from a worker thread of its own
    (which ends when the lanes are garbage-collected). Not thread-safe: one caller at a time, as
    the detector that holds them."""

    def __init__(self, path: Path, count: int) -> None:
        if count < 2:
            raise ValueError(f"lanes need a count of at least 2, got {count}")
        self.sessions = [open_session(path, 1) for _ in range(count)]
        self._workers = ThreadPoolExecutor(count, thread_name_prefix="onnx-lane")

    def map(
        self, work: Callable[[ort.InferenceSession, Part], Result], parts: Sequence[Part]
    ) -> list[Result]:
        """WORK(session k, PARTS[k]) for each part, all at once; one part per lane at most."""
        if len(parts) > len(self.sessions):
            raise ValueError(f"{len(parts)} parts for {len(self.sessions)} lanes")
        running = [
            self._workers.submit(work, session, part)
            for session, part in zip(self.sessions, parts, strict=False)
        ]
        return [future.result() for future in running]
