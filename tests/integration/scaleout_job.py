"""A ranged run like the scheduled one, on the executor LEVWATCH_EXECUTOR names: Binance's funding rates, then the dbt models behind fct_funding_rates and input_freshness (a subset, so dbt takes seconds), their
checks, and the publish.

Loaded by `reconstructable(scaleout_window_job)` in the run's process and again in each Celery worker that runs
one of its steps; resources and the executor come from the LEVWATCH_* environment.
"""

from dagster import AssetKey, AssetSelection, Definitions, define_asset_job

from pipelines.defs.venues.assets import RAW_ASSETS
from pipelines.defs.warehouse.dbt import dbt_resource, levwatch_dbt_models
from pipelines.orchestration.executor import LEVWATCH_EXECUTOR, executor_from_settings
from pipelines.orchestration.resources import gateway_from_settings

# one raw dataset the marts read: a raw step no selected model reads would race the dbt step's input_freshness
RAW = {("binance", "funding_rates")}
MARTS = (AssetKey(["marts", "fct_funding_rates"]), AssetKey(["marts", "input_freshness"]))


def scaleout_window_job():
    """The executor LEVWATCH_EXECUTOR names (celery in the scale-out test)."""
    return _window_job(executor_from_settings())


def embedded_window_job():
    """Today's default executor. A job of its own: Dagster caches a reconstructed job per function in a process."""
    return _window_job(LEVWATCH_EXECUTOR)


def _window_job(executor):
    raw = [a for a in RAW_ASSETS if tuple(a.key.path[1:]) in RAW]
    defs = Definitions(
        assets=[*raw, levwatch_dbt_models],
        resources={"venue_gateway": gateway_from_settings(), "dbt": dbt_resource()},
        executor=executor,
        jobs=[
            define_asset_job(
                "scaleout_window",
                selection=AssetSelection.assets(*raw)
                | (AssetSelection.assets(*MARTS).upstream() & AssetSelection.assets(levwatch_dbt_models)),
            )
        ],
    )
    return defs.resolve_job_def("scaleout_window")
