"""Binance parsers against real recorded payloads (tests/fixtures/binance/ORIGIN.md)."""

import json
from pathlib import Path

import pytest

from pipelines.lake import conform
from pipelines.lib.numbers import PayloadError
from pipelines.venues import binance
from pipelines.venues.base import to_table

FIX = Path(__file__).parents[1] / "fixtures" / "binance"


def load(name):
    return json.loads((FIX / name).read_text())


def test_funding_rates_keep_exact_values_and_bucket_jittered_times():
    payload = load("binance_funding.json")
    rows = binance.parse_funding(payload, "BTC")
    assert len(rows) == len(payload) == 21
    first = rows[0]
    assert first["funding_rate"] == float(payload[0]["fundingRate"]) == 0.00007995
    assert first["mark_price"] == 77403.12535507
    # 1788336000001 has 1 ms of jitter; the normalised time is the hour, the raw record keeps the original
    second = rows[1]
    assert second["funding_time"] == 1788336000000
    assert json.loads(second["raw"])["fundingTime"] == 1788336000001
    assert json.loads(second["raw"])["rateType"] == "Regular"
    conform("funding_rates", to_table("funding_rates", rows))


def test_open_interest_history_in_coins_and_usd():
    payload = load("binance_oi_hist.json")
    rows = binance.parse_open_interest_hist(payload, "BTC")
    assert len(rows) == 25
    assert rows[0]["oi_coin"] == 107100.284
    assert rows[0]["oi_usd"] == pytest.approx(8452471718.358591)
    assert rows[0]["ts"] == 1788822000000
    assert "CMCCirculatingSupply" in json.loads(rows[0]["raw"])
    conform("open_interest", to_table("open_interest", rows))


def test_account_ratio_is_a_long_share():
    rows = binance.parse_account_ratio(load("binance_ls.json"), "BTC", "BTCUSDT", "global_account")
    assert rows == [
        {
            **rows[0],
            "long_share": 0.5647,
            "long_short_ratio": 1.2973,
            "ts": 1788908400000,
            "symbol": "BTCUSDT",
        }
    ]


def test_taker_ratio_long_share_is_buy_volume_share():
    rows = binance.parse_taker_ratio(load("binance_taker.json"), "BTC", "BTCUSDT")
    assert rows[0]["long_share"] == pytest.approx(1383.444 / (1383.444 + 1092.271))
    assert rows[0]["long_short_ratio"] == 1.2666


def test_klines_twelve_slots_and_index_volume_is_no_reading():
    excerpt = load("binance.fetchOHLCV.httpResponse_EXCERPT.json")
    last = binance.parse_klines(
        excerpt["usdm_BTCUSDT_1m__fapi_v1_klines"]["httpResponse"], "BTC", "BTCUSDT", "last", "1m"
    )
    assert last[1]["low"] == 70459.4 and last[1]["trades"] == 9 and last[1]["volume_usd"] == 8518.176
    index = binance.parse_klines(
        excerpt["coinm_BTCUSD_1d_index_price__dapi_v1_indexPriceKlines"]["httpResponse"],
        "BTC",
        "BTCUSD",
        "index",
        "1d",
    )
    assert index[0]["close"] == 71625.41841177
    assert index[0]["volume_coin"] is None and index[0]["trades"] is None  # "0" there means no reading
    conform("klines", to_table("klines", last + index))


@pytest.mark.parametrize(
    "payload, message",
    [
        ({"code": -1121, "msg": "Invalid symbol."}, "expected a list"),
        ([{"symbol": "BTCUSDT", "fundingRate": "0.0001"}], r"fundingRate\[0\]: missing field 'fundingTime'"),
        ([{"symbol": "BTCUSDT", "fundingTime": 1, "fundingRate": "abc"}], "field 'fundingRate'"),
    ],
)
def test_malformed_funding_payloads_fail_clearly(payload, message):
    with pytest.raises(PayloadError, match=message):
        binance.parse_funding(payload, "BTC")


def test_short_kline_rows_fail_clearly():
    with pytest.raises(PayloadError, match="12-slot"):
        binance.parse_klines([[1, "2", "3"]], "BTC", "BTCUSDT", "last", "1h")


def test_minute_mark_klines_parse_the_documented_payload_exactly():
    rows = binance.parse_mark_klines_1m(load("mark_price_klines_1m_doc.json"), "BTC", "BTCUSDT")
    assert len(rows) == 1
    row = rows[0]
    assert (row["price_type"], row["open_time"]) == ("mark", 1591256460000)
    assert (row["open"], row["high"], row["low"], row["close"]) == (
        9653.29201333,
        9654.56401333,
        9653.07367333,
        9653.07367333,
    )
    table = to_table("klines_1m", rows)
    assert table.num_rows == 1 and table.schema.field("open_time").type.unit == "ms"


def test_minute_mark_klines_reject_a_short_array_and_an_empty_price():
    with pytest.raises(PayloadError, match="12-slot"):
        binance.parse_mark_klines_1m([[1591256460000, "1", "1", "1"]], "BTC", "BTCUSDT")
    kline = load("mark_price_klines_1m_doc.json")[0]
    kline[4] = ""
    with pytest.raises(PayloadError, match="price slot is empty"):
        binance.parse_mark_klines_1m([kline], "BTC", "BTCUSDT")
