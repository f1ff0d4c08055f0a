"""The Dagster code location: every domain under pipelines/defs/ (raw venue assets, dbt models, checks,
schedules), loaded the current Dagster way, plus what applies to all of them: the venue gateway, the executor
and one freshness policy."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from dagster import Definitions, FreshnessPolicy, load_from_defs_folder

from pipelines.orchestration.executor import executor_from_settings
from pipelines.orchestration.resources import gateway_from_settings

# One policy for every asset: the hourly schedule keeps data within 2 h; a day without an update is an error.
FRESHNESS = FreshnessPolicy.time_window(fail_window=timedelta(hours=26), warn_window=timedelta(hours=3))

defs = Definitions.merge(
    # pipelines/defs/ (pyproject.toml's [tool.dg.project]): each module's Dagster objects, or its Definitions
    load_from_defs_folder(path_within_project=Path(__file__).parent),
    Definitions(
        # LEVWATCH_EXECUTOR; a venue failing does not stop dbt publishing the rest
        executor=executor_from_settings(),
        # a domain's own resources (dbt, the CoinGlass key) come with its Definitions
        resources={"venue_gateway": gateway_from_settings()},
    ),
).map_asset_specs(func=lambda spec: spec.replace_attributes(freshness_policy=FRESHNESS))
