"""What every venue-shaped route needs: the market indexed for fast slicing, the sandbox clock, rate limits,
scenario outages and injected faults (for tests)."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiohttp import web

from pipelines.lib.clock import DrivenClock
from pipelines.lib.json_codec import dumps_compact
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


# faults that rewrite a successful answer's rows (after the route rendered it) rather than replace the answer
BODY_FAULTS = ("duplicate", "out_of_order", "rename")
# besides an HTTP status ("429", "503", …); "challenge" is Farside's bot-protection page served with HTTP 200
ANSWER_FAULTS = ("timeout", "truncate", "malformed", "venue_error", "challenge")


@dataclass
class Fault:
    """A scripted misbehaviour for tests: the next `count` matching requests get it, after `skip` went through.

    kinds that replace the answer: 429 | 418 | 403 | 500 | 502 | 503 | timeout | truncate | malformed |
    venue_error; kinds that rewrite a successful JSON answer's rows: duplicate (every row twice), out_of_order
    (rows shuffled), rename (the key `field` becomes `rename_to` wherever it occurs). With `until_ms`, the fault
    is an outage: every matching request gets it while the sandbox clock is before until_ms, whatever `count`.
    """

    venue: str
    path: str | None  # None matches every path of the venue
    kind: str
    count: int = 1
    retry_after: float | None = None
    delay_s: float = 30.0
    skip: int = 0  # matching requests let through first: a fault on page 3 of a pagination, not page 1
    until_ms: int | None = None  # sandbox clock: an outage of hours, served while the clock is before it
    field: str | None = None  # rename: the payload key to rename
    rename_to: str | None = None
    seed: int = 0  # out_of_order: the shuffle is deterministic

    def __post_init__(self) -> None:
        if self.kind not in ANSWER_FAULTS + BODY_FAULTS and not self.kind.isdigit():
            raise ValueError(
                f"unknown fault kind {self.kind!r}: an HTTP status, or one of {ANSWER_FAULTS + BODY_FAULTS}"
            )
        if self.kind == "rename" and not (self.field and self.rename_to):
            raise ValueError("a rename fault needs `field` and `rename_to`")


@dataclass
class SandboxState:
    market: Market
    clock: DrivenClock  # the sandbox's "now", moved by POST /_sandbox/clock; rate-limit windows run on it too
    series: dict[tuple[str, str], Series] = field(default_factory=dict)
    funding: dict[tuple[str, str], Series] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)  # an access log tests can inspect
    _limits: dict[tuple[str, str], deque] = field(default_factory=lambda: defaultdict(deque))
    # per rate-limit bucket, as the venue would account it: (capacity, window_s, weight served, requests refused)
    # and the first and last time a request was served, for the budget share the benchmark prints
    rate_ledger: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_market(cls, market: Market) -> SandboxState:
        state = cls(market=market, clock=DrivenClock(market.scenario.clock_ms))
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

    @property
    def clock_ms(self) -> int:
        """The clock's reading; moved with `clock.move_to` (a forward move lets rate-limit windows elapse)."""
        return self.clock.now_ms()

    def take_fault(self, venue: str, path: str, *, body: bool = False) -> Fault | None:
        """The first scripted fault that applies to this request (answer faults, or with body=True the faults
        that rewrite a successful answer); spends one of its count, or one of its skips."""
        with self._lock:
            for fault in list(self.faults):
                if fault.venue != venue or (fault.path is not None and fault.path != path):
                    continue
                if (fault.kind in BODY_FAULTS) != body:
                    continue
                if fault.until_ms is not None:
                    if self.clock_ms >= fault.until_ms:
                        self.faults.remove(fault)  # the outage is over
                        continue
                    if fault.skip > 0:
                        fault.skip -= 1
                        continue
                    return fault
                if fault.count <= 0:
                    continue
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                fault.count -= 1
                if fault.count == 0:
                    self.faults.remove(fault)
                return fault
        return None

    def used(self, venue: str, bucket: str, window_s: float) -> int:
        """Weight spent in the current window, as a venue reports it in a usage header."""
        with self._lock:
            now = self.clock.monotonic_s()
            return sum(w for t, w in self._limits[(venue, bucket)] if t > now - window_s)

    def spend(self, venue: str, bucket: str, weight: int, capacity: int, window_s: float) -> float | None:
        """Charge a rate-limit bucket; return seconds to wait if it is over its limit (on the clock's monotonic_s:
        wall seconds plus forward clock moves)."""
        capacity = max(1, int(capacity * self.market.scenario.rate_limit_scale))
        with self._lock:
            now = self.clock.monotonic_s()
            spent = self._limits[(venue, bucket)]
            while spent and spent[0][0] <= now - window_s:
                spent.popleft()
            used = sum(w for _, w in spent)
            ledger = self.rate_ledger.setdefault(
                (venue, bucket),
                {
                    "capacity": capacity,
                    "window_s": window_s,
                    "weight": 0,
                    "refused": 0,
                    "first": now,
                    "last": now,
                },
            )
            if used + weight > capacity:
                ledger["refused"] += 1
                return max(spent[0][0] + window_s - now, 0.5) if spent else 0.5
            spent.append((now, weight))
            ledger["weight"] += weight
            ledger["last"] = now
            return None


