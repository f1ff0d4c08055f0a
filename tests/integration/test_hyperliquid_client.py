"""The Hyperliquid client against the sandbox: pagination edges, retention, the clock, symbols and error answers."""

from __future__ import annotations

from datetime import date

import httpx
import numpy as np
import pyarrow.compute as pc
import pytest

from pipelines.instruments import UnknownSymbolError
from pipelines.lib.timeutil import DAY_MS, HOUR_MS, day_window_ms, iso_to_ms
from pipelines.sandbox.routes import hyperliquid as routes
from pipelines.venues import hyperliquid as hl
from pipelines.venues.http import VenueBannedError, VenueError, VenueUnavailableError

WINDOW = (iso_to_ms("2025-10-09T00:00:00Z"), iso_to_ms("2025-10-13T00:00:00Z"))  # the small scenario's 4 days


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def http(sandbox, sleeps):
    client = hl.make_http(sandbox.base_url("hyperliquid"), sleep=sleeps.append)
    yield client
    client.close()


@pytest.fixture
def small_pages(monkeypatch):
    """7 rows per answer, so four days of hourly data take 14 pages."""
    monkeypatch.setattr(routes, "PAGE_CAP", 7)


def venue_requests(sandbox) -> int:
    return sum(1 for r in sandbox.state.requests if r["venue"] == "hyperliquid")


def script_fault(sandbox, **fault) -> None:
    httpx.post(
        f"{sandbox.url}/_sandbox/faults", json={"venue": "hyperliquid", "path": "/info", **fault}
    ).raise_for_status()


def set_clock(sandbox, iso: str) -> None:
    httpx.post(f"{sandbox.url}/_sandbox/clock", json={"clock_ms": iso_to_ms(iso)}).raise_for_status()


def market_rows(table, asset: str, time_column: str, start: int, end: int):
    times = pc.cast(table[time_column], "int64")
    mask = pc.and_(
        pc.and_(pc.equal(table["venue"], "hyperliquid"), pc.equal(table["asset"], asset)),
        pc.and_(pc.greater_equal(times, start), pc.less(times, end)),
    )
    return table.filter(mask).sort_by(time_column)


def epoch_ms(column) -> list[int]:
    return pc.cast(column, "int64").to_pylist()


# -- pagination ----------------------------------------------------------------------------------------------


def test_funding_pages_cover_the_window_without_gaps_or_duplicates(sandbox, http, small_pages):
    before = venue_requests(sandbox)
    table = hl.fetch_funding_rates(http, "BTC", *WINDOW)
    truth = market_rows(sandbox.state.market.funding, "BTC", "funding_time", *WINDOW)
    times = epoch_ms(table["funding_time"])
    assert table.num_rows == truth.num_rows > 7 * 10
    assert times == epoch_ms(truth["funding_time"])
    assert len(set(times)) == len(times) and all(
        b - a == HOUR_MS for a, b in zip(times, times[1:], strict=False)
    )
    np.testing.assert_allclose(table["funding_rate"].to_numpy(), truth["funding_rate"].to_numpy(), atol=1e-10)
    assert set(table["funding_interval_hours"].to_pylist()) == {1.0}
    assert venue_requests(sandbox) - before >= truth.num_rows // 7


def test_kline_pages_cover_the_window_without_gaps_or_duplicates(sandbox, http, small_pages):
    table = hl.fetch_klines(http, "ETH", *WINDOW)
    truth = market_rows(sandbox.state.market.hourly, "ETH", "ts", *WINDOW)
    assert table.num_rows == truth.num_rows == 96
    assert epoch_ms(table["open_time"]) == epoch_ms(truth["ts"])
    np.testing.assert_allclose(table["open"].to_numpy(), truth["open"].to_numpy(), rtol=1e-4)
    np.testing.assert_allclose(table["close"].to_numpy(), truth["close"].to_numpy(), rtol=1e-4)
    np.testing.assert_allclose(table["volume_coin"].to_numpy(), truth["volume_coin"].to_numpy(), rtol=1e-3)
    assert table["volume_usd"].null_count == 96  # no quote volume from this venue: null, never 0


