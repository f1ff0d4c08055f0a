"""Farside Investors' ETF flow tables -> rows of (day, ticker, US$m or None). Pure: text in, rows out.

Farside's format (https://farside.co.uk/bitcoin-etf-flow-all-data/ and the ETH and SOL pages):
- values are US$ millions; outflows are parenthesised, `(95.1)` = -95.1; thousands separators, `1,373.8`;
- `-` (or an en dash) means no reading and becomes None, never 0; `0.0` is a real zero;
- dates read `11 Jan 2024`; the last column is the day's Total, whose header cell is empty on the ETH page;
- footer rows (Total, Average, Maximum, Minimum) and issuer or fee rows above the data are not data; a holiday
  row has `-` in every fund's cell and is dropped; a new fund is a new column.

Two inputs share one grid parser: the page's HTML (`<table class="etf">`) and a text capture of it, where cells
are separated by tabs and rows by blank lines (tests/fixtures/farside/farside_flows_raw.html). CSV exports
reuse `parse_grid` with their own line numbers (pipelines/etf_import.py), and also accept plain `-95.1` and ISO
dates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from html.parser import HTMLParser

NO_READING = frozenset({"-", "\u2013", "\u2014"})  # hyphen, en dash, em dash
FOOTER_LABELS = frozenset({"total", "average", "maximum", "minimum"})
HEADER_SEARCH_ROWS = 6  # issuer and fee rows may sit above the ticker row
# Tickers that identify each page's header row (the page may add funds, never drop these)
REQUIRED_TICKERS = {"BTC": ("IBIT", "FBTC", "GBTC"), "ETH": ("ETHA", "FETH", "ETHE"), "SOL": ("BSOL",)}
_NUMBER = re.compile(r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
_TOTAL_HEADER = re.compile(
    r"(?:total|col\d+)?", re.IGNORECASE
)  # '' on the ETH page; COL11 from naive parsers

Grid = list[tuple[int, list[str]]]
"""Table rows as (line number in the source, cell texts)."""


class FarsideParseError(ValueError):
    """The table is not in Farside's format; the message names the line and cell."""


@dataclass(frozen=True)
class FlowRow:
    day: date
    line: int  # where the row starts in the source
    flows: dict[str, float | None]  # ticker -> US$m, in column order; None = no reading
    cells: dict[str, str]  # ticker -> the cell as written
    total: float | None  # the page's own Total for the day, US$m (None: no total column or '-')


@dataclass(frozen=True)
class FlowTable:
    tickers: tuple[str, ...]
    has_total: bool
    rows: tuple[FlowRow, ...]
    holidays: tuple[date, ...]  # rows dropped because every fund cell was '-'

    def records(self) -> list[tuple[date, str, float | None]]:
        return [(row.day, ticker, flow) for row in self.rows for ticker, flow in row.flows.items()]


def parse_flow(cell: str) -> float | None:
    """One cell in US$m: '(1,113.7)' -> -1113.7, '-' -> None, '0.0' -> 0.0. Raises ValueError otherwise."""
    text = cell.strip().replace("\u2212", "-")  # a typographic minus
    if text in NO_READING:
        return None
    negative = False
    if text.startswith("(") and text.endswith(")"):
        negative, text = True, text[1:-1].strip()
    elif text.startswith("-"):
        negative, text = True, text[1:].strip()
    if not _NUMBER.fullmatch(text):
        raise ValueError(f"not a US$m figure: {cell!r}")
    value = float(text.replace(",", ""))
    return -value if negative else value


