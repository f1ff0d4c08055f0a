"""Lake faults with real processes: a run killed with SIGKILL mid-write, and two runs merging into the same day.

Each child is a spawned Python process running the real ingest against the sandbox over HTTP. The only thing a
child adds is a pause at a chosen point (half a file written, or a day's file just read), so the fault lands
in the same place every time. Every wait is bounded.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.files import TEMP_PREFIX
from pipelines.ingest import ingest_days
from pipelines.lake import KEY_COLUMNS, Lake
from pipelines.lib.timeutil import day_window_ms
from pipelines.sandbox.server import make_server
from pipelines.venues import binance, okx
from tests.integration import lake_fault_children as children
from tests.integration.lake_fault_children import DAYS, OKX_ASSETS, WAIT_S

H = 3_600_000
SPAWN = multiprocessing.get_context("spawn")  # a fresh interpreter: no state shared with the test process


def _wait_for(path: Path, proc) -> None:
    deadline = time.monotonic() + WAIT_S
    while not path.exists():
        if not proc.is_alive():
            raise AssertionError(f"the child exited ({proc.exitcode}) before reaching {path.name}")
        if time.monotonic() > deadline:
            raise AssertionError(f"the child did not reach {path.name} within {WAIT_S} s")
        time.sleep(0.02)


def _keys(table: pa.Table, dataset: str) -> list[tuple]:
    keys = KEY_COLUMNS[dataset]
    return sorted(zip(*(table[k].to_pylist() for k in keys), strict=True), key=str)


# --- kill -9 during ingest -------------------------------------------------------------------------------------


def test_fault_kill9_during_ingest_leaves_no_partial_partition_and_a_rerun_converges(sandbox, tmp_path):
    dataset, now = "open_interest", sandbox.state.clock_ms
    spec = binance.DATASETS[dataset]
    lake, reference = Lake(tmp_path / "lake"), Lake(tmp_path / "reference")
    with binance.make_http(sandbox.base_url("binance"), sleep=lambda s: None) as http:
        ingest_days("binance", spec, DAYS, http=http, lake=reference, now_ms=now, run_id="clean")
        ingest_days("binance", spec, DAYS[1:2], http=http, lake=lake, now_ms=now, run_id="earlier")
    before = lake.read_partition("binance", dataset, DAYS[1])

    marker = tmp_path / "half-written"
    child = SPAWN.Process(
        target=children.ingest_then_stall_mid_write,
        args=(sandbox.base_url("binance"), str(lake.root), now, 2, str(marker)),
    )
    child.start()
    try:
        _wait_for(marker, child)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.join(WAIT_S)
    assert child.exitcode == -signal.SIGKILL

    # the fault happened: day 2's new file was half written when the writer died
    folder = lake.partition_path("binance", dataset, DAYS[1]).parent
    orphans = [p.name for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX)]
    assert len(orphans) == 1 and orphans[0].startswith(f"{TEMP_PREFIX}{child.pid}-")
    # ...yet readers see only whole files: day 1 new, day 2 as the earlier run left it, day 3 not yet there
    assert lake.read_partition("binance", dataset, DAYS[1]).equals(before)
    assert not lake.partition_path("binance", dataset, DAYS[2]).exists()
    glob = lake.glob("binance", dataset)
    with duckdb.connect() as con:  # as dbt reads the lake
        seen = con.execute(f"select count(*) from read_parquet('{glob}')").fetchone()[0]
    assert seen == lake.read_partition("binance", dataset, DAYS[0]).num_rows + before.num_rows

    with binance.make_http(sandbox.base_url("binance"), sleep=lambda s: None) as http:
        ingest_days("binance", spec, DAYS, http=http, lake=lake, now_ms=now, run_id="rerun")
    for day in DAYS:
        folder = lake.partition_path("binance", dataset, day).parent
        assert [p.name for p in folder.iterdir()] == ["data.parquet"]  # the orphan was swept
        table, expected = (
            lake.read_partition("binance", dataset, day),
            reference.read_partition("binance", dataset, day),
        )
        assert _keys(table, dataset) == _keys(expected, dataset)  # nothing lost, nothing duplicated
        assert table.num_rows == expected.num_rows > 0


# --- two overlapping runs on an accumulating dataset -------------------------------------------------------------


def test_fault_two_overlapping_runs_merging_into_one_day_lose_no_rows(
    sandbox, sandbox_home, small_scenario, tmp_path
):
    """OKX serves the last 24 h: a run at 04:00 saw the night, the run at 16:00 sees 00:00-16:00 and the next
    day's 12:00 run sees 12:00-24:00. The last two overlap in time; together they hold the whole day."""
    dataset, day = "liquidations", DAYS[1]
    spec = okx.DATASETS[dataset]
    start, end = day_window_ms(day)
    lake, reference = Lake(tmp_path / "lake"), Lake(tmp_path / "reference")
    with okx.make_http(sandbox.base_url("okx"), sleep=lambda s: None) as http:
        sandbox.state.clock.move_to(end)  # the whole day in one view: what the merged day must equal
        ingest_days(
            "okx", spec, [day], http=http, lake=reference, now_ms=end, run_id="reference", assets=OKX_ASSETS
        )
        sandbox.state.clock.move_to(start + 4 * H)
        ingest_days(
            "okx", spec, [day], http=http, lake=lake, now_ms=start + 4 * H, run_id="night", assets=OKX_ASSETS
        )

    signals = tmp_path / "signals"
    signals.mkdir()
    with make_server(sandbox_home, scenario=small_scenario) as next_day:  # a second venue clock for run A
        next_day.state.clock.move_to(end + 12 * H)
        sandbox.state.clock.move_to(start + 16 * H)
        runs = [
            SPAWN.Process(
                target=children.merge_day_in_step,
                args=(server.base_url("okx"), str(lake.root), clock, run_id, role, str(signals)),
            )
            for server, clock, run_id, role in [
                (next_day, end + 12 * H, "next-noon", "first"),
                (sandbox, start + 16 * H, "afternoon", "second"),
            ]
        ]
        for proc in runs:
            proc.start()
        for proc in runs:
            proc.join(WAIT_S)
            if proc.is_alive():
                proc.kill()
                proc.join(WAIT_S)
    assert [p.exitcode for p in runs] == [0, 0]
    assert (signals / "first-read").exists() and (signals / "second-read").exists()  # both really merged

    table, expected = lake.read_partition("okx", dataset, day), reference.read_partition("okx", dataset, day)
    assert expected.num_rows > 0
    assert _keys(table, dataset) == _keys(expected, dataset)  # every event of the day, each once
    assert table.num_rows == expected.num_rows
    provenance = lake.partition_runs("okx", dataset, day)
    assert sum(r["rows"] for r in provenance) == table.num_rows
    assert {"next-noon", "afternoon"} <= {r["run_id"] for r in provenance}
    assert lake.partition_observed("okx", dataset, day) == [(start, end)]
