"""A re-run of a day that already holds rows: merge by key, never drop what the new fetch could not see.

Venues forget: Binance keeps 30 days of OI, OKX 24 h of liquidations, Hyperliquid 5,000 candles. A re-run whose
fetch sees only part of a day must not replace the rows recorded while the venue still served the rest. So:

- a new row replaces the recorded row with the same key (a venue may revise a reading);
- inside `replace`, the part of the day the new fetch could see whole, the new rows are the day: a recorded row
  there with no new counterpart goes (the venue revised it away);
- outside it, every recorded row stays.

Each file records its provenance (parquet metadata `levwatch.runs`): one entry per run that still supplies rows,
oldest first, `{run_id, fetched_at_ms, observed_ms, holds_ms, rows}`. `observed_ms` is what that run's fetch
could see of the day (null for a snapshot), `holds_ms` the part of the day its rows in this file come from, and
`rows` how many of the file's rows it supplied; the entries' rows add up to the file's. Rows of a file written
before provenance existed are listed under `run_id: null`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.lib.intervals import Interval, merge_intervals, subtract_intervals


def in_intervals(ms: pa.Array | pa.ChunkedArray, intervals: Iterable[Interval]) -> pa.Array:
    """Which times fall in any of the half-open intervals."""
    mask = pa.array([False] * len(ms), pa.bool_())
    for lo, hi in intervals:
        mask = pc.or_(mask, pc.and_(pc.greater_equal(ms, lo), pc.less(ms, hi)))
    return mask


def _times(table: pa.Table, time_col: str) -> pa.ChunkedArray:
    return pc.cast(table[time_col], pa.int64())


def run_entry(
    run_id: str | None,
    fetched_at_ms: int | None,
    observed: Sequence[Interval] | None,
    rows: pa.Table,
    time_col: str,
) -> dict:
    """A run's provenance entry for the rows it fetched for one day."""
    spans = list(observed or [])
    if rows.num_rows:
        ms = _times(rows, time_col)
        spans.append((pc.min(ms).as_py(), pc.max(ms).as_py() + 1))
    return {
        "run_id": run_id,
        "fetched_at_ms": fetched_at_ms,
        "observed_ms": None if observed is None else [[s, e] for s, e in observed],
        "holds_ms": [[s, e] for s, e in merge_intervals(spans)],
        "rows": rows.num_rows,
    }


def merge_rerun(
    recorded: pa.Table,
    recorded_runs: list[dict] | None,
    new: pa.Table,
    new_run: dict,
    replace: Sequence[Interval],
    keys: Sequence[str],
    time_col: str,
) -> tuple[pa.Table, list[dict]]:
    """The day's rows after the re-run, and its provenance (see the module doc)."""
    keys = list(keys)
    recorded = recorded.select(new.column_names).cast(new.schema)
    outside = pc.invert(in_intervals(_times(recorded, time_col), replace))
    candidates = recorded.filter(outside)
    if new.num_rows and candidates.num_rows:
        superseded = (
            new.select(keys).group_by(keys).aggregate([])
        )  # unique keys: the anti join needs no dupes
        candidates = candidates.join(superseded, keys=keys, join_type="left anti").select(new.column_names)
    kept = candidates.cast(new.schema)
    merged = pa.concat_tables([kept, new])

    # which earlier run each kept row came from: the latest one whose holds_ms contain its time
    kept_ms = _times(kept, time_col)
    unassigned = pa.array([True] * kept.num_rows, pa.bool_())
    runs: list[dict] = []
    for run in reversed(recorded_runs or []):
        holds = [(int(s), int(e)) for s, e in run.get("holds_ms") or []]
        mine = pc.and_(unassigned, in_intervals(kept_ms, holds))
        count = pc.sum(mine).as_py() or 0
        unassigned = pc.and_(unassigned, pc.invert(mine))
        if count:
            left = subtract_intervals(holds, replace)
            runs.append({**run, "holds_ms": [[s, e] for s, e in left], "rows": count})
    unknown = pc.sum(unassigned).as_py() or 0
    if unknown:  # rows from a file written before provenance was recorded
        runs.append(
            {"run_id": None, "fetched_at_ms": None, "observed_ms": None, "holds_ms": [], "rows": unknown}
        )
    runs.reverse()
    runs.append(new_run)
    return merged, runs
