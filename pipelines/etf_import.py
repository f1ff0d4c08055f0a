"""The ETF-flow CSV drop folder -> the lake, for when Farside refuses the scraper (or to load an export by hand).

Folder: $LEVWATCH_HOME/drop/etf_flows/<BTC|ETH|SOL>/*.csv, one Farside-format table per file: a header row
`Date,<ticker>,...,Total`, then one row per US trading day, values in US$m. Farside's own cell formats are
accepted (`(95.1)`, `1,373.8` quoted, `-` for no reading, dates `11 Jan 2024`) and so are plain `-95.1` and ISO
dates. The Total header may be empty or a parser's `COL11`. Footer rows (Total, Average, Maximum, Minimum), a Fee
row, and holiday rows with '-' in every fund are skipped.

Validation rejects a file whole, with its name and line number: the folder must name a known underlying, every
ticker must be one of its funds (pipelines/lib/etf_tickers.py), dates must parse and fall on US trading days on
or after the underlying's first ETF, every cell must be a number or '-', and each day's Total must equal the sum
of its funds within 0.15 US$m. Good files are written with source='csv' into their own dataset,
lake/farside/etf_flows_csv (asset raw/farside/etf_flows_csv), one atomic file per day: the page ingest never writes
there, and stg_farside__etf_flows lets a CSV row replace the page's row with the same (underlying, ticker, day)
while the page's other rows stay. Files stay in the folder: re-importing rewrites the same rows.

`convert_btabiado` (`levwatch etf convert-btabiado`) turns the btabiado/alpine-data history (data/btc_flows.csv, data/eth_flows.csv) into this
format: it drops the rows dated before the first ETF traded (the file opens with a bogus 2024-01-01 row that
repeats 11 Jan 2024) and the all-zero rows on US market holidays (Farside's all-'-' rows, written as 0), and names
its Total column. That history wrote 0 where Farside shows '-', so those funds'
pre-launch days import as 0.0, not as no reading.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pyarrow as pa

from pipelines.lake import KEY_COLUMNS, Lake, conform
from pipelines.lib import etf_tickers
from pipelines.lib.farside import FOOTER_LABELS, FarsideParseError, FlowTable, Grid, parse_day, parse_grid
from pipelines.lib.timeutil import ms_to_day
from pipelines.lib.us_market_calendar import is_trading_day
from pipelines.venues.base import to_table
from pipelines.venues.farside import DATASET, VENUE, lake_rows

DROP_DIR = Path("drop") / "etf_flows"  # under $LEVWATCH_HOME
CSV_DATASET = "etf_flows_csv"  # lake/farside/etf_flows_csv: written by this import only
TOTAL_TOLERANCE_USD_M = 0.15  # Farside rounds each cell to 0.1: a few roundings apart, never more
SKIPPED_LABELS = FOOTER_LABELS | {"fee", ""}


class EtfImportError(ValueError):
    """A drop-folder file that cannot be imported; the message names the file and the line."""


@dataclass(frozen=True)
class CheckedFile:
    path: Path
    underlying: str
    table: FlowTable

    @property
    def days(self) -> list[date]:
        return [row.day for row in self.table.rows]


@dataclass
class ImportReport:
    files: list[Path] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # one message per file, naming it and the line
    rows_written: int = 0
    days_written: list[date] = field(default_factory=list)
    rows_outside_window: int = 0


def drop_folder(home: Path) -> Path:
    return home / DROP_DIR


def ensure_drop_folder(home: Path) -> Path:
    """Create the folder and one subfolder per underlying, so a user sees where files go."""
    root = drop_folder(home)
    for underlying in etf_tickers.UNDERLYINGS:
        (root / underlying).mkdir(parents=True, exist_ok=True)
    return root


def drop_files(home: Path) -> list[Path]:
    root = drop_folder(home)
    return sorted(p for p in root.glob("*/*") if p.is_file() and p.suffix.lower() == ".csv")


def csv_grid(text: str) -> Grid:
    reader = csv.reader(io.StringIO(text))
    grid: Grid = []
    line = 1
    for cells in reader:
        if any(c.strip() for c in cells):
            grid.append((line, [c.strip() for c in cells]))
        line = reader.line_num + 1
    return grid


def check_file(path: Path) -> CheckedFile:
    """Validate one drop-folder file; raise EtfImportError naming the file and the line of the first problem."""
    underlying = path.parent.name.upper()
    try:
        if underlying not in etf_tickers.UNDERLYINGS:
            raise EtfImportError(
                f"the folder {path.parent.name!r} is not an underlying; use one of "
                f"{', '.join(etf_tickers.UNDERLYINGS)}"
            )
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise EtfImportError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        grid = csv_grid(text)
        if not grid:
            raise EtfImportError("the file is empty")
        table = parse_grid(grid)
        _check_table(grid, table, underlying)
    except (EtfImportError, FarsideParseError) as exc:
        raise EtfImportError(f"{path}: {exc}") from None
    return CheckedFile(path, underlying, table)


def _check_table(grid: Grid, table: FlowTable, underlying: str) -> None:
    header_line = next(line for line, cells in grid if cells[0].strip().lower() == "date")
    for ticker in table.tickers:
        if not etf_tickers.is_known(underlying, ticker):
            known = ", ".join(f.ticker for f in etf_tickers.funds(underlying))
            raise EtfImportError(f"line {header_line}: {ticker!r} is not a {underlying} ETF; known: {known}")
    if not table.has_total:
        raise EtfImportError(f"line {header_line}: the last column must be the day's Total")
    for line, cells in grid:
        if (
            line > header_line
            and parse_day(cells[0]) is None
            and cells[0].strip().lower() not in SKIPPED_LABELS
        ):
            raise EtfImportError(
                f"line {line}: {cells[0]!r} is not a date (expected '11 Jan 2024' or 2024-01-11)"
            )
    first = etf_tickers.launch(underlying)
    for row in table.rows:
        if row.day < first:
            raise EtfImportError(
                f"line {row.line}: {row.day} is before the first {underlying} ETF traded ({first})"
            )
        if not is_trading_day(row.day):
            why = "a weekend" if row.day.weekday() >= 5 else "a US market holiday"
            raise EtfImportError(f"line {row.line}: {row.day} is {why}; ETFs have no flows then")
        if row.total is None:
            raise EtfImportError(f"line {row.line}: the Total is '-' but funds have figures")
        funds_sum = sum(v for v in row.flows.values() if v is not None)
        if abs(funds_sum - row.total) > TOTAL_TOLERANCE_USD_M + 1e-9:
            raise EtfImportError(
                f"line {row.line}: the Total {row.total:.1f} differs from the funds' sum {funds_sum:.1f} "
                f"by more than {TOTAL_TOLERANCE_USD_M} US$m"
            )


def import_files(lake: Lake, paths: Iterable[Path], days: Iterable[date] | None = None) -> ImportReport:
    """Validate every file, then write the good ones' rows for `days` (None: all). Bad files are reported."""
    report = ImportReport()
    wanted = None if days is None else set(days)
    checked: list[CheckedFile] = []
    for path in paths:
        try:
            checked.append(check_file(path))
        except EtfImportError as exc:
            report.rejected.append(str(exc))
    latest: dict[tuple, dict] = {}  # files come sorted by name: on the same fund-day, the later file wins
    for item in checked:
        for row in lake_rows(item.table, item.underlying, "csv", {"file": item.path.name}):
            latest[(row["asset"], row["symbol"], row["ts"])] = row
        report.files.append(item.path)
    by_day: dict[date, list[dict]] = {}
    for row in latest.values():
        day = ms_to_day(row["ts"])
        if wanted is not None and day not in wanted:
            report.rows_outside_window += 1
            continue
        by_day.setdefault(day, []).append(row)
    for day in sorted(by_day):
        report.rows_written += write_day(lake, day, to_table(DATASET, by_day[day]))
        report.days_written.append(day)
    return report


