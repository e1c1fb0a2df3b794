"""The load generator of `benchmarks.api_ingest`: simulated cameras in client processes, and
CPU time of processes (Linux /proc) to tell the API's, the database's and the clients' cost."""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from loomsight.schema import INGEST_PATH

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
REFUSED, UNCOUNTED = -1, -2


def event_json(machine_id: str, camera_id: str, index: int) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "detected_at": (T0 + timedelta(milliseconds=index)).isoformat(),
        "machine_id": machine_id,
        "camera_id": camera_id,
        "roll_id": "R1",
        "position_m": index * 0.01,
        "across_mm": 830.0,
        "length_mm": 14.0,
        "width_mm": 3.0,
        "class_name": ("hole", "stain", "broken_pick", "slub")[index % 4],
        "confidence": 0.81,
        "box_xyxy_px": [100, 40, 128, 46],
        "frame_wh_px": [1024, 512],
        "model_version": "default@20261126T105647Z",
    }


@dataclass(frozen=True)
class CameraJob:
    base_url: str
    cameras: tuple[tuple[str, str, str], ...]  # (machine, camera, token)
    batch_events: int
    interval_s: float  # 0: flat out
    seconds: float
    max_batches: int


class SimulatedCamera:
    """One camera: its own connection and token, new events in every batch."""

    def __init__(self, job: CameraJob, machine: str, camera: str, token: str) -> None:
        self.job, self.machine, self.camera = job, machine, camera
        headers = {"Authorization": f"Bearer {token}", "content-type": "application/json"}
        self.client = httpx.AsyncClient(base_url=job.base_url, headers=headers, timeout=60)
        self.index = 0

    def body(self) -> bytes:
        size = self.job.batch_events
        events = [event_json(self.machine, self.camera, self.index + i) for i in range(size)]
        self.index += size
        return json.dumps({"schema_version": 1, "events": events}).encode()

    async def post(self) -> tuple[float, int]:
        """(latency s, events stored or REFUSED) of one new batch."""
        content = self.body()
        started = time.perf_counter()
        reply = await self.client.post(INGEST_PATH, content=content)
        latency = time.perf_counter() - started
        return latency, reply.json()["events_stored"] if reply.status_code == 200 else REFUSED

    async def run(self, start_at: float, offset_s: float) -> list[tuple[float, int]]:
        """Batches from START_AT + OFFSET_S until the window ends; the one answered after it
        is UNCOUNTED."""
        results: list[tuple[float, int]] = []
        deadline = start_at + self.job.seconds
        next_at = start_at + offset_s
        while len(results) < self.job.max_batches:
            await asyncio.sleep(max(0.0, next_at - time.time()))
            latency, stored = await self.post()
            if time.time() > deadline:
                results.append((latency, UNCOUNTED))
                break
            results.append((latency, stored))
            next_at = max(next_at + self.job.interval_s, time.time()) if self.job.interval_s else 0
        return results


def camera_process(job: CameraJob, barrier: Any, queue: Any) -> None:
    """One client process: its cameras on one asyncio loop. Each posts a warm-up batch (not
    counted: connection, server caches); all processes then start together (BARRIER). Puts
    (results, CPU seconds of this process) on QUEUE."""

    async def run() -> list[tuple[float, int]]:
        cameras = [SimulatedCamera(job, *camera) for camera in job.cameras]
        warm_up = await asyncio.gather(*(camera.post() for camera in cameras))
        await asyncio.to_thread(barrier.wait)
        start_at = time.time()
        spread_s = job.interval_s / len(cameras)  # paced cameras take turns
        done = await asyncio.gather(
            *(camera.run(start_at, i * spread_s) for i, camera in enumerate(cameras))
        )
        for camera in cameras:
            await camera.client.aclose()
        return [(latency, UNCOUNTED) for latency, _ in warm_up] + [r for d in done for r in d]

    started = time.process_time()
    results = asyncio.run(run())
    queue.put((results, time.process_time() - started))


CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    """Fields of /proc/PID/stat after the command name (state, ppid, ... utime, stime ...)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def parent_pid(pid: int) -> int:
    return int(_stat(pid)[1])


def _children(pid: int) -> list[int]:
    try:
        return [
            int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        ]
    except OSError:
        return []


def cpu_s_by_pid(root: int | None) -> dict[int, float]:
    """User + system CPU seconds of process ROOT and its descendants, by process id (Linux)."""
    spent: dict[int, float] = {}
    pending = [root] if root is not None else []
    while pending:
        pid = pending.pop()
        try:
            fields = _stat(pid)
        except OSError:  # gone
            continue
        spent[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_S
        pending.extend(_children(pid))
    return spent


def cpu_s_since(root: int | None, before: dict[int, float]) -> float:
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in cpu_s_by_pid(root).items())


@dataclass(frozen=True)
class Outcome:
    events_stored: int
    batches: int  # answered inside the window
    posted: int  # all, warm-up and those answered after the window included
    refused: int
    seconds: float
    latencies_s: list[float]
    server_cpu_s: float  # the API's processes
    database_cpu_s: float  # PostgreSQL's processes (0 for SQLite: inside the API's)
    client_cpu_s: float

    def cpu_ms_per_batch(self, cpu_s: float) -> float:
        return cpu_s / max(self.posted, 1) * 1000

    def percentile_ms(self, q: float) -> float:
        return float(np.percentile(self.latencies_s, q) * 1000) if self.latencies_s else 0.0


def run_phase(
    url: str,
    tokens: Sequence[tuple[str, str, str]],
    args: argparse.Namespace,
    interval_s: float,
    api: int,
    database: int | None,
) -> Outcome:
    processes = args.client_processes
    jobs = [
        CameraJob(
            base_url=url,
            cameras=tuple(tokens[i::processes]),
            batch_events=args.batch_events,
            interval_s=interval_s,
            seconds=args.seconds,
            max_batches=args.max_batches,
        )
        for i in range(processes)
    ]
    server_before, database_before = cpu_s_by_pid(api), cpu_s_by_pid(database)
    context = multiprocessing.get_context("spawn")
    barrier, queue = context.Barrier(processes), context.Queue()
    workers = [context.Process(target=camera_process, args=(job, barrier, queue)) for job in jobs]
    for worker in workers:
        worker.start()
    parts = [queue.get(timeout=args.seconds + 300) for _ in workers]
    for worker in workers:
        worker.join()
    results = [result for part, _cpu_s in parts for result in part]
    counted = [result for result in results if result[1] != UNCOUNTED]
    return Outcome(
        events_stored=sum(stored for _, stored in counted if stored > 0),
        batches=len(counted),
        posted=len(results),
        refused=sum(1 for _, stored in counted if stored == REFUSED),
        seconds=args.seconds,
        latencies_s=[latency for latency, _ in counted],
        server_cpu_s=cpu_s_since(api, server_before),
        database_cpu_s=cpu_s_since(database, database_before),
        client_cpu_s=sum(cpu_s for _part, cpu_s in parts),
    )
