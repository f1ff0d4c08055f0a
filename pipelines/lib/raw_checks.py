"""Checks on freshly written raw partitions: schema, duplicate keys, value sanity, non-empty where expected, and
columns that emptied (a renamed optional field parses as a silent column of nulls).

Pure functions over lake files, so they are unit-tested directly; the ingest assets report them as asset checks.
"""

from __future__ import annotations

from datetime import date, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.lake import KEY_COLUMNS, SCHEMAS, Lake
from pipelines.lib.check_outcome import CheckOutcome, warn_if

CHECKS = {
    "schema": "Every written file has the dataset's explicit schema.",
    "duplicate_keys": "No row repeats the dataset's key within a partition.",
    "value_sanity": "Prices > 0, OI >= 0, |funding| < 3% per 8h, ratios within [0, 1].",
    "non_empty": "Each configured asset has rows on every day the venue still serves.",
    "null_rate": "No column that was filled over the days before is empty on a day with rows (a renamed field).",
}

PRICE_COLUMNS = ("open", "high", "low", "close", "mark_price", "oracle_price", "mid_price")
NON_NEGATIVE = ("oi_coin", "oi_usd", "oi_contracts", "volume_coin", "volume_usd")
SHARES = ("long_share",)
MAX_ABS_FUNDING_8H = 0.03
NULL_RATE_HISTORY_DAYS = 7  # a column's own history: the dataset's partitions over the week before the day
FILLED_MAX_NULL_RATE = 0.1  # a column at most 10% null over its history counts as filled
# columns that can be empty on a whole day by nature: Farside's '-' is "no reading yet" for every fund of a new day
MAY_EMPTY_COLUMNS = {("farside", "etf_flows"): {"flow_usd"}}
NullCounts = dict[str, tuple[int, int]]  # column -> (nulls, rows)


def value_violations(dataset: str, table: pa.Table) -> list[str]:
    problems = []
    names = set(table.column_names)
    for col in PRICE_COLUMNS:
        if col in names:
            bad = pc.sum(pc.less_equal(table[col], 0)).as_py() or 0
            if bad:
                problems.append(f"{bad} rows with {col} <= 0")
    for col in NON_NEGATIVE:
        if col in names:
            bad = pc.sum(pc.less(table[col], 0)).as_py() or 0
            if bad:
                problems.append(f"{bad} rows with {col} < 0")
    for col in SHARES:
        if col in names:
            bad = pc.sum(pc.or_(pc.less(table[col], 0), pc.greater(table[col], 1))).as_py() or 0
            if bad:
                problems.append(f"{bad} rows with {col} outside [0, 1]")
    if dataset == "funding_rates" and table.num_rows:
        interval = pc.fill_null(table["funding_interval_hours"], 8.0)
        per_8h = pc.abs(pc.divide(pc.multiply(table["funding_rate"], 8.0), interval))
        bad = pc.sum(pc.greater_equal(per_8h, MAX_ABS_FUNDING_8H)).as_py() or 0
        if bad:
            problems.append(f"{bad} rows with |funding| >= {MAX_ABS_FUNDING_8H:.0%} per 8h")
    return problems


def null_counts(table: pa.Table) -> NullCounts:
    return {name: (table[name].null_count, table.num_rows) for name in table.column_names}


def emptied_columns(history: list[NullCounts], day: NullCounts, exempt: set[str] = frozenset()) -> list[str]:
    """Columns that were filled over their history (at most FILLED_MAX_NULL_RATE null) and are all null on the
    day. A column that was always sparse, or a day or history without rows, flags nothing."""
    emptied = []
    for name, (nulls, rows) in day.items():
        if name in exempt or rows == 0 or nulls < rows:
            continue
        past_nulls = sum(h[name][0] for h in history if name in h)
        past_rows = sum(h[name][1] for h in history if name in h)
        if past_rows and past_nulls / past_rows <= FILLED_MAX_NULL_RATE:
            emptied.append(name)
    return emptied


def _null_history(lake: Lake, venue: str, dataset: str, day: date, cache: dict[date, NullCounts | None]):
    """The null counts of the dataset's partitions over the days before `day` (those that exist, with rows)."""
    history = []
    for back in range(1, NULL_RATE_HISTORY_DAYS + 1):
        earlier = day - timedelta(days=back)
        if earlier not in cache:
            path = lake.partition_path(venue, dataset, earlier)
            cache[earlier] = null_counts(pq.read_table(path)) if path.exists() else None
        if cache[earlier]:
            history.append(cache[earlier])
    return history


def run_checks(lake: Lake, venue: str, spec, results) -> list[CheckOutcome]:
    """Evaluate every check over the days a run just wrote; failures name the days."""
    dataset = spec.name
    expected = SCHEMAS[dataset]
    schema_bad, dup_bad, value_bad, empty_bad, null_bad = [], [], [], [], []
    counts_by_day: dict[date, NullCounts | None] = {}
    exempt = MAY_EMPTY_COLUMNS.get((venue, dataset), set())
    for r in results:
        path = lake.partition_path(venue, dataset, r.day)
        table = pq.read_table(path)
        day = r.day.isoformat()
        counts_by_day[r.day] = null_counts(table)
        if r.status == "ok" and table.num_rows:
            history = _null_history(lake, venue, dataset, r.day, counts_by_day)
            emptied = emptied_columns(history, counts_by_day[r.day], exempt)
            if emptied:
                null_bad.append(
                    f"{day}: {', '.join(emptied)} null in all {table.num_rows} rows, filled over the "
                    f"{len(history)} partitions before"
                )
        if not table.schema.remove_metadata().equals(expected):
            schema_bad.append(day)
        keys = KEY_COLUMNS.get(dataset)
        if keys and table.num_rows and table.group_by(list(keys)).aggregate([]).num_rows != table.num_rows:
            dup_bad.append(day)
        problems = value_violations(dataset, table)
        if problems:
            value_bad.append(f"{day}: {'; '.join(problems)}")
        if r.status == "ok":
            expects = spec.expects_rows_on or (lambda asset, day: True)
            missing = [asset for asset, n in r.per_asset.items() if n == 0 and expects(asset, r.day)]
            if missing:
                empty_bad.append(f"{day}: no rows for {', '.join(missing)}")
    days = len(results)
    return [
        _outcome("schema", schema_bad, days, "files whose schema differs"),
        _outcome("duplicate_keys", dup_bad, days, "partitions with duplicate keys"),
        _outcome("value_sanity", value_bad, days, "partitions with implausible values"),
        _outcome("non_empty", empty_bad, days, "partitions missing an asset", warn_only=spec.may_be_empty),
        _outcome("null_rate", null_bad, days, "partitions with a column that emptied"),
    ]


def _outcome(name: str, bad: list[str], days: int, what: str, warn_only: bool = False) -> CheckOutcome:
    if not bad:
        return CheckOutcome(
            True, f"{days} partitions checked", {"partitions_checked": days}, warn_if(warn_only), name
        )
    shown = bad[:20]
    return CheckOutcome(
        False,
        f"{len(bad)} {what}: {' | '.join(shown)}" + (" …" if len(bad) > 20 else ""),
        {"partitions_checked": days, "failing": len(bad)},
        warn_if(warn_only),
        name,
    )
