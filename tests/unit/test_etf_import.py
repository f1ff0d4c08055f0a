"""The ETF CSV drop folder: validation that rejects a file whole, the merge into the lake, the real history."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from pipelines.etf_import import (
    EtfImportError,
    check_file,
    convert_btabiado,
    drop_folder,
    import_drop_folder,
    import_files,
)
from pipelines.lake import Lake
from pipelines.lib.timeutil import day_start_ms
from pipelines.venues.base import to_table

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BTC_HISTORY = FIXTURES / "etf" / "btc_flows_EXCERPT.csv"
ETH_HISTORY = FIXTURES / "etf" / "eth_flows_EXCERPT.csv"
BAD_PARSER_CSV = FIXTURES / "farside" / "farside_flows_raw_bad_parser_EXCERPT.csv"

GOOD = """Date,IBIT,FBTC,GBTC,Total
13 Nov 2025,(256.6),(119.9),(64.5),(441.0)
14 Nov 2025,"1,463.1",-,0.0,"1,463.1"
Total,"1,206.5",(119.9),(64.5),"1,022.1"
"""


def drop(home: Path, underlying: str, name: str, text: str) -> Path:
    path = drop_folder(home) / underlying / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def read_day(lake: Lake, day: date) -> dict[str, tuple]:
    table = lake.read_partition("farside", "etf_flows_csv", day)
    return {r["symbol"]: (r["flow_usd"], r["source"], r["issuer"]) for r in table.to_pylist()}


def test_a_good_file_lands_in_the_lake_in_usd(tmp_path):
    drop(tmp_path, "BTC", "export.csv", GOOD)
    lake = Lake(tmp_path / "lake")
    report = import_drop_folder(lake, tmp_path)
    assert report.rejected == [] and report.days_written == [date(2025, 11, 13), date(2025, 11, 14)]
    assert read_day(lake, date(2025, 11, 13)) == {
        "IBIT": (-256_600_000.0, "csv", "BlackRock"),
        "FBTC": (-119_900_000.0, "csv", "Fidelity"),
        "GBTC": (-64_500_000.0, "csv", "Grayscale"),
    }
    assert read_day(lake, date(2025, 11, 14))["FBTC"] == (None, "csv", "Fidelity")  # '-' stays no reading
    again = import_drop_folder(lake, tmp_path)  # re-import: same rows, no duplicates
    assert again.rows_written == report.rows_written == 6
    assert lake.read_partition("farside", "etf_flows_csv", date(2025, 11, 13)).num_rows == 3


@pytest.mark.parametrize(
    ("folder", "text", "message"),
    [
        ("XRP", GOOD, "folder 'XRP' is not an underlying"),
        ("BTC", GOOD.replace("FBTC", "FAKE"), r"line 1: 'FAKE' is not a BTC ETF"),
        ("ETH", GOOD, r"line 1: 'IBIT' is not a ETH ETF"),
        (
            "BTC",
            GOOD.replace("(119.9),(64.5),(441.0)", "(119.9),(64.5),(440.0)"),
            r"line 2: the Total .*differs",
        ),
        (
            "BTC",
            GOOD.replace("(119.9),(64.5),(441.0)", "(119.9),oops,(441.0)"),
            r"line 2 \(2025-11-13, GBTC\)",
        ),
        ("BTC", GOOD.replace("14 Nov 2025", "15 Nov 2025"), "line 3: 2025-11-15 is a weekend"),
        ("BTC", GOOD.replace("14 Nov 2025", "27 Nov 2025"), "line 3: 2025-11-27 is a US market holiday"),
        ("BTC", GOOD.replace("14 Nov 2025", "32 Nov 2025"), "line 3: '32 Nov 2025' is not a date"),
        ("BTC", GOOD.replace("14 Nov 2025", "14 Nov 2023"), "line 3: 2023-11-14 is before the first BTC ETF"),
        ("BTC", GOOD.replace(",Total\n", ",IBIT\n"), "line 1: a ticker repeats"),
        ("BTC", "", "the file is empty"),
    ],
)
def test_a_bad_file_is_rejected_whole_naming_file_and_line(tmp_path, folder, text, message):
    path = drop(tmp_path, folder, "bad.csv", text)
    with pytest.raises(EtfImportError, match=message) as exc:
        check_file(path)
    assert str(path) in str(exc.value)
    lake = Lake(tmp_path / "lake")
    report = import_files(lake, [path])
    assert len(report.rejected) == 1 and report.rows_written == 0
    assert not lake.dataset_dir(
        "farside", "etf_flows_csv"
    ).exists()  # nothing written, not even the good rows


def test_the_bad_parsers_csv_is_rejected_not_imported_with_its_outflows_missing(tmp_path):
    path = drop(tmp_path, "BTC", "bad_parser.csv", BAD_PARSER_CSV.read_text())
    with pytest.raises(EtfImportError, match=r"line 2 \(2024-01-11, GBTC\): '' is not a US\$m figure"):
        check_file(path)


def test_the_import_leaves_the_page_rows_alone_and_merges_with_its_earlier_imports(tmp_path):
    lake = Lake(tmp_path / "lake")
    day = date(2025, 11, 13)
    page_rows = [
        {
            "venue": "farside",
            "asset": "BTC",
            "symbol": symbol,
            "ts": day_start_ms(day),
            "flow_usd": flow,
            "issuer": None,
            "source": "html",
            "raw": "{}",
        }
        for symbol, flow in (("IBIT", -1.0), ("BITB", -47_000_000.0))
    ]
    page_path = lake.write_partition("farside", "etf_flows", day, to_table("etf_flows", page_rows))
    page_bytes = page_path.read_bytes()
    drop(tmp_path, "BTC", "a_ibit.csv", "Date,IBIT,Total\n13 Nov 2025,(256.6),(256.6)\n")
    import_drop_folder(lake, tmp_path, days=[day])
    (drop_folder(tmp_path) / "BTC" / "a_ibit.csv").unlink()
    drop(tmp_path, "BTC", "b_gbtc.csv", "Date,GBTC,Total\n13 Nov 2025,(64.5),(64.5)\n")
    import_drop_folder(lake, tmp_path, days=[day])
    # one writer per dataset: the page's file is untouched (staging prefers the CSV row, see its unit test)
    assert page_path.read_bytes() == page_bytes
    rows = read_day(lake, day)
    assert rows == {
        "IBIT": (-256_600_000.0, "csv", "BlackRock"),  # the earlier import's row stays
        "GBTC": (-64_500_000.0, "csv", "Grayscale"),
    }
    assert not lake.partition_path("farside", "etf_flows_csv", date(2025, 11, 14)).exists()


def test_the_real_history_gives_novembers_btc_net_flow(tmp_path):
    """btabiado's history, converted: November 2025 adds up to -3,466.7 US$m, 13 Nov to -866.7."""
    target = drop_folder(tmp_path) / "BTC" / "btc_flows.csv"
    kept = convert_btabiado(BTC_HISTORY, target, "BTC")
    with pytest.raises(EtfImportError, match="line 2: 2024-01-01 is before the first BTC ETF"):
        check_file(drop(tmp_path, "BTC", "unconverted.csv", BTC_HISTORY.read_text()))
    (drop_folder(tmp_path) / "BTC" / "unconverted.csv").unlink()
    lake = Lake(tmp_path / "lake")
    report = import_drop_folder(lake, tmp_path)
    assert report.rejected == [] and len(report.days_written) == kept == 55 - 2  # the bogus row, 15 Jan 2024
    november = [d for d in report.days_written if d.year == 2025 and d.month == 11]
    tables = [lake.read_partition("farside", "etf_flows_csv", d) for d in november]
    day_totals = {d: pc.sum(t["flow_usd"]).as_py() / 1e6 for d, t in zip(november, tables, strict=True)}
    assert round(day_totals[date(2025, 11, 13)], 1) == -866.7
    assert round(sum(day_totals.values()), 1) == -3466.7
    assert pc.sum(pa.concat_tables(tables)["flow_usd"]).as_py() == pytest.approx(-3_466_700_000.0, abs=1.0)


