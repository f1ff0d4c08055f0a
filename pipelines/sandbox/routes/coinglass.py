"""CoinGlass API v4 aggregated liquidation history over the simulated market: the complete picture of the forced
closes of the venues named in `exchange_list`, summed per bar.

Requests must carry the header CG-API-KEY equal to SANDBOX_API_KEY (pipelines/sandbox/__init__.py: a fixed, public
sandbox value, not a secret); anything else is HTTP 401 {"code": "401", ...}. Over the per-minute budget the answer
is HTTP 429 {"code": "429"}.

Sandbox choices (not venue facts, UNCONFIRMED): bars open on UTC boundaries of the interval (weeks on Mondays);
start_time and end_time are both inclusive on the bar's open time; the answer is ascending, the first `limit` bars
from start_time, every bar of the simulated window that has opened by the clock (zeros included); the bar under
way counts the liquidations up to the clock; an unknown coin answers `data: []`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from aiohttp import web

from pipelines.sandbox import SANDBOX_API_KEY
from pipelines.sandbox.serving import (
    HOUR_MS,
    STATE_KEY,
    SandboxState,
    apply_faults,
    int_param,
    json_response,
    state_of,
)

VENUE = "coinglass"
PATH = "/api/futures/liquidation/aggregated-history"
KEY_HEADER = "CG-API-KEY"
LIMIT_CAP = 1000
REQUESTS_PER_MINUTE = 30  # Hobbyist is said to be about 30/min (UNCONFIRMED); scaled by the scenario
MINUTE_MS = 60_000
DAY_MS = 24 * HOUR_MS
INTERVAL_MS = {
    "1m": MINUTE_MS,
    "3m": 3 * MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS,
    "1h": HOUR_MS,
    "4h": 4 * HOUR_MS,
    "6h": 6 * HOUR_MS,
    "8h": 8 * HOUR_MS,
    "12h": 12 * HOUR_MS,
    "1d": DAY_MS,
    "1w": 7 * DAY_MS,
}
WEEK_OFFSET_MS = 3 * DAY_MS  # 1970-01-01 was a Thursday: weeks open on the Monday three days earlier
EXCHANGE_VENUES = {"binance": "binance", "okx": "okx", "bybit": "bybit", "hyperliquid": "hyperliquid"}


class CoinGlassError(Exception):
    def __init__(self, code: str, msg: str, status: int):
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


def error_body(status: int, msg: str) -> dict:
    return {"code": str(status), "msg": msg}


def bar_open(ts: np.ndarray | int, interval_ms: int):
    offset = WEEK_OFFSET_MS if interval_ms == INTERVAL_MS["1w"] else 0
    return (ts + offset) // interval_ms * interval_ms - offset


def _int(request: web.Request, name: str) -> int | None:
    try:
        return int_param(request, name)
    except ValueError:
        raise CoinGlassError("400", f"{name} must be an integer", 400) from None


def aggregated_history(request: web.Request, state: SandboxState) -> web.Response:
    if request.headers.get(KEY_HEADER) != SANDBOX_API_KEY:
        raise CoinGlassError("401", "API key missing or invalid", 401)
    if state.spend(VENUE, "requests", 1, REQUESTS_PER_MINUTE, 60.0) is not None:
        raise CoinGlassError("429", "Too Many Requests", 429)
    exchanges = [e.strip() for e in (request.query.get("exchange_list") or "").split(",") if e.strip()]
    if not exchanges:
        raise CoinGlassError("400", "exchange_list is required", 400)
    symbol = request.query.get("symbol")
    if not symbol:
        raise CoinGlassError("400", "symbol is required", 400)
    interval = request.query.get("interval") or "1h"
    if interval not in INTERVAL_MS:
        raise CoinGlassError("400", f"interval must be one of {', '.join(INTERVAL_MS)}", 400)
    limit = _int(request, "limit") or LIMIT_CAP
    if not 1 <= limit <= LIMIT_CAP:
        raise CoinGlassError("400", f"limit must be between 1 and {LIMIT_CAP}", 400)
    step = INTERVAL_MS[interval]
    now = state.clock_ms
    scenario = state.market.scenario
    first = int(bar_open(int(np.datetime64(scenario.start, "ms").astype(np.int64)), step))
    last = min(int(np.datetime64(scenario.end, "ms").astype(np.int64)) + DAY_MS - 1, now)
    start_time, end_time = _int(request, "start_time"), _int(request, "end_time")
    lo = first if start_time is None else max(first, int(bar_open(start_time, step)))
    if start_time is not None and lo < start_time:
        lo += step  # bars open at or after start_time
    hi = int(bar_open(last, step)) if end_time is None else min(int(bar_open(last, step)), end_time)
    bars = np.arange(lo, hi + 1, step, dtype=np.int64)[:limit] if hi >= lo else np.arange(0, dtype=np.int64)
    venues = {EXCHANGE_VENUES[e.lower()] for e in exchanges if e.lower() in EXCHANGE_VENUES}
    longs, shorts = _sums(request.app[EVENTS_KEY], state, venues, symbol.upper(), bars, step, now)
    return json_response(
        {
            "code": "0",
            "msg": "success",
            "data": [
                {
                    "time": int(t),
                    "aggregated_long_liquidation_usd": float(long_usd),
                    "aggregated_short_liquidation_usd": float(short_usd),
                }
                for t, long_usd, short_usd in zip(bars, longs, shorts, strict=True)
            ]
            if symbol.upper() in state.assets
            else [],
        }
    )


@dataclass(frozen=True)
class AssetEvents:
    """One asset's forced closes sorted by time, so a request slices instead of scanning every event."""

    ts: np.ndarray
    venue: np.ndarray
    usd: np.ndarray
    is_long: np.ndarray


