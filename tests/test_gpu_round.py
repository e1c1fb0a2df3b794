"""scripts/gpu-round: the real photos packed into parts that each fit a device call, and the
device side refusing to train on a part short.

The script runs here in a scratch git repository holding a copy of it, so that what it measures
(the tree that travels with every call) and writes (.gpu/) stay out of the project's checkout.
The device calls are run in a second copy, one carried part at a time, as the device tool does.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024


def _scratch_repo(path: Path) -> Path:
    (path / "scripts").mkdir(parents=True)
    for name in ("gpu-round", "default-model"):
        shutil.copy2(ROOT / "scripts" / name, path / "scripts" / name)
    (path / ".gitignore").write_text("/.gpu/\n/datasets/*\n")
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    subprocess.run(["git", "-C", str(path), "add", "-A"], check=True)
    return path


def _real_split(path: Path, photos: dict[str, int], photo_bytes: int) -> Path:
    """A split shaped like datasets/default/real: PHOTOS per split, random bytes as images."""
    rng = random.Random(0)
    for split, count in photos.items():
        (path / "images" / split).mkdir(parents=True)
        (path / "labels" / split).mkdir(parents=True)
        for k in range(count):
            (path / "images" / split / f"p{k:03d}.jpg").write_bytes(rng.randbytes(photo_bytes))
            if k % 3:  # some photos are defect-free: no label file
                (path / "labels" / split / f"p{k:03d}.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    (path / "data.yaml").write_text(
        f"path: {path}\ntrain: images/train\nval: images/val\ntest: images/test\n"
        "names:\n  0: defect\n"
    )
    return path


def _run(repo: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(repo / "scripts" / "gpu-round"), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )


@pytest.fixture
def packed(tmp_path: Path) -> tuple[Path, Path]:
    """A scratch repo with .gpu/ packed (no wheels: pip would need the registry) at 1 MiB a call."""
    repo = _scratch_repo(tmp_path / "repo")
    real = _real_split(tmp_path / "real", {"train": 14, "val": 4}, photo_bytes=150_000)
    result = _run(repo, "pack", REAL=str(real), LIMIT_MB="1", MARGIN_MB="0", NO_WHEELS="1")
    assert result.returncode == 0, result.stderr
    return repo, real


def test_pack_puts_every_photo_in_one_part_within_a_call(packed: tuple[Path, Path]) -> None:
    repo, real = packed
    tree_bytes = sum(
        p.stat().st_size
        for p in repo.rglob("*")
        if ".git" not in p.parts and p.is_file() and ".gpu" not in p.parts
    )
    parts = sorted((repo / ".gpu").glob("real-*"))
    assert len(parts) >= 3  # 18 photos of 150 kB, under 1 MiB a call
    packed_files: list[str] = []
    for part in parts:
        files = [p for p in part.rglob("*") if p.is_file()]
        part_bytes = sum(p.stat().st_size for p in files)
        assert part_bytes + tree_bytes <= MIB, part.name
        packed_files += [
            str(p.relative_to(part)) for p in files if p.parent.name in ("train", "val")
        ]
    source = [
        str(p.relative_to(real)) for p in real.rglob("*") if p.parent.name in ("train", "val")
    ]
    assert sorted(packed_files) == sorted(source)  # each once: no photo lost, none doubled
    for part in parts:  # a label travels with its image
        for label in part.glob("labels/*/*.txt"):
            assert (part / "images" / label.parent.name / f"{label.stem}.jpg").exists()
    last = parts[-1]
    assert (last / "manifest.txt").read_text() == f"parts {len(parts)}\nimages 18\n"
    data_yaml = (last / "data.yaml").read_text()
    assert "path:" not in data_yaml and "train: images/train" in data_yaml


def test_pack_prints_the_calls_in_order(tmp_path: Path) -> None:
    repo = _scratch_repo(tmp_path / "repo")
    real = _real_split(tmp_path / "real", {"train": 6, "val": 2}, photo_bytes=150_000)
    result = _run(repo, "pack", REAL=str(real), LIMIT_MB="1", MARGIN_MB="0", NO_WHEELS="1")
    assert result.returncode == 0, result.stderr
    n = len(list((repo / ".gpu").glob("real-*")))
    calls = [
        line.strip()
        for line in result.stdout.splitlines()
        if line.strip()[:2].rstrip(".").isdigit()
    ]
    assert len(calls) == n
    assert calls[0].startswith('1. carry [".gpu/wheels", ".gpu/real-1"]')
    assert f"./scripts/gpu-round train {n}" in calls[-1]


def test_pack_refuses_a_photo_larger_than_a_call(tmp_path: Path) -> None:
    repo = _scratch_repo(tmp_path / "repo")
    real = _real_split(tmp_path / "real", {"train": 2, "val": 1}, photo_bytes=2 * MIB)
    result = _run(repo, "pack", REAL=str(real), LIMIT_MB="1", MARGIN_MB="0", NO_WHEELS="1")
    assert result.returncode != 0
    assert "alone is over a call's budget" in result.stderr


def _device_call(
    repo: Path, device: Path, carry: list[str], *args: str
) -> subprocess.CompletedProcess[str]:
    """One device call: the carried paths replace theirs on the machine, then the command runs."""
    for path in carry:
        shutil.rmtree(device / path, ignore_errors=True)
        shutil.copytree(repo / path, device / path)
    return _run(device, *args, OUT=str(device / "out"))


def _device(repo: Path, tmp_path: Path) -> tuple[Path, int]:
    """A fresh device machine holding the working tree (none of .gpu/), and the number of parts."""
    device = tmp_path / "device"
    shutil.copytree(repo, device, ignore=shutil.ignore_patterns(".gpu"))
    return device, len(list((repo / ".gpu").glob("real-*")))


def test_parts_add_up_on_the_device_and_a_missing_one_stops_the_training(
    packed: tuple[Path, Path], tmp_path: Path
) -> None:
    repo, _ = packed
    device, n = _device(repo, tmp_path)
    # part 2 arrives, part 3 too; part 1 (and the wheels) never did: the machine went back
    for k in range(2, n):
        result = _device_call(repo, device, [f".gpu/real-{k}"], "part", str(k))
        assert result.returncode == 0, result.stderr
        assert f"part {k} kept" in result.stdout
        assert not (device / ".gpu" / f"real-{k}").exists()  # moved into .gpu/real
    result = _device_call(repo, device, [f".gpu/real-{n}"], "train", str(n))
    assert result.returncode == 1
    assert "a part is missing" in result.stderr and "start again from call 1" in result.stderr
    assert not (device / "runs").exists()  # nothing trained
    # a part the call did not carry is named
    result = _run(device, "part", "2", OUT=str(device / "out"))
    assert result.returncode == 1 and "part 2 did not arrive" in result.stderr


def test_call_one_without_wheels_is_refused(packed: tuple[Path, Path], tmp_path: Path) -> None:
    repo, _ = packed
    device, _ = _device(repo, tmp_path)
    result = _device_call(repo, device, [".gpu/real-1"], "part", "1")
    assert result.returncode == 1 and "call 1 carries .gpu/wheels too" in result.stderr


STUB_DEFAULT_MODEL = """#!/usr/bin/env bash
# stands in for scripts/default-model: training writes a checkpoint, then runs on and on
case "$1" in
  train)
    mkdir -p runs/default/weights
    echo "epoch 3" > runs/default/weights/last.pt
    touch -d '-10 seconds' runs/default/weights/last.pt
    sleep 60 ;;
