"""The uploader against a real HTTP server on 127.0.0.1: exactly-once delivery through outages,
error answers, lost answers and refused items; and a kill -9 of a real camera-side process."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from loomsight.camera.outbox import Outbox
from loomsight.camera.uploader import Outcome, Uploader, UploaderSettings
from tests.camera.ingest_server import IngestServer, sample_event
from tests.camera.test_outbox import alarm, heartbeat, ids, roll_mark

pytestmark = pytest.mark.usefixtures("no_network")
REPO_ROOT = Path(__file__).resolve().parents[2]
BIG = 1 << 30


class FakeTime:
    """A clock that moves only when slept on; `on_sleep(n)` runs after the n-th sleep."""

    def __init__(self, on_sleep: Callable[[int], None] | None = None) -> None:
        self.now_s = 0.0
        self.sleeps: list[float] = []
        self.on_sleep = on_sleep

    def clock(self) -> float:
        return self.now_s

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now_s += seconds
        if self.on_sleep is not None:
            self.on_sleep(len(self.sleeps))


@pytest.fixture
def server() -> Iterator[IngestServer]:
    with IngestServer() as running:
        yield running


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    with Outbox(tmp_path / "outbox.db", BIG) as opened:
        yield opened


MakeUploader = Callable[..., Uploader]


@pytest.fixture
def make_uploader(outbox: Outbox, server: IngestServer) -> Iterator[MakeUploader]:
    made: list[Uploader] = []

    def make(
        fake_time: FakeTime | None = None,
        token: str | None = None,
        url: str | None = None,
        **settings: float,
    ) -> Uploader:
        fake_time = fake_time or FakeTime()
        defaults: dict[str, float] = {"backoff_jitter": 0.0, "timeout_s": 5.0}
        uploader = Uploader(
            outbox,
            url or server.url,
            token or server.token,
            settings=UploaderSettings.model_validate({**defaults, **settings}),
            sleep=fake_time.sleep,
            clock=fake_time.clock,
            rng=random.Random(1),
        )
        made.append(uploader)
        return uploader

    yield make
    for uploader in made:
        uploader.close()


def fill(outbox: Outbox, numbers: range | list[int]) -> None:
    for number in numbers:
        outbox.add_event(*sample_event(number))


def assert_stored_once(server: IngestServer, numbers: range | list[int]) -> None:
    assert list(server.events) == ids(numbers)
    assert all(server.event_posts[event_id] == 1 for event_id in ids(numbers))
    assert {sha for n in numbers for sha in sample_event(n)[1]} <= set(server.images)


def test_everything_is_delivered_exactly_once(
    outbox: Outbox, server: IngestServer, make_uploader: MakeUploader
) -> None:
    fill(outbox, range(25))
    for number in range(3):
        outbox.add_heartbeat(heartbeat(number))
    outbox.add_alarm(alarm(1))
    outbox.add_roll_mark(roll_mark(1))
    uploader = make_uploader(batch_events=10)
    assert uploader.flush(timeout_s=30)
    assert_stored_once(server, range(25))
    assert [len(server.items[kind]) for kind in ("heartbeats", "alarms", "rolls")] == [3, 1, 1]
    assert outbox.stats().depth == 0 and outbox.stats().images == 0
    status = uploader.status()
    assert (status.batches_sent, status.events_sent, status.items_sent) == (3, 25, 30)
    assert status.attempts_failed == 0 and status.last_success_at is not None
    assert uploader.run_once().outcome is Outcome.IDLE


def test_server_down_for_a_while_then_back_loses_and_doubles_nothing(
    outbox: Outbox, server: IngestServer, make_uploader: MakeUploader
) -> None:
    fill(outbox, range(5))
    server.go_down()

    def meanwhile(sleeps: int) -> None:
        fill(outbox, [4 + sleeps])  # the camera goes on writing
        if sleeps == 5:
            server.come_up()

    fake_time = FakeTime(meanwhile)
    uploader = make_uploader(fake_time, backoff_initial_s=1, backoff_max_s=4, batch_events=3)
    assert uploader.run_once().outcome is Outcome.RETRY
    assert uploader.status().backing_off_s == 1.0
    assert "ConnectError" in (uploader.status().last_error or "")
    assert uploader.flush(timeout_s=600)
    assert fake_time.sleeps == [2.0, 4.0, 4.0, 4.0, 4.0]  # the 1 s wait came from run_once
    assert_stored_once(server, range(10))
    assert uploader.status().attempts_failed == 6 and uploader.status().backing_off_s == 0.0


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 429])
def test_transient_answers_are_retried_until_ok(
    outbox: Outbox, server: IngestServer, make_uploader: MakeUploader, status: int
) -> None:
    fill(outbox, range(3))
    server.fail_next(2, status)
    uploader = make_uploader()
    outcomes = [uploader.run_once().outcome for _ in range(3)]
    assert outcomes == [Outcome.RETRY, Outcome.RETRY, Outcome.DELIVERED]
    assert f": {status} " in (uploader.status().last_error or "")
    assert_stored_once(server, range(3))


def test_retry_after_is_honoured_up_to_the_cap(
    outbox: Outbox, server: IngestServer, make_uploader: MakeUploader
) -> None:
    fill(outbox, [0])
    uploader = make_uploader(backoff_initial_s=1, backoff_max_s=30)
    server.fail_next(1, 429, {"Retry-After": "7"})
    assert uploader.run_once().wait_s == 7.0
    server.fail_next(1, 503, {"Retry-After": "3600"})
    assert uploader.run_once().wait_s == 30.0


def test_backoff_jitter_stays_within_its_band(
    outbox: Outbox, server: IngestServer, make_uploader: MakeUploader
) -> None:
    fill(outbox, [0])
    server.go_down()
    uploader = make_uploader(backoff_initial_s=1, backoff_max_s=8, backoff_jitter=0.5)
    waits = [uploader.run_once().wait_s for _ in range(6)]
    for wait_s, base_s in zip(waits, [1, 2, 4, 8, 8, 8], strict=True):
        assert base_s * 0.5 <= wait_s <= base_s
    assert len(set(waits)) == len(waits)  # jittered, not fixed


@pytest.mark.parametrize(
    ("how", "status"),
    [("wrong token", 401), ("forbidden", 403), ("wrong url", 404), ("not an ack", 200)],
)
def test_refused_credentials_or_a_wrong_url_keep_the_data_and_wait_the_cap(
    outbox: Outbox, server: IngestServer, make_uploader: MakeUploader, how: str, status: int
) -> None:
    fill(outbox, range(3))
    if how == "forbidden":
        server.fail_next(1, 403)
    if how == "not an ack":
        server.fail_next(4 + 1, 200)  # 4 image PUTs pass, the POST gets a body but no ack
    uploader = make_uploader(
        token="stolen" if how == "wrong token" else None,
        url=server.url + "/elsewhere" if how == "wrong url" else None,
        backoff_max_s=120,
    )
    step = uploader.run_once()
    assert (step.outcome, step.wait_s) == (Outcome.BLOCKED, 120.0)
    assert outbox.stats().events == 3
    status_text = uploader.status().last_error or ""
    assert str(status) in status_text if status != 200 else "not an IngestAck" in status_text
    if how == "wrong token":
        assert "expected Authorization" in status_text  # the server's answer is kept
    assert make_uploader().flush(timeout_s=30)
    assert_stored_once(server, range(3))


def test_a_lost_answer_means_a_second_post_and_one_stored_copy(
    outbox: Outbox, server: IngestServer, make_uploader: MakeUploader
) -> None:
    fill(outbox, range(4))
    server.drop_after_store_next(1)
    uploader = make_uploader()
    assert uploader.run_once().outcome is Outcome.RETRY  # stored, but the answer never came
    assert list(server.events) == ids(range(4))
    assert outbox.stats().events == 4
    assert uploader.run_once().outcome is Outcome.DELIVERED
    assert list(server.events) == ids(range(4))
    assert all(server.event_posts[event_id] == 2 for event_id in ids(range(4)))
    assert outbox.stats().depth == 0


def test_a_refused_event_is_set_aside_and_the_rest_goes_on(
    outbox: Outbox, server: IngestServer, make_uploader: MakeUploader
) -> None:
    fill(outbox, range(6))
    outbox.add_heartbeat(heartbeat(1))
    bad = ids([3])[0]
    server.refuse_event_ids.add(bad)
    uploader = make_uploader()
    assert uploader.run_once().outcome is Outcome.DELIVERED
    [rejected] = outbox.rejected()
    assert (rejected.kind, rejected.item_id, rejected.status_code) == ("event", str(bad), 422)
    assert str(bad) in rejected.answer
    assert outbox.stats().depth == 0 and outbox.stats().images == 0
    fill(outbox, range(6, 9))  # later data is not blocked
    assert uploader.flush(timeout_s=30)
    assert_stored_once(server, [0, 1, 2, 4, 5, 6, 7, 8])
    assert len(server.items["heartbeats"]) == 1
    assert uploader.status().items_rejected == 1


def test_a_refused_image_leaves_its_event_to_go_without_it(
    outbox: Outbox, server: IngestServer, make_uploader: MakeUploader
) -> None:
    event, images = sample_event(0)
    outbox.add_event(event, images)
    server.fail_next(1, 422)  # the first PUT
    uploader = make_uploader()
    assert uploader.run_once().outcome is Outcome.DELIVERED
    assert list(server.events) == [event.event_id]
    assert len(set(images) & set(server.images)) == 1
    assert uploader.status().images_refused == 1 and outbox.stats().images == 0


def test_the_thread_sends_what_is_written_and_stops(
    outbox: Outbox, server: IngestServer, make_uploader: MakeUploader
) -> None:
    uploader = make_uploader(idle_poll_s=30)
    uploader.start()
    fill(outbox, range(5))
    uploader.wake()
    deadline = time.monotonic() + 10
    while len(server.events) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    uploader.stop(timeout_s=5)
    assert_stored_once(server, range(5))
    assert "loomsight-uploader" not in [thread.name for thread in threading.enumerate()]


def test_flush_gives_up_at_its_timeout(
    outbox: Outbox, server: IngestServer, make_uploader: MakeUploader
) -> None:
    fill(outbox, range(2))
    server.go_down()
    fake_time = FakeTime()
    uploader = make_uploader(fake_time, backoff_initial_s=1, backoff_max_s=4)
    assert not uploader.flush(timeout_s=10)
    assert fake_time.sleeps == [1.0, 2.0, 4.0, 3.0]
    assert outbox.stats().events == 2


# -- kill -9 ------------------------------------------------------------------------------------


def child_main(outbox_path: str, url: str, token: str, first_text: str, count_text: str) -> None:
    """A camera-side process: writes events `first`.. and uploads them; prints each number once
    it is committed; at the end flushes and exits 0."""
    first, count = int(first_text), int(count_text)
    outbox = Outbox(outbox_path, BIG)
    settings = UploaderSettings(
        batch_events=5, backoff_initial_s=0.01, backoff_max_s=0.1, idle_poll_s=0.01
    )
    uploader = Uploader(outbox, url, token, settings=settings)
    uploader.start()
    for number in range(first, first + count):
        outbox.add_event(*sample_event(number))
        sys.stdout.write(f"{number}\n")
        sys.stdout.flush()
        time.sleep(0.003)
    uploader.stop()
    sys.exit(0 if uploader.flush(timeout_s=30) else 1)


def _child(
    outbox_path: Path, server: IngestServer, first: int, count: int
) -> subprocess.Popen[str]:
    code = (
        "import sys; from tests.camera.test_uploader import child_main; child_main(*sys.argv[1:])"
    )
    args = [str(outbox_path), server.url, server.token, str(first), str(count)]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], cwd=REPO_ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


@pytest.mark.slow
def test_kill_9_mid_run_then_restart_delivers_every_event_exactly_once(
    tmp_path: Path, server: IngestServer
) -> None:
    outbox_path = tmp_path / "outbox.db"
    server.delay_s = 0.002
    first = _child(outbox_path, server, 0, 400)
    watchdog = threading.Timer(60, first.kill)
    watchdog.start()
    assert first.stdout is not None
    committed: list[int] = []
    while len(committed) < 60 or len(server.events) < 10:
        line = first.stdout.readline()
        assert line, f"the child ended early: {first.stderr.read() if first.stderr else ''}"
        committed.append(int(line))
    first.send_signal(signal.SIGKILL)
    first.wait()
    watchdog.cancel()
    assert first.returncode == -signal.SIGKILL
    committed += [int(line) for line in first.stdout.read().split()]  # printed before the kill
    assert 0 < len(server.events) < len(committed) < 400, "killed mid-run"

    second = _child(outbox_path, server, 1000, 30)
    _, stderr = second.communicate(timeout=60)
    assert second.returncode == 0, stderr

    delivered = set(server.events)
    assert set(ids(committed + list(range(1000, 1030)))) <= delivered  # nothing lost
    possibly = set(ids(range(committed[-1] + 2))) | set(ids(range(1000, 1030)))
    assert delivered <= possibly  # nothing invented (the kill may come after a commit, before
    for event in server.events.values():  # its line): every event came with its images
        assert {event.crop_sha256, event.frame_sha256} <= set(server.images)  # type: ignore[attr-defined]
    resent = sum(posts - 1 for posts in server.event_posts.values())
    assert resent <= 5, "at most the batch in flight at the kill goes twice"
    with Outbox(outbox_path, BIG) as reopened:
        assert reopened.stats().depth == 0
