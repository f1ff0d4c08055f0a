"""raw/coinglass/liquidations: CoinGlass's aggregated liquidation history, only when COINGLASS_API_KEY is set.

Without a key the code location carries the asset as a spec that never runs, with the reason in its metadata:
dbt keeps its lineage from it, and a run of everything is not held up by it (Dagster skips every step downstream
of an output that is not produced, dagster-io/dagster#9408, so a skipped CoinGlass step would skip the whole dbt
build). Materialized directly without a key, the asset yields nothing and logs why, so Dagster shows it skipped,
not failed. A rejected key fails the run with a message that names the variable, never its value.
"""

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    ConfigurableResource,
    Definitions,
    EnvVar,
    MaterializeResult,
    asset,
)

from pipelines.defs.venues.assets import fail_if_incomplete, ingest_partition_window, window_metadata
from pipelines.orchestration.executor import pool_tag
from pipelines.orchestration.partitions import DAILY, SINGLE_RUN
from pipelines.orchestration.resources import VenueGateway
from pipelines.venues import coinglass

ASSET_KEY = AssetKey(["raw", "coinglass", "liquidations"])
SKIPPED_MESSAGE = f"skipped: {coinglass.KEY_ENV} not set"


class CoinGlassCredentials(ConfigurableResource):
    """The CoinGlass key, from the environment through dagster.EnvVar (the UI shows the variable, not the value)."""

    api_key: str | None = None


def coinglass_resources() -> dict:
    """Resources for Definitions. An unset variable means no key (skipped), not a configuration error."""
    key = EnvVar(coinglass.KEY_ENV)
    return {"coinglass_credentials": CoinGlassCredentials(api_key=key if key.get_value() else None)}


# What the executable asset and the disabled spec share
SPEC_ATTRIBUTES = {
    "key": ASSET_KEY,
    "partitions_def": DAILY,
    "group_name": "raw_coinglass",
    "kinds": {"python", "parquet", "coinglass"},
    "description": coinglass.DATASET.description,
}


@asset(
    **SPEC_ATTRIBUTES,
    backfill_policy=SINGLE_RUN,
    metadata={"optional": f"runs only when {coinglass.KEY_ENV} is set"},
    output_required=False,
    pool="venue_coinglass",
    op_tags=pool_tag("venue_coinglass"),
)
def raw_coinglass_liquidations(
    context: AssetExecutionContext, venue_gateway: VenueGateway, coinglass_credentials: CoinGlassCredentials
):
    api_key = coinglass_credentials.api_key
    if not api_key:
        context.log.info(SKIPPED_MESSAGE)
        return
    http = coinglass.make_http(
        venue_gateway.base_url(coinglass.VENUE),
        api_key,
        timeout_s=venue_gateway.timeout_s,
        ban_dir=venue_gateway.ban_dir,
    )
    ingest = ingest_partition_window(context, venue_gateway, coinglass.VENUE, coinglass.DATASET, http)
    yield MaterializeResult(
        metadata={
            **window_metadata(ingest),
            "lake_path": str(venue_gateway.lake.dataset_dir(coinglass.VENUE, coinglass.DATASET.name)),
        }
    )
    # no check spec here: a step that skips (no key) would have to report one anyway
    fail_if_incomplete(ingest)


# What the code location shows without a key: the same key, never executed, saying why.
DISABLED_SPEC = AssetSpec(
    **SPEC_ATTRIBUTES,
    metadata={"status": f"{SKIPPED_MESSAGE}: set it and reload the code location to enable this asset"},
)

COINGLASS_ASSETS = [raw_coinglass_liquidations]


def coinglass_assets() -> list:
    """The executable asset when COINGLASS_API_KEY is set, else the disabled spec."""
    return COINGLASS_ASSETS if EnvVar(coinglass.KEY_ENV).get_value() else [DISABLED_SPEC]


# The domain's definitions (the loader takes a module's Definitions instead of its module-level objects, which
# here include both the asset and the spec under one key): the one of the two that applies, and the key.
defs = Definitions(assets=coinglass_assets(), resources=coinglass_resources())
