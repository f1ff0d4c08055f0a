"""The Bybit client against the sandbox: newest-first paging, history, symbols, error and rate-limit envelopes."""

from __future__ import annotations

from datetime import date

import httpx
import numpy as np
import pyarrow.compute as pc
import pytest

from pipelines.instruments import UnknownSymbolError
from pipelines.lib.timeutil import DAY_MS, HOUR_MS, day_start_ms, day_window_ms, iso_to_ms
from pipelines.venues import bybit
from pipelines.venues.http import VenueBannedError, VenueError, VenueUnavailableError

SCENARIO_START = day_start_ms(date(2025, 10, 9))
SCENARIO_END = day_start_ms(date(2025, 10, 13))  # exclusive: four full days


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def http(sandbox, sleeps):
    client = bybit.make_http(sandbox.base_url("bybit"), sleep=sleeps.append, backoff_base_s=0.01)
    yield client
    client.close()


def market_hours(sandbox, asset: str, start: int, end: int):
    h = sandbox.state.market.hourly
    ts = pc.cast(h["ts"], "int64")
    mask = pc.and_(
        pc.and_(pc.equal(h["venue"], "bybit"), pc.equal(h["asset"], asset)),
        pc.and_(pc.greater_equal(ts, start), pc.less(ts, end)),
    )
    return h.filter(mask).sort_by("ts")


def market_funding(sandbox, asset: str, start: int, end: int):
    f = sandbox.state.market.funding
    ts = pc.cast(f["funding_time"], "int64")
    mask = pc.and_(
        pc.and_(pc.equal(f["venue"], "bybit"), pc.equal(f["asset"], asset)),
        pc.and_(pc.greater_equal(ts, start), pc.less(ts, end)),
    )
    return f.filter(mask).sort_by("funding_time")


def times(table, column: str) -> list[int]:
    return sorted(pc.cast(table[column], "int64").to_pylist())


def assert_unique(values: list[int]) -> None:
    assert len(values) == len(set(values)), "duplicate rows at a page edge"


def requests_to(sandbox, path: str) -> list[dict]:
    return [r for r in sandbox.state.requests if r["venue"] == "bybit" and r["path"].endswith(path)]


# -- pagination -------------------------------------------------------------------------------------------------

# uneven edges: neither end falls on a day boundary
WINDOW = (iso_to_ms("2025-10-09T05:00:00Z"), iso_to_ms("2025-10-11T13:00:00Z"))


def test_open_interest_cursor_pages_cover_the_window_exactly(sandbox, http):
    before = len(requests_to(sandbox, "/v5/market/open-interest"))
    table = bybit.fetch_open_interest(http, "BTC", *WINDOW, page_limit=7)
    truth = market_hours(sandbox, "BTC", *WINDOW)
    got = times(table, "ts")
    assert_unique(got)
    assert got == times(truth, "ts") and len(got) == 56
    by_ts = dict(zip(pc.cast(table["ts"], "int64").to_pylist(), table["oi_coin"].to_pylist(), strict=True))
    expected = dict(zip(pc.cast(truth["ts"], "int64").to_pylist(), truth["oi_coin"].to_pylist(), strict=True))
    assert all(by_ts[t] == pytest.approx(expected[t], abs=1e-3) for t in expected)
    sent = requests_to(sandbox, "/v5/market/open-interest")[before:]
    assert len(sent) == 8  # ceil(56 / 7) pages
    assert "cursor" not in sent[0]["query"] and all(
        r["query"]["cursor"].startswith("lastid=") for r in sent[1:]
    )


def test_account_ratio_cursor_pages_cover_the_window_exactly(sandbox, http):
    table = bybit.fetch_long_short_ratios(http, "ETH", *WINDOW, page_limit=10)
    truth = market_hours(sandbox, "ETH", *WINDOW)
    got = times(table, "ts")
    assert_unique(got)
    assert got == times(truth, "ts")
    assert set(table["ratio_type"].to_pylist()) == {"global_account"}
    np.testing.assert_allclose(
        table.sort_by("ts")["long_share"].to_numpy(), truth["long_account_share"].to_numpy(), atol=5e-5
    )


