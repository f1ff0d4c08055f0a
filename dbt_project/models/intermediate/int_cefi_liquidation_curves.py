"""The estimated CeFi liquidation curve per venue, asset and day, from the book of levels rebuilt hour by hour.

Path-dependent (levels persist until traded through), so it runs in Python over the whole history on every
build; the method lives in pipelines/lib/liquidation_book.py (tested by hand there)."""

import pyarrow as pa

from pipelines.lib.liquidation_book import Bar, Hour, daily_curves


def model(dbt, session):
    dbt.config(materialized="table")
    inputs = dbt.ref("int_cefi_liquidation_inputs_hourly")
    rows = inputs.query(
        "inputs",
        "select venue, asset, date, high, low, close, oi_coin, long_share from inputs order by venue, asset, ts",
    ).fetchall()
    bars = (
        Bar(venue, asset, day, Hour(high=high, low=low, close=close, oi_coin=oi, long_share=share))
        for venue, asset, day, high, low, close, oi, share in rows
        if high is not None and low is not None and close is not None
    )
    shocks = [row[0] for row in dbt.ref("collateral_shocks").query("s", "select shock_pct from s").fetchall()]
    curves = daily_curves(bars, sorted(shocks))
    columns = list(zip(*curves, strict=True)) if curves else [[]] * 6
    return pa.table(
        {
            "venue": pa.array(columns[0], pa.string()),
            "asset": pa.array(columns[1], pa.string()),
            "date": pa.array(columns[2], pa.date32()),
            "shock_pct": pa.array(columns[3], pa.float64()),
            "reference_price": pa.array(columns[4], pa.float64()),
            "liquidatable_usd": pa.array(columns[5], pa.float64()),
        }
    )
