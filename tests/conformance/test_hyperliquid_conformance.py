"""The sandbox's Hyperliquid answers have the recorded payloads' field names and JSON types, recursively."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import yaml

from pipelines.lib.timeutil import iso_to_ms
from tests.conformance.json_shape import shape

FIXTURES = Path(__file__).parents[1] / "fixtures" / "hyperliquid"


def recorded_body(cassette: str, query_type: str):
    doc = yaml.safe_load((FIXTURES / cassette).read_text())
    for interaction in doc["interactions"]:
        if json.loads(interaction["request"]["body"])["type"] == query_type:
            return json.loads(interaction["response"]["body"]["string"])
    raise AssertionError(f"{cassette} has no {query_type} request")


def post_info(sandbox, body: dict):
    response = httpx.post(f"{sandbox.base_url('hyperliquid')}/info", json=body, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


CASES = {
    "metaAndAssetCtxs": (
        lambda: json.loads((FIXTURES / "hyperliquid_meta.json").read_text()),
        {"type": "metaAndAssetCtxs"},
    ),
    "fundingHistory": (
        lambda: recorded_body("test_get_funding_history[None].yaml", "fundingHistory"),
        {"type": "fundingHistory", "coin": "BTC", "startTime": iso_to_ms("2025-10-10T00:00:00Z")},
    ),
    "candleSnapshot": (
        lambda: recorded_body("test_get_candles_snapshot.yaml", "candleSnapshot"),
        {
            "type": "candleSnapshot",
            "req": {
                "coin": "ETH",
                "interval": "1h",
                "startTime": iso_to_ms("2025-10-10T00:00:00Z"),
                "endTime": iso_to_ms("2025-10-11T00:00:00Z"),
            },
        },
    ),
    "candleSnapshot 1m": (
        lambda: recorded_body("test_get_candles_snapshot.yaml", "candleSnapshot"),
        {
            "type": "candleSnapshot",
            "req": {
                "coin": "BTC",
                "interval": "1m",
                "startTime": iso_to_ms("2025-10-10T20:50:00Z"),
                "endTime": iso_to_ms("2025-10-10T21:00:00Z"),
            },
        },
    ),
}


@pytest.mark.parametrize("query_type", sorted(CASES))
def test_sandbox_answer_has_the_recorded_fields_and_types(sandbox, query_type):
    load_recording, request_body = CASES[query_type]
    recorded, served = load_recording(), post_info(sandbox, request_body)
    assert served, f"the sandbox returned nothing for {query_type}"
    if query_type == "candleSnapshot 1m":
        assert {c["i"] for c in served} == {"1m"} and all(c["T"] == c["t"] + 59_999 for c in served)
    if query_type == "metaAndAssetCtxs":  # a pair [meta, contexts], not a list of like records
        assert len(served) == len(recorded) == 2
        assert [shape(half) for half in served] == [shape(half) for half in recorded]
    else:
        assert shape(served) == shape(recorded)


def test_meta_contexts_pair_with_the_universe_and_carry_numeric_strings(sandbox):
    meta, contexts = post_info(sandbox, {"type": "metaAndAssetCtxs"})
    names = [entry["name"] for entry in meta["universe"]]
    assert names == list(sandbox.state.assets) and len(contexts) == len(names)
    for ctx in contexts:
        for key, value in ctx.items():
            for number in value if key == "impactPxs" else [value]:
                float(number)  # every context value is a decimal string


def test_time_range_answers_are_ascending_with_integer_times(sandbox):
    funding = post_info(sandbox, CASES["fundingHistory"][1])
    candles = post_info(sandbox, CASES["candleSnapshot"][1])
    assert [r["time"] for r in funding] == sorted(r["time"] for r in funding)
    assert [c["t"] for c in candles] == sorted(c["t"] for c in candles)
    assert all(c["T"] == c["t"] + 3_600_000 - 1 for c in candles)
    # endTime is inclusive and every overlapping candle is returned: the one opening at endTime too
    assert len(candles) == 25 and candles[-1]["t"] == CASES["candleSnapshot"][1]["req"]["endTime"]
