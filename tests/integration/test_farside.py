"""Farside ETF flows end to end against the sandbox: the client, the bot-protection refusal, ingest of a window,
the CSV drop-folder asset and the freshness check, each compared with the sandbox's own flows."""

from __future__ import annotations

import csv
import dataclasses
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pytest
from dagster import AssetKey, AssetSelection, DagsterInstance, materialize

from pipelines.defs.etf.assets import etf_csv_import
from pipelines.defs.etf.checks import etf_freshness
from pipelines.defs.venues.assets import RAW_ASSETS
from pipelines.ingest import ingest_days
from pipelines.lake import Lake
from pipelines.lib.farside import parse_page
from pipelines.lib.raw_checks import run_checks
from pipelines.lib.timeutil import HOUR_MS, day_start_ms, day_window_ms, days_between
from pipelines.orchestration.resources import VenueGateway
from pipelines.sandbox.etf_flows import etf_flows
from pipelines.sandbox.market import Market
from pipelines.sandbox.routes.farside import PAGES, render_page
from pipelines.venues import farside

SPEC = farside.DATASETS["etf_flows"]
WINDOW = days_between(date(2025, 10, 9), date(2025, 10, 12))  # Thursday to Sunday, the crash on Friday


def truth_by_key(market, asset) -> dict[tuple, float | None]:
    rows = etf_flows(market, asset).to_pylist()
    return {
        (r["day"], r["ticker"]): None if r["flow_usd_m"] is None else round(r["flow_usd_m"] * 1e6)
        for r in rows
    }


def lake_by_key(table: pa.Table) -> dict[tuple, float | None]:
    return {(r["ts"].date(), r["symbol"]): r["flow_usd"] for r in table.to_pylist()}


@pytest.fixture()
def http(sandbox):
    with farside.make_http(sandbox.base_url("farside"), limiter=None) as client:
        yield client


def test_the_client_reads_the_sandbox_pages_exactly(sandbox, http):
    market = sandbox.state.market
    for asset in ("BTC", "ETH"):
        table = farside.fetch_etf_flows(http, asset, 0, day_start_ms(date(2030, 1, 1)))
        want = truth_by_key(market, asset)
        assert want and lake_by_key(table) == want
        assert set(table["source"].to_pylist()) == {"html"} and "BlackRock" in table["issuer"].to_pylist()
    assert (
        farside.fetch_etf_flows(http, "SOL", 0, day_start_ms(date(2030, 1, 1))).num_rows == 0
    )  # not launched
    window = farside.fetch_etf_flows(
        http, "BTC", day_start_ms(date(2025, 10, 10)), day_start_ms(date(2025, 10, 11))
    )
    assert {r["ts"].date() for r in window.to_pylist()} == {date(2025, 10, 10)}


@pytest.mark.parametrize(("kind", "status"), [("403", 403), ("503", 503), ("challenge", 200)])
def test_a_bot_protection_refusal_fails_clearly_without_retrying(sandbox, http, kind, status):
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"venue": "farside", "path": None, "kind": kind})
    with pytest.raises(farside.FarsideRefusedError) as exc:
        farside.fetch_etf_flows(http, "BTC", 0, day_start_ms(date(2030, 1, 1)))
    message = str(exc.value)
    assert "refused" in message and "bot protection" in message and "drop/etf_flows" in message
    assert [c.status for c in http.calls] == [status]  # one attempt: retrying a refusal does not help


def test_ingest_writes_trading_days_and_passes_the_checks_on_weekends(sandbox, http, tmp_path):
    lake = Lake(tmp_path / "lake")
    now = sandbox.state.market.scenario.clock_ms
    runs = [ingest_days("farside", SPEC, WINDOW, http=http, lake=lake, now_ms=now) for _ in range(2)]
    assert runs[0] == runs[1]  # the re-run rewrites the same rows
    requests = [r for r in sandbox.state.requests if r["venue"] == "farside"]
    assert len(requests) >= 3  # BTC, ETH and SOL pages, once each per run (one chunk)
    per_day = {r.day: r.per_asset for r in runs[0]}
    assert per_day[date(2025, 10, 11)] == {"BTC": 0, "ETH": 0, "SOL": 0}  # Saturday
    assert per_day[date(2025, 10, 10)]["BTC"] == 11 and per_day[date(2025, 10, 10)]["ETH"] == 9
    assert all(o.passed for o in run_checks(lake, "farside", SPEC, runs[1])), run_checks(
        lake, "farside", SPEC, runs[1]
    )
    market = sandbox.state.market
    stored = {}
    for day in WINDOW:
        stored.update(lake_by_key(lake.read_partition("farside", "etf_flows", day)))
    assert stored == {**truth_by_key(market, "BTC"), **truth_by_key(market, "ETH")}


