"""Bybit v5 linear over the simulated market: same paths, parameters, caps, cursors, envelopes and string types.

Everything answers newest first inside {retCode, retMsg, result, retExtInfo, time}; parameter errors and the API
rate limit (retCode 10006) come back as HTTP 200, and the per-IP limit (600 requests / 5 s) as HTTP 403.
"""

from __future__ import annotations

import math
from urllib.parse import quote

import numpy as np
from aiohttp import web

from pipelines.sandbox.insurance import FundBook
from pipelines.sandbox.minutes import minute_book
from pipelines.sandbox.serving import (
    HOUR_MS,
    STATE_KEY,
    SandboxState,
    apply_faults,
    fmt,
    int_param,
    json_response,
    state_of,
)
from pipelines.sandbox.status import DISRUPTION, status_events

VENUE = "bybit"
QUOTE = "USDT"  # linear perpetuals: BTCUSDT, ETHUSDT, ...
IP_LIMIT, IP_WINDOW_S = 600, 5
PARAMS_ERROR, RATE_LIMITED, SERVER_ERROR = 10001, 10006, 10016
STAT_PERIOD_HOURS = {
    "1h": 1,
    "4h": 4,
    "1d": 24,
}  # the simulation is hourly: 5min/15min/30min cannot be served
MARK_KLINE_INTERVALS = {"1"}  # the simulator keeps a minute mark path; longer mark intervals are not served
KLINE_INTERVAL_HOURS = {"60": 1, "120": 2, "240": 4, "360": 6, "720": 12, "D": 24}


class BybitError(Exception):
    def __init__(self, msg: str, code: int = PARAMS_ERROR):
        super().__init__(msg)
        self.code, self.msg = code, msg


