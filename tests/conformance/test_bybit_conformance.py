"""The sandbox's Bybit answers have the recorded payloads' field names, JSON types, order and cursor format."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

FIXTURES = Path(__file__).parents[1] / "fixtures" / "bybit"
ENCODED_CURSOR = re.compile(r"^lastid%3D\d+%26lasttime%3D\d+$")

RECORDED = {
    "bybit_funding.json": ("/v5/market/funding/history", {"category": "linear", "symbol": "BTCUSDT"}),
    "bybit_oi.json": (
        "/v5/market/open-interest",
        {"category": "linear", "symbol": "BTCUSDT", "intervalTime": "1h", "limit": 25},
    ),
    "bybit_ratio.json": (
        "/v5/market/account-ratio",
        {"category": "linear", "symbol": "BTCUSDT", "period": "1h", "limit": 3},
    ),
}


def shape(value):
    """Field names and JSON types, recursively; a list is described by its (single) element shape."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        shapes = {json.dumps(shape(item), sort_keys=True) for item in value}
        assert len(shapes) <= 1, f"list elements differ in shape: {shapes}"
        return [json.loads(s) for s in shapes]
    return type(value).__name__


def _timestamps(payload: dict) -> list[int]:
    return [
        int(next(v for k, v in rec.items() if k in ("timestamp", "fundingRateTimestamp")))
        for rec in payload["result"]["list"]
    ]


@pytest.mark.parametrize("recording", sorted(RECORDED))
def test_sandbox_matches_the_recording(sandbox, recording):
    recorded = json.loads((FIXTURES / recording).read_text())
    path, params = RECORDED[recording]
    response = httpx.get(sandbox.base_url("bybit") + path, params=params)
    assert response.status_code == 200
    served = response.json()
    assert served["retCode"] == 0 and served["result"]["list"], served
    assert shape(served) == shape(recorded)
    # every value inside result is a string, timestamps included
    assert {type(v) for rec in served["result"]["list"] for v in rec.values()} == {str}
    # newest first, like the venue
    assert _timestamps(served) == sorted(_timestamps(served), reverse=True)
    assert _timestamps(recorded) == sorted(_timestamps(recorded), reverse=True)


@pytest.mark.parametrize("recording", ["bybit_oi.json", "bybit_ratio.json"])
def test_cursor_arrives_url_encoded_like_the_recording(sandbox, recording):
    recorded = json.loads((FIXTURES / recording).read_text())
    path, params = RECORDED[recording]
    served = httpx.get(sandbox.base_url("bybit") + path, params=params).json()
    assert ENCODED_CURSOR.match(recorded["result"]["nextPageCursor"])
    assert ENCODED_CURSOR.match(served["result"]["nextPageCursor"])


def test_open_interest_counts_both_sides_like_the_recording(sandbox):
    recorded = json.loads((FIXTURES / "bybit_oi.json").read_text())["result"]["list"][0]
    path, params = RECORDED["bybit_oi.json"]
    served = httpx.get(sandbox.base_url("bybit") + path, params=params).json()["result"]["list"][0]
    for rec in (recorded, served):
        assert float(rec["openInterest"]) == pytest.approx(2 * float(rec["singleOpenInterest"]), rel=1e-3)


def test_error_envelope_has_the_venue_shape(sandbox):
    response = httpx.get(
        sandbox.base_url("bybit") + "/v5/market/funding/history",
        params={"category": "linear", "symbol": "NOPEUSDT"},
    )
    assert response.status_code == 200  # Bybit reports parameter errors inside HTTP 200
    body = response.json()
    assert shape(body) == {"retCode": "int", "retMsg": "str", "result": {}, "retExtInfo": {}, "time": "int"}
    assert body["retCode"] == 10001 and body["retMsg"] == "params error: symbol invalid"


def test_minute_mark_klines_match_the_documented_payload(sandbox):
    documented = json.loads((FIXTURES / "mark_price_kline_doc.json").read_text())
    crash_day = 1760054400000  # 2025-10-10T00:00Z
    served = httpx.get(
        sandbox.base_url("bybit") + "/v5/market/mark-price-kline",
        params={"category": "linear", "symbol": "BTCUSDT", "interval": "1", "start": crash_day, "limit": 3},
    ).json()
    assert served["retCode"] == 0
    assert shape(served["result"]) == shape(documented["result"])
    starts = [int(k[0]) for k in served["result"]["list"]]
    assert len(starts) == 3 and starts == sorted(starts, reverse=True)  # newest first


def test_minute_mark_klines_cap_the_limit_at_1000(sandbox):
    params = {"category": "linear", "symbol": "BTCUSDT", "interval": "1"}
    ok = httpx.get(
        sandbox.base_url("bybit") + "/v5/market/mark-price-kline", params={**params, "limit": 1000}
    )
    assert len(ok.json()["result"]["list"]) == 1000
    over = httpx.get(
        sandbox.base_url("bybit") + "/v5/market/mark-price-kline", params={**params, "limit": 1001}
    )
    assert over.json()["retCode"] == 10001
