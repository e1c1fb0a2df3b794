"""Reviewed detections out as a YOLO dataset: events with real JPEG frames go in through the ingest
API, are reviewed, pulled with `loomsight dataset pull` and pass `loomsight dataset check` with the
right boxes; the export endpoint's zip, class lists, filters and refusals."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import typer
import yaml
from typer.testing import CliRunner, Result

from loomsight.camera.snapshots import SnapshotOptions, frame_preview
from loomsight.commands import dataset_pull
from loomsight.datasets.check import check_dataset
from loomsight.datasets.data_yaml import read_class_names, split_images
from loomsight.datasets.labels import read_yolo_labels
from loomsight.errors import ConfigError, DatasetError
from loomsight.schema import IMAGE_PATH
from tests.api.conftest import (
    BACKENDS,
    NOW,
    LiveApi,
    batch,
    event,
    fresh_database,
    live_api,
    post_batch,
)
from tests.api.test_models import CARD, other_version, upload

EXPORT = "/api/v1/datasets/reviewed"
FRAME_WH = (1280, 640)  # the camera's frame; the stored frame is downscaled to 640x320
STORED_WH = (640, 320)
Box = tuple[float, float, float, float]


def frame_jpeg(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (FRAME_WH[1], FRAME_WH[0], 3), np.uint8)
    return frame_preview(pixels, SnapshotOptions(frame_width_px=STORED_WH[0])).jpeg


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Scenario:
    """Frames F1..F6 (F5 never uploaded) with detections, reviewed; the boxes each exported
    frame must carry, as (class, box in frame pixels)."""

    api: LiveApi
    reviewer: httpx.Client
    token: str
    frames: dict[str, str]  # name: sha256
    expected: dict[str, list[tuple[str, Box]]]


def detect(
    camera: httpx.Client,
    machine: str,
    frame: str | None,
    class_name: str,
    box: Box,
    minutes: int = 0,
) -> str:
    body = event(machine, f"cam-{machine}", class_name=class_name, box_xyxy_px=list(box),
                 frame_wh_px=list(FRAME_WH), frame_sha256=frame,
                 detected_at=(NOW + timedelta(minutes=minutes)).isoformat())  # fmt: skip
    assert post_batch(camera, batch(events=[body])).status_code == 200
    return str(body["event_id"])


def review(client: httpx.Client, event_id: str, verdict: str, **fields: Any) -> None:
    response = client.put(
        f"/api/v1/review/events/{event_id}/verdict", json={"verdict": verdict, **fields}
    )
    assert response.status_code == 200, response.text


def scenario(api: LiveApi) -> Scenario:
    cameras = {}
    for machine in ("loom-1", "loom-2"):
        api.add_machine(machine)
        cameras[machine] = api.add_camera(machine, f"cam-{machine}")
    rita = api.add_user("rita", "reviewer")
    token = str(rita.headers["authorization"]).removeprefix("Bearer ")
    jpegs = {
        name: frame_jpeg(seed) for seed, name in enumerate(("F1", "F2", "F3", "F4", "F5", "F6"))
    }
    for name, data in jpegs.items():
        if name != "F5":
            put = cameras["loom-2" if name == "F6" else "loom-1"].put(
                IMAGE_PATH.format(sha256=sha(data)),
                content=data,
                headers={"content-type": "image/jpeg"},
            )
            assert put.status_code == 200, put.text
    frames = {name: sha(data) for name, data in jpegs.items()}
    one = cameras["loom-1"]
    a = detect(one, "loom-1", frames["F1"], "hole", (100, 100, 200, 180))
    b = detect(one, "loom-1", frames["F1"], "stain", (600, 300, 700, 400))
    c = detect(one, "loom-1", frames["F2"], "broken_pick", (1000, 500, 1270, 640))
    d = detect(one, "loom-1", frames["F2"], "hole", (10, 10, 50, 50))
    e = detect(one, "loom-1", frames["F3"], "hole", (10, 10, 50, 50))
    detect(one, "loom-1", frames["F3"], "hole", (300, 10, 350, 50))  # never reviewed
    g = detect(one, "loom-1", frames["F4"], "slub", (10, 10, 50, 50))
    h = detect(one, "loom-1", frames["F5"], "hole", (10, 10, 50, 50))
    i = detect(one, "loom-1", None, "hole", (10, 10, 50, 50))
    j = detect(cameras["loom-2"], "loom-2", frames["F6"], "hole", (0, 0, 1280, 640), minutes=60)
    for event_id in (a, c, e, h, i, j):
        review(rita, event_id, "confirmed")
    review(rita, b, "relabelled", class_name="knot", box_xyxy_px=[590, 290, 720, 410])
    for event_id in (d, g):
        review(rita, event_id, "false_alarm")
    expected: dict[str, list[tuple[str, Box]]] = {
        "F1": [("hole", (100, 100, 200, 180)), ("knot", (590, 290, 720, 410))],
        "F2": [("broken_pick", (1000, 500, 1270, 640))],
        "F6": [("hole", (0, 0, 1280, 640))],
    }
    return Scenario(api, rita, token, frames, expected)


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Scenario]:
    """One reviewed scenario per database, shared: pulling changes nothing in it."""
    folder = tmp_path_factory.mktemp("reviewed")
    with fresh_database(str(request.param), folder) as url, live_api(url, folder) as api:
        yield scenario(api)


def pull(api: LiveApi, token: str | None, out: Path, *args: str) -> Result:
    """`loomsight dataset pull` (its Typer command, run in this process)."""
    app = typer.Typer()
    app.command()(dataset_pull.pull_command)
    options = ["--api", api.base_url, "--out", str(out), *args]
    env = {"LOOMSIGHT_API_TOKEN": token} if token else {}
    return CliRunner().invoke(app, options, env=env)


def labelled_boxes(out: Path, frame_sha: str, names: list[str]) -> list[tuple[str, Box]]:
    labels = read_yolo_labels(out / "labels" / f"{frame_sha}.txt", STORED_WH)
    scale = FRAME_WH[0] / STORED_WH[0]
    return sorted(
        (names[class_id], tuple(round(float(v) * scale, 1) for v in box))  # type: ignore[misc]
        for box, class_id in zip(labels.xyxy_px, labels.class_id, strict=True)
    )


def test_reviewed_detections_round_trip_into_a_clean_dataset(
    world: Scenario, tmp_path: Path
) -> None:
    api = world.api
    out = tmp_path / "reviewed"

    result = pull(api, world.token, out)

    assert result.exit_code == 0, result.output
    names = read_class_names(out)
    assert names == ["broken_pick", "hole", "knot"]
    report = check_dataset(out, names)
    assert report.ok, report.problems
    assert report.images == 3
    for frame, boxes in world.expected.items():
        assert labelled_boxes(out, world.frames[frame], names) == sorted(boxes), frame
        stored = (out / "images" / f"{world.frames[frame]}.jpg").read_bytes()
        assert sha(stored) == world.frames[frame]  # the camera's JPEG, byte for byte
    manifest = json.loads((out / "export.json").read_text())
    assert manifest["frames_left_out"] == {"awaiting_review": 1, "frame_not_uploaded": 1}
    assert manifest["labelled_events_without_frame"] == 1
    assert manifest["boxes_per_class"] == {"broken_pick": 1, "hole": 2, "knot": 1}
    content = yaml.safe_load((out / "data.yaml").read_text())
    assert Path(content["path"]) == out.resolve()
    assert len(split_images(out / "data.yaml", "train")) == 3  # what `loomsight train` reads
    assert "3 images, 4 boxes" in result.output


def test_the_class_list_comes_from_names_or_a_models_card(world: Scenario, tmp_path: Path) -> None:
    api = world.api
    card = other_version(CARD, "m@1", b"not onnx, but the card says so")
    card["classes"] = ["stain", "knot", "hole", "broken_pick"]
    for by_class in ("conf_threshold_by_class", "iou_threshold_by_class", "box_scale_by_class"):
        card[by_class] = {k: v for k, v in card[by_class].items() if k in card["classes"]}
    assert upload(api.admin, card, b"not onnx, but the card says so").status_code in (200, 201)

    by_names = pull(api, world.token, tmp_path / "a", "--names", "knot,hole,stain")
    by_model = pull(api, world.token, tmp_path / "b", "--model", "m@1", "--machine", "loom-1")

    assert by_names.exit_code == 0, by_names.output
    assert read_class_names(tmp_path / "a") == ["knot", "hole", "stain"]
    assert labelled_boxes(tmp_path / "a", world.frames["F1"], ["knot", "hole", "stain"]) == sorted(
        world.expected["F1"]
    )
    manifest = json.loads((tmp_path / "a" / "export.json").read_text())
    assert manifest["classes_not_in_names"] == ["broken_pick"]  # F2 is left out for it
    assert manifest["frames_left_out"]["class_not_in_names"] == 1
    assert by_model.exit_code == 0, by_model.output
    assert read_class_names(tmp_path / "b") == card["classes"]
    assert check_dataset(tmp_path / "b", card["classes"]).images == 2  # F1, F2 (F6 is loom-2)
    assert (
        labelled_boxes(tmp_path / "b", world.frames["F2"], card["classes"]) == world.expected["F2"]
    )


@pytest.mark.parametrize(
    ("args", "frames"),
    [
        (["--machine", "loom-1"], {"F1", "F2"}),
        (["--machine", "loom-2"], {"F6"}),
        (["--since", (NOW + timedelta(minutes=30)).isoformat()], {"F6"}),
        (
            ["--until", (NOW + timedelta(minutes=30)).isoformat().replace("+00:00", "Z")],
            {"F1", "F2"},
        ),
        (["--background", "--machine", "loom-1"], {"F1", "F2", "F4"}),
    ],
)
def test_filters_choose_the_frames(
    world: Scenario, tmp_path: Path, args: list[str], frames: set[str]
) -> None:
    out = tmp_path / "out"

    result = pull(world.api, world.token, out, *args)

    assert result.exit_code == 0, result.output
    by_sha = {value: key for key, value in world.frames.items()}
    assert {by_sha[p.stem] for p in (out / "images").iterdir()} == frames
    assert check_dataset(out, read_class_names(out)).ok
    if "F4" in frames:  # only false alarms on it: a background image
        assert (out / "labels" / f"{world.frames['F4']}.txt").read_text() == ""


def test_an_existing_dataset_is_replaced_only_with_overwrite(
    world: Scenario, tmp_path: Path
) -> None:
    api = world.api
    out = tmp_path / "out"
    assert pull(api, world.token, out, "--machine", "loom-2").exit_code == 0

    refused = pull(api, world.token, out)
    replaced = pull(api, world.token, out, "--machine", "loom-1", "--overwrite")

    assert isinstance(refused.exception, DatasetError)
    assert "use --overwrite" in str(refused.exception)
    assert replaced.exit_code == 0, replaced.output
    assert len(list((out / "images").iterdir())) == 2  # loom-2's frame is gone
    assert check_dataset(out, read_class_names(out)).ok


@pytest.mark.parametrize(
    ("token", "args", "error", "message"),
    [
        ("lss_wrong", [], ConfigError, "answered 401"),
        (None, ["--names", "hole,hole"], DatasetError, "names must be distinct"),
        (None, ["--model", "nope@1"], ConfigError, "no model version 'nope@1'"),
        (None, ["--machine", "loom-9"], DatasetError, "nothing to pull"),
    ],
)
def test_pull_says_why_it_fails_and_writes_nothing(
    world: Scenario, tmp_path: Path, token: str | None, args: list[str], error: type, message: str
) -> None:
    api = world.api
    out = tmp_path / "out"

    result = pull(api, token or world.token, out, *args)

    assert isinstance(result.exception, error), result.output
    assert message in str(result.exception)
    assert not out.exists()


def test_the_endpoint_streams_a_zip_and_refuses_bad_queries(world: Scenario) -> None:

    response = world.reviewer.get(EXPORT, params={"machine": "loom-2"})
    both = world.reviewer.get(EXPORT, params={"names": "hole", "model": "m@1"})
    bad_name = world.reviewer.get(EXPORT, params={"names": "hole,no space"})

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"].startswith('attachment; filename="loomsight-')
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.namelist() == [
        "data.yaml",
        f"images/{world.frames['F6']}.jpg",
        f"labels/{world.frames['F6']}.txt",
        "export.json",
    ]
    assert (
        archive.read(f"labels/{world.frames['F6']}.txt")
        == b"0 0.500000 0.500000 1.000000 1.000000\n"
    )
    assert (both.status_code, bad_name.status_code) == (422, 422)
    assert "names or model, not both" in both.text
    assert "'no space' is not a class name" in bad_name.text