def test_the_sandbox_turns_to_outflows_after_a_sell_off(small_scenario):
    """A flat month, then a 15% fall over a day: the trading days after it see outflows, those before inflows."""
    start = date(2025, 9, 1)
    scenario = dataclasses.replace(small_scenario, start=start, end=date(2025, 9, 30))
    hours = np.arange(30 * 24)
    ts = day_start_ms(start) + hours * HOUR_MS
    crash_hour = 15 * 24 + 14  # 16 Sep 14:00 UTC
    price = np.where(hours < crash_hour, 100_000.0, 85_000.0)
    hourly = pa.table({"asset": ["BTC"] * len(ts), "ts": ts, "index_close": price})
    market = Market(scenario=scenario, hourly=hourly, funding=None, liquidations=None, truth={})
    flows = etf_flows(market, "BTC", published={}).to_pylist()  # the model alone, not the published history
    totals: dict[date, float] = {}
    for r in flows:
        totals[r["day"]] = totals.get(r["day"], 0.0) + (r["flow_usd_m"] or 0.0)
    after = [totals[d] for d in (date(2025, 9, 16), date(2025, 9, 17), date(2025, 9, 18))]
    before = [totals[d] for d in sorted(totals) if d < date(2025, 9, 16)]
    assert all(t < -200 for t in after), after
    assert np.mean(before) > 0
    assert date(2025, 9, 1) not in totals and date(2025, 9, 6) not in totals  # Labor Day, a Saturday


PUBLISHED = Path(__file__).parents[2] / "pipelines" / "sandbox" / "data" / "etf_flows"


def published_rows(name: str, first: date, last: date) -> dict[date, dict[str, float]]:
    """The bundled CSV, read plainly: day -> {column: US$m}, the last column (Total or COL11) as 'Total'."""
    with (PUBLISHED / name).open(newline="") as fh:
        rows = list(csv.reader(fh))
    header = [*rows[0][1:-1], "Total"]
    return {
        date.fromisoformat(r[0]): dict(zip(header, map(float, r[1:]), strict=True))
        for r in rows[1:]
        if first <= date.fromisoformat(r[0]) <= last
    }


def _flat_market(small_scenario, start: date, end: date) -> Market:
    scenario = dataclasses.replace(small_scenario, start=start, end=end)
    ts = day_start_ms(start) + np.arange(((end - start).days + 1) * 24) * HOUR_MS
    hourly = pa.table(
        {
            "asset": ["BTC"] * len(ts) + ["ETH"] * len(ts),
            "ts": np.concatenate([ts, ts]),
            "index_close": np.full(2 * len(ts), 3_000.0),
        }
    )
    return Market(scenario=scenario, hourly=hourly, funding=None, liquidations=None, truth={})


def test_the_november_2025_btc_page_parses_to_the_published_rows_exactly(small_scenario):
    first, last = date(2025, 11, 1), date(2025, 11, 30)
    market = _flat_market(small_scenario, first, last)
    title = next(t for a, t in PAGES.values() if a == "BTC")
    page = render_page(
        "BTC", title, etf_flows(market, "BTC"), day_window_ms(last)[1] + 3 * 24 * HOUR_MS, (first, last)
    )
    table = parse_page(page, "BTC")
    want = published_rows("btc_flows.csv", first, last)
    assert [row.day for row in table.rows] == sorted(want)  # every trading day, Thanksgiving left out
    assert date(2025, 11, 27) in table.holidays
    for row in table.rows:
        published = want[row.day]
        assert row.total == published["Total"], row.day
        # MSBT launched in 2026: the CSV's 0 is no fund yet, and the 2025 page has no such column
        assert row.flows == {t: v for t, v in published.items() if t not in ("MSBT", "Total")}, row.day
        assert published["MSBT"] == 0.0
    assert round(sum(row.total for row in table.rows), 1) == -3466.7  # November's outflow, as published


