"""Re-run merges: new readings win, what the new fetch could not see stays, provenance adds up."""

import pyarrow as pa

from pipelines.lake import SCHEMAS
from pipelines.lib.intervals import subtract_intervals
from pipelines.lib.partition_merge import merge_rerun, run_entry

H = 3_600_000
T0 = 1760054400000  # 2025-10-10T00:00Z
KEYS = ("venue", "symbol", "ts")


def oi_rows(hours, oi=1.0):
    return pa.Table.from_pylist(
        [
            {
                "venue": "binance",
                "asset": "BTC",
                "symbol": "BTCUSDT",
                "ts": T0 + h * H,
                "oi_coin": oi,
                "raw": "{}",
            }
            for h in hours
        ],
        schema=SCHEMAS["open_interest"],
    )


def by_hour(table):
    return {(t.value - T0) // H: v for t, v in zip(table["ts"], table["oi_coin"].to_pylist(), strict=True)}


def test_subtract_intervals_cuts_holes_and_edges():
    assert subtract_intervals([(0, 10)], [(3, 5)]) == [(0, 3), (5, 10)]
    assert subtract_intervals([(0, 10), (20, 30)], [(5, 25)]) == [(0, 5), (25, 30)]
    assert subtract_intervals([(0, 10)], [(0, 10)]) == []
    assert subtract_intervals([(0, 10)], []) == [(0, 10)]
    assert subtract_intervals([(0, 10)], [(10, 20), (-5, 0)]) == [(0, 10)]


def test_rows_the_new_fetch_could_not_see_stay_and_its_own_window_is_replaced():
    recorded = oi_rows(range(24), oi=1.0)
    first = run_entry("r1", T0 + 25 * H, [(T0, T0 + 24 * H)], recorded, "ts")
    # 30 days + 12 h later the venue serves 12:00..23:00; it revised 15:00 and no longer has 20:00
    new = oi_rows([h for h in range(12, 24) if h != 20], oi=2.0)
    second = run_entry("r2", T0 + 36 * H, [(T0 + 12 * H, T0 + 24 * H)], new, "ts")
    replace = [(T0 + 13 * H, T0 + 24 * H)]  # its window, less the margin after the horizon
    merged, runs = merge_rerun(recorded, [first], new, second, replace, KEYS, "ts")

    hours = by_hour(merged)
    assert sorted(hours) == [h for h in range(24) if h != 20]  # 0..11 kept, 20 revised away, nothing doubled
    assert merged.num_rows == len(hours) == 23
    assert all(hours[h] == 1.0 for h in range(12)) and all(hours[h] == 2.0 for h in hours if h >= 12)
    assert [r["run_id"] for r in runs] == ["r1", "r2"]
    assert [r["rows"] for r in runs] == [12, 11] and sum(r["rows"] for r in runs) == merged.num_rows
    assert runs[0]["holds_ms"] == [[T0, T0 + 13 * H]]  # the hours still from the first run
    assert runs[1]["observed_ms"] == [[T0 + 12 * H, T0 + 24 * H]]


def test_a_recorded_row_near_the_horizon_the_venue_did_not_return_is_kept():
    recorded = oi_rows(range(24))
    new = oi_rows(range(13, 24), oi=2.0)  # the venue's cut was an hour later than ours: 12:00 missing
    second = run_entry("r2", None, [(T0 + 12 * H, T0 + 24 * H)], new, "ts")
    merged, _ = merge_rerun(recorded, None, new, second, [(T0 + 13 * H, T0 + 24 * H)], KEYS, "ts")
    assert sorted(by_hour(merged)) == list(range(24))


def test_rows_of_a_file_without_provenance_are_listed_under_an_unknown_run():
    recorded = oi_rows(range(6))
    new = oi_rows(range(3, 8), oi=2.0)
    second = run_entry("r2", 1, [(T0 + 3 * H, T0 + 8 * H)], new, "ts")
    merged, runs = merge_rerun(recorded, None, new, second, [(T0 + 3 * H, T0 + 8 * H)], KEYS, "ts")
    assert sorted(by_hour(merged)) == list(range(8))
    assert [(r["run_id"], r["rows"]) for r in runs] == [(None, 3), ("r2", 5)]


def test_accumulating_sources_replace_nothing_but_same_key_readings():
    recorded = oi_rows([1, 2, 3])
    earlier = run_entry("r1", 1, [(T0, T0 + 4 * H)], recorded, "ts")
    new = oi_rows([3, 4], oi=2.0)
    later = run_entry("r2", 2, [(T0 + 3 * H, T0 + 5 * H)], new, "ts")
    merged, runs = merge_rerun(recorded, [earlier], new, later, [], KEYS, "ts")
    assert by_hour(merged) == {1: 1.0, 2: 1.0, 3: 2.0, 4: 2.0}
    assert [(r["run_id"], r["rows"]) for r in runs] == [("r1", 2), ("r2", 2)]
