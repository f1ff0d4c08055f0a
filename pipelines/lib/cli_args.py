"""argparse value types for the `levwatch` CLI: each turns a bad argument into one clear line, never a traceback.

argparse reports an ArgumentTypeError as `levwatch …: error: argument --start: <message>` and exits with 2.
"""

from __future__ import annotations

import argparse
import math
from datetime import date
from pathlib import Path


def iso_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a day as YYYY-MM-DD, got {text!r}") from None


def _number(text: str, kind: type, what: str) -> int | float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if kind is float and not math.isfinite(value):  # nan, inf
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    value = _number(text, int, "a whole number > 0")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a whole number > 0, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    value = _number(text, int, "a whole number >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    value = _number(text, float, "a number > 0")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def hour_of_day(text: str) -> int:
    value = _number(text, int, "an hour 0-23")
    if not 0 <= value <= 23:
        raise argparse.ArgumentTypeError(f"expected an hour 0-23, got {text!r}")
    return value


def tcp_port(text: str) -> int:
    value = _number(text, int, "a TCP port 0-65535")
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a TCP port 0-65535 (0: any free port), got {text!r}")
    return value


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
