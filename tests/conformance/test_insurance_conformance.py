"""The sandbox's insurance-fund answers have the field names and JSON types of the venues' published examples
(tests/fixtures/*/ORIGIN.md)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.conformance.json_shape import shape

FIXTURES = Path(__file__).parents[1] / "fixtures"

EXAMPLES = {
    "okx/insurance_fund_deposit_doc.json": (
        "okx",
        "/api/v5/public/insurance-fund",
        {"instType": "SWAP", "instFamily": "BTC-USDT", "limit": "1"},
    ),
    "bybit/insurance_doc.json": ("bybit", "/v5/market/insurance", {"coin": "USDT"}),
    "binance/insurance_balance_symbol_doc.json": (
        "binance",
        "/fapi/v1/insuranceBalance",
        {"symbol": "BTCUSDT"},
    ),
    "binance/insurance_balance_all_doc.json": ("binance", "/fapi/v1/insuranceBalance", {}),
}


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_sandbox_matches_the_published_example(sandbox, example):
    venue, path, params = EXAMPLES[example]
    published = json.loads((FIXTURES / example).read_text())
    response = httpx.get(sandbox.base_url(venue) + path, params=params)
    assert response.status_code == 200, response.text
    served = response.json()
    assert served, "the sandbox served no fund"
    assert shape(served) == shape(published)


def test_okx_entries_are_newest_first_and_all_strings(sandbox):
    response = httpx.get(
        sandbox.base_url("okx") + "/api/v5/public/insurance-fund",
        params={"instType": "SWAP", "instFamily": "ETH-USDT"},
    )
    details = response.json()["data"][0]["details"]
    times = [int(d["ts"]) for d in details]
    assert times == sorted(times, reverse=True) and len(times) >= 3
    assert {type(v) for d in details for v in d.values()} == {str}
