"""ETF flows in Dagster: raw/farside/etf_flows_csv (the CSV drop folder -> the lake) and the ETF freshness check.

The Farside pages themselves are ingested by the generated raw/farside/etf_flows asset (pipelines/defs/ingest.py).
Each writes its own dataset (lake/farside/etf_flows, lake/farside/etf_flows_csv), so neither overwrites the other
whatever order they run in; stg_farside__etf_flows unions them, a CSV row replacing the page's for the same fund
and day.
"""

from datetime import date
from pathlib import Path

import duckdb
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    Failure,
    MaterializeResult,
    asset,
    asset_check,
)

from pipelines.defs.check_results import check_result
from pipelines.defs.partitions import DAILY, SINGLE_RUN
from pipelines.defs.resources import VenueGateway
from pipelines.etf_import import CSV_DATASET, DROP_DIR, import_drop_folder
from pipelines.lake import Lake
from pipelines.lib import etf_tickers
from pipelines.lib.check_outcome import CheckOutcome
from pipelines.lib.timeutil import days_between, ms_to_day, parse_day
from pipelines.lib.us_market_calendar import trading_days_missed
from pipelines.venues.farside import DATASET, VENUE

FARSIDE_KEY = AssetKey(["raw", VENUE, DATASET])
CSV_IMPORT_KEY = AssetKey(["raw", VENUE, CSV_DATASET])
# Farside fills a day in during the US evening and overnight: one trading day behind is normal, two is stale
MAX_TRADING_DAYS_MISSED = 1


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


def latest_flow_days(lake: Lake) -> dict[str, date]:
    """The last day with a reading (a non-null flow) per underlying, over every partition of the page's rows and
    the CSV-loaded ones (the import is how a user catches up while Farside refuses the scraper)."""
    globs = [
        lake.glob(VENUE, dataset)
        for dataset in (DATASET, CSV_DATASET)
        if any(lake.dataset_dir(VENUE, dataset).glob("date=*/data.parquet"))
    ]
    if not globs:
        return {}
    query = (
        "select asset, epoch_ms(max(ts)) from read_parquet(?, hive_partitioning=false) "
        "where flow_usd is not null group by asset"
    )
    with duckdb.connect() as con:
        rows = con.execute(query, [globs]).fetchall()
    return {asset: ms_to_day(int(ms)) for asset, ms in rows}


def stale_underlyings(latest: dict[str, date], today: date) -> list[str]:
    """Underlyings behind by more than MAX_TRADING_DAYS_MISSED trading days; weekends and holidays don't count."""
    problems = []
    for underlying in etf_tickers.UNDERLYINGS:
        if etf_tickers.launch(underlying) >= today:
            continue  # no fund had traded yet
        last = latest.get(underlying)
        if last is None:
            problems.append(f"{underlying}: no flows in the lake")
            continue
        missed = trading_days_missed(last, today)
        if missed > MAX_TRADING_DAYS_MISSED:
            problems.append(f"{underlying}: last flow {last}, {missed} trading days missed")
    return problems


@asset_check(
    asset=FARSIDE_KEY,
    name="etf_freshness",
    description=(
        "Each launched underlying has flows up to the previous US trading day, one day of publishing lag allowed; "
        "weekends and NYSE holidays are not stale days."
    ),
)
def etf_freshness(context: AssetCheckExecutionContext, venue_gateway: VenueGateway) -> AssetCheckResult:
    today = ms_to_day(venue_gateway.now_ms())
    latest = latest_flow_days(venue_gateway.lake)
    problems = stale_underlyings(latest, today)
    return check_result(
        CheckOutcome(
            not problems,
            "; ".join(problems) if problems else f"fresh as of {today}",
            {f"latest_{u}": str(d) for u, d in sorted(latest.items())},
        )
    )


ETF_ASSETS = [etf_csv_import]
ETF_CHECKS = [etf_freshness]
