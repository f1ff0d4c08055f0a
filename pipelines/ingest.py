"""Venue -> lake for a range of UTC days: one file per (venue, dataset, day), written atomically, in day order.

Dagster assets call this; so do tests. It knows nothing about dbt or the sandbox. Consecutive days are fetched
in windows of the dataset's `chunk_days` (fewer requests in a backfill) and split back into daily files.

A day the fetch could see whole is written as fetched. A day it saw only part of (the venue's retention horizon
or "now" cuts it), and every snapshot or rolling-window day, is merged with what the day already holds
(pipelines/lib/partition_merge.py), under the dataset's lock: a re-run never loses a recorded row.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.instruments import ASSETS
from pipelines.lake import KEY_COLUMNS, TIME_COLUMN, Lake, empty_table, observed_of, runs_of, status_of
from pipelines.lib.intervals import merge_intervals
from pipelines.lib.partition_merge import merge_rerun, run_entry
from pipelines.lib.timeutil import DAY_MS, day_start_ms, day_window_ms, ms_to_day
from pipelines.venues.base import DatasetSpec
from pipelines.venues.http import ApiCall, VenueHttp

log = logging.getLogger(__name__)

# A venue's retention horizon is not exact to the millisecond (its clock, its cut-off rule, the time between our
# "now" and its answer): within this much after the horizon, a recorded row the fetch did not return is kept.
HORIZON_MARGIN_MS = 3_600_000


class PartitionFailed(RuntimeError):
    def __init__(self, venue: str, dataset: str, day: date, cause: BaseException):
        self.venue, self.dataset, self.day, self.cause = venue, dataset, day, cause
        self.written: list[DayResult] = []  # the days of the window written before this one failed
        super().__init__(f"{venue}/{dataset} failed on {day.isoformat()}: {cause}")


@dataclass
class DayResult:
    day: date
    rows: int
    status: str  # ok | beyond_retention | not_recordable | kept (recorded earlier, no longer served)
    per_asset: dict[str, int] = field(default_factory=dict)


def partition_status(spec: DatasetSpec, day: date, now_ms: int) -> str:
    """Whether a venue can still serve this day: 'ok', or why it is written empty without asking."""
    start, end = day_window_ms(day)
    if start > now_ms:
        return "future"
    if spec.snapshot and not (start <= now_ms < end):
        return "not_recordable"  # a current-state endpoint cannot be asked about another day
    if spec.retention_days is not None and end <= now_ms - spec.retention_days * DAY_MS:
        return "beyond_retention"
    return "ok"


def _chunks(days: list[date], statuses: dict[date, str], size: int) -> list[list[date]]:
    """Runs of consecutive fetchable days, at most `size` long; every other day is a chunk of its own."""
    chunks: list[list[date]] = []
    for day in days:
        last = chunks[-1] if chunks else None
        if (
            last
            and statuses[day] == "ok"
            and statuses[last[-1]] == "ok"
            and len(last) < size
            and (day - last[-1]).days == 1
        ):
            last.append(day)
        else:
            chunks.append([day])
    return chunks


def ingest_days(
    venue: str,
    spec: DatasetSpec,
    days: Iterable[date],
    *,
    http: VenueHttp,
    lake: Lake,
    now_ms: int,
    run_id: str = "manual",
    assets: Iterable[str] = ASSETS,
    progress: Callable[[str], None] = log.info,
) -> list[DayResult]:
    """Fetch and write each day in order. A failing day stops the run; the days before it stay written."""
    days = list(days)
    assets = [a for a in assets if spec.assets is None or a in spec.assets]
    statuses = {day: partition_status(spec, day, now_ms) for day in days}
    future = [d for d in days if statuses[d] == "future"]
    if future:
        raise PartitionFailed(venue, spec.name, future[0], ValueError("that day has not started yet"))
    results: list[DayResult] = []
    failure: BaseException | None = None
    try:
        for chunk in _chunks(days, statuses, max(spec.chunk_days, 1)):
            if statuses[chunk[0]] != "ok":
                results.append(
                    _unfetchable_day(venue, spec, chunk[0], statuses[chunk[0]], lake, run_id, now_ms)
                )
                continue
            _ingest_chunk(venue, spec, chunk, http, lake, now_ms, assets, run_id, results)
    except PartitionFailed as exc:
        exc.written = list(results)
        failure = exc
        raise
    except BaseException as exc:
        failure = exc
        raise
    finally:
        write_api_health(lake, venue, spec.name, http.drain_calls(), run_id)
        write_ingest_outcomes(lake, venue, spec.name, days, results, failure, run_id)
    return results


def _unfetchable_day(
    venue: str, spec: DatasetSpec, day: date, status: str, lake: Lake, run_id: str, now_ms: int
) -> DayResult:
    """A day the venue can no longer serve: keep what was recorded while it could; else write it empty, marked."""
    with lake.dataset_lock(venue, spec.name):  # a run recording the day right now must not be blanked
        if lake.partition_status(venue, spec.name, day) == "ok":
            kept = lake.read_partition(venue, spec.name, day)
            return DayResult(day, kept.num_rows, "kept", per_asset={})
        runs = [run_entry(run_id, now_ms, [], empty_table(spec.name), TIME_COLUMN[spec.name])]
        lake.write_partition(
            venue, spec.name, day, empty_table(spec.name), status=status, observed=[], runs=runs
        )
    return DayResult(day, 0, status)


def observed_window(spec: DatasetSpec, day: date, now_ms: int) -> list[tuple[int, int]] | None:
    """The part of the day a fetch at now_ms can see: from the retention horizon (or the day's start) to now.
    None for snapshots, which see an instant, not a span."""
    if spec.snapshot:
        return None
    lo, hi = day_window_ms(day)
    if spec.retention_days is not None:
        lo = max(lo, now_ms - spec.retention_days * DAY_MS)
    return merge_intervals([(lo, min(hi, now_ms))])


def replace_window(spec: DatasetSpec, day: date, now_ms: int) -> list[tuple[int, int]]:
    """The part of the day where a fetch at now_ms is the whole truth, so its rows replace the recorded ones:
    the observed window less a margin after the retention horizon. Nothing for snapshots and rolling-window
    sources, which accumulate through their day."""
    if spec.snapshot or spec.accumulate:
        return []
    lo, hi = day_window_ms(day)
    if spec.retention_days is not None:
        horizon = now_ms - spec.retention_days * DAY_MS
        if horizon > lo - HORIZON_MARGIN_MS:
            lo = max(lo, horizon + HORIZON_MARGIN_MS)
    return merge_intervals([(lo, min(hi, now_ms))])


def _merged_day(
    lake: Lake, venue: str, spec: DatasetSpec, day: date, table: pa.Table, now_ms: int, run_id: str
) -> tuple[pa.Table, list[tuple[int, int]] | None, list[dict]]:
    """The day's rows, observed windows and provenance after this run. Call under the dataset's lock.
    The recorded file is read only when the fetch could not see the whole day."""
    time_col = TIME_COLUMN[spec.name]
    observed = observed_window(spec, day, now_ms)
    this_run = run_entry(run_id, now_ms, observed, table, time_col)
    replace = replace_window(spec, day, now_ms)
    path = lake.partition_path(venue, spec.name, day)
    if replace == [day_window_ms(day)] or not path.exists():
        return table, observed, [this_run]
    recorded = lake.read_partition(venue, spec.name, day)
    meta = recorded.schema.metadata
    if status_of(meta) != "ok":  # an empty day marked beyond retention or not recordable: nothing to keep
        return table, observed, [this_run]
    merged, runs = merge_rerun(
        recorded, runs_of(meta), table, this_run, replace, KEY_COLUMNS[spec.name], time_col
    )
    if observed is not None:
        observed = merge_intervals([*(observed_of(meta) or []), *observed])
    return merged, observed, runs


def _ingest_chunk(venue, spec, chunk, http, lake, now_ms, assets, run_id, results: list[DayResult]) -> None:
    """Fetch a chunk of days, then write them one by one, appending each written day to `results`."""
    start = day_start_ms(chunk[0])
    end = day_window_ms(chunk[-1])[1]
    if spec.snapshot:
        end = min(end, now_ms + 1)
    per_asset: dict[str, pa.Table] = {}
    try:
        for asset in assets:
            per_asset[asset] = spec.fetch(http, asset, start, end)
    except Exception as exc:
        raise PartitionFailed(venue, spec.name, chunk[0], exc) from exc
    time_col = TIME_COLUMN[spec.name]
    for day in chunk:
        lo, hi = day_window_ms(day)
        parts, counts = [], {}
        for asset, table in per_asset.items():
            ms = pc.cast(table[time_col], pa.int64())
            part = table.filter(pc.and_(pc.greater_equal(ms, lo), pc.less(ms, hi)))
            counts[asset] = part.num_rows
            parts.append(part)
        table = pa.concat_tables(parts) if parts else empty_table(spec.name)
        try:
            with lake.dataset_lock(venue, spec.name):
                table, observed, runs = _merged_day(lake, venue, spec, day, table, now_ms, run_id)
                lake.write_partition(venue, spec.name, day, table, status="ok", observed=observed, runs=runs)
        except Exception as exc:
            raise PartitionFailed(venue, spec.name, day, exc) from exc
        results.append(DayResult(day=day, rows=table.num_rows, status="ok", per_asset=counts))


def write_api_health(lake: Lake, venue: str, dataset: str, calls: list[ApiCall], run_id: str) -> None:
    """Request outcomes, appended to the log of the day they were made (Lake.append_log), with the run's id."""
    by_day: dict[date, list[ApiCall]] = {}
    for call in calls:
        by_day.setdefault(ms_to_day(call.requested_at_ms), []).append(call)
    for day, day_calls in by_day.items():
        table = pa.Table.from_pylist(
            [
                {
                    "venue": c.venue,
                    "endpoint": c.endpoint,
                    "method": c.method,
                    "requested_at": c.requested_at_ms,
                    "status": c.status,
                    "latency_ms": c.latency_ms,
                    "attempt": c.attempt,
                    "ok": c.ok,
                    "error": c.error,
                    "run_id": run_id,
                }
                for c in day_calls
            ]
        )
        lake.append_log(venue, "api_health", day, table)


ERROR_TEXT_LIMIT = 1000


def write_ingest_outcomes(
    lake: Lake,
    venue: str,
    dataset: str,
    days: list[date],
    written: list[DayResult],
    failure: BaseException | None,
    run_id: str,
) -> None:
    """One row per day asked for: how it was written, or that it failed, or that it was not reached after a
    failure. Appended to the log of the day of the attempt (Lake.append_log), with the run's id."""
    if not days:
        return
    attempted_ms = int(time.time() * 1000)
    done = {r.day: r for r in written}
    failed_day = getattr(failure, "day", None) or next((d for d in days if d not in done), None)
    cause = getattr(failure, "cause", failure)
    error = f"{type(cause).__name__}: {cause}"[:ERROR_TEXT_LIMIT] if failure is not None else None
    rows = []
    for day in days:
        if day in done:
            outcome, count, why = done[day].status, done[day].rows, None
        elif failure is not None and day == failed_day:
            outcome, count, why = "failed", None, error
        else:
            outcome, count, why = "not_attempted", None, f"not reached: {failed_day} failed first"
        rows.append(
            {
                "venue": venue,
                "dataset": dataset,
                "day": day_start_ms(day),
                "run_id": run_id,
                "attempted_at": attempted_ms,
                "outcome": outcome,
                "rows": count,
                "error": why,
            }
        )
    lake.append_log(venue, "ingest_outcomes", ms_to_day(attempted_ms), pa.Table.from_pylist(rows))