esac
"""


def test_a_training_call_stopped_at_its_limit_still_returns_the_latest_checkpoint(
    packed: tuple[Path, Path], tmp_path: Path
) -> None:
    repo, _ = packed
    device, n = _device(repo, tmp_path)
    stub = device / "scripts" / "default-model"
    stub.write_text(STUB_DEFAULT_MODEL)
    # calls 1 to N-1 went through (call 1's wheels and synthetic data stood in for)
    shutil.copytree(repo / ".gpu" / "real-1", device / ".gpu" / "real")
    (device / ".gpu" / "site").mkdir()
    (device / "datasets" / "default" / "synth-coarse-split").mkdir(parents=True)
    for k in range(2, n):
        assert _device_call(repo, device, [f".gpu/real-{k}"], "part", str(k)).returncode == 0
    shutil.copytree(repo / ".gpu" / f"real-{n}", device / ".gpu" / f"real-{n}")
    out = device / "out"
    out.mkdir()
    call = subprocess.Popen(
        ["bash", str(device / "scripts" / "gpu-round"), "train", str(n)],
        env={**os.environ, "OUT": str(out), "RETURN_EVERY_S": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # the limit stops the whole call, as the device does
    )
    try:
        call.wait(timeout=6)
    except subprocess.TimeoutExpired:
        os.killpg(call.pid, signal.SIGKILL)
        call.wait()
    else:
        raise AssertionError(
            f"the call ended by itself: {call.stderr.read() if call.stderr else ''}"
        )
    assert (out / "last.pt").read_text() == "epoch 3\n"
    assert not (out / "best.pt").exists()  # none written yet, none made up
    assert not (out / "copying.tmp").exists()
