"""The fault suite: every fault kind against the sandbox, through the real client, ingest and lake (or publish).

Each test scripts one fault, runs the pipeline until the data is complete (re-running once the fault is over
where the run rightly fails), measures rows against the simulated market's truth, and records one row of the
table printed at the end of the session (`make faults`). Lost and duplicated rows are asserted zero per row.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import duckdb
import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipelines.files import atomic_write
from pipelines.ingest import PartitionFailed
from pipelines.lake import Lake
from pipelines.lib.raw_checks import run_checks
from pipelines.lib.timeutil import HOUR_MS, iso_to_ms
from pipelines.recorder import landing as landing_module
from pipelines.recorder.compaction import compact_day
from pipelines.recorder.landing import EVENTS, GAPS, Landing
from pipelines.sandbox.server import make_server
from pipelines.venues.http import BREAKERS, VenueBannedError, VenueUnavailableError
from pipelines.warehouse import build_path, publish, published_path
from tests.faults import children
from tests.faults.harness import (
    BINANCE_OI,
    BYBIT_RATIOS,
    DAYS,
    FaultRow,
    compare,
    measure,
    orphan_files,
    publish_killed_mid_copy,
    requests_since,
    run_ingest,
    script,
    since,
    wait_until,
)
from tests.integration.test_recorder import outside_gaps, record_replay, subscribed, wait_for
from tests.integration.test_recorder import truth as recorder_truth

pytestmark = pytest.mark.faults

# fault kind -> its measured row; conftest prints them at the end of the session
ROWS: dict[str, FaultRow] = {}
REPO = Path(__file__).resolve().parents[2]
RATIO_PATH = "/v5/market/account-ratio"
OI_PATH = "/futures/data/openInterestHist"


def record(row: FaultRow) -> FaultRow:
    ROWS[row.fault] = row
    assert row.lost == 0, f"{row.fault}: {row.lost} rows lost"
    assert row.duplicated == 0, f"{row.fault}: {row.duplicated} rows duplicated"
    assert row.unexpected == 0, f"{row.fault}: {row.unexpected} rows the market never had"
    assert row.orphans == 0, f"{row.fault}: {row.orphans} orphan files"
    return row


def first_served(sandbox, position: int, venue: str, path: str | None, skip: int = 0) -> float:
    """When the fault was first served: the (skip+1)-th matching request after it was scripted."""
    return requests_since(sandbox, position, venue, path)[skip]["at_s"]


def nothing_written(lake: Lake, target) -> bool:
    return not any(lake.partition_path(target.venue, target.spec.name, d).exists() for d in DAYS)


# -- faults a single run absorbs: retried inside the client, or undone by the parser's keyed rows ---------------


@pytest.mark.parametrize(
    "fault, target, path, script_kw, http_kw, surfaced",
    [
        ("429", BINANCE_OI, OI_PATH, {"kind": "429", "count": 3, "retry_after": 0.2}, {}, "waited Retry-After, retried"),
        ("5xx burst", BINANCE_OI, OI_PATH, {"kind": "503", "count": 4}, {}, "retried with backoff"),
        ("timeout", BINANCE_OI, OI_PATH, {"kind": "timeout", "count": 2, "delay_s": 1.0}, {"timeout_s": 0.3}, "timed out, retried"),
        ("truncated body", BINANCE_OI, OI_PATH, {"kind": "truncate", "count": 2}, {}, "rejected unparsed, retried"),
        ("duplicate rows", BYBIT_RATIOS, RATIO_PATH, {"kind": "duplicate", "count": 1000}, {}, "keyed rows: repeats collapse"),
        ("out-of-order rows", BINANCE_OI, OI_PATH, {"kind": "out_of_order", "count": 1000, "seed": 7}, {}, "rows keyed by time, not position"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)  # fmt: skip
def test_a_fault_one_run_absorbs(sandbox, tmp_path, fault, target, path, script_kw, http_kw, surfaced):
    lake = Lake(tmp_path / "lake")
    position = script(sandbox, venue=target.venue, path=path, **script_kw)
    run_ingest(sandbox, target, lake, **http_kw)
    t0 = first_served(sandbox, position, target.venue, path)
    recover = since(t0)
    assert sandbox.state.faults == [] or script_kw["count"] >= 1000  # the scripted answers were all served
    record(measure(sandbox, target, lake, fault, recover_s=recover, surfaced=surfaced))


def test_mid_pagination_failure_writes_nothing_and_a_rerun_completes(sandbox, tmp_path):
    """Page 3 of the first asset fails past every retry: the run fails naming the day, nothing half-written."""
    target, lake = BYBIT_RATIOS, Lake(tmp_path / "lake")
    position = script(sandbox, venue="bybit", path=RATIO_PATH, kind="503", skip=2, count=5)
    with pytest.raises(PartitionFailed, match="bybit/long_short_ratios failed on 2025-10-09") as failed:
        run_ingest(sandbox, target, lake)
    assert isinstance(failed.value.cause, VenueUnavailableError)
    pages = requests_since(sandbox, position, "bybit", RATIO_PATH)
    assert (
        len(pages) == 2 + 5 and pages[2]["query"]["cursor"]
    )  # the failing page was a later page, not page 1
    assert nothing_written(lake, target)
    t0 = pages[-1]["at_s"]  # the fault's last answer
    run_ingest(sandbox, target, lake, run_id="rerun")
    record(
        measure(
            sandbox,
            target,
            lake,
            "mid-pagination failure",
            recover_s=since(t0),
            surfaced="run failed on page 3; re-run",
        )
    )


def test_418_ban_stops_every_request_until_it_expires(sandbox, tmp_path):
    target, lake, ban_s = BINANCE_OI, Lake(tmp_path / "lake"), 1.0
    BREAKERS.reset()
    position = script(sandbox, venue="binance", path=None, kind="418", count=1, retry_after=ban_s)
    with pytest.raises(PartitionFailed) as failed:
        run_ingest(sandbox, target, lake)
    assert isinstance(failed.value.cause, VenueBannedError)
    banned_at = first_served(sandbox, position, "binance", None)
    with pytest.raises(PartitionFailed, match="breaker open"):  # the next run, still within the ban
        run_ingest(sandbox, target, lake, run_id="during-ban")
    time.sleep(max(0.0, banned_at + ban_s - time.monotonic()) + 0.05)
    t0 = banned_at + ban_s  # the ban's end
    run_ingest(sandbox, target, lake, run_id="after-ban")
    during_ban = [r for r in requests_since(sandbox, position, "binance") if banned_at < r["at_s"] < t0]
    row = measure(
        sandbox, target, lake, "418 ban", banned_requests=len(during_ban), recover_s=since(t0),
        surfaced="breaker open; re-run after Retry-After",
    )  # fmt: skip
    record(row)
    assert row.banned_requests == 0


def test_venue_outage_of_hours_fails_the_run_and_the_first_run_after_it_completes(sandbox, tmp_path):
    target, lake = BYBIT_RATIOS, Lake(tmp_path / "lake")
    clock = sandbox.state.clock_ms
    position = script(sandbox, venue="bybit", path=None, kind="503", until_ms=clock + 3 * HOUR_MS)
    with pytest.raises(PartitionFailed) as failed:
        run_ingest(sandbox, target, lake)
    assert isinstance(failed.value.cause, VenueUnavailableError) and nothing_written(lake, target)
    assert {r["venue"] for r in requests_since(sandbox, position, "bybit")} == {"bybit"}
    sandbox.state.clock.move_to(clock + 3 * HOUR_MS)  # three hours of 503s later, the venue is back
    t0 = time.monotonic()
    run_ingest(sandbox, target, lake, run_id="after-outage")
    record(
        measure(
            sandbox,
            target,
            lake,
            "venue outage (3 h of 503)",
            recover_s=since(t0),
            surfaced="run failed; next run complete",
        )
    )


def test_a_renamed_optional_field_is_an_error_of_the_null_rate_check(sandbox, tmp_path):
    """sellRatio renamed: the parser still finds buyRatio, so the day lands with long_short_ratio all null.
    The null-rate check makes it an ERROR naming the day and column; the run after the fix fills it again."""
    target, lake = BYBIT_RATIOS, Lake(tmp_path / "lake")
    run_ingest(sandbox, target, lake, run_id="history")  # the days before: the column's own history
    newest = DAYS[-1:]
    script(
        sandbox,
        venue="bybit",
        path=RATIO_PATH,
        kind="rename",
        field="sellRatio",
        rename_to="sell_ratio",
        count=1000,
    )
    results = run_ingest(sandbox, target, lake, days=newest, run_id="renamed")
    checks = {c.name: c for c in run_checks(lake, "bybit", target.spec, results)}
    assert not checks["null_rate"].passed and not checks["null_rate"].warn_only
    assert "2025-10-12: long_short_ratio null in all 120 rows" in checks["null_rate"].message
    assert all(c.passed for name, c in checks.items() if name != "null_rate")  # only this check sees it
    sandbox.state.faults.clear()  # the venue (or our parser) is fixed
    t0 = time.monotonic()
    results = run_ingest(sandbox, target, lake, days=newest, run_id="fixed")
    assert all(c.passed for c in run_checks(lake, "bybit", target.spec, results))
    table = lake.read_partition("bybit", "long_short_ratios", newest[0])
    assert table["long_short_ratio"].null_count == 0
    record(
        measure(sandbox, target, lake, "renamed field", recover_s=since(t0), surfaced="null_rate check ERROR")
    )


def test_a_renamed_required_field_fails_the_day_clearly_and_writes_nothing(sandbox, tmp_path):
    """buyRatio renamed: there is no long share to store, so the run stops naming the day and the field."""
    target, lake = BYBIT_RATIOS, Lake(tmp_path / "lake")
    script(
        sandbox,
        venue="bybit",
        path=RATIO_PATH,
        kind="rename",
        field="buyRatio",
        rename_to="buy_ratio",
        count=1000,
    )
    with pytest.raises(PartitionFailed, match=r"failed on 2025-10-09: .*'buyRatio'"):
        run_ingest(sandbox, target, lake)
    assert nothing_written(lake, target)


# -- publish: readers of the warehouse while it is replaced, and a publisher killed mid-copy -----------------------

ROWS_PER_BUILD = 20_000

READER = """
import json, sys, time
from pathlib import Path
import duckdb
home, stop = Path(sys.argv[1]), Path(sys.argv[2])
reads = errors = torn = 0
versions = set()
while True:
    last = stop.exists()
    try:
        with duckdb.connect(str(home / "levwatch.duckdb"), read_only=True) as con:
            n, lo, hi, ids = con.execute("select count(*), min(v), max(v), count(distinct id) from marts.t").fetchone()
        reads += 1
        versions.add(lo)
        if n != int(sys.argv[3]) or lo != hi or ids != n:
            torn += 1
    except Exception as exc:
        errors += 1
        print(repr(exc), file=sys.stderr, flush=True)
    if reads == 1:
        print("reading", flush=True)
    if last:
        break
