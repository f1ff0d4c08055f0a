"""The liquidation marts against the sandbox's ground truth (every forced close the simulator made).

The warehouse is the session's `liquidation_warehouse` (tests/integration/liquidation_lake.py says how its lake is
filled from the truth and the venue clients).
"""

from __future__ import annotations

from datetime import timedelta

import duckdb
import pyarrow as pa
import pytest

from tests.integration.liquidation_lake import (
    COMPLETE_FEEDS,
    CRASH_DAY,
    DAYS,
    FULL_GAP_HOUR,
    GAP_START,
    OI_ASSETS,
    SAMPLED_FEED,
)


@pytest.fixture
def truth(liquidation_truth) -> pa.Table:
    return liquidation_truth


@pytest.fixture
def warehouse(liquidation_warehouse) -> duckdb.DuckDBPyConnection:
    return liquidation_warehouse


def daily_by_side(con, sql: str) -> dict[tuple, float]:
    return {tuple(row[:-1]): row[-1] for row in con.execute(sql).fetchall()}


MART_DAILY_BY_SIDE = """
    select venue, asset, date, 'long', long_usd from levwatch.marts.liquidations_daily
    union all
    select venue, asset, date, 'short', short_usd from levwatch.marts.liquidations_daily
"""
TRUTH_DAILY_BY_SIDE = """
    select venue, asset, cast(ts as date), side, sum(notional_usd) from truth group by all
"""


def test_complete_feeds_add_up_to_the_truth(warehouse):
    got = daily_by_side(warehouse, MART_DAILY_BY_SIDE)
    want = daily_by_side(warehouse, TRUTH_DAILY_BY_SIDE)
    checked = 0
    for key, usd in want.items():
        if key[0] in COMPLETE_FEEDS:
            assert got.get(key, 0.0) == pytest.approx(usd, rel=1e-9), key
            checked += 1
    assert {key[0] for key in want if key[0] in COMPLETE_FEEDS} == set(COMPLETE_FEEDS) and checked
    coverage = warehouse.execute(
        "select venue, list(distinct coverage) from levwatch.marts.liquidations_daily group by venue"
    ).fetchall()
    assert {venue: sorted(values) for venue, values in coverage if venue in COMPLETE_FEEDS} == {
        "okx": ["complete"],
        "bybit": ["complete"],
    }


def test_sampled_feed_is_at_most_the_truth_and_flagged(warehouse):
    got = daily_by_side(warehouse, MART_DAILY_BY_SIDE)
    want = daily_by_side(warehouse, TRUTH_DAILY_BY_SIDE)
    binance = {key: usd for key, usd in got.items() if key[0] == SAMPLED_FEED}
    assert binance
    for key, usd in binance.items():
        assert usd <= want.get(key, 0.0) * (1 + 1e-9), key
    # the throttle drops events: the observed total falls short of the truth on the crash day
    crash = sum(usd for key, usd in binance.items() if key[2] == CRASH_DAY)
    crash_truth = sum(usd for key, usd in want.items() if key[0] == SAMPLED_FEED and key[2] == CRASH_DAY)
    assert crash < crash_truth
    assert warehouse.execute(
        "select distinct coverage from levwatch.marts.liquidations_daily where venue = ?", [SAMPLED_FEED]
    ).fetchall() == [("sampled",)]


def test_events_are_one_row_each_with_their_feed(warehouse):
    got = dict(
        warehouse.execute(
            "select venue, count(*) from levwatch.marts.fct_liquidations where source != 'aggregate' group by venue"
        ).fetchall()
    )
    want = dict(
        warehouse.execute(
            "select venue, count(*) from truth where venue in ('okx', 'bybit') group by venue "
            "union all select 'binance', count(*) from binance_recorded"
        ).fetchall()
    )
    assert got == want
    feeds = set(
        warehouse.execute(
            "select distinct venue, source, coverage from levwatch.marts.fct_liquidations"
        ).fetchall()
    )
    assert feeds == {
        ("okx", "rest", "complete"),
        ("bybit", "stream", "complete"),
        ("binance", "stream", "sampled"),
        ("binance", "aggregate", "aggregate_only"),  # the CoinGlass Binance ETH hour inside the gap
    }


def test_imbalance_matches_the_truth_on_a_cell(warehouse):
    long_usd, short_usd = warehouse.execute(
        """
        select sum(notional_usd) filter (where side = 'long'), sum(notional_usd) filter (where side = 'short')
        from truth where venue = 'okx' and asset = 'BTC' and cast(ts as date) = ?
        """,
        [CRASH_DAY],
    ).fetchone()
    imbalance, dominant = warehouse.execute(
        """
        select liquidation_imbalance_pct, dominant_side from levwatch.marts.liquidations_daily
        where venue = 'okx' and asset = 'BTC' and date = ?
        """,
        [CRASH_DAY],
    ).fetchone()
    assert imbalance == pytest.approx(100 * max(long_usd, short_usd) / min(long_usd, short_usd), rel=1e-9)
    assert dominant == ("long" if long_usd > short_usd else "short")


