"""The DefiLlama client against the sandbox, and the DeFi marts after a dbt build, matched against the ground truth
computed by pipelines/sandbox/defi.py from the simulated market (not from anything the pipeline wrote)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import duckdb
import httpx
import pytest

from pipelines.ingest import PartitionFailed, ingest_days
from pipelines.lake import Lake
from pipelines.lib.timeutil import day_start_ms, days_between
from pipelines.sandbox import defi
from pipelines.venues import defillama
from tests.integration.test_dbt_marts import run_dbt, source_datasets

DAYS = days_between(date(2025, 10, 9), date(2025, 10, 12))
CRASH_DAY = date(2025, 10, 10)


def _day(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).date()


@pytest.fixture(scope="module")
def defi_home(tmp_path_factory, sandbox, small_scenario):
    home = tmp_path_factory.mktemp("defi_home")
    lake = Lake(home / "lake")
    with defillama.make_http(sandbox.base_url("defillama")) as http:
        for spec in defillama.DATASETS.values():
            for _ in range(2):  # a re-run must not duplicate anything
                ingest_days("defillama", spec, DAYS, http=http, lake=lake, now_ms=small_scenario.clock_ms)
    for venue, datasets in source_datasets().items():
        for dataset in datasets:
            lake.ensure_anchor(venue, dataset)
    (home / "build").mkdir()
    run_dbt(home, "build", "--select", "+crypto_debt_daily", "+stablecoins_daily", "+defi_lending_daily")
    return home


@pytest.fixture()
def con(defi_home):
    with duckdb.connect(str(defi_home / "build" / "levwatch.duckdb"), read_only=True) as connection:
        yield connection


def test_client_reads_both_hosts_and_keeps_only_lending_protocols_above_the_floor(sandbox, small_scenario):
    with defillama.make_http(
        sandbox.base_url("defillama"), stablecoins_url=sandbox.base_url("defillama_stablecoins")
    ) as http:
        start, end = day_start_ms(DAYS[0]), day_start_ms(DAYS[-1]) + 86_400_000
        lending = defillama.fetch_lending(http, "BTC", start, end)
        coins = defillama.fetch_stablecoins(http, "BTC", start, end)
        endpoints = {c.endpoint for c in http.drain_calls()}
    expected = {
        p.slug
        for p in defi.PROTOCOLS
        if p.category in defillama.LENDING_CATEGORIES
        and sum(b.supplied_usd for b in p.chains.values()) >= defillama.MIN_PROTOCOL_TVL_USD
    }
    assert set(lending["protocol"].to_pylist()) == expected
    assert "tiny-lend" not in expected and "lido" not in expected
    assert "TINY" not in coins["symbol"].to_pylist()
    assert {"/protocols", "/stablecoins", "/stablecoinprices", "/stablecoincharts/all"} <= endpoints
    books = defi.lending_books(sandbox.state.market)
    for row in lending.to_pylist():
        truth = next(p for p in books[(row["protocol"], row["chain"])] if _day(p["ts"]) == row["ts"].date())
        assert row["supplied_usd"] == pytest.approx(truth["supplied_usd"], abs=0.01)
        assert row["borrowed_usd"] == (
            None if truth["borrowed_usd"] is None else pytest.approx(truth["borrowed_usd"], abs=0.01)
        )


def test_unknown_protocol_fails_clearly_and_writes_nothing(sandbox, small_scenario, tmp_path, monkeypatch):
    monkeypatch.setattr(
        defillama,
        "select_protocols",
        lambda payload: [{"slug": "no-such", "name": "x", "category": "Lending"}],
    )
    lake = Lake(tmp_path / "lake")
    spec = defillama.DATASETS["lending"]
    with (
        defillama.make_http(sandbox.base_url("defillama"), max_attempts=1) as http,
        pytest.raises(PartitionFailed, match="no-such"),
    ):
        ingest_days("defillama", spec, DAYS, http=http, lake=lake, now_ms=small_scenario.clock_ms)
    assert not lake.dataset_dir("defillama", "lending").exists()


def test_reruns_never_duplicate(defi_home):
    lake = Lake(defi_home / "lake")
    for dataset, key in (
        ("lending", ("protocol", "chain")),
        ("stablecoins", ("stablecoin_id", "chain")),
    ):
        for day in DAYS:
            table = lake.read_partition("defillama", dataset, day)
            assert table.num_rows > 0
            assert table.group_by(list(key)).aggregate([]).num_rows == table.num_rows


def test_defi_liquidation_day_shows_in_the_lending_mart(con, sandbox):
    truth = next(e for e in defi.truth(sandbox.state.market)["events"] if e["type"] == "defi_liquidations")
    changes = con.execute(
        """
        select date, sum(borrowed_usd_change) from marts.defi_lending_daily
        where borrowed_usd_change is not null group by date order by 2 limit 1
        """
    ).fetchone()
    assert changes[0].isoformat() == truth["snapshot_day"] == "2025-10-11"
    assert truth["day"] == CRASH_DAY.isoformat()
    # the day's change is the liquidations of the ingested books (no growth on a liquidation day)
    ingested = {
        p.slug for p in defi.PROTOCOLS if p.category in defillama.LENDING_CATEGORIES and p.slug != "tiny-lend"
    }
    liquidated = sum(
        p["liquidated_usd"]
        for (slug, _), points in defi.lending_books(sandbox.state.market).items()
        if slug in ingested
        for p in points
        if _day(p["ts"]).isoformat() == truth["snapshot_day"]
    )
    assert -changes[1] == pytest.approx(liquidated, rel=1e-9)
    assert liquidated == pytest.approx(truth["borrowed_liquidated_usd"], rel=0.01)  # the tail is tiny
    supplied = dict(
        con.execute("select date, sum(supplied_usd) from marts.defi_lending_daily group by 1").fetchall()
    )
    assert supplied[date(2025, 10, 11)] < 0.95 * supplied[date(2025, 10, 10)]  # collateral fell with prices


def test_depeg_hour_shows_on_one_venue_only(con, sandbox):
    truth = next(e for e in defi.truth(sandbox.state.market)["events"] if e["type"] == "stablecoin_depeg")
    rows = con.execute(
        """
        select date, price, peg_deviation_bps, worst_venue_price, worst_venue, worst_venue_ts
        from marts.stablecoins_daily where stablecoin = 'USDe' and chain = 'all' order by date
        """
    ).fetchall()
    by_day = {r[0]: r for r in rows}
    crash = by_day[CRASH_DAY]
    assert crash[3] == pytest.approx(truth["low_price"]) and 0.6 < crash[3] < 0.7
    assert crash[4] == truth["venue"] == "binance"
    low_ms = int(crash[5].replace(tzinfo=UTC).timestamp() * 1000)
    assert low_ms == truth["low_ms"] and truth["start_ms"] <= low_ms < truth["end_ms"]
    assert (truth["end_ms"] - truth["start_ms"]) == 3_600_000
    assert all(abs(r[2]) < 10 for r in rows)  # DefiLlama's daily aggregate holds the peg
    others = con.execute(
        """
        select max(abs(worst_venue_deviation_bps)) from marts.stablecoins_daily
        where worst_venue_price is not null and not (stablecoin = 'USDe' and date = date '2025-10-10')
        """
    ).fetchone()[0]
    assert others < 10


def test_debt_ledger_components_and_lineage(con, sandbox):
    row = con.execute("select * from marts.crypto_debt_daily where date = date '2025-10-10'").fetchone()
    cols = [d[0] for d in con.description]
    r = dict(zip(cols, row, strict=True))
    market = sandbox.state.market
    books = defi.lending_books(market)
    lending = {p.slug for p in defi.PROTOCOLS if p.category == "Lending" and p.slug != "tiny-lend"}
    expected_defi = sum(
        p["borrowed_usd"]
        for (slug, _), points in books.items()
        if slug in lending
        for p in points
        if _day(p["ts"]) == CRASH_DAY
    )
    assert r["defi_borrowed_usd"] == pytest.approx(expected_defi, rel=1e-9)
    cdp = {"DAI", "USDS", "GHO", "crvUSD"}
    ms = day_start_ms(CRASH_DAY)
    expected_cdp = sum(defi.supply(c, ms, market) for c in defi.STABLECOINS if c.symbol in cdp)
    assert r["cdp_stablecoin_supply_usd"] == pytest.approx(expected_cdp, rel=1e-9)
    assert r["cefi_lender_book_usd"] == pytest.approx(24.37e9) and r["cefi_quarter"] == "2025Q3"
    assert r["cefi_stale"] is False
    assert r["treasury_company_debt_usd"] == pytest.approx(12.71e9)
    assert r["crypto_collateralized_usd"] == pytest.approx(expected_defi + expected_cdp + 24.37e9)
    assert r["onchain_share_pct"] + r["cefi_share_pct"] == pytest.approx(100)
    for source in (
        "DefiLlama",
        "cefi_lender_disclosures 2025Q3",
        "treasury_company_debt 2025Q3",
        "leverage_daily",
    ):
        assert source in r["lineage"]


def test_truth_endpoint_and_prices_follow_the_clock(sandbox):
    truth = httpx.get(f"{sandbox.base_url('defillama')}/_sandbox/truth").json()
    assert {e["type"] for e in truth["events"]} == {"defi_liquidations", "stablecoin_depeg"}
    prices = httpx.get(f"{sandbox.base_url('defillama_stablecoins')}/stablecoinprices").json()
    clock = sandbox.state.clock_ms
    assert max(p["date"] for p in prices) * 1000 <= clock
    chart = httpx.get(
        f"{sandbox.base_url('defillama_stablecoins')}/stablecoincharts/Tron", params={"stablecoin": "1"}
    ).json()
    usdt = next(c for c in defi.STABLECOINS if c.symbol == "USDT")
    first = chart[0]
    assert first["totalCirculatingUSD"]["peggedUSD"] == pytest.approx(
        defi.supply(usdt, int(first["date"]) * 1000, sandbox.state.market) * usdt.chains["Tron"], abs=0.01
    )
