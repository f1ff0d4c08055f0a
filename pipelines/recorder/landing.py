"""The recorder's landing area: small Parquet files, each written atomically, never rewritten.

Layout: $LEVWATCH_HOME/landing/<venue>/liquidations/<recorder_id>-<seq>.parquet,
        $LEVWATCH_HOME/landing/<venue>/liquidation_gaps/<recorder_id>-<seq>.parquet,
        $LEVWATCH_HOME/landing/<venue>/dead_letter/<recorder_id>-<n>.json (a message the recorder could not take,
        kept whole) and $LEVWATCH_HOME/landing/<venue>/archive/ (files retired after compaction, see retention.py).
An event is acknowledged once its file is renamed into place. Each events file also states the stream time its
recorder vouches for (covered_from..covered_until, parquet metadata), so a restart can log what it missed, and
the wall time the recorder last heard from the venue (an event or a heartbeat reply), which freshness is judged on.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.lake import SCHEMAS, LakeError, _atomic_write, conform, empty_table

EVENTS, GAPS = "liquidations", "liquidation_gaps"
# An event's trade time precedes the push that carries it by milliseconds; a file is read for a window if the
# stream time it vouches for comes within this margin of it
TRADE_TIME_MARGIN_MS = 3_600_000
COVERED_FROM, COVERED_UNTIL, RECORDER = (
    b"levwatch.covered_from_ms",
    b"levwatch.covered_until_ms",
    b"levwatch.recorder",
)
# wall-clock ms of the last message of any kind (event or heartbeat reply) and of the last liquidation event
# received from the venue, as of the flush that wrote the file
HEARD_AT, EVENT_AT = b"levwatch.heard_at_ms", b"levwatch.event_at_ms"
DEAD_LETTER, ARCHIVE = "dead_letter", "archive"
NEWEST_FILES = 5  # how many of a venue's newest events files say how recently it was heard from


def _loose(dataset: str) -> pa.Schema:
    """The dataset's schema with every field nullable, so conform() reports missing values by name."""
    return pa.schema([f.with_nullable(True) for f in SCHEMAS[dataset]])


def _required_present(dataset: str, rows: list[dict]) -> pa.Table:
    # lake.conform's cast raises a bare ValueError on nulls in required fields; name the field instead
    table = pa.Table.from_pylist(rows, schema=_loose(dataset))
    for f in SCHEMAS[dataset]:
        if not f.nullable and table[f.name].null_count:
            raise LakeError(f"{dataset}: column {f.name!r} has nulls but is required")
    return table


@dataclass(frozen=True)
class Coverage:
    recorder_id: str
    covered_from_ms: int | None
    covered_until_ms: int | None
    heard_at_ms: int | None = None
    event_at_ms: int | None = None


