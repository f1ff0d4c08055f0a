"""One freshness rule for every dataset that declares how old its newest row may be (`DatasetSpec.max_age`): the
newest row's age against that maximum. Pure over the lake; the Dagster checks come from one builder
(`pipelines/defs/venues/freshness.py`), each named `fresh`. The ETF flows (US trading days) and the recorder's
streams (when the venue was last heard from) have rules of their own meaning and keep their own checks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pyarrow.compute as pc

from pipelines.lake import TIME_COLUMN, Lake
from pipelines.lib.check_outcome import CheckOutcome
from pipelines.lib.timeutil import ms_to_day

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class MaxAge:
    """How old a dataset's newest row may be: an ERROR beyond `error_after`, a WARN beyond `warn_after` (if set)."""

    error_after: timedelta
    warn_after: timedelta | None = None
    in_days: bool = False  # judged in whole UTC days: a daily source's row carries its day's 00:00
    lookback_days: int = 14  # how many days back the newest row is looked for

    def describe(self) -> str:
        unit = "days" if self.in_days else "h"

        def amount(age: timedelta) -> str:
            return f"{age.days}" if self.in_days else f"{age / HOUR:g}"

        if self.warn_after is None:
            return f"at most {amount(self.error_after)} {unit} old (ERROR beyond)"
        return (
            f"at most {amount(self.warn_after)} {unit} old (WARN beyond), {amount(self.error_after)} {unit} "
            "(ERROR beyond)"
        )


def newest_row_ms(lake: Lake, venue: str, dataset: str, now_ms: int, lookback_days: int) -> int | None:
    """The time of the newest row in the newest non-empty daily partition up to now's day, or None."""
    today = ms_to_day(now_ms)
    for back in range(lookback_days + 1):
        day = today - timedelta(days=back)
        if not lake.partition_path(venue, dataset, day).exists():
            continue
        table = lake.read_partition(venue, dataset, day)
        if table.num_rows:
            return int(pc.max(pc.cast(table[TIME_COLUMN[dataset]], "int64")).as_py())
    return None


def judge_freshness(newest_ms: int | None, now_ms: int, max_age: MaxAge, what: str) -> CheckOutcome:
    """The outcome of the freshness rule; a passing check keeps the severity a failure would first have."""
    passing = "WARN" if max_age.warn_after is not None else "ERROR"
    if newest_ms is None:
        return CheckOutcome(False, f"{what}: no rows in the last {max_age.lookback_days} days", {}, "ERROR")
    if max_age.in_days:
        days = (ms_to_day(now_ms) - ms_to_day(newest_ms)).days
        age = timedelta(days=days)
        text = f"newest day with rows is {ms_to_day(newest_ms)} ({days} days old)"
        meta = {"newest_row_ms": newest_ms, "age_days": days}
    else:
        age = timedelta(milliseconds=now_ms - newest_ms)
        text = f"newest row {age / HOUR:.1f} h old"
        meta = {"newest_row_ms": newest_ms, "age_hours": round(age / HOUR, 2)}
    if age > max_age.error_after:
        return CheckOutcome(False, f"{what}: {text}, beyond {max_age.describe()}", meta, "ERROR")
    if max_age.warn_after is not None and age > max_age.warn_after:
        return CheckOutcome(False, f"{what}: {text}, beyond {max_age.describe()}", meta, "WARN")
    return CheckOutcome(True, f"{what}: {text}", meta, passing)
