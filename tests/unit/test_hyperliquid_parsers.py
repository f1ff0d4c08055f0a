"""Hyperliquid parsers against the venue's recorded payloads (tests/fixtures/hyperliquid/ORIGIN.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from pipelines.lib.numbers import PayloadError
from pipelines.venues import hyperliquid as hl
from pipelines.venues.base import to_table

FIXTURES = Path(__file__).parents[1] / "fixtures" / "hyperliquid"


def recorded_body(cassette: str, query_type: str):
    """The response body of the cassette's request whose JSON body has this `type`."""
    doc = yaml.safe_load((FIXTURES / cassette).read_text())
    for interaction in doc["interactions"]:
        if json.loads(interaction["request"]["body"])["type"] == query_type:
            return json.loads(interaction["response"]["body"]["string"])
    raise AssertionError(f"{cassette} has no {query_type} request")


@pytest.fixture(scope="module")
def funding_payload():
    return recorded_body("test_get_funding_history[None].yaml", "fundingHistory")


@pytest.fixture(scope="module")
def candles_payload():
    return recorded_body("test_get_candles_snapshot.yaml", "candleSnapshot")


@pytest.fixture(scope="module")
def meta_payload():
    return json.loads((FIXTURES / "hyperliquid_meta.json").read_text())


def ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp() * 1000)


# -- fundingHistory --------------------------------------------------------------------------------------------


def test_funding_rows_keep_the_recorded_values(funding_payload):
    rows = hl.parse_funding(funding_payload, "BTC")
    assert len(rows) == len(funding_payload) == 1038
    first = rows[0]
    assert first["symbol"] == "BTC" and first["venue"] == "hyperliquid"
    assert first["funding_rate"] == float("-0.00061334")  # the file's first fundingRate string
    assert first["funding_time"] == 1683849600000  # 1683849600048 floored to the hour
    assert first["mark_price"] is None  # not in the payload, so not invented
    assert json.loads(first["raw"]) == funding_payload[0]
    assert to_table("funding_rates", rows).num_rows == 1038  # fits the lake schema


def test_funding_times_are_floored_even_with_minutes_of_jitter(funding_payload):
    late = next(r for r in funding_payload if r["time"] == 1684830233040)  # settled at 08:23:53.040
    (row,) = hl.parse_funding([late], "BTC")
    assert row["funding_time"] == ms("2023-05-23T08:00:00")
    assert all(r["funding_time"] % 3_600_000 == 0 for r in hl.parse_funding(funding_payload, "BTC"))


def test_funding_interval_switches_from_8h_to_hourly_on_2023_06_08(funding_payload):
    rows = {r["funding_time"]: r for r in hl.parse_funding(funding_payload, "BTC")}
    assert rows[ms("2023-06-08T00:00:00")]["funding_interval_hours"] == 8.0
    assert rows[ms("2023-06-08T01:00:00")]["funding_interval_hours"] == 1.0
    assert rows[ms("2023-06-08T01:00:00")]["funding_rate"] == float("0.0000125")
    last = hl.parse_funding(funding_payload[-1:], "BTC")[0]
    assert last["funding_interval_hours"] == 1.0 and last["funding_time"] == ms("2023-07-17T21:00:00")


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"coin": "BTC", "premium": "0.0001", "time": 1}, "missing field 'fundingRate'"),
        ({"coin": "BTC", "fundingRate": "0.0001", "premium": "0.0001"}, "missing field 'time'"),
        (
            {"coin": "BTC", "fundingRate": "abc", "premium": "0.0001", "time": 1},
            "expected a number, got 'abc'",
        ),
        ({"fundingRate": "0.0001", "premium": "0.0001", "time": 1}, "missing field 'coin'"),
        ("not an object", "expected an object"),
    ],
)
def test_malformed_funding_records_raise_a_clear_payload_error(record, message):
    with pytest.raises(PayloadError, match="fundingHistory\\[0\\]") as err:
        hl.parse_funding([record], "BTC")
    assert message in str(err.value)


def test_funding_payload_that_is_not_a_list_is_rejected():
    with pytest.raises(PayloadError, match="expected a list, got NoneType"):
        hl.parse_funding(None, "BTC")


# -- candleSnapshot --------------------------------------------------------------------------------------------


