"""US equity market days (NYSE), for ETF data: weekends and exchange holidays have no ETF flows.

The holidays are hard-coded from NYSE's published schedule for 2024-2026, including the one-off closure of
9 Jan 2025 (national day of mourning for President Carter). Early-close days (1 pm ET) are trading days. Outside
the covered years only weekends are known: add the next year's holidays here when NYSE publishes them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

NYSE_HOLIDAYS: frozenset[date] = frozenset(
    {
        # 2024
        date(2024, 1, 1),  # New Year's Day
        date(2024, 1, 15),  # Martin Luther King Jr. Day
        date(2024, 2, 19),  # Washington's Birthday
        date(2024, 3, 29),  # Good Friday
        date(2024, 5, 27),  # Memorial Day
        date(2024, 6, 19),  # Juneteenth
        date(2024, 7, 4),  # Independence Day
        date(2024, 9, 2),  # Labor Day
        date(2024, 11, 28),  # Thanksgiving Day
        date(2024, 12, 25),  # Christmas Day
        # 2025
        date(2025, 1, 1),  # New Year's Day
        date(2025, 1, 9),  # National Day of Mourning (President Carter), a special closure
        date(2025, 1, 20),  # Martin Luther King Jr. Day
        date(2025, 2, 17),  # Washington's Birthday
        date(2025, 4, 18),  # Good Friday
        date(2025, 5, 26),  # Memorial Day
        date(2025, 6, 19),  # Juneteenth
        date(2025, 7, 4),  # Independence Day
        date(2025, 9, 1),  # Labor Day
        date(2025, 11, 27),  # Thanksgiving Day
        date(2025, 12, 25),  # Christmas Day
        # 2026
        date(2026, 1, 1),  # New Year's Day
        date(2026, 1, 19),  # Martin Luther King Jr. Day
        date(2026, 2, 16),  # Washington's Birthday
        date(2026, 4, 3),  # Good Friday
        date(2026, 5, 25),  # Memorial Day
        date(2026, 6, 19),  # Juneteenth
        date(2026, 7, 3),  # Independence Day (observed; 4 July is a Saturday)
        date(2026, 9, 7),  # Labor Day
        date(2026, 11, 26),  # Thanksgiving Day
        date(2026, 12, 25),  # Christmas Day
    }
)
COVERED_YEARS = frozenset(d.year for d in NYSE_HOLIDAYS)


def covers(day: date) -> bool:
    """Whether the holidays of this day's year are known (else only weekends are)."""
    return day.year in COVERED_YEARS


def is_trading_day(day: date) -> bool:
    return day.weekday() < 5 and day not in NYSE_HOLIDAYS


def trading_days(first: date, last: date) -> list[date]:
    """Trading days from first to last, both inclusive."""
    return [
        first + timedelta(n) for n in range((last - first).days + 1) if is_trading_day(first + timedelta(n))
    ]


def previous_trading_day(day: date) -> date:
    """The last trading day strictly before `day`."""
    day -= timedelta(1)
    while not is_trading_day(day):
        day -= timedelta(1)
    return day


def trading_days_missed(latest: date, today: date) -> int:
    """Trading days strictly after `latest` and strictly before `today`: how far behind a daily ETF series is.

    Weekends and holidays do not count, so data through Friday is not behind on Saturday, Sunday or Monday.
    """
    if today <= latest + timedelta(1):
        return 0
    return len(trading_days(latest + timedelta(1), today - timedelta(1)))


def _us_dst(day: date) -> bool:
    """US daylight saving time: from the second Sunday of March to the first Sunday of November."""
    march = date(day.year, 3, 8)
    start = march + timedelta((6 - march.weekday()) % 7)
    november = date(day.year, 11, 1)
    end = november + timedelta((6 - november.weekday()) % 7)
    return start <= day < end


def market_close_utc(day: date) -> datetime:
    """16:00 New York time on `day`, in UTC (20:00 in summer, 21:00 in winter); early closes are ignored."""
    hour = 20 if _us_dst(day) else 21
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
