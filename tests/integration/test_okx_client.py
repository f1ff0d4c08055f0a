"""The OKX client against the sandbox: pagination edges, retention, the clock, outages and error envelopes."""

from __future__ import annotations

from datetime import date

import httpx
import numpy as np
import pytest

from pipelines.instruments import UnknownSymbolError
from pipelines.lib.timeutil import DAY_MS, HOUR_MS, day_start_ms, iso_to_ms
from pipelines.venues import okx
from pipelines.venues.http import VenueBannedError, VenueError, VenueUnavailableError

WINDOW_START = day_start_ms(date(2025, 10, 9))  # the small scenario covers 2025-10-09 .. 2025-10-12
WINDOW_END = WINDOW_START + 4 * DAY_MS
OCT_10 = day_start_ms(date(2025, 10, 10))
OCT_11 = day_start_ms(date(2025, 10, 11))
RATIO_PATH = "/api/v5/rubik/stat/contracts/long-short-account-ratio-contract"
HISTORY_PATHS = {
    "/api/v5/public/funding-rate-history": {},
    "/api/v5/rubik/stat/contracts/open-interest-history": {"period": "1H"},
    RATIO_PATH: {"period": "1H"},
    "/api/v5/market/history-candles": {"bar": "1H"},
}


def client(sandbox, sleeps: list | None = None, **kwargs):
    sleep = sleeps.append if sleeps is not None else (lambda s: None)
    return okx.make_http(sandbox.base_url("okx"), sleep=sleep, **kwargs)


def market(sandbox, asset: str = "BTC"):
    return sandbox.state.series[("okx", asset)]


def in_window(ts: np.ndarray, start: int, end: int) -> list[int]:
    return [int(t) for t in ts if start <= t < end]


def set_clock(sandbox, iso: str) -> int:
    clock_ms = iso_to_ms(iso)
    httpx.post(f"{sandbox.url}/_sandbox/clock", json={"clock_ms": clock_ms}).raise_for_status()
    return clock_ms


def script_fault(sandbox, path: str, kind: str, count: int = 1, **extra) -> None:
    fault = {"venue": "okx", "path": path, "kind": kind, "count": count, **extra}
    httpx.post(f"{sandbox.url}/_sandbox/faults", json=fault).raise_for_status()


def requests_to(sandbox, path: str, since: int) -> list[dict]:
    return [r for r in sandbox.state.requests[since:] if r["venue"] == "okx" and r["path"].endswith(path)]


# -- pagination ------------------------------------------------------------------------------------------------


def test_klines_over_many_pages_have_no_gaps_or_duplicates(sandbox):
    seen = len(sandbox.state.requests)
    with client(sandbox) as http:
        table = okx.fetch_klines(http, "BTC", WINDOW_START, WINDOW_END, page_limit=7)
    s = market(sandbox)
    expected = in_window(s.ts, WINDOW_START, WINDOW_END)
    times = [t.timestamp() * 1000 for t in table["open_time"].to_pylist()]
    assert len(expected) == 96
    assert sorted(times) == expected  # every hour exactly once
    closes = dict(zip(times, table["close"].to_pylist(), strict=True))
    for i, t in enumerate(s.ts):
        assert closes[int(t)] == pytest.approx(float(s.cols["close"][i]), abs=0.05)  # BTC tick 0.1
    cursors = [int(r["query"]["after"]) for r in requests_to(sandbox, "/history-candles", seen)]
    assert cursors[0] == WINDOW_END
    assert cursors == sorted(cursors, reverse=True) and len(set(cursors)) == len(cursors)
    assert len(cursors) == 96 // 7 + 2  # 14 pages with rows (the last one short), then an empty page


def test_funding_over_many_pages_with_derived_intervals(sandbox):
    with client(sandbox) as http:
        table = okx.fetch_funding_rates(http, "ETH", WINDOW_START, WINDOW_END, page_limit=2)
    f = sandbox.state.funding[("okx", "ETH")]
    expected = in_window(f.ts, WINDOW_START, WINDOW_END)
    rows = sorted(table.to_pylist(), key=lambda r: r["funding_time"])
    assert [int(r["funding_time"].timestamp() * 1000) for r in rows] == expected
    assert len(expected) == 11  # 8-hourly from 2025-10-09 08:00 to 2025-10-12 16:00
    rates = [float(f.cols["funding_rate"][i]) for i, t in enumerate(f.ts) if WINDOW_START <= t < WINDOW_END]
    assert [r["funding_rate"] for r in rows] == pytest.approx(rates, abs=1e-12)
    # the simulation's first settlement has no predecessor to measure its interval from
    assert [r["funding_interval_hours"] for r in rows] == [None] + [8.0] * 10


def test_one_day_of_funding_reads_the_previous_settlement_for_its_first_interval(sandbox):
    with client(sandbox) as http:
        table = okx.fetch_funding_rates(http, "BTC", OCT_11, OCT_11 + DAY_MS, page_limit=2)
    assert table.num_rows == 3
    assert table["funding_interval_hours"].to_pylist() == [8.0, 8.0, 8.0]


