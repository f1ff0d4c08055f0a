"""The summary's insurance lines on a hand-made warehouse."""

from __future__ import annotations

import duckdb
import pytest

from pipelines.summaries.insurance import insurance_lines


@pytest.fixture()
def con():
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute(
        """
        create table marts.insurance_funds_daily as
        select * from (values
            (date '2025-10-09', 'okx', 'USDT', 300.0e6, null, 0.0),
            (date '2025-10-10', 'okx', 'USDT', 301.0e6, 1.0e6, 0.0),
            (date '2025-10-11', 'okx', 'USDT', 271.0e6, -30.0e6, 9.966777408637874),
            (date '2025-10-10', 'bybit', 'USDT', 190.0e6, null, 5.0)
        ) as t(date, venue, currency, balance_usd, change_usd, drawdown_from_30d_high_pct)
        """
    )
    con.execute(
        """
        create table marts.adl_events as
        select * from (values
            (timestamp '2025-10-10 21:15', 'okx', 'SOL', 'published', timestamp '2025-10-10 21:40', 30.0),
            (timestamp '2025-10-10 22:25', 'okx', 'SOL', 'published', null, 31.5),
            (timestamp '2025-10-11 01:00', 'okx', 'XRP', 'published', null, 40.0)
        ) as t(ts, venue, asset, source, ended_at, decline_from_8h_high_pct)
        """
    )
    return con


def test_funds_on_the_day_and_the_next_and_the_days_adl(con):
    lines = insurance_lines(con, "2025-10-10")
    assert lines == [
        "Insurance funds on 2025-10-10 and 2025-10-11 (closing reading of each day; drawdown from the 30-day high):",
        "  bybit USDT: 10 Oct US$190.0M, drawdown 5.0%; 11 Oct no reading",
        "  okx USDT: 10 Oct US$301.0M (+1.0M), drawdown 0.0%; 11 Oct US$271.0M (-30.0M), drawdown 10.0%",
        "  ADL events published on 2025-10-10 (Binance and Bybit publish no ADL feed):",
        "    okx SOL: 2 episodes 21:15-22:25 UTC, fund down 31.5% from its 8-hour high at the worst start "
        "(published)",
    ]


def test_a_day_without_readings_or_adl(con):
    lines = insurance_lines(con, "2025-09-01")
    assert lines[1].startswith("  no readings")
    assert lines[-1] == "  ADL events published on 2025-09-01: none (Binance and Bybit publish no ADL feed)"
