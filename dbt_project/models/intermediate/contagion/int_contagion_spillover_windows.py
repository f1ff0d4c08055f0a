"""Rolling Diebold-Yilmaz spillover per day and measure (pipelines/lib/contagion.py, pipelines/lib/spillover.py):
a VAR on the hourly series of every venue:asset node over the window ending at the day's end, its generalized
FEVD, and each node's share given to and taken from the others. Rebuilt whole on each run (each day needs the
window before it, and a VAR per day is cheap)."""


def model(dbt, session):
    dbt.config(materialized="table")
    from pipelines.lib.contagion import SpilloverSettings, spillover_table

    settings = SpilloverSettings(
        window_hours=int(dbt.config.get("window_hours")),
        lags=int(dbt.config.get("var_lags")),
        horizon=int(dbt.config.get("fevd_horizon_hours")),
        min_hours=int(dbt.config.get("min_window_hours")),
    )
    series = dbt.ref("int_contagion_hourly_series").to_arrow_table()
    return spillover_table(series, settings)
