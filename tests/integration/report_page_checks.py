"""The crash-day risk page on the liquidation marts' warehouse (test_liquidation_marts.py imports these, so the session liquidation
warehouse serves both): the headline numbers against direct SQL on the marts, and the page in headless Chromium."""

from __future__ import annotations

import io
import re
from datetime import date

import duckdb
import pytest
from PIL import Image

from pipelines.report_page import write_report
from tests.chromium import Browser

CRASH_DAY_ISO = "2025-10-10"

DIRECT_SQL = {
    "liq_long_usd": "select sum(long_usd) from marts.liquidations_daily where date = ?",
    "liq_short_usd": "select sum(short_usd) from marts.liquidations_daily where date = ?",
    "oi_change_usd": "select sum(oi_usd_change) from marts.leverage_daily where date = ?",
}
UNITS = {"bn": 1e9, "M": 1e6, "K": 1e3, "": 1.0}

# what the page shows, laid out: every chart's drawn box and every headline figure's text
LAYOUT = """JSON.stringify({
  text: document.body.innerText,
  charts: [...document.querySelectorAll('figure.chart')].map(f => {
    const r = f.querySelector('svg').getBoundingClientRect();
    return {id: f.id, x: r.x + scrollX, y: r.y + scrollY, w: r.width, h: r.height};
  }),
  figures: [...document.querySelectorAll('.value[data-key]')].map(e => {
    const r = e.getBoundingClientRect();
    return {key: e.dataset.key, value: e.dataset.value, text: e.innerText, w: r.width, h: r.height};
  }),
})"""


def parse_usd(text: str) -> float:
    """'-US$1.2bn' -> -1.2e9: the figure as a reader reads it."""
    match = re.fullmatch(r"(-?)US\$([\d,.]+)(bn|M|K|)", text.strip())
    assert match, f"not a US$ figure: {text!r}"
    sign = -1 if match[1] else 1
    return sign * float(match[2].replace(",", "")) * UNITS[match[3]]


@pytest.fixture(scope="module")
def crash_day_page(liquidation_warehouse, tmp_path_factory):
    """The page, written from its own read-only connection to the module's warehouse file."""
    out = tmp_path_factory.mktemp("reports")
    db = liquidation_warehouse.execute(
        "select path from duckdb_databases() where database_name = 'levwatch'"
    ).fetchone()[0]
    with duckdb.connect(db, read_only=True) as con:
        path, _ = write_report(con, date.fromisoformat(CRASH_DAY_ISO), out, source="test")
        direct = {key: con.execute(sql, [CRASH_DAY_ISO]).fetchone()[0] for key, sql in DIRECT_SQL.items()}
    return path, direct


def test_report_headline_numbers_match_direct_sql_on_the_marts(crash_day_page):
    path, direct = crash_day_page
    page = path.read_text()
    assert direct["liq_long_usd"] > direct["liq_short_usd"] > 0, "the crash day liquidates mostly longs"
    assert direct["oi_change_usd"] < 0, "open interest falls on the crash day"
    for key, want in direct.items():
        match = re.search(rf'data-key="{key}" data-value="([^"]*)">([^<]*)<', page)
        assert match, key
        assert float(match[1]) == pytest.approx(want, rel=1e-9), key
        shown = parse_usd(match[2])
        assert shown == pytest.approx(want, rel=0.051, abs=0.05e6), (key, match[2])
    imbalance = re.search(r'data-key="liq_imbalance_pct" data-value="([^"]*)"', page)[1]
    assert float(imbalance) == pytest.approx(100 * direct["liq_long_usd"] / direct["liq_short_usd"])
    assert 2_000_000 > path.stat().st_size > 10_000  # self-contained, yet a few hundred kB at most


def test_crash_day_page_in_headless_chromium(crash_day_page, tmp_path):
    path, direct = crash_day_page
    with Browser(tmp_path / "profile") as browser:
        load = browser.load(path, LAYOUT)
    (tmp_path / "crash-day.png").write_bytes(load.png)
    assert load.console_errors == []
    assert load.requests == [load.url], "the page asked for something besides itself"

    layout = load.evaluated
    image = Image.open(io.BytesIO(load.png)).convert("RGB")
    assert {c["id"] for c in layout["charts"]} >= {"chart-liquidations-hourly", "chart-oi-price"}
    for chart in layout["charts"]:
        assert chart["w"] > 200 and chart["h"] > 100, chart
        box = image.crop(
            (int(chart["x"]), int(chart["y"]), int(chart["x"] + chart["w"]), int(chart["y"] + chart["h"]))
        )
        pixels = list(box.getdata())
        inked = sum(1 for p in pixels if min(p) < 200) / len(pixels)
        colours = len({(r // 32, g // 32, b // 32) for r, g, b in pixels})
        assert inked > 0.01 and colours >= 3, (
            f"{chart['id']} looks blank ({inked:.3%} inked, {colours} colours)"
        )

    shown = {f["key"]: f for f in layout["figures"]}
    for key, want in direct.items():
        figure = shown[key]
        assert figure["w"] > 0 and figure["h"] > 0 and figure["text"] in layout["text"], key
        assert parse_usd(figure["text"]) == pytest.approx(want, rel=0.051, abs=0.05e6), key
