"""Frames and capture sources on real files, a real HTTP stream and the synthetic web."""

from __future__ import annotations

import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from loomsight.camera.capture import Capture, CaptureConfig
from loomsight.camera.frames import BadFrameError, Clock, Frame, as_bgr
from loomsight.camera.sources import (
    FolderSource,
    FolderSourceConfig,
    FrameSource,
    SourceConfig,
    StreamSourceConfig,
    SyntheticSource,
    SyntheticSourceConfig,
    UsbSourceConfig,
    VideoSourceConfig,
    make_source,
    open_source,
)
from loomsight.errors import SourceLost

SIZE_WH = (64, 48)
LEVEL_STEP = 6


def sample_image(level: int, seed: int = 0) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """Noise on top (so files are not trivially small), a flat bottom half telling `level`."""
    width, height = SIZE_WH
    image = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    image[height // 2 :] = 10 + LEVEL_STEP * level
    return image


def level_of(image: np.ndarray[Any, Any]) -> int:
    return round((float(image[SIZE_WH[1] // 2 + 4 :].mean()) - 10) / LEVEL_STEP)


def write_video(path: Path, count: int, fps: float = 10.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, SIZE_WH)
    assert writer.isOpened()
    for i in range(count):
        writer.write(sample_image(i, seed=i))
    writer.release()
    return path


def write_folder(folder: Path, count: int) -> list[str]:
    """`count` good images (alternately .png and .jpg) and, between them, three bad ones."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        cv2.imwrite(str(folder / f"img_{i:03d}.{('png', 'jpg')[i % 2]}"), sample_image(i, seed=i))
    (folder / "img_001_garbage.jpg").write_bytes(b"not a jpeg at all" * 50)
    (folder / "img_002_empty.png").write_bytes(b"")
    good = (folder / "img_001.jpg").read_bytes()
    (folder / "img_003_cut.jpg").write_bytes(good[:20])
    (folder / "notes.txt").write_text("not an image; not even tried")
    return sorted(p.name for p in folder.glob("img_???.*"))


def read_all(source: FrameSource, limit: int = 1000) -> list[Frame]:
    frames = []
    while (frame := source.read()) is not None:
        frames.append(frame)
        assert len(frames) <= limit, "source did not end"
    return frames


class FakeClock:
    """Monotonic and wall time that only `sleep` moves."""

    def __init__(self) -> None:
        self.now_ns = 0
        self.sleeps: list[float] = []

    def monotonic_ns(self) -> int:
        return self.now_ns

    def utc_now(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=self.now_ns // 1000)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now_ns += round(seconds * 1e9)

    @property
    def clock(self) -> Clock:
        return Clock(self.monotonic_ns, self.utc_now, self.sleep)


class MjpegServer:
    """An HTTP MJPEG camera on 127.0.0.1: `per_connection` frames, then it hangs up."""

    def __init__(self, per_connection: int, interval_s: float = 0.005) -> None:
        self.per_connection = per_connection
        self.connections = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.connections += 1
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                for i in range(server.per_connection):
                    jpeg = cv2.imencode(".jpg", sample_image(i % 30, seed=i))[1].tobytes()
                    head = f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}"
                    try:
                        self.wfile.write(head.encode() + b"\r\n\r\n" + jpeg + b"\r\n")
                        self.wfile.flush()
                    except OSError:
                        return
                    time.sleep(interval_s)

            def log_message(self, *args: object) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}/video.mjpg"

    def __enter__(self) -> MjpegServer:
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()


@pytest.fixture
def video(tmp_path: Path) -> Path:
    return write_video(tmp_path / "clip.avi", 30)


# frames


GOOD = np.zeros((4, 6, 3), np.uint8)


@pytest.mark.parametrize(
    "image",
    [
        None,
        np.zeros((0, 6, 3), np.uint8),
        np.zeros((4, 6), np.uint8),
        GOOD.astype(np.float32),
        np.zeros((4, 6, 2), np.uint8),
        "a picture",
    ],
)
def test_frame_refuses_what_is_not_bgr(image: object) -> None:
    with pytest.raises(BadFrameError, match="expected an HxWx3 uint8 BGR image"):
        Frame(image=image, index=0, t_ns=0, captured_at=datetime.now(UTC), source_name="x")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"index": -1}, "index must be >= 0"),
        ({"captured_at": datetime(2026, 1, 1)}, "time zone"),
        ({"top_m": float("nan")}, "finite"),
    ],
)
def test_frame_refuses_bad_fields(changes: dict[str, Any], message: str) -> None:
    fields: dict[str, Any] = {
        "image": GOOD,
        "index": 0,
        "t_ns": 0,
        "captured_at": datetime.now(UTC),
        "source_name": "x",
    }
    with pytest.raises(ValueError, match=message):
        Frame(**(fields | changes))


@pytest.mark.parametrize(
    "image",
    [
        np.full((4, 6), 7, np.uint8),
        np.full((4, 6, 1), 7, np.uint8),
        np.full((4, 6, 4), 7, np.uint8),
    ],
)
def test_grey_and_bgra_become_bgr(image: np.ndarray[Any, Any]) -> None:
    bgr = as_bgr(image)
    assert bgr.shape == (4, 6, 3) and bgr.dtype == np.uint8 and (bgr == 7).all()


# configs


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        ({"type": "usb", "device": 1, "width_px": 640}, UsbSourceConfig),
        ({"type": "stream", "url": "rtsp://cam.local:554/main"}, StreamSourceConfig),
        ({"type": "video", "path": "a.avi", "loop": True}, VideoSourceConfig),
        ({"type": "folder", "path": "imgs", "pattern": "*.png", "fps": 2}, FolderSourceConfig),
        ({"type": "synthetic", "seed": 3, "speed_m_per_min": 60}, SyntheticSourceConfig),
    ],
)
def test_config_kind_is_chosen_by_type(data: dict[str, Any], kind: type) -> None:
    assert isinstance(TypeAdapter(SourceConfig).validate_python(data), kind)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"type": "gige"}, "does not match any of the expected tags"),
        ({"type": "usb", "device": 0, "exposure": 3}, "Extra inputs are not permitted"),
        ({"type": "stream", "url": "ftp://cam/x"}, "expected an URL of scheme"),
        ({"type": "stream", "url": "/dev/video0"}, "expected an URL of scheme"),
        ({"type": "synthetic", "fps": 0}, "greater than 0"),
        ({"type": "synthetic", "dropout_every_s": 2, "dropout_s": 2}, "shorter than dropout_every"),
        ({"type": "folder"}, "Field required"),
    ],
)
def test_bad_config_is_refused(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TypeAdapter(SourceConfig).validate_python(data)


# video files


def test_video_plays_every_frame_in_order_then_ends(video: Path) -> None:
    source = open_source(VideoSourceConfig(path=video))
    frames = read_all(source)
    assert [level_of(f.image) for f in frames] == list(range(30))
    assert [f.index for f in frames] == list(range(30))
    assert all(f.top_m is None and f.captured_at.tzinfo is not None for f in frames)
    assert [f.t_ns for f in frames] == sorted(f.t_ns for f in frames)
    assert frames[0].size_wh_px == SIZE_WH and frames[0].source_name == "video:clip.avi"
    assert source.read() is None  # ended for good
    source.close()


def test_video_loops_and_indexes_go_on(video: Path) -> None:
    source = open_source(VideoSourceConfig(path=video, loop=True))
    frames = [source.read() for _ in range(65)]
    assert [level_of(f.image) for f in frames if f] == [i % 30 for i in range(65)]
    assert [f.index for f in frames if f] == list(range(65))
    source.close()


def test_video_reopened_goes_on_where_it_was(video: Path) -> None:
    source = open_source(VideoSourceConfig(path=video))
    first = [source.read() for _ in range(12)]
    source.close()
    source.open()
    frames = first + read_all(source)
    assert [level_of(f.image) for f in frames if f] == list(range(30))
    assert [f.index for f in frames if f] == list(range(30))


def _cut(data: bytes, fraction: float) -> bytes:
    return data[: int(len(data) * fraction)]


def _scramble_middle(data: bytes) -> bytes:
    middle = len(data) // 2
    noise = np.random.default_rng(1).integers(0, 256, 3000, dtype=np.uint8).tobytes()
    return data[:middle] + noise + data[middle + 3000 :]


@pytest.mark.parametrize(
    ("damage", "at_most"),
    [
        (lambda d: _cut(d, 0.6), 29),
        (lambda d: _cut(d, 0.3), 29),
        (lambda d: _cut(d, 0.1), 29),
        (lambda d: _cut(d, 0.02), 29),
        (lambda d: d[:100], 0),
        (lambda d: b"", 0),
        (lambda d: b"RIFF" + bytes(500), 0),
        (_scramble_middle, 30),
    ],
    ids=["cut60", "cut30", "cut10", "cut2", "header", "empty", "fake-riff", "scrambled"],
)
def test_damaged_video_ends_or_is_lost_never_crashes(
    video: Path, tmp_path: Path, damage: Any, at_most: int
) -> None:
    damaged = tmp_path / "damaged.avi"
    damaged.write_bytes(damage(video.read_bytes()))
    source = make_source(VideoSourceConfig(path=damaged))
    try:
        source.open()
        frames = []
        while True:
            try:
                frame = source.read()
            except BadFrameError:
                continue
            if frame is None:
                break
            frames.append(frame)
    except SourceLost as exc:
        assert "damaged.avi" in str(exc)
        frames = []
    finally:
        source.close()
    assert len(frames) <= at_most


def test_missing_video_is_a_clear_source_lost(tmp_path: Path) -> None:
    with pytest.raises(SourceLost, match=r"cannot open \(no file at .*nothing\.avi\)"):
        open_source(VideoSourceConfig(path=tmp_path / "nothing.avi"))


@pytest.mark.parametrize(("fps", "period_ms"), [(None, 100), (20.0, 50)])
def test_realtime_video_plays_at_its_rate(video: Path, fps: float | None, period_ms: int) -> None:
    fake = FakeClock()
    source = open_source(VideoSourceConfig(path=video, realtime=True, fps=fps), fake.clock)
    times = [f.t_ns for f in (source.read() for _ in range(5)) if f]
    assert np.diff(times).tolist() == [period_ms * 1_000_000] * 4


# folders


def test_folder_skips_and_counts_bad_images(tmp_path: Path) -> None:
    names = write_folder(tmp_path / "imgs", 5)
    source = open_source(FolderSourceConfig(path=tmp_path / "imgs"))
    assert isinstance(source, FolderSource)
    frames = read_all(source)
    assert [level_of(f.image) for f in frames] == [0, 1, 2, 3, 4]
    assert len(names) == 5 and [f.index for f in frames] == list(range(5))
    assert source.corrupt_images == 3 and source.skipped_inputs == 3
    assert source.read() is None


def test_folder_pattern_and_loop(tmp_path: Path) -> None:
    write_folder(tmp_path / "imgs", 5)
    source = open_source(FolderSourceConfig(path=tmp_path / "imgs", pattern="*.png", loop=True))
    frames = [source.read() for _ in range(8)]
    assert [level_of(f.image) for f in frames if f] == [0, 2, 4, 0, 2, 4, 0, 2]
    assert [f.index for f in frames if f] == list(range(8))
    assert isinstance(source, FolderSource) and source.corrupt_images == 2  # empty png, 2 passes


def test_folder_of_only_bad_images_is_lost_not_a_busy_loop(tmp_path: Path) -> None:
    (tmp_path / "bad.jpg").write_bytes(b"junk")
    source = open_source(FolderSourceConfig(path=tmp_path, loop=True))
    with pytest.raises(SourceLost, match="not one readable image"):
        source.read()


@pytest.mark.parametrize(
    ("make", "message"),
    [(lambda p: p / "missing", "expected an image folder"), (lambda p: p, "no images matching")],
)
def test_missing_or_empty_folder_is_lost(tmp_path: Path, make: Any, message: str) -> None:
    with pytest.raises(SourceLost, match=message):
        open_source(FolderSourceConfig(path=make(tmp_path)))


def test_folder_renamed_away_is_lost_and_resumes_where_it_was(tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    write_folder(folder, 5)
    source = open_source(FolderSourceConfig(path=folder))
    first = [source.read(), source.read()]
    folder.rename(tmp_path / "away")
    with pytest.raises(SourceLost, match="gone"):
        source.read()
    source.close()
    with pytest.raises(SourceLost, match="expected an image folder"):
        source.open()
    (tmp_path / "away").rename(folder)
    source.open()
    rest = read_all(source)
    assert [level_of(f.image) for f in first + rest if f] == [0, 1, 2, 3, 4]
    assert [f.index for f in first + rest if f] == list(range(5))
    assert isinstance(source, FolderSource) and source.corrupt_images == 3  # each tried once


def test_realtime_folder_paces_at_fps(tmp_path: Path) -> None:
    write_folder(tmp_path / "imgs", 3)
    fake = FakeClock()
    config = FolderSourceConfig(path=tmp_path / "imgs", realtime=True, fps=4, loop=True)
    source = open_source(config, fake.clock)
    times = [f.t_ns for f in (source.read() for _ in range(6)) if f]
    assert np.diff(times).tolist() == [250_000_000] * 5


# synthetic web


SYNTH = SyntheticSourceConfig(
    seed=5, width_px=96, frame_height_px=48, mm_per_px=0.5, speed_m_per_min=6.0, fps=10.0
)


def test_synthetic_frames_are_the_moving_web_at_line_speed() -> None:
    source = open_source(SYNTH.model_copy(update={"start_m": 2.0}))
    assert isinstance(source, SyntheticSource)
    frames = [source.read() for _ in range(6)]
    expected = list(source.web.frames(speed_m_per_min=6.0, fps=10.0, start_m=2.0, count=6))
    assert [f.top_m for f in frames if f] == [w.top_m for w in expected]
    assert np.diff([f.top_m for f in frames if f]) == pytest.approx([6.0 / 60 / 10] * 5)
    for frame, web_frame in zip(frames, expected, strict=True):
        assert frame is not None and frame.index == web_frame.index
        assert np.array_equal(frame.image, as_bgr(web_frame.image))
        again = source.web.frame_at(frame.top_m or 0.0, frame.index).image
        assert np.array_equal(frame.image, as_bgr(again))


def test_synthetic_source_ends_after_max_frames_and_gives_bgr_for_mono() -> None:
    source = open_source(SYNTH.model_copy(update={"max_frames": 3, "grayscale": True}))
    frames = read_all(source)
    assert len(frames) == 3
    image = frames[0].image
    assert image.shape == (48, 96, 3)
    assert (image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all()


def test_realtime_synthetic_paces_at_fps() -> None:
    fake = FakeClock()
    source = open_source(SYNTH.model_copy(update={"realtime": True, "fps": 8.0}), fake.clock)
    frames = [source.read() for _ in range(4)]
    assert np.diff([f.t_ns for f in frames if f]).tolist() == [125_000_000] * 3
    assert fake.sleeps == [pytest.approx(0.125)] * 3


def test_faulty_synthetic_camera_drops_out_and_capture_reconnects_with_gaps() -> None:
    """Frames 5-6 and 10-11 of 14 are lost (0.2 s of every 0.5 s at 10 fps): Capture backs off
    (0.1 s, still lost; 0.2 s, back), reports each gap, and the web has moved on meanwhile."""
    fake = FakeClock()
    config = SyntheticSourceConfig.model_validate(
        {**SYNTH.model_dump(), "dropout_every_s": 0.5, "dropout_s": 0.2, "max_frames": 14}
    )
    backoff = CaptureConfig(backoff_initial_s=0.1, backoff_factor=2.0)
    capture = Capture.from_config(config, backoff, clock=fake.clock, sleep=fake.sleep)
    with capture:
        frames = list(capture)
    status = capture.status()
    assert [f.index for f in frames] == [0, 1, 2, 3, 4, 7, 8, 9, 12, 13]
    assert isinstance(capture.source, SyntheticSource)
    assert [f.top_m for f in frames] == [capture.source.top_m_of(f.index) for f in frames]
    assert status.losses == 2 and status.ended and fake.sleeps == [0.1, 0.2, 0.1, 0.2]
    assert [g.duration_s for g in status.gaps] == [pytest.approx(0.3)] * 2
    assert all("camera dropped out" in g.reason for g in status.gaps)
    # No frame shows [frame 4's end, frame 7's top) and the same after frame 9.
    frame_m = 48 * 0.5 / 1000
    spans = capture.source.dropout_spans_m(capture.source.top_m_of(13) + frame_m)
    expected = [(0.04 + frame_m, 0.07), (0.09 + frame_m, 0.12)]
    assert np.allclose(spans, expected) and len(spans) == 2


def test_synthetic_on_the_loom_clock_shows_the_fabric_under_the_camera_now() -> None:
    """The web moves from 2026-01-01 00:00:10 at 6 m/min; frames 10 fps, 0.01 m apart."""
    fake = FakeClock()
    moving_since_s = datetime(2026, 1, 1, tzinfo=UTC).timestamp() + 10.0
    config = SYNTH.model_copy(update={"realtime": True, "moving_since_unix_s": moving_since_s})
    source = open_source(config, fake.clock)
    first = source.read()  # waits the 10 s until the web starts moving
    assert first is not None and first.index == 0 and fake.sleeps == [pytest.approx(10.0)]
    assert source.read() is not None and fake.sleeps[-1] == pytest.approx(0.1)
    fake.sleep(3.0)  # nobody read for 3 s (an agent restarting): 29 frames passed unseen
    late = source.read()
    assert late is not None and late.index == 31 and late.top_m == pytest.approx(0.31)
    again = open_source(config, fake.clock)  # a new agent starts where the web is, not at 0
    restarted = again.read()
    assert restarted is not None and restarted.index == 31


def test_synthetic_camera_cut_while_a_file_exists(tmp_path: Path) -> None:
    cut = tmp_path / "cut"
    source = open_source(SYNTH.model_copy(update={"offline_while_exists": cut}))
    assert source.read() is not None
    cut.touch()
    with pytest.raises(SourceLost, match="camera cut off"):
        source.read()
    cut.unlink()
    frame = source.read()
    assert frame is not None and frame.index == 1


def test_loom_clock_needs_realtime() -> None:
    with pytest.raises(ValidationError, match="needs realtime"):
        SyntheticSourceConfig(moving_since_unix_s=0.0)


# cameras and streams


def test_missing_usb_camera_is_a_clear_source_lost() -> None:
    with pytest.raises(SourceLost, match="expected a camera at device index 63"):
        open_source(UsbSourceConfig(device=63))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rtsp://admin:pw@10.0.0.5:554/live?token=abc", "rtsp://10.0.0.5:554/live"),
        ("http://[::1]:8080/video.mjpg", "http://[::1]:8080/video.mjpg"),
        ("https://cam.local/x", "https://cam.local/x"),
    ],
)
def test_stream_name_hides_credentials(url: str, shown: str) -> None:
    assert make_source(StreamSourceConfig(url=url)).name == shown


def test_unreachable_stream_is_lost_and_hides_credentials(no_network: list[str]) -> None:
    url = f"http://user:secret@127.0.0.1:{_closed_port()}/video.mjpg"
    source = make_source(StreamSourceConfig(url=url, open_timeout_s=2))
    assert "secret" not in source.name
    with pytest.raises(SourceLost) as caught:
        source.open()
    assert "secret" not in str(caught.value) and "no video stream at http://127.0.0.1" in str(
        caught.value
    )
    assert no_network == []


def test_http_mjpeg_stream_delivers_then_is_lost_when_it_hangs_up(
    no_network: list[str],
) -> None:
    with MjpegServer(per_connection=12) as server:
        source = open_source(StreamSourceConfig(url=server.url, read_timeout_s=2))
        frames: list[Frame] = []
        with pytest.raises(SourceLost, match="no frame came"):
            while len(frames) < 100:
                frame = source.read()
                assert frame is not None  # a live source never "ends"
                frames.append(frame)
        source.close()
    assert 1 <= len(frames) <= 12
    assert [level_of(f.image) for f in frames] == list(range(len(frames)))
