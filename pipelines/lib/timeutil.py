"""UTC day windows and epoch-millisecond conversions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000


class PartitionKeyError(ValueError):
    """A partition key that is not a YYYY-MM-DD date."""


def parse_day(key: str) -> date:
    try:
        if len(key) != 10:
            raise ValueError
        return date.fromisoformat(key)
    except (TypeError, ValueError):
        raise PartitionKeyError(f"bad partition key {key!r}: expected a UTC day as YYYY-MM-DD") from None


def day_start_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def day_window_ms(day: date) -> tuple[int, int]:
    """[start, end) of a UTC day in epoch ms."""
    start = day_start_ms(day)
    return start, start + DAY_MS


def ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def ms_to_day(ms: int) -> date:
    return ms_to_datetime(ms).date()


def iso_to_ms(value: str) -> int:
    """'2025-10-10T21:00:00Z' (or a bare date) -> epoch ms, UTC."""
    text = value.strip().replace("Z", "+00:00")
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def days_between(first: date, last: date) -> list[date]:
    """Inclusive list of days."""
    if last < first:
        raise PartitionKeyError(f"partition range ends ({last}) before it starts ({first})")
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def floor_hour_ms(ms: int) -> int:
    """Venues stamp funding with ms jitter (1788336000001); bucket to the hour."""
    return ms - ms % HOUR_MS


def round_hour_ms(ms: int) -> int:
    return floor_hour_ms(ms + HOUR_MS // 2)
