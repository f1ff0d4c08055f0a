"""The demo summary's cascade lines, on a warehouse table written by hand."""

from __future__ import annotations

import duckdb

from pipelines.summaries.cascades import cascade_lines

COLUMNS = """
    episode_id varchar, start_ts timestamp, end_ts timestamp, duration_minutes integer, assets varchar[],
    venues varchar[], long_usd double, short_usd double, total_usd double, dominant_side varchar,
    peak_minute timestamp, peak_minute_usd double, flagged_minutes integer, primary_asset varchar,
    price_change_pct double, oi_change_pct double, lead_venue varchar, lead_seconds double,
    api_outage_overlap boolean, api_outage_venues varchar[], depeg_overlap boolean, depeg_assets varchar[],
    oracle_mark_deviation_overlap boolean, oracle_deviation_venues varchar[], coverage varchar,
    adl_overlap boolean, adl_venues varchar[]
"""


def warehouse(*rows: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute(f"create table marts.liquidation_cascades ({COLUMNS})")
    for row in rows:
        con.execute(f"insert into marts.liquidation_cascades values ({row})")
    return con


CRASH = """'a', '2025-10-10 20:55', '2025-10-10 22:00', 65, ['BTC', 'ETH'], ['binance', 'okx'], 9.93e9, 1.2e8,
    1.005e10, 'long', '2025-10-10 21:21', 2.8e8, 60, 'ETH', -24.77, -10.1, 'binance', 160.3,
    true, ['binance'], false, [], true, ['hyperliquid'], 'mixed', true, ['bybit']"""
SQUEEZE = """'b', '2025-10-11 22:19', '2025-10-11 22:22', 3, ['ETH'], ['okx'], 0, 9.9e6, 9.9e6, 'short',
    '2025-10-11 22:21', 4.7e6, 2, 'ETH', 3.57, null, null, null, false, [], false, [], false, [], 'complete', false, []"""


def test_the_largest_episode_with_lead_sides_drawdown_and_overlaps():
    lines = cascade_lines(warehouse(SQUEEZE, CRASH))
    text = "\n".join(lines)
    assert lines[0].startswith(
        "Largest liquidation cascade (2 episodes flagged): 2025-10-10 20:55 UTC, 65 min"
    )
    assert "lead venue binance, 160 s before the next venue" in text
    assert "longs US$9,930M, shorts US$120M liquidated (a long flush; coverage mixed)" in text
    assert "ETH drawdown -24.8% from the minute klines; open interest -10.1%" in text
    assert (
        "API outage yes (binance); depeg no; oracle/mark deviation yes (hyperliquid); ADL yes (bybit)" in text
    )


def test_a_squeeze_alone_says_run_up_and_no_lead():
    text = "\n".join(cascade_lines(warehouse(SQUEEZE)))
    assert "(1 episode flagged)" in text
    assert "ETH run-up +3.6%" in text and "open interest n/a" in text
    assert "a short squeeze" in text and "lead venue none" in text


def test_no_episode_or_no_mart():
    assert cascade_lines(warehouse()) == ["Liquidation cascades: no episode flagged"]
    assert cascade_lines(duckdb.connect()) == ["Liquidation cascades: not in this warehouse"]
