"""raw/<venue>/<dataset> assets, generated from the venue registry. Each run writes its day range day by day.

A venue that fails part-way does not hold up the warehouse: the asset reports the days it wrote as its
materialization, a failing `window_complete` check and a failed step; the code location's executor starts dbt
once the materialization is out (pipelines/definitions.py), so the rest of the warehouse is still published.
"""

from dataclasses import dataclass
from datetime import date

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    Failure,
    MaterializeResult,
    asset,
)

from pipelines.ingest import DayResult, PartitionFailed, ingest_days
from pipelines.lib.check_outcome import CheckOutcome
from pipelines.lib.raw_checks import CHECKS, run_checks
from pipelines.lib.timeutil import days_between, parse_day
from pipelines.orchestration.check_results import check_result
from pipelines.orchestration.executor import pool_tag
from pipelines.orchestration.partitions import DAILY, SINGLE_RUN
from pipelines.orchestration.resources import VenueGateway
from pipelines.venues.base import DatasetSpec
from pipelines.venues.http import VenueHttp
from pipelines.venues.registry import VENUE_MODULES


def raw_asset_key(venue: str, dataset: str) -> AssetKey:
    return AssetKey(["raw", venue, dataset])


WINDOW_CHECK = "window_complete"
WINDOW_CHECK_DESCRIPTION = (
    "Every day of the run's window was written. When a venue fails, the days before it stay written, the run "
    "fails, and dbt still builds from what the lake holds; marts.input_freshness lists the stale days."
)


@dataclass
class WindowIngest:
    """A run's window: the days written, and the failure that stopped it (None when every day was written)."""

    written: list[DayResult]
    failure: PartitionFailed | None
    days: list[date]

    def not_written(self) -> list[date]:
        done = {r.day for r in self.written}
        return [d for d in self.days if d not in done]


def ingest_partition_window(
    context: AssetExecutionContext,
    venue_gateway: VenueGateway,
    venue: str,
    spec: DatasetSpec,
    http: VenueHttp,
) -> WindowIngest:
    """The run's whole partition window, day by day through ingest_days, with this client (closed after).
    A failing day does not raise here: the caller reports what was written, then fails the step."""
    window = context.partition_key_range
    days = days_between(parse_day(window.start), parse_day(window.end))
    try:
        written = ingest_days(
            venue,
            spec,
            days,
            http=http,
            lake=venue_gateway.lake,
            now_ms=venue_gateway.now_ms(),
            run_id=context.run.run_id,
            progress=context.log.info,
        )
        return WindowIngest(written, None, days)
    except PartitionFailed as exc:
        context.log.error(f"{exc}; {len(exc.written)} of {len(days)} days written before it")
        return WindowIngest(exc.written, exc, days)
    finally:
        http.close()


def window_metadata(ingest: WindowIngest) -> dict:
    missing = ingest.not_written()
    return {
        "days": len(ingest.written),
        "rows": sum(r.rows for r in ingest.written),
        "days_not_written": len(missing),
        "not_written": f"{missing[0]}..{missing[-1]}" if missing else "",
        "failure": str(ingest.failure) if ingest.failure else "",
    }


def window_check(key: AssetKey, ingest: WindowIngest) -> AssetCheckResult:
    missing = ingest.not_written()
    if ingest.failure is None:
        outcome = CheckOutcome(True, f"{len(ingest.days)} days written", name=WINDOW_CHECK)
    else:
        outcome = CheckOutcome(
            False,
            f"{len(missing)} of {len(ingest.days)} days not written ({missing[0]}..{missing[-1]}): {ingest.failure}",
            {"first_day_not_written": str(missing[0]), "last_day_not_written": str(missing[-1])},
            name=WINDOW_CHECK,
        )
    return check_result(outcome, asset_key=key)


def fail_if_incomplete(ingest: WindowIngest) -> None:
    """Raised after the materialization and checks are out: the step (and the run) fails, naming the day,
    while dbt, which needs only the materialization, still builds and publishes from the lake."""
    if ingest.failure is not None:
        missing = ingest.not_written()
        kept = f"the {len(ingest.written)} days before it were written; " if ingest.written else ""
        raise Failure(
            description=f"{ingest.failure}; {len(missing)} days not written ({missing[0]}..{missing[-1]}): "
            f"{kept}the lake keeps what earlier runs wrote for them, and dbt still builds from it",
            metadata={"days_not_written": len(missing)},
        )


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
        check_specs=[
            *(AssetCheckSpec(name, asset=key, description=desc) for name, desc in CHECKS.items()),
            AssetCheckSpec(WINDOW_CHECK, asset=key, description=WINDOW_CHECK_DESCRIPTION),
        ],
        pool="venue_" + venue,  # runs that call the same venue take turns, so rate limits hold
        op_tags=pool_tag("venue_" + venue),
    )
    def _raw(context: AssetExecutionContext, venue_gateway: VenueGateway):
        lake = venue_gateway.lake
        ingest = ingest_partition_window(context, venue_gateway, venue, spec, venue_gateway.http(venue))
        results = ingest.written
        for status in sorted({r.status for r in results} - {"ok"}):
            days = [r.day for r in results if r.status == status]
            context.log.info(f"{venue}/{spec.name}: {len(days)} days {status} ({days[0]}..{days[-1]})")
        yield MaterializeResult(
            metadata={
                **window_metadata(ingest),
                "days_beyond_retention": sum(r.status == "beyond_retention" for r in results),
                "days_not_recordable": sum(r.status == "not_recordable" for r in results),
                "days_kept_from_earlier_runs": sum(r.status == "kept" for r in results),
                "lake_path": str(lake.dataset_dir(venue, spec.name)),
            }
        )
        for outcome in run_checks(lake, venue, spec, results):
            yield check_result(outcome, asset_key=key)
        yield window_check(key, ingest)
        fail_if_incomplete(ingest)

    return _raw


RAW_ASSETS = [
    _build(venue, spec) for venue, module in VENUE_MODULES.items() for spec in module.DATASETS.values()
]
