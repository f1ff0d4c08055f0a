"""The demo summary's contagion line: the crash week's spillover index against the month before it, read from
marts.contagion_daily on an analyst connection (pipelines.warehouse.connect_read_only)."""

from __future__ import annotations

# The crash day is the day with the most cascade minutes (ties: the earliest); its week is that day and the six
# after it, the month before is the 30 days before it. Each figure is the mean of the days that have one.
CRASH_WEEK_SPILLOVER = """
with crash as (
    select date as crash_day
    from marts.contagion_daily
    where cascade_minutes > 0
    order by cascade_minutes desc, date
    limit 1
)
select
    crash.crash_day,
    avg(returns_spillover_index) filter (where date between crash_day and crash_day + 6),
    avg(returns_spillover_index) filter (where date between crash_day - 30 and crash_day - 1),
    avg(liquidations_spillover_index) filter (where date between crash_day and crash_day + 6),
    avg(liquidations_spillover_index) filter (where date between crash_day - 30 and crash_day - 1),
    count(returns_spillover_index) filter (where date between crash_day - 30 and crash_day - 1)
from marts.contagion_daily, crash
group by crash.crash_day
"""


def _figure(week, before) -> str:
    if week is None or before is None:
        return "n/a (too few hours in the windows)"
    return f"{week:.1f} vs {before:.1f} ({week - before:+.1f})"


def crash_week_spillover_line(con) -> str:
    """One line: the Diebold-Yilmaz spillover index (returns and liquidations) in the crash week against the
    month before it."""
    row = con.execute(CRASH_WEEK_SPILLOVER).fetchone()
    if row is None:
        return "Spillover: no cascade day in the warehouse, so no crash week to compare."
    day, ret_week, ret_before, liq_week, liq_before, days_before = row
    return (
        f"Spillover index, crash week from {day} vs the 30 days before ({days_before} days with a figure): "
        f"returns {_figure(ret_week, ret_before)}, liquidations {_figure(liq_week, liq_before)}"
    )
