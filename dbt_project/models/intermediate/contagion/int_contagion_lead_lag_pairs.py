"""Lead-lag of venue pairs per day, asset and measure (pipelines/lib/contagion.py): the lag within +-max minutes
that maximises the cross-correlation of two venues' minute series, and that correlation. Rebuilt whole on each
run."""


def model(dbt, session):
    dbt.config(materialized="table")
    from pipelines.lib.contagion import lead_lag_table

    series = dbt.ref("int_contagion_minute_series").to_arrow_table()
    return lead_lag_table(
        series,
        max_lag=int(dbt.config.get("max_lag_minutes")),
        min_minutes=int(dbt.config.get("min_minutes")),
    )
