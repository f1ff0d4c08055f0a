"""Checks on raw/deribit/options_snapshots beyond the generic raw checks: instrument names
and non-negative open interest (freshness is declared on the dataset: DatasetSpec.max_age). OPTIONS_CHECKS
lists them (tests run them next to the raw asset).

The snapshots come from the existing `hourly_intraday` schedule, which materializes today's partition every hour;
each run adds one snapshot to the day (pipelines/ingest.py accumulates them).
"""

from __future__ import annotations

import re
from datetime import date

import pyarrow.compute as pc
import pyarrow.parquet as pq
from dagster import AssetCheckResult, asset_check

from pipelines.defs.venues.assets import raw_asset_key
from pipelines.lake import ANCHOR_DAY, Lake
from pipelines.lib.check_outcome import CheckOutcome
from pipelines.lib.option_names import OptionNameError, parse_option_name
from pipelines.orchestration.check_results import check_result
from pipelines.orchestration.resources import VenueGateway

VENUE, DATASET = "deribit", "options_snapshots"
SNAPSHOT_ASSET = raw_asset_key(VENUE, DATASET)
_DAY_DIR = re.compile(r"date=(\d{4}-\d{2}-\d{2})")


def _recorded_days(lake: Lake) -> list[date]:
    """Days with a written snapshot file, newest first (the dbt anchor day excluded)."""
    root = lake.dataset_dir(VENUE, DATASET)
    days = []
    for path in root.glob("date=*/data.parquet") if root.exists() else []:
        match = _DAY_DIR.fullmatch(path.parent.name)
        if match and (day := date.fromisoformat(match[1])) != ANCHOR_DAY:
            days.append(day)
    return sorted(days, reverse=True)


def latest_snapshot_table(lake: Lake):
    """The newest non-empty day's rows, or None when nothing was ever recorded."""
    for day in _recorded_days(lake):
        table = pq.read_table(lake.partition_path(VENUE, DATASET, day))
        if table.num_rows:
            return table
    return None


def instrument_names(lake: Lake) -> CheckOutcome:
    """Every row of the newest snapshot day parses, and agrees with the expiry/strike/type stored with it."""
    table = latest_snapshot_table(lake)
    if table is None:
        return CheckOutcome(True, "no snapshot rows to check", {"rows": 0}, "ERROR")
    bad = []
    rows = table.select(["symbol", "expiry", "strike", "option_type"]).to_pylist()
    for i, row in enumerate(rows):
        try:
            option = parse_option_name(row["symbol"])
        except OptionNameError as exc:
            bad.append(f"row {i}: {exc}")
            continue
        if (option.expiry, option.strike, option.option_type) != (
            row["expiry"],
            row["strike"],
            row["option_type"],
        ):
            bad.append(f"row {i} ({row['symbol']}): stored expiry/strike/type disagree with the name")
    if bad:
        return CheckOutcome(
            False, f"{len(bad)} rows: " + " | ".join(bad[:10]), {"failing": len(bad)}, "ERROR"
        )
    return CheckOutcome(True, f"{len(rows)} instrument names parse", {"rows": len(rows)}, "ERROR")


def open_interest_non_negative(lake: Lake) -> CheckOutcome:
    table = latest_snapshot_table(lake)
    if table is None:
        return CheckOutcome(True, "no snapshot rows to check", {"rows": 0}, "ERROR")
    negative = table.filter(pc.less(table["open_interest_coin"], 0))
    if negative.num_rows:
        names = ", ".join(negative["symbol"].to_pylist()[:10])
        return CheckOutcome(False, f"{negative.num_rows} rows with open interest < 0: {names}", {}, "ERROR")
    return CheckOutcome(
        True, f"{table.num_rows} rows with open interest >= 0", {"rows": table.num_rows}, "ERROR"
    )


@asset_check(
    asset=SNAPSHOT_ASSET,
    name="instrument_names_parse",
    description="Every instrument name of the newest snapshot parses into underlying, expiry, strike, type.",
)
def instrument_names_check(venue_gateway: VenueGateway) -> AssetCheckResult:
    return check_result(instrument_names(venue_gateway.lake))


@asset_check(
    asset=SNAPSHOT_ASSET,
    name="open_interest_non_negative",
    description="Open interest >= 0 on every row of the newest snapshot.",
)
def open_interest_check(venue_gateway: VenueGateway) -> AssetCheckResult:
    return check_result(open_interest_non_negative(venue_gateway.lake))


OPTIONS_CHECKS = [instrument_names_check, open_interest_check]
