"""The NYSE calendar: holidays, trading-day arithmetic, the US close in UTC, and ETF staleness."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from pathlib import Path

from pipelines.defs.etf.checks import stale_underlyings
from pipelines.lib.us_market_calendar import (
    NYSE_HOLIDAYS,
    covers,
    is_trading_day,
    market_close_utc,
    previous_trading_day,
    trading_days,
    trading_days_missed,
)

HISTORY = Path(__file__).resolve().parents[1] / "fixtures" / "etf" / "btc_flows_EXCERPT.csv"


def test_published_holidays_and_special_closures():
    assert len(NYSE_HOLIDAYS) == 31
    for day in (date(2024, 3, 29), date(2025, 1, 9), date(2025, 11, 27), date(2026, 4, 3), date(2026, 7, 3)):
        assert not is_trading_day(day)
    assert is_trading_day(date(2025, 11, 28))  # the day after Thanksgiving closes early but trades
    assert is_trading_day(date(2025, 10, 13))  # Columbus Day: bond market closed, NYSE open
    assert not is_trading_day(date(2025, 10, 11))  # a Saturday
    assert covers(date(2026, 12, 31)) and not covers(date(2027, 1, 4))


def test_the_real_history_has_a_row_on_every_trading_day_and_on_no_other():
    with HISTORY.open() as fh:
        days = [date.fromisoformat(r["date"]) for r in csv.DictReader(fh)]
    november = [d for d in days if d.year == 2025 and d.month == 11]
    assert november == trading_days(date(2025, 11, 1), date(2025, 11, 30))
    assert len(november) == 19
    assert not is_trading_day(days[0])  # the history's bogus first row, dated 1 Jan 2024


def test_trading_days_missed_ignores_weekends_and_holidays():
    friday = date(2025, 10, 10)
    assert trading_days_missed(friday, date(2025, 10, 11)) == 0
    assert trading_days_missed(friday, date(2025, 10, 13)) == 0  # Saturday and Sunday are not missed
    assert trading_days_missed(friday, date(2025, 10, 14)) == 1
    assert trading_days_missed(date(2025, 11, 26), date(2025, 11, 28)) == 0  # Thanksgiving
    assert previous_trading_day(date(2025, 11, 28)) == date(2025, 11, 26)
    assert previous_trading_day(date(2025, 1, 10)) == date(2025, 1, 8)  # 9 Jan 2025: closed


def test_the_us_close_moves_with_daylight_saving():
    assert market_close_utc(date(2025, 10, 10)) == datetime(2025, 10, 10, 20, tzinfo=UTC)
    assert market_close_utc(date(2025, 11, 3)) == datetime(2025, 11, 3, 21, tzinfo=UTC)  # DST ended 2 Nov
    assert market_close_utc(date(2025, 3, 7)) == datetime(2025, 3, 7, 21, tzinfo=UTC)
    assert market_close_utc(date(2025, 3, 10)) == datetime(2025, 3, 10, 20, tzinfo=UTC)  # DST began 9 Mar


def test_etf_staleness_counts_trading_days_only():
    latest = {"BTC": date(2025, 10, 10), "ETH": date(2025, 10, 10)}
    assert stale_underlyings(latest, date(2025, 10, 13)) == []  # Monday: Friday's flows are the latest
    assert stale_underlyings(latest, date(2025, 10, 14)) == []  # one day of publishing lag
    assert stale_underlyings(latest, date(2025, 10, 15)) == [
        "BTC: last flow 2025-10-10, 2 trading days missed",
        "ETH: last flow 2025-10-10, 2 trading days missed",
    ]
    # SOL's first fund traded on 28 Oct 2025: from then on its flows are expected
    assert stale_underlyings(
        {**latest, "BTC": date(2025, 11, 4), "ETH": date(2025, 11, 4)}, date(2025, 11, 5)
    ) == ["SOL: no flows in the lake"]
