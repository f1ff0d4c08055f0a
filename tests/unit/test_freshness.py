"""The one freshness rule (pipelines/lib/freshness.py), on ages solved by hand."""

from datetime import date, timedelta

import pyarrow as pa

from pipelines.lake import Lake, empty_table
from pipelines.lib.freshness import MaxAge, judge_freshness, newest_row_ms
from pipelines.lib.timeutil import iso_to_ms

HOURLY = MaxAge(error_after=timedelta(hours=6), warn_after=timedelta(hours=2))
DAILY = MaxAge(error_after=timedelta(days=2), in_days=True)
NEWEST = iso_to_ms("2025-10-12T11:00:00Z")


def test_hours_pass_then_warn_then_error_and_a_pass_keeps_the_warn_severity():
    ok = judge_freshness(
        NEWEST, iso_to_ms("2025-10-12T13:00:00Z"), HOURLY, "deribit/options"
    )  # 2.0 h: not beyond
    assert (ok.passed, ok.severity, ok.metadata["age_hours"]) == (True, "WARN", 2.0)
    warn = judge_freshness(NEWEST, iso_to_ms("2025-10-12T13:01:00Z"), HOURLY, "deribit/options")
    assert (warn.passed, warn.severity) == (False, "WARN")
    error = judge_freshness(NEWEST, iso_to_ms("2025-10-12T17:00:01Z"), HOURLY, "deribit/options")  # > 6 h
    assert (error.passed, error.severity) == (False, "ERROR")
    assert "6.0 h old" in error.message and "deribit/options" in error.message


def test_days_count_whole_utc_days_and_have_no_warning():
    # a row at 10 Oct 00:00 is 2 days old all of 12 Oct (passes) and 3 days old from 13 Oct 00:00 (fails)
    newest = iso_to_ms("2025-10-10T00:00:00Z")
    late = judge_freshness(newest, iso_to_ms("2025-10-12T23:59:00Z"), DAILY, "defillama/lending")
    assert (late.passed, late.severity, late.metadata["age_days"]) == (True, "ERROR", 2)
    stale = judge_freshness(newest, iso_to_ms("2025-10-13T00:00:00Z"), DAILY, "defillama/lending")
    assert (stale.passed, stale.severity, stale.metadata["age_days"]) == (False, "ERROR", 3)


def test_no_row_in_the_lookback_is_an_error():
    outcome = judge_freshness(None, NEWEST, DAILY, "defillama/lending")
    assert (outcome.passed, outcome.severity) == (False, "ERROR")
    assert "no rows in the last 14 days" in outcome.message


def test_the_newest_row_is_found_in_the_newest_non_empty_partition(tmp_path):
    lake = Lake(tmp_path / "lake")
    schema = empty_table("stablecoins").schema

    def rows(*times: str) -> pa.Table:
        """Rows at the given times, every required column filled with a placeholder of its type."""
        filler = {pa.string(): "x", pa.float64(): 1.0, pa.int64(): 1}
        records = [
            {f.name: None if f.nullable else filler.get(f.type) for f in schema}
            | {"venue": "defillama", "ts": iso_to_ms(t)}
            for t in times
        ]
        return pa.Table.from_pylist(records, schema=schema)

    lake.write_partition("defillama", "stablecoins", date(2025, 10, 10), rows("2025-10-10T00:00:00Z"))
    lake.write_partition("defillama", "stablecoins", date(2025, 10, 11), empty_table("stablecoins"))
    now = iso_to_ms("2025-10-12T08:00:00Z")
    assert newest_row_ms(lake, "defillama", "stablecoins", now, 14) == iso_to_ms("2025-10-10T00:00:00Z")
    assert newest_row_ms(lake, "defillama", "stablecoins", now, 1) is None  # 10 Oct lies beyond one day back
