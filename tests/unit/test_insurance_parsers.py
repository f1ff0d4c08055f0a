"""Insurance-fund parsers against the venues' published response examples (tests/fixtures/*/ORIGIN.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.lib.numbers import PayloadError
from pipelines.venues import binance, bybit, okx
from pipelines.venues.base import to_table

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TS = 1_760_000_000_000


def load(path: str):
    return json.loads((FIXTURES / path).read_text())


def test_binance_pool_of_a_symbol_gives_one_row_per_margin_asset():
    rows = binance.parse_insurance_balance(
        load("binance/insurance_balance_symbol_doc.json"), "BTC", "BTCUSDT", TS
    )
    assert [(r["currency"], r["balance"]) for r in rows] == [
        ("USDC", 299999998.6497832),
        ("USDT", 793930579.315848),
        ("BTC", 61.73143554),
        ("BNFCR", 633223.99396922),
    ]
    assert {r["pool"] for r in rows} == {
        "BNBUSDT,BTCUSDT,BTCUSDT_250627,BTCUSDT_250926,ETHBTC,ETHUSDT,ETHUSDT_250627,ETHUSDT_250926"
    }
    assert {r["updated_at"] for r in rows} == {1745366402000}
    assert {r["ts"] for r in rows} == {TS}
    assert all(r["balance_usd"] is None and r["entry_type"] == "snapshot" for r in rows)
    assert to_table("insurance_funds", rows).num_rows == 4


def test_binance_list_of_pools_keeps_the_pool_listing_the_symbol():
    payload = load("binance/insurance_balance_all_doc.json")
    rows = binance.parse_insurance_balance(payload, "XRP", "XRPUSDT", TS)
    assert [(r["currency"], r["balance"]) for r in rows] == [("USDT", 314151411.06482935)]
    assert binance.parse_insurance_balance(payload, "BTC", "BTCUSDT", TS) == []


def test_binance_missing_margin_balance_is_an_error():
    payload = load("binance/insurance_balance_symbol_doc.json")
    del payload["assets"][1]["marginBalance"]
    with pytest.raises(PayloadError, match="marginBalance"):
        binance.parse_insurance_balance(payload, "BTC", "BTCUSDT", TS)


def test_bybit_shared_pool_row_for_a_listed_symbol_only():
    payload = load("bybit/insurance_doc.json")
    rows = bybit.parse_insurance(payload, "SOL", "SOLUSDT", TS)
    assert len(rows) == 1
    row = rows[0]
    assert row["pool"] == "SOLUSDT,OMNIUSDT,ALGOUSDT"
    assert (row["currency"], row["balance"], row["balance_usd"]) == (
        "USDT",
        14454.51626125,
        14449.515598975464,
    )
    assert row["updated_at"] == 1714003200000
    assert bybit.parse_insurance(payload, "BTC", "BTCUSDT", TS) == []  # BTCUSDT is in no listed pool
    assert to_table("insurance_funds", rows).num_rows == 1


def test_bybit_missing_updated_time_is_an_error():
    payload = load("bybit/insurance_doc.json")
    del payload["result"]["updatedTime"]
    with pytest.raises(PayloadError, match="updatedTime"):
        bybit.parse_insurance(payload, "SOL", "SOLUSDT", TS)


def test_okx_deposit_entry_keeps_its_amount_and_balance():
    rows = okx.parse_insurance_fund(load("okx/insurance_fund_deposit_doc.json"), "ETH")
    assert len(rows) == 1
    row = rows[0]
    assert (row["entry_type"], row["currency"], row["pool"]) == (
        "liquidation_balance_deposit",
        "ETH",
        "ETH-USD",
    )
    assert (row["balance"], row["amount"], row["ts"]) == (1369179138.7489, 1343.1308, 1704883083000)
    assert row["adl_type"] is None and row["max_balance"] is None and row["max_balance_ts"] is None


def test_okx_regular_update_has_no_amount():
    rows = okx.parse_insurance_fund(load("okx/insurance_fund_regular_update_doc.json"), "ETH")
    assert [(r["entry_type"], r["balance"], r["amount"]) for r in rows] == [
        ("regular_update", 1343.1308, None)
    ]


def test_okx_adl_entry_in_the_documented_shape():
    """No published example has an adl entry: this one is built from the documented fields (adlType, maxBal,
    maxBalTs), the deposit example's envelope around it."""
    payload = load("okx/insurance_fund_deposit_doc.json")
    payload["data"][0]["details"] = [
        {
            "adlType": "bal_adl_start",
            "amt": "",
            "balance": "700.5",
            "ccy": "USDT",
            "maxBal": "1000",
            "maxBalTs": "1704880000000",
            "ts": "1704883083000",
            "type": "adl",
        },
        # the deprecated types answer empty values: nothing to record
        {
            "adlType": "",
            "amt": "",
            "balance": "",
            "ccy": "",
            "maxBal": "",
            "maxBalTs": "",
            "ts": "",
            "type": "adl",
        },
    ]
    rows = okx.parse_insurance_fund(payload, "ETH")
    assert len(rows) == 1
    row = rows[0]
    assert (row["adl_type"], row["balance"], row["max_balance"], row["max_balance_ts"]) == (
        "bal_adl_start",
        700.5,
        1000.0,
        1704880000000,
    )


def test_okx_error_envelope_and_missing_balance_are_errors():
    with pytest.raises(PayloadError, match="51001"):
        okx.parse_insurance_fund({"code": "51001", "msg": "Instrument ID does not exist", "data": []}, "BTC")
    payload = load("okx/insurance_fund_deposit_doc.json")
    payload["data"][0]["details"][0]["balance"] = ""
    with pytest.raises(PayloadError, match="balance is empty"):
        okx.parse_insurance_fund(payload, "ETH")
