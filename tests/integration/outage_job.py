"""A run like the scheduled one, on the code location's executor: Binance and Hyperliquid raw assets, then the
dbt models behind fct_funding_rates and input_freshness (a subset, so the dbt build takes seconds).

Loaded by `reconstructable(outage_window_job)`; resources come from the LEVWATCH_* environment.
"""

from dagster import AssetKey, AssetSelection, Definitions, define_asset_job

from pipelines.defs.venues.assets import RAW_ASSETS
from pipelines.defs.warehouse.dbt import dbt_resource, levwatch_dbt_models
from pipelines.orchestration.executor import LEVWATCH_EXECUTOR
from pipelines.orchestration.resources import gateway_from_settings

VENUES = ("binance", "hyperliquid")
# as in test_pipeline's clean runs: Hyperliquid's minute klines (real rate limits) are covered by test_klines_1m
LEFT_OUT = {("hyperliquid", "klines_1m")}
MARTS = (AssetKey(["marts", "fct_funding_rates"]), AssetKey(["marts", "input_freshness"]))


def outage_window_job():
    raw = [a for a in RAW_ASSETS if a.key.path[1] in VENUES and tuple(a.key.path[1:]) not in LEFT_OUT]
    defs = Definitions(
        assets=[*raw, levwatch_dbt_models],
        resources={"venue_gateway": gateway_from_settings(), "dbt": dbt_resource()},
        executor=LEVWATCH_EXECUTOR,
        jobs=[
            define_asset_job(
                "outage_window",
                selection=AssetSelection.assets(*raw)
                | (AssetSelection.assets(*MARTS).upstream() & AssetSelection.assets(levwatch_dbt_models)),
            )
        ],
    )
    return defs.resolve_job_def("outage_window")
