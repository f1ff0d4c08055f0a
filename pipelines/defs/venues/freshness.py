"""The one freshness builder: a `fresh` asset check for every venue dataset that declares a maximum age
(`DatasetSpec.max_age`), judged by `pipelines/lib/freshness.py` on the venue gateway's clock (the sandbox's in
sandbox mode). Loaded with the rest of pipelines/defs/."""

from __future__ import annotations

from dagster import AssetCheckResult, AssetChecksDefinition, asset_check

from pipelines.defs.venues.assets import raw_asset_key
from pipelines.lib.freshness import judge_freshness, newest_row_ms
from pipelines.orchestration.check_results import check_result
from pipelines.orchestration.resources import VenueGateway
from pipelines.venues.base import DatasetSpec
from pipelines.venues.registry import VENUE_MODULES

CHECK_NAME = "fresh"


def freshness_check(venue: str, spec: DatasetSpec) -> AssetChecksDefinition:
    max_age = spec.max_age
    if max_age is None:
        raise ValueError(f"{venue}/{spec.name} declares no max_age")

    @asset_check(
        asset=raw_asset_key(venue, spec.name),
        name=CHECK_NAME,
        description=f"The newest row is {max_age.describe()}.",
    )
    def _fresh(venue_gateway: VenueGateway) -> AssetCheckResult:
        now = venue_gateway.now_ms()
        newest = newest_row_ms(venue_gateway.lake, venue, spec.name, now, max_age.lookback_days)
        return check_result(judge_freshness(newest, now, max_age, f"{venue}/{spec.name}"))

    return _fresh


FRESHNESS_CHECKS = [
    freshness_check(venue, spec)
    for venue, module in VENUE_MODULES.items()
    for spec in module.DATASETS.values()
    if spec.max_age is not None
]