def test_funding_end_paging_covers_four_days_without_gaps(sandbox, http):
    before = len(requests_to(sandbox, "/v5/market/funding/history"))
    table = bybit.fetch_funding_rates(http, "SOL", SCENARIO_START, SCENARIO_END, page_limit=2)
    truth = market_funding(sandbox, "SOL", SCENARIO_START, SCENARIO_END)
    got = times(table, "funding_time")
    assert_unique(got)
    assert (
        got == times(truth, "funding_time") and len(got) == 11
    )  # 8-hourly; the first settlement is 09 Oct 08:00
    np.testing.assert_allclose(
        table.sort_by("funding_time")["funding_rate"].to_numpy(), truth["funding_rate"].to_numpy(), atol=1e-12
    )
    sent = requests_to(sandbox, "/v5/market/funding/history")[before:]
    # each page ends just below the previous page's oldest row
    assert [int(r["query"]["endTime"]) for r in sent][:3] == [SCENARIO_END - 1, got[-2] - 1, got[-4] - 1]


def test_kline_end_paging_returns_one_day_of_hourly_candles(sandbox, http):
    start, end = day_window_ms(date(2025, 10, 10))
    table = bybit.fetch_klines(http, "XRP", start, end, page_limit=5)
    truth = market_hours(sandbox, "XRP", start, end)
    got = times(table, "open_time")
    assert_unique(got)
    assert got == list(range(start, end, HOUR_MS))
    candles = table.sort_by("open_time")
    np.testing.assert_allclose(candles["close"].to_numpy(), truth["close"].to_numpy(), rtol=1e-4)
    np.testing.assert_allclose(candles["volume_coin"].to_numpy(), truth["volume_coin"].to_numpy(), atol=1e-3)


def test_a_full_day_takes_one_request_per_dataset(sandbox, http):
    start, end = day_window_ms(date(2025, 10, 11))
    for path, spec in [
        ("/v5/market/funding/history", "funding_rates"),
        ("/v5/market/open-interest", "open_interest"),
        ("/v5/market/account-ratio", "long_short_ratios"),
        ("/v5/market/kline", "klines"),
    ]:
        before = len(requests_to(sandbox, path))
        rows = bybit.DATASETS[spec].fetch(http, "DOGE", start, end).num_rows
        assert rows == (3 if spec == "funding_rates" else 24)
        assert len(requests_to(sandbox, path)) - before == 1, path


# -- history and the clock --------------------------------------------------------------------------------------


def test_bybit_keeps_history_long_after_the_fact(sandbox, http):
    """No retention window, unlike Binance's 30 days: the first day is still served 90 days later."""
    assert all(spec.retention_days is None for spec in bybit.DATASETS.values())
    sandbox.state.clock.move_to(SCENARIO_END + 90 * DAY_MS)
    start, end = day_window_ms(date(2025, 10, 9))
    assert bybit.fetch_open_interest(http, "BTC", start, end).num_rows == 24
    assert bybit.fetch_long_short_ratios(http, "BTC", start, end).num_rows == 24
    assert bybit.fetch_funding_rates(http, "BTC", start, end).num_rows == 2


def test_nothing_after_the_sandbox_clock_is_served(sandbox, http):
    sandbox.state.clock.move_to(iso_to_ms("2025-10-11T12:30:00Z"))
    start, end = day_window_ms(date(2025, 10, 11))
    assert times(bybit.fetch_open_interest(http, "BTC", start, end), "ts") == list(
        range(start, start + 13 * HOUR_MS, HOUR_MS)
    )
    assert times(bybit.fetch_funding_rates(http, "BTC", start, end), "funding_time") == [
        start,
        start + 8 * HOUR_MS,
    ]
    assert bybit.fetch_klines(http, "BTC", start, end).num_rows == 13


def test_outage_hours_have_no_statistics(sandbox, http):
    series = sandbox.state.series[("bybit", "BTC")]
    original = series.cols["venue_up"]
    start, end = day_window_ms(date(2025, 10, 10))
    down = (series.ts >= start + 21 * HOUR_MS) & (series.ts < start + 23 * HOUR_MS)
    series.cols["venue_up"] = original & ~down
    try:
        served = times(bybit.fetch_open_interest(http, "BTC", start, end), "ts")
        assert len(served) == 22
        assert start + 21 * HOUR_MS not in served and start + 22 * HOUR_MS not in served
        assert bybit.fetch_long_short_ratios(http, "BTC", start, end).num_rows == 22
    finally:
        series.cols["venue_up"] = original


