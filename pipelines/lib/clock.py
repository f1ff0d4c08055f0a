"""The one Clock: what "now" is for the pipeline, its venue clients and the sandbox.

A clock answers two questions:

- `now_ms()`: market time in epoch ms: what retention windows, snapshots and api_health's requested_at are
  measured on;
- `monotonic_s()`: the seconds a rate-limit window counts. Wall monotonic seconds, plus every forward move of a
  driven clock: a replay that moves the market an hour ahead lets every window elapse by an hour.

Three kinds:

- `WallClock`: live. The wall clock, optionally shifted by a fixed offset (`SandboxClock.local()`).
- `DrivenClock`: stands still until its driver moves it. The sandbox server's clock (moved by
  `POST /_sandbox/clock`) and a replay harness's copy of it (the clock the replay's clients stamp and pace on).
- `SandboxClock`: a running sandbox's clock seen from the pipeline (`GET /_sandbox/health`), the venue gateway's
  clock in sandbox mode.

`local()` is the clock to stamp many events with: one that answers without asking anyone (itself, except for the
sandbox's remote clock). The liquidation recorder is asyncio code whose "now" is a stream replay's position, not the
market clock: it takes an `AsyncNow` (`awaitable(WALL_CLOCK)` live; see pipelines/recorder/recorder.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

AsyncNow = Callable[[], Awaitable[int]]
"""An awaitable "now" in epoch ms, for asyncio code that must not block its loop on a read."""


class Clock(Protocol):
    def now_ms(self) -> int:
        """Market time, epoch ms."""
        ...

    def monotonic_s(self) -> float:
        """Seconds for rate-limit windows: monotonic, and moved on by a driven clock's forward moves."""
        ...

    def local(self) -> Clock:
        """A clock that answers in-process, for stamping every request: this one, or a local copy of it."""
        ...


def wall_ms() -> int:
    return int(time.time() * 1000)


class WallClock:
    """The wall clock (live), or the wall clock shifted by `offset_ms` (a remote clock carried on locally)."""

    def __init__(self, offset_ms: int = 0) -> None:
        self.offset_ms = offset_ms

    def now_ms(self) -> int:
        return wall_ms() + self.offset_ms

    def monotonic_s(self) -> float:
        return time.monotonic()

    def local(self) -> WallClock:
        return self

    def __repr__(self) -> str:
        return f"WallClock(offset_ms={self.offset_ms})"


WALL_CLOCK = WallClock()


class DrivenClock:
    """A clock that stands still until its driver moves it: the sandbox server's clock, and a replay's copy of it.

    Rate-limit windows run on wall monotonic seconds plus every forward move: a replay that takes one request per
    simulated hour is never throttled, while requests between moves are paced in real time. A move back returns
    no time to the windows (monotonic_s never goes back)."""

    def __init__(self, now_ms: int) -> None:
        self._now_ms = int(now_ms)
        self._moved_s = 0.0  # the sum of forward moves
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        return self._now_ms

    def monotonic_s(self) -> float:
        return time.monotonic() + self._moved_s

    def local(self) -> DrivenClock:
        return self

    def move_to(self, now_ms: int) -> None:
        """Set the clock; a forward move lets rate-limit windows elapse by as much."""
        with self._lock:
            self._moved_s += max(int(now_ms) - self._now_ms, 0) / 1000
            self._now_ms = int(now_ms)

    def __repr__(self) -> str:
        return f"DrivenClock(now_ms={self._now_ms}, moved_s={self._moved_s})"


class SandboxClock:
    """A running sandbox's clock as the pipeline sees it, over HTTP (`GET {url}/_sandbox/health`, `clock_ms`).

    The sandbox's clock stands still until a driver moves it, so `now_ms()` asks it every time: retention and
    snapshots are judged on exactly the clock it serves. `local()` reads it once and carries it on with the wall
    clock: distinct, ordered api_health stamps on the sandbox's timeline without a request per stamp. Rate-limit
    windows count wall seconds (nothing moves the clock under a pipeline run)."""

    def __init__(self, url: str, *, timeout_s: float = 5.0, get: Callable[..., Any] | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self._get = get  # None: httpx.get; a test passes a fake

    def now_ms(self) -> int:
        get = self._get
        if get is None:  # imported here: the recorder imports this module and starts faster without httpx
            import httpx

            get = httpx.get
        return int(get(f"{self.url}/_sandbox/health", timeout=self.timeout_s).json()["clock_ms"])

    def monotonic_s(self) -> float:
        return time.monotonic()

    def local(self) -> WallClock:
        return WallClock(offset_ms=self.now_ms() - wall_ms())

    def __repr__(self) -> str:
        return f"SandboxClock({self.url!r})"


def awaitable(clock: Clock) -> AsyncNow:
    """`clock.now_ms` as an AsyncNow (the recorder's "now" live: the wall clock)."""

    async def now_ms() -> int:
        return clock.now_ms()

    return now_ms
