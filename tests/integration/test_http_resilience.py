"""The shared client against the sandbox's scripted faults: 429, 418, 5xx bursts, timeouts, truncated bodies."""

import httpx
import pytest

from pipelines.venues import binance
from pipelines.venues.http import VenueBannedError, VenueError, VenueUnavailableError, WeightLimiter

PATH = "/fapi/v1/fundingRate"
PARAMS = {"symbol": "BTCUSDT", "limit": 5}


def script(sandbox, **fault):
    httpx.post(
        f"{sandbox.url}/_sandbox/faults", json={"venue": "binance", "path": PATH, **fault}
    ).raise_for_status()


def client(sandbox, sleeps, **kwargs):
    return binance.make_http(sandbox.base_url("binance"), sleep=sleeps.append, **kwargs)


def calls_to(sandbox, path):
    return sum(1 for r in sandbox.state.requests if r["path"].endswith(path))


def test_429_waits_for_retry_after_then_succeeds(sandbox):
    script(sandbox, kind="429", count=2, retry_after=7)
    sleeps = []
    with client(sandbox, sleeps) as http:
        rows = http.get_json(PATH, PARAMS)
        calls = http.drain_calls()
    assert len(rows) == 5
    assert sleeps == [7.0, 7.0]  # the venue's Retry-After, not our own guess
    assert [(c.status, c.attempt, c.ok) for c in calls] == [(429, 1, False), (429, 2, False), (200, 3, True)]


def test_418_ban_opens_the_breaker_and_stops_all_requests(sandbox):
    script(sandbox, kind="418", count=1, retry_after=120)
    sleeps = []
    with client(sandbox, sleeps) as http:
        with pytest.raises(VenueBannedError, match="banned"):
            http.get_json(PATH, PARAMS)
        before = calls_to(sandbox, PATH)
        with pytest.raises(VenueBannedError, match="breaker open"):
            http.get_json(PATH, PARAMS)
    # another client of the same venue respects the same ban
    with client(sandbox, sleeps) as other, pytest.raises(VenueBannedError):
        other.get_json("/fapi/v1/klines", {"symbol": "BTCUSDT", "interval": "1h"})
    assert calls_to(sandbox, PATH) == before  # nothing more was sent
    assert sleeps == []


def test_5xx_burst_is_retried_with_capped_jittered_backoff(sandbox):
    script(sandbox, kind="503", count=3)
    sleeps = []
    with client(sandbox, sleeps, backoff_base_s=1.0, backoff_cap_s=3.0) as http:
        assert len(http.get_json(PATH, PARAMS)) == 5
    assert len(sleeps) == 3
    assert all(0 <= s <= cap for s, cap in zip(sleeps, [1.0, 2.0, 3.0], strict=True))


def test_5xx_that_never_ends_fails_clearly(sandbox):
    script(sandbox, kind="502", count=10)
    with (
        client(sandbox, [], max_attempts=3) as http,
        pytest.raises(VenueUnavailableError, match="gave up after 3 attempts"),
    ):
        http.get_json(PATH, PARAMS)


def test_timeout_is_retried(sandbox):
    script(sandbox, kind="timeout", count=1, delay_s=3)
    sleeps = []
    with client(sandbox, sleeps, timeout_s=0.5) as http:
        assert len(http.get_json(PATH, PARAMS)) == 5
        calls = http.drain_calls()
    assert calls[0].error.startswith("timeout") and calls[0].status is None
    assert calls[-1].ok


@pytest.mark.parametrize("kind", ["truncate", "malformed"])
def test_broken_bodies_are_retried_not_parsed(sandbox, kind):
    script(sandbox, kind=kind, count=1)
    with client(sandbox, []) as http:
        assert len(http.get_json(PATH, PARAMS)) == 5
        calls = http.drain_calls()
    assert not calls[0].ok and calls[1].ok


def test_venue_error_body_becomes_a_clear_exception_without_retries(sandbox):
    sleeps = []
    with (
        client(sandbox, sleeps) as http,
        pytest.raises(VenueError, match=r"Invalid symbol.*HTTP 400, code -1121"),
    ):
        http.get_json(PATH, {"symbol": "NOPEUSDT"})
    assert sleeps == []


def test_the_venue_usage_header_throttles_before_a_429(sandbox):
    """Weight spent by another process shows in X-MBX-USED-WEIGHT-1M; the client waits instead of being refused."""
    sleeps = []
    limiter = WeightLimiter(10, 60, sleep=sleeps.append)
    base = sandbox.base_url("binance")
    for _ in range(9):  # someone else on this IP spends 9 weight
        httpx.get(base + "/fapi/v1/klines", params={"symbol": "BTCUSDT", "interval": "1h", "limit": 5})
    with client(sandbox, [], limiter=limiter) as http:
        http.get_json("/fapi/v1/klines", {"symbol": "BTCUSDT", "interval": "1h", "limit": 5})
        assert sleeps == []  # our first call fit: 10 of 10
        limiter._sleep = lambda s: (sleeps.append(s), limiter._spent.clear())  # pretend the minute passed
        http.get_json("/fapi/v1/klines", {"symbol": "BTCUSDT", "interval": "1h", "limit": 5})
    assert len(sleeps) == 1 and 0 < sleeps[0] <= 60