@pytest.mark.parametrize("fetch", [hl.fetch_funding_rates, hl.fetch_klines])
def test_one_day_is_exactly_its_24_hours(http, fetch):
    start, end = day_window_ms(date(2025, 10, 10))
    table = fetch(http, "SOL", start, end)
    column = "funding_time" if fetch is hl.fetch_funding_rates else "open_time"
    assert epoch_ms(table[column]) == list(range(start, end, HOUR_MS))


# -- retention and the sandbox clock -------------------------------------------------------------------------


def test_candles_older_than_the_latest_5000_are_not_served(sandbox, http):
    # with the clock 4999 hours after 12 Oct 00:00, that hour is the oldest of the 5000 candles served
    set_clock(sandbox, "2025-10-12T00:00:00Z")
    sandbox.state.clock.move_to(sandbox.state.clock_ms + 4999 * HOUR_MS + 30 * 60_000)
    assert hl.fetch_klines(http, "BTC", *day_window_ms(date(2025, 10, 11))).num_rows == 0
    assert hl.fetch_klines(http, "BTC", *day_window_ms(date(2025, 10, 12))).num_rows == 24
    assert hl.DATASETS["klines"].retention_days == 5000 // 24
    # funding history has no such limit
    assert hl.fetch_funding_rates(http, "BTC", *day_window_ms(date(2025, 10, 10))).num_rows == 24


def test_nothing_after_the_clock_is_served(sandbox, http):
    set_clock(sandbox, "2025-10-11T05:30:00Z")
    day = day_window_ms(date(2025, 10, 11))
    assert epoch_ms(hl.fetch_klines(http, "XRP", *day)["open_time"]) == list(
        range(day[0], day[0] + 6 * HOUR_MS, HOUR_MS)
    )
    assert hl.fetch_funding_rates(http, "XRP", *day).num_rows == 6  # settlements 00:00 .. 05:00


def test_asset_context_snapshot_is_recorded_only_for_the_day_holding_now(sandbox, http):
    day_start, day_end = day_window_ms(date(2025, 10, 12))
    now = day_start + 13 * HOUR_MS + 1234
    set_clock(sandbox, "2025-10-12T13:00:01Z")
    table = hl.fetch_asset_contexts(http, "ETH", day_start, day_end, now_ms=now)
    (row,) = table.to_pylist()
    assert int(row["ts"].timestamp() * 1000) == day_start + 13 * HOUR_MS  # the start of the current hour
    hour = market_rows(
        sandbox.state.market.hourly, "ETH", "ts", day_start + 13 * HOUR_MS, day_start + 14 * HOUR_MS
    ).to_pylist()[0]
    assert row["mark_price"] == pytest.approx(hour["mark_open"], rel=1e-4)
    assert row["oi_coin"] == pytest.approx(hour["oi_coin"], rel=1e-6)
    assert row["mid_price"] is not None and row["day_notional_volume_usd"] > 0

    before = venue_requests(sandbox)
    past = hl.fetch_asset_contexts(http, "ETH", day_start - DAY_MS, day_start, now_ms=now)
    assert past.num_rows == 0 and past.schema == table.schema
    assert venue_requests(sandbox) == before  # a past day is not asked for at all
    assert hl.DATASETS["asset_contexts"].snapshot


# -- symbols -------------------------------------------------------------------------------------------------


def test_an_unconfigured_asset_fails_before_any_request(sandbox, http):
    before = venue_requests(sandbox)
    with pytest.raises(UnknownSymbolError, match="unknown asset 'FOO'"):
        hl.fetch_funding_rates(http, "FOO", *WINDOW)
    assert venue_requests(sandbox) == before


def test_the_venue_answers_an_unknown_coin_with_http_500_and_null(sandbox):
    response = httpx.post(
        f"{sandbox.base_url('hyperliquid')}/info",
        json={"type": "fundingHistory", "coin": "FOO", "startTime": WINDOW[0]},
    )
    assert response.status_code == 500 and response.json() is None


