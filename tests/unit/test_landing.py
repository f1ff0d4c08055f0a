"""Compacting a day reads the landing files that can hold its events, not a long-running recorder's whole history."""

from datetime import UTC, date, datetime

from pipelines.lake import Lake
from pipelines.lib.timeutil import DAY_MS, day_start_ms
from pipelines.recorder.compaction import compact_day
from pipelines.recorder.landing import EVENTS, Landing

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
