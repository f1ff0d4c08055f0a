"""Venue status announcements -> what kind of event they are. Pure helpers, shared by the venue parsers.

OKX `maintType` and Bybit `maintainType` use the same codes: 1 a scheduled (planned) maintenance, 2 an unscheduled
(temporary) maintenance, 3 a system disruption (incident). Only a planned window is `maintenance`; an unscheduled
one is an `incident`, since users could not prepare for it. Deribit's `locked` is a reading, not an announcement:
"true" (every currency locked) and "partial" are `lock` events, "false" is the all-clear.
"""

from __future__ import annotations

from typing import Any

from pipelines.lib.numbers import PayloadError

MAINTENANCE, INCIDENT, LOCK = "maintenance", "incident", "lock"

# OKX maintType / Bybit maintainType -> event type
MAINTENANCE_TYPES = {"1": MAINTENANCE, "2": INCIDENT, "3": INCIDENT}
DERIBIT_LOCKED = {"true": True, "partial": True, "false": False}


def event_type_of(maint_type: Any, where: str) -> str:
    """1 -> maintenance, 2 or 3 -> incident; the venues send the code as a string or an integer."""
    code = str(maint_type).strip() if maint_type is not None and not isinstance(maint_type, bool) else ""
    try:
        return MAINTENANCE_TYPES[code]
    except KeyError:
        raise PayloadError(f"{where}: unknown maintenance type {maint_type!r} (expected 1, 2 or 3)") from None


def deribit_locked(value: Any, where: str) -> str:
    """Deribit's `locked` as "true" / "partial" / "false": documented as a string, its own example is a boolean."""
    text = str(value).lower() if isinstance(value, bool) else value
    if text not in DERIBIT_LOCKED:
        raise PayloadError(f"{where}: locked must be true, partial or false, got {value!r}")
    return text


def codes_text(value: Any) -> str | None:
    """A list of service / product codes (or currencies) as comma-separated text; a scalar as itself."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)
