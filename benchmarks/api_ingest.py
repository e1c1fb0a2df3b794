"""Ingest under load: 50 simulated cameras post batches to the real API on uvicorn (loopback).

Per database (SQLite file; PostgreSQL from --postgres or LOOMSIGHT_TEST_POSTGRES_URL, in a fresh
schema dropped afterwards) the API runs as `uvicorn --factory` in its own process(es), migrated,
with one machine and one camera token per simulated camera. The cameras run in --client-processes
separate processes (an asyncio loop each, one httpx.AsyncClient and keep-alive connection per
camera), so the load generator never competes with the server for one GIL. Each camera posts a
batch of --batch-events new events, waits for the answer and, when paced, sleeps until its next
slot (as the camera uploader does); one warm-up batch each is not counted.

Two phases of --seconds each, bounded also by --max-batches per camera:
- flat out: no pause; the most events per second the server stores (latency is then queueing:
  50 requests in flight / requests per second);
- paced: each camera one batch every --interval-s, an offered load of
  cameras x batch / interval events/s: the latency a plant at that rate sees.
Beside them, the limit: the same rows inserted in batches through SQLAlchemy Core
(`insert_new`, as ingest does, one transaction per batch) in one process, no HTTP.
Stored events are counted in the database afterwards and must equal the sum of the acks.

Targets (issue 5, this 2-core machine): >= 2,000 events/s on PostgreSQL, >= 1,000 on SQLite,
p99 < 200 ms.
Usage: .venv/bin/python -m benchmarks.api_ingest [--seconds 20] [--cameras 50]
       [--client-processes 2] [--sqlite-workers 1] [--postgres-workers 2] [--batch-events 50]
       [--interval-s 1] [--postgres URL] [--uvicorn "--loop uvloop --http httptools"]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from benchmarks.ingest_load import event_json, parent_pid, run_phase
from loomsight.api.app import create_app
from loomsight.api.clock import utc_now
from loomsight.api.database import make_engine
from loomsight.api.migrate import upgrade_to_head
from loomsight.api.schemas import MachineCreate
from loomsight.api.scratch_schema import scratch_schema
from loomsight.api.services.machines import MachineService
from loomsight.api.services.upsert import insert_new
from loomsight.api.settings import ApiSettings
from loomsight.api.tables import Event

TARGET_EVENTS_PER_S = {"sqlite": 1000, "postgresql": 2000}
TARGET_P99_MS = 200.0


def app_factory() -> FastAPI:
    """For `uvicorn --factory`: the API with settings from LOOMSIGHT_API_*."""
    return create_app(ApiSettings())


@contextmanager
def fresh_database(backend: str, folder: Path, postgres_url: str | None) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'bench.db'}"
        return
    assert postgres_url is not None
    with scratch_schema(postgres_url, prefix="bench") as url:
        yield url


def prepare(database_url: str, cameras: int) -> list[tuple[str, str, str]]:
    """Migrate; one machine with one camera per simulated camera; their tokens."""
    engine = make_engine(database_url, pool_size=1)
    upgrade_to_head(engine)
    tokens = []
    with Session(engine) as session:
        service = MachineService(session, utc_now)
        for number in range(cameras):
            machine, camera = f"loom-{number:02d}", f"cam-{number:02d}"
            service.create(MachineCreate(id=machine, name=f"Loom {number}"))
            tokens.append((machine, camera, service.add_camera(machine, camera)[1]))
    engine.dispose()
    return tokens


def count_events(database_url: str) -> int:
    engine = make_engine(database_url, pool_size=1)
    with Session(engine) as session:
        count = int(session.scalar(select(func.count()).select_from(Event)) or 0)
    engine.dispose()
    return count


@contextmanager
def server(
    database_url: str, folder: Path, workers: int, options: Sequence[str]
) -> Iterator[tuple[str, int]]:
    """The API on uvicorn (WORKERS processes, extra uvicorn OPTIONS) on a free loopback port;
    yields its URL and its (main) process."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "LOOMSIGHT_API_DATABASE_URL": database_url,
        "LOOMSIGHT_API_STORAGE_DIR": str(folder / "storage"),
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "benchmarks.api_ingest:app_factory",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
        "--backlog",
        "4096",
        *options,
    ]
    process = subprocess.Popen(command, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not become ready")
            time.sleep(0.2)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def postgres_server(database_url: str) -> int | None:
    """The process id of the local PostgreSQL server (postmaster) of DATABASE_URL, for its CPU
    time; None for SQLite (it runs inside the API's processes)."""
    if not database_url.startswith("postgresql"):
        return None
    engine = create_engine(database_url)
    with engine.connect() as connection:
        backend_pid = int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())
    engine.dispose()
    return parent_pid(backend_pid)


def event_row(sent: dict[str, Any], received_at: datetime) -> dict[str, Any]:
    """The events-table row of the wire event SENT (as ingest stores it)."""
    row = {k: v for k, v in sent.items() if k not in ("box_xyxy_px", "frame_wh_px")}
    x1, y1, x2, y2 = sent["box_xyxy_px"]
    width, height = sent["frame_wh_px"]
    row.update(
        event_id=uuid.UUID(sent["event_id"]),
        received_at=received_at,
        detected_at=datetime.fromisoformat(sent["detected_at"]),
    )
    row.update(box_x1_px=x1, box_y1_px=y1, box_x2_px=x2, box_y2_px=y2)
    row.update(frame_w_px=width, frame_h_px=height)
    return row


