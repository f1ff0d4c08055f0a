"""The fault suite's measuring side: what the sandbox's truth says should land, what did land, and the table.

Expected rows come from the simulated market (`market.hourly`: one row per venue, asset and hour, with
`venue_up`), never from the client or ingest code under test. Landed rows are read back from the lake files.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.ingest import ingest_days
from pipelines.lake import Lake
from pipelines.lib.timeutil import DAY_MS, day_start_ms
from pipelines.venues import binance, bybit
from pipelines.venues.base import DatasetSpec
from pipelines.venues.http import VenueHttp

# the whole small scenario (tests/fixtures/scenario_small.yaml): 2025-10-09 .. 2025-10-12
DAYS = [date(2025, 10, 9), date(2025, 10, 10), date(2025, 10, 11), date(2025, 10, 12)]
BYBIT_PAGE = 24  # rows per page, so each asset's four days take five pages and a fault can hit page 3


@dataclass(frozen=True)
class Target:
    """A venue dataset the faults are run against, and how its truth is read from the simulated market."""

    venue: str
    spec: DatasetSpec
    make_http: object
    retention_days: int | None  # the venue serves statistics this far back from its clock

    def http(self, sandbox, **kwargs) -> VenueHttp:
        return self.make_http(sandbox.base_url(self.venue), **{**FAST_HTTP, **kwargs})


# short backoffs keep the suite fast; the faults' own Retry-After and delays are real seconds
FAST_HTTP = {"backoff_base_s": 0.05, "backoff_cap_s": 0.2, "max_attempts": 5, "timeout_s": 5.0}


# Binance hourly OI: an ascending cursor taken from the page's last row, the shared 418 ban, Retry-After
BINANCE_OI = Target("binance", binance.DATASETS["open_interest"], binance.make_http, retention_days=30)
# Bybit hourly account ratio: newest-first pages with a server cursor, an optional field (sellRatio)
BYBIT_RATIOS = Target(
    "bybit",
    replace(
        bybit.DATASETS["long_short_ratios"],
        fetch=functools.partial(bybit.fetch_long_short_ratios, page_limit=BYBIT_PAGE),
    ),
    bybit.make_http,
    retention_days=None,
)


TARGETS = {f"{t.venue}/{t.spec.name}": t for t in (BINANCE_OI, BYBIT_RATIOS)}  # by name, for child processes


def expected_keys(sandbox, target: Target, days: list[date] = DAYS) -> set[tuple[str, int]]:
    """(asset, hour) the venue had a reading for, per the simulator: hours it was up, not after its clock."""
    h = sandbox.state.market.hourly
    ts = pc.cast(h["ts"], "int64")
    start, end = day_start_ms(days[0]), day_start_ms(days[-1]) + DAY_MS
    clock = sandbox.state.clock_ms
    lo = start if target.retention_days is None else max(start, clock - target.retention_days * DAY_MS)
    mask = pc.and_(
        pc.and_(pc.equal(h["venue"], target.venue), pc.equal(h["venue_up"], True)),
        pc.and_(pc.greater_equal(ts, lo), pc.less(ts, min(end, clock + 1))),
    )
    rows = h.filter(mask)
    return set(zip(rows["asset"].to_pylist(), pc.cast(rows["ts"], "int64").to_pylist(), strict=True))


def landed_rows(lake: Lake, target: Target, days: list[date] = DAYS) -> list[tuple[str, int]]:
    """(asset, hour) of every row in the lake's files for these days, repeats included."""
    out = []
    for day in days:
        path = lake.partition_path(target.venue, target.spec.name, day)
        if path.exists():
            t = pq.read_table(path, columns=["asset", "ts"])
            out += zip(t["asset"].to_pylist(), pc.cast(t["ts"], "int64").to_pylist(), strict=True)
    return out


def orphan_files(root: Path) -> int:
    """Temp files a killed writer would leave (lake, landing and warehouse): `.levwatch-tmp-<pid>-…` of
    pipelines/files.py (matched by `.levwatch-*`, with the published warehouse's older `.levwatch-*.duckdb`)
    and the older `.tmp-*`. Lock files live under `.locks/` and are not counted."""
    return sum(1 for _ in root.rglob(".tmp-*")) + sum(1 for _ in root.rglob(".levwatch-*"))


def run_ingest(
    sandbox, target: Target, lake: Lake, days: list[date] = DAYS, run_id: str = "faults", **http_kw
):
    with target.http(sandbox, **http_kw) as http:
        return ingest_days(
            target.venue,
            target.spec,
            days,
            http=http,
            lake=lake,
            now_ms=sandbox.state.clock_ms,
            run_id=run_id,
        )


