"""HTTP Retry-After → seconds to wait. RFC 9110 allows delay-seconds ("120") or an HTTP-date
("Wed, 21 Oct 2025 07:28:00 GMT"); anything else is no advice at all."""

from __future__ import annotations

import math
from datetime import UTC
from email.utils import parsedate_to_datetime


def retry_after_seconds(value: str | None, now_s: float) -> float | None:
    """Seconds from `now_s` (epoch seconds) until the venue wants the next request; None if absent or unreadable.
    A date in the past means "now" (0)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:  # HTTP dates are GMT; the obsolete asctime form just does not say so
            moment = moment.replace(tzinfo=UTC)
        seconds = moment.timestamp() - now_s
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)