def _envelope(state: SandboxState, result: dict, code: int = 0, msg: str = "OK") -> dict:
    return {"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {}, "time": state.clock_ms}


def _error_body(state: SandboxState):
    def body(status: int, msg: str) -> dict:
        if status == 429:
            return _envelope(state, {}, RATE_LIMITED, "Too many visits!")
        return _envelope(state, {}, SERVER_ERROR if status >= 500 else PARAMS_ERROR, msg)

    return body


def _wrap(handler):
    async def route(request: web.Request) -> web.StreamResponse:
        state = state_of(request)
        fault = await apply_faults(request, VENUE, _error_body(state))
        if fault is not None:
            if isinstance(fault, web.Response) and fault.status in (400, 429):
                fault.set_status(200)  # Bybit reports parameter errors and its API limit inside HTTP 200
            return fault
        if state.spend(VENUE, "ip", 1, IP_LIMIT, IP_WINDOW_S) is not None:
            return web.Response(status=403, text="access too frequent")
        try:
            result = handler(request, state)
        except BybitError as exc:
            return json_response(_envelope(state, {}, exc.code, exc.msg))
        return json_response(_envelope(state, result))

    return route


# -- parameters -------------------------------------------------------------------------------------------------


def _linear(request: web.Request, *, default: str | None = None) -> None:
    category = request.query.get("category", default)
    if category not in ("linear", "inverse"):
        raise BybitError("Illegal category")


def _instrument(request: web.Request, state: SandboxState) -> tuple[str, str]:
    """(asset, symbol); the simulated market lists only USDT linear perpetuals, so inverse symbols are unknown."""
    symbol = request.query.get("symbol", "")
    if request.query.get("category", "linear") == "linear":
        for asset in state.assets:
            if symbol == f"{asset}{QUOTE}":
                return asset, symbol
    raise BybitError("params error: symbol invalid")


def _int(request: web.Request, name: str) -> int | None:
    try:
        return int_param(request, name)
    except ValueError:
        raise BybitError(f"params error: {name} invalid") from None


def _limit(request: web.Request, default: int, cap: int) -> int:
    limit = _int(request, "limit")
    if limit is None:
        return default
    if not 1 <= limit <= cap:
        raise BybitError(f"params error: limit must be in [1, {cap}]")
    return limit


def _hours(request: web.Request, name: str, allowed: dict[str, int]) -> int:
    value = request.query.get(name)
    if value not in allowed:
        raise BybitError(f"params error: {name} invalid")
    return allowed[value]


def _cursor_before_ms(request: web.Request) -> int | None:
    """The decoded cursor 'lastid=<n>&lasttime=<seconds>': the next page holds rows older than lasttime."""
    cursor = request.query.get("cursor")
    if not cursor:
        return None
    fields = dict(part.partition("=")[::2] for part in cursor.split("&"))
    if not fields.get("lasttime", "").isdigit():
        raise BybitError("params error: cursor invalid")
    return int(fields["lasttime"]) * 1000


def _newest_first(
    ts: np.ndarray,
    keep: np.ndarray,
    start: int | None,
    end: int | None,
    limit: int,
    before: int | None = None,
) -> tuple[np.ndarray, bool]:
    """Indexes of the newest `limit` kept rows in [start, end] (and older than a cursor), newest first; and
    whether older rows remain."""
    mask = keep.copy()
    if start is not None:
        mask &= ts >= start
    if end is not None:
        mask &= ts <= end
    if before is not None:
        mask &= ts < before
    matching = np.nonzero(mask)[0][::-1]
    return matching[:limit], len(matching) > limit


def _next_cursor(ts: np.ndarray, page: np.ndarray, more: bool) -> str:
    if not more:
        return ""
    oldest = int(page[-1])
    return quote(
        f"lastid={oldest}&lasttime={int(ts[oldest]) // 1000}", safe=""
    )  # sent URL-encoded, as Bybit does


# -- numbers as Bybit writes them -------------------------------------------------------------------------------


def _trimmed(value: float, decimals: int) -> str:
    """Bybit drops trailing zeros in rates and one-sided OI: 0.0001, -0.0000221, 28202.477."""
    text = fmt(value, decimals).rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _price(value: float) -> str:
    decimals = max(2, 4 - math.floor(math.log10(value)))  # about six significant digits: BTC 2, XRP 4, DOGE 5
    return fmt(value, decimals)


# -- routes -----------------------------------------------------------------------------------------------------


def funding_history(request: web.Request, state: SandboxState) -> dict:
    _linear(request)
    asset, symbol = _instrument(request, state)
    limit = _limit(request, 200, 200)
    start, end = _int(request, "startTime"), _int(request, "endTime")
    if start is not None and end is None:
        raise BybitError("params error: startTime must be passed together with endTime")
    s = state.funding[(VENUE, asset)]
    page, _ = _newest_first(s.ts, s.ts <= state.clock_ms, start, end, limit)
    return {
        "category": "linear",
        "list": [
            {
                "symbol": symbol,
                "fundingRate": _trimmed(s.cols["funding_rate"][i], 8),
                "fundingRateTimestamp": str(int(s.ts[i])),
            }
            for i in page
        ],
    }


def _statistics(request: web.Request, state: SandboxState, period_param: str, default_limit: int, cap: int):
    """Hourly statistics: nothing after the clock, no snapshot for hours the venue was down."""
    _linear(request)
    asset, symbol = _instrument(request, state)
    step = _hours(request, period_param, STAT_PERIOD_HOURS)
    limit = _limit(request, default_limit, cap)
    s = state.series[(VENUE, asset)]
    keep = (s.ts <= state.clock_ms) & (s.ts // HOUR_MS % step == 0) & s.cols["venue_up"].astype(bool)
    page, more = _newest_first(
        s.ts, keep, _int(request, "startTime"), _int(request, "endTime"), limit, _cursor_before_ms(request)
    )
    return symbol, s, page, _next_cursor(s.ts, page, more)


def open_interest(request: web.Request, state: SandboxState) -> dict:
    symbol, s, page, cursor = _statistics(request, state, "intervalTime", 50, 200)
    # the simulator's oi_coin is one side; Bybit's openInterest counts both
    return {
        "symbol": symbol,
        "category": "linear",
        "list": [
            {
                "openInterest": fmt(2 * s.cols["oi_coin"][i], 8),
                "singleOpenInterest": _trimmed(s.cols["oi_coin"][i], 3),
                "timestamp": str(int(s.ts[i])),
            }
            for i in page
        ],
        "nextPageCursor": cursor,
    }


def account_ratio(request: web.Request, state: SandboxState) -> dict:
    symbol, s, page, cursor = _statistics(request, state, "period", 50, 500)
    rows = []
    for i in page:
        buy = round(float(s.cols["long_account_share"][i]), 4)
        rows.append(
            {
                "symbol": symbol,
                "buyRatio": fmt(buy, 4),
                "sellRatio": fmt(1 - buy, 4),
                "timestamp": str(int(s.ts[i])),
            }
        )
    return {"list": rows, "nextPageCursor": cursor}


def kline(request: web.Request, state: SandboxState) -> dict:
    _linear(request, default="linear")
    asset, symbol = _instrument(request, state)
    step = _hours(request, "interval", KLINE_INTERVAL_HOURS)
    limit = _limit(request, 200, 1000)
    s = state.series[(VENUE, asset)]
    now = state.clock_ms
    # a candle is served once it has started; an open candle covers the hours so far
    page, _ = _newest_first(
        s.ts,
        (s.ts <= now) & (s.ts // HOUR_MS % step == 0),
        _int(request, "start"),
        _int(request, "end"),
        limit,
    )
    candles = []
    for lo in page:
        t0 = int(s.ts[lo])
        hi = int(np.searchsorted(s.ts, min(t0 + step * HOUR_MS, now + 1), "left"))
        opens, closes, volumes = s.cols["open"][lo:hi], s.cols["close"][lo:hi], s.cols["volume_coin"][lo:hi]
        turnover = float((volumes * (opens + closes) / 2).sum())
        candles.append(
            [
                str(t0),
                _price(opens[0]),
                _price(s.cols["high"][lo:hi].max()),
                _price(s.cols["low"][lo:hi].min()),
                _price(closes[-1]),
                fmt(float(volumes.sum()), 3),
                fmt(turnover, 4),
            ]
        )
    return {"symbol": symbol, "category": "linear", "list": candles}


def mark_price_kline(request: web.Request, state: SandboxState) -> dict:
    """1-minute mark candles: [start, o, h, l, c], newest first; with more than `limit` in [start, end], the
    newest `limit` (the end side), as the venue documents."""
    _linear(request, default="linear")
    asset, symbol = _instrument(request, state)
    if request.query.get("interval") not in MARK_KLINE_INTERVALS:
        raise BybitError("params error: interval invalid")
    limit = _limit(request, 200, 1000)
    book = minute_book(state)
    now = state.clock_ms
    start, end = _int(request, "start"), _int(request, "end")
    # candle indexes: open at or after start, at or before end, and started by the clock
    lo = 0 if start is None else max(-(-(start - book.start_ms) // 60_000), 0)
    hi = book.index_of(now) + 1 if end is None else min(book.index_of(end), book.index_of(now)) + 1
    hi = min(hi, book.minutes)
    lo = max(lo, hi - limit)
    bars = book.served(VENUE, asset, "mark", lo, hi, now)
    candles = [
        [str(int(t0)), _price(o), _price(h), _price(low), _price(c)]
        for t0, (o, h, low, c) in zip(bars.ts[::-1], bars.ohlc[::-1], strict=True)
    ]
    return {"symbol": symbol, "category": "linear", "list": candles}


STATUS_STATES = ("scheduled", "ongoing", "completed", "canceled")


def system_status(request: web.Request, state: SandboxState) -> dict:
    """Every listed event (the doc's example, asked without `state`, lists completed ones); `state` and `id` filter."""
    wanted, wanted_id = request.query.get("state"), request.query.get("id")
    if wanted and wanted not in STATUS_STATES:
        raise BybitError(f"state {wanted} is invalid")
    return {
        "list": [
            {
                "id": e.event_id,
                "title": e.title,
                "state": e.state,
                "begin": str(e.begin_ms),
                "end": str(e.end_ms),
                "href": "",
                "serviceTypes": [1, 2, 3, 4, 5],
                "product": [1, 2, 3, 4],
                "uidSuffix": [],
                "maintainType": DISRUPTION,  # an integer, as in the doc's example
                "env": 1,
            }
            for e in status_events(state.market.scenario, VENUE, state.clock_ms)
            if (not wanted or e.state == wanted) and (not wanted_id or e.event_id == wanted_id)
        ]
    }


INSURANCE_KEY = web.AppKey("bybit_insurance", object)


def insurance(request: web.Request, state: SandboxState) -> dict:
    """GET /v5/market/insurance: every pool of `coin` (all coins when absent). Sandbox choices: one isolated USDT
    pool per symbol, updated every minute (updatedTime = the clock's minute), value = balance (1 USDT = 1 USD)."""
    coin = request.query.get("coin")
    if coin is not None and coin != coin.upper():
        raise BybitError("coin must be uppercase")
    book = request.app[INSURANCE_KEY]
    minute = state.clock_ms // 60_000 * 60_000
    pools = []
    for asset in book.assets(VENUE) if coin in (None, "", "USDT") else []:
        reading = book.balance_at(VENUE, asset, minute)
        if reading is None:
            continue
        balance = f"{reading[0]:.8f}"
        pools.append({"coin": "USDT", "symbols": f"{asset}USDT", "balance": balance, "value": balance})
    return {"updatedTime": str(minute), "list": pools}


def app(state: SandboxState) -> web.Application:
    sub = web.Application()
    sub[STATE_KEY] = state
    sub.router.add_get("/v5/market/funding/history", _wrap(funding_history))
    sub.router.add_get("/v5/market/open-interest", _wrap(open_interest))
    sub.router.add_get("/v5/market/account-ratio", _wrap(account_ratio))
    sub.router.add_get("/v5/market/kline", _wrap(kline))
    sub.router.add_get("/v5/market/mark-price-kline", _wrap(mark_price_kline))
    sub.router.add_get("/v5/system/status", _wrap(system_status))
    sub[INSURANCE_KEY] = FundBook(state.market.insurance)
    sub.router.add_get("/v5/market/insurance", _wrap(insurance))
    return sub
