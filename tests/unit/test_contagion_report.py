"""The demo's crash-week spillover line, on a contagion_daily written by hand."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb

from pipelines.summaries.spillover import crash_week_spillover_line


def table(rows):
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute(
        "create table marts.contagion_daily (date date, returns_spillover_index double, "
        "liquidations_spillover_index double, cascade_minutes bigint)"
    )
    con.executemany("insert into marts.contagion_daily values (?, ?, ?, ?)", rows)
    return con


def test_crash_week_against_the_month_before_worked_by_hand():
    crash = date(2025, 10, 10)
    rows = [(crash - timedelta(days=k), 80.0 + (k % 2), 70.0, 0) for k in range(1, 31)]  # 15 x 81, 15 x 80
    rows.append((crash - timedelta(days=31), 10.0, 10.0, 0))  # outside the month: ignored
    rows += [
        (crash + timedelta(days=k), 90.0 + k, None if k else 75.0, 5 if k == 2 else 0) for k in range(1, 7)
    ]
    rows.append((crash, 90.0, 75.0, 40))  # the most cascade minutes: the crash day
    rows.append((crash + timedelta(days=7), 0.0, 0.0, 0))  # after the week: ignored
    line = crash_week_spillover_line(table(rows))
    print(line)
    # week: 90, 91..96 -> mean 93; before: 80.5. Liquidations: week only the crash day 75; before 70.
    assert line == (
        "Spillover index, crash week from 2025-10-10 vs the 30 days before (30 days with a figure): "
        "returns 93.0 vs 80.5 (+12.5), liquidations 75.0 vs 70.0 (+5.0)"
    )


def test_without_a_cascade_day_or_a_figure_the_line_says_so():
    assert "no cascade day" in crash_week_spillover_line(table([(date(2025, 10, 1), 50.0, 50.0, 0)]))
    line = crash_week_spillover_line(table([(date(2025, 10, 10), None, None, 3)]))
    assert "returns n/a" in line and "liquidations n/a" in line
