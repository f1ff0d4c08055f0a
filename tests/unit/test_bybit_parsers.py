"""Bybit parsers against real recorded payloads, plus the error-envelope hook."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import httpx
import pytest

from pipelines.lake import conform
from pipelines.lib.numbers import PayloadError
from pipelines.venues import bybit
from pipelines.venues.base import to_table
from pipelines.venues.http import RetryableError, VenueError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "bybit"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def envelope(result: dict) -> dict:
    return {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": 1788909274168}


# -- funding ----------------------------------------------------------------------------------------------------


def test_funding_rows_keep_values_and_order_of_the_recording():
    payload = load("bybit_funding.json")
    rows = bybit.parse_funding(payload, "BTC")
    assert len(rows) == 21
    first = rows[0]
    assert first["symbol"] == "BTCUSDT"
    assert first["funding_time"] == 1788883200000
    assert first["funding_rate"] == float("0.00005769")
    assert rows[9]["funding_rate"] == float("-0.0000221")  # negatives survive
    assert rows[-1]["funding_time"] == 1788307200000
    # the endpoint has neither the interval nor the mark price: unknown, not zero
    assert first["funding_interval_hours"] is None and first["mark_price"] is None
    assert json.loads(first["raw"]) == payload["result"]["list"][0]
    conform("funding_rates", to_table("funding_rates", rows))


def test_funding_without_rate_is_an_error_not_zero():
    payload = load("bybit_funding.json")
    payload["result"]["list"][0]["fundingRate"] = ""
    with pytest.raises(PayloadError, match=r"list\[0\].*'fundingRate' is empty"):
        bybit.parse_funding(payload, "BTC")


def test_funding_missing_timestamp_names_the_field():
    payload = load("bybit_funding.json")
    del payload["result"]["list"][3]["fundingRateTimestamp"]
    with pytest.raises(PayloadError, match=r"list\[3\]: missing field 'fundingRateTimestamp'"):
        bybit.parse_funding(payload, "BTC")


def test_funding_malformed_number_is_reported():
    payload = load("bybit_funding.json")
    payload["result"]["list"][0]["fundingRate"] = "abc"
    with pytest.raises(PayloadError, match="fundingRate"):
        bybit.parse_funding(payload, "BTC")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], "expected the v5 envelope object"),
        ({"retCode": 0}, "missing field 'result'"),
        (envelope({"category": "linear"}), "missing field 'list'"),
        (envelope({"list": {}}), "'result.list' to be a list"),
    ],
)
def test_envelope_shape_errors_are_clear(payload, message):
    with pytest.raises(PayloadError, match=message):
        bybit.parse_funding(payload, "BTC")


# -- open interest ----------------------------------------------------------------------------------------------


def test_open_interest_stores_the_single_side_in_coins():
    payload = load("bybit_oi.json")
    rows = bybit.parse_open_interest(payload, "BTC")
    assert len(rows) == 25
    first = rows[0]
    assert first["symbol"] == "BTCUSDT"
    assert first["ts"] == 1788908400000
    assert first["oi_coin"] == float("28202.477")  # singleOpenInterest, not openInterest "56404.95300000"
    assert first["oi_usd"] is None and first["oi_contracts"] is None
    assert json.loads(first["raw"]) == payload["result"]["list"][0]
    conform("open_interest", to_table("open_interest", rows))


def test_open_interest_halves_both_sides_when_single_side_is_absent():
    payload = load("bybit_oi.json")
    for rec in payload["result"]["list"]:
        del rec["singleOpenInterest"]  # responses recorded before 2026-06-11
    rows = bybit.parse_open_interest(payload, "BTC")
    assert rows[0]["oi_coin"] == float("56404.95300000") / 2


def test_open_interest_empty_value_stays_null():
    payload = load("bybit_oi.json")
    payload["result"]["list"][0].update(openInterest="", singleOpenInterest="")
    assert bybit.parse_open_interest(payload, "BTC")[0]["oi_coin"] is None


def test_open_interest_missing_field_raises():
    payload = load("bybit_oi.json")
    del payload["result"]["list"][2]["openInterest"]
    with pytest.raises(PayloadError, match=r"open-interest list\[2\]: missing field 'openInterest'"):
        bybit.parse_open_interest(payload, "BTC")


def test_open_interest_needs_the_symbol():
    payload = load("bybit_oi.json")
    del payload["result"]["symbol"]
    with pytest.raises(PayloadError, match="missing field 'symbol'"):
        bybit.parse_open_interest(payload, "BTC")


# -- account ratio ----------------------------------------------------------------------------------------------


def test_account_ratio_long_share_is_the_buy_ratio():
    payload = load("bybit_ratio.json")
    (row,) = bybit.parse_account_ratio(payload, "BTC")
    assert row["symbol"] == "BTCUSDT"
    assert row["ts"] == 1788908400000
    assert row["ratio_type"] == "global_account"
    assert row["long_share"] == float("0.5681")
    assert row["long_short_ratio"] == pytest.approx(0.5681 / 0.4319)
    conform("long_short_ratios", to_table("long_short_ratios", [row]))


def test_account_ratio_without_sell_ratio_has_no_ratio():
    payload = load("bybit_ratio.json")
    del payload["result"]["list"][0]["sellRatio"]
    (row,) = bybit.parse_account_ratio(payload, "BTC")
    assert row["long_share"] == float("0.5681") and row["long_short_ratio"] is None


def test_account_ratio_without_buy_ratio_raises():
    payload = load("bybit_ratio.json")
    payload["result"]["list"][0]["buyRatio"] = ""
    with pytest.raises(PayloadError, match="'buyRatio' is empty"):
        bybit.parse_account_ratio(payload, "BTC")


# -- klines (no recording: the documented shape) ----------------------------------------------------------------

KLINE_DOC = envelope(
    {
        "symbol": "BTCUSDT",
        "category": "linear",
        "list": [
            ["1670608800000", "17071", "17073", "17027", "17055.5", "268611", "15.74462667"],
            ["1670605200000", "17071.5", "17071.5", "17061", "17071", "4177", "0.24469757"],
        ],
    }
)


def test_klines_map_volume_to_base_and_turnover_to_quote():
    rows = bybit.parse_klines(copy.deepcopy(KLINE_DOC), "BTC")
    first = rows[0]
    assert first["open_time"] == 1670608800000
    assert (first["open"], first["high"], first["low"], first["close"]) == (
        17071.0,
        17073.0,
        17027.0,
        17055.5,
    )
    assert first["volume_coin"] == 268611.0 and first["volume_usd"] == 15.74462667
    assert first["price_type"] == "last" and first["interval"] == "1h" and first["trades"] is None
    conform("klines", to_table("klines", rows))


def test_kline_with_a_short_array_raises():
    payload = copy.deepcopy(KLINE_DOC)
    payload["result"]["list"][1] = ["1670605200000", "17071.5"]
    with pytest.raises(PayloadError, match=r"kline list\[1\]: expected a 7-slot array"):
        bybit.parse_klines(payload, "BTC")


def test_kline_with_an_empty_price_raises():
    payload = copy.deepcopy(KLINE_DOC)
    payload["result"]["list"][0][4] = ""
    with pytest.raises(PayloadError, match="price slot is empty"):
        bybit.parse_klines(payload, "BTC")


# -- error envelopes --------------------------------------------------------------------------------------------


def _response(body: dict, headers: dict | None = None) -> httpx.Response:
    request = httpx.Request("GET", "https://api.bybit.com/v5/market/funding/history")
    return httpx.Response(200, json=body, headers=headers, request=request)


def test_parameter_error_becomes_a_venue_error_with_code():
    body = {
        "retCode": 10001,
        "retMsg": "params error: symbol invalid",
        "result": {},
        "retExtInfo": {},
        "time": 1,
    }
    with pytest.raises(VenueError, match="symbol invalid") as info:
        bybit.error_check(_response(body), body)
    assert info.value.code == 10001 and info.value.endpoint == "/v5/market/funding/history"


def test_too_many_visits_is_retryable_using_the_reset_header():
    body = {"retCode": 10006, "retMsg": "Too many visits!", "result": {}, "retExtInfo": {}, "time": 1}
    reset_ms = int(time.time() * 1000) + 3000
    with pytest.raises(RetryableError) as info:
        bybit.error_check(_response(body, {"X-Bapi-Limit-Reset-Timestamp": str(reset_ms)}), body)
    assert 2.0 < info.value.retry_after_s <= 3.0


def test_too_many_visits_without_hints_waits_out_the_ip_window():
    body = {"retCode": 10006, "retMsg": "Too many visits!", "result": {}, "retExtInfo": {}, "time": 1}
    with pytest.raises(RetryableError) as info:
        bybit.error_check(_response(body), body)
    assert info.value.retry_after_s == bybit.RATE_LIMIT_DEFAULT_WAIT_S


def test_success_envelope_passes():
    payload = load("bybit_ratio.json")
    bybit.error_check(_response(payload), payload)


def test_minute_mark_klines_parse_the_documented_payload_exactly():
    rows = bybit.parse_mark_klines_1m(load("mark_price_kline_doc.json"), "BTC")
    assert len(rows) == 1
    row = rows[0]
    assert (row["symbol"], row["price_type"], row["open_time"]) == ("BTCUSDT", "mark", 1670608800000)
    assert (row["open"], row["high"], row["low"], row["close"]) == (17164.16, 17164.16, 17121.5, 17131.64)
    assert to_table("klines_1m", rows).num_rows == 1


def test_minute_mark_klines_reject_a_short_candle():
    payload = load("mark_price_kline_doc.json")
    payload["result"]["list"][0] = payload["result"]["list"][0][:4]
    with pytest.raises(PayloadError, match="5-slot"):
        bybit.parse_mark_klines_1m(payload, "BTC")
