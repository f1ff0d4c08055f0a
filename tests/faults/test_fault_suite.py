"""The fault suite: every fault kind against the sandbox, through the real client, ingest and lake (or publish).

Each test scripts one fault, runs the pipeline until the data is complete (re-running once the fault is over
where the run rightly fails), measures rows against the simulated market's truth, and records one row of the
table printed at the end of the session (`make faults`). Lost and duplicated rows are asserted zero per row.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from pipelines.ingest import PartitionFailed
from pipelines.lake import Lake
from pipelines.lib.raw_checks import run_checks
from pipelines.lib.timeutil import HOUR_MS
from pipelines.venues.http import BREAKERS, VenueBannedError, VenueUnavailableError
from pipelines.warehouse import build_path, publish, published_path
from tests.faults.harness import (
    BINANCE_OI,
    BYBIT_RATIOS,
    DAYS,
    FaultRow,
    measure,
    requests_since,
    run_ingest,
    script,
    since,
)

pytestmark = pytest.mark.faults

# fault kind -> its measured row; conftest prints them at the end of the session
ROWS: dict[str, FaultRow] = {}
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
    sandbox.state.move_clock(clock + 3 * HOUR_MS)  # three hours of 503s later, the venue is back
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
    publisher = subprocess.Popen(
        [sys.executable, "-c", KILLED_MID_COPY, str(home)], stdout=subprocess.PIPE, text=True
    )
    assert publisher.stdout.readline().strip() == "copying"
    publisher.send_signal(signal.SIGKILL)
    assert publisher.wait(10) == -signal.SIGKILL
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


# -- rows that need other work merged first (kept out of the table until then) -------------------------------------


def row_kill_9_during_ingest(sandbox, tmp_path) -> FaultRow:
    # TODO(coordinator, after the lake branch: orphan temp sweep + dir fsync): run ingest_days for BYBIT_RATIOS in
    # a child process (python -c, pointed at sandbox.base_url) and SIGKILL it while it writes (e.g. once the first
    # day's data.parquet exists, or with Lake._atomic_write patched in the child to hang after writing its .tmp-*).
    # Then re-run in-process. Measure: expected/landed/lost/duplicated via measure(); orphan_files(lake.root) after
    # the re-run (the sweep must make it 0); recover_s from the kill to the re-run's end. Assert lost == dup == 0.
    raise NotImplementedError("kill -9 during ingest: pending the lake's orphan sweep")


def row_kill_9_during_recorder_flush(sandbox, tmp_path) -> FaultRow:
    # TODO(coordinator, after the recorder branch: flush retry, kill -9 during flush): start `levwatch record
    # liquidations` against the sandbox's Bybit stream (complete coverage) in a child, SIGKILL it during a flush
    # (its landing temp file exists), restart it, compact the day. Expected = the sandbox truth's Bybit
    # liquidation events for the replayed minutes (market.liquidation_events), minus the minutes the recorder
    # recorded as gaps; landed = rows in raw/bybit/liquidations; duplicated = rows - distinct event_key;
    # orphans = landing temp files left; recover_s = kill to the first landing file of the restarted recorder.
    raise NotImplementedError("kill -9 during recorder flush: pending the recorder work")


def row_enospc(sandbox, tmp_path) -> FaultRow:
    # TODO(coordinator, after the recorder branch: ENOSPC handling): give the recorder (and ingest) a landing/lake
    # on a filesystem that fills up (a small loop-mounted tmpfs, or os.write patched to raise OSError(ENOSPC)
    # after N bytes in the child). Measure: no file half-written (every parquet readable), events held back
    # rather than acknowledged, and after space returns, lost == dup == 0 against the truth; orphans == 0;
    # recover_s from space freed to data complete.
    raise NotImplementedError("ENOSPC: pending the recorder work")


def row_two_overlapping_runs(sandbox, tmp_path) -> FaultRow:
    # TODO(coordinator, after the lake branch: per-dataset lock): start two child processes running ingest_days
    # for BYBIT_RATIOS over the same DAYS into the same lake at once (release them together with a barrier file).
    # Expected: one waits for the other's lock or both finish; landed == expected, duplicated == 0, every file
    # readable, orphans == 0, recover_s = from the later start to both done.
    raise NotImplementedError("two overlapping runs: pending the lake's per-dataset lock")


PENDING_ROWS = [
    row_kill_9_during_ingest,
    row_kill_9_during_recorder_flush,
    row_enospc,
    row_two_overlapping_runs,
]