EVENTS_KEY = web.AppKey("coinglass_events", dict)  # asset -> AssetEvents, built on first use


def _asset_events(cache: dict, state: SandboxState, asset: str) -> AssetEvents | None:
    if asset not in cache:
        events = state.market.liquidation_events
        if events is None:
            return None
        mine = events.filter(pc.equal(events["asset"], asset)).sort_by("ts")
        cache[asset] = AssetEvents(
            ts=mine["ts"].cast(pa.int64()).to_numpy(),
            venue=mine["venue"].to_numpy(zero_copy_only=False),
            usd=mine["notional_usd"].to_numpy(),
            is_long=mine["side"].to_numpy(zero_copy_only=False) == "long",
        )
    return cache[asset]


def _sums(
    cache: dict, state: SandboxState, venues: set[str], asset: str, bars: np.ndarray, step: int, now: int
):
    longs, shorts = np.zeros(len(bars)), np.zeros(len(bars))
    events = _asset_events(cache, state, asset)
    if events is None or not len(bars):
        return longs, shorts
    lo = int(np.searchsorted(events.ts, bars[0], side="left"))
    hi = int(np.searchsorted(events.ts, min(int(bars[-1]) + step - 1, now), side="right"))
    ts = events.ts[lo:hi]
    keep = np.isin(events.venue[lo:hi], list(venues))
    slot = ((bar_open(ts[keep], step) - bars[0]) // step).astype(np.int64)
    usd = events.usd[lo:hi][keep]
    is_long = events.is_long[lo:hi][keep]
    np.add.at(longs, slot[is_long], usd[is_long])
    np.add.at(shorts, slot[~is_long], usd[~is_long])
    return longs, shorts


def _wrap(handler):
    async def route(request: web.Request) -> web.StreamResponse:
        fault = await apply_faults(request, VENUE, error_body)
        if fault is not None:
            return fault
        try:
            return handler(request, state_of(request))
        except CoinGlassError as exc:
            return json_response({"code": exc.code, "msg": exc.msg}, status=exc.status)

    return route


def app(state: SandboxState) -> web.Application:
    sub = web.Application()
    sub[STATE_KEY] = state
    sub[EVENTS_KEY] = {}
    sub.router.add_get(PATH, _wrap(aggregated_history))
    return sub
