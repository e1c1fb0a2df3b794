"""Capture in its thread: queue and latest hand-over, losses and backoff, bad frames, stopping."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from loomsight.camera.capture import Capture, CaptureConfig, CaptureMode
from loomsight.camera.frames import SYSTEM_CLOCK, BadFrameError, Clock, Frame
from loomsight.camera.sources import (
    FolderSourceConfig,
    SourceConfig,
    StreamSourceConfig,
    SyntheticSource,
    SyntheticSourceConfig,
    UsbSourceConfig,
    VideoSourceConfig,
    make_source,
)
from loomsight.errors import SourceLost
from tests.camera.test_sources import FakeClock, MjpegServer, level_of, write_folder, write_video

FAST = CaptureConfig(backoff_initial_s=0.01, backoff_factor=2.0, backoff_max_s=0.05)


class ScriptedSource:
    """A FrameSource that follows a script.

    Each open takes the next entry of `opens` (an exception to raise, or None to succeed), then
    `opens_after`. Each read takes the next step of `reads`, then `then`: "frame", "bad" (raises
    BadFrameError), "junk" (returns no Frame), "end", "block" (waits for `unblock`), or an
    exception to raise.
    """

    def __init__(
        self,
        reads: Sequence[str | Exception] = (),
        opens: Sequence[Exception | None] = (),
        *,
        then: str = "end",
        opens_after: Exception | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.name = "scripted"
        self._reads: deque[str | Exception] = deque(reads)
        self._opens: deque[Exception | None] = deque(opens)
        self._then = then
        self._opens_after = opens_after
        self._clock = clock
        self.index = 0
        self.opened = 0
        self.closed = 0
        self.unblock = threading.Event()

    def open(self) -> None:
        error = self._opens.popleft() if self._opens else self._opens_after
        if error is not None:
            raise error
        self.opened += 1

    def read(self) -> Frame | None:
        step = self._reads.popleft() if self._reads else self._then
        if isinstance(step, Exception):
            raise step
        if step == "bad":
            raise BadFrameError("scripted bad frame")
        if step == "junk":
            return "not a frame"  # type: ignore[return-value]
        if step == "end":
            return None
        if step == "block":
            self.unblock.wait(10)
        image = np.full((4, 6, 3), self.index % 256, np.uint8)
        frame = Frame.stamped(image, index=self.index, source_name=self.name, clock=self._clock)
        self.index += 1
        return frame

    def close(self) -> None:
        self.closed += 1


def take_all(capture: Capture, pause_s: float = 0.0) -> list[Frame]:
    frames = []
    for frame in capture:
        frames.append(frame)
        time.sleep(pause_s)
    return frames


@pytest.mark.parametrize(
    ("config", "mode"),
    [
        (UsbSourceConfig(), CaptureMode.LATEST),
        (StreamSourceConfig(url="rtsp://127.0.0.1/cam"), CaptureMode.LATEST),
        (VideoSourceConfig(path=Path("a.avi")), CaptureMode.QUEUE),
        (VideoSourceConfig(path=Path("a.avi"), realtime=True), CaptureMode.LATEST),
        (FolderSourceConfig(path=Path("imgs")), CaptureMode.QUEUE),
        (SyntheticSourceConfig(), CaptureMode.QUEUE),
        (SyntheticSourceConfig(realtime=True), CaptureMode.LATEST),
    ],
)
def test_mode_suits_the_source_unless_configured(config: SourceConfig, mode: CaptureMode) -> None:
    assert CaptureConfig().mode_for(config) is mode
    assert CaptureConfig(mode=CaptureMode.QUEUE).mode_for(config) is CaptureMode.QUEUE


def test_queue_mode_delivers_every_frame_of_a_video_in_order(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.avi", 30)
    capture = Capture.from_config(VideoSourceConfig(path=video), CaptureConfig(queue_size=2))
    assert capture.mode is CaptureMode.QUEUE
    with capture:
        frames = take_all(capture, pause_s=0.002)
        assert capture.get(timeout_s=0.01) is None
    assert [level_of(f.image) for f in frames] == list(range(30))
    status = capture.status()
    assert status.ended and status.frames_read == 30 and status.frames_dropped == 0
    assert status.losses == 0 and not status.connected


def test_truncated_video_ends_the_capture_cleanly(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.avi", 30)
    cut = tmp_path / "cut.avi"
    cut.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    with Capture.from_config(VideoSourceConfig(path=cut)) as capture:
        frames = take_all(capture)
    assert 0 < len(frames) < 30 and capture.status().ended


def test_latest_mode_with_a_slow_consumer_drops_and_counts() -> None:
    config = SyntheticSourceConfig(seed=1, width_px=64, frame_height_px=32, max_frames=150)
    source = make_source(config)
    with Capture(source, mode=CaptureMode.LATEST) as capture:
        frames = take_all(capture, pause_s=0.01)
    status = capture.status()
    indexes = [f.index for f in frames]
    assert indexes == sorted(set(indexes)) and indexes[-1] == 149  # the newest, in order
    assert status.frames_dropped > 0 and status.frames_read == 150
    assert len(frames) + status.frames_dropped == 150
    assert isinstance(source, SyntheticSource)
    assert [f.top_m for f in frames] == [source.top_m_of(i) for i in indexes]


def test_failed_opens_back_off_and_the_gap_is_reported() -> None:
    fake = FakeClock()
    lost = SourceLost("camera unplugged")
    source = ScriptedSource(["frame"] * 5, opens=[lost] * 5, clock=fake.clock)
    with Capture(source, FAST, mode=CaptureMode.QUEUE, clock=fake.clock, sleep=fake.sleep) as cap:
        frames = take_all(cap)
    status = cap.status()
    assert fake.sleeps == [0.01, 0.02, 0.04, 0.05, 0.05]
    assert status.losses == 1 and status.frames_read == 5 and len(frames) == 5
    (gap,) = status.gaps
    assert gap.duration_s == pytest.approx(0.17)
    assert (gap.end - gap.start).total_seconds() == pytest.approx(0.17, abs=1e-5)
    assert gap.reason == "camera unplugged" and status.lost_since is None


@pytest.mark.parametrize(
    ("error", "level"),
    [(SourceLost("stream down"), logging.WARNING), (RuntimeError("driver bug"), logging.ERROR)],
)
def test_a_loss_mid_run_is_logged_once_and_frames_go_on(
    error: Exception, level: int, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeClock()
    source = ScriptedSource(
        ["frame"] * 3 + [error, error] + ["frame"] * 3,
        opens=[None, SourceLost("still down"), SourceLost("still down")],
        clock=fake.clock,
    )
    with (
        caplog.at_level(logging.DEBUG, logger="loomsight.camera.capture"),
        Capture(source, FAST, mode=CaptureMode.QUEUE, clock=fake.clock, sleep=fake.sleep) as cap,
    ):
        frames = take_all(cap)
    status = cap.status()
    assert [f.index for f in frames] == list(range(6))
    assert status.losses == 1 and len(status.gaps) == 1 and status.ended
    assert fake.sleeps == [0.01, 0.02, 0.04, 0.05]  # read failed, open failed twice, read failed
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.levelno for r in loud] == [level]
    assert (loud[0].exc_info is not None) == (level == logging.ERROR)
    assert source.closed >= 4  # after each failure, and at the end


def test_each_loss_is_a_gap_and_backoff_restarts_after_frames() -> None:
    fake = FakeClock()
    reads: list[str | Exception] = [
        "frame",
        SourceLost("one"),
        "frame",
        "frame",
        SourceLost("two"),
        "frame",
    ]
    source = ScriptedSource(reads, clock=fake.clock)
    with Capture(source, FAST, mode=CaptureMode.QUEUE, clock=fake.clock, sleep=fake.sleep) as cap:
        frames = take_all(cap)
    status = cap.status()
    assert len(frames) == 4 and status.losses == 2 and fake.sleeps == [0.01, 0.01]
    assert [g.reason for g in status.gaps] == ["one", "two"]


def test_bad_frames_are_counted_and_skipped() -> None:
    source = ScriptedSource(["frame", "bad", "junk", "frame", "bad", "frame"])
    with Capture(source, FAST, mode=CaptureMode.QUEUE) as capture:
        frames = take_all(capture)
    status = capture.status()
    assert [f.index for f in frames] == [0, 1, 2]
    assert status.bad_frames == 3 and status.losses == 0 and status.ended


def test_many_bad_frames_in_a_row_count_as_a_loss() -> None:
    fake = FakeClock()
    source = ScriptedSource(["frame"] + ["bad"] * 4 + ["frame"], clock=fake.clock)
    config = FAST.model_copy(update={"max_bad_in_row": 3})
    with Capture(source, config, mode=CaptureMode.QUEUE, clock=fake.clock, sleep=fake.sleep) as cap:
        frames = take_all(cap)
    status = cap.status()
    assert len(frames) == 2 and status.bad_frames == 4 and status.losses == 1
    assert "3 bad frames in a row" in status.gaps[0].reason and source.opened == 2


def test_folder_renamed_away_and_back_reconnects_without_repeats(tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    write_folder(folder, 8)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            (tmp_path / "away").rename(folder)

    config = FAST.model_copy(update={"queue_size": 1})
    source_config = FolderSourceConfig(path=folder)
    with Capture.from_config(source_config, config, sleep=sleep) as capture:
        frames = [capture.get(timeout_s=5), capture.get(timeout_s=5)]
        folder.rename(tmp_path / "away")
        frames += take_all(capture)
    status = capture.status()
    assert [level_of(f.image) for f in frames if f] == list(range(8))
    assert status.losses == 1 and len(status.gaps) == 1 and "gone" in status.gaps[0].reason
    assert sleeps == [0.01, 0.02] and status.source_skipped == 3 and status.ended


def test_capture_goes_on_through_a_stream_that_hangs_up(no_network: list[str]) -> None:
    with MjpegServer(per_connection=8) as server:
        source_config = StreamSourceConfig(url=server.url, read_timeout_s=2)
        config = FAST.model_copy(update={"mode": CaptureMode.QUEUE})
        with Capture.from_config(source_config, config) as capture:
            frames = [capture.get(timeout_s=5) for _ in range(20)]
    status = capture.status()
    assert all(f is not None for f in frames)
    assert [f.index for f in frames if f] == list(range(20))
    assert server.connections >= 3 and status.losses >= 2 and len(status.gaps) >= 2
    assert no_network == []


@pytest.mark.parametrize(
    "case",
    ["latest-endless", "queue-full", "in-backoff"],
)
def test_stop_is_prompt_and_closes_the_source(case: str) -> None:
    source, mode, config = {
        "latest-endless": (ScriptedSource(then="frame"), CaptureMode.LATEST, CaptureConfig()),
        "queue-full": (ScriptedSource(then="frame"), CaptureMode.QUEUE, CaptureConfig()),
        "in-backoff": (
            ScriptedSource(opens_after=SourceLost("gone")),
            CaptureMode.LATEST,
            CaptureConfig(backoff_initial_s=30),
        ),
    }[case]
    with Capture(source, config, mode=mode) as capture:
        time.sleep(0.1)
        started = time.monotonic()
        assert capture.stop() is True
        assert time.monotonic() - started < 1.0
    assert source.closed >= 1 and not capture.status().connected


def test_waiting_reports_the_loss_and_times_out() -> None:
    source = ScriptedSource(opens_after=SourceLost("no camera at index 3"))
    with Capture(source, CaptureConfig(backoff_initial_s=30)) as capture:
        assert capture.get(timeout_s=0.1) is None
        status = capture.status()
    assert not status.connected and status.lost_since is not None
    assert status.last_error == "no camera at index 3" and status.losses == 1
    assert status.gaps == ()  # a gap is reported once frames come again


def test_stop_tells_when_the_source_is_stuck_and_it_closes_later() -> None:
    source = ScriptedSource(["block", "frame"])
    capture = Capture(source, CaptureConfig(stop_timeout_s=0.2)).start()
    time.sleep(0.05)
    assert capture.stop() is False and source.closed == 0
    source.unblock.set()
    deadline = time.monotonic() + 5
    while source.closed == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert source.closed == 1


def test_a_capture_starts_once() -> None:
    with Capture(ScriptedSource()) as capture, pytest.raises(RuntimeError, match="started already"):
        capture.start()
