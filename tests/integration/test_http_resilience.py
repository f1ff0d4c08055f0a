"""The shared client against the sandbox's scripted faults: 429, 418, 5xx bursts, timeouts, truncated bodies."""

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from pipelines.venues import binance
from pipelines.venues.http import (
    MAX_BAN_S,
    BanBreakers,
    VenueBannedError,
    VenueError,
    VenueUnavailableError,
    WeightLimiter,
)

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


# -- the ban breaker is shared by every process of a LEVWATCH_HOME; Retry-After is capped ---------------------------

OTHER_PROCESS = """
import sys
from pathlib import Path
from pipelines.venues import binance
from pipelines.venues.http import VenueBannedError
with binance.make_http(sys.argv[1], ban_dir=Path(sys.argv[2]), sleep=lambda s: None) as http:
    try:
        http.get_json("/fapi/v1/klines", {"symbol": "BTCUSDT", "interval": "1h", "limit": 5})
    except VenueBannedError as exc:
        print(exc)
        sys.exit(3)
"""


def test_a_ban_stops_the_venue_for_every_process_of_the_home(sandbox, tmp_path):
    """Each Dagster step runs in its own process: a sibling step must not call a banned venue again."""
    script(sandbox, kind="418", count=1, retry_after=120)
    ban_dir = tmp_path / "state" / "bans"
    started = time.time()
    with client(sandbox, [], ban_dir=ban_dir) as http, pytest.raises(VenueBannedError):
        http.get_json(PATH, PARAMS)
    [ban_file] = list(ban_dir.iterdir())
    ban = json.loads(ban_file.read_text())
    assert ban["venue"] == "binance" and started + 120 <= ban["until_epoch_s"] <= time.time() + 120
    sent = len(sandbox.state.requests)
    other = subprocess.run(
        [sys.executable, "-c", OTHER_PROCESS, sandbox.base_url("binance"), str(ban_dir)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert other.returncode == 3, other.stderr
    assert "banned this IP (HTTP 418)" in other.stdout and "breaker open for another" in other.stdout
    assert len(sandbox.state.requests) == sent  # the other process sent nothing


def test_a_recorded_ban_holds_until_its_expiry_then_lets_requests_through(tmp_path):
    now = [1_000_000.0]
    key = ("binance", "http://127.0.0.1:1/binance")
    BanBreakers(clock=lambda: now[0]).trip(key, 120, "binance banned this IP (HTTP 418)", tmp_path)
    next_run = BanBreakers(clock=lambda: now[0])  # a new process: nothing in memory, only the file
    now[0] += 119
    assert "another 1s" in next_run.check(key, tmp_path)
    assert next_run.check(key) is None  # without the home's ban directory it cannot know
    now[0] += 2
    assert next_run.check(key, tmp_path) is None


def test_a_shorter_ban_never_shortens_a_recorded_one(tmp_path):
    key = ("okx", "http://127.0.0.1:1/okx")
    BanBreakers().trip(key, 600, "first", tmp_path)
    BanBreakers().trip(key, 60, "second", tmp_path)
    assert "first" in BanBreakers().check(key, tmp_path)


def test_an_unreadable_ban_file_keeps_the_venue_closed_and_says_why(tmp_path):
    key = ("bybit", "http://127.0.0.1:1/bybit")
    BanBreakers.ban_file(tmp_path, key).write_text("{half a ban")
    assert "unreadable ban file" in BanBreakers().check(key, tmp_path)


def test_a_ban_longer_than_the_cap_is_capped(sandbox, tmp_path):
    script(sandbox, kind="418", count=1, retry_after=30 * 86_400)  # a bogus month
    with client(sandbox, [], ban_dir=tmp_path) as http, pytest.raises(VenueBannedError, match="259200s"):
        http.get_json(PATH, PARAMS)
    [ban_file] = list(tmp_path.iterdir())
    assert json.loads(ban_file.read_text())["until_epoch_s"] <= time.time() + MAX_BAN_S


def test_a_429_asking_for_hours_fails_now_instead_of_sleeping(sandbox):
    script(sandbox, kind="429", count=1, retry_after=6 * 3600)
    sleeps = []
    with client(sandbox, sleeps) as http:
        with pytest.raises(VenueUnavailableError, match="asked to wait 21600s"):
            http.get_json(PATH, PARAMS)
        calls = http.drain_calls()
    assert [(c.status, c.ok) for c in calls] == [(429, False)]  # one call, logged, and no sleep
    assert sleeps == []


def test_a_429_with_an_http_date_waits_until_that_moment():
    sleeps = []
    answers = iter([429, 200])

    def venue(request: httpx.Request) -> httpx.Response:
        status = next(answers)
        if status == 429:
            moment = format_datetime(datetime.now(UTC) + timedelta(seconds=40), usegmt=True)
            return httpx.Response(
                429, headers={"Retry-After": moment}, json={"code": -1003, "msg": "Too many"}
            )
        return httpx.Response(200, json=[{"fundingRate": "0.0001"}])

    with binance.make_http(
        "http://binance.test", sleep=sleeps.append, transport=httpx.MockTransport(venue), limiter=None
    ) as http:
        assert http.get_json(PATH, PARAMS) == [{"fundingRate": "0.0001"}]
    assert len(sleeps) == 1 and 38 <= sleeps[0] <= 40  # the date, whole seconds, less the time taken
