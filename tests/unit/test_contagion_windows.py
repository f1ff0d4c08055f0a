"""The daily windows the contagion dbt models run: hour panels, which hours a day's VAR sees, the minute grid of the
lead-lag pairs, and the long tables handed to dbt."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa
import pytest

from pipelines.lib.contagion import (
    HOUR_MS,
    MINUTE_MS,
    SpilloverSettings,
    daily_lead_lag,
    daily_spillover,
    hour_panel,
    lead_lag_table,
    spillover_table,
)

DAY0 = int(datetime(2025, 10, 1, tzinfo=UTC).timestamp() * 1000)


def test_hour_panel_fills_volumes_only_inside_each_nodes_span():
    ts = np.array([DAY0, DAY0 + 3 * HOUR_MS, DAY0 + HOUR_MS])
    panel = hour_panel(["a", "a", "b"], ts, np.array([1.0, 2.0, 5.0]), fill_inside=0.0)
    assert panel.nodes == ["a", "b"]
    np.testing.assert_array_equal(panel.values[:, 0], [1.0, 0.0, 0.0, 2.0])
    np.testing.assert_array_equal(panel.values[:, 1], [np.nan, 5.0, np.nan, np.nan])
    gaps = hour_panel(["a", "a"], ts[:2], np.array([1.0, 2.0]))
    assert np.isnan(gaps.values[1:3, 0]).all()
    with pytest.raises(ValueError, match="whole hours"):
        hour_panel(["a"], np.array([DAY0 + 1]), np.array([1.0]))


def test_a_day_sees_the_window_ending_at_its_end_and_says_why_it_has_no_figure():
    rng = np.random.default_rng(5)
    hours = 24 * 5
    x = rng.standard_normal(hours)
    y = 0.5 * x + rng.standard_normal(hours)
    ts = DAY0 + np.arange(hours) * HOUR_MS
    panel = hour_panel(["x"] * hours + ["y"] * hours, np.r_[ts, ts], np.r_[x, y])
    settings = SpilloverSettings(window_hours=48, lags=1, horizon=5, min_hours=40)
    first, second, fifth = daily_spillover(
        panel, [date(2025, 10, 1), date(2025, 10, 2), date(2025, 10, 5)], settings
    )
    assert first.total is None and first.hours == 24 and "too few hours" in first.note
    assert second.hours == 48 and second.nodes == ("x", "y") and 0 < second.total < 100
    assert fifth.hours == 48
    # a constant series leaves the VAR; one series left is no figure
    flat = hour_panel(["x"] * hours + ["y"] * hours, np.r_[ts, ts], np.r_[x, np.ones(hours)])
    (only,) = daily_spillover(flat, [date(2025, 10, 3)], settings)
    assert only.total is None and "fewer than two" in only.note


def test_lead_lag_pairs_sit_on_each_days_minute_grid():
    rng = np.random.default_rng(6)
    n = 1440
    leader = rng.standard_normal(n + 4)
    minutes = DAY0 + np.arange(n) * MINUTE_MS
    okx, binance = leader[4:], leader[:-4]  # binance at t is okx at t - 4: okx leads by 4
    pairs = daily_lead_lag(
        ["BTC"] * (2 * n),
        ["okx"] * n + ["binance"] * n,
        np.r_[minutes, minutes],
        np.r_[okx, binance],
        10,
        240,
    )
    (pair,) = pairs
    assert (pair.date, pair.venue_a, pair.venue_b, pair.best_lag_minutes) == (
        date(2025, 10, 1),
        "binance",
        "okx",
        -4,
    )
    assert pair.correlation == pytest.approx(1.0) and pair.minutes == n - 4
    sparse = daily_lead_lag(["BTC"] * 2, ["okx", "binance"], minutes[:2], np.ones(2), 10, 240)
    assert sparse == []  # too few minutes in common


def test_long_tables_in_and_out():
    rng = np.random.default_rng(7)
    hours = 100
    ts = pa.array(
        np.r_[DAY0 + np.arange(hours) * HOUR_MS, DAY0 + np.arange(hours) * HOUR_MS], pa.timestamp("ms")
    )
    series = pa.table(
        {
            "measure": ["returns"] * (2 * hours),
            "node": ["okx:BTC"] * hours + ["bybit:BTC"] * hours,
            "ts": ts,
            "value": rng.standard_normal(2 * hours),
        }
    )
    out = spillover_table(
        series, SpilloverSettings(window_hours=48, lags=1, horizon=5, min_hours=40)
    ).to_pylist()
    days = sorted({r["date"] for r in out})
    assert days == [date(2025, 10, d) for d in (1, 2, 3, 4, 5)]
    assert [r["node"] for r in out if r["date"] == date(2025, 10, 1)] == [None]  # 24 hours: no figure
    second = [r for r in out if r["date"] == date(2025, 10, 2)]
    assert sorted(r["node"] for r in second) == ["bybit:BTC", "okx:BTC"]
    assert sum(r["from_others"] for r in second) == pytest.approx(second[0]["total_spillover_index"])
    empty = lead_lag_table(
        series.slice(0, 0)
        .rename_columns(["measure", "venue", "ts", "value"])
        .append_column("asset", pa.array([], pa.string())),
        5,
        10,
    )
    assert empty.num_rows == 0 and "best_lag_minutes" in empty.column_names
