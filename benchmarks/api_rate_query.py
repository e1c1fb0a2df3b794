"""Rate query over a million events: one machine's rates over its whole range, by hour and day.

A fresh database gets --events events of one machine spread over --days days (8 classes; 60 %
unreviewed, 20 % confirmed, 10 % false alarms, 10 % relabelled; a model change half way) and a
heartbeat every --heartbeat-s seconds, but for a 10-minute outage each day: inserted with
SQLAlchemy Core bulk inserts straight into the tables (the rollup triggers run as on ingest).
Then `RateService.machine_rates` (what GET /api/v1/machines/{id}/rates runs) is timed --repeat
times per query, JSON included; "raw GROUP BY" times the same counts straight from the event
rows, the way a query without the hourly rollups would have to.

Target (API issue): a rate query over 1 million events under 300 ms on this 2-core machine.
Usage: .venv/bin/python -m benchmarks.api_rate_query [--events 1000000] [--days 30]
       [--postgres URL | LOOMSIGHT_TEST_POSTGRES_URL] [--sqlite-only] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.orm import Session

from loomsight.api.database import make_engine
from loomsight.api.migrate import upgrade_to_head
from loomsight.api.rate_models import BucketSize, Counting, RateQuery
from loomsight.api.report_settings import ReportSettings
from loomsight.api.scratch_schema import scratch_schema
from loomsight.api.services.rate_tallies import slot_start_s
from loomsight.api.services.rates import RateService
from loomsight.api.tables import Camera, Event, EventHour, Heartbeat, Machine

TARGET_MS = 300.0
T0 = datetime(2026, 1, 1, tzinfo=UTC)
MACHINE, CAMERA = "loom-bench", "cam-bench"
CLASSES = ("hole", "stain", "broken_end", "broken_pick", "slub", "knot", "contamination", "crease")
CHUNK = 10_000
OUTAGE = timedelta(minutes=10)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--heartbeat-s", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per query")
    parser.add_argument("--postgres", default=os.environ.get("LOOMSIGHT_TEST_POSTGRES_URL"))
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args(argv)
    console = Console(width=max(Console().width, 120))
    table = Table(
        title=f"Rate query: {args.events:,} events of one machine over {args.days} days, "
        f"heartbeats every {args.heartbeat_s:g} s; median (max) of {args.repeat} runs; "
        f"{os.cpu_count()} cores"
    )
    for column in ("database", "query", "buckets", "ms median", "ms max", "target"):
        table.add_column(column, justify="right" if column.startswith(("ms", "b")) else "left")
    backends = ["sqlite"] + ([] if args.sqlite_only or not args.postgres else ["postgresql"])
    with tempfile.TemporaryDirectory(prefix="rate-bench-") as folder:
        for backend in backends:
            with _database(backend, Path(folder), args.postgres) as engine:
                console.print(f"[bold]{backend}[/]: inserting")
                inserted = _fill(engine, args)
                console.print(f"  {inserted}")
                for row in _time_queries(engine, args):
                    table.add_row(backend, *row)
    console.print(table)
    if args.postgres is None and not args.sqlite_only:
        console.print("PostgreSQL skipped: give --postgres URL or LOOMSIGHT_TEST_POSTGRES_URL")
    console.print(f"target: a rate query over 1 million events under {TARGET_MS:.0f} ms")


@contextmanager
def _database(backend: str, folder: Path, postgres: str | None) -> Iterator[Engine]:
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{folder / 'bench.db'}", pool_size=1)
        try:
            yield engine
        finally:
            engine.dispose()
        return
    assert postgres is not None
    with scratch_schema(postgres, prefix="bench") as url:
        engine = make_engine(url, pool_size=1)
        try:
            yield engine
        finally:
            engine.dispose()


def _event_rows(count: int, span_s: float, rng: random.Random) -> Iterator[list[dict[str, Any]]]:
    received = T0 + timedelta(seconds=span_s)
    rows: list[dict[str, Any]] = []
    for k in range(count):
        roll = rng.random()
        verdict = None if roll < 0.6 else "confirmed" if roll < 0.8 else "false_alarm"
        verdict = "relabelled" if roll >= 0.9 else verdict
        rows.append(
            {
                "event_id": uuid.UUID(int=rng.getrandbits(128), version=4),
                "detected_at": T0 + timedelta(seconds=k * span_s / count),
                "machine_id": MACHINE,
                "camera_id": CAMERA,
                "roll_id": f"R{k // 20_000}",
                "position_m": (k % 20_000) * 0.05,
                "across_mm": rng.uniform(0, 1800),
                "length_mm": rng.uniform(2, 300),
                "width_mm": rng.uniform(2, 50),
                "class_name": CLASSES[k % len(CLASSES)],
                "confidence": rng.random(),
                "box_x1_px": 10.0,
                "box_y1_px": 10.0,
                "box_x2_px": 40.0,
                "box_y2_px": 30.0,
                "frame_w_px": 1024,
                "frame_h_px": 512,
                "model_version": "m@1" if k < count // 2 else "m@2",
                "received_at": received,
                "verdict": verdict,
                "corrected_class": "knot" if verdict == "relabelled" else None,
            }
        )
        if len(rows) == CHUNK:
            yield rows
            rows = []
    if rows:
        yield rows


def _heartbeat_rows(
    days: int, period_s: float, rng: random.Random
) -> Iterator[list[dict[str, Any]]]:
    step = timedelta(seconds=period_s)
    outages = [T0 + timedelta(days=d, seconds=rng.uniform(0, 80_000)) for d in range(days)]
    rows: list[dict[str, Any]] = []
    start, end = T0, T0 + timedelta(days=days)
    while start < end:
        if outages and start >= outages[0]:
            start = outages.pop(0) + OUTAGE
            continue
        rows.append(
            {
                "heartbeat_id": uuid.UUID(int=rng.getrandbits(128), version=4),
                "machine_id": MACHINE,
                "camera_id": CAMERA,
                "roll_id": None,
                "period_start": start,
                "period_end": start + step,
                "frames_processed": 300,
                "frames_skipped": 0,
                "inspected_m": 5.0,
                "inspected_m2": 9.0,
                "skipped_m": 0.1,
                "skipped_m2": 0.18,
                "fps": 30.0,
                "inference_ms": 12.0,
                "outbox_depth": 0,
                "model_version": "m@1" if start < T0 + timedelta(days=days / 2) else "m@2",
                "received_at": start + step,
            }
        )
        start += step
        if len(rows) == CHUNK:
            yield rows
            rows = []
    if rows:
        yield rows


def _fill(engine: Engine, args: argparse.Namespace) -> str:
    upgrade_to_head(engine)
    rng = random.Random(5)
    with engine.begin() as connection:
        connection.execute(
            insert(Machine),
            [{"id": MACHINE, "name": "bench", "web_width_mm": 1800.0, "created_at": T0}],
        )
        connection.execute(
            insert(Camera),
            [{"id": CAMERA, "machine_id": MACHINE, "token_sha256": "0" * 64, "created_at": T0}],
        )
    span_s = args.days * 86400.0
    started = time.perf_counter()
    heartbeats = 0
    with Progress(transient=True) as progress:
        task = progress.add_task("events", total=args.events)
        for rows in _event_rows(args.events, span_s, rng):
            with engine.begin() as connection:
                connection.execute(insert(Event), rows)
            progress.advance(task, len(rows))
        events_s = time.perf_counter() - started
        task = progress.add_task("heartbeats", total=int(span_s / args.heartbeat_s))
        for rows in _heartbeat_rows(args.days, args.heartbeat_s, rng):
            with engine.begin() as connection:
                connection.execute(insert(Heartbeat), rows)
            heartbeats += len(rows)
            progress.advance(task, len(rows))
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    with Session(engine) as session:
        rolled = session.scalar(select(func.sum(EventHour.events)))
    assert rolled == args.events, f"the rollup holds {rolled} events, not {args.events}"
    total_s = time.perf_counter() - started
    return (
        f"{args.events:,} events in {events_s:.0f} s ({args.events / events_s:,.0f}/s, triggers "
        f"included), {heartbeats:,} heartbeats; {total_s:.0f} s in all; rollup checked"
    )


def _timed(repeat: int, run: Callable[[], int]) -> tuple[int, list[float]]:
    run()  # warm the caches once
    times, buckets = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        buckets = run()
        times.append((time.perf_counter() - started) * 1000)
    return buckets, times


def _time_queries(engine: Engine, args: argparse.Namespace) -> Iterator[tuple[str, ...]]:
    end = T0 + timedelta(days=args.days)
    cases = [
        ("hour, all", RateQuery(start=T0, end=end, bucket=BucketSize.HOUR)),
        ("day, all", RateQuery(start=T0, end=end, bucket=BucketSize.DAY)),
        (
            "shift, confirmed",
            RateQuery(start=T0, end=end, bucket=BucketSize.SHIFT, counting=Counting.CONFIRMED),
        ),
        ("hour, by model", RateQuery(start=T0, end=end, bucket=BucketSize.HOUR, by_model=True)),
        (
            "hour, ends inside hours",
            RateQuery(start=T0 + timedelta(minutes=17), end=end - timedelta(minutes=43)),
        ),
    ]
    clock = lambda: end + timedelta(days=1)  # noqa: E731
    for name, query in cases:

        def run(query: RateQuery = query) -> int:
            with Session(engine) as session:
                rates = RateService(session, clock, ReportSettings()).machine_rates(MACHINE, query)
                rates.model_dump_json()
                return len(rates.buckets)

        yield _row(name, *_timed(args.repeat, run))

    def raw() -> int:
        with Session(engine) as session:
            slot = slot_start_s(engine.dialect.name, Event.detected_at, 3600)
            query = (
                select(slot, Event.class_name, Event.verdict, func.count())
                .where(
                    Event.machine_id == MACHINE, Event.detected_at >= T0, Event.detected_at < end
                )
                .group_by(slot, Event.class_name, Event.verdict)
            )
            return len({row[0] for row in session.execute(query)})

    yield _row("raw GROUP BY of the rows, hour (no rollup)", *_timed(max(args.repeat // 2, 1), raw))


def _row(name: str, buckets: int, times: list[float]) -> tuple[str, ...]:
    median = statistics.median(times)
    verdict = "[green]met[/]" if median < TARGET_MS else "[red]missed[/]"
    if name.startswith("raw"):
        verdict = "(comparison)"
    return name, f"{buckets:,}", f"{median:.0f}", f"{max(times):.0f}", verdict


if __name__ == "__main__":
    main()
