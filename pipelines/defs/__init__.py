"""Dagster definitions, one package per domain, loaded by pipelines/definitions.py with dagster's
load_from_defs_folder: every module here is imported, and its Dagster objects at module level (assets, specs,
checks, jobs, schedules), or its one `defs = Definitions(...)` if it has one, join the code location.

    venues/        raw/<venue>/<dataset> from the REST APIs, generated from the venue registry, with
                   the generic raw checks
    liquidations/  raw/<binance|bybit>/liquidations: the recorder's landing area compacted into the lake
    options/       checks on raw/deribit/options_snapshots
    defi/          checks on the DefiLlama datasets
    etf/           raw/farside/etf_flows_csv (the CSV drop folder) and the ETF freshness check
    coinglass/     raw/coinglass/liquidations, when COINGLASS_API_KEY is set (its Definitions: asset and key)
    warehouse/     the dbt models (its Definitions: the models and the dbt resource)
    reports/       reports/daily_risk
    operations/    the pipeline's own logs (ingest outcomes, API health) as external assets
    schedules.py   the job over every asset and its schedules

What the domains share and the loader must not load (the venue gateway resource, the partitions, the
executors, the check adapter) is in pipelines/orchestration/.
"""