def test_open_interest_and_ratios_match_the_market(sandbox):
    start, end = OCT_10, OCT_10 + 2 * DAY_MS
    with client(sandbox) as http:
        oi = okx.fetch_open_interest(http, "SOL", start, end, page_limit=10)
        ratios = okx.fetch_long_short_ratios(http, "SOL", start, end, page_limit=20)
    s = market(sandbox, "SOL")
    idx = [i for i, t in enumerate(s.ts) if start <= t < end]
    for table, column in ((oi, "ts"), (ratios, "ts")):
        rows = sorted(table.to_pylist(), key=lambda r: r[column])
        assert [int(r[column].timestamp() * 1000) for r in rows] == [int(s.ts[i]) for i in idx]
    oi_rows = sorted(oi.to_pylist(), key=lambda r: r["ts"])
    assert [r["oi_coin"] for r in oi_rows] == pytest.approx(
        [float(s.cols["oi_coin"][i]) for i in idx], abs=1e-4
    )
    assert [r["oi_contracts"] for r in oi_rows] == pytest.approx(
        [r["oi_coin"] for r in oi_rows], abs=0.01
    )  # ctVal 1
    ratio_rows = sorted(ratios.to_pylist(), key=lambda r: r["ts"])
    assert [r["long_share"] for r in ratio_rows] == pytest.approx(
        [float(s.cols["long_account_share"][i]) for i in idx], abs=1e-6
    )
    assert {r["ratio_type"] for r in ratio_rows} == {"global_account"}


# -- retention, the clock and outages -------------------------------------------------------------------------


def test_statistics_keep_the_latest_1440_hours(sandbox):
    set_clock(sandbox, "2025-12-08T00:30:00Z")  # latest bar 12-08 00:00, so the oldest kept is 10-09 01:00
    with client(sandbox) as http:
        first_day = okx.fetch_open_interest(http, "BTC", WINDOW_START, OCT_10)
        next_day = okx.fetch_long_short_ratios(http, "BTC", OCT_10, OCT_10 + DAY_MS)
        candles = okx.fetch_klines(http, "BTC", WINDOW_START, OCT_10)
    assert first_day.num_rows == 23
    assert min(t.timestamp() * 1000 for t in first_day["ts"].to_pylist()) == WINDOW_START + HOUR_MS
    assert next_day.num_rows == 24
    assert candles.num_rows == 24  # candles go back years


def test_funding_keeps_about_three_months(sandbox):
    set_clock(sandbox, "2026-01-10T00:30:00Z")  # 92 days back is 2025-10-10 00:30
    with client(sandbox) as http:
        before = okx.fetch_funding_rates(http, "BTC", WINDOW_START, OCT_10)
        boundary = okx.fetch_funding_rates(http, "BTC", OCT_10, OCT_11)
    assert before.num_rows == 0
    rows = sorted(boundary.to_pylist(), key=lambda r: r["funding_time"])
    assert [r["funding_time"].hour for r in rows] == [8, 16]
    assert [r["funding_interval_hours"] for r in rows] == [None, 8.0]  # its predecessor is past retention


def test_nothing_is_served_after_the_clock(sandbox):
    clock = set_clock(sandbox, "2025-10-11T05:30:00Z")
    with client(sandbox) as http:
        candles = okx.fetch_klines(http, "BTC", OCT_11, OCT_11 + DAY_MS)
        oi = okx.fetch_open_interest(http, "BTC", OCT_11, OCT_11 + DAY_MS)
        funding = okx.fetch_funding_rates(http, "BTC", OCT_11, OCT_11 + DAY_MS)
        newest = http.get_json(
            "/api/v5/market/history-candles", {"instId": "BTC-USDT-SWAP", "bar": "1H", "limit": "1"}
        )
        snapshot_today = okx.fetch_instruments(http, "BTC", OCT_11, OCT_11 + DAY_MS)
        snapshot_yesterday = okx.fetch_instruments(http, "BTC", OCT_10, OCT_11)
    assert candles.num_rows == 5  # 00:00-04:00 are complete; 05:00 is still forming
    assert newest["data"][0][0] == str(OCT_11 + 5 * HOUR_MS) and newest["data"][0][8] == "0"
    assert oi.num_rows == 6  # statistics snapshots up to 05:00
    assert [t.hour for t in funding["funding_time"].to_pylist()] == [0]
    assert snapshot_today.num_rows == 1
    assert snapshot_today["ts"][0].as_py().timestamp() * 1000 == clock
    assert snapshot_today["contract_value"].to_pylist() == [0.01]
    assert snapshot_yesterday.num_rows == 0  # a snapshot cannot be taken for a past day


def test_hours_the_venue_was_down_are_missing_from_statistics_only(sandbox):
    s = market(sandbox)
    original = s.cols["venue_up"]
    down = [OCT_10 + 3 * HOUR_MS, OCT_10 + 4 * HOUR_MS]
    s.cols["venue_up"] = original.copy()
    s.cols["venue_up"][np.isin(s.ts, down)] = False
    try:
        with client(sandbox) as http:
            oi = okx.fetch_open_interest(http, "BTC", OCT_10, OCT_11)
            candles = okx.fetch_klines(http, "BTC", OCT_10, OCT_11)
    finally:
        s.cols["venue_up"] = original
    times = {int(t.timestamp() * 1000) for t in oi["ts"].to_pylist()}
    assert len(times) == 22 and not times & set(down)
    assert candles.num_rows == 24


