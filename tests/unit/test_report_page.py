"""The daily risk page on a small hand-made warehouse: headline numbers worked by hand, and each section whose mart
another module builds (cascades, collateral at risk, systemic risk, venue operations, insurance funds) rendered only
when its table exists, from a synthetic table with exactly that mart's columns."""

from __future__ import annotations

import re
from datetime import date

import duckdb
import pytest

from pipelines import report_queries as q
from pipelines.report_page import headline_markdown, render_page, usd, write_report

DAY = date(2025, 10, 10)

MAIN_MARTS = """
create schema marts;
create table marts.liquidations_daily as select * from (values
    ('binance', date '2025-10-10', 'BTC', 2.0e9, 0.2e9, 'sampled', 30),
    ('okx', date '2025-10-10', 'BTC', 1.0e9, 0.1e9, 'complete', 0),
    ('okx', date '2025-10-09', 'BTC', 5.0e9, 5.0e9, 'complete', 0)
) as t(venue, date, asset, long_usd, short_usd, coverage, gap_minutes);
create table marts.liquidations_hourly as select * from (values
    ('binance', 'BTC', timestamp '2025-10-10 21:00', 2.0e9, 0.2e9, 'sampled', 30),
    ('okx', 'BTC', timestamp '2025-10-10 21:00', 1.0e9, 0.1e9, 'complete', 0)
) as t(venue, asset, ts, long_usd, short_usd, coverage, gap_minutes);
-- OI: BTC 40bn -> 30bn reported by both days; ETH appears only on D (no change)
create table marts.leverage_daily as select * from (values
    (date '2025-10-09', 'BTC', 40.0e9, null, 120000.0),
    (date '2025-10-10', 'BTC', 30.0e9, -10.0e9, 110000.0),
    (date '2025-10-10', 'ETH', 5.0e9, null, 3800.0)
) as t(date, asset, oi_usd, oi_usd_change, close);
create table marts.fct_funding_rates as select * from (values
    ('binance', 'BTC', timestamp '2025-10-09 08:00', 0.0001),
    ('binance', 'BTC', timestamp '2025-10-10 08:00', -0.0002)
) as t(venue, asset, funding_time, funding_rate_8h);
"""

OPTIONAL_MARTS = {
    "liquidation_cascades": """
        create table marts.liquidation_cascades as select * from (values
            (7, timestamp '2025-10-10 20:50', timestamp '2025-10-10 22:05', 75.0, ['BTC', 'ETH'],
             ['binance', 'okx'], 2.9e9, 0.3e9, 3.2e9, 'long', timestamp '2025-10-10 21:14', 0.4e9, -14.2, -22.0,
             'okxlead', 42.0, false, false, true, 'complete')
        ) as t(episode_id, start_ts, end_ts, duration_minutes, assets, venues, long_usd, short_usd, total_usd,
               dominant_side, peak_minute, peak_minute_usd, price_change_pct, oi_change_pct, lead_venue,
               lead_seconds, api_outage_overlap, depeg_overlap, oracle_mark_deviation_overlap, coverage)
    """,
    "collateral_at_risk": """
        create table marts.collateral_at_risk as select * from (values
            (date '2025-10-10', 'BTC', -10.0, 1.0e9, 0.5e9, 1.5e9),
            (date '2025-10-10', 'BTC', -20.0, 3.0e9, 1.0e9, 4.0e9),
            (date '2025-10-10', 'ETH', -10.0, 0.2e9, 0.6e9, 0.8e9)
        ) as t(date, asset, shock_pct, cefi_liquidatable_usd, defi_liquidatable_usd, total_liquidatable_usd)
    """,
    "systemic_risk_daily": """
        create table marts.systemic_risk_daily as select * from (values
            (date '2025-10-08', null, null, null),  -- too little history: no index, left out of the chart
            (date '2025-10-09', 41.0, 'funding', 'leverage'),
            (date '2025-10-10', 87.5, 'liquidations_riskdriver', 'deleveraging')
        ) as t(date, risk_index, driver, driver_category)
    """,
    "venue_operational_risk": """
        create table marts.venue_operational_risk as select * from (values
            ('bybit', timestamp '2025-10-10 21:00', 100, 0.4, 900.0, 37.0, 3.0),
            ('okx', timestamp '2025-10-10 21:00', 80, 0.0, 200.0, 0.0, 0.0)
        ) as t(venue, ts, request_count, error_rate, p95_latency_ms, outage_minutes, recorder_gap_minutes)
    """,
    "insurance_funds_daily": """
        create table marts.insurance_funds_daily as select * from (values
            (date '2025-10-09', 'binance', 'USDT', 1.20e9, 0.0, 0.0),
            (date '2025-10-10', 'binance', 'USDT', 1.15e9, -0.05e9, -4.2)
        ) as t(date, venue, currency, balance_usd, change_usd, drawdown_from_30d_high_pct)
    """,
}
SECTION_OF = {
    "liquidation_cascades": "cascades",
    "collateral_at_risk": "collateral",
    "systemic_risk_daily": "systemic",
    "venue_operational_risk": "operations",
    "insurance_funds_daily": "insurance",
}
# something each section prints that only its synthetic table holds
EVIDENCE = {
    "liquidation_cascades": "okxlead",
    "collateral_at_risk": 'id="chart-collateral"',
    "systemic_risk_daily": "liquidations_riskdriver",
    "venue_operational_risk": "<td>37</td>",
    "insurance_funds_daily": "US$1.1bn",  # 1.15bn, one decimal
}