@dataclass(frozen=True)
class Landing:
    root: Path  # $LEVWATCH_HOME/landing

    @classmethod
    def under(cls, home: Path) -> Landing:
        return cls(Path(home) / "landing")

    def dir(self, venue: str, dataset: str) -> Path:
        if dataset not in (EVENTS, GAPS):
            raise ValueError(f"the landing area holds {EVENTS} and {GAPS}, not {dataset!r}")
        return self.root / venue / dataset

    def path(self, venue: str, dataset: str, recorder_id: str, seq: int) -> Path:
        return self.dir(venue, dataset) / f"{recorder_id}-{seq:06d}.parquet"

    def write(
        self,
        venue: str,
        dataset: str,
        recorder_id: str,
        seq: int,
        rows: list[dict],
        coverage: tuple[int | None, int | None] | None = None,
        heard: tuple[int | None, int | None] | None = None,
    ) -> Path:
        """One new file; conform first so a bad row fails before anything is written. `heard` is the wall time
        of the last message and of the last event received from the venue."""
        table = conform(dataset, _required_present(dataset, rows)) if rows else empty_table(dataset)
        meta = {RECORDER: recorder_id.encode()}
        keyed = [(COVERED_FROM, COVERED_UNTIL, coverage), (HEARD_AT, EVENT_AT, heard)]
        for first_key, second_key, values in keyed:
            if values is not None:
                for key, value in zip((first_key, second_key), values, strict=True):
                    if value is not None:
                        meta[key] = str(int(value)).encode()
        table = table.replace_schema_metadata(meta)
        target = self.path(venue, dataset, recorder_id, seq)
        if target.exists():
            raise FileExistsError(f"landing file {target} already exists: a recorder id was reused")
        _atomic_write(table, target)
        return target

    def files(self, venue: str, dataset: str) -> list[Path]:
        folder = self.dir(venue, dataset)
        if not folder.exists():
            return []
        return sorted(p for p in folder.glob("*.parquet") if not p.name.startswith("."))  # not temp files

    def files_for_window(self, venue: str, start_ms: int, end_ms: int) -> list[Path]:
        """The events files that can hold events in [start, end): those whose vouched stream time comes within
        TRADE_TIME_MARGIN_MS of it, and any that vouch for nothing. Compacting a day then reads that day's
        files, not the whole history of a long-running recorder."""
        kept = []
        for path in self.files(venue, EVENTS):
            cov = self.coverage(path)
            lo = cov.covered_from_ms if cov.covered_from_ms is not None else cov.covered_until_ms
            hi = cov.covered_until_ms
            if (
                lo is None
                or hi is None
                or (lo - TRADE_TIME_MARGIN_MS < end_ms and hi + TRADE_TIME_MARGIN_MS >= start_ms)
            ):
                kept.append(path)
        return kept

    def read(self, venue: str, dataset: str, window: tuple[int, int] | None = None) -> pa.Table:
        """Every landed row, in file-name order (each recorder's files in write order); with a window, events
        files that cannot hold events in it are skipped (gap files are few and always read)."""
        paths = (
            self.files_for_window(venue, *window)
            if window is not None and dataset == EVENTS
            else self.files(venue, dataset)
        )
        tables = [pq.read_table(path, schema=SCHEMAS[dataset]) for path in paths]
        if not tables:
            return empty_table(dataset)
        return pa.concat_tables([t.replace_schema_metadata(None) for t in tables])

    def coverage(self, path: Path) -> Coverage:
        return _coverage(str(path))

    def coverages(self, venue: str) -> list[Coverage]:
        return [self.coverage(p) for p in self.files(venue, EVENTS)]

    def last_covered_until(self, venue: str, *, other_than: str) -> int | None:
        """How far the previous recorder vouched for the stream: where a restart's gap begins."""
        files = [p for p in self.files(venue, EVENTS) if not p.name.startswith(f"{other_than}-")]
        newest = sorted(files, key=lambda p: os.stat(p).st_mtime_ns, reverse=True)[:5]
        untils = [c.covered_until_ms for c in map(self.coverage, newest) if c.covered_until_ms is not None]
        return max(untils) if untils else None

    def last_heard(self, venue: str) -> tuple[int | None, int | None]:
        """(wall ms of the last message, of the last event) the newest events files say the recorder received.
        Judged on what was received, not on file times: a recorder whose stream died still writes files."""
        newest = self.files(venue, EVENTS)[-NEWEST_FILES:]  # names sort by recorder start, then sequence
        covs = [self.coverage(p) for p in newest]
        heard = [c.heard_at_ms for c in covs if c.heard_at_ms is not None]
        events = [c.event_at_ms for c in covs if c.event_at_ms is not None]
        return (max(heard) if heard else None, max(events) if events else None)

    def dead_letter_dir(self, venue: str) -> Path:
        return self.root / venue / DEAD_LETTER

    def write_dead_letter(
        self, venue: str, recorder_id: str, n: int, message: str | bytes, error: str, received_at_ms: int
    ) -> Path:
        """A message the recorder could not take, kept whole (text as is, binary as hex), written atomically."""
        record = {
            "venue": venue,
            "recorder_id": recorder_id,
            "received_at_ms": received_at_ms,
            "error": error,
        }
        if isinstance(message, bytes):
            record["message_hex"] = message.hex()
        else:
            record["message"] = message
        target = self.dead_letter_dir(venue) / f"{recorder_id}-{n:06d}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(record, fh, ensure_ascii=False)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    def dead_letter_count(self, venue: str) -> int:
        folder = self.dead_letter_dir(venue)
        return sum(1 for p in folder.glob("*.json") if not p.name.startswith(".")) if folder.exists() else 0

    def dead_letters(self, venue: str, newest: int | None = None) -> list[dict]:
        """The dead letters in write order (names sort by recorder start, then count); `newest` keeps the last n."""
        folder = self.dead_letter_dir(venue)
        if not folder.exists():
            return []
        paths = sorted(p for p in folder.glob("*.json") if not p.name.startswith("."))
        if newest is not None:
            paths = paths[-newest:] if newest else []
        return [json.loads(p.read_text(encoding="utf-8")) for p in paths]


@lru_cache(maxsize=200_000)
def _coverage(path: str) -> Coverage:
    """A landing file's coverage metadata; cached, since a landing file is written once and never rewritten."""
    meta = pq.read_schema(path).metadata or {}

    def number(key: bytes) -> int | None:
        return int(meta[key]) if key in meta else None

    return Coverage(
        meta.get(RECORDER, b"").decode(),
        number(COVERED_FROM),
        number(COVERED_UNTIL),
        number(HEARD_AT),
        number(EVENT_AT),
    )
