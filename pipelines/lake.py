"""The lake: dataset schemas, partition paths, atomic writes and read-back.

Layout: <lake>/<venue>/<dataset>/date=YYYY-MM-DD/data.parquet, one file per UTC day, where <lake> is
LEVWATCH_LAKE_URL: a folder ($LEVWATCH_HOME/lake by default) or an S3 prefix (s3://bucket/prefix, any S3-compatible
store through AWS_ENDPOINT_URL). No other module builds lake paths.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path, PurePosixPath

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from pipelines.files import LOCK_TIMEOUT_S, atomic_write, file_lock

TS = pa.timestamp("ms", tz="UTC")

# A zero-row file that keeps every dataset's glob non-empty, so dbt sources resolve before the first load.
# It sits before any real partition (the partitions start in 2019) and never holds rows.
ANCHOR_DAY = date(1970, 1, 1)

_COMMON = [
    pa.field("venue", pa.string(), nullable=False),
    pa.field("asset", pa.string(), nullable=False),
    pa.field("symbol", pa.string(), nullable=False),
]
_RAW = pa.field("raw", pa.string(), nullable=False)  # the venue's original record, as JSON


@dataclass(frozen=True)
class LakeDataset:
    """One lake dataset, declared once: its explicit schema, the column that places a row in a daily partition,
    and the columns that identify a row (a partition never repeats them; None: a log without a key)."""

    name: str
    time_column: str
    key: tuple[str, ...] | None
    schema: pa.Schema


# Every dataset the lake holds, each declared once. tests/unit/test_dataset_registry_agreement.py holds the dbt
# sources, the writers and the sandbox to this list.
DATASETS: dict[str, LakeDataset] = {
    d.name: d
    for d in [
        LakeDataset(
            "funding_rates",
            time_column="funding_time",
            key=("venue", "symbol", "funding_time"),
            schema=pa.schema(
                _COMMON
                + [
                    pa.field("funding_time", TS, nullable=False),
                    pa.field("funding_rate", pa.float64(), nullable=False),
                    pa.field("funding_interval_hours", pa.float64()),
                    pa.field("mark_price", pa.float64()),
                    _RAW,
                ]
            ),
        ),
        LakeDataset(
            "open_interest",
            time_column="ts",
            key=("venue", "symbol", "ts"),
            schema=pa.schema(
                _COMMON
                + [
                    pa.field("ts", TS, nullable=False),
                    pa.field("oi_coin", pa.float64()),
                    pa.field("oi_usd", pa.float64()),
                    pa.field("oi_contracts", pa.float64()),
                    _RAW,
                ]
            ),
        ),
        LakeDataset(
            "long_short_ratios",
            time_column="ts",
            key=("venue", "symbol", "ratio_type", "ts"),
            schema=pa.schema(
                _COMMON
                + [
                    pa.field("ts", TS, nullable=False),
                    # global_account | top_position | top_account | taker_volume
                    pa.field("ratio_type", pa.string(), nullable=False),
                    pa.field("long_share", pa.float64()),
                    pa.field("long_short_ratio", pa.float64()),
                    _RAW,
                ]
            ),
        ),
        LakeDataset(
            "klines",
            time_column="open_time",
            key=("venue", "symbol", "price_type", "interval", "open_time"),
            schema=pa.schema(
                _COMMON
                + [
                    pa.field("price_type", pa.string(), nullable=False),  # last | mark | index
                    pa.field("interval", pa.string(), nullable=False),
                    pa.field("open_time", TS, nullable=False),
                    pa.field("open", pa.float64(), nullable=False),
                    pa.field("high", pa.float64(), nullable=False),
                    pa.field("low", pa.float64(), nullable=False),
                    pa.field("close", pa.float64(), nullable=False),
                    pa.field("volume_coin", pa.float64()),
                    pa.field("volume_usd", pa.float64()),
                    pa.field("trades", pa.int64()),
                    _RAW,
                ]
            ),
        ),
        # one-minute candles: mark price where the venue serves it, else the traded price (price_type says which)
        LakeDataset(
            "klines_1m",
            time_column="open_time",
            key=("venue", "symbol", "price_type", "open_time"),
            schema=pa.schema(
                _COMMON
                + [
                    pa.field("price_type", pa.string(), nullable=False),  # mark | last
                    pa.field("open_time", TS, nullable=False),
                    pa.field("open", pa.float64(), nullable=False),
                    pa.field("high", pa.float64(), nullable=False),
                    pa.field("low", pa.float64(), nullable=False),
                    pa.field("close", pa.float64(), nullable=False),
                    _RAW,
                ]
            ),
        ),
        LakeDataset(
            "instruments",
            time_column="ts",
            key=("venue", "symbol", "ts"),
            schema=pa.schema(
                _COMMON
                + [
                    pa.field("ts", TS, nullable=False),  # when the snapshot was taken
                    pa.field("contract_value", pa.float64()),
                    pa.field("contract_value_ccy", pa.string()),
                    pa.field("state", pa.string()),
                    _RAW,
                ]
            ),
        ),
        LakeDataset(
            "asset_contexts",
            time_column="ts",
            key=("venue", "symbol", "ts"),
            schema=pa.schema(
                _COMMON
                + [
                    pa.field("ts", TS, nullable=False),  # when the snapshot was taken
                    pa.field("funding_rate", pa.float64()),  # hourly on Hyperliquid
                    pa.field("oi_coin", pa.float64()),
                    pa.field("mark_price", pa.float64()),
                    pa.field("oracle_price", pa.float64()),
                    pa.field("mid_price", pa.float64()),
                    pa.field("premium", pa.float64()),
                    pa.field("day_notional_volume_usd", pa.float64()),
                    _RAW,
                ]
            ),
        ),
        # one row per forced close; side is the liquidated position's side, whatever the venue calls it
        LakeDataset(
            "liquidations",
            time_column="ts",
            key=("venue", "event_key"),
            schema=pa.schema(
                _COMMON
                + [
                    pa.field("ts", TS, nullable=False),
                    pa.field("side", pa.string(), nullable=False),  # long | short
                    pa.field("price", pa.float64()),
                    pa.field("qty_coin", pa.float64()),
                    pa.field("notional_usd", pa.float64()),
                    pa.field("source", pa.string(), nullable=False),  # rest | stream
                    pa.field(
                        "event_key", pa.string(), nullable=False
                    ),  # the venue's event identity, for dedup
                    _RAW,
                ]
            ),
        ),
        # recorder disconnects, as data: a stream gap from start to end (end null while still open)
        LakeDataset(
            "liquidation_gaps",
            time_column="gap_start",
            key=("venue", "stream", "recorder_id", "gap_start"),
            schema=pa.schema(
                [
                    pa.field("venue", pa.string(), nullable=False),
                    pa.field("stream", pa.string(), nullable=False),
                    pa.field("gap_start", TS, nullable=False),
                    pa.field("gap_end", TS),
                    pa.field("reason", pa.string()),
                    pa.field("recorder_id", pa.string(), nullable=False),
                ]
            ),
        ),
        # aggregated liquidation history (CoinGlass): USD by exchange, coin and interval
        LakeDataset(
            "liquidation_aggregates",
            time_column="ts",
            key=("venue", "asset", "exchange", "interval", "ts"),
            schema=pa.schema(
                [
                    pa.field("venue", pa.string(), nullable=False),  # the aggregator, e.g. coinglass
                    pa.field("asset", pa.string(), nullable=False),
                    pa.field("exchange", pa.string(), nullable=False),  # e.g. Binance, OKX, Bybit, or All
                    pa.field("interval", pa.string(), nullable=False),  # 1h | 1d
                    pa.field("ts", TS, nullable=False),
                    pa.field("long_usd", pa.float64()),
                    pa.field("short_usd", pa.float64()),
                    _RAW,
                ]
            ),
        ),
        # Deribit option book summaries, one row per instrument per snapshot; asset is the underlying
        LakeDataset(
            "options_snapshots",
            time_column="ts",
            key=("venue", "symbol", "ts"),
            schema=pa.schema(
                _COMMON
                + [
                    pa.field("ts", TS, nullable=False),  # when the snapshot was taken
                    pa.field(
                        "expiry", TS, nullable=False
                    ),  # 08:00 UTC on the expiry day, parsed from the name
                    pa.field("strike", pa.float64(), nullable=False),
                    pa.field("option_type", pa.string(), nullable=False),  # call | put
                    pa.field("open_interest_coin", pa.float64()),
                    pa.field(
                        "mark_price", pa.float64()
                    ),  # in the quote currency (BTC for inverse BTC options)
                    pa.field("mark_iv", pa.float64()),  # percent
                    pa.field("underlying_price", pa.float64()),  # the expiry's forward (future or synthetic)
                    pa.field("volume", pa.float64()),  # 24h, in coins
                    _RAW,
                ]
            ),
        ),
        # insurance-fund readings: a pool's balance in one currency at ts. Binance and Bybit serve the current balance
        # (entry_type 'snapshot', ts = when it was taken); OKX serves history entries (entry_type = its `type`)
        LakeDataset(
            "insurance_funds",
            time_column="ts",
            key=("venue", "asset", "pool", "currency", "entry_type", "ts"),  # a shared pool repeats per asset
            schema=pa.schema(
                _COMMON  # asset: the instrument asked about; symbol: its venue symbol (OKX: the instFamily)
                + [
                    pa.field(
                        "pool", pa.string(), nullable=False
                    ),  # the pool: its symbols joined by ',' (OKX: instFamily)
                    pa.field("currency", pa.string(), nullable=False),
                    pa.field(
                        "entry_type", pa.string(), nullable=False
                    ),  # snapshot | regular_update | adl | ...
                    pa.field("ts", TS, nullable=False),
                    pa.field("balance", pa.float64(), nullable=False),  # in `currency`
                    pa.field("balance_usd", pa.float64()),  # where the venue states it (Bybit `value`)
                    pa.field("amount", pa.float64()),  # OKX `amt`: the change the entry books
                    pa.field(
                        "adl_type", pa.string()
                    ),  # OKX adl rows: rate_adl_start | bal_adl_start | adl_end | ...
                    pa.field(
                        "max_balance", pa.float64()
                    ),  # OKX adl rows: the fund's high of the past eight hours
                    pa.field("max_balance_ts", TS),  # OKX adl rows: when that high was reached
                    pa.field("updated_at", TS),  # the venue's own update time of the balance
                    _RAW,
                ]
            ),
        ),
        # DefiLlama lending and CDP protocols: one row per protocol, chain and day (not per perp asset)
        LakeDataset(
            "lending",
            time_column="ts",
            key=("venue", "protocol", "chain", "ts"),
            schema=pa.schema(
                [
                    pa.field("venue", pa.string(), nullable=False),  # the source, defillama
                    pa.field("protocol", pa.string(), nullable=False),  # DefiLlama slug, e.g. aave-v3
                    pa.field("protocol_name", pa.string()),
                    pa.field("category", pa.string()),  # Lending | CDP | ...
                    pa.field("chain", pa.string(), nullable=False),
                    pa.field("ts", TS, nullable=False),  # the day, 00:00 UTC
                    pa.field("supplied_usd", pa.float64()),  # TVL: collateral and deposits, borrowed excluded
                    pa.field(
                        "borrowed_usd", pa.float64()
                    ),  # null where the protocol reports no borrows (CDPs)
                    _RAW,
                ]
            ),
        ),
        # DefiLlama stablecoins: supply per stablecoin and chain ('all' = every chain), the day's price
        LakeDataset(
            "stablecoins",
            time_column="ts",
            key=("venue", "stablecoin_id", "chain", "ts"),
            schema=pa.schema(
                [
                    pa.field("venue", pa.string(), nullable=False),  # the source, defillama
                    pa.field("stablecoin_id", pa.string(), nullable=False),  # DefiLlama's id, e.g. "146"
                    pa.field("symbol", pa.string(), nullable=False),
                    pa.field("name", pa.string()),
                    pa.field("chain", pa.string(), nullable=False),
                    pa.field("ts", TS, nullable=False),  # the day, 00:00 UTC
                    pa.field("supply_usd", pa.float64()),
                    pa.field(
                        "price", pa.float64()
                    ),  # DefiLlama's aggregate price at ts (null when it has none)
                    pa.field("peg_type", pa.string()),  # peggedUSD | peggedEUR | ...
                    pa.field("peg_mechanism", pa.string()),  # fiat-backed | crypto-backed | algorithmic
                    # the day's worst single-venue print, where the source offers one (the real API does not)
                    pa.field("worst_venue_price", pa.float64()),
                    pa.field("worst_venue", pa.string()),
                    pa.field("worst_venue_ts", TS),
                    _RAW,
                ]
            ),
        ),
        # spot-ETF daily net flows (Farside), append-only: one row per fund and US trading day, ts = the day 00:00 UTC
        LakeDataset(
            "etf_flows",
            time_column="ts",
            key=("venue", "asset", "symbol", "ts"),
            schema=pa.schema(
                _COMMON  # venue 'farside'; asset = the underlying (BTC/ETH/SOL); symbol = the fund's ticker
                + [
                    pa.field("ts", TS, nullable=False),
                    pa.field(
                        "flow_usd", pa.float64()
                    ),  # US$ (Farside's US$m x 1e6); null = no reading ('-'), never 0
                    pa.field("issuer", pa.string()),
                    pa.field("source", pa.string(), nullable=False),  # html | csv
                    _RAW,
                ]
            ),
        ),
        # venue status and maintenance announcements, one row per (event, snapshot): a current-state endpoint, so its
        # history starts when recording starts. Deribit's platform lock is one row per snapshot (event_id "platform_lock")
        LakeDataset(
            "system_status",
            time_column="ts",
            key=("venue", "event_id", "ts"),
            schema=pa.schema(
                [
                    pa.field("venue", pa.string(), nullable=False),
                    pa.field(
                        "event_id", pa.string(), nullable=False
                    ),  # the venue's id, or title|begin where it has none
                    pa.field("ts", TS, nullable=False),  # when the snapshot was taken
                    pa.field("title", pa.string()),
                    pa.field(
                        "state", pa.string(), nullable=False
                    ),  # the venue's word: ongoing, completed, ... or locked
                    pa.field("event_type", pa.string(), nullable=False),  # maintenance | incident | lock
                    pa.field("begin", TS),  # the announced window; null for a lock reading
                    pa.field("end", TS),  # expected end before completion, actual end after
                    pa.field(
                        "services", pa.string()
                    ),  # the venue's service / product codes or locked currencies, as text
                    _RAW,
                ]
            ),
        ),
        LakeDataset(
            "api_health",
            time_column="requested_at",
            key=None,
            schema=pa.schema(
                [
                    pa.field("venue", pa.string(), nullable=False),
                    pa.field("endpoint", pa.string(), nullable=False),
                    pa.field("method", pa.string(), nullable=False),
                    pa.field("requested_at", TS, nullable=False),
                    pa.field("status", pa.int32()),
                    pa.field("latency_ms", pa.float64(), nullable=False),
                    pa.field("attempt", pa.int32(), nullable=False),
                    pa.field("ok", pa.bool_(), nullable=False),
                    pa.field("error", pa.string()),
                    pa.field("run_id", pa.string()),
                ]
            ),
        ),
        # what each ingest run made of each day it was asked for: a log, one file per (run, dataset), never rewritten.
        # The latest outcome per day says whether the lake's copy of that day is current (marts.input_freshness).
        LakeDataset(
            "ingest_outcomes",
            time_column="attempted_at",
            key=("venue", "dataset", "run_id", "day"),
            schema=pa.schema(
                [
                    pa.field("venue", pa.string(), nullable=False),
                    pa.field("dataset", pa.string(), nullable=False),
                    pa.field("day", TS, nullable=False),  # the partition asked for, 00:00 UTC
                    pa.field("run_id", pa.string(), nullable=False),
                    pa.field("attempted_at", TS, nullable=False),  # wall clock
                    # ok | beyond_retention | not_recordable | kept | failed | not_attempted (an earlier day failed)
                    pa.field("outcome", pa.string(), nullable=False),
                    pa.field("rows", pa.int64()),
                    pa.field("error", pa.string()),
                ]
            ),
        ),
    ]
}

# ETF flows loaded by hand from the CSV drop folder (pipelines/etf_import.py, source 'csv'): Farside's schema, in
# their own dataset so the page ingest and the import never write one file; stg_farside__etf_flows unions the two
DATASETS["etf_flows_csv"] = replace(DATASETS["etf_flows"], name="etf_flows_csv")

# The views the rest of the code reads
SCHEMAS: dict[str, pa.Schema] = {name: d.schema for name, d in DATASETS.items()}
TIME_COLUMN: dict[str, str] = {name: d.time_column for name, d in DATASETS.items()}
# Columns that identify a row; a partition must never repeat them.
KEY_COLUMNS: dict[str, tuple[str, ...]] = {name: d.key for name, d in DATASETS.items() if d.key is not None}

STATUS_KEY = b"levwatch.status"  # parquet key-value metadata: ok | beyond_retention | not_listed
# JSON [[start_ms, end_ms], ...]: the parts of the day the venue could serve when the file was written (and, for
# datasets that accumulate, when earlier runs wrote it); absent on files written before it existed
OBSERVED_KEY = b"levwatch.observed_ms"
# JSON [{run_id, fetched_at_ms, observed_ms, holds_ms, rows}, ...], oldest first: the runs whose rows the file
# holds (see pipelines/lib/partition_merge.py); absent on files written before it existed
RUNS_KEY = b"levwatch.runs"
LOCKS_DIR = ".locks"  # under the lake root: dot-named, so no dataset glob sees it


def _sort_keys(dataset: str) -> list[tuple[str, str]]:
    """By time, then by key: the same rows always make the same file, whatever order they arrived in."""
    columns = [TIME_COLUMN[dataset], *KEY_COLUMNS.get(dataset, ())]
    return [(c, "ascending") for c in dict.fromkeys(columns)]


class LakeError(RuntimeError):
    pass


class ObjectPath:
    """An object (or prefix) in an S3 bucket, with the few Path manners the lake's callers use: `/`, name,
    parent, exists, glob. os.fspath gives its s3:// URL, which pyarrow (pq.read_table, read_schema) opens through
    its own S3 filesystem; credentials and AWS_ENDPOINT_URL come from the standard AWS environment."""

    def __init__(self, bucket: str, key: str = "") -> None:
        self.bucket, self.key = bucket, key.strip("/")

    def __truediv__(self, part: str) -> ObjectPath:
        return ObjectPath(self.bucket, f"{self.key}/{part}" if self.key else str(part))

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    __fspath__ = __str__

    def __repr__(self) -> str:
        return f"ObjectPath({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ObjectPath) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    @property
    def name(self) -> str:
        return PurePosixPath(self.key).name

    @property
    def parent(self) -> ObjectPath:
        return ObjectPath(self.bucket, str(PurePosixPath(self.key).parent).removeprefix("."))

    @property
    def fs_path(self) -> str:
        return f"{self.bucket}/{self.key}"

    def exists(self) -> bool:
        return s3_filesystem().get_file_info(self.fs_path).type != pafs.FileType.NotFound

    def glob(self, pattern: str) -> list[ObjectPath]:
        """Objects under this prefix whose relative key matches `pattern` (fnmatch per path part, like Path)."""
        selector = pafs.FileSelector(self.fs_path, allow_not_found=True, recursive=True)
        found = []
        for info in s3_filesystem().get_file_info(selector):
            rel = PurePosixPath(info.path[len(self.fs_path) + 1 :])
            if (
                info.type == pafs.FileType.File
                and rel.match(pattern)
                and len(rel.parts) == pattern.count("/") + 1
            ):
                found.append(ObjectPath(self.bucket, f"{self.key}/{rel}"))
        return sorted(found, key=str)


def s3_filesystem() -> pafs.S3FileSystem:
    """pyarrow's S3 client, configured by the standard AWS environment (AWS_ENDPOINT_URL for a non-AWS store)."""
    fs, _ = pafs.FileSystem.from_uri("s3://levwatch-probe/")
    return fs


