"""CoinGlass client on a fake venue: the parser, the key header, 401 and 429 handling, and redaction of the key."""

from __future__ import annotations

import httpx
import pytest

from pipelines.lib.numbers import PayloadError
from pipelines.venues import coinglass

KEY = "cg-unit-secret-5f1e2d"
HOUR = 3_600_000


def envelope(rows: list[dict]) -> dict:
    return {"code": "0", "msg": "success", "data": rows}


def bar(t: int, long_usd: float, short_usd: float) -> dict:
    return {
        "time": t,
        "aggregated_long_liquidation_usd": long_usd,
        "aggregated_short_liquidation_usd": short_usd,
    }


def fake(handler) -> coinglass.CoinGlassHttp:
    return coinglass.make_http(
        "http://cg.test", KEY, transport=httpx.MockTransport(handler), sleep=lambda s: None, limiter=None
    )


def test_parser_reads_both_sides_and_keeps_missing_values_missing():
    rows = coinglass.parse_aggregated_history(
        envelope([bar(0, 1.5, 2.0), {"time": HOUR, "aggregated_long_liquidation_usd": 3}]), "BTC", "1h"
    )
    assert [(r["ts"], r["long_usd"], r["short_usd"]) for r in rows] == [(0, 1.5, 2.0), (HOUR, 3.0, None)]
    assert {(r["venue"], r["exchange"], r["interval"], r["asset"]) for r in rows} == {
        ("coinglass", "All", "1h", "BTC")
    }
    with pytest.raises(PayloadError, match="500"):
        coinglass.parse_aggregated_history({"code": "500", "msg": "boom"}, "BTC", "1h")
    with pytest.raises(PayloadError, match="time"):
        coinglass.parse_aggregated_history(envelope([{"aggregated_long_liquidation_usd": 1}]), "BTC", "1h")


def test_requests_carry_the_key_header_and_fetch_both_intervals_in_the_window():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        interval = request.url.params["interval"]
        step = HOUR if interval == "1h" else 24 * HOUR
        start = int(request.url.params["start_time"])
        return httpx.Response(200, json=envelope([bar(start + i * step, i, 2 * i) for i in range(30)]))

    table = coinglass.fetch_liquidation_aggregates(fake(handler), "ETH", 0, 2 * 24 * HOUR)
    assert {r.headers[coinglass.KEY_HEADER] for r in seen} == {KEY}
    # the sum over the three exchanges ('All') and each exchange on its own
    assert {r.url.params["exchange_list"] for r in seen} == {
        "Binance,OKX,Bybit",
        "Binance",
        "OKX",
        "Bybit",
        "Hyperliquid",
    }
    assert set(table["exchange"].to_pylist()) == {"All", "Binance", "OKX", "Bybit", "Hyperliquid"}
    table = table.filter(table["exchange"].to_numpy(zero_copy_only=False) == "All")
    assert KEY not in "".join(str(r.url) for r in seen)  # only ever a header
    by_interval = {
        i: table.filter(table["interval"].to_numpy(zero_copy_only=False) == i) for i in ("1h", "1d")
    }
    assert (
        by_interval["1h"].num_rows == 30 and by_interval["1d"].num_rows == 2
    )  # bars after the window dropped


def test_pages_forward_when_a_page_is_full():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params["start_time"])
        calls.append(start)
        step = HOUR if request.url.params["interval"] == "1h" else 24 * HOUR
        end = int(request.url.params["end_time"])
        first = -(-start // step) * step  # bars open on the interval's grid
        rows = [bar(t, 1.0, 1.0) for t in range(first, end + 1, step)][: coinglass.PAGE_LIMIT]
        return httpx.Response(200, json=envelope(rows))

    table = coinglass.fetch_liquidation_aggregates(fake(handler), "BTC", 0, 50 * 24 * HOUR)
    table = table.filter(table["exchange"].to_numpy(zero_copy_only=False) == "All")
    assert table.filter(table["interval"].to_numpy(zero_copy_only=False) == "1h").num_rows == 1200
    assert calls[:2] == [0, 999 * HOUR + 1]  # the next page starts just after the last bar


def test_a_rejected_key_is_a_clear_error_without_the_key():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            401, json={"code": "401", "msg": f"bad key {request.headers[coinglass.KEY_HEADER]}"}
        )

    http = fake(handler)
    with pytest.raises(coinglass.CoinGlassKeyRejected, match="rejected the API key") as caught:
        coinglass.fetch_liquidation_aggregates(http, "BTC", 0, HOUR)
    assert KEY not in str(caught.value) and caught.value.__cause__ is None
    assert len(http.calls) == 1  # never retried
    assert all(KEY not in (c.error or "") for c in http.calls)


def test_429_is_retried_and_echoed_keys_are_redacted_everywhere():
    replies = iter([429, 429, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(replies)
        if status == 429:
            return httpx.Response(429, json={"code": "429", "msg": f"slow down {KEY}"})
        return httpx.Response(200, json=envelope([bar(0, 1.0, 2.0)]))

    http = fake(handler)
    rows = coinglass._fetch_interval(http, "BTC", "1h", 0, HOUR)
    assert [r["long_usd"] for r in rows] == [1.0]
    assert [c.ok for c in http.calls] == [False, False, True]
    assert all(KEY not in (c.error or "") for c in http.calls) and "[redacted]" in http.calls[0].error
    assert KEY not in repr(http)


def test_other_failures_are_redacted_and_unchained():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"code": "400", "msg": f"symbol wrong for key {KEY}"})

    with pytest.raises(coinglass.CoinGlassError) as caught:
        coinglass.fetch_liquidation_aggregates(fake(handler), "BTC", 0, HOUR)
    assert KEY not in str(caught.value) and "symbol wrong" in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_no_key_is_refused_before_any_request():
    with pytest.raises(coinglass.CoinGlassKeyRejected, match="COINGLASS_API_KEY"):
        coinglass.make_http("http://cg.test", "")
