"""The ETF freshness check: each launched underlying has flows (from the Farside pages, raw/farside/etf_flows, or
the CSV drop folder, raw/farside/etf_flows_csv) up to the previous US trading day."""

from datetime import date

import duckdb
from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetKey, asset_check

from pipelines.etf_import import CSV_DATASET
from pipelines.lake import Lake
from pipelines.lib import etf_tickers
from pipelines.lib.check_outcome import CheckOutcome
from pipelines.lib.timeutil import ms_to_day
from pipelines.lib.us_market_calendar import trading_days_missed
from pipelines.orchestration.check_results import check_result
from pipelines.orchestration.resources import VenueGateway
from pipelines.venues.farside import DATASET, VENUE

FARSIDE_KEY = AssetKey(["raw", VENUE, DATASET])
# Farside fills a day in during the US evening and overnight: one trading day behind is normal, two is stale
MAX_TRADING_DAYS_MISSED = 1


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
