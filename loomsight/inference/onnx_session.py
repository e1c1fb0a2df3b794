"""ONNX Runtime sessions on the CPU: `open_session`, and `SessionLanes` for a batch split in two.

One session runs a batch on all its intra-op threads. The int8 model gains little from a second
core that way: ONNX Runtime's CPU DequantizeLinear is single-threaded scalar code, and the
model's concats and resizes barely speed up either (1.42x from two threads, against 1.88x for
fp32; see benchmarks/int8_silu.py). The images of a batch, a frame's tiles and their flip views,
are independent, so with two cores two single-thread sessions ("lanes"), each on half of them in
its own thread, get more done than one two-thread session on all of them. ONNX Runtime releases
the GIL while it runs, so the lanes run side by side.

Measured with the shipped default model on this 2-core machine, whole `detect` calls on 1280x720
frames (benchmarks/detector_latency.py, 2 threads): 8 tiles in two lanes took 41.7 ms with int8
against 49.0 on one session, 77.8 against 80.9 with fp32; with the card's flip views as well (24
images) 135 against 152 ms with int8, 249 against 247 with fp32. So int8 runs a camera frame
1.84x as fast as fp32 in lanes, 1.63x on one session each. A batch of 3 (a 416 frame and its two
views) is faster on one session: the detector uses lanes only when each gets two images or more.
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
    """COUNT single-thread sessions of one ONNX file, each run from a worker thread of its own.
    Not thread-safe: one caller at a time (as the detector that holds it)."""

    def __init__(self, path: Path, count: int) -> None:
        if count < 2:
            raise ValueError(f"lanes need a count of at least 2, got {count}")
        self.sessions = [open_session(path, 1) for _ in range(count)]
        self._workers = ThreadPoolExecutor(count, thread_name_prefix="onnx-lane")

    def __len__(self) -> int:
        return len(self.sessions)

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

    def close(self) -> None:
        """Stop the worker threads (they also stop when the lanes are garbage-collected)."""
        self._workers.shutdown(wait=True)