@pytest.fixture()
def warehouse(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute(MAIN_MARTS)
    yield con
    con.close()


def test_headline_numbers_worked_by_hand(warehouse):
    h = q.headline(warehouse, DAY)
    assert h.liq_long_usd == pytest.approx(3.0e9)
    assert h.liq_short_usd == pytest.approx(0.3e9)
    assert h.liq_imbalance_pct == pytest.approx(1000.0)  # 100 x 3.0 / 0.3
    assert h.liq_dominant_side == "long"
    assert h.oi_change_usd == pytest.approx(-10.0e9)
    # ETH reported only on D: its OI is in today's total but not in yesterday's, so the base is 35 - (-10) = 45
    assert h.oi_change_pct == pytest.approx(-10 / 45 * 100)
    assert h.risk_index is None  # no systemic-risk mart here


def test_page_without_the_newer_marts_leaves_their_sections_out(warehouse):
    page, _ = render_page(warehouse, DAY, source="test")
    for section in SECTION_OF.values():
        assert f'id="{section}"' not in page
    assert 'id="chart-liquidations-hourly"' in page and 'id="chart-oi-price"' in page
    assert "US$3.0bn" in page and "1,000%" in page
    # self-contained: no script, no stylesheet or font link, nothing fetched by URL
    assert not re.search(r"<script|<link|@import|data:|url\((?!#)|(src|href)\s*=\s*\"(https?:|//)", page)


@pytest.mark.parametrize("mart", sorted(OPTIONAL_MARTS))
def test_each_newer_mart_renders_its_section_once_its_table_exists(warehouse, mart):
    assert not q.has_table(warehouse, "marts", mart)
    warehouse.execute(OPTIONAL_MARTS[mart])
    assert q.has_table(warehouse, "marts", mart)
    page, _ = render_page(warehouse, DAY, source="test")
    assert f'<section id="{SECTION_OF[mart]}">' in page
    assert EVIDENCE[mart] in page
    others = set(SECTION_OF.values()) - {SECTION_OF[mart]}
    assert not any(f'<section id="{s}">' in page for s in others)


def test_systemic_risk_headline_reads_the_day_row(warehouse):
    warehouse.execute(OPTIONAL_MARTS["systemic_risk_daily"])
    h = q.headline(warehouse, DAY)
    assert (h.risk_index, h.risk_driver, h.risk_driver_category) == (
        87.5,
        "liquidations_riskdriver",
        "deleveraging",
    )
    assert "| systemic risk | 87.5 (liquidations_riskdriver) |" in headline_markdown(DAY, h)


def test_write_report_names_the_page_by_day_and_indexes_newest_first(warehouse, tmp_path):
    out = tmp_path / "reports"
    first, _ = write_report(warehouse, date(2025, 10, 9), out, source="test")
    second, head = write_report(warehouse, DAY, out, source="test")
    assert (first.name, second.name) == ("2025-10-09.html", "2025-10-10.html")
    index = (out / "index.html").read_text()
    assert re.findall(r'href="([^"]+)"', index) == ["2025-10-10.html", "2025-10-09.html"]
    assert head.liq_long_usd == pytest.approx(3.0e9)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp file left


def test_latest_complete_day_skips_today():
    con = duckdb.connect()
    con.execute(MAIN_MARTS)
    assert q.latest_complete_day(con, date(2025, 10, 10)) == date(2025, 10, 9)
    assert q.latest_complete_day(con, date(2025, 10, 11)) == DAY


@pytest.mark.parametrize(
    ("value", "text"),
    [(17.1e9, "US$17.1bn"), (-196.04e6, "-US$196.0M"), (3200, "US$3.2K"), (12, "US$12"), (None, "n/a")],
)
def test_usd_units(value, text):
    assert usd(value) == text


def test_levwatch_report_prints_the_path_alone(tmp_path, monkeypatch, capsys):
    from pipelines.cli import main
    from pipelines.warehouse import published_path

    with duckdb.connect(str(published_path(tmp_path))) as con:
        con.execute(MAIN_MARTS)
    monkeypatch.setenv("LEVWATCH_HOME", str(tmp_path))
    assert main(["report"]) == 0  # the latest complete day the warehouse holds
    assert capsys.readouterr().out == f"{tmp_path / 'reports' / '2025-10-10.html'}\n"
    assert main(["report", "--date", "2025-10-09", "--out", str(tmp_path / "elsewhere")]) == 0
    assert capsys.readouterr().out == f"{tmp_path / 'elsewhere' / '2025-10-09.html'}\n"
    assert sorted(p.name for p in (tmp_path / "elsewhere").iterdir()) == ["2025-10-09.html", "index.html"]
