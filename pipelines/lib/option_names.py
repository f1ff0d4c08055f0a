"""Deribit option instrument names -> underlying, expiry, strike, call/put (and back, for the sandbox).

`BTC-25SEP26-155000-P` is CCY-DMMMYY-strike-C|P: inverse options on BTC expiring 25 Sep 2026 at 08:00 UTC.
Linear (USDC-settled) options name their settlement too and write a decimal point as `d`:
`DOGE_USDC-24JAN25-0d5056-C` is a DOGE call, strike 0.5056 USDC. Day numbers have no leading zero (`9SEP26`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

EXPIRY_HOUR_UTC = 8  # Deribit options expire at 08:00 UTC
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
OPTION_TYPES = {"C": "call", "P": "put"}

_NAME = re.compile(
    r"(?P<underlying>[A-Z0-9]+)(?:_(?P<settlement>[A-Z]+))?"
    r"-(?P<day>[0-9]{1,2})(?P<month>[A-Z]{3})(?P<year>[0-9]{2})"
    r"-(?P<strike>[0-9]+(?:d[0-9]+)?)"
    r"-(?P<kind>[CP])"
)


class OptionNameError(ValueError):
    """An instrument name that is not a Deribit option name."""


@dataclass(frozen=True)
class OptionName:
    underlying: str  # BTC, ETH, DOGE, ...
    settlement: str | None  # USDC for linear options; None for inverse ones (settled in the underlying)
    expiry: datetime  # 08:00 UTC on the expiry day
    strike: float
    option_type: str  # call | put

    @property
    def expiry_ms(self) -> int:
        return int(self.expiry.timestamp() * 1000)


def parse_option_name(name: str) -> OptionName:
    match = _NAME.fullmatch(name) if isinstance(name, str) else None
    if match is None:
        raise OptionNameError(
            f"unparseable Deribit option name {name!r}: expected CCY-DMMMYY-STRIKE-C|P, e.g. BTC-25SEP26-155000-P"
        )
    month = match["month"]
    if month not in MONTHS:
        raise OptionNameError(f"unparseable Deribit option name {name!r}: unknown month {month!r}")
    try:
        expiry = datetime(
            2000 + int(match["year"]), MONTHS.index(month) + 1, int(match["day"]), EXPIRY_HOUR_UTC, tzinfo=UTC
        )
    except ValueError as exc:
        raise OptionNameError(f"unparseable Deribit option name {name!r}: {exc}") from None
    try:
        strike = Decimal(match["strike"].replace("d", "."))
    except InvalidOperation:  # the pattern admits only digits and one d, so this is defensive
        raise OptionNameError(f"unparseable Deribit option name {name!r}: bad strike") from None
    if strike <= 0:
        raise OptionNameError(f"unparseable Deribit option name {name!r}: strike must be positive")
    return OptionName(
        underlying=match["underlying"],
        settlement=match["settlement"],
        expiry=expiry,
        strike=float(strike),
        option_type=OPTION_TYPES[match["kind"]],
    )


def format_option_name(
    underlying: str, expiry_day: date, strike: float, option_type: str, settlement: str | None = None
) -> str:
    """The inverse of parse_option_name (the sandbox names its instruments with it)."""
    if option_type not in ("call", "put"):
        raise ValueError(f"option_type must be 'call' or 'put', got {option_type!r}")
    text = format(Decimal(str(strike)).normalize(), "f")
    strike_text = text.replace(".", "d")
    prefix = underlying if settlement is None else f"{underlying}_{settlement}"
    day = f"{expiry_day.day}{MONTHS[expiry_day.month - 1]}{expiry_day.year % 100:02d}"
    return f"{prefix}-{day}-{strike_text}-{option_type[0].upper()}"
