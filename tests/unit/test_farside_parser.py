"""The Farside parser on the real page capture and on hand-written HTML in the page's format."""

from __future__ import annotations

import csv
import re
from datetime import date
from pathlib import Path

import pytest

from pipelines.lib.farside import FarsideParseError, grid_from_text, parse_flow, parse_grid, parse_page
from pipelines.lib.us_market_calendar import trading_days

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "farside"
CAPTURE = (FIXTURES / "farside_flows_raw.html").read_text()
BAD_PARSER_CSV = FIXTURES / "farside_flows_raw_bad_parser_EXCERPT.csv"


@pytest.fixture(scope="module")
def capture():
    return parse_page(CAPTURE, "BTC")


def flows_on(table, day):
    return next(row for row in table.rows if row.day == day)


@pytest.mark.parametrize(
    ("cell", "value"),
    [
        ("(95.1)", -95.1),
        ("(1,113.7)", -1113.7),
        ("1,373.8", 1373.8),
        ("0.0", 0.0),
        ("-", None),
        ("\u2013", None),
        ("-95.1", -95.1),
        (" 12 ", 12.0),
    ],
)
def test_cells(cell, value):
    assert parse_flow(cell) == value


@pytest.mark.parametrize("cell", ["", "abc", "(95.1", "1,37.8", "12%", "--"])
def test_bad_cells_are_refused(cell):
    with pytest.raises(ValueError):
        parse_flow(cell)


def test_the_capture_has_a_row_for_every_us_trading_day_and_drops_holidays(capture):
    assert capture.tickers == (
        "IBIT",
        "FBTC",
        "BITB",
        "ARKB",
        "BTCO",
        "EZBC",
        "BRRR",
        "HODL",
        "BTCW",
        "GBTC",
        "BTC",
    )
    assert [row.day for row in capture.rows] == trading_days(date(2024, 1, 11), date(2025, 12, 2))
    assert date(2024, 1, 15) in capture.holidays and date(2025, 1, 9) in capture.holidays
    assert len(capture.holidays) == 16


def test_every_outflow_in_the_capture_survives(capture):
    # every parenthesised figure between the header and the footer is a data cell
    body = CAPTURE[CAPTURE.index("11 Jan 2024") : CAPTURE.index("\nTotal\t")]
    parenthesised = len(re.findall(r"\(\d[\d,]*\.\d\)", body))
    negatives = [r for r in capture.records() if r[2] is not None and r[2] < 0]
    assert parenthesised > 1000 and len(negatives) == parenthesised - sum(
        row.total is not None and row.total < 0 for row in capture.rows
    )


def test_outflows_the_bad_parser_dropped_are_negative_here(capture):
    """farside_flows_raw.csv left every parenthesised cell empty; each of those is a negative number here."""
    checked = 0
    with BAD_PARSER_CSV.open() as fh:
        for bad in csv.DictReader(fh):
            day = date.fromisoformat(bad["date"])
            if day in capture.holidays:
                continue
            row = flows_on(capture, day)
            for ticker, flow in row.flows.items():
                if bad[ticker] == "" and row.cells[ticker] != "-":
                    assert flow is not None and flow < 0, (day, ticker)
                    checked += 1
                elif bad[ticker] != "":
                    assert flow == float(bad[ticker]), (day, ticker)
    assert checked > 50


def test_specific_values(capture):
    first = flows_on(capture, date(2024, 1, 11))
    assert first.flows["GBTC"] == -95.1 and first.flows["IBIT"] == 111.7
    assert first.flows["BTC"] is None  # the Mini Trust had not launched: no reading, not 0
    assert first.total == 655.3
    crash = flows_on(capture, date(2025, 11, 13))
    assert crash.flows["IBIT"] == -256.6 and crash.flows["BTC"] == -318.2 and crash.total == -866.7
    assert crash.flows["BRRR"] == 0.0
    assert max(row.total for row in capture.rows) == 1373.8
    assert min(row.total for row in capture.rows) == -1113.7


def test_totals_equal_the_sum_of_the_funds(capture):
    for row in capture.rows:
        assert row.total == pytest.approx(sum(v for v in row.flows.values() if v is not None), abs=0.05), (
            row.day
        )


def test_footer_rows_are_not_data(capture):
    assert all(isinstance(row.day, date) for row in capture.rows)
    assert capture.rows[-1].day == date(2025, 12, 2)


HTML = """<html><body><table class="menu"><tr><td>11 Jan 2024</td><td>9</td></tr></table>
<table class="etf">
<tr><th></th><th>Blackrock</th><th>Fidelity</th><th>Grayscale</th><th>Newco</th><th></th></tr>
<tr><th><span class="tabletext">Date</span></th><th>ETHA</th><th>FETH</th><th>ETHE</th><th>NEWX</th><th></th></tr>
<tr><td>Fee</td><td>0.25%</td><td>0.25%</td><td>2.50%</td><td>0.20%</td><td></td></tr>
<tr><td><span class="tabletext">23 Jul 2024</span></td><td>266.5</td><td>71.3</td>
    <td><span class="redFont">(484.1)</span></td><td>&#8211;</td><td>(146.3)</td></tr>
<tr><td>24 Jul 2024</td><td>1,017.4</td><td>0.0</td><td>(326.9)</td><td>-</td><td>690.5</td></tr>
<tr><td>25 Jul 2024</td><td>-</td><td>-</td><td>-</td><td>-</td><td>0.0</td></tr>
<tr><td>Total</td><td>1,283.9</td><td>71.3</td><td>(811.0)</td><td>-</td><td>544.2</td></tr>
<tr><td>Minimum</td><td>266.5</td><td>0.0</td><td>(484.1)</td><td>-</td><td>(146.3)</td></tr>
</table></body></html>"""


def test_html_table_with_issuer_and_fee_rows_an_empty_total_header_and_a_new_fund():
    table = parse_page(HTML, "ETH")
    assert table.tickers == ("ETHA", "FETH", "ETHE", "NEWX") and table.has_total
    assert [r.day for r in table.rows] == [date(2024, 7, 23), date(2024, 7, 24)]
    assert table.holidays == (date(2024, 7, 25),)
    first, second = table.rows
    assert first.flows == {"ETHA": 266.5, "FETH": 71.3, "ETHE": -484.1, "NEWX": None}
    assert first.total == -146.3 and first.cells["ETHE"] == "(484.1)"
    assert second.flows["ETHA"] == 1017.4 and second.flows["FETH"] == 0.0


def test_a_bad_cell_names_its_line_and_fund():
    broken = HTML.replace("<td>1,017.4</td>", "<td>n/a</td>")
    with pytest.raises(FarsideParseError, match=r"line 8 \(2024-07-24, ETHA\): 'n/a'"):
        parse_page(broken, "ETH")


def test_a_page_without_the_table_is_refused():
    with pytest.raises(FarsideParseError, match="etf"):
        parse_page("<html><body><table><tr><td>x</td></tr></table></body></html>", "BTC")
    with pytest.raises(FarsideParseError, match="IBIT, FBTC, GBTC"):
        parse_page("no table here\tat all", "BTC")


def test_a_row_with_missing_cells_is_an_error():
    grid = grid_from_text("Date\tIBIT\tFBTC\tGBTC\tTotal\n\n11 Jan 2024\t1.0\t2.0\t3.0\n")
    with pytest.raises(FarsideParseError, match="line 3 .*4 cells, the header has 5"):
        parse_grid(grid, ("IBIT",))
