"""Landing-area retention: a landing file leaves the landing area once it is old and the lake holds all of it.

Policy (settings `landing_retention_days`, `landing_retention_mode`): an events or gaps file is retired when
 1. the newest stream time it holds or vouches for ended more than `retention_days` before the start of today
    (plus TRADE_TIME_MARGIN_MS: an event trades slightly before the push that carries it), and
 2. every row in it is in the lake, checked by content: each event's event_key in its day's partition, each gap
    (same recorder and start, same end) in its start day's gaps partition. A file the lake does not fully hold
    stays, however old, until a compaction of its days has merged it.
A retired file is moved to landing/<venue>/archive/<dataset>/ ("archive", the default: cheap to tar or delete by
hand) or deleted ("delete"). A venue's newest NEWEST_FILES events files always stay: they say how far the last
recorder vouched for the stream (the next restart's gap) and when it last heard from the venue (freshness).
Compaction merges with the lake day (compaction.py), so a day never loses events because its files were retired.
Temp files a killed write left behind (`.tmp-*`, never read) are deleted once a day old.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.lake import SCHEMAS, Lake
from pipelines.lib.timeutil import DAY_MS, day_start_ms, ms_to_day
from pipelines.recorder.compaction import in_lake
from pipelines.recorder.landing import ARCHIVE, EVENTS, GAPS, NEWEST_FILES, TRADE_TIME_MARGIN_MS, Landing

MODES = ("archive", "delete")
ABANDONED_TEMP_S = 86_400  # a write takes seconds; a temp file this old was left by a killed process


@dataclass(frozen=True)
class RetentionResult:
    venue: str
    retired: int  # files archived or deleted
    held_back: int  # old enough, but the lake does not hold all of their rows yet
    temp_files_removed: int = 0


class _LakeIndex:
    """The keys the lake holds per day, read once per day."""

    def __init__(self, lake: Lake, venue: str):
        self.lake, self.venue = lake, venue
        self._events: dict[date, set[str]] = {}
        self._gaps: dict[date, set[tuple]] = {}

    def events(self, day: date) -> set[str]:
        if day not in self._events:
            self._events[day] = set(in_lake(self.lake, self.venue, EVENTS, day)["event_key"].to_pylist())
        return self._events[day]

    def gaps(self, day: date) -> set[tuple]:
        if day not in self._gaps:
            self._gaps[day] = {_gap_key(r) for r in in_lake(self.lake, self.venue, GAPS, day).to_pylist()}
        return self._gaps[day]


def _gap_key(row: dict) -> tuple:
    return (row["stream"], row["recorder_id"], _ms(row["gap_start"]), _ms(row["gap_end"]))


def _ms(value) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


def _events_file(landing: Landing, path: Path, index: _LakeIndex) -> tuple[int | None, bool]:
    """(newest stream time in or vouched for by the file, whether the lake holds all of its events)."""
    table = pq.read_table(path, schema=SCHEMAS[EVENTS], columns=["ts", "event_key"])
    cov = landing.coverage(path)
    times = [t for t in (cov.covered_until_ms, cov.covered_from_ms) if t is not None]
    if table.num_rows:
        times.append(int(pc.max(pc.cast(table["ts"], "int64")).as_py()))
    held = True
    for ts, key in zip(
        pc.cast(table["ts"], "int64").to_pylist(), table["event_key"].to_pylist(), strict=True
    ):
        if key not in index.events(ms_to_day(ts)):
            held = False
            break
    return (max(times) if times else None), held


def _gaps_file(path: Path, index: _LakeIndex) -> tuple[int | None, bool]:
    rows = pq.read_table(path, schema=SCHEMAS[GAPS]).to_pylist()
    times = [_ms(r["gap_end"]) or _ms(r["gap_start"]) for r in rows]
    held = all(_gap_key(r) in index.gaps(ms_to_day(_ms(r["gap_start"]))) for r in rows)
    return (max(times) if times else None), held


def retire_landing(
    lake: Lake, landing: Landing, venue: str, today: date, retention_days: int, mode: str = "archive"
) -> RetentionResult:
    if mode not in MODES:
        raise ValueError(f"landing retention mode must be one of {MODES}, got {mode!r}")
    if retention_days < 1:
        raise ValueError(f"landing retention must keep files at least 1 day, got {retention_days}")
    cutoff = day_start_ms(today) - retention_days * DAY_MS - TRADE_TIME_MARGIN_MS
    index = _LakeIndex(lake, venue)
    retired = held_back = 0
    candidates: Iterable[tuple[str, Path]] = [
        *((EVENTS, p) for p in landing.files(venue, EVENTS)[:-NEWEST_FILES]),
        *((GAPS, p) for p in landing.files(venue, GAPS)),
    ]
    for dataset, path in candidates:
        vouched = landing.coverage(path).covered_until_ms if dataset == EVENTS else None
        if vouched is not None and vouched >= cutoff:
            continue  # recent: decided from the metadata alone, without reading the file
        newest, held = _events_file(landing, path, index) if dataset == EVENTS else _gaps_file(path, index)
        if newest is not None and newest >= cutoff:
            continue
        if not held:
            held_back += 1
            continue
        if mode == "delete":
            path.unlink()
        else:
            target = landing.root / venue / ARCHIVE / dataset / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
        retired += 1
    return RetentionResult(venue, retired, held_back, _remove_abandoned_temp_files(landing, venue))


def _remove_abandoned_temp_files(landing: Landing, venue: str) -> int:
    removed = 0
    now = time.time()
    for dataset in (EVENTS, GAPS):
        folder = landing.dir(venue, dataset)
        for path in folder.glob(".tmp-*") if folder.exists() else []:
            if now - path.stat().st_mtime > ABANDONED_TEMP_S:
                path.unlink(missing_ok=True)
                removed += 1
    return removed