def script(sandbox, **fault) -> int:
    """Script a fault; returns the access-log position it starts from (to find when it was first served)."""
    position = len(sandbox.state.requests)
    httpx.post(f"{sandbox.url}/_sandbox/faults", json=fault, timeout=5).raise_for_status()
    return position


def requests_since(sandbox, position: int, venue: str, path: str | None = None) -> list[dict]:
    return [
        r
        for r in sandbox.state.requests[position:]
        if r["venue"] == venue and (path is None or r["path"].endswith(path))
    ]


@dataclass
class FaultRow:
    fault: str
    target: str
    expected: int
    landed: int
    lost: int
    duplicated: int
    banned_requests: int | None = None  # None: the fault opens no ban
    reader_errors: int | None = None  # None: no readers in this row
    orphans: int = 0
    recover_s: float | None = None
    surfaced: str = ""  # how the fault showed itself
    unexpected: int = 0  # rows the truth does not know (asserted zero, not printed)


def compare(fault: str, target: str, expected: set, landed: list, root: Path, **kw) -> FaultRow:
    """A row from the keys the truth expects and the keys read back (repeats included), orphans under root."""
    unique = set(landed)
    return FaultRow(
        fault=fault,
        target=target,
        expected=len(expected),
        landed=len(landed),
        lost=len(expected - unique),
        duplicated=len(landed) - len(unique),
        unexpected=len(unique - expected),
        orphans=orphan_files(root),
        **kw,
    )


def measure(sandbox, target: Target, lake: Lake, fault: str, **kw) -> FaultRow:
    expected, landed = expected_keys(sandbox, target), landed_rows(lake, target)
    return compare(fault, f"{target.venue}/{target.spec.name}", expected, landed, lake.root, **kw)


def since(t0: float) -> float:
    return time.monotonic() - t0


def stall_parquet_writes(marker: Path, should_stall: Callable[[pa.Table], bool]) -> None:
    """In a child process: the first Parquet write `should_stall` picks writes half its bytes, fsyncs them, touches
    `marker` and hangs, as if the machine froze mid-write; the parent then kills the child with SIGKILL."""
    import pyarrow.parquet as pq

    real_write = pq.write_table

    def write_table(table, where, **kwargs):
        if not should_stall(table):
            return real_write(table, where, **kwargs)
        whole = pa.BufferOutputStream()
        real_write(table, whole, **kwargs)
        data = whole.getvalue().to_pybytes()
        where.write(data[: len(data) // 2])
        where.flush()
        os.fsync(where.fileno())
        Path(marker).touch()
        time.sleep(STALL_S)  # killed long before this ends

    pq.write_table = write_table


STALL_S = 60


def nth_call(n: int) -> Callable[[object], bool]:
    calls: list[int] = []

    def pick(_) -> bool:
        calls.append(1)
        return len(calls) == n

    return pick


def wait_until(condition: Callable[[], bool], what: str, alive: Iterable = (), timeout_s: float = 60) -> None:
    """Poll until condition holds; fail at once if a watched child process exits first."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        for proc in alive:
            exited = proc.poll() if hasattr(proc, "poll") else (None if proc.is_alive() else proc.exitcode)
            if exited is not None:
                raise AssertionError(f"a child exited ({exited}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.01)


COLUMNS = (
    "fault",
    "target",
    "rows expected",
    "rows landed",
    "lost",
    "duplicated",
    "requests while banned",
    "reader errors",
    "orphan files",
    "time to recover (s)",
    "how it surfaced",
)


def format_table(rows: list[FaultRow]) -> str:
    def cell(v):
        if v is None:
            return "–"
        if isinstance(v, float):
            return f"{v:.2f}"
        return str(v)

    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        values = (
            r.fault,
            r.target,
            r.expected,
            r.landed,
            r.lost,
            r.duplicated,
            r.banned_requests,
            r.reader_errors,
            r.orphans,
            r.recover_s,
            r.surfaced,
        )
        lines.append("| " + " | ".join(cell(v) for v in values) + " |")
    return "\n".join(lines)


# a publisher SIGKILLed halfway through its copy: it copies half the file, says so, and waits for the kill
KILLED_MID_COPY = """
import shutil, sys, time
from pathlib import Path
from pipelines import warehouse

def half_then_hang(fsrc, fdst, length=0):
    data = fsrc.read()
    fdst.write(data[: len(data) // 2])
    fdst.flush()
    print("copying", flush=True)
    time.sleep(60)

shutil.copyfileobj = half_then_hang
warehouse.publish(Path(sys.argv[1]))
"""


def publish_killed_mid_copy(home: Path) -> None:
    """Start a publish of `home` in a child process and SIGKILL it halfway through its copy."""
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_MID_COPY, str(home)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout.readline().strip() == "copying"
    child.send_signal(signal.SIGKILL)
    assert child.wait(10) == -signal.SIGKILL
    child.stdout.close()
