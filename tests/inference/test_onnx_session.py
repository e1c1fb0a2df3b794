"""SessionLanes: single-thread sessions of one file, run side by side from their own threads."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from loomsight.errors import ModelFileError
from loomsight.inference.onnx_session import SessionLanes, open_session
from tests.inference.conftest import write_tiny_onnx


def test_lanes_run_their_parts_at_the_same_time(tmp_path: Path) -> None:
    """Each part waits at a barrier for the other: run one after the other, the barrier breaks."""
    lanes = SessionLanes(write_tiny_onnx(tmp_path / "identity.onnx", ["batch", 3, 4, 4]), 2)
    meeting = threading.Barrier(2, timeout=10)

    def work(session: ort.InferenceSession, value: float) -> tuple[float, str, int]:
        meeting.wait()
        output = session.run(None, {"images": np.full((1, 3, 4, 4), value, np.float32)})
        return float(output[0].mean()), threading.current_thread().name, id(session)

    results = lanes.map(work, [1.5, 2.5])
    assert [value for value, _, _ in results] == [1.5, 2.5]  # in the order of the parts
    assert len({name for _, name, _ in results}) == 2  # two worker threads
    assert {session for _, _, session in results} == {id(s) for s in lanes.sessions}


def test_lanes_refuse_too_many_parts_and_too_few_lanes(tmp_path: Path) -> None:
    path = write_tiny_onnx(tmp_path / "identity.onnx", ["batch", 3, 4, 4])
    with pytest.raises(ValueError, match="at least 2, got 1"):
        SessionLanes(path, 1)
    with pytest.raises(ValueError, match="3 parts for 2 lanes"):
        SessionLanes(path, 2).map(lambda session, part: part, [1, 2, 3])


def test_a_file_that_is_not_a_model_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"not onnx")
    with pytest.raises(ModelFileError, match="not a loadable ONNX model"):
        open_session(path, 1)
    with pytest.raises(ModelFileError, match="not a loadable ONNX model"):
        SessionLanes(path, 2)


def test_the_worker_threads_end_with_the_lanes(tmp_path: Path) -> None:
    """A camera swaps its detector on each model update: the old lanes' threads must not stay.
    Only this test's own threads are watched: other tests' lanes may still be live."""
    path = write_tiny_onnx(tmp_path / "identity.onnx", ["batch", 3, 4, 4])
    lanes = SessionLanes(path, 2)
    meeting = threading.Barrier(2, timeout=10)  # both parts running at once: two threads

    def work(session: ort.InferenceSession, part: int) -> threading.Thread:
        meeting.wait()
        return threading.current_thread()

    workers = lanes.map(work, [1, 2])
    assert len(set(workers)) == 2 and all(w.name.startswith("onnx-lane") for w in workers)
    assert all(worker.is_alive() for worker in workers)
    del lanes
    gc.collect()
    for worker in workers:
        worker.join(timeout=10)
    assert not any(worker.is_alive() for worker in workers)
