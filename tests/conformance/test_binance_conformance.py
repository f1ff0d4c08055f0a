"""The sandbox's Binance answers have the recorded payloads' field names and JSON types."""

import json
from pathlib import Path

import httpx
import pytest

from tests.conformance.json_shape import shape

FIX = Path(__file__).parents[1] / "fixtures" / "binance"
CRASH_DAY = 1760054400000  # 2025-10-10T00:00Z, inside the small scenario

RECORDED = {
    "binance_funding.json": (
        "/fapi/v1/fundingRate",
        {"symbol": "BTCUSDT", "startTime": CRASH_DAY, "limit": 3},
    ),
    "binance_oi_hist.json": (
        "/futures/data/openInterestHist",
        {"symbol": "BTCUSDT", "period": "1h", "limit": 3},
    ),
    "binance_ls.json": (
        "/futures/data/globalLongShortAccountRatio",
        {"symbol": "BTCUSDT", "period": "1h", "limit": 3},
    ),
    "binance_taker.json": (
        "/futures/data/takerlongshortRatio",
        {"symbol": "BTCUSDT", "period": "1h", "limit": 3},
    ),
}


@pytest.mark.parametrize("recording", sorted(RECORDED))
def test_sandbox_matches_the_recording(sandbox, recording):
    recorded = json.loads((FIX / recording).read_text())
    path, params = RECORDED[recording]
    response = httpx.get(sandbox.base_url("binance") + path, params=params)
    assert response.status_code == 200
    served = response.json()
    assert len(served) == 3
    assert shape(served) == shape(recorded)
    times = [r.get("fundingTime", r.get("timestamp")) for r in served]
    assert times == sorted(times)  # Binance is oldest first


@pytest.mark.parametrize("path, key", [("/fapi/v1/klines", "symbol"), ("/fapi/v1/indexPriceKlines", "pair")])
def test_klines_match_the_recorded_twelve_slot_arrays(sandbox, path, key):
    excerpt = json.loads((FIX / "binance.fetchOHLCV.httpResponse_EXCERPT.json").read_text())
    recorded = excerpt[
        "usdm_BTCUSDT_1m__fapi_v1_klines"
        if key == "symbol"
        else "coinm_BTCUSD_1d_index_price__dapi_v1_indexPriceKlines"
    ]["httpResponse"]
    served = httpx.get(
        sandbox.base_url("binance") + path,
        params={key: "BTCUSDT", "interval": "1h", "startTime": CRASH_DAY, "limit": 2},
    ).json()
    assert [type(v).__name__ for v in served[0]] == [type(v).__name__ for v in recorded[0]]
    assert served[0][0] == CRASH_DAY and served[0][6] == CRASH_DAY + 3_600_000 - 1


def test_error_bodies_and_caps_match_the_venue(sandbox):
    base = sandbox.base_url("binance")
    bad_symbol = httpx.get(base + "/fapi/v1/fundingRate", params={"symbol": "NOPEUSDT"})
    assert bad_symbol.status_code == 400 and bad_symbol.json() == {"code": -1121, "msg": "Invalid symbol."}
    too_many = httpx.get(
        base + "/fapi/v1/klines", params={"symbol": "BTCUSDT", "interval": "1h", "limit": 1501}
    )
    assert too_many.status_code == 400 and too_many.json()["code"] == -1130


def test_minute_mark_klines_match_the_documented_twelve_slot_arrays(sandbox):
    documented = json.loads((FIX / "mark_price_klines_1m_doc.json").read_text())
    served = httpx.get(
        sandbox.base_url("binance") + "/fapi/v1/markPriceKlines",
        params={"symbol": "BTCUSDT", "interval": "1m", "startTime": CRASH_DAY, "limit": 3},
    ).json()
    assert all([type(v).__name__ for v in k] == [type(v).__name__ for v in documented[0]] for k in served)
    assert [k[0] for k in served] == [CRASH_DAY + i * 60_000 for i in range(3)]  # oldest first
    assert all(k[6] == k[0] + 59_999 and k[5] == k[7] == "0" and k[8] == 60 for k in served)


def test_minute_intervals_are_served_for_mark_klines_only(sandbox):
    base = sandbox.base_url("binance")
    last = httpx.get(base + "/fapi/v1/klines", params={"symbol": "BTCUSDT", "interval": "1m"})
    assert last.status_code == 400 and last.json()["code"] == -1120
    too_many = httpx.get(
        base + "/fapi/v1/markPriceKlines", params={"symbol": "BTCUSDT", "interval": "1m", "limit": 1501}
    )
    assert too_many.status_code == 400 and too_many.json()["code"] == -1130
