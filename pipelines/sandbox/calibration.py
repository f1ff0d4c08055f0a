"""The default scenario's figures beside the public ones it aims at (shared/CALIBRATION.md), from the simulator's
own hourly output. Printed by `make bench`; the measured values are quoted in the scenario file's aims_at."""

from __future__ import annotations

import duckdb

from pipelines.sandbox.market import Market

CRASH_START = "2025-10-10 20:50:00+00"
SHOCK_DAYS = ("2025-10-10", "2025-10-11", "2025-11-13", "2025-11-21")

FIGURES = {
    "crash, 24 h from the 20:50 onset: long / short US$bn (target 16.7 / 2.5, ~19 total)": f"""
        select sum(liq_long_usd) / 1e9, sum(liq_short_usd) / 1e9 from hourly
        where ts >= timestamptz '{CRASH_START}' and ts < timestamptz '{CRASH_START}' + interval 24 hour""",
    "aggregate OI before the crash and its low within 12 h, US$bn (target 49.5 -> 38.8, -22%)": f"""
        with market as (select ts, sum(oi_coin * close) as oi_usd from hourly group by ts)
        select
            (select max(oi_usd) from market
             where ts >= timestamptz '{CRASH_START}' - interval 9 hour and ts < timestamptz '{CRASH_START}') / 1e9,
            (select min(oi_usd) from market
             where ts >= timestamptz '{CRASH_START}' and ts < timestamptz '{CRASH_START}' + interval 12 hour) / 1e9""",
    "13 Nov 14:00-17:00 squeeze: long / short US$m (target 203.6 / 14.9)": """
        select sum(liq_long_usd) / 1e6, sum(liq_short_usd) / 1e6 from hourly
        where ts >= timestamptz '2025-11-13 14:00:00+00' and ts < timestamptz '2025-11-13 17:00:00+00'""",
    "largest November BTC day: long / short US$m (target ~406.9 / 163.1 on a reported day)": """
        select sum(liq_long_usd) / 1e6 as long_usd, sum(liq_short_usd) / 1e6 from hourly
        where asset = 'BTC' and ts >= timestamptz '2025-11-01 00:00:00+00'
        group by cast(ts as date) order by long_usd desc limit 1""",
    "days without a shock, market-wide liquidations: median / 90th percentile US$bn": f"""
        with days as (
            select cast(ts as date) as day, sum(liq_long_usd + liq_short_usd) as usd from hourly group by day
        )
        select median(usd) / 1e9, quantile_cont(usd, 0.9) / 1e9 from days
        where cast(day as varchar) not in {SHOCK_DAYS}""",
}


def calibration_figures(market: Market) -> dict[str, tuple[float, ...]]:
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.register("hourly", market.hourly)
    figures = {}
    for name, sql in FIGURES.items():
        row = con.execute(sql).fetchone()  # None: the scenario's window misses the figure's period
        figures[name] = tuple(row) if row else (None,) * len(con.description)
    return figures


def calibration_report(market: Market) -> str:
    lines = [f"calibration of '{market.scenario.name}' (shared/CALIBRATION.md):"]
    for name, values in calibration_figures(market).items():
        lines.append(f"  {name}: {' / '.join('n/a' if v is None else f'{v:,.2f}' for v in values)}")
    return "\n".join(lines)
