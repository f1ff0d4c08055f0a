"""DefiLlama parsers on real recordings (tests/fixtures/defillama/ORIGIN.md), and the DeFi check rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from pipelines.defs.defi.checks import borrowed_above_supplied, peg_problems
from pipelines.lake import SCHEMAS, conform
from pipelines.lib.numbers import PayloadError
from pipelines.venues import defillama

FIXTURES = Path(__file__).parents[1] / "fixtures" / "defillama"
DAY_MS = 86_400_000


def load(name: str):
    return json.loads((FIXTURES / name).read_text())


def test_protocol_selection_keeps_lending_and_cdp_above_the_floor_with_derived_slugs():
    chosen = defillama.select_protocols(load("lite_protocols_EXCERPT.json"))
    slugs = [p["slug"] for p in chosen]
    # the recording's slugs are blank: DefiLlama's rule derives them from the names
    assert slugs[:3] == ["aave-v3", "sky-lending", "morpho-v1"]
    assert {"kamino-lend", "fluid-lending", "compound-v3", "euler-v2", "sparklend"} <= set(slugs)
    assert all(p["category"] in ("Lending", "CDP") and p["tvl"] >= 100e6 for p in chosen)
    assert "lido" not in slugs  # Liquid Staking
    assert len(slugs) == len(set(slugs))


def test_protocol_selection_rejects_a_non_list():
    with pytest.raises(PayloadError, match="expected a list"):
        defillama.select_protocols({"error": "rate limited"})


def test_current_chain_values_split_tvl_and_borrowed_per_chain():
    kamino = defillama.current_chain_values(load("kamino-lend.json"))
    assert kamino == {"Solana": {"supplied": 2246279745.26495, "borrowed": 1239545004.21384}}
    save = defillama.current_chain_values(load("save.json"))
    assert save["Eclipse"] == {"supplied": 403450.98679, "borrowed": None}
    assert save["Solana"]["borrowed"] > save["Solana"]["supplied"]  # real: TVL nets borrows out


def test_daily_points_are_unix_seconds_and_the_intraday_last_point_stands_for_its_day():
    series = load("kamino-lend.json")["tvl"]
    points = defillama.daily_points(series, "kamino tvl")
    first_day = datetime.fromtimestamp(min(points) / 1000, tz=UTC)
    assert first_day.isoformat() == "2023-10-12T00:00:00+00:00"
    last_day = max(points)
    assert datetime.fromtimestamp(last_day / 1000, tz=UTC).date().isoformat() == "2025-12-19"
    assert points[last_day] == (1766173823, 2246279745.0)  # the intraday value, not floored away
    assert all(day % DAY_MS == 0 for day in points)


def test_reduced_history_without_chain_series_fails_clearly():
    with pytest.raises(PayloadError, match="no chainTvls"):
        defillama.parse_protocol_history(load("kamino-lend.json"), {"slug": "kamino-lend"}, 0, 2**62)


def test_protocol_history_rows_from_chain_series():
    # documented shape (VENUES.md section 6); the recordings lost their chainTvls, so this payload is inline
    payload = {
        "name": "Kamino Lend",
        "category": "Lending",
        "chainTvls": {
            "Solana": {
                "tvl": [
                    {"date": 1760054400, "totalLiquidityUSD": 3.1e9},
                    {"date": 1760140800, "totalLiquidityUSD": 2.8e9},
                ]
            },
            "Solana-borrowed": {"tvl": [{"date": 1760054400, "totalLiquidityUSD": 1.5e9}]},
            "borrowed": {"tvl": [{"date": 1760054400, "totalLiquidityUSD": 1.5e9}]},
            "Solana-staking": {"tvl": []},
        },
    }
    rows = defillama.parse_protocol_history(payload, {"slug": "kamino-lend"}, 1760054400_000, 1760227200_000)
    assert [(r["chain"], r["supplied_usd"], r["borrowed_usd"]) for r in rows] == [
        ("Solana", 3.1e9, 1.5e9),
        ("Solana", 2.8e9, None),
    ]
    table = conform("lending", pa.Table.from_pylist(rows, schema=SCHEMAS["lending"]))
    assert table.num_rows == 2


def test_stablecoin_selection_on_the_recording():
    coins = defillama.select_stablecoins(load("stablecoins_peggedAssets_EXCERPT.json"))
    assert [c["symbol"] for c in coins[:3]] == ["USDT", "USDC", "USDS"]
    assert coins[0]["supply_usd"] == 183396003691.97812 and coins[0]["id"] == "1"
    usde = next(c for c in coins if c["symbol"] == "USDe")
    assert usde["id"] == "146" and usde["price"] is None  # recorded without includePrices
    assert len(coins) == 25  # all are USD-pegged and above $100M


def test_supply_chart_accepts_string_dates_and_prefers_usd_values():
    chart = [
        {
            "date": "1760054400",
            "totalCirculating": {"peggedUSD": 10.0},
            "totalCirculatingUSD": {"peggedUSD": 9.5},
        }
    ]
    assert defillama.parse_supply_chart(chart, "peggedUSD", "chart") == {1760054400_000: (1760054400, 9.5)}
    with pytest.raises(PayloadError, match="integer"):
        defillama.parse_supply_chart([{"date": "yesterday", "totalCirculating": {}}], "peggedUSD", "chart")


def test_worst_venue_prices_are_read_when_present_and_absent_live():
    live = [{"date": 1760054400, "prices": {"ethena-usde": 0.9991}}]
    prices, worst = defillama.parse_price_history(live)
    assert prices == {("ethena-usde", 1760054400_000): 0.9991} and worst == {}
    sandbox = [
        dict(
            live[0], worstVenuePrices={"ethena-usde": {"venue": "binance", "price": 0.65, "date": 1760132400}}
        )
    ]
    _, worst = defillama.parse_price_history(sandbox)
    assert worst[("ethena-usde", 1760054400_000)] == {"venue": "binance", "price": 0.65, "ts": 1760132400_000}


def test_borrowed_above_supplied_names_the_row():
    save = defillama.current_chain_values(load("save.json"))
    rows = [
        {
            "protocol": "save",
            "chain": chain,
            "ts": datetime(2025, 12, 19, tzinfo=UTC),
            "supplied_usd": v["supplied"],
            "borrowed_usd": v["borrowed"],
        }
        for chain, v in save.items()
    ]
    named = borrowed_above_supplied(pa.Table.from_pylist(rows))
    assert named == ["save/Solana 2025-12-19: borrowed 162,932,287 > supplied 123,818,025"]


def test_peg_problems_split_broken_prices_from_depegs():
    ts = datetime(2025, 10, 10, tzinfo=UTC)
    rows = [
        {"symbol": "USDT", "chain": "all", "ts": ts, "price": 1.0002, "peg_type": "peggedUSD"},
        {"symbol": "USDe", "chain": "all", "ts": ts, "price": 0.95, "peg_type": "peggedUSD"},
        {"symbol": "BAD", "chain": "all", "ts": ts, "price": 0.0, "peg_type": "peggedUSD"},
        {"symbol": "EURC", "chain": "all", "ts": ts, "price": 1.16, "peg_type": "peggedEUR"},
        {"symbol": "NEW", "chain": "all", "ts": ts, "price": None, "peg_type": "peggedUSD"},
    ]
    broken, off_peg = peg_problems(pa.Table.from_pylist(rows))
    assert broken == ["BAD/all 2025-10-10: price 0.0"]
    assert off_peg == ["USDe/all 2025-10-10: -500 bps"]


def test_stablecoins_url_follows_the_main_url_unless_set(monkeypatch):
    monkeypatch.delenv("LEVWATCH_DEFILLAMA_STABLECOINS_URL", raising=False)
    assert defillama.stablecoins_base_url("https://api.llama.fi") == "https://stablecoins.llama.fi"
    assert defillama.stablecoins_base_url("http://127.0.0.1:9/defillama/") == "http://127.0.0.1:9/defillama"
    monkeypatch.setenv("LEVWATCH_DEFILLAMA_STABLECOINS_URL", "https://mirror.example/stables/")
    assert defillama.stablecoins_base_url("https://api.llama.fi") == "https://mirror.example/stables"