def parse_day(cell: str) -> date | None:
    """'11 Jan 2024' (Farside) or '2024-01-11' (exports); None when the cell is not a date."""
    text = " ".join(cell.split())
    for fmt in ("%d %b %Y", "%Y-%m-%d", "%d %B %Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def parse_page(page: str, underlying: str) -> FlowTable:
    """A Farside page (HTML, or the text capture) for BTC, ETH or SOL."""
    if re.search(r"<table\b", page, re.IGNORECASE):
        tables = grids_from_html(page)
        if not tables:
            raise FarsideParseError('no <table class="etf"> in the page')
        errors = []
        for grid in tables:
            try:
                return parse_grid(grid, REQUIRED_TICKERS[underlying])
            except FarsideParseError as exc:
                errors.append(str(exc))
        raise FarsideParseError("no ETF table with the expected header: " + "; ".join(errors))
    return parse_grid(grid_from_text(page), REQUIRED_TICKERS[underlying])


def parse_grid(grid: Grid, required: tuple[str, ...] = ()) -> FlowTable:
    header_at = _find_header(grid, required)
    header_line, header = grid[header_at]
    tickers, has_total = _columns(header, header_line)
    width = len(tickers) + 1 + has_total
    rows: list[FlowRow] = []
    holidays: list[date] = []
    seen: dict[date, int] = {}
    for line, cells in grid[header_at + 1 :]:
        day = parse_day(cells[0]) if cells else None
        if day is None:
            continue  # footer, fee or issuer rows, page text around the table
        if len(cells) != width:
            raise FarsideParseError(f"line {line} ({cells[0]}): {len(cells)} cells, the header has {width}")
        if day in seen:
            raise FarsideParseError(f"line {line}: {day} repeats the row of line {seen[day]}")
        seen[day] = line
        cells = [c.strip() for c in cells]
        flows = {t: _flow(c, line, day, t) for t, c in zip(tickers, cells[1 : 1 + len(tickers)], strict=True)}
        total = _flow(cells[-1], line, day, "Total") if has_total else None
        if all(v is None for v in flows.values()):
            holidays.append(day)
            continue
        rows.append(FlowRow(day, line, flows, dict(zip(tickers, cells[1:], strict=False)), total))
    return FlowTable(tuple(tickers), has_total, tuple(rows), tuple(holidays))


def _flow(cell: str, line: int, day: date, column: str) -> float | None:
    try:
        return parse_flow(cell)
    except ValueError:
        raise FarsideParseError(f"line {line} ({day}, {column}): {cell!r} is not a US$m figure") from None


def _find_header(grid: Grid, required: tuple[str, ...]) -> int:
    for i, (_, cells) in enumerate(grid[:HEADER_SEARCH_ROWS]):
        names = {c.strip().upper() for c in cells[1:]}
        if required and set(required) <= names:
            return i
        if not required and cells and cells[0].strip().lower() == "date":
            return i
    want = ", ".join(required) if required else "a 'Date' cell"
    raise FarsideParseError(f"no header row with {want} in the first {HEADER_SEARCH_ROWS} table rows")


def _columns(header: list[str], line: int) -> tuple[list[str], bool]:
    names = [c.strip() for c in header[1:]]
    has_total = bool(names) and _TOTAL_HEADER.fullmatch(names[-1]) is not None
    tickers = names[:-1] if has_total else names
    for position, name in enumerate(tickers, start=2):
        if not name:
            raise FarsideParseError(f"line {line}: header column {position} has no ticker")
    upper = [t.upper() for t in tickers]
    if len(set(upper)) != len(upper):
        raise FarsideParseError(f"line {line}: a ticker repeats in the header {tickers}")
    return upper, has_total


# -- inputs -------------------------------------------------------------------------------------------------------


def grid_from_text(text: str) -> Grid:
    """The text capture: rows are blocks between empty lines, cells are separated by tabs.

    Lines before a block's first tab are page text (menus, the title), not cells.
    """
    grid: Grid = []
    line = 1
    parts = re.split(r"(\n(?:[ \r]*\n)+)", text)
    for i, block in enumerate(parts):
        if i % 2:  # a separator (empty lines): count its lines
            line += block.count("\n")
            continue
        start = line
        line += block.count("\n")
        if "\t" not in block:
            continue
        lines = block.split("\n")
        first = next(i for i, text_line in enumerate(lines) if "\t" in text_line)
        cells = "\n".join(lines[first:]).split("\t")
        cells[-1] = cells[-1].strip().split("\n")[0]  # trailing page text after the last cell
        grid.append((start + first, [c.strip() for c in cells]))
    return grid


class _EtfTables(HTMLParser):
    """Cell texts of every <table> whose class includes 'etf', row by row, with the source line of each row."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[Grid] = []
        self._depth = 0  # nesting inside an etf table
        self._row: list[str] | None = None
        self._row_line = 0
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            classes = (dict(attrs).get("class") or "").split()
            if self._depth or "etf" in classes:
                self._depth += 1
                if self._depth == 1:
                    self.tables.append([])
            return
        if not self._depth:
            return
        if tag == "tr":
            self._row, self._row_line = [], self.getpos()[0]
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag):
        if not self._depth:
            return
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row:
                self.tables[-1].append((self._row_line, self._row))
            self._row = None
        elif tag == "table":
            self._depth -= 1

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def grids_from_html(html: str) -> list[Grid]:
    parser = _EtfTables()
    parser.feed(html)
    parser.close()
    return [grid for grid in parser.tables if grid]
