"""What the demo runs: the machines, the web each camera watches, and each agent's settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loomsight.camera.sources import SyntheticSourceConfig
from loomsight.datasets.synth.moving_web import MovingWeb

# One camera geometry for every machine: 416 x 256 px at 0.2 mm/px is one detector tile (the
# default model's 416 input), so a frame costs ~0.1 s to render and ~0.05 s to inspect on one core.
WIDTH_PX, HEIGHT_PX, MM_PER_PX = 416, 256, 0.2
FRAME_LENGTH_M = HEIGHT_PX * MM_PER_PX / 1000
DEFAULT_FPS = 2.0
HEARTBEAT_S = 5.0


@dataclass(frozen=True)
class MachinePlan:
    """One machine, its camera and the web it weaves (rates are high so a short run finds some)."""

    machine_id: str
    name: str
    line: str
    article: str
    seed: int  # the fabric: weave, yarns, colour and the defects planted on it
    speed_m_per_min: float
    defects_per_100m: float
    fps: float = DEFAULT_FPS
    faulty: bool = False  # a camera that drops out now and then
    moving_since_unix_s: float | None = None  # the loom's clock: where the web is at any time
    cut_file: Path | None = None  # while it exists the camera gives nothing (a scripted fault)

    @property
    def camera_id(self) -> str:
        return f"{self.machine_id}-cam-1"

    @property
    def roll_id(self) -> str:
        return f"{self.machine_id.upper()}-R0001"

    @property
    def web_width_mm(self) -> float:
        return WIDTH_PX * MM_PER_PX

    def source(self) -> SyntheticSourceConfig:
        """The camera's source; the summary rebuilds the web's ground truth from it."""
        fault = {"dropout_every_s": 15.0, "dropout_s": 3.0} if self.faulty else {}
        return SyntheticSourceConfig.model_validate(
            {
                "seed": self.seed,
                "width_px": WIDTH_PX,
                "frame_height_px": HEIGHT_PX,
                "mm_per_px": MM_PER_PX,
                "speed_m_per_min": self.speed_m_per_min,
                "fps": self.fps,
                "defects_per_100m": self.defects_per_100m,
                "realtime": True,
                "moving_since_unix_s": self.moving_since_unix_s,
                "offline_while_exists": self.cut_file,
                **fault,
            }
        )

    def position_m(self, unix_s: float) -> float:
        """Where the web is under the camera at UNIX_S on the loom's clock."""
        if self.moving_since_unix_s is None:
            raise ValueError(f"{self.machine_id}: the plan has no loom clock (moving_since_unix_s)")
        return max(unix_s - self.moving_since_unix_s, 0.0) * self.speed_m_per_min / 60


# (name, line, yarn, seed, speed in m/min, defects per 100 m, faulty); cycled beyond three. The
# article is the yarn and the weave the seed's web renders (the seeds above 3 machines differ).
_PRESETS = [
    ("Loom 1", "weaving A", "cotton", 4, 3.0, 800.0, False),
    ("Loom 2", "weaving A", "polyester", 11, 4.2, 1200.0, False),
    ("Loom 3", "weaving B", "viscose", 23, 3.6, 1500.0, True),
]


def web_weave(seed: int) -> str:
    """The weave of the web a demo camera of SEED renders (plain, twill or satin)."""
    web = MovingWeb(seed, width_px=WIDTH_PX, frame_height_px=HEIGHT_PX, mm_per_px=MM_PER_PX)
    return web.fabric.weave.value


def demo_plan(machines: int, fps: float = DEFAULT_FPS) -> list[MachinePlan]:
    """MACHINES machines: different fabrics, speeds and defect rates; the third has a faulty
    camera. Speeds keep consecutive frames overlapping at FPS (no fabric passes unseen)."""
    if machines < 1:
        raise ValueError(f"expected at least one machine, got {machines}")
    plans = []
    for index in range(machines):
        name, line, yarn, seed, speed, rate, faulty = _PRESETS[index % len(_PRESETS)]
        round_ = index // len(_PRESETS)
        seed += 100 * round_
        speed_m_per_min = speed * fps / DEFAULT_FPS
        if speed_m_per_min / 60 / fps >= FRAME_LENGTH_M:
            raise ValueError(f"{speed_m_per_min} m/min at {fps} fps leaves gaps between frames")
        plans.append(
            MachinePlan(
                machine_id=f"loom-{index + 1}",
                name=name if round_ == 0 else f"Loom {index + 1}",
                line=line,
                article=f"{yarn} {web_weave(seed)}",
                seed=seed,
                speed_m_per_min=speed_m_per_min,
                defects_per_100m=rate,
                fps=fps,
                faulty=faulty,
            )
        )
    return plans


def agent_settings(
    plan: MachinePlan, folder: Path, api_url: str, metrics_port: int, weights_dir: Path
) -> dict[str, Any]:
    """The agent's YAML settings (`loomsight inspect --config`); the token goes by environment."""
    return {
        "machine_id": plan.machine_id,
        "camera_id": plan.camera_id,
        "source": plan.source().model_dump(mode="json", exclude_none=True),
        "calibration": {
            "mm_per_px": MM_PER_PX,
            "web_width_mm": plan.web_width_mm,
            "speed_m_per_min": plan.speed_m_per_min,
            "roll_id": plan.roll_id,
        },
        "detector": {"model": "default", "weights_dir": str(weights_dir), "threads": 1},
        "outbox": {"path": str(folder / "outbox.sqlite")},
        "api": {
            "url": api_url,
            "model_poll_s": 10.0,
            "models_dir": str(folder / "models"),
            "uploader": {"idle_poll_s": 1.0, "backoff_max_s": 10.0},
        },
        "heartbeat_s": HEARTBEAT_S,
        "metrics_port": metrics_port,
        "flush_timeout_s": 10.0,
    }