print(json.dumps({"reads": reads, "errors": errors, "torn": torn, "versions": sorted(versions)}), flush=True)
"""


def build(home: Path, version: int) -> None:
    build_path(home).parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(build_path(home))) as con:
        con.execute("create schema if not exists marts")
        con.execute(
            f"create or replace table marts.t as select range as id, {version} as v from range({ROWS_PER_BUILD})"
        )


class Readers:
    """Analysts in another process, opening the published file read-only in a loop until told to stop."""

    def __init__(self, home: Path):
        self.stop = home.parent / f"{home.name}.stop"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", READER, str(home), str(self.stop), str(ROWS_PER_BUILD)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.proc.stdout.readline().strip() == "reading"

    def finish(self) -> dict:
        self.stop.touch()
        out, err = self.proc.communicate(timeout=30)
        result = json.loads(out.strip().splitlines()[-1])
        result["stderr"] = err
        return result


def published_rows(home: Path) -> tuple[int, int, int]:
    with duckdb.connect(str(published_path(home)), read_only=True) as con:
        return con.execute("select count(*), count(distinct id), max(v) from marts.t").fetchone()


def publish_row(fault: str, home: Path, version: int, readers: dict, recover_s, surfaced: str) -> FaultRow:
    landed, distinct, newest = published_rows(home)
    assert newest == version
    return FaultRow(
        fault=fault,
        target="warehouse publish",
        expected=ROWS_PER_BUILD,
        landed=landed,
        lost=ROWS_PER_BUILD - distinct,
        duplicated=landed - distinct,
        reader_errors=readers["errors"] + readers["torn"],
        orphans=sum(1 for _ in home.glob(".levwatch-*")),
        recover_s=recover_s,
        surfaced=surfaced.format(**readers),
    )


def test_readers_during_publish_see_whole_versions_only(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    build(home, 0)
    publish(home)
    readers = Readers(home)
    for version in range(1, 11):
        build(home, version)
        publish(home)
    seen = readers.finish()
    row = record(
        publish_row("readers during publish", home, 10, seen, None, "{reads} reads, each one whole version")
    )
    assert row.reader_errors == 0, seen["stderr"]
    assert seen["reads"] > 1 and seen["versions"][-1] == 10


def test_kill_9_during_publish_keeps_the_old_warehouse_and_the_next_publish_recovers(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    build(home, 1)
    publish(home)
    readers = Readers(home)
    build(home, 2)
    publish_killed_mid_copy(home)
    killed_at = time.monotonic()
    assert published_rows(home) == (ROWS_PER_BUILD, ROWS_PER_BUILD, 1)  # the old warehouse, whole
    assert len(list(home.glob(".levwatch-*"))) == 1  # the half copy, until the next publish
    publish(home)
    recover = since(killed_at)
    seen = readers.finish()
    row = record(
        publish_row(
            "kill -9 during publish", home, 2, seen, recover, "old file served; next publish sweeps temp"
        )
    )
    assert row.reader_errors == 0, seen["stderr"]


# -- a writer killed mid-file, two writers at once, a full disk: the lake and the recorder's landing area -----------

SPAWN = multiprocessing.get_context("spawn")  # a fresh interpreter: nothing shared with the test process
BYBIT_NAME = "bybit/long_short_ratios"


def join_all(procs, timeout_s: float = 60) -> list[int | None]:
    for proc in procs:
        proc.join(timeout_s)
        if proc.is_alive():
            proc.kill()
            proc.join(timeout_s)
    return [proc.exitcode for proc in procs]


def test_kill_9_during_ingest_leaves_whole_files_and_a_rerun_completes(sandbox, tmp_path):
    """A run SIGKILLed with day 2's file half-written: day 1 whole, the half file a temp nobody reads; the
    re-run merges day 1 without repeats, writes the rest and sweeps the dead writer's temp file."""
    target, lake, marker = BYBIT_RATIOS, Lake(tmp_path / "lake"), tmp_path / "half-written"
    child = SPAWN.Process(
        target=children.ingest,
        args=(BYBIT_NAME, sandbox.base_url("bybit"), str(lake.root), sandbox.state.clock_ms, "killed"),
        kwargs={"stall_on_write": 2, "marker": str(marker)},
    )
    child.start()
    try:
        wait_until(marker.exists, "the second partition write", [child])
        os.kill(child.pid, signal.SIGKILL)
    finally:
        assert join_all([child]) == [-signal.SIGKILL]
    killed_at = time.monotonic()
    assert orphan_files(lake.root) == 1  # the fault happened: a half-written temp file of the dead writer
    assert lake.partition_path("bybit", target.spec.name, DAYS[0]).exists()
    assert not any(lake.partition_path("bybit", target.spec.name, d).exists() for d in DAYS[1:])
    run_ingest(sandbox, target, lake, run_id="rerun")
    record(
        measure(sandbox, target, lake, "kill -9 during ingest", recover_s=since(killed_at),
                surfaced="half file never renamed; re-run sweeps it")
    )  # fmt: skip


