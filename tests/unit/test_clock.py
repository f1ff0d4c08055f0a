"""The one Clock (pipelines/lib/clock.py): wall, driven and the sandbox's remote clock."""

from __future__ import annotations

import asyncio
import time

from pipelines.lib.clock import WALL_CLOCK, DrivenClock, SandboxClock, WallClock, awaitable
from pipelines.venues.http import WeightLimiter

HOUR_MS = 3_600_000


def test_the_wall_clock_is_the_wall():
    before = int(time.time() * 1000)
    now = WALL_CLOCK.now_ms()
    assert before <= now <= int(time.time() * 1000)
    assert abs(WALL_CLOCK.monotonic_s() - time.monotonic()) < 1
    assert WALL_CLOCK.local() is WALL_CLOCK


def test_a_shifted_wall_clock_ticks_from_its_offset():
    clock = WallClock(offset_ms=-HOUR_MS)
    assert abs(clock.now_ms() + HOUR_MS - WALL_CLOCK.now_ms()) < 1000
    assert abs(clock.monotonic_s() - time.monotonic()) < 1  # rate-limit windows still count wall seconds


def test_a_driven_clock_stands_still_until_moved():
    clock = DrivenClock(1_000)
    assert clock.now_ms() == 1_000
    time.sleep(0.01)
    assert clock.now_ms() == 1_000
    clock.move_to(5_000)
    assert clock.now_ms() == 5_000
    assert clock.local() is clock


def test_forward_moves_elapse_rate_limit_windows_and_moves_back_do_not():
    clock = DrivenClock(10 * HOUR_MS)
    start = clock.monotonic_s()
    clock.move_to(11 * HOUR_MS)  # an hour ahead: windows elapse by an hour
    assert 3600 <= clock.monotonic_s() - start < 3601
    clock.move_to(9 * HOUR_MS)  # back: no time returns, none is added
    assert 3600 <= clock.monotonic_s() - start < 3601
    clock.move_to(9 * HOUR_MS + 30_000)
    assert 3630 <= clock.monotonic_s() - start < 3631
    assert clock.now_ms() == 9 * HOUR_MS + 30_000


def test_a_limiter_on_a_driven_clock_counts_replayed_seconds():
    def no_wall_wait(seconds: float) -> None:
        raise AssertionError(f"slept {seconds}")

    clock = DrivenClock(0)
    limiter = WeightLimiter(5, 1.0, clock=clock, sleep=no_wall_wait)
    for _ in range(3):
        for _ in range(5):
            limiter.acquire()
        clock.move_to(clock.now_ms() + 1_000)  # a replayed second: the window has room again


class FakeHealth:
    def __init__(self, clock_ms: int):
        self.clock_ms, self.asked = clock_ms, []

    def __call__(self, url: str, *, timeout: float):
        self.asked.append(url)
        clock_ms = self.clock_ms

        class Response:
            def json(self) -> dict:
                return {"scenario": "test", "clock_ms": clock_ms, "venues": []}

        return Response()


def test_the_sandbox_clock_is_read_each_time_and_carried_on_locally():
    health = FakeHealth(5 * HOUR_MS)
    clock = SandboxClock("http://127.0.0.1:1/", get=health)
    assert clock.now_ms() == 5 * HOUR_MS
    health.clock_ms = 6 * HOUR_MS  # a driver moved it: the next reading sees it
    assert clock.now_ms() == 6 * HOUR_MS
    assert health.asked == ["http://127.0.0.1:1/_sandbox/health"] * 2
    local = clock.local()  # one reading, then the wall clock carries it on: no request per stamp
    assert len(health.asked) == 3
    assert abs(local.now_ms() - 6 * HOUR_MS) < 1000
    assert len(health.asked) == 3


def test_awaitable_wraps_a_clock_for_asyncio_code():
    now = awaitable(DrivenClock(42))
    assert asyncio.run(now()) == 42
