"""ETF flows in Dagster: raw/farside/etf_flows_csv, the CSV drop folder -> the lake (the freshness check on the
flows is in checks.py).

The Farside pages themselves are ingested by the generated raw/farside/etf_flows asset (pipelines/defs/venues/assets.py).
Each writes its own dataset (lake/farside/etf_flows, lake/farside/etf_flows_csv), so neither overwrites the other
whatever order they run in; stg_farside__etf_flows unions them, a CSV row replacing the page's for the same fund
and day.
"""

from pathlib import Path

from dagster import (
    AssetExecutionContext,
    AssetKey,
    Failure,
    MaterializeResult,
    asset,
)

from pipelines.etf_import import CSV_DATASET, DROP_DIR, import_drop_folder
from pipelines.lib.timeutil import days_between, parse_day
from pipelines.orchestration.partitions import DAILY, SINGLE_RUN
from pipelines.orchestration.resources import VenueGateway
from pipelines.venues.farside import VENUE

CSV_IMPORT_KEY = AssetKey(["raw", VENUE, CSV_DATASET])


@asset(
    key=CSV_IMPORT_KEY,
    partitions_def=DAILY,
    backfill_policy=SINGLE_RUN,
    group_name=f"raw_{VENUE}",
    kinds={"python", "parquet", "csv"},
    description=(
        f"Imports Farside-format CSV files from $LEVWATCH_HOME/{DROP_DIR}/<BTC|ETH|SOL>/ into "
        f"lake/{VENUE}/{CSV_DATASET} (source='csv'), for the run's days; staging prefers these rows to the page's. "
        "A bad file is rejected whole, naming its line; the run then fails after importing the good files."
    ),
)
def etf_csv_import(context: AssetExecutionContext, venue_gateway: VenueGateway):
    window = context.partition_key_range
    days = days_between(parse_day(window.start), parse_day(window.end))
    home = Path(venue_gateway.home)
    report = import_drop_folder(venue_gateway.lake, home, days)
    for path in report.files:
        context.log.info(f"imported {path}")
    if report.rejected:
        raise Failure(
            description=f"{len(report.rejected)} ETF CSV file(s) rejected: " + " | ".join(report.rejected),
            metadata={"rejected": len(report.rejected), "imported_files": len(report.files)},
        )
    return MaterializeResult(
        metadata={
            "files": len(report.files),
            "rows": report.rows_written,
            "days_written": len(report.days_written),
            "rows_outside_window": report.rows_outside_window,
            "drop_folder": str(home / DROP_DIR),
        }
    )
