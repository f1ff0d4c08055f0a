"""The Dagster code location: raw venue assets, dbt models, checks, schedules, resources, one freshness policy."""

from __future__ import annotations

from datetime import timedelta

from dagster import Definitions, FreshnessPolicy

from pipelines.defs.coinglass import coinglass_assets, coinglass_resources
from pipelines.defs.dbt import dbt_resource, levwatch_dbt_models
from pipelines.defs.defi import DEFI_CHECKS
from pipelines.defs.etf import ETF_ASSETS, ETF_CHECKS
from pipelines.defs.executor import executor_from_settings
from pipelines.defs.ingest import RAW_ASSETS
from pipelines.defs.liquidations import LIQUIDATION_ASSETS
from pipelines.defs.options import OPTIONS_CHECKS
from pipelines.defs.reports import REPORT_ASSETS
from pipelines.defs.resources import gateway_from_settings
from pipelines.defs.run_logs import RUN_LOG_SPECS
from pipelines.defs.schedules import SCHEDULES, main_job

# One policy for every asset: the hourly schedule keeps data within 2 h; a day without an update is an error.
FRESHNESS = FreshnessPolicy.time_window(fail_window=timedelta(hours=26), warn_window=timedelta(hours=3))

defs = Definitions(
    assets=[
        *RAW_ASSETS,
        *coinglass_assets(),
        *LIQUIDATION_ASSETS,
        *ETF_ASSETS,
        levwatch_dbt_models,
        *REPORT_ASSETS,
        *RUN_LOG_SPECS,
    ],
    asset_checks=[*ETF_CHECKS, *OPTIONS_CHECKS, *DEFI_CHECKS],
    jobs=[main_job],
    schedules=SCHEDULES,
    executor=executor_from_settings(),  # LEVWATCH_EXECUTOR; a venue failing does not stop dbt publishing the rest
    resources={
        "venue_gateway": gateway_from_settings(),
        "dbt": dbt_resource(),
        **coinglass_resources(),
    },
).map_asset_specs(func=lambda spec: spec.replace_attributes(freshness_policy=FRESHNESS))