def test_two_overlapping_runs_into_one_lake_land_every_row_once(sandbox, tmp_path):
    """Two processes ingest the same days into the same lake, released at the same instant. The days are past,
    so each run replaces a day whole: under the per-dataset lock the later write replaces the earlier one,
    never mixes with it."""
    target, lake, start_line = BYBIT_RATIOS, Lake(tmp_path / "lake"), tmp_path / "go"
    runs = [
        SPAWN.Process(
            target=children.ingest,
            args=(BYBIT_NAME, sandbox.base_url("bybit"), str(lake.root), sandbox.state.clock_ms, run_id),
            kwargs={"start_line": str(start_line), "ready": str(tmp_path / f"{run_id}-ready")},
        )
        for run_id in ("run-a", "run-b")
    ]
    for proc in runs:
        proc.start()
    try:
        wait_until(
            lambda: all((tmp_path / f"{r}-ready").exists() for r in ("run-a", "run-b")), "both ready", []
        )
        start_line.touch()
        released = time.monotonic()
    finally:
        assert join_all(runs) == [0, 0]
    recover = since(released)
    # both runs fetched everything (each wrote its API log); each day's file is one run's whole view of it
    logged = {
        row["run_id"]
        for path in (lake.root / "bybit" / "api_health").rglob("*.parquet")
        for row in pq.read_table(path).to_pylist()
    }
    assert {"run-a", "run-b"} <= logged
    for day in DAYS:
        [run] = lake.partition_runs("bybit", target.spec.name, day)
        assert run["run_id"] in ("run-a", "run-b")
        assert run["rows"] == lake.read_partition("bybit", target.spec.name, day).num_rows
    record(
        measure(sandbox, target, lake, "two overlapping runs", recover_s=recover,
                surfaced="per-dataset lock; each day replaced whole")
    )  # fmt: skip


