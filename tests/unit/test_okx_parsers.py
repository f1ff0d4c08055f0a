"""OKX parsers and error hook against the documented payload shapes in tests/fixtures/okx (see ORIGIN.md)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from pipelines.lib.numbers import PayloadError
from pipelines.venues import okx
from pipelines.venues.http import RetryableError, VenueError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "okx"
HOUR_MS = 3_600_000


def load(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def response(
    status: int, body: dict, path: str = "/api/v5/public/funding-rate-history", params: dict | None = None
) -> httpx.Response:
    request = httpx.Request("GET", f"https://www.okx.com{path}", params=params)
    return httpx.Response(status, json=body, request=request)


# -- envelope ------------------------------------------------------------------------------------------------


def test_unwrap_returns_data_of_a_successful_envelope():
    assert okx.unwrap(load("public_time"), "public/time") == [{"ts": "1597026383085"}]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], "expected an envelope object, got list"),
        ({"msg": "", "data": []}, "missing field 'code'"),
        ({"code": "0", "msg": ""}, "missing field 'data'"),
        ({"code": "0", "msg": "", "data": {"ts": "1"}}, "expected `data` to be a list, got dict"),
        ({"code": "51001", "msg": "Instrument ID does not exist", "data": []}, "error envelope code '51001'"),
    ],
)
def test_unwrap_rejects_bad_envelopes(payload, message):
    with pytest.raises(PayloadError, match=message.replace("(", r"\(").replace(")", r"\)")):
        okx.unwrap(payload, "instruments")


# -- funding ---------------------------------------------------------------------------------------------------


def test_parse_funding_uses_realized_rate():
    rows = okx.parse_funding(load("funding_rate_history"), "BTC")
    assert len(rows) == 3
    first = rows[0]
    assert first["symbol"] == "BTC-USDT-SWAP"
    assert first["funding_time"] == 1703059200000
    assert first["funding_rate"] == float(
        "0.0000746572360545"
    )  # realizedRate, not fundingRate 0.0000746604960499
    assert first["mark_price"] is None
    assert first["funding_interval_hours"] is None
    assert json.loads(first["raw"]) == load("funding_rate_history")["data"][0]
    assert [r["funding_rate"] for r in rows[1:]] == [0.0001, float("-0.0000213900911129")]


@pytest.mark.parametrize("realized", ["", None])
def test_parse_funding_falls_back_to_funding_rate_when_realized_is_missing(realized):
    payload = load("funding_rate_history")
    if realized is None:
        del payload["data"][0]["realizedRate"]
    else:
        payload["data"][0]["realizedRate"] = realized
    assert okx.parse_funding(payload, "BTC")[0]["funding_rate"] == float("0.0000746604960499")


def test_parse_funding_without_any_rate_is_an_error():
    payload = load("funding_rate_history")
    payload["data"][1]["realizedRate"] = ""
    del payload["data"][1]["fundingRate"]
    with pytest.raises(
        PayloadError, match=r"funding-rate-history\[1\]: neither realizedRate nor fundingRate"
    ):
        okx.parse_funding(payload, "BTC")


def test_parse_funding_reports_missing_time_and_bad_numbers():
    payload = load("funding_rate_history")
    del payload["data"][2]["fundingTime"]
    with pytest.raises(PayloadError, match=r"funding-rate-history\[2\]: missing field 'fundingTime'"):
        okx.parse_funding(payload, "BTC")
    payload = load("funding_rate_history")
    payload["data"][0]["realizedRate"] = "n/a"
    with pytest.raises(PayloadError, match="field 'realizedRate': expected a number, got 'n/a'"):
        okx.parse_funding(payload, "BTC")


def test_funding_intervals_come_from_gaps_between_settlements():
    rows = okx.with_funding_intervals(okx.parse_funding(load("funding_rate_history"), "BTC"))
    assert [r["funding_time"] for r in rows] == [1703001600000, 1703030400000, 1703059200000]  # ascending
    assert [r["funding_interval_hours"] for r in rows] == [None, 8.0, 8.0]


def test_funding_interval_is_unknown_across_a_gap_that_is_no_okx_interval():
    times = [0, 4 * HOUR_MS, 7 * HOUR_MS, 23 * HOUR_MS]  # 4 h, then 3 h and 16 h: a row is missing somewhere
    rows = okx.with_funding_intervals([{"funding_time": t} for t in times])
    assert [r["funding_interval_hours"] for r in rows] == [None, 4.0, None, None]


# -- open interest ---------------------------------------------------------------------------------------------


def test_parse_open_interest_keeps_all_three_units():
    rows = okx.parse_open_interest(load("open_interest_history"), "BTC", "BTC-USDT-SWAP")
    assert [r["ts"] for r in rows] == [1703059200000, 1703055600000, 1703052000000]
    first = rows[0]
    assert first["oi_coin"] == float("26548.7417")
    assert first["oi_contracts"] == float("2654874.17")
    assert first["oi_usd"] == float("1151718230.4312")
    assert json.loads(first["raw"]) == ["1703059200000", "2654874.17", "26548.7417", "1151718230.4312"]


def test_parse_open_interest_keeps_a_missing_value_missing():
    payload = load("open_interest_history")
    payload["data"][0][3] = ""
    assert okx.parse_open_interest(payload, "BTC", "BTC-USDT-SWAP")[0]["oi_usd"] is None


def test_parse_open_interest_rejects_short_arrays_and_text():
    payload = load("open_interest_history")
    payload["data"][1] = payload["data"][1][:3]
    with pytest.raises(
        PayloadError, match=r"open-interest-history\[1\]: expected an array \[ts, oi, oiCcy, oiUsd\]"
    ):
        okx.parse_open_interest(payload, "BTC", "BTC-USDT-SWAP")
    payload = load("open_interest_history")
    payload["data"][0][2] = "lots"
    with pytest.raises(PayloadError, match="field 'oiCcy': expected a number"):
        okx.parse_open_interest(payload, "BTC", "BTC-USDT-SWAP")


# -- long/short ratio -----------------------------------------------------------------------------------------


def test_parse_long_short_ratio_derives_the_long_share():
    rows = okx.parse_long_short_ratio(load("long_short_account_ratio_contract"), "BTC", "BTC-USDT-SWAP")
    first = rows[0]
    assert first["ts"] == 1703059200000
    assert first["ratio_type"] == "global_account"
    assert first["long_short_ratio"] == 1.33
    assert first["long_share"] == pytest.approx(1.33 / 2.33)
    assert [r["long_short_ratio"] for r in rows] == [1.33, 1.35, 1.4]


def test_parse_long_short_ratio_missing_and_invalid_values():
    payload = load("long_short_account_ratio_contract")
    payload["data"][0][1] = ""
    row = okx.parse_long_short_ratio(payload, "BTC", "BTC-USDT-SWAP")[0]
    assert row["long_share"] is None and row["long_short_ratio"] is None
    payload["data"][0][1] = "-0.5"
    with pytest.raises(PayloadError, match="longShortAcctRatio must not be negative"):
        okx.parse_long_short_ratio(payload, "BTC", "BTC-USDT-SWAP")
    payload["data"][0] = ["1703059200000"]
    with pytest.raises(PayloadError, match=r"expected an array \[ts, longShortAcctRatio\]"):
        okx.parse_long_short_ratio(payload, "BTC", "BTC-USDT-SWAP")


# -- candles ---------------------------------------------------------------------------------------------------


def test_parse_candles_keeps_completed_bars_only():
    rows = okx.parse_candles(load("history_candles"), "BTC", "BTC-USDT-SWAP")
    assert [r["open_time"] for r in rows] == [
        1703059200000,
        1703055600000,
    ]  # the forming 1703062800000 is dropped
    first = rows[0]
    assert (first["open"], first["high"], first["low"], first["close"]) == (
        43580.3,
        43702.9,
        43511.0,
        43620.1,
    )
    assert first["volume_coin"] == float("182.1056")  # volCcy (base), not vol (contracts)
    assert first["volume_usd"] == float("7939671.75")
    assert first["trades"] is None
    assert (first["price_type"], first["interval"]) == ("last", "1h")


def test_parse_candles_rejects_missing_prices_and_odd_confirm_flags():
    payload = load("history_candles")
    payload["data"][1][4] = ""
    with pytest.raises(PayloadError, match=r"history-candles\[1\]: missing price c"):
        okx.parse_candles(payload, "BTC", "BTC-USDT-SWAP")
    payload = load("history_candles")
    payload["data"][2][8] = "yes"
    with pytest.raises(PayloadError, match=r"history-candles\[2\]: confirm must be"):
        okx.parse_candles(payload, "BTC", "BTC-USDT-SWAP")
    payload = load("history_candles")
    payload["data"][0] = payload["data"][0][:8]
    with pytest.raises(PayloadError, match=r"history-candles\[0\]: expected an array"):
        okx.parse_candles(payload, "BTC", "BTC-USDT-SWAP")


# -- instruments and time --------------------------------------------------------------------------------------


def test_parse_instruments_picks_the_requested_contract():
    rows = okx.parse_instruments(load("instruments_swap"), "ETH", "ETH-USDT-SWAP", 1703059200123)
    assert len(rows) == 1
    row = rows[0]
    assert (row["symbol"], row["ts"], row["contract_value"]) == ("ETH-USDT-SWAP", 1703059200123, 0.1)
    assert (row["contract_value_ccy"], row["state"]) == ("ETH", "live")


def test_parse_instruments_errors():
    with pytest.raises(PayloadError, match="SOL-USDT-SWAP is not in the response"):
        okx.parse_instruments(load("instruments_swap"), "SOL", "SOL-USDT-SWAP", 0)
    payload = load("instruments_swap")
    del payload["data"][0]["ctVal"]
    with pytest.raises(PayloadError, match=r"instruments\[0\]: missing field 'ctVal'"):
        okx.parse_instruments(payload, "BTC", "BTC-USDT-SWAP", 0)


def test_parse_server_time():
    assert okx.parse_server_time(load("public_time")) == 1597026383085
    with pytest.raises(PayloadError, match="expected one record, got 0"):
        okx.parse_server_time({"code": "0", "msg": "", "data": []})


# -- error hook and dataset specs ------------------------------------------------------------------------------


def test_error_check_unknown_instrument_is_a_venue_error():
    with pytest.raises(VenueError) as info:
        okx.error_check(
            response(200, load("error_unknown_instrument"), params={"instId": "FOO-USDT-SWAP"}),
            load("error_unknown_instrument"),
        )
    assert info.value.code == "51001"
    assert "Instrument ID does not exist (instId=FOO-USDT-SWAP)" in str(info.value)


def test_error_check_rate_limit_in_http_200_is_retryable_after_the_window():
    with pytest.raises(RetryableError) as info:
        okx.error_check(response(200, load("error_rate_limit")), load("error_rate_limit"))
    assert info.value.retry_after_s == okx.RATE_WINDOW_S


def test_error_check_transient_codes_are_retryable_and_success_passes():
    busy = {"code": "50013", "msg": "Systems are busy. Please try again later.", "data": []}
    with pytest.raises(RetryableError, match="50013"):
        okx.error_check(response(200, busy), busy)
    ok = load("public_time")
    assert okx.error_check(response(200, ok), ok) is None
    assert okx.error_check(response(200, ok), [1, 2]) is None  # not an envelope: left to parsers


def test_dataset_specs_state_retention_and_snapshots():
    specs = okx.DATASETS
    assert {name: s.retention_days for name, s in specs.items()} == {
        "funding_rates": 92,
        "open_interest": 60,
        "long_short_ratios": 60,
        "klines": None,
        "klines_1m": None,  # mark-price history covers "recent years"
        "instruments": None,
        "liquidations": 1,
        "system_status": None,  # a snapshot: current state only
        "insurance_funds": None,  # the fund history's retention is not documented
    }
    assert [name for name, s in specs.items() if s.snapshot] == ["instruments", "system_status"]
    assert [name for name, s in specs.items() if s.accumulate] == ["liquidations"]


def test_minute_mark_candles_keep_completed_bars_only():
    rows = okx.parse_mark_candles_1m(load("history_mark_price_candles"), "BTC", "BTC-USDT-SWAP")
    assert len(rows) == 1  # the documented first row is still forming (confirm "0")
    row = rows[0]
    assert (row["price_type"], row["open_time"]) == ("mark", 1597026383085)
    assert (row["open"], row["high"], row["low"], row["close"]) == (3.731, 3.799, 3.494, 3.72)


def test_minute_mark_candles_reject_a_bad_confirm_flag_and_a_short_array():
    payload = load("history_mark_price_candles")
    payload["data"][1][5] = "yes"
    with pytest.raises(PayloadError, match="confirm"):
        okx.parse_mark_candles_1m(payload, "BTC", "BTC-USDT-SWAP")
    payload["data"] = [["1597026383085", "3.7", "3.8"]]
    with pytest.raises(PayloadError, match="expected an array"):
        okx.parse_mark_candles_1m(payload, "BTC", "BTC-USDT-SWAP")
