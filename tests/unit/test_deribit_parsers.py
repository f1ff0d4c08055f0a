"""Deribit parsers and instrument names against the real recorded book summary (tests/fixtures/deribit/ORIGIN.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from pipelines.lake import conform
from pipelines.lib.numbers import PayloadError
from pipelines.lib.option_names import OptionNameError, format_option_name, parse_option_name
from pipelines.venues import deribit
from pipelines.venues.base import to_table
from pipelines.venues.http import RetryableError, VenueError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "deribit"
SNAPSHOT_TS = 1788908400000  # 2026-09-08T23:00Z, the hour of the recording's creation_timestamp


@pytest.fixture(scope="module")
def book_summary():
    return json.loads((FIXTURES / "deribit_book_summary_EXCERPT.json").read_text())


def test_every_recorded_instrument_name_parses(book_summary):
    for rec in book_summary["result"]:
        option = parse_option_name(rec["instrument_name"])
        assert option.underlying == rec["base_currency"] == "BTC"
        assert option.settlement is None
        # the recording's underlying_index names the same expiry: BTC-<DMMMYY>
        assert rec["underlying_index"] == "BTC-" + rec["instrument_name"].split("-")[1]


@pytest.mark.parametrize(
    ("name", "underlying", "settlement", "expiry", "strike", "option_type"),
    [
        ("BTC-25SEP26-155000-P", "BTC", None, datetime(2026, 9, 25, 8, tzinfo=UTC), 155000.0, "put"),
        ("BTC-9SEP26-73000-P", "BTC", None, datetime(2026, 9, 9, 8, tzinfo=UTC), 73000.0, "put"),
        ("BTC-25JUN27-105000-P", "BTC", None, datetime(2027, 6, 25, 8, tzinfo=UTC), 105000.0, "put"),
        ("ETH-26DEC25-4000-C", "ETH", None, datetime(2025, 12, 26, 8, tzinfo=UTC), 4000.0, "call"),
        ("DOGE_USDC-24JAN25-0d5056-C", "DOGE", "USDC", datetime(2025, 1, 24, 8, tzinfo=UTC), 0.5056, "call"),
    ],
)
def test_names_parse_into_underlying_expiry_strike_and_type(
    name, underlying, settlement, expiry, strike, option_type
):
    option = parse_option_name(name)
    assert (option.underlying, option.settlement, option.expiry, option.strike, option.option_type) == (
        underlying,
        settlement,
        expiry,
        strike,
        option_type,
    )
    assert option.expiry_ms == int(expiry.timestamp() * 1000)
    assert format_option_name(underlying, expiry.date(), strike, option_type, settlement) == name


@pytest.mark.parametrize(
    "name",
    [
        "BTC-PERPETUAL",
        "BTC-25SEP26",
        "BTC-25SEP26-155000",
        "BTC-25XYZ26-155000-P",
        "BTC-31FEB26-1000-P",
        "BTC-25SEP26-155000-X",
        "btc-25sep26-155000-p",
        "BTC-25SEP26-0-C",
        "",
        None,
    ],
)
def test_unparseable_names_fail_naming_the_name(name):
    with pytest.raises(OptionNameError, match="unparseable Deribit option name") as err:
        parse_option_name(name)
    assert repr(name) in str(err.value)


def test_book_summary_rows_keep_oi_mark_iv_underlying_and_volume(book_summary):
    rows = deribit.parse_book_summary(book_summary, SNAPSHOT_TS)
    assert len(rows) == 12
    table = conform("options_snapshots", to_table("options_snapshots", rows))
    first = table.slice(0, 1).to_pylist()[0]
    assert first["symbol"] == "BTC-25SEP26-155000-P"
    assert first["asset"] == "BTC" and first["venue"] == "deribit"
    assert first["expiry"] == datetime(2026, 9, 25, 8, tzinfo=UTC)
    assert (first["strike"], first["option_type"]) == (155000.0, "put")
    assert (first["open_interest_coin"], first["mark_price"], first["mark_iv"]) == (0.1, 0.97174948, 84.02)
    assert (first["underlying_price"], first["volume"]) == (78610.75, 0.0)
    assert json.loads(first["raw"]) == book_summary["result"][0]
    by_name = {r["symbol"]: r for r in rows}
    assert by_name["BTC-25SEP26-105000-C"]["open_interest_coin"] == 1538.2
    assert by_name["BTC-9SEP26-73000-P"]["mark_price"] == 1.13e-6  # exponent notation in the payload


def test_an_unparseable_name_fails_the_snapshot_naming_the_row(book_summary):
    payload = json.loads(json.dumps(book_summary))
    payload["result"][3]["instrument_name"] = "BTC-27NOV26-70000"
    with pytest.raises(PayloadError, match=r"result\[3\].*'BTC-27NOV26-70000'"):
        deribit.parse_book_summary(payload, SNAPSHOT_TS)


def test_error_envelope_is_not_a_result():
    with pytest.raises(PayloadError, match="error envelope"):
        deribit.parse_book_summary(
            {"jsonrpc": "2.0", "error": {"code": -32602, "message": "Invalid params"}}, 0
        )


def test_funding_history_rows_are_hourly_interest_1h():
    payload = {
        "jsonrpc": "2.0",
        "result": [
            {
                "timestamp": 1760054400000,
                "index_price": 120992.7,
                "prev_index_price": 121728.59,
                "interest_8h": -2.046e-05,
                "interest_1h": -1.253e-05,
            },
            {
                "timestamp": 1760058000003,
                "index_price": 120418.93,
                "prev_index_price": 120909.31,
                "interest_8h": 3.874e-05,
                "interest_1h": 0.0,
            },
        ],
    }
    rows = deribit.parse_funding_history(payload, "BTC", "BTC-PERPETUAL")
    assert [(r["funding_time"], r["funding_rate"], r["funding_interval_hours"]) for r in rows] == [
        (1760054400000, -1.253e-05, 1.0),
        (1760058000000, 0.0, 1.0),  # zero is a rate, not a missing value; ms jitter floored to the hour
    ]
    assert rows[0]["symbol"] == "BTC-PERPETUAL" and rows[0]["mark_price"] is None
    payload["result"][1]["interest_1h"] = None
    with pytest.raises(PayloadError, match=r"get_funding_rate_history\[1\]: interest_1h is empty"):
        deribit.parse_funding_history(payload, "BTC", "BTC-PERPETUAL")


def _response(status: int, body: dict) -> httpx.Response:
    request = httpx.Request(
        "GET", "https://www.deribit.com/api/v2/public/get_book_summary_by_currency?currency=XBT"
    )
    return httpx.Response(status, json=body, request=request)


def test_too_many_requests_is_retryable_and_other_codes_are_clear_errors():
    limited = {"jsonrpc": "2.0", "error": {"code": 10028, "message": "too_many_requests"}}
    with pytest.raises(RetryableError, match="rate limited"):
        deribit.error_check(_response(429, limited), limited)
    invalid = {
        "jsonrpc": "2.0",
        "error": {
            "code": -32602,
            "message": "Invalid params",
            "data": {"reason": "wrong format", "param": "currency"},
        },
    }
    with pytest.raises(VenueError, match="Invalid params.*currency.*XBT") as err:
        deribit.error_check(_response(400, invalid), invalid)
    assert err.value.code == -32602
    deribit.error_check(_response(200, {"jsonrpc": "2.0", "result": []}), {"jsonrpc": "2.0", "result": []})