def bybit_lake_events(lake: Lake) -> tuple[list[tuple[str, int]], list[str], list[dict]]:
    """(symbol, ts) and event_key of every compacted Bybit event of the scenario's days, and their gaps (ms).
    A gap is filed under the day it starts, so a gap over the window can sit in an earlier day."""
    events = pa.concat_tables(pq.read_table(lake.partition_path("bybit", EVENTS, d)) for d in DAYS)
    gaps = [g for d in DAYS for g in pq.read_table(lake.partition_path("bybit", GAPS, d)).to_pylist()]
    for g in gaps:
        g["gap_start"] = int(g["gap_start"].timestamp() * 1000)
        g["gap_end"] = None if g["gap_end"] is None else int(g["gap_end"].timestamp() * 1000)
    ts = pc.cast(events["ts"], "int64").to_pylist()
    return list(zip(events["symbol"].to_pylist(), ts, strict=True)), events["event_key"].to_pylist(), gaps


def recorder_row(fault, server, home, start, end, **kw) -> tuple[FaultRow, list[dict]]:
    """Compact the scenario's days, then compare with the simulator's Bybit events of [start, end): each one
    pushed outside the gaps the recorder logged must be in the lake once (Bybit pushes every 500 ms)."""
    lake, landing = Lake(home / "lake"), Landing.under(home)
    for day in DAYS:
        compact_day(lake, landing, "bybit", day)
    landed, keys, gaps = bybit_lake_events(lake)
    landed = [e for e in landed if start <= e[1] < end]
    everything = {(s, t) for s, t, _ in recorder_truth(server, "bybit", start, end)}
    expected = {(s, t) for s, t in everything if outside_gaps((t // 500 + 1) * 500, gaps)}
    row = compare(fault, "bybit/liquidations (recorder)", expected, landed, home, **kw)
    # an event that landed inside a gap is no error; one the market never had, or a repeated key, is
    row = replace(row, unexpected=len(set(landed) - everything), duplicated=len(keys) - len(set(keys)))
    return row, gaps


@contextlib.contextmanager
def bybit_recorders(sandbox_home, scenario, home: Path):
    """A sandbox of its own and a `launch(*python_args)` for recorder processes pointed at its Bybit stream; on the
    way out every process still running is killed and the sandbox stopped."""
    server = make_server(sandbox_home, scenario=scenario).start()
    env = dict(os.environ) | {"LEVWATCH_HOME": str(home), "LEVWATCH_SOURCE": "sandbox",
                              "LEVWATCH_BYBIT_WS_URL": server.ws_url("bybit")}  # fmt: skip
    procs = []

    def launch(*cmd):
        procs.append(subprocess.Popen([sys.executable, *cmd], cwd=REPO, env=env, stderr=subprocess.PIPE))
        return procs[-1]

    try:
        yield server, launch
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
            proc.stderr.close()
        server.stop()


def hold_replay_before(server, start: int, end: int) -> None:
    """Park the stream replay an hour before `start`, at real-time speed, until the test starts it: a recorder that
    starts on a busy machine must not find the default replay already past its --until-ms and stop before its first
    file, and what it covers before the test's replay stays before `start`."""
    parked = {"start_ms": start - HOUR_MS, "end_ms": end, "speed": 1}
    httpx.post(f"{server.url}/_sandbox/replay", json=parked).raise_for_status()


def test_kill_9_during_a_recorder_flush_then_restart_and_compaction(sandbox_home, small_scenario, tmp_path):
    """`levwatch record liquidations` SIGKILLed with an events file half-written in the landing area, restarted
    while the replay goes on, then compacted: everything pushed outside the restart gap lands once."""
    home, marker = tmp_path / "home", tmp_path / "stalled"
    start, end = iso_to_ms("2025-10-10T16:00:00Z"), iso_to_ms("2025-10-10T20:00:00Z")
    args = ["record", "liquidations", "--venues", "bybit", "--flush-seconds", "0.2", "--until-ms", str(end)]
    with bybit_recorders(sandbox_home, small_scenario, home) as (server, launch):
        hub = server.state.streams
        hold_replay_before(server, start, end)
        killed = launch("-m", "tests.faults.children", str(marker), str(start), *args)
        landing = Landing.under(home)
        # a recorder that has been running: its first file landed (one killed before that leaves no trace)
        wait_until(
            lambda: subscribed(hub, "bybit") and landing.files("bybit", EVENTS), "a first flush", [killed]
        )
        httpx.post(f"{server.url}/_sandbox/replay", json={"start_ms": start, "end_ms": end, "speed": 4000})
        wait_until(marker.exists, "a flush with events", [killed])
        killed.send_signal(signal.SIGKILL)
        assert killed.wait(10) == -signal.SIGKILL
        killed_at = time.monotonic()
        assert orphan_files(landing.root) == 1  # the half-written events file, never renamed into place
        restarted = launch("-m", "pipelines.cli", *args)
        wait_until(lambda: any(f"-p{restarted.pid}-" in p.name for p in landing.files("bybit", EVENTS)),
                   "the restarted recorder's first landing file", [restarted])  # fmt: skip
        recover = since(killed_at)
        _, err = restarted.communicate(timeout=60)  # stops at --until-ms, flushing on the way out
        assert restarted.returncode == 0, err.decode()[-2000:]
    row, gaps = recorder_row("kill -9 during recorder flush", server, home, start, end, recover_s=recover)
    assert len(gaps) == 1, gaps
    [gap] = gaps
    assert gap["reason"] == "recorder not running (restart)" and gap["gap_end"] > start  # it spans the kill
    in_gap = len({(s, t) for s, t, _ in recorder_truth(server, "bybit", start, end)}) - row.expected
    heard = row.landed - row.expected  # the gap ends when the restarted recorder reads the clock: a bit late
    record(
        replace(row, surfaced=f"half file swept; {in_gap} events in the logged restart gap ({heard} heard)")
    )


def test_kill_9_before_the_recorders_first_periodic_flush_leaves_a_restart_gap(
    sandbox_home, small_scenario, tmp_path
):
    """A recorder killed before its first periodic flush (an hour away here) has still landed one file at its
    subscription, so its successor logs the restart gap from there: what it heard is covered, not silently lost."""
    home = tmp_path / "home"
    start, end = iso_to_ms("2025-10-10T16:00:00Z"), iso_to_ms("2025-10-10T20:00:00Z")
    args = ["-m", "pipelines.cli", "record", "liquidations", "--venues", "bybit", "--until-ms", str(end)]
    with bybit_recorders(sandbox_home, small_scenario, home) as (server, launch):
        hub = server.state.streams
        hold_replay_before(server, start, end)
        killed = launch(*args, "--flush-seconds", "3600")
        landing = Landing.under(home)
        wait_until(lambda: subscribed(hub, "bybit") and landing.files("bybit", EVENTS), "a landing file at subscription",
                   [killed])  # fmt: skip
        first_file = landing.coverage(landing.files("bybit", EVENTS)[0])
        httpx.post(f"{server.url}/_sandbox/replay", json={"start_ms": start, "end_ms": end, "speed": 4000})
        wait_until(lambda: hub.replay.position() > start + HOUR_MS, "an hour of replayed pushes", [killed])
        killed.send_signal(signal.SIGKILL)  # an hour of pushes heard, none flushed
        assert killed.wait(10) == -signal.SIGKILL
        # park the replay while the successor starts (slowly, on a busy machine), then let the rest run to it
        hold_replay_before(server, hub.replay.position() + HOUR_MS, end)
        restarted = launch(*args, "--flush-seconds", "0.2")
        wait_until(lambda: any(f"-p{restarted.pid}-" in p.name for p in landing.files("bybit", EVENTS)),
                   "the restarted recorder's first landing file", [restarted])  # fmt: skip
        httpx.post(
            f"{server.url}/_sandbox/replay",
            json={"start_ms": hub.replay.position(), "end_ms": end, "speed": 4000},
        ).raise_for_status()
        _, err = restarted.communicate(timeout=60)
        assert restarted.returncode == 0, err.decode()[-2000:]
    row, gaps = recorder_row("kill -9 before the first flush", server, home, start, end)
    restart = [g for g in gaps if g["reason"] == "recorder not running (restart)"]
    assert len(restart) == 1, gaps
    # the gap starts where the killed recorder's first file vouched for the stream: before any event it heard
    assert restart[0]["gap_start"] == first_file.covered_until_ms <= start
    assert restart[0]["gap_end"] > start + HOUR_MS
    record(replace(row, surfaced="first file landed at subscription; restart gap covers the unflushed hour"))


class DiskFull:
    """The landing area's disk: while `full`, every write gets half its bytes into the temp file and then
    ENOSPC, as a filling disk does; the real atomic write must remove the temp file and raise."""

    def __init__(self, monkeypatch):
        self.full, self.refused, self.landed_after_freed = False, 0, []
        self.freed_at: float | None = None
        real = landing_module._atomic_write

        def write(table, target, **kw):
            if not self.full:
                real(table, target, **kw)
                if self.freed_at is not None and table.num_rows and "event_key" in table.column_names:
                    self.landed_after_freed.append(time.monotonic())
                return
            self.refused += 1

            def half_then_enospc(fh):
                buffer = pa.BufferOutputStream()
                pq.write_table(table, buffer)
                data = buffer.getvalue().to_pybytes()
                fh.write(data[: len(data) // 2])
                fh.flush()
                raise OSError(errno.ENOSPC, "No space left on device")

            atomic_write(target, half_then_enospc)

        monkeypatch.setattr(landing_module, "_atomic_write", write)

    def free(self) -> None:
        self.full, self.freed_at = False, time.monotonic()


def test_enospc_holds_events_back_and_lands_them_once_space_returns(sandbox, tmp_path, monkeypatch):
    """The disk fills for 1.5 simulated hours of the crash: the recorder keeps the events in memory (nothing
    acknowledged, no half file), and the first flush after space returns lands them all, once."""
    # the replay stays at its end for the session's next test: end before Binance's 21:00 outage, or that
    # test's recorder meets a 503 handshake
    start, end = iso_to_ms("2025-10-10T16:30:00Z"), iso_to_ms("2025-10-10T20:30:00Z")
    hub, disk = sandbox.state.streams, DiskFull(monkeypatch)
    landing = Landing.under(tmp_path)

    async def fill_then_free(client):
        await wait_for(lambda: hub.replay.position() > start + HOUR_MS)
        files_before = len(landing.files("bybit", EVENTS))
        disk.full = True
        await wait_for(lambda: hub.replay.position() > start + 5 * HOUR_MS // 2)
        assert disk.refused >= 2 and len(landing.files("bybit", EVENTS)) == files_before
        disk.free()

    asyncio.run(record_replay(sandbox, tmp_path, start, end, speed=6000, during=fill_then_free))
    assert disk.landed_after_freed  # the held-back events landed after the disk had room again
    row, gaps = recorder_row(
        "ENOSPC", sandbox, tmp_path, start, end, recover_s=disk.landed_after_freed[0] - disk.freed_at,
        surfaced=f"{disk.refused} writes refused; events held, landed on the next flush",
    )  # fmt: skip
    assert gaps == []  # the connection never dropped: every event of the window is expected
    record(row)
