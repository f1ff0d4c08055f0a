"""raw/<venue>/<dataset> assets, generated from the venue registry. Each run writes its day range day by day."""

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    MaterializeResult,
    asset,
)

from pipelines.defs.partitions import DAILY, SINGLE_RUN
from pipelines.defs.resources import VenueGateway
from pipelines.ingest import DayResult, ingest_days
from pipelines.lib.raw_checks import CHECKS, run_checks
from pipelines.lib.timeutil import days_between, parse_day
from pipelines.venues.base import DatasetSpec
from pipelines.venues.http import VenueHttp
from pipelines.venues.registry import VENUE_MODULES


def raw_asset_key(venue: str, dataset: str) -> AssetKey:
    return AssetKey(["raw", venue, dataset])


def ingest_partition_window(
    context: AssetExecutionContext,
    venue_gateway: VenueGateway,
    venue: str,
    spec: DatasetSpec,
    http: VenueHttp,
) -> list[DayResult]:
    """The run's whole partition window, day by day through ingest_days, with this client (closed after)."""
    window = context.partition_key_range
    try:
        return ingest_days(
            venue,
            spec,
            days_between(parse_day(window.start), parse_day(window.end)),
            http=http,
            lake=venue_gateway.lake,
            now_ms=venue_gateway.now_ms(),
            run_id=context.run.run_id,
            progress=context.log.info,
        )
    finally:
        http.close()


def _build(venue: str, spec: DatasetSpec) -> AssetsDefinition:
    key = raw_asset_key(venue, spec.name)

    @asset(
        key=key,
        partitions_def=DAILY,
        backfill_policy=SINGLE_RUN,
        group_name=f"raw_{venue}",
        kinds={"python", "parquet", venue},
        description=spec.description or f"{venue} {spec.name}",
        metadata={"retention_days": spec.retention_days, "snapshot": spec.snapshot},
        check_specs=[AssetCheckSpec(name, asset=key, description=desc) for name, desc in CHECKS.items()],
        pool="venue_" + venue,  # runs that call the same venue take turns, so rate limits hold
    )
    def _raw(context: AssetExecutionContext, venue_gateway: VenueGateway):
        lake = venue_gateway.lake
        results = ingest_partition_window(context, venue_gateway, venue, spec, venue_gateway.http(venue))
        for status in sorted({r.status for r in results} - {"ok"}):
            days = [r.day for r in results if r.status == status]
            context.log.info(f"{venue}/{spec.name}: {len(days)} days {status} ({days[0]}..{days[-1]})")
        yield MaterializeResult(
            metadata={
                "days": len(results),
                "rows": sum(r.rows for r in results),
                "days_beyond_retention": sum(r.status == "beyond_retention" for r in results),
                "days_not_recordable": sum(r.status == "not_recordable" for r in results),
                "days_kept_from_earlier_runs": sum(r.status == "kept" for r in results),
                "lake_path": str(lake.dataset_dir(venue, spec.name)),
            }
        )
        for outcome in run_checks(lake, venue, spec, results):
            yield AssetCheckResult(
                check_name=outcome.name,
                passed=outcome.passed,
                asset_key=key,
                severity=AssetCheckSeverity.WARN if outcome.warn_only else AssetCheckSeverity.ERROR,
                description=outcome.message,
                metadata=outcome.metadata,
            )

    return _raw


RAW_ASSETS = [
    _build(venue, spec) for venue, module in VENUE_MODULES.items() for spec in module.DATASETS.values()
]
