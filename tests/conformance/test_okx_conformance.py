"""The sandbox's OKX answers have the documented shapes: no recordings exist (see tests/fixtures/okx/ORIGIN.md), so
each answer is compared with the hand-written documented payload (same field names and JSON types, recursively,
every element of a list alike) and with the field lists of shared/VENUES.md section 3."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.conformance.json_shape import shape

FIXTURES = Path(__file__).parents[1] / "fixtures" / "okx"
INST = "BTC-USDT-SWAP"

# endpoint -> (fixture, query); every documented payload in tests/fixtures/okx has one
ENDPOINTS = {
    "/api/v5/public/funding-rate-history": ("funding_rate_history", {"instId": INST, "limit": "5"}),
    "/api/v5/rubik/stat/contracts/open-interest-history": (
        "open_interest_history",
        {"instId": INST, "period": "1H", "limit": "5"},
    ),
    "/api/v5/rubik/stat/contracts/long-short-account-ratio-contract": (
        "long_short_account_ratio_contract",
        {"instId": INST, "period": "1H", "limit": "5"},
    ),
    "/api/v5/market/history-candles": ("history_candles", {"instId": INST, "bar": "1H", "limit": "5"}),
    "/api/v5/market/history-mark-price-candles": (
        "history_mark_price_candles",
        {"instId": INST, "bar": "1m", "limit": "5"},
    ),
    "/api/v5/public/instruments": ("instruments_swap", {"instType": "SWAP"}),
    "/api/v5/public/time": ("public_time", {}),
}

DOCUMENTED_FIELDS = {  # VENUES.md section 3: record fields, or array slots
    "funding_rate_history": {
        "instType",
        "instId",
        "formulaType",
        "fundingRate",
        "realizedRate",
        "fundingTime",
        "method",
    },
    "instruments_swap": {
        "instId",
        "instFamily",
        "settleCcy",
        "ctVal",
        "ctMult",
        "ctValCcy",
        "ctType",
        "listTime",
        "expTime",
        "state",
        "lotSz",
        "tickSz",
    },
    "public_time": {"ts"},
}
ARRAY_SLOTS = {
    "open_interest_history": 4,
    "long_short_account_ratio_contract": 2,
    "history_candles": 9,
    "history_mark_price_candles": 6,
}


def load(name: str):
    return json.loads((FIXTURES / f"{name}.json").read_text())


def get(sandbox, path: str, params: dict) -> httpx.Response:
    return httpx.get(sandbox.base_url("okx") + path, params=params, timeout=10)


def strings_only(value) -> bool:
    if isinstance(value, dict):
        return all(strings_only(v) for v in value.values())
    if isinstance(value, list):
        return all(strings_only(v) for v in value)
    return isinstance(value, str)


@pytest.mark.parametrize("path", sorted(ENDPOINTS))
def test_sandbox_answer_has_the_documented_shape(sandbox, path):
    fixture, params = ENDPOINTS[path]
    resp = get(sandbox, path, params)
    assert resp.status_code == 200
    body = resp.json()
    assert body["code"] == "0" and isinstance(body["msg"], str)
    assert body["data"], f"{path} answered no data"
    assert shape(body) == shape(load(fixture))
    assert strings_only(body["data"])
    first = body["data"][0]
    if fixture in DOCUMENTED_FIELDS:
        assert DOCUMENTED_FIELDS[fixture] <= set(first)
    else:
        assert all(len(row) == ARRAY_SLOTS[fixture] for row in body["data"])


@pytest.mark.parametrize("path", [p for p in sorted(ENDPOINTS) if "instId" in ENDPOINTS[p][1]])
def test_history_is_newest_first_and_honours_the_limit(sandbox, path):
    _, params = ENDPOINTS[path]
    data = get(sandbox, path, params).json()["data"]
    times = [int(r["fundingTime"]) if isinstance(r, dict) else int(r[0]) for r in data]
    assert len(times) == 5
    assert times == sorted(times, reverse=True)


@pytest.mark.parametrize("path", [p for p in sorted(ENDPOINTS) if "instId" in ENDPOINTS[p][1]])
def test_unknown_instrument_gets_the_venue_error(sandbox, path):
    _, params = ENDPOINTS[path]
    resp = get(sandbox, path, {**params, "instId": "FOO-USDT-SWAP"})
    assert resp.status_code == 200
    assert resp.json() == load("error_unknown_instrument")


def test_missing_and_bad_parameters_keep_the_envelope(sandbox):
    resp = get(sandbox, "/api/v5/market/history-candles", {"bar": "1H"})
    assert (resp.status_code, resp.json()["code"]) == (400, "50014")
    resp = get(sandbox, "/api/v5/market/history-candles", {"instId": INST, "bar": "1H", "limit": "101"})
    assert resp.status_code == 400
    assert resp.json() == {"code": "51000", "msg": "Parameter limit error", "data": []}
    resp = get(
        sandbox, "/api/v5/rubik/stat/contracts/open-interest-history", {"instId": INST, "period": "1Hutc"}
    )
    assert resp.json()["msg"] == "Parameter period error"  # the "utc" variants start at 6H


def test_rate_limit_answers_429_with_code_50011(sandbox):
    path = "/api/v5/rubik/stat/contracts/long-short-account-ratio-contract"  # 5 requests per 2 s per instId
    statuses = [
        get(sandbox, path, {"instId": INST, "period": "1H", "limit": "1"}).status_code for _ in range(5)
    ]
    assert statuses == [200] * 5
    resp = get(sandbox, path, {"instId": INST, "period": "1H", "limit": "1"})
    assert resp.status_code == 429
    assert shape(resp.json()) == shape(load("error_rate_limit"))
    assert resp.json()["code"] == "50011"
    other_instrument = get(sandbox, path, {"instId": "ETH-USDT-SWAP", "period": "1H", "limit": "1"})
    assert other_instrument.status_code == 200  # the limit is per IP and instrument


def test_minute_mark_candles_refuse_a_limit_over_100_and_bars_not_simulated(sandbox):
    path = "/api/v5/market/history-mark-price-candles"
    resp = get(sandbox, path, {"instId": INST, "bar": "1m", "limit": "101"})
    assert resp.status_code == 400 and resp.json()["msg"] == "Parameter limit error"
    resp = get(sandbox, path, {"instId": INST, "bar": "5m"})
    assert resp.status_code == 400 and resp.json()["msg"] == "Parameter bar error"