def lake_root(url: str) -> Path | ObjectPath:
    """LEVWATCH_LAKE_URL -> where the lake lives: a local folder (file://… or a plain path) or an S3 prefix."""
    if url.startswith("s3://"):
        bucket, _, key = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise LakeError(f"LEVWATCH_LAKE_URL {url!r} names no bucket (s3://bucket/prefix)")
        return ObjectPath(bucket, key)
    return Path(url.removeprefix("file://"))


@dataclass(frozen=True)
class Lake:
    root: Path | ObjectPath
    file_mode: int | None = None  # None: LEVWATCH_FILE_MODE (default 0640)
    # an object store has no file locks: its writers serialize on lock files in this local folder (one machine)
    lock_dir: Path | None = None

    @classmethod
    def at(cls, url: str | None, *, home: Path, file_mode: int | None = None) -> Lake:
        """The lake at LEVWATCH_LAKE_URL, or (None) the home's own folder lake."""
        root = lake_root(url or f"file://{home / 'lake'}")
        locks = None if isinstance(root, Path) else home / "state" / "lake-locks"
        return cls(root, file_mode=file_mode, lock_dir=locks)

    def dataset_dir(self, venue: str, dataset: str) -> Path:
        _schema(dataset)
        return self.root / venue / dataset

    def partition_path(self, venue: str, dataset: str, day: date) -> Path:
        return self.dataset_dir(venue, dataset) / f"date={day.isoformat()}" / "data.parquet"

    def glob(self, venue: str, dataset: str) -> str:
        return str(self.dataset_dir(venue, dataset) / "date=*" / "data.parquet")

    def write_partition(
        self,
        venue: str,
        dataset: str,
        day: date,
        table: pa.Table,
        *,
        status: str = "ok",
        observed: list[tuple[int, int]] | None = None,
        runs: list[dict] | None = None,
    ) -> Path:
        """Replace one day's file atomically: temp file, fsync, rename. Readers see the old or the new file.
        A caller that merges with the day's earlier rows holds `dataset_lock` from its read to this write."""
        table = conform(dataset, table)
        _check_in_day(dataset, table, day)
        table = table.sort_by(_sort_keys(dataset))
        meta = dict(table.schema.metadata or {})
        meta[STATUS_KEY] = status.encode()
        if observed is not None:
            meta[OBSERVED_KEY] = json.dumps([[int(s), int(e)] for s, e in observed]).encode()
        if runs is not None:
            meta[RUNS_KEY] = json.dumps(runs, separators=(",", ":")).encode()
        table = table.replace_schema_metadata(meta)
        target = self.partition_path(venue, dataset, day)
        _atomic_write(table, target, mode=self.file_mode)
        return target

    @contextmanager
    def dataset_lock(self, venue: str, dataset: str, *, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
        """One writer at a time for a (venue, dataset): hold it around read-merge-write of a day, so two
        overlapping runs cannot both read the old file and each write back only its own rows."""
        self.dataset_dir(venue, dataset)  # names an unknown dataset before any lock file is made
        locks = self.root / LOCKS_DIR if self.lock_dir is None else self.lock_dir
        path = locks / venue / f"{dataset}.lock"
        with file_lock(path, timeout_s=timeout_s, what=f"{venue}/{dataset}"):
            yield

    def append_log(self, venue: str, dataset: str, day: date, table: pa.Table) -> Path:
        """Add rows to a day's log (api_health, ingest_outcomes): the day's one file is read, the rows added, and
        the whole replaced atomically under the dataset's lock, so readers see the log before or after the run's
        rows, never part of them, and a crash loses nothing written before. One file per day, not one per run:
        an hourly snapshot made 24 files a day per venue, and every read of the log (dbt's staging views, each of
        their tests) opened all of them (6,000 files for the demo's 91 days; the dbt nodes reading them took 28 of
        the build's 190 thread-seconds, 8 after). Files a run wrote before this (one per run) stay where they are
        and are read beside it."""
        table = conform(dataset, table)
        target = self.partition_path(venue, dataset, day)
        with self.dataset_lock(venue, dataset):
            if target.exists():
                table = pa.concat_tables([conform(dataset, pq.read_table(target)), table])
            _atomic_write(table.sort_by(_sort_keys(dataset)), target, mode=self.file_mode)
        return target

    def ensure_anchor(self, venue: str, dataset: str) -> None:
        path = self.partition_path(venue, dataset, ANCHOR_DAY)
        if not path.exists():
            _atomic_write(empty_table(dataset), path, mode=self.file_mode)

    def read_partition(self, venue: str, dataset: str, day: date) -> pa.Table:
        path = self.partition_path(venue, dataset, day)
        if not path.exists():
            raise LakeError(f"no partition {venue}/{dataset}/{day.isoformat()} at {path}")
        return pq.read_table(path)

    def partition_status(self, venue: str, dataset: str, day: date) -> str | None:
        path = self.partition_path(venue, dataset, day)
        if not path.exists():
            return None
        meta = pq.read_schema(path).metadata or {}
        return meta.get(STATUS_KEY, b"ok").decode()

    def partition_observed(self, venue: str, dataset: str, day: date) -> list[tuple[int, int]] | None:
        """The day's observed windows as written, or None when the file has none (or does not exist)."""
        path = self.partition_path(venue, dataset, day)
        if not path.exists():
            return None
        return observed_of(pq.read_schema(path).metadata)

    def partition_runs(self, venue: str, dataset: str, day: date) -> list[dict] | None:
        """The runs whose rows the day's file holds, oldest first; None when the file has no such record."""
        path = self.partition_path(venue, dataset, day)
        if not path.exists():
            return None
        return runs_of(pq.read_schema(path).metadata)


def status_of(meta: dict[bytes, bytes] | None) -> str:
    return (meta or {}).get(STATUS_KEY, b"ok").decode()


def observed_of(meta: dict[bytes, bytes] | None) -> list[tuple[int, int]] | None:
    raw = (meta or {}).get(OBSERVED_KEY)
    return None if raw is None else [(int(s), int(e)) for s, e in json.loads(raw)]


def runs_of(meta: dict[bytes, bytes] | None) -> list[dict] | None:
    raw = (meta or {}).get(RUNS_KEY)
    return None if raw is None else json.loads(raw)


def _schema(dataset: str) -> pa.Schema:
    try:
        return SCHEMAS[dataset]
    except KeyError:
        raise LakeError(f"unknown dataset {dataset!r}; known: {', '.join(SCHEMAS)}") from None


def empty_table(dataset: str) -> pa.Table:
    return _schema(dataset).empty_table()


def conform(dataset: str, table: pa.Table) -> pa.Table:
    """Cast to the dataset's explicit schema; fail loudly on missing columns or nulls in required ones."""
    schema = _schema(dataset)
    missing = [f.name for f in schema if f.name not in table.column_names]
    if missing:
        raise LakeError(f"{dataset}: missing columns {missing}")
    table = table.select(schema.names)
    for f in schema:  # before the cast, which would fail on these with a less helpful message
        if not f.nullable and table.column(f.name).null_count:
            raise LakeError(f"{dataset}: column {f.name!r} has nulls but is required")
    try:
        table = table.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise LakeError(f"{dataset}: rows do not fit the schema: {exc}") from exc
    return table


def _check_in_day(dataset: str, table: pa.Table, day: date) -> None:
    if table.num_rows == 0:
        return
    from pipelines.lib.timeutil import day_window_ms

    start, end = day_window_ms(day)
    ts = pc.cast(table.column(TIME_COLUMN[dataset]), pa.int64())
    lo, hi = pc.min(ts).as_py(), pc.max(ts).as_py()
    if lo < start or hi >= end:
        raise LakeError(f"{dataset}: rows outside partition {day.isoformat()} (times {lo}..{hi} ms)")
    keys = KEY_COLUMNS.get(dataset)
    if keys:
        distinct = table.group_by(list(keys)).aggregate([]).num_rows
        if distinct != table.num_rows:
            raise LakeError(
                f"{dataset}: {table.num_rows - distinct} duplicate rows on {keys} in {day.isoformat()}"
            )


def _atomic_write(table: pa.Table, target: Path | ObjectPath, *, mode: int | None = None) -> None:
    """Temp file, fsync, rename, fsync of the folder (pipelines/files.py); orphaned temp files are swept.
    An object is written by one PUT (a multipart upload completes as one): readers see the old or the new
    object, and a writer killed mid-upload leaves no object (the store drops the upload's parts)."""
    if isinstance(target, ObjectPath):
        buffer = pa.BufferOutputStream()  # the whole file first: an error while encoding uploads nothing
        pq.write_table(table, buffer, compression="zstd")
        with s3_filesystem().open_output_stream(target.fs_path) as out:
            out.write(buffer.getvalue())
        return
    atomic_write(target, lambda fh: pq.write_table(table, fh, compression="zstd"), mode=mode)
