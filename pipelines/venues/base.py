"""What every venue module provides: datasets, each a fetch function over one UTC day, plus retention facts."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import pyarrow as pa

from pipelines.lake import SCHEMAS
from pipelines.lib.freshness import MaxAge
from pipelines.lib.json_codec import dumps_compact
from pipelines.lib.numbers import PayloadError, to_float, to_int
from pipelines.venues.http import VenueHttp

Fetch = Callable[[VenueHttp, str, int, int], pa.Table]
"""fetch(http, asset, start_ms, end_ms) -> rows with start <= time < end, in the dataset's lake schema."""


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    fetch: Fetch
    retention_days: int | None = None  # the venue serves only this much history (None: since listing)
    snapshot: bool = False  # a current-state endpoint: only today's partition can be recorded
    chunk_days: int = 1  # days fetched per request window in a backfill: fewer calls, same daily files
    assets: tuple[str, ...] | None = None  # the assets this venue lists, where it is not every configured one
    # whether an asset should have rows on a day (ETF flows: US trading days after launch); None: every day
    expects_rows_on: Callable[[str, date], bool] | None = None
    accumulate: bool = False  # a rolling-window source: a re-run merges with what the day already holds
    may_be_empty: bool = False  # an asset with no rows on a day is plausible (a quiet day), not an error
    max_age: MaxAge | None = (
        None  # how old the newest row may be: a `fresh` check (pipelines/defs/venues/freshness.py)
    )
    description: str = ""


def raw_json(record: Any) -> str:
    return dumps_compact(record)


def mark_kline_row(venue: str, asset: str, symbol: str, k: list, where: str, time_name: str) -> dict:
    """One klines_1m row of mark prices from a kline array [open time, open, high, low, close, …]; an empty price
    slot is refused, naming the row."""
    prices = [
        to_float(v, f"{where}.{n}") for v, n in zip(k[1:5], ("open", "high", "low", "close"), strict=True)
    ]
    if None in prices:
        raise PayloadError(f"{where}: a price slot is empty: {k!r:.80}")
    return {
        "venue": venue,
        "asset": asset,
        "symbol": symbol,
        "price_type": "mark",
        "open_time": to_int(k[0], f"{where}.{time_name}"),
        "open": prices[0],
        "high": prices[1],
        "low": prices[2],
        "close": prices[3],
        "raw": raw_json(k),
    }


def to_table(dataset: str, rows: Iterable[dict]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=SCHEMAS[dataset])
