"""The summary's liquidation lines on a hand-made warehouse: market-wide figures from CoinGlass, each venue's share,
the press's imbalance, and the largest single liquidation."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from pipelines.lake import Lake, empty_table
from pipelines.report import (
    _imbalance,
    largest_single_lines,
    liquidation_lines,
    press_window_lines,
    unfetched_lines,
)


@pytest.fixture()
def con():
    con = duckdb.connect()
    con.execute("create schema staging; create schema marts")
    con.execute(
        """
        create table staging.stg_coinglass__liquidation_aggregates as
        select * from (values
            ('all', '1d', timestamp '2025-10-10 00:00', 9.0e9, 1.0e9, 10.0e9),
            ('hyperliquid', '1d', timestamp '2025-10-10 00:00', 7.0e9, 1.0e9, 8.0e9),
            ('binance', '1d', timestamp '2025-10-10 00:00', 5.0e9, 0.5e9, 5.5e9),
            ('all', '1h', timestamp '2025-11-13 13:00', 1.0e9, 0.0, 1.0e9),
            ('all', '1h', timestamp '2025-11-13 14:00', 150.0e6, 10.0e6, 160.0e6),
            ('hyperliquid', '1h', timestamp '2025-11-13 16:00', 53.6e6, 4.9e6, 58.5e6),
            ('all', '1h', timestamp '2025-11-13 17:00', 1.0e9, 0.0, 1.0e9)
        ) as t(covers_venue, aggregate_interval, ts, long_usd, short_usd, total_usd)
        """
    )
    con.execute(
        """
        create table marts.liquidations_daily as
        select * from (values
            ('binance', date '2025-10-10', 'BTC', 2.0e9, 0.2e9, 'sampled', 5.5e9, 2.2e9),
            ('okx', date '2025-10-10', 'BTC', 1.0e9, 0.1e9, 'complete', 1.1e9, 1.1e9),
            ('bybit', date '2025-10-10', 'BTC', 3.0e9, 0.3e9, 'complete', 3.3e9, 3.3e9)
        ) as t(venue, date, asset, long_usd, short_usd, coverage, estimated_total_usd, total_usd)
        """
    )
    con.execute(
        """
        create table marts.fct_liquidations as
        select * from (values
            ('okx', 'BTC', 'long', timestamp '2025-10-10 21:15', 12.5e6, 'rest'),
            ('bybit', 'ETH', 'long', timestamp '2025-10-10 21:16', 9.0e6, 'stream'),
            ('binance', 'BTC', 'long', timestamp '2025-10-10 21:00', 99.0e6, 'aggregate')
        ) as t(venue, asset, side, ts, notional_usd, source)
        """
    )
    return con


def test_the_press_imbalance_is_the_larger_side_over_the_smaller():
    assert _imbalance(203.6e6, 14.9e6) == "1,366%"  # 100 x 203.6 / 14.9 = 1,366.4
    assert _imbalance(14.9e6, 203.6e6) == "1,366%" and _imbalance(5.0, 0.0) == "n/a"


def test_the_crash_line_shows_market_wide_share_and_gap(con):
    text = "\n".join(liquidation_lines(con, "2025-10-10"))
    # market-wide = All (10bn) + Hyperliquid (8bn) = 18bn, 16bn of it longs (89%)
    assert "US$18.0bn liquidated market-wide, 89% of it longs" in text
    # observed 2.2 + 1.1 + 3.3 = 6.6bn; the gap 11.4bn, Hyperliquid 8.0bn of it
    assert "observed US$6.6bn" in text and "The gap, US$11.4bn: Hyperliquid US$8.0bn" in text
    bybit = next(line for line in text.splitlines() if line.strip().startswith("bybit"))
    assert bybit.split()[-2:] == ["18%", "complete"]  # 3.3 / 18
    assert "none (no public feed)" in text


def test_the_press_window_sums_its_three_hours_only(con):
    (line,) = press_window_lines(con)
    # 14:00-16:59: longs 150 + 53.6 = 203.6M, shorts 10 + 4.9 = 14.9M
    assert "longs US$203.6M, shorts US$14.9M, imbalance 1,366%" in line


def test_the_largest_single_liquidation_is_an_event_not_an_aggregate(con):
    (line,) = largest_single_lines(con, date(2025, 10, 1), date(2025, 10, 31))
    assert "US$12.5M, a BTC long on okx, 2025-10-10 21:15 UTC" in line


def test_without_coinglass_the_crash_line_says_so():
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute(
        "create table marts.liquidations_daily as select 'okx' as venue, date '2025-10-10' as date, 'BTC' as asset,"
        " 1.0::double as long_usd, 0.0::double as short_usd, 'complete' as coverage, 1.0::double as estimated_total_usd,"
        " 1.0::double as total_usd"
    )
    assert "no CoinGlass data" in liquidation_lines(con, "2025-10-10")[-1]


def test_a_last_day_backfill_names_what_it_could_not_fetch(tmp_path):
    lake = Lake(tmp_path / "lake")
    first, last = date(2025, 9, 1), date(2025, 9, 3)
    for day in (first, date(2025, 9, 2)):
        lake.write_partition(
            "binance", "open_interest", day, empty_table("open_interest"), status="beyond_retention"
        )
    lake.write_partition(
        "hyperliquid", "asset_contexts", first, empty_table("asset_contexts"), status="not_recordable"
    )
    lines = unfetched_lines(tmp_path, first, last)
    assert "  binance/open_interest: 2 days beyond retention" in lines
    assert "  hyperliquid/asset_contexts: 1 days not recordable" in lines
    assert not any(line.startswith("  bybit/open_interest") for line in lines)  # nothing lost there
    assert any(line.startswith("  binance/liquidations: 0 events") for line in lines)