def test_the_eth_history_with_its_col11_total_imports(tmp_path):
    target = drop_folder(tmp_path) / "ETH" / "eth_flows.csv"
    convert_btabiado(ETH_HISTORY, target, "ETH")
    checked = check_file(target)
    assert checked.table.has_total and "ETHB" in checked.table.tickers
    first = checked.table.rows[0]
    assert first.day == date(2024, 7, 23) and first.flows["ETHE"] == -484.1 and first.total == 106.6
    # the unconverted file is accepted as it is: COL11 is read as the Total column
    assert check_file(drop(tmp_path, "ETH", "raw.csv", ETH_HISTORY.read_text())).table.has_total


def test_the_converter_is_a_levwatch_subcommand(tmp_path, capsys):
    from pipelines.cli import main

    target = drop_folder(tmp_path) / "BTC" / "history.csv"
    assert main(["etf", "convert-btabiado", str(BTC_HISTORY), "btc", str(target)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote 53 rows to {target}"  # 55 rows less the two dropped
    assert check_file(target).table.rows[0].day == date(2024, 1, 11)
    with pytest.raises(SystemExit) as exc:  # argparse names the bad choice and exits 2
        main(["etf", "convert-btabiado", str(BTC_HISTORY), "XRP", str(target)])
    assert exc.value.code == 2