def test_candle_rows_keep_the_recorded_values(candles_payload):
    rows = hl.parse_candles(candles_payload, "PEPE")
    assert len(rows) == 24
    first = rows[0]
    assert first["symbol"] == "kPEPE" and first["interval"] == "1h" and first["price_type"] == "last"
    assert first["open_time"] == 1684699200000
    assert (first["open"], first["high"], first["low"], first["close"]) == (
        float("0.001601"),
        float("0.001616"),
        float("0.001601"),
        float("0.001604"),
    )
    assert first["volume_coin"] == float("520665683.0")
    assert first["trades"] == 709
    assert first["volume_usd"] is None  # the venue gives base volume only; never stored as 0
    assert json.loads(first["raw"]) == candles_payload[0]
    times = [r["open_time"] for r in rows]
    assert times == sorted(times) and all(b - a == 3_600_000 for a, b in zip(times, times[1:], strict=False))
    assert to_table("klines", rows).num_rows == 24


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"o": None}, "field 'o' is empty"),
        ({"c": "1.2.3"}, "expected a number, got '1.2.3'"),
        ({"n": "many"}, "expected an integer, got 'many'"),
        ({"t": None}, "expected an integer, got None"),
    ],
)
def test_malformed_candles_raise_a_clear_payload_error(candles_payload, change, message):
    with pytest.raises(PayloadError, match="candleSnapshot\\[0\\]") as err:
        hl.parse_candles([{**candles_payload[0], **change}], "PEPE")
    assert message in str(err.value)


def test_candle_missing_a_field_names_it(candles_payload):
    record = {k: v for k, v in candles_payload[0].items() if k != "v"}
    with pytest.raises(PayloadError, match="candleSnapshot\\[0\\]: missing field 'v'"):
        hl.parse_candles([record], "PEPE")


# -- metaAndAssetCtxs ------------------------------------------------------------------------------------------


def test_asset_context_pairs_the_context_with_its_universe_entry(meta_payload):
    ts = ms("2026-09-08T23:00:00")
    (row,) = hl.parse_asset_contexts(meta_payload, "BTC", "BTC", ts)
    assert row["ts"] == ts and row["symbol"] == "BTC"
    assert row["funding_rate"] == float("0.0000100836")
    assert row["oi_coin"] == float("33997.0627")
    assert row["mark_price"] == float("78384.0")
    assert row["oracle_price"] == float("78421.0")
    assert row["mid_price"] == float("78383.5")
    assert row["premium"] == float("-0.0004718124")
    assert row["day_notional_volume_usd"] == float("2246940338.6532187462")
    raw = json.loads(row["raw"])
    assert raw["universe"]["name"] == "BTC" and raw["ctx"] == meta_payload[1][0]
    assert to_table("asset_contexts", [row]).num_rows == 1


def test_asset_context_keeps_a_null_mid_price_as_missing(meta_payload):
    meta, (ctx,) = meta_payload
    (row,) = hl.parse_asset_contexts([meta, [{**ctx, "midPx": None}]], "BTC", "BTC", 0)
    assert row["mid_price"] is None


def test_asset_context_for_a_coin_outside_the_universe_is_a_clear_error(meta_payload):
    with pytest.raises(PayloadError, match="coin 'ETH' is not in the universe"):
        hl.parse_asset_contexts(meta_payload, "ETH", "ETH", 0)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"universe": []}, "expected \\[meta, contexts\\]"),
        ([{"universe": [{"name": "BTC"}]}, []], "1 universe entries but 0 contexts"),
        ([{}, []], "missing field 'universe'"),
    ],
)
def test_malformed_meta_raises_a_clear_payload_error(payload, message):
    with pytest.raises(PayloadError, match=message):
        hl.parse_asset_contexts(payload, "BTC", "BTC", 0)


def test_asset_context_missing_a_field_names_it(meta_payload):
    meta, (ctx,) = meta_payload
    ctx = {k: v for k, v in ctx.items() if k != "openInterest"}
    with pytest.raises(PayloadError, match="contexts\\[0\\] \\(BTC\\): missing field 'openInterest'"):
        hl.parse_asset_contexts([meta, [ctx]], "BTC", "BTC", 0)


def test_minute_candles_are_traded_price_rows_of_the_documented_shape():
    doc = json.loads((FIXTURES / "candle_snapshot_docs.json").read_text())
    doc[0] = {**doc[0], "i": "1m"}  # the docs' example is a 15m candle; a 1m one has the same fields
    rows = hl.parse_candles_1m(doc, "BTC")
    assert len(rows) == 1
    row = rows[0]
    assert (row["symbol"], row["price_type"], row["open_time"]) == ("BTC", "last", 1681923600000)
    assert (row["open"], row["high"], row["low"], row["close"]) == (29295.0, 29309.0, 29250.0, 29258.0)
    assert to_table("klines_1m", rows).num_rows == 1


def test_minute_candle_parser_refuses_candles_of_another_interval():
    recorded = recorded_body("test_get_candles_snapshot.yaml", "candleSnapshot")  # real 1h candles
    with pytest.raises(PayloadError, match="expected 1m candles"):
        hl.parse_candles_1m(recorded, "BTC")
