"""The sandbox's Deribit answers have the recorded payload's field names and JSON types (numbers and nulls)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import httpx

FIXTURES = Path(__file__).parents[1] / "fixtures" / "deribit"
JSON_NUMBER = {"int", "float"}


def _types_by_field(records: list[dict]) -> dict[str, set[str]]:
    types: dict[str, set[str]] = defaultdict(set)
    for rec in records:
        for key, value in rec.items():
            types[key].add(type(value).__name__)
    return types


def test_book_summary_has_the_recorded_fields_types_and_envelope(sandbox):
    recorded = json.loads((FIXTURES / "deribit_book_summary_EXCERPT.json").read_text())
    response = httpx.get(
        f"{sandbox.base_url('deribit')}/api/v2/public/get_book_summary_by_currency",
        params={"currency": "BTC", "kind": "option"},
        timeout=10,
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    served = response.json()
    # the recording kept only jsonrpc and result of the envelope; the live envelope adds timing fields
    assert set(recorded) <= set(served) and served["jsonrpc"] == "2.0"
    assert {"usIn", "usOut", "usDiff", "testnet"} <= set(served)
    assert 100 <= len(served["result"]) <= 200  # modest chains keep hourly replay cheap
    recorded_types, served_types = _types_by_field(recorded["result"]), _types_by_field(served["result"])
    assert list(served["result"][0]) == list(recorded["result"][0])  # same keys, same order
    for field, types in served_types.items():
        allowed = recorded_types[field] | (
            {"NoneType"} | JSON_NUMBER if recorded_types[field] & JSON_NUMBER else set()
        )
        assert types <= allowed, (field, types, recorded_types[field])
    assert served_types["creation_timestamp"] == {"int"}
    # numbers are JSON floats where the venue writes 0.0 (never ints), and nulls appear like the recording's
    for field in ("open_interest", "mark_price", "mark_iv", "volume", "interest_rate", "underlying_price"):
        assert served_types[field] == {"float"}, field
    assert "NoneType" in served_types["high"] and "NoneType" in served_types["price_change"]


def test_funding_history_rows_are_the_documented_numbers(sandbox):
    clock = sandbox.state.market.scenario.clock_ms
    start = clock - clock % 3_600_000 - 6 * 3_600_000  # on the hour
    served = httpx.get(
        f"{sandbox.base_url('deribit')}/api/v2/public/get_funding_rate_history",
        params={
            "instrument_name": "BTC-PERPETUAL",
            "start_timestamp": start,
            "end_timestamp": start + 3 * 3_600_000,
        },
        timeout=10,
    ).json()
    assert served["jsonrpc"] == "2.0" and len(served["result"]) == 4  # both bounds inclusive, hourly
    for row in served["result"]:
        assert list(row) == ["timestamp", "index_price", "prev_index_price", "interest_8h", "interest_1h"]
        assert isinstance(row["timestamp"], int)
        assert all(
            isinstance(row[k], float)
            for k in ("index_price", "prev_index_price", "interest_8h", "interest_1h")
        )


def test_errors_use_the_json_rpc_error_envelope(sandbox):
    response = httpx.get(
        f"{sandbox.base_url('deribit')}/api/v2/public/get_book_summary_by_currency",
        params={"currency": "XBT", "kind": "option"},
        timeout=10,
    )
    body = response.json()
    assert response.status_code == 400 and "result" not in body
    assert body["jsonrpc"] == "2.0" and body["error"]["code"] == -32602
    assert isinstance(body["error"]["message"], str) and body["error"]["data"]["param"] == "currency"
