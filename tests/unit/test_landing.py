"""Compaction reads the landing files that can hold a day, merges them with the lake day, and retention retires
only the landing files the lake holds in full."""

import os
import time
from datetime import UTC, date, datetime, timedelta

import pytest

from pipelines.lake import Lake
from pipelines.lib.timeutil import DAY_MS, day_start_ms
from pipelines.recorder.compaction import compact_day
from pipelines.recorder.landing import EVENTS, GAPS, Landing
from pipelines.recorder.retention import retire_landing

DAY_1, DAY_5 = date(2025, 10, 1), date(2025, 10, 5)


def event(ts_ms: int, key: str) -> dict:
    return {
        "venue": "bybit",
        "asset": "BTC",
        "symbol": "BTCUSDT",
        "ts": datetime.fromtimestamp(ts_ms / 1000, tz=UTC),
        "side": "long",
        "price": 100.0,
        "qty_coin": 1.0,
        "notional_usd": 100.0,
        "source": "stream",
        "event_key": key,
        "raw": "{}",
    }


def test_compaction_reads_only_the_files_that_can_hold_the_day(tmp_path):
    landing, lake = Landing(tmp_path / "landing"), Lake(tmp_path / "lake")
    d1, d5 = day_start_ms(DAY_1), day_start_ms(DAY_5)
    early = landing.write("bybit", EVENTS, "r1", 1, [event(d1 + 1_000, "a")], coverage=(d1, d1 + 60_000))
    # pushed just after midnight, traded just before it: the trade time decides the day
    late = landing.write(
        "bybit", EVENTS, "r1", 2, [event(d5 - 500, "b"), event(d5 + 30_000, "c")], coverage=(d5, d5 + 60_000)
    )
    unknown = landing.write("bybit", EVENTS, "r0", 1, [event(d5 + 90_000, "d")])  # no coverage: always read
    assert landing.files_for_window("bybit", d5, d5 + DAY_MS) == [unknown, late]
    assert landing.files_for_window("bybit", d1, d1 + DAY_MS) == [unknown, early]
    # the day before day 5 still reads `late`: its first event traded before the push that vouches for it
    assert late in landing.files_for_window("bybit", d5 - DAY_MS, d5)

    compact_day(lake, landing, "bybit", DAY_5)
    compact_day(lake, landing, "bybit", DAY_1)
    compact_day(lake, landing, "bybit", date(2025, 10, 4))
    keys = {
        day: sorted(lake.read_partition("bybit", EVENTS, day)["event_key"].to_pylist())
        for day in (DAY_1, date(2025, 10, 4), DAY_5)
    }
    assert keys == {DAY_1: ["a"], date(2025, 10, 4): ["b"], DAY_5: ["c", "d"]}


def gap(start_ms: int, end_ms: int | None, recorder: str = "r1") -> dict:
    return {"venue": "bybit", "stream": "allLiquidation", "gap_start": start_ms, "gap_end": end_ms,
            "reason": "test", "recorder_id": recorder}  # fmt: skip


def lake_keys(lake: Lake, day: date) -> list[str]:
    return sorted(lake.read_partition("bybit", EVENTS, day)["event_key"].to_pylist())


@pytest.mark.parametrize("mode", ["archive", "delete"])
def test_retention_retires_only_what_the_lake_holds_and_a_lake_day_never_shrinks(tmp_path, mode):
    landing, lake = Landing(tmp_path / "landing"), Lake(tmp_path / "lake")
    d1, d5 = day_start_ms(DAY_1), day_start_ms(DAY_5)
    landing.write(
        "bybit", EVENTS, "r1", 1, [event(d1 + 1_000, "a"), event(d1 + 2_000, "b")], (d1, d1 + 60_000)
    )
    landing.write("bybit", GAPS, "r1", 2, [gap(d1 + 70_000, d1 + 90_000)])
    landing.write("bybit", EVENTS, "r1", 2, [event(d1 + 100_000, "c")], (d1 + 60_000, d1 + 120_000))
    landing.write(
        "bybit", EVENTS, "r1", 3, [event(d5 + 1_000, "e")], (d5, d5 + 60_000)
    )  # day 5: not compacted
    for seq in range(4, 9):  # the newest files (empty flushes) always stay
        landing.write("bybit", EVENTS, "r1", seq, [], (d5 + seq * 60_000, d5 + (seq + 1) * 60_000))
    assert compact_day(lake, landing, "bybit", DAY_1).rows == 3
    abandoned, in_flight = (landing.dir("bybit", EVENTS) / f".tmp-{n}.parquet" for n in ("killed", "writing"))
    for path in (abandoned, in_flight):
        path.write_bytes(b"PAR1")
    os.utime(abandoned, (time.time() - 2 * 86_400,) * 2)  # left by a write killed two days ago

    today = DAY_5 + timedelta(days=8)  # day 1 is 12 days old, day 5 eight: both past a 7-day retention
    result = retire_landing(lake, landing, "bybit", today, retention_days=7, mode=mode)
    assert (result.retired, result.held_back) == (
        3,
        1,
    )  # day 1's two events files and its gap file; day 5 waits
    kept = [p.name for p in landing.files("bybit", EVENTS)]
    assert kept == [f"r1-{seq:06d}.parquet" for seq in range(3, 9)] and landing.files("bybit", GAPS) == []
    archived = sorted(p.name for p in (landing.root / "bybit" / "archive").rglob("*.parquet"))
    assert archived == (
        [] if mode == "delete" else ["r1-000001.parquet", "r1-000002.parquet", "r1-000002.parquet"]
    )

    # day 1 compacted again without its landing files: it keeps every event and its gap
    again = compact_day(lake, landing, "bybit", DAY_1)
    assert (again.rows, again.gaps, again.status) == (3, 1, "ok") and lake_keys(lake, DAY_1) == [
        "a",
        "b",
        "c",
    ]
    # a late file for day 1 adds its new event; its duplicate is dropped
    landing.write("bybit", EVENTS, "r2", 1, [event(d1 + 2_000, "b"), event(d1 + 5_000, "d")])
    assert compact_day(lake, landing, "bybit", DAY_1).rows == 4 and lake_keys(lake, DAY_1) == [
        "a",
        "b",
        "c",
        "d",
    ]

    # once day 5 is compacted, its file can go too; a recent retention window keeps everything
    compact_day(lake, landing, "bybit", DAY_5)
    assert retire_landing(lake, landing, "bybit", DAY_5 + timedelta(days=2), 7, mode).retired == 0
    assert (
        retire_landing(lake, landing, "bybit", today, 7, mode).retired == 2
    )  # day 5's file and the late one


def test_retention_keeps_a_gap_file_whose_closed_gap_the_lake_has_only_open(tmp_path):
    landing, lake = Landing(tmp_path / "landing"), Lake(tmp_path / "lake")
    d1 = day_start_ms(DAY_1)
    landing.write("bybit", GAPS, "r1", 1, [gap(d1 + 1_000, None)])  # written open by a final flush
    compact_day(lake, landing, "bybit", DAY_1)
    landing.write(
        "bybit", GAPS, "r1", 2, [gap(d1 + 1_000, d1 + 50_000)]
    )  # its close, landed after compaction
    result = retire_landing(lake, landing, "bybit", DAY_1 + timedelta(days=30), 7)
    assert (result.retired, result.held_back) == (1, 1)
    compact_day(lake, landing, "bybit", DAY_1)
    [closed] = lake.read_partition("bybit", GAPS, DAY_1).to_pylist()
    assert closed["gap_end"] is not None
    assert retire_landing(lake, landing, "bybit", DAY_1 + timedelta(days=30), 7).retired == 1
