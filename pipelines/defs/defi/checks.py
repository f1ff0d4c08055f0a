"""Asset checks on the DefiLlama lake datasets: peg-deviation sanity, borrowed <= supplied (their freshness is
declared on the datasets: DatasetSpec.max_age, pipelines/defs/venues/freshness.py).

The rules are pure functions over lake tables (unit-tested); the Dagster checks read the recent partitions through
the venue gateway, whose clock is the sandbox's in sandbox mode. Loaded with the rest of pipelines/defs/.
"""

from __future__ import annotations

from datetime import timedelta

import pyarrow as pa
import pyarrow.compute as pc
from dagster import AssetCheckResult, AssetKey, asset_check

from pipelines.lake import Lake, empty_table
from pipelines.lib.check_outcome import CheckOutcome
from pipelines.lib.timeutil import ms_to_day
from pipelines.orchestration.check_results import check_result
from pipelines.orchestration.resources import VenueGateway

VENUE = "defillama"
LENDING = AssetKey(["raw", VENUE, "lending"])
STABLECOINS = AssetKey(["raw", VENUE, "stablecoins"])

LOOKBACK_DAYS = 14  # the row checks look at the recent partitions only
PEG_WARN_BPS = 300.0  # beyond this a USD stablecoin is off its peg: news, so a WARN
PRICE_BOUNDS = (0.0, 2.0)  # a USD stablecoin priced outside these is a broken payload: an ERROR
MAX_NAMED = 10


def recent_rows(lake: Lake, dataset: str, now_ms: int, days: int = LOOKBACK_DAYS) -> pa.Table:
    today = ms_to_day(now_ms)
    parts = []
    for back in range(days + 1):
        day = today - timedelta(days=back)
        if lake.partition_path(VENUE, dataset, day).exists():
            parts.append(lake.read_partition(VENUE, dataset, day))
    return pa.concat_tables(parts) if parts else empty_table(dataset)


def _day_of(ts) -> str:
    return ts.date().isoformat() if ts is not None else "?"


def borrowed_above_supplied(table: pa.Table) -> list[str]:
    """Rows whose borrowed exceeds supplied (DefiLlama's TVL nets borrows out, so a busy market can show it)."""
    mask = pc.fill_null(pc.greater(table["borrowed_usd"], table["supplied_usd"]), False)
    return [
        f"{r['protocol']}/{r['chain']} {_day_of(r['ts'])}: borrowed {r['borrowed_usd']:,.0f} > supplied "
        f"{r['supplied_usd']:,.0f}"
        for r in table.filter(mask)
        .select(["protocol", "chain", "ts", "borrowed_usd", "supplied_usd"])
        .to_pylist()
    ]


def peg_problems(table: pa.Table) -> tuple[list[str], list[str]]:
    """(impossible prices, off-peg prices) among USD-pegged rows, each naming the row."""
    usd = table.filter(pc.fill_null(pc.equal(table["peg_type"], "peggedUSD"), False))
    broken, off_peg = [], []
    for r in usd.select(["symbol", "chain", "ts", "price"]).to_pylist():
        price = r["price"]
        if price is None:
            continue
        where = f"{r['symbol']}/{r['chain']} {_day_of(r['ts'])}"
        if not PRICE_BOUNDS[0] < price < PRICE_BOUNDS[1]:
            broken.append(f"{where}: price {price}")
        elif abs(price - 1.0) * 10_000 > PEG_WARN_BPS:
            off_peg.append(f"{where}: {10_000 * (price - 1.0):+.0f} bps")
    return broken, off_peg


def _named(items: list[str]) -> str:
    return "; ".join(items[:MAX_NAMED]) + (
        f" (+{len(items) - MAX_NAMED} more)" if len(items) > MAX_NAMED else ""
    )


@asset_check(
    asset=LENDING,
    name="borrowed_not_above_supplied",
    description="Borrowed <= supplied per protocol, chain and day (a WARN naming the rows).",
)
def lending_borrowed_not_above_supplied(venue_gateway: VenueGateway) -> AssetCheckResult:
    rows = borrowed_above_supplied(recent_rows(venue_gateway.lake, "lending", venue_gateway.now_ms()))
    message = _named(rows) if rows else f"no row in the last {LOOKBACK_DAYS} days borrows more than it holds"
    return check_result(CheckOutcome(not rows, message, {"rows": len(rows)}, "WARN"))


@asset_check(
    asset=STABLECOINS,
    name="peg_sanity",
    description=f"USD stablecoin prices lie in {PRICE_BOUNDS} (an ERROR) and within {PEG_WARN_BPS:.0f} bps of 1.",
)
def stablecoins_peg_sanity(venue_gateway: VenueGateway):
    broken, off_peg = peg_problems(recent_rows(venue_gateway.lake, "stablecoins", venue_gateway.now_ms()))
    if broken:
        return check_result(CheckOutcome(False, _named(broken)))
    message = _named(off_peg) if off_peg else f"every USD stablecoin within {PEG_WARN_BPS:.0f} bps of its peg"
    return check_result(CheckOutcome(not off_peg, message, {"off_peg_rows": len(off_peg)}, "WARN"))