def write_day(lake: Lake, day: date, csv_rows: pa.Table) -> int:
    """Merge the CSV rows into the day's CSV partition (the newer row wins on the same key), atomically."""
    table = conform(CSV_DATASET, csv_rows)
    path = lake.partition_path(VENUE, CSV_DATASET, day)
    # two imports writing the same day must not lose either's rows (files imported for other days stay)
    with lake.dataset_lock(VENUE, CSV_DATASET):
        if path.exists():
            existing = conform(
                CSV_DATASET, lake.read_partition(VENUE, CSV_DATASET, day).replace_schema_metadata(None)
            )
            keys = KEY_COLUMNS[CSV_DATASET]
            fresh = set(zip(*(table[k].to_pylist() for k in keys), strict=True))
            keep = [row not in fresh for row in zip(*(existing[k].to_pylist() for k in keys), strict=True)]
            table = pa.concat_tables([existing.filter(pa.array(keep, pa.bool_())), table])
        lake.write_partition(VENUE, CSV_DATASET, day, table)
    return csv_rows.num_rows


def import_drop_folder(lake: Lake, home: Path, days: Iterable[date] | None = None) -> ImportReport:
    ensure_drop_folder(home)
    return import_files(lake, drop_files(home), days)


# -- the btabiado history -----------------------------------------------------------------------------------------


def convert_btabiado(source: Path, target: Path, underlying: str) -> int:
    """btabiado/alpine-data's btc_flows.csv / eth_flows.csv -> a drop-folder file. Returns the rows kept."""
    first = etf_tickers.launch(underlying)
    with source.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise EtfImportError(f"{source}: the file is empty")
    header = ["Date", *rows[0][1:-1], "Total"]
    kept = [
        r
        for r in rows[1:]
        if r
        and (day := parse_day(r[0])) is not None
        and day >= first
        and (is_trading_day(day) or any(_nonzero(c) for c in r[1:]))
    ]
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(kept)
    return len(kept)


def _nonzero(cell: str) -> bool:
    try:
        return float(cell) != 0.0
    except ValueError:
        return True  # not a number: keep the row, so the importer names it
