"""Hyperliquid `POST /info` over the simulated market: the same request bodies, caps, ordering, errors and shapes.

Refusals mirror the venue: a body that does not deserialize gets HTTP 422 with the framework's plain-text
message, an unknown coin gets HTTP 500 with a JSON `null` body, and the weight limit answers HTTP 429 (`null`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from aiohttp import web

from pipelines.sandbox.market import BASE_FUNDING_8H
from pipelines.sandbox.minutes import MINUTE_MS, minute_book
from pipelines.sandbox.serving import (
    HOUR_MS,
    STATE_KEY,
    SandboxState,
    Series,
    apply_faults,
    jitter_ms,
    json_response,
    state_of,
)

VENUE = "hyperliquid"
DAY_MS = 24 * HOUR_MS
PAGE_CAP = 500  # rows per time-range answer; tests lower it to exercise pagination cheaply
CANDLE_RETENTION = 5000  # only the latest 5000 candles of each interval are served
WEIGHT_PER_MINUTE = 1200
BASE_WEIGHT = 20
MINUTE_INTERVALS = {"1m"}  # from the simulator's minute path; 3m-30m are not simulated
INTERVAL_HOURS = {"1h": 1, "2h": 2, "4h": 4, "8h": 8, "12h": 12, "1d": 24}  # the simulation is hourly
SZ_DECIMALS = {"BTC": 5, "ETH": 4, "SOL": 2, "XRP": 0, "DOGE": 0}  # from the venue's recorded meta
MARGIN_TABLE_ID = 56  # as recorded for BTC; one table serves every simulated coin
IMPACT_HALF_SPREAD = 0.00005


class InfoRejected(Exception):
    """A refusal rendered as the venue renders it: JSON `null`, or axum's plain-text deserialization error."""

    def __init__(self, status: int, text: str | None = None):
        self.status, self.text = status, text

    def response(self) -> web.Response:
        if self.text is None:
            return json_response(None, status=self.status)
        return web.Response(status=self.status, text=self.text, content_type="text/plain")


def error_body(status: int, msg: str) -> None:
    return None  # the venue sends a JSON `null` with its error statuses, not a message


def _bad_body(detail: str) -> InfoRejected:
    return InfoRejected(422, f"Failed to deserialize the JSON body into the target type: {detail}")


