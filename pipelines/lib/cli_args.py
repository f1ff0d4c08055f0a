"""argparse value types for the `levwatch` CLI: each turns a bad argument into one clear line, never a traceback.

argparse reports an ArgumentTypeError as `levwatch …: error: argument --start: <message>` and exits with 2.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from datetime import date
from pathlib import Path


def iso_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a day as YYYY-MM-DD, got {text!r}") from None


def _number_type(kind: type, what: str, accepts) -> Callable[[str], int | float]:
    """An argparse type: `text` parsed as `kind` (finite), kept only where `accepts(value)`; else one clear line."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if (kind is float and not math.isfinite(value)) or not accepts(value):  # nan, inf, out of range
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


positive_int = _number_type(int, "a whole number > 0", lambda v: v > 0)
non_negative_int = _number_type(int, "a whole number >= 0", lambda v: v >= 0)
positive_float = _number_type(float, "a number > 0", lambda v: v > 0)
hour_of_day = _number_type(int, "an hour 0-23", lambda v: 0 <= v <= 23)
tcp_port = _number_type(int, "a TCP port 0-65535 (0: any free port)", lambda v: 0 <= v <= 65535)


def existing_file(text: str) -> Path:
    path = Path(text).expanduser()
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise argparse.ArgumentTypeError(f"{text!r} {what}: expected a file")
    return path.resolve()


def non_empty_text(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text
