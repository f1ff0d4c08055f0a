"""reports/daily_risk: the daily risk page for each partition, written from the published warehouse once dbt has
published it. A ranged backfill writes one page per day; the daily schedule writes yesterday's."""

from datetime import timedelta
from pathlib import Path

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from pipelines.orchestration.partitions import DAILY, SINGLE_RUN
from pipelines.orchestration.resources import VenueGateway
from pipelines.report_page import headline_markdown, reports_dir, write_report
from pipelines.warehouse import connect_read_only, published_path

# the marts the page reads; marts other modules add are read too once built (report_queries checks the schema)
REPORT_INPUTS = [
    AssetKey(["marts", mart])
    for mart in (
        "liquidations_daily",
        "liquidations_hourly",
        "leverage_daily",
        "fct_funding_rates",
        "options_positioning_daily",
        "etf_flows_daily",
        "crypto_debt_daily",
        "stablecoins_daily",
        "liquidation_cascades",
        "collateral_at_risk",
        "systemic_risk_daily",
        "venue_operational_risk",
        "insurance_funds_daily",
    )
]


@asset(
    key=AssetKey(["reports", "daily_risk"]),
    deps=REPORT_INPUTS,
    partitions_def=DAILY,
    backfill_policy=SINGLE_RUN,
    kinds={"python", "html"},
    group_name="reports",
    description="One self-contained HTML risk page per day ($LEVWATCH_HOME/reports/D.html) and an index.",
)
def daily_risk(context: AssetExecutionContext, venue_gateway: VenueGateway) -> MaterializeResult:
    home = Path(venue_gateway.home)
    window = context.partition_time_window
    first, last = window.start.date(), (window.end - timedelta(days=1)).date()
    out_dir = reports_dir(home)
    day, path, head = first, None, None
    with connect_read_only(home) as con:
        while day <= last:
            path, head = write_report(con, day, out_dir, source=str(published_path(home)))
            day += timedelta(days=1)
    context.log.info(f"wrote {(last - first).days + 1} daily risk pages to {out_dir}")
    return MaterializeResult(
        metadata={
            "path": MetadataValue.path(str(path)),
            "url": MetadataValue.url(path.resolve().as_uri()),
            "index": MetadataValue.path(str(out_dir / "index.html")),
            "pages": (last - first).days + 1,
            "summary": MetadataValue.md(headline_markdown(last, head)),
        }
    )
