"""What every venue-shaped route needs: the market indexed for fast slicing, the sandbox clock, rate limits,
scenario outages and injected faults (for tests)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiohttp import web

from pipelines.sandbox.market import Market

STATE_KEY = web.AppKey("sandbox_state", object)
HOUR_MS = 3_600_000


@dataclass
class Series:
    """One venue x asset, hourly, as numpy arrays sorted by ts (ms)."""

    ts: np.ndarray
    cols: dict[str, np.ndarray]

    def window(self, start_ms: int | None, end_ms: int | None) -> slice:
        """Rows with start <= ts <= end (both inclusive, as the venues document)."""
        lo = 0 if start_ms is None else int(np.searchsorted(self.ts, start_ms, side="left"))
        hi = len(self.ts) if end_ms is None else int(np.searchsorted(self.ts, end_ms, side="right"))
        return slice(lo, max(lo, hi))


@dataclass
class Fault:
    """A scripted misbehaviour for tests: the next `count` matching requests get it."""

    venue: str
    path: str | None  # None matches every path of the venue
    kind: str  # 429 | 418 | 403 | 500 | 502 | 503 | timeout | truncate | malformed | venue_error
    count: int = 1
    retry_after: float | None = None
    delay_s: float = 30.0


@dataclass
class SandboxState:
    market: Market
    clock_ms: int
    series: dict[tuple[str, str], Series] = field(default_factory=dict)
    funding: dict[tuple[str, str], Series] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)  # an access log tests can inspect
    _limits: dict[tuple[str, str], deque] = field(default_factory=lambda: defaultdict(deque))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _jumped_s: float = 0.0  # forward clock moves, added to the wall clock that rate-limit windows run on

    @classmethod
    def from_market(cls, market: Market) -> SandboxState:
        state = cls(market=market, clock_ms=market.scenario.clock_ms)
        h = market.hourly.sort_by([("venue", "ascending"), ("asset", "ascending"), ("ts", "ascending")])
        venues = h["venue"].to_numpy(zero_copy_only=False)
        assets = h["asset"].to_numpy(zero_copy_only=False)
        ts = h["ts"].cast("int64").to_numpy()
        cols = {
            name: h[name].to_numpy(zero_copy_only=False)
            for name in h.column_names
            if name not in ("venue", "asset", "ts")
        }
        for key in sorted(set(zip(venues, assets, strict=True))):
            mask = (venues == key[0]) & (assets == key[1])
            state.series[key] = Series(ts=ts[mask], cols={k: v[mask] for k, v in cols.items()})
        f = market.funding.sort_by(
            [("venue", "ascending"), ("asset", "ascending"), ("funding_time", "ascending")]
        )
        fv, fa = f["venue"].to_numpy(zero_copy_only=False), f["asset"].to_numpy(zero_copy_only=False)
        fts = f["funding_time"].cast("int64").to_numpy()
        fcols = {
            name: f[name].to_numpy(zero_copy_only=False)
            for name in ("funding_rate", "interval_hours", "mark_price", "oi_coin")
        }
        for key in sorted(set(zip(fv, fa, strict=True))):
            mask = (fv == key[0]) & (fa == key[1])
            state.funding[key] = Series(ts=fts[mask], cols={k: v[mask] for k, v in fcols.items()})
        return state

    @property
    def assets(self) -> list[str]:
        return list(self.market.scenario.assets)

    def now_ms(self) -> int:
        return self.clock_ms

    def move_clock(self, clock_ms: int) -> None:
        """Set the clock (POST /_sandbox/clock). A forward move lets rate-limit windows elapse by as much, as
        they would have in that time: a replay that takes one request per simulated hour is never throttled."""
        with self._lock:
            self._jumped_s += max(clock_ms - self.clock_ms, 0) / 1000
            self.clock_ms = clock_ms

    def _limit_now(self) -> float:
        return time.monotonic() + self._jumped_s

    def take_fault(self, venue: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.venue == venue and (fault.path is None or fault.path == path) and fault.count > 0:
                    fault.count -= 1
                    if fault.count == 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def used(self, venue: str, bucket: str, window_s: float) -> int:
        """Weight spent in the current window, as a venue reports it in a usage header."""
        with self._lock:
            now = self._limit_now()
            return sum(w for t, w in self._limits[(venue, bucket)] if t > now - window_s)

    def spend(self, venue: str, bucket: str, weight: int, capacity: int, window_s: float) -> float | None:
        """Charge a rate-limit bucket; return seconds to wait if it is over its limit (wall-clock based, plus
        forward clock moves)."""
        capacity = max(1, int(capacity * self.market.scenario.rate_limit_scale))
        with self._lock:
            now = self._limit_now()
            spent = self._limits[(venue, bucket)]
            while spent and spent[0][0] <= now - window_s:
                spent.popleft()
            used = sum(w for _, w in spent)
            if used + weight > capacity:
                return max(spent[0][0] + window_s - now, 0.5) if spent else 0.5
            spent.append((now, weight))
            return None


def state_of(request: web.Request) -> SandboxState:
    return request.app[STATE_KEY]


async def apply_faults(request: web.Request, venue: str, error_body) -> web.StreamResponse | None:
    """Scenario outages (by the sandbox clock) and scripted faults, before a route does any work."""
    state = state_of(request)
    state.requests.append({"venue": venue, "path": request.path, "query": dict(request.query)})
    outage = state.market.scenario.outage_at(venue, state.now_ms())
    if outage is not None:
        if outage.mode == "timeout":
            await asyncio.sleep(60)
        return web.json_response(error_body(503, "Service Unavailable"), status=503)
    fault = state.take_fault(venue, _venue_path(request, venue))
    if fault is None:
        return None
    return await render_fault(request, fault, error_body)


def _venue_path(request: web.Request, venue: str) -> str:
    prefix = f"/{venue}"
    return request.path[len(prefix) :] if request.path.startswith(prefix) else request.path


async def render_fault(request: web.Request, fault: Fault, error_body) -> web.StreamResponse:
    headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
    kind = fault.kind
    if kind == "timeout":
        await asyncio.sleep(fault.delay_s)
        return web.json_response(error_body(503, "late"), status=503)
    if kind == "truncate":
        resp = web.StreamResponse(
            status=200, headers={"Content-Type": "application/json", "Content-Length": "4096"}
        )
        await resp.prepare(request)
        await resp.write(b'[{"symbol":"BTCUSDT","fundingTime":17')
        request.transport.close()  # the peer sees a body shorter than its Content-Length
        return resp
    if kind == "malformed":
        return web.Response(status=200, text="<html>upstream error</html>", content_type="application/json")
    if kind == "venue_error":
        return web.json_response(error_body(400, "scripted venue error"), status=400)
    status = int(kind)
    return web.json_response(error_body(status, f"scripted HTTP {status}"), status=status, headers=headers)


def int_param(request: web.Request, name: str, default: int | None = None) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    return int(raw)  # ValueError is mapped to the venue's own bad-parameter error by the route


def fmt(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"


def jitter_ms(key: str, ts: int) -> int:
    """Deterministic 0-5 ms jitter, like Binance's fundingTime (1788336000001)."""
    return ts + (ts // HOUR_MS * 7 + sum(map(ord, key))) % 6