def state_of(request: web.Request) -> SandboxState:
    return request.app[STATE_KEY]


async def apply_faults(request: web.Request, venue: str, error_body) -> web.StreamResponse | None:
    """Scenario outages (by the sandbox clock) and scripted faults, before a route does any work."""
    state = state_of(request)
    state.requests.append(
        {"venue": venue, "path": request.path, "query": dict(request.query), "at_s": time.monotonic()}
    )
    outage = state.market.scenario.outage_at(venue, state.clock_ms)
    if outage is not None:
        if outage.mode == "timeout":
            await asyncio.sleep(60)
        return json_response(error_body(503, "Service Unavailable"), status=503)
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
        return json_response(error_body(503, "late"), status=503)
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
        return json_response(error_body(400, "scripted venue error"), status=400)
    status = int(kind)
    return json_response(error_body(status, f"scripted HTTP {status}"), status=status, headers=headers)


def rewrite_rows(payload: Any, fault: Fault) -> Any:
    """A body fault applied to a decoded JSON answer: the rows are the longest list in it (a page)."""
    if fault.kind == "rename":
        return _renamed(payload, fault.field, fault.rename_to)
    rows = _longest_list(payload)
    if rows is None:
        return payload
    if fault.kind == "duplicate":
        rows[:] = [row for row in rows for _ in (0, 1)]
    elif fault.kind == "out_of_order":
        random.Random(fault.seed).shuffle(rows)
    return payload


def _longest_list(value: Any) -> list | None:
    """The longest list of objects or arrays (a page of rows; a kline's own array of scalars is not one)."""
    best = None
    if isinstance(value, list) and value and all(isinstance(v, dict | list) for v in value):
        best = value
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for child in children:
        if isinstance(child, dict | list):
            found = _longest_list(child)
            if found is not None and (best is None or len(found) > len(best)):
                best = found
    return best


def _renamed(value: Any, old: str, new: str) -> Any:
    if isinstance(value, dict):
        return {(new if k == old else k): _renamed(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, old, new) for v in value]
    return value


@web.middleware
async def body_faults(request: web.Request, handler) -> web.StreamResponse:
    """Rewrite a route's successful JSON answer when a body fault is scripted; the routes render as usual."""
    response = await handler(request)
    venue = request.path.split("/", 2)[1]
    if (
        not isinstance(response, web.Response)
        or response.status != 200
        or response.content_type != "application/json"
        or response.body is None
    ):
        return response
    fault = request.config_dict[STATE_KEY].take_fault(venue, _venue_path(request, venue), body=True)
    if fault is None:
        return response
    payload = rewrite_rows(json.loads(response.body), fault)
    headers = {
        k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type")
    }
    return json_response(payload, status=response.status, headers=headers)


def json_response(payload: Any, **kwargs: Any) -> web.Response:
    """aiohttp's json_response written by orjson: a venue page of thousands of rows is the sandbox's largest
    cost after the simulation itself (pipelines/lib/json_codec.py)."""
    return web.json_response(payload, dumps=dumps_compact, **kwargs)


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