def raw_insert_rate(
    database_url: str, tokens: Sequence[tuple[str, str, str]], batch_events: int, seconds: float
) -> float:
    """Events/s through SQLAlchemy Core in this process: ON CONFLICT inserts, a commit a batch."""
    engine = make_engine(database_url, pool_size=1)
    machine, camera, _ = tokens[0]
    stored, index = 0, 10**9  # indexes apart from the cameras' own
    started = time.perf_counter()
    with Session(engine) as session:
        while time.perf_counter() - started < seconds:
            now = utc_now()
            sent = [event_json(machine, camera, index + i) for i in range(batch_events)]
            index += batch_events
            rows = sorted((event_row(e, now) for e in sent), key=lambda row: row["event_id"])
            stored += len(insert_new(session, Event, rows, "event_id"))
            session.commit()
    rate = stored / (time.perf_counter() - started)
    engine.dispose()
    return rate


def judge(rate: float, target: float, p99_ms: float | None) -> str:
    """The targets' verdict: the rate flat out; the rate and p99 when paced (flat out, latency
    is the queue of 50 requests in flight and says nothing about a plant's load)."""
    verdicts = [f">= {target:,.0f}/s: {'met' if rate >= target else 'missed'}"]
    if p99_ms is not None:
        verdicts.append(
            f"p99 < {TARGET_P99_MS:.0f}: {'met' if p99_ms < TARGET_P99_MS else 'missed'}"
        )
    return ", ".join(verdicts)


def bench_backend(backend: str, args: argparse.Namespace, table: Table, console: Console) -> None:
    """Both phases and the limit on BACKEND, each a row of TABLE."""
    offered = args.cameras * args.batch_events / args.interval_s
    phases = (("flat out", 0.0), (f"paced, {offered:,.0f}/s offered", args.interval_s))
    target = TARGET_EVENTS_PER_S[backend]
    with (
        tempfile.TemporaryDirectory(prefix="ingest-bench-") as temporary,
        fresh_database(backend, Path(temporary), args.postgres) as url,
    ):
        tokens = prepare(url, args.cameras)
        acked = 0
        database = postgres_server(url)
        options = args.uvicorn.split()
        workers = args.sqlite_workers if backend == "sqlite" else args.postgres_workers
        with server(url, Path(temporary), workers, options) as (base_url, api):
            for phase, interval_s in phases:
                outcome = run_phase(base_url, tokens, args, interval_s, api, database)
                acked += outcome.events_stored
                rate = outcome.events_stored / outcome.seconds
                p50, p99 = outcome.percentile_ms(50), outcome.percentile_ms(99)
                verdict = judge(rate, target, p99 if interval_s else None)
                cpu_ms = [
                    outcome.cpu_ms_per_batch(cpu_s)
                    for cpu_s in (
                        outcome.server_cpu_s,
                        outcome.database_cpu_s,
                        outcome.client_cpu_s,
                    )
                ]
                table.add_row(
                    backend,
                    phase,
                    str(outcome.batches),
                    f"{rate:,.0f}",
                    f"{p50:.0f}",
                    f"{p99:.0f}",
                    str(outcome.refused),
                    " / ".join(f"{ms:.1f}" for ms in cpu_ms),
                    verdict,
                )
        stored = count_events(url)
        if stored < acked + 2 * args.cameras * args.batch_events:  # and the warm-up batches
            console.print(f"[red]{backend}: {stored} events in the database, {acked} acked[/red]")
        raw = raw_insert_rate(url, tokens, args.batch_events, args.raw_seconds)
        table.add_row(
            backend, "limit: SQLAlchemy Core, 1 process", "", f"{raw:,.0f}", "", "", "", ""
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    parser.add_argument("--cameras", type=int, default=50)
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument(
        "--sqlite-workers", type=int, default=1, help="uvicorn workers (processes) on SQLite"
    )
    parser.add_argument("--postgres-workers", type=int, default=2, help="... on PostgreSQL")
    parser.add_argument("--batch-events", type=int, default=50, help="events per batch")
    parser.add_argument("--interval-s", type=float, default=1.0, help="paced: s between batches")
    parser.add_argument("--max-batches", type=int, default=100_000, help="per camera and phase")
    parser.add_argument("--raw-seconds", type=float, default=5.0)
    parser.add_argument("--postgres", default=os.environ.get("LOOMSIGHT_TEST_POSTGRES_URL"))
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--uvicorn", default="", help="more uvicorn options, e.g. '--loop uvloop'")
    args = parser.parse_args(argv)
    backends = [b for b in args.backends.split(",") if b != "postgresql" or args.postgres]
    table = Table(
        title=f"ingest: {args.cameras} cameras in {args.client_processes} client processes, "
        f"{args.batch_events} events a batch, uvicorn workers: SQLite {args.sqlite_workers}, "
        f"PostgreSQL {args.postgres_workers}; "
        f"{args.seconds:.0f} s a phase; {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}"
    )
    columns = ("database", "phase", "batches", "events/s stored", "p50 ms", "p99 ms", "refused",
               "CPU ms/batch: API / db / clients")  # fmt: skip
    for column in (*columns, "target"):
        table.add_column(column, justify="left" if column in ("database", "phase") else "right")
    console = Console()
    for backend in backends:
        bench_backend(backend, args, table, console)
    console.print(table)


if __name__ == "__main__":
    main()
