"""Train one epoch, export with the parity check, register: offline, end to end, real files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from loomsight.datasets.synth.dataset import SynthOptions, generate_dataset
from loomsight.errors import DatasetError, ModelFileError, TrainingError
from loomsight.inference.model_card import read_card
from loomsight.training.export import ExportOptions, export_model
from loomsight.training.provenance import data_fingerprint
from loomsight.training.registry import get_model, promote
from loomsight.training.train import TrainOptions, check_data_yaml, train
from tests.conftest import RunCli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    generate_dataset(
        SynthOptions(count=10, seed=5, size_wh=(160, 160), defect_free_share=0.2), root
    )
    return root / "data.yaml"


def _one_tiny_epoch(data_yaml: Path, run_dir: Path, time_h: float | None = None) -> TrainOptions:
    """One epoch of yolov8n from scratch at 160 px: the smallest real training run."""
    return TrainOptions(
        data_yaml=data_yaml,
        model="yolov8n.yaml",
        run_dir=run_dir,
        epochs=1,
        imgsz=160,
        batch=8,
        time_h=time_h,
    )


def test_train_export_register_with_the_network_cut_off(
    tiny_data: Path,
    tmp_path: Path,
    no_network: list[str],
    monkeypatch: pytest.MonkeyPatch,
    run_cli: RunCli,
) -> None:
    monkeypatch.setenv("LOOMSIGHT_HOME", str(tmp_path / "home"))
    epochs_seen: list[int] = []
    result = train(
        _one_tiny_epoch(tiny_data, tmp_path / "runs" / "t"),
        on_epoch=lambda epoch, total, metrics: epochs_seen.append(epoch),
    )
    assert epochs_seen == [1]
    assert result.best_checkpoint.is_file()
    summary = json.loads((result.run_dir / "loomsight_summary.json").read_text())
    assert summary["epochs_done"] == 1 and summary["arguments"]["pretrained"] is False
    assert summary["data_fingerprint"] == data_fingerprint(tiny_data)

    samples = sorted((tiny_data.parent / "images").glob("*.jpg"))[:4]
    weights = tmp_path / "weights"
    card = export_model(
        ExportOptions(
            checkpoint=result.best_checkpoint,
            name="tiny",
            weights_dir=weights,
            sample_images=samples,
            conf_threshold_by_class={"knot": 0.15},
            iou_threshold_by_class={"knot": 0.5},
            flip_views=("h", "v"),
            box_scale_by_class={"knot": (0.9, 0.8)},
            fit_box_scale_data=tiny_data,
        )
    )
    assert card.flip_views == ("h", "v") and card.box_scale_by_class["knot"] == (0.9, 0.8)
    fit = card.training["box_scale_fit"]  # measured on val; the scale given stays
    assert fit["split"] == "val" and set(card.box_scale_by_class) == {"knot", *fit["fitted"]}
    assert card.classes[:2] == ["hole", "stain"] and len(card.classes) == 8
    assert card.conf_threshold_by_class == {"knot": 0.15}
    assert card.iou_threshold_by_class == {"knot": 0.5}
    unknown = ExportOptions(
        result.best_checkpoint, "other", weights, samples, conf_threshold_by_class={"slab": 0.1}
    )
    with pytest.raises(
        TrainingError, match=r"--class-conf names classes the model lacks: \['slab'\]"
    ):
        export_model(unknown)
    for scales, refusal in (
        ({"slab": (0.9, 0.9)}, r"--class-box-scale names classes the model lacks: \['slab'\]"),
        ({"knot": (0.0, 0.9)}, r"--class-box-scale factors must be in \(0, 4\]"),
    ):
        with pytest.raises(TrainingError, match=refusal):
            export_model(
                ExportOptions(
                    result.best_checkpoint, "other", weights, samples, box_scale_by_class=scales
                )
            )
    assert not (weights / "other").exists()
    refined = export_model(
        ExportOptions(
            result.best_checkpoint,
            "refined",
            weights,
            samples,
            base_card=weights / "tiny" / "model.json",
        )
    )
    assert refined.training["base"]["version"] == card.version  # the stage before, kept
    assert refined.training["base"]["epochs_done"] == 1 and "hardware" in refined.training["base"]
    no_base = ExportOptions(
        result.best_checkpoint, "other", weights, samples, base_card=tmp_path / "none.json"
    )
    with pytest.raises(ModelFileError, match=r"none.json: no model card"):
        export_model(no_base)
    assert not (weights / "other").exists()
    assert card.input_size_hw == (160, 160) and card.nms_in_model is False
    assert card.parity is not None and card.parity.images == 4
    assert card.parity.max_box_diff_px <= card.parity.tolerance_px
    assert card.training["data_fingerprint"] == summary["data_fingerprint"]
    assert card.training["data_fingerprint_from"] == "training run"
    assert card.training["epochs_done"] == 1
    assert read_card(weights / "tiny") == card
    assert (weights / "tiny" / "model.pt").is_file()
    promote(weights, "tiny")
    assert get_model(weights).card.version == card.version
    assert no_network == []

    # Evaluate the exported ONNX model through loomsight.inference, as the camera runs it.
    report = tmp_path / "eval.json"
    evaluated = run_cli(
        "evaluate",
        "--model",
        "tiny",
        "--weights",
        str(weights),
        "--data",
        str(tiny_data),
        "--json",
        str(report),
        check=True,
    )
    figures = json.loads(report.read_text())
    assert figures["images"] == 10 and figures["model"] == card.version
    assert set(figures["per_class"]) == set(card.classes)
    assert figures["line_classes"] == ["broken_end", "broken_pick"]  # joined as the camera does
    assert figures["flip_views"] == ["h", "v"]  # the card's, as the camera runs them
    assert figures["box_scale_by_class"] == {"knot": [0.9, 0.8]}
    assert all("box_size_ratio" in score for score in figures["per_class"].values())
    # the images behind the plant figures, named for a look: all in the JSON, a few on screen
    missed, alarmed = figures["missed_images"], figures["false_alarm_images"]
    defective = figures["images"] - figures["defect_free_images"]
    assert len(missed) == round((1 - figures["image_detection_rate"]) * defective)
    assert len(alarmed) == round(figures["image_false_alarm_rate"] * figures["defect_free_images"])
    assert all(Path(image).is_file() for image in missed + alarmed)
    for images, said in ((missed, "nothing found on"), (alarmed, "a false alarm on")):
        assert (f"{said} {len(images)} images" in evaluated.stdout) == bool(images)
    frame_only = tmp_path / "eval-frame-only.json"
    run_cli(
        *("evaluate", "--model", "tiny", "--weights", str(weights), "--data", str(tiny_data)),
        *("--flip-views", "none", "--no-box-scale", "--json", str(frame_only)),
        check=True,
    )
    as_drawn = json.loads(frame_only.read_text())
    assert as_drawn["flip_views"] == [] and as_drawn["box_scale_by_class"] == {}
    zoomed_out = tmp_path / "eval-zoom-out.json"  # another camera height: 4 images in one
    run_cli(
        *("evaluate", "--model", "tiny", "--weights", str(weights), "--data", str(tiny_data)),
        *("--shift", "zoom-out", "--image-scale", "2", "--json", str(zoomed_out)),
        check=True,
    )
    shifted = json.loads(zoomed_out.read_text())
    assert (figures["image_scale"], shifted["image_scale"]) == ([1.0, 1.0], [2.0, 2.0])
    assert shifted["images"] == 3 and shifted["data"] == f"{tiny_data} (shifted: zoom-out)"
    assert shifted["model"] == card.version
    for key in (
        "map50",
        "map50_95",
        "precision",
        "recall",
        "image_detection_rate",
        "image_false_alarm_rate",
    ):
        assert 0.0 <= figures[key] <= 1.0


def test_a_time_limited_run_reports_only_the_epochs_it_trained(
    tiny_data: Path, tmp_path: Path
) -> None:
    """With a time limit ultralytics re-estimates its epoch total and then validates best.pt
    through the same callback as an epoch: that validation is not an epoch trained."""
    seen: list[tuple[int, int]] = []
    result = train(
        _one_tiny_epoch(tiny_data, tmp_path / "runs" / "timed", time_h=1.0),
        on_epoch=lambda epoch, total, metrics: seen.append((epoch, total)),
    )
    rows = (result.run_dir / "results.csv").read_text().strip().splitlines()[1:]
    assert [epoch for epoch, _ in seen] == [1] == list(range(1, result.epochs_done + 1))
    assert len(rows) == result.epochs_done


def test_training_data_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    with pytest.raises(DatasetError, match="does not exist"):
        check_data_yaml(missing)
    root = tmp_path / "d"
    generate_dataset(SynthOptions(count=2, size_wh=(64, 64), defect_free_share=0.0), root)
    label = sorted((root / "labels").glob("*.txt"))[0]
    good = label.read_text()
    label.write_text("9 0.5 0.5 0.1 0.1\n")
    with pytest.raises(DatasetError, match=re.escape(f"{label}: unknown_class")):
        check_data_yaml(root / "data.yaml")
    label.write_text(good)
    content = yaml.safe_load((root / "data.yaml").read_text())
    content["val"] = "nothing/here"
    (root / "data.yaml").write_text(yaml.safe_dump(content))
    with pytest.raises(DatasetError, match=r"val points to .*nothing/here, which does not exist"):
        check_data_yaml(root / "data.yaml")


def test_cli_refuses_bad_input_clearly(run_cli: RunCli, tmp_path: Path) -> None:
    bad_data = run_cli("train", "--data", str(tmp_path / "none.yaml"), "--model", "yolov8n.yaml")
    assert (
        bad_data.returncode == 2 and "none.yaml: data yaml file does not exist" in bad_data.stderr
    )
    corrupt = tmp_path / "broken.pt"
    corrupt.write_bytes(b"not a checkpoint at all")
    (tmp_path / "samples").mkdir()
    sample = sorted((Path(__file__).parents[2] / "docs" / "images").glob("*.png"))[0]
    (tmp_path / "samples" / "a.png").write_bytes(sample.read_bytes())
    exported = run_cli(
        "export",
        str(corrupt),
        "--name",
        "x",
        "--samples",
        str(tmp_path / "samples"),
        "--weights",
        str(tmp_path / "w"),
    )
    assert exported.returncode == 2
    assert "broken.pt" in exported.stderr and "Traceback" not in exported.stderr
    missing = run_cli("export", str(tmp_path / "nope.pt"), "--name", "x")
    assert missing.returncode == 2 and "nope.pt: checkpoint does not exist" in missing.stderr
    sideways = run_cli("export", str(corrupt), "--name", "x", "--flip-views", "sideways")
    assert sideways.returncode == 2 and "views from h, v, hv" in sideways.stderr
    for option, bad in (
        ("--class-iou", "knot"),
        ("--class-conf", "knot=high"),
        ("--class-iou", "=1"),
        ("--class-box-scale", "knot=0"),
        ("--class-box-scale", "knot=0.9,0.8,1"),
        ("--class-box-scale", "=0.9"),
    ):
        refused = run_cli("export", str(corrupt), "--name", "x", option, bad)
        assert refused.returncode == 2
        assert f"{option} '{bad}': expected CLASS=VALUE" in refused.stderr
    no_model = run_cli(
        "train", "--data", str(tmp_path / "none.yaml"), "--weights", str(tmp_path / "w")
    )
    assert no_model.returncode == 2 and "no model is active" in no_model.stderr


@pytest.mark.parametrize(
    ("model", "starts_from_its_weights"),
    [("yolo26n.yaml", False), ("yolov8n.yaml", False), ("weights/default/model.pt", True)],
)
def test_fine_tuning_keeps_the_checkpoint_weights(
    model: str, starts_from_its_weights: bool
) -> None:
    """ultralytics discards a checkpoint's weights when told pretrained=False: only a yaml may."""
    from loomsight.training.train import _train_arguments

    options = TrainOptions(data_yaml=Path("d.yaml"), model=model, run_dir=Path("runs/x"))
    assert _train_arguments(options)["pretrained"] is starts_from_its_weights