@pytest.mark.parametrize("fetch", [hl.fetch_funding_rates, hl.fetch_klines])
def test_a_coin_the_venue_does_not_list_becomes_a_clear_error(sandbox, monkeypatch, fetch):
    monkeypatch.setattr(hl, "venue_symbol", lambda venue, asset: "FOO")  # configured here, unknown there
    http = hl.make_http(sandbox.base_url("hyperliquid"), sleep=lambda s: None, max_attempts=3)
    sent_before = len(sandbox.state.requests)
    with pytest.raises(VenueError, match="refused coin 'FOO'.*does not list it") as err:
        fetch(http, "BTC", *WINDOW)
    assert not isinstance(err.value, VenueUnavailableError)
    assert len(sandbox.state.requests) == sent_before + 1  # a refusal is final: no retries


# -- error answers -------------------------------------------------------------------------------------------


def test_the_weight_limit_answers_429_with_a_null_body(sandbox):
    sandbox.state.spend("hyperliquid", "weight", 1200, 1200, 60)  # someone else used this minute's budget
    response = httpx.post(f"{sandbox.base_url('hyperliquid')}/info", json={"type": "metaAndAssetCtxs"})
    assert response.status_code == 429 and response.json() is None


def test_an_exhausted_weight_limit_gives_up_as_unavailable(sandbox, sleeps):
    sandbox.state.spend("hyperliquid", "weight", 1200, 1200, 60)
    http = hl.make_http(sandbox.base_url("hyperliquid"), sleep=sleeps.append, max_attempts=3)
    with pytest.raises(VenueUnavailableError, match="rate limited \\(HTTP 429\\)") as err:
        hl.fetch_klines(http, "BTC", *day_window_ms(date(2025, 10, 10)))
    assert err.value.status == 429
    assert sleeps == [http.rate_limit_default_s] * 2  # no Retry-After from this venue: the default back-off


def test_a_scripted_429_is_retried_after_retry_after(sandbox, http, sleeps):
    script_fault(sandbox, kind="429", count=1, retry_after=1)
    table = hl.fetch_funding_rates(http, "BTC", *day_window_ms(date(2025, 10, 10)))
    assert table.num_rows == 24 and sleeps == [1.0]
    # the last page comes back empty: that, not a short page, is what ends the paging
    assert [c.status for c in http.drain_calls()] == [429, 200, 200]


def test_a_403_opens_the_ban_breaker(sandbox, http):
    script_fault(sandbox, kind="403", count=1)
    with pytest.raises(VenueBannedError, match="banned this IP \\(HTTP 403\\)"):
        hl.fetch_klines(http, "BTC", *WINDOW)
    before = venue_requests(sandbox)
    with pytest.raises(VenueBannedError, match="refusing to call a banned venue"):
        hl.fetch_klines(http, "BTC", *WINDOW)
    assert venue_requests(sandbox) == before


def test_a_null_error_body_is_a_venue_error_and_not_retried(sandbox, http):
    script_fault(sandbox, kind="venue_error", count=1)
    with pytest.raises(VenueError, match="refused with an empty \\(null\\) body.*HTTP 400"):
        hl.fetch_funding_rates(http, "BTC", *WINDOW)
    assert len(http.drain_calls()) == 1


def test_a_body_the_venue_cannot_deserialize_is_a_venue_error(http):
    with pytest.raises(VenueError, match="missing field `startTime`.*HTTP 422"):
        http.post_json("/info", {"type": "fundingHistory", "coin": "BTC"})


@pytest.mark.parametrize("kind", ["malformed", "truncate", "503"])
def test_transient_failures_are_retried(sandbox, http, kind):
    script_fault(sandbox, kind=kind, count=1)
    assert hl.fetch_klines(http, "DOGE", *day_window_ms(date(2025, 10, 9))).num_rows == 24
    assert len(http.drain_calls()) == 2


def test_a_timeout_is_retried(sandbox):
    script_fault(sandbox, kind="timeout", count=1, delay_s=1.0)
    http = hl.make_http(sandbox.base_url("hyperliquid"), sleep=lambda s: None, timeout_s=0.3)
    assert hl.fetch_klines(http, "BTC", *day_window_ms(date(2025, 10, 9))).num_rows == 24
    assert http.drain_calls()[0].error.startswith("timeout")
