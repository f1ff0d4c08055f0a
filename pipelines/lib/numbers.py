"""Venue numbers arrive as strings; parse them exactly and never turn a missing value into 0."""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Any


class PayloadError(ValueError):
    """A venue payload that does not have the shape or values we expect."""


def to_decimal(value: Any, field: str) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise PayloadError(f"field {field!r}: expected a number, got {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise PayloadError(f"field {field!r}: expected a number, got {value!r}") from None
    if not number.is_finite():
        raise PayloadError(f"field {field!r}: expected a finite number, got {value!r}")
    return number


def to_float(value: Any, field: str) -> float | None:
    # the common shapes without a Decimal (a third of a kline page's parse): float() of a decimal string is
    # correctly rounded, as float(Decimal(string)) is, so the value is the same; anything else, and every refusal
    # (empty, non-finite, not a number), takes to_decimal's path
    if type(value) is float:
        if math.isfinite(value):
            return value
    elif type(value) is str and value:
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if math.isfinite(number):
            return number
    number = to_decimal(value, field)
    return None if number is None else float(number)


def to_int(value: Any, field: str) -> int:
    if value is None or value == "" or isinstance(value, bool):
        raise PayloadError(f"field {field!r}: expected an integer, got {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise PayloadError(f"field {field!r}: expected an integer, got {value!r}") from None
    if number != number.to_integral_value():
        raise PayloadError(f"field {field!r}: expected an integer, got {value!r}")
    return int(number)


def require(record: Any, key: str, where: str) -> Any:
    if not isinstance(record, dict):
        raise PayloadError(f"{where}: expected an object, got {type(record).__name__}")
    if key not in record:
        raise PayloadError(f"{where}: missing field {key!r}")
    return record[key]