def test_crash_day_is_the_largest_and_long_dominated(warehouse):
    rows = warehouse.execute(
        """
        select venue, date, sum(long_usd), sum(short_usd)
        from levwatch.marts.liquidations_daily group by venue, date
        """
    ).fetchall()
    for venue in (*COMPLETE_FEEDS, SAMPLED_FEED):
        days = {day: (long_usd, short_usd) for v, day, long_usd, short_usd in rows if v == venue}
        assert max(days, key=lambda day: sum(days[day])) == CRASH_DAY, venue
        long_usd, short_usd = days[CRASH_DAY]
        assert long_usd > short_usd, venue


def test_recorder_gap_shows_as_gap_minutes_and_coverage(warehouse):
    hourly = {
        (asset, ts): (coverage, gap, total)
        for asset, ts, coverage, gap, total in warehouse.execute(
            """
            select asset, ts, coverage, gap_minutes, total_usd from levwatch.marts.liquidations_hourly
            where venue = ? and cast(ts as date) = ?
            """,
            [SAMPLED_FEED, GAP_START.date()],
        ).fetchall()
    }
    assert hourly[("BTC", FULL_GAP_HOUR)] == ("none", 60.0, 0.0)
    assert hourly[("ETH", FULL_GAP_HOUR)][:2] == ("aggregate_only", 60.0)  # CoinGlass fills the hour
    assert hourly[("BTC", FULL_GAP_HOUR - timedelta(hours=1))][:2] == ("sampled", 30.0)
    assert hourly[("BTC", FULL_GAP_HOUR + timedelta(hours=1))][1] == 0.0
    gaps = dict(
        warehouse.execute(
            "select venue, gap_minutes from levwatch.marts.liquidations_daily where asset = 'BTC' and date = ?",
            [GAP_START.date()],
        ).fetchall()
    )
    assert gaps == {"binance": 90.0, "bybit": 0.0, "okx": 0.0}  # these OKX files carry no observed windows


def test_sampled_estimates_recover_the_truth_from_coinglass(warehouse):
    rows = warehouse.execute(
        """
        select daily.asset, daily.date, daily.total_usd, daily.estimated_total_usd, daily.estimate_method,
               truth.total_usd
        from levwatch.marts.liquidations_daily as daily
        inner join (
            select asset, cast(ts as date) as date, sum(notional_usd) as total_usd
            from truth where venue = ? group by all
        ) as truth using (asset, date)
        where daily.venue = ?
        """,
        [SAMPLED_FEED, SAMPLED_FEED],
    ).fetchall()
    methods = {}
    for asset, day, observed, estimate, method, true_total in rows:
        methods[asset] = method
        if method is None:
            assert estimate is None, (asset, day)
            continue
        assert estimate >= observed, (asset, day)
        # BTC: All minus the complete OKX and Bybit; ETH: CoinGlass's own Binance figure
        assert estimate == pytest.approx(true_total, rel=1e-9), (asset, day)
    assert methods["BTC"] == "all_aggregate_less_complete_venues"
    assert methods["ETH"] == "exchange_aggregate"
    assert methods["SOL"] == "exchange_aggregate" and methods["DOGE"] is None


def test_leverage_daily_carries_the_liquidations(warehouse):
    rows = warehouse.execute(
        """
        with by_asset as (
            select date, asset, sum(long_usd) as long_usd, sum(short_usd) as short_usd
            from levwatch.marts.liquidations_daily group by all
        )
        select l.asset, l.date, l.liq_long_usd, l.liq_short_usd, l.liq_imbalance_pct, l.liq_share_of_oi_pct,
               by_asset.long_usd, by_asset.short_usd
        from levwatch.marts.leverage_daily as l inner join by_asset using (date, asset)
        """
    ).fetchall()
    assert {(asset, day) for asset, day, *_ in rows} >= {(a, d) for a in OI_ASSETS for d in DAYS}
    for asset, day, long_usd, short_usd, imbalance, share, want_long, want_short in rows:
        assert long_usd == pytest.approx(want_long) and short_usd == pytest.approx(want_short), (asset, day)
        if min(long_usd, short_usd) > 0:
            assert imbalance == pytest.approx(100 * max(long_usd, short_usd) / min(long_usd, short_usd))
        else:
            assert imbalance is None
        if day == CRASH_DAY:
            assert share > 0, asset


def test_aggregate_rows_of_two_assets_in_one_hour_keep_distinct_event_keys(warehouse):
    """CoinGlass fills the same Binance gap hour for ETH and SOL: one row per asset, hour and side."""
    shared_hours = warehouse.execute(
        """
        select count(*) from (
            select ts from levwatch.marts.fct_liquidations
            where venue = 'binance' and source = 'aggregate'
            group by ts having count(distinct asset) > 1
        )
        """
    ).fetchall()[0][0]
    assert shared_hours > 0  # the case that once collided
    duplicates = warehouse.execute(
        "select venue, event_key, count(*) from levwatch.marts.fct_liquidations group by all having count(*) > 1"
    ).fetchall()
    assert duplicates == []


# The crash-day risk page is checked on this same warehouse: imported here so the module builds it once.
from tests.integration.report_page_checks import (  # noqa: E402,F401
    crash_day_page,
    test_crash_day_page_in_headless_chromium,
    test_report_headline_numbers_match_direct_sql_on_the_marts,
)
