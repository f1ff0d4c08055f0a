"""Landing area -> lake: one day of a venue's recorded liquidations (deduplicated by event_key) and its gaps.

A day's partition is rewritten whole and atomically from what the lake already holds for it merged with everything
landed for it, deduplicated by event key, so re-running a day gives the same file, and a day whose landing files
were retired (retention.py) keeps every event it had: compaction never writes a day with fewer events. A day no
landing file vouches for (no coverage, no events, no gaps) and not recorded before is written empty with status
`not_recorded`: the stream was not being recorded, which is different from a quiet day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.lake import SCHEMAS, Lake
from pipelines.lib.timeutil import day_window_ms
from pipelines.recorder.landing import EVENTS, GAPS, Landing


@dataclass(frozen=True)
class CompactionResult:
    venue: str
    day: date
    rows: int
    duplicates_dropped: int
    gaps: int
    status: str  # ok | not_recorded


def _in_window(table: pa.Table, column: str, start: int, end: int) -> pa.Table:
    ts = pc.cast(table[column], pa.int64())
    return table.filter(pc.and_(pc.greater_equal(ts, start), pc.less(ts, end)))


def dedupe_events(table: pa.Table) -> pa.Table:
    """Keep the first landed row of each event_key, then order by time (ties by key, so output is stable)."""
    if table.num_rows == 0:
        return table
    indexed = table.append_column("_row", pa.array(range(table.num_rows), pa.int64()))
    first = indexed.group_by("event_key", use_threads=False).aggregate([("_row", "min")])
    keep = pc.is_in(indexed["_row"], value_set=first["_row_min"])
    return (
        indexed.filter(keep).drop_columns(["_row"]).sort_by([("ts", "ascending"), ("event_key", "ascending")])
    )


def dedupe_gaps(table: pa.Table) -> pa.Table:
    """One row per (stream, recorder, start); a closed version of a gap wins over a still-open one."""
    if table.num_rows == 0:
        return table
    rows = sorted(table.to_pylist(), key=lambda r: (r["gap_end"] is None, str(r["gap_end"])))
    seen, kept = set(), []
    for row in rows:
        key = (row["venue"], row["stream"], row["recorder_id"], row["gap_start"])
        if key not in seen:
            seen.add(key)
            kept.append(row)
    kept.sort(key=lambda r: (r["gap_start"], r["recorder_id"]))
    return pa.Table.from_pylist(kept, schema=table.schema)


def day_is_covered(landing: Landing, venue: str, day: date) -> bool:
    start, end = day_window_ms(day)
    for cov in landing.coverages(venue):
        lo = cov.covered_from_ms if cov.covered_from_ms is not None else cov.covered_until_ms
        hi = cov.covered_until_ms
        if lo is not None and hi is not None and lo < end and hi >= start:
            return True
    return False


def in_lake(lake: Lake, venue: str, dataset: str, day: date) -> pa.Table:
    """The day as the lake holds it now (empty if never written)."""
    path = lake.partition_path(venue, dataset, day)
    if not path.exists():
        return SCHEMAS[dataset].empty_table()
    return pq.read_table(path, schema=SCHEMAS[dataset]).replace_schema_metadata(None)


def compact_day(lake: Lake, landing: Landing, venue: str, day: date) -> CompactionResult:
    # read-merge-write under the dataset's lock: two overlapping compactions must not each write back their view
    with lake.dataset_lock(venue, EVENTS):
        return _compact_day(lake, landing, venue, day)


def _compact_day(lake: Lake, landing: Landing, venue: str, day: date) -> CompactionResult:
    start, end = day_window_ms(day)
    landed = landing.read(venue, EVENTS, window=(start, end))
    day_rows = _in_window(landed, "ts", start, end)
    before = in_lake(lake, venue, EVENTS, day)
    # the lake's rows first: an event already compacted keeps its row, the landing area only adds to the day
    events = dedupe_events(pa.concat_tables([before, day_rows]))
    landed_gaps = _in_window(landing.read(venue, GAPS), "gap_start", start, end)
    gaps = dedupe_gaps(pa.concat_tables([in_lake(lake, venue, GAPS, day), landed_gaps]))
    recorded_before = lake.partition_status(venue, EVENTS, day) == "ok"
    covered = (
        events.num_rows > 0 or gaps.num_rows > 0 or recorded_before or day_is_covered(landing, venue, day)
    )
    status = "ok" if covered else "not_recorded"
    lake.write_partition(venue, EVENTS, day, events, status=status)
    lake.write_partition(venue, GAPS, day, gaps, status=status)
    return CompactionResult(
        venue,
        day,
        events.num_rows,
        before.num_rows + day_rows.num_rows - events.num_rows,
        gaps.num_rows,
        status,
    )


def gap_minutes(gaps: pa.Table, day: date, open_until_ms: int | None = None) -> float:
    """Minutes of the day inside any gap (overlaps counted once). An open gap lasts until `open_until_ms`,
    else to the end of the day."""
    start, end = day_window_ms(day)
    spans = []
    for row in gaps.select(["gap_start", "gap_end"]).to_pylist():
        lo = int(row["gap_start"].timestamp() * 1000)
        hi = int(row["gap_end"].timestamp() * 1000) if row["gap_end"] is not None else (open_until_ms or end)
        lo, hi = max(lo, start), min(hi, end)
        if hi > lo:
            spans.append((lo, hi))
    total, reach = 0, start
    for lo, hi in sorted(spans):
        lo = max(lo, reach)
        if hi > lo:
            total += hi - lo
            reach = hi
    return total / 60_000