def test_set_reads_further_training_arguments_as_yaml_values() -> None:
    from loomsight.training.train import extra_arguments

    assert extra_arguments(["optimizer=AdamW", "lr0=0.0005", "cos_lr=true", "close_mosaic=2"]) == {
        "optimizer": "AdamW",
        "lr0": 0.0005,
        "cos_lr": True,
        "close_mosaic": 2,
    }
    for bad, message in [
        ("lr0", "expected KEY=VALUE"),
        ("=3", "expected KEY=VALUE"),
        ("amp=true", "set by loomsight itself"),  # the AMP check would download weights
        ("data=other.yaml", "set by loomsight itself"),
        ("epochs=3", "or by its own flag"),  # --epochs says it
        ("lr0=[1", "not readable"),
    ]:
        with pytest.raises(TrainingError, match=message):
            extra_arguments([bad])


def test_cli_refuses_a_training_argument_ultralytics_does_not_know(
    run_cli: RunCli, tiny_data: Path, tmp_path: Path
) -> None:
    typo = run_cli(
        "train",
        "--data",
        str(tiny_data),
        "--model",
        "yolov8n.yaml",
        "--set",
        "lr_0=0.001",
        "--runs",
        str(tmp_path / "runs"),
    )
    assert typo.returncode == 2
    assert "not ultralytics training arguments: lr_0" in typo.stderr
    assert "Traceback" not in typo.stderr and not (tmp_path / "runs").exists()