# -- errors ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(HISTORY_PATHS))
def test_unknown_symbol_is_a_clear_venue_error_without_retries(sandbox, path):
    with client(sandbox) as http, pytest.raises(VenueError) as info:
        http.get_json(path, {"instId": "FOO-USDT-SWAP", **HISTORY_PATHS[path]})
    assert info.value.code == "51001"
    assert "Instrument ID does not exist (instId=FOO-USDT-SWAP)" in str(info.value)
    assert len(http.calls) == 1


def test_unknown_asset_fails_before_any_request(sandbox):
    with client(sandbox) as http, pytest.raises(UnknownSymbolError, match="unknown asset 'PEPE'"):
        okx.fetch_klines(http, "PEPE", OCT_10, OCT_11)
    assert http.calls == []


@pytest.mark.parametrize(("retry_after", "expected_wait"), [(None, okx.RATE_WINDOW_S), (1, 1.0)])
def test_rate_limit_answer_is_retried_after_the_window(sandbox, retry_after, expected_wait):
    extra = {} if retry_after is None else {"retry_after": retry_after}
    script_fault(sandbox, RATIO_PATH, "429", count=2, **extra)
    sleeps: list[float] = []
    with client(sandbox, sleeps) as http:
        table = okx.fetch_long_short_ratios(http, "BTC", OCT_10, OCT_11)
    assert table.num_rows == 24
    assert [c.status for c in http.calls] == [429, 429, 200]
    assert "50011" in http.calls[0].error
    assert [s for s in sleeps if s == expected_wait] == [expected_wait, expected_wait]


def test_exhausting_the_venue_limit_gives_up_as_unavailable(sandbox):
    with client(sandbox, limiter=None, max_attempts=2) as http, pytest.raises(VenueUnavailableError) as info:
        for _ in range(6):  # the venue allows 5 per 2 s per instrument
            http.get_json(RATIO_PATH, {"instId": "BTC-USDT-SWAP", "period": "1H", "limit": "1"})
    assert info.value.status == 429
    assert [c.status for c in http.calls][-2:] == [429, 429]


def test_the_client_limiter_stays_under_the_venue_limit(sandbox):
    with client(sandbox) as http:  # the default limiter lets 4 ratio requests through per 2 s, the venue 5
        for day in range(6):
            okx.fetch_long_short_ratios(http, "BTC", OCT_10 + (day - 3) * DAY_MS, OCT_10 + (day - 2) * DAY_MS)
    assert len(http.calls) >= 6
    assert {c.status for c in http.calls} == {200}


def test_rate_limit_code_inside_http_200_is_retried():
    answers = iter(
        [
            httpx.Response(200, json={"code": "50011", "msg": "Rate limit reached", "data": []}),
            httpx.Response(200, json={"code": "0", "msg": "", "data": [{"ts": "1760140800000"}]}),
        ]
    )
    sleeps: list[float] = []
    transport = httpx.MockTransport(lambda request: next(answers))
    with okx.make_http("https://www.okx.com", sleep=sleeps.append, transport=transport) as http:
        payload = http.get_json("/api/v5/public/time")
    assert okx.parse_server_time(payload) == 1760140800000
    assert sleeps == [okx.RATE_WINDOW_S]
    assert [c.ok for c in http.calls] == [False, True]


@pytest.mark.parametrize("status", ["403", "418"])
def test_a_ban_opens_the_breaker(sandbox, status):
    script_fault(sandbox, "/api/v5/market/history-candles", status)
    seen = len(sandbox.state.requests)
    with client(sandbox) as http:
        with pytest.raises(VenueBannedError, match=f"HTTP {status}"):
            okx.fetch_klines(http, "BTC", OCT_10, OCT_11)
        with pytest.raises(VenueBannedError, match="refusing to call a banned venue"):
            okx.fetch_open_interest(http, "BTC", OCT_10, OCT_11)
    assert len(requests_to(sandbox, "", seen)) == 1  # the second call never left the client


@pytest.mark.parametrize("kind", ["503", "malformed", "truncate"])
def test_transient_failures_are_retried(sandbox, kind):
    script_fault(sandbox, "/api/v5/public/funding-rate-history", kind)
    with client(sandbox) as http:
        table = okx.fetch_funding_rates(http, "BTC", OCT_10, OCT_11)
    assert table.num_rows == 3
    assert [c.ok for c in http.calls] == [False, True]


def test_scripted_venue_error_keeps_its_code(sandbox):
    script_fault(sandbox, "/api/v5/rubik/stat/contracts/open-interest-history", "venue_error")
    with client(sandbox) as http, pytest.raises(VenueError) as info:
        okx.fetch_open_interest(http, "BTC", OCT_10, OCT_11)
    assert (info.value.status, info.value.code) == (400, "51000")
    assert "scripted venue error" in str(info.value)
