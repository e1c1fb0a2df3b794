from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.camera.test_agent import STARTED


@pytest.fixture(autouse=True)
def _no_agent_left_running() -> Iterator[None]:
    """An agent process a failed test left behind is killed, not left eating the CPU."""
    yield
    while STARTED:
        process = STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