# -- symbols and parameter errors -------------------------------------------------------------------------------


def test_unknown_symbol_is_the_venues_parameter_error(http):
    with pytest.raises(VenueError, match="symbol invalid") as info:
        http.get_json("/v5/market/funding/history", {"category": "linear", "symbol": "PEPEUSDT"})
    assert info.value.code == 10001


def test_unknown_asset_fails_before_any_request(http):
    with pytest.raises(UnknownSymbolError, match="PEPE"):
        bybit.fetch_open_interest(http, "PEPE", *WINDOW)


def test_start_time_alone_is_rejected_like_the_venue(http):
    with pytest.raises(VenueError, match="startTime") as info:
        http.get_json(
            "/v5/market/funding/history", {"category": "linear", "symbol": "BTCUSDT", "startTime": 1}
        )
    assert info.value.code == 10001


def test_limit_above_the_cap_is_rejected(http):
    with pytest.raises(VenueError, match="limit"):
        http.get_json(
            "/v5/market/open-interest",
            {"category": "linear", "symbol": "BTCUSDT", "intervalTime": "1h", "limit": 201},
        )


def test_a_cursor_left_url_encoded_is_rejected(sandbox, http):
    first = http.get_json(
        "/v5/market/open-interest",
        {"category": "linear", "symbol": "BTCUSDT", "intervalTime": "1h", "limit": 2},
    )
    raw_cursor = first["result"]["nextPageCursor"]
    assert "%3D" in raw_cursor
    with pytest.raises(VenueError, match="cursor"):
        http.get_json(
            "/v5/market/open-interest",
            {
                "category": "linear",
                "symbol": "BTCUSDT",
                "intervalTime": "1h",
                "limit": 2,
                "cursor": raw_cursor,
            },
        )


# -- rate limits and faults -------------------------------------------------------------------------------------


def script_fault(sandbox, **fault) -> None:
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"venue": "bybit", **fault}).raise_for_status()


def test_too_many_visits_is_retried_after_the_hint(sandbox, http, sleeps):
    script_fault(sandbox, path="/v5/market/funding/history", kind="429", count=2, retry_after=1)
    start, end = day_window_ms(date(2025, 10, 10))
    assert bybit.fetch_funding_rates(http, "BTC", start, end).num_rows == 3
    assert sleeps == [1.0, 1.0]
    calls = http.drain_calls()
    assert [c.ok for c in calls] == [False, False, True]
    assert all(
        c.status == 200 and "10006" in c.error for c in calls[:2]
    )  # Bybit's limit arrives inside HTTP 200


def test_too_many_visits_that_never_ends_gives_up(sandbox, http):
    script_fault(sandbox, path="/v5/market/kline", kind="429", count=20, retry_after=0)
    start, end = day_window_ms(date(2025, 10, 10))
    with pytest.raises(VenueUnavailableError, match="Too many visits"):
        bybit.fetch_klines(http, "BTC", start, end)


def test_scripted_venue_error_is_not_retried(sandbox, http, sleeps):
    script_fault(sandbox, path="/v5/market/account-ratio", kind="venue_error", count=1)
    start, end = day_window_ms(date(2025, 10, 10))
    with pytest.raises(VenueError, match="scripted venue error") as info:
        bybit.fetch_long_short_ratios(http, "BTC", start, end)
    assert info.value.code == 10001 and info.value.status == 200 and sleeps == []


def test_ip_over_limit_is_a_ban_that_stops_further_requests(sandbox, http):
    sandbox.state.spend("bybit", "ip", 600, 600, 5)  # the whole 5 s IP budget is used up
    start, end = day_window_ms(date(2025, 10, 10))
    with pytest.raises(VenueBannedError, match="access too frequent") as info:
        bybit.fetch_open_interest(http, "BTC", start, end)
    assert info.value.status == 403
    sent = len(sandbox.state.requests)
    with pytest.raises(VenueBannedError, match="breaker open"):
        bybit.fetch_funding_rates(http, "BTC", start, end)
    assert len(sandbox.state.requests) == sent  # the breaker kept us off the venue