def test_the_eth_page_uses_the_published_total_despite_its_col11_header(small_scenario):
    first, last = date(2025, 11, 1), date(2025, 11, 30)
    market = _flat_market(small_scenario, first, last)
    page = render_page(
        "ETH", "ETH", etf_flows(market, "ETH"), day_window_ms(last)[1] + 3 * 24 * HOUR_MS, (first, last)
    )
    table = parse_page(page, "ETH")
    want = published_rows("eth_flows.csv", first, last)
    assert {row.day: row.total for row in table.rows} == {d: r["Total"] for d, r in want.items()}


def test_the_served_crash_day_row_is_the_published_one(sandbox, http):
    """Over HTTP, the small market's 10 Oct 2025 BTC row (spot-checked in the reference MANIFEST)."""
    table = farside.fetch_etf_flows(
        http, "BTC", day_start_ms(date(2025, 10, 10)), day_start_ms(date(2025, 10, 11))
    )
    flows = {r["symbol"]: r["flow_usd"] for r in table.to_pylist()}
    assert flows["IBIT"] == 74.2e6 and flows["FBTC"] == -10.2e6 and flows["GBTC"] == -19.2e6
    assert round(sum(v for v in flows.values() if v is not None) / 1e6, 1) == -4.5


def _gateway(home, sandbox=None):
    if sandbox is not None:
        return VenueGateway(home=str(home), source="sandbox", sandbox_url=sandbox.url)
    return VenueGateway(home=str(home))


def test_csv_import_asset_imports_good_files_and_names_the_bad_ones(tmp_path):
    folder = tmp_path / "drop" / "etf_flows" / "BTC"
    folder.mkdir(parents=True)
    (folder / "good.csv").write_text("Date,IBIT,GBTC,Total\n13 Nov 2025,(256.6),(64.5),(321.1)\n")
    resources = {"venue_gateway": _gateway(tmp_path)}
    result = materialize([etf_csv_import], resources=resources, partition_key="2025-11-13")
    assert result.success
    stored = Lake(tmp_path / "lake").read_partition("farside", "etf_flows_csv", date(2025, 11, 13))
    assert sorted(stored["flow_usd"].to_pylist()) == [-256_600_000.0, -64_500_000.0]

    (folder / "bad.csv").write_text("Date,IBIT,GBTC,Total\n14 Nov 2025,(463.1),(25.1),(400.0)\n")
    result = materialize(
        [etf_csv_import], resources=resources, partition_key="2025-11-14", raise_on_error=False
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    text = str(failure.step_failure_data.error)
    assert "bad.csv: line 2: the Total -400.0 differs from the funds' sum -488.2" in text
    assert not (tmp_path / "lake" / "farside" / "etf_flows_csv" / "date=2025-11-14").exists()
    assert not (tmp_path / "lake" / "farside" / "etf_flows").exists()  # the page's dataset is never written


def test_freshness_check_passes_over_a_weekend_and_fails_when_stale(sandbox, sandbox_home):
    raw = next(a for a in RAW_ASSETS if AssetKey(["raw", "farside", "etf_flows"]) in a.keys)
    gateway = _gateway(sandbox_home, sandbox)  # the session's sandbox: no second simulation
    instance = DagsterInstance.ephemeral()
    tags = {
        "dagster/asset_partition_range_start": "2025-10-09",
        "dagster/asset_partition_range_end": "2025-10-12",
    }
    result = materialize(
        [raw, etf_freshness], resources={"venue_gateway": gateway}, instance=instance, tags=tags
    )
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["etf_freshness"].passed and checks["non_empty"].passed  # Monday 00:30: Friday is the latest

    later = datetime(2025, 10, 15, 9, tzinfo=UTC)  # Wednesday: Monday and Tuesday are missing
    httpx.post(f"{sandbox.url}/_sandbox/clock", json={"clock_ms": int(later.timestamp() * 1000)})
    try:
        result = materialize(
            [raw, etf_freshness],
            resources={"venue_gateway": gateway},
            instance=instance,
            selection=AssetSelection.checks(etf_freshness),
        )
    finally:
        sandbox.state.clock.move_to(sandbox.state.market.scenario.clock_ms)
    check = result.get_asset_check_evaluations()[0]
    assert not check.passed and "BTC: last flow 2025-10-10, 2 trading days missed" in check.description