def _field(body: dict, name: str, kind: type, *, required: bool = True) -> Any:
    if name not in body or body[name] is None:
        if required:
            raise _bad_body(f"missing field `{name}`")
        return None
    value = body[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _bad_body(f"{name}: invalid type: {type(value).__name__}, expected {kind.__name__}")
    return value


def _asset(state: SandboxState, coin: str) -> str:
    if coin not in state.assets:  # the coin name is the asset name on Hyperliquid
        raise InfoRejected(500)
    return coin


def _charge(request: web.Request, weight: int) -> None:
    if state_of(request).spend(VENUE, "weight", weight, WEIGHT_PER_MINUTE, 60) is not None:
        raise InfoRejected(429)


def _num(value: float, decimals: int) -> str:
    """Like the venue: no trailing zeros, but always one decimal ("79073.0", "0.0000125")."""
    text = f"{value:.{decimals}f}"
    # strip only fractional zeros: 116840 with no decimals is "116840.0", not "11684"
    text = text.rstrip("0") if "." in text else text + "."
    text = text + "0" if text.endswith(".") else text
    return "0.0" if text == "-0.0" else text


def _px(value: float) -> str:
    """Prices carry at most 5 significant figures and 6 decimals."""
    digits = math.floor(math.log10(abs(value))) + 1 if value else 1
    return _num(value, min(max(5 - digits, 0), 6))


def _sz(coin: str, value: float) -> str:
    return _num(value, SZ_DECIMALS.get(coin, 2))


def _rate(value: float) -> str:
    return _num(value, 10)


def funding_history(request: web.Request, state: SandboxState, body: dict) -> list[dict]:
    coin = _field(body, "coin", str)
    start = _field(body, "startTime", int)
    end = _field(body, "endTime", int, required=False)
    asset = _asset(state, coin)
    now = state.clock_ms
    end = now if end is None else min(end, now)
    f = state.funding[(VENUE, asset)]
    published = np.array([jitter_ms(coin, int(t)) for t in f.ts], dtype=np.int64)  # ascending, like f.ts
    chosen = np.nonzero((published >= start) & (published <= end))[0][:PAGE_CAP]
    _charge(request, BASE_WEIGHT + len(chosen) // 20)
    hourly = state.series[(VENUE, asset)]
    return [
        {
            "coin": coin,
            "fundingRate": _rate(f.cols["funding_rate"][i]),
            "premium": _rate(_settled_premium(hourly, int(f.ts[i]), float(f.cols["funding_rate"][i]))),
            "time": int(published[i]),
        }
        for i in chosen
    ]


def _settled_premium(hourly: Series, funding_time: int, rate: float) -> float:
    """The premium averaged over the hour the payment settles; the rate less interest where no hour is known."""
    i = int(np.searchsorted(hourly.ts, funding_time - HOUR_MS, "left"))
    if i < len(hourly.ts) and hourly.ts[i] == funding_time - HOUR_MS:
        return float(hourly.cols["premium"][i])
    return rate - BASE_FUNDING_8H / 8


def candle_snapshot(request: web.Request, state: SandboxState, body: dict) -> list[dict]:
    req = _field(body, "req", dict)
    coin = _field(req, "coin", str)
    interval = _field(req, "interval", str)
    start = _field(req, "startTime", int)
    end = _field(req, "endTime", int)
    if interval not in INTERVAL_HOURS and interval not in MINUTE_INTERVALS:
        raise _bad_body(
            f"req.interval: unknown variant `{interval}`, expected one of "
            + ", ".join(f"`{i}`" for i in [*MINUTE_INTERVALS, *INTERVAL_HOURS])
        )
    asset = _asset(state, coin)
    if interval in MINUTE_INTERVALS:
        return _minute_candles(request, state, coin, asset, interval, start, end)
    s = state.series[(VENUE, asset)]
    now = state.clock_ms
    step = INTERVAL_HOURS[interval] * HOUR_MS
    oldest_served = now - now % step - (CANDLE_RETENTION - 1) * step
    starts = s.ts[(s.ts % step == 0) & (s.ts <= now) & (s.ts >= oldest_served)]
    # every candle that overlaps [startTime, endTime], oldest first
    starts = starts[(starts + step - 1 >= start) & (starts <= end)][:PAGE_CAP]
    _charge(request, BASE_WEIGHT + len(starts) // 60)
    out = []
    for t0 in (int(t) for t in starts):
        lo = int(np.searchsorted(s.ts, t0, "left"))
        hi = int(np.searchsorted(s.ts, min(t0 + step, now + 1), "left"))
        volume = float(s.cols["volume_coin"][lo:hi].sum())
        out.append(
            {
                "T": t0 + step - 1,
                "c": _px(s.cols["close"][hi - 1]),
                "h": _px(s.cols["high"][lo:hi].max()),
                "i": interval,
                "l": _px(s.cols["low"][lo:hi].min()),
                "n": int(volume * 3.7) + 1,
                "o": _px(s.cols["open"][lo]),
                "s": coin,
                "t": t0,
                "v": _sz(coin, volume),
            }
        )
    return out


def _minute_candles(
    request: web.Request, state: SandboxState, coin: str, asset: str, interval: str, start: int, end: int
) -> list[dict]:
    """Traded-price minute candles overlapping [startTime, endTime], oldest first, from the latest 5000 only."""
    book = minute_book(state)
    now = state.clock_ms
    newest = book.index_of(now)  # the candle under way; the 5000 kept end with it, whatever the market holds
    lo = max(newest - (CANDLE_RETENTION - 1), book.index_of(start), 0)
    hi = min(newest, book.minutes - 1, book.index_of(end)) + 1
    hi = min(hi, lo + PAGE_CAP)
    bars = book.served(VENUE, asset, "last", lo, hi, now)
    _charge(request, BASE_WEIGHT + len(bars.ts) // 60)
    hourly = state.series[(VENUE, asset)]
    # the simulator's volume is per step: a minute gets an even share of its hour's
    volume = hourly.cols["volume_coin"][np.searchsorted(hourly.ts, bars.ts - bars.ts % HOUR_MS)] / 60
    return [
        {
            "T": int(t0) + MINUTE_MS - 1,
            "c": _px(c),
            "h": _px(h),
            "i": interval,
            "l": _px(low),
            "n": int(v * 3.7) + 1,
            "o": _px(o),
            "s": coin,
            "t": int(t0),
            "v": _sz(coin, v),
        }
        for t0, (o, h, low, c), v in zip(bars.ts, bars.ohlc, volume, strict=True)
    ]


def meta_and_asset_ctxs(request: web.Request, state: SandboxState, body: dict) -> list:
    _charge(request, BASE_WEIGHT)
    now = state.clock_ms
    spec = state.market.scenario.venues[VENUE]
    universe, contexts = [], []
    for coin in state.assets:
        universe.append(
            {
                "szDecimals": SZ_DECIMALS.get(coin, 2),
                "name": coin,
                "maxLeverage": max(spec.leverage),
                "marginTableId": MARGIN_TABLE_ID,
            }
        )
        contexts.append(_asset_context(state.series[(VENUE, coin)], coin, now, spec.funding_cap))
    return [{"universe": universe}, contexts]


def _asset_context(s: Series, coin: str, now: int, funding_cap: float) -> dict:
    """Values as of `now`: the open of the hour it falls in (its close lies in the future) and the last 24 hours."""
    i = max(int(np.searchsorted(s.ts, now, "right")) - 1, 0)
    day_ago = max(int(np.searchsorted(s.ts, now - DAY_MS, "right")) - 1, 0)
    lo, hi = (
        int(np.searchsorted(s.ts, now - DAY_MS, "left")),
        int(np.searchsorted(s.ts, now - HOUR_MS, "right")),
    )
    volume = s.cols["volume_coin"][lo:hi]
    notional = float((volume * (s.cols["open"][lo:hi] + s.cols["close"][lo:hi]) / 2).sum())
    premium = float(s.cols["premium"][i])
    mid = float(s.cols["open"][i])
    return {
        "funding": _rate(float(np.clip(premium + BASE_FUNDING_8H / 8, -funding_cap, funding_cap))),
        "openInterest": _sz(coin, float(s.cols["oi_coin"][i])),  # one-sided, in coins
        "prevDayPx": _px(s.cols["open"][day_ago]),
        "dayNtlVlm": _num(notional, 6),
        "premium": _rate(premium),
        "oraclePx": _px(s.cols["index_open"][i]),
        "markPx": _px(s.cols["mark_open"][i]),
        "midPx": _px(mid),
        "impactPxs": [_px(mid * (1 - IMPACT_HALF_SPREAD)), _px(mid * (1 + IMPACT_HALF_SPREAD))],
        "dayBaseVlm": _sz(coin, float(volume.sum())),
    }


QUERIES = {
    "fundingHistory": funding_history,
    "candleSnapshot": candle_snapshot,
    "metaAndAssetCtxs": meta_and_asset_ctxs,
}


async def info(request: web.Request) -> web.StreamResponse:
    fault = await apply_faults(request, VENUE, error_body)
    if fault is not None:
        return fault
    try:
        try:
            body = await request.json()
        except ValueError as exc:
            raise InfoRejected(400, f"Failed to parse the request body as JSON: {exc}") from None
        if not isinstance(body, dict):
            raise _bad_body(f"invalid type: {type(body).__name__}, expected internally tagged enum")
        query = _field(body, "type", str)
        if query not in QUERIES:
            raise _bad_body(
                f"unknown variant `{query}`, expected one of " + ", ".join(f"`{q}`" for q in QUERIES)
            )
        return json_response(QUERIES[query](request, state_of(request), body))
    except InfoRejected as exc:
        return exc.response()


def app(state: SandboxState) -> web.Application:
    sub = web.Application()
    sub[STATE_KEY] = state
    sub.router.add_post("/info", info)
    return sub
