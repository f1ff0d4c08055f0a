"""Hourly option snapshots over a past window, for the demo: the SANDBOX's clock is moved step by step.

Deribit serves only the current book, so a real past can never be recorded. The sandbox can be asked what its
book looked like at any clock time, so the demo replays its window: for each step the clock is set through
`POST /_sandbox/clock` and one snapshot is taken through the normal ingest code (ingest_days with now = the
clock). Against a live venue this refuses: there is no clock to move. The original clock is restored afterwards;
run it before (not during) other runs against the same sandbox, which would see the moving clock.

Rate limits run on replayed time, on both sides: Deribit's credit pool is per second, and each step is a
simulated hour, so the client's limiter and the sandbox's (which moves its windows with the clock) both see
two requests an hour, as a live hourly schedule would.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import httpx

from pipelines.ingest import DayResult, ingest_days
from pipelines.lake import Lake
from pipelines.lib.clock import DrivenClock
from pipelines.lib.timeutil import floor_hour_ms, ms_to_day
from pipelines.venues import deribit
from pipelines.venues.http import WeightLimiter

log = logging.getLogger(__name__)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class ReplayRefused(RuntimeError):
    """The target is not a levwatch sandbox: a live venue's past cannot be recorded after the fact."""


def sandbox_root(gateway_or_base_url: Any) -> str:
    """The sandbox's root URL from a VenueGateway (source='sandbox') or a URL (root or its /deribit base)."""
    if not isinstance(gateway_or_base_url, str):
        source = getattr(gateway_or_base_url, "source", None)
        if source != "sandbox":
            raise ReplayRefused(
                f"option snapshots can be replayed only against the sandbox (LEVWATCH_SOURCE=sandbox), not in "
                f"{source!r} mode: Deribit serves only the current book, so past hours cannot be recorded"
            )
        gateway_or_base_url = gateway_or_base_url.base_url(deribit.VENUE)
    url = gateway_or_base_url.rstrip("/")
    url = url.removesuffix(f"/{deribit.VENUE}")
    if httpx.URL(url).host not in LOOPBACK_HOSTS:
        raise ReplayRefused(
            f"{url} is not a loopback sandbox: refusing to replay option snapshots against it"
        )
    try:
        response = httpx.get(f"{url}/_sandbox/health", timeout=5)
        response.raise_for_status()
        int(response.json()["clock_ms"])
    except (httpx.HTTPError, KeyError, TypeError, ValueError) as exc:
        raise ReplayRefused(f"{url} does not answer as a levwatch sandbox (/_sandbox/health): {exc}") from exc
    return url


class ClockDriver:
    """Moves a running sandbox's clock (`POST /_sandbox/clock`) and `clock`, a DrivenClock, in step with it: the
    replay's clients pace their limiters (and the deployment replay stamps api_health) on `clock`, so a forward
    move elapses their rate-limit windows as it elapses the sandbox's. `restore()` puts the original clock back."""

    def __init__(self, control: httpx.Client) -> None:
        self._control = control
        self.original = int(control.get("/_sandbox/health").json()["clock_ms"])
        self.clock = DrivenClock(self.original)

    def move_to(self, clock_ms: int) -> None:
        self._control.post("/_sandbox/clock", json={"clock_ms": clock_ms}).raise_for_status()
        self.clock.move_to(clock_ms)

    def wait(self, seconds: float) -> None:
        """A limiter's wait, spent on the replayed clock: the venue's window (and ours) elapses by as much."""
        self.move_to(self.clock.now_ms() + max(1, math.ceil(seconds * 1000)))

    def restore(self) -> None:
        self.move_to(self.original)


def record_option_snapshots(
    gateway_or_base_url: Any,
    lake: Lake,
    start_ms: int,
    end_ms: int,
    step_ms: int,
    *,
    progress: Callable[[str], None] = log.info,
) -> list[DayResult]:
    """One snapshot per step in [start, end); each goes through ingest_days. Returns each step's day result."""
    if step_ms <= 0:
        raise ValueError(f"step_ms must be positive, got {step_ms}")
    if end_ms <= start_ms:
        raise ValueError(f"empty replay window: end {end_ms} <= start {start_ms}")
    root = sandbox_root(gateway_or_base_url)
    spec = deribit.DATASETS["options_snapshots"]
    results: list[DayResult] = []
    with httpx.Client(base_url=root, timeout=5) as control:
        driver = ClockDriver(control)
        limiter = WeightLimiter(deribit.LIMITER_CAPACITY, deribit.RATE_WINDOW_S, clock=driver.clock)
        try:
            with deribit.make_http(f"{root}/{deribit.VENUE}", limiter=limiter) as http:
                for clock in range(start_ms, end_ms, step_ms):
                    driver.move_to(clock)
                    day_results = ingest_days(
                        deribit.VENUE,
                        spec,
                        [ms_to_day(clock)],
                        http=http,
                        lake=lake,
                        now_ms=clock,
                        run_id=f"options-replay-{floor_hour_ms(clock)}",
                        progress=progress,
                    )
                    results.extend(day_results)
                    progress(f"options snapshot at {ms_to_day(clock)} +{clock % 86_400_000 // 3_600_000}h")
        finally:
            driver.restore()
    return results
