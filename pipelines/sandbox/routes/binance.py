"""Binance USD-M futures (fapi) over the simulated market: same paths, parameters, caps, errors and shapes."""

from __future__ import annotations

import numpy as np
from aiohttp import web

from pipelines.sandbox.insurance import FundBook
from pipelines.sandbox.minutes import MINUTE_MS, minute_book
from pipelines.sandbox.serving import (
    HOUR_MS,
    STATE_KEY,
    SandboxState,
    apply_faults,
    fmt,
    int_param,
    jitter_ms,
    json_response,
    state_of,
)

VENUE = "binance"
RETENTION_30D_MS = 30 * 86_400_000
PERIODS = {"1h": 1, "2h": 2, "4h": 4, "6h": 6, "12h": 12, "1d": 24}  # simulated data is hourly: no 5m-30m
MINUTE_INTERVALS = {"1m"}  # mark klines only: the simulator keeps a minute path of mark and index prices
INTERVALS = {"1h": 1, "2h": 2, "4h": 4, "6h": 6, "8h": 8, "12h": 12, "1d": 24}
PERP_DELIVERY = 4133404800000


class BinanceError(Exception):
    def __init__(self, code: int, msg: str, status: int = 400):
        self.code, self.msg, self.status = code, msg, status


def error_body(status: int, msg: str) -> dict:
    return {"code": -1000 if status >= 500 else -1003, "msg": msg}


def _asset(state: SandboxState, symbol: str | None, suffix: str = "USDT") -> str:
    if not symbol:
        raise BinanceError(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
    for asset in state.assets:
        if symbol == f"{asset}{suffix}":
            return asset
    raise BinanceError(-1121, "Invalid symbol.")


def _int(request: web.Request, name: str, default: int | None = None) -> int | None:
    try:
        return int_param(request, name, default)
    except ValueError:
        raise BinanceError(
            -1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'."
        ) from None


def _limit(request: web.Request, default: int, cap: int, code: int = -1130) -> int:
    limit = _int(request, "limit", default)
    if limit is None or limit < 1 or limit > cap:
        raise BinanceError(code, "Data sent for parameter 'limit' is not valid.")
    return limit


def _charge(request: web.Request, bucket: str, weight: int, capacity: int, window_s: float) -> None:
    wait = state_of(request).spend(VENUE, bucket, weight, capacity, window_s)
    if wait is not None:
        raise BinanceError(-1003, "Too many requests; current limit of IP is exceeded.", status=429)


def _select(ts: np.ndarray, start: int | None, end: int | None, limit: int) -> np.ndarray:
    """Binance semantics: ascending; with startTime the first `limit` rows from it, else the last `limit` up to end."""
    lo = 0 if start is None else int(np.searchsorted(ts, start, "left"))
    hi = len(ts) if end is None else int(np.searchsorted(ts, end, "right"))
    if hi <= lo:
        return np.arange(0)
    if start is not None:
        return np.arange(lo, min(hi, lo + limit))
    return np.arange(max(lo, hi - limit), hi)


def _wrap(handler):
    async def route(request: web.Request) -> web.StreamResponse:
        fault = await apply_faults(request, VENUE, error_body)
        if fault is not None:
            return fault
        state = state_of(request)
        try:
            response = handler(request, state)
        except BinanceError as exc:
            headers = {"Retry-After": "1"} if exc.status == 429 else {}
            response = json_response({"code": exc.code, "msg": exc.msg}, status=exc.status, headers=headers)
        # like fapi, every answer reports the IP's request weight used in the current minute
        response.headers["X-MBX-USED-WEIGHT-1M"] = str(state.used(VENUE, "weight", 60))
        return response

    return route


def funding_rate(request: web.Request, state: SandboxState) -> web.Response:
    _charge(request, "funding", 1, 500, 300)
    symbol = request.query.get("symbol")
    asset = _asset(state, symbol)
    limit = _limit(request, 100, 1000, code=-1130)
    s = state.funding[(VENUE, asset)]
    visible = int(np.searchsorted(s.ts, state.clock_ms, "right"))
    rows = _select(s.ts[:visible], _int(request, "startTime"), _int(request, "endTime"), limit)
    out = [
        {
            "symbol": symbol,
            "fundingTime": jitter_ms(symbol, int(s.ts[i])),
            "fundingRate": fmt(s.cols["funding_rate"][i], 8),
            "markPrice": fmt(s.cols["mark_price"][i], 8),
            "rateType": "Regular",
        }
        for i in rows
    ]
    return json_response(out)


def _futures_data(request: web.Request, state: SandboxState, render) -> web.Response:
    _charge(request, "futures_data", 1, 1000, 300)
    symbol = request.query.get("symbol")
    asset = _asset(state, symbol)
    period = request.query.get("period")
    if period not in PERIODS:
        raise BinanceError(-1120, "Invalid period.")
    limit = _limit(request, 30, 500, code=-1130)
    s = state.series[(VENUE, asset)]
    now = state.clock_ms
    step = PERIODS[period]
    # 30-day retention, nothing from the future, and no snapshot while the venue was down
    keep = (
        (s.ts >= now - RETENTION_30D_MS) & (s.ts <= now) & (s.ts // HOUR_MS % step == 0) & s.cols["venue_up"]
    )
    idx = np.nonzero(keep)[0]
    chosen = idx[_select(s.ts[idx], _int(request, "startTime"), _int(request, "endTime"), limit)]
    return json_response([render(symbol, s, i) for i in chosen])


def open_interest_hist(request: web.Request, state: SandboxState) -> web.Response:
    def row(symbol, s, i):
        oi = s.cols["oi_coin"][i]
        return {
            "symbol": symbol,
            "sumOpenInterest": fmt(oi, 8),
            "sumOpenInterestValue": fmt(oi * s.cols["mark_open"][i], 8),
            "CMCCirculatingSupply": fmt(_supply(symbol), 8),
            "timestamp": int(s.ts[i]),
        }

    return _futures_data(request, state, row)


def _ratio_route(share_col: str):
    def handler(request: web.Request, state: SandboxState) -> web.Response:
        def row(symbol, s, i):
            long_share = float(s.cols[share_col][i])
            return {
                "symbol": symbol,
                "longAccount": fmt(long_share, 4),
                "longShortRatio": fmt(long_share / (1 - long_share), 4),
                "shortAccount": fmt(1 - long_share, 4),
                "timestamp": int(s.ts[i]),
            }

        return _futures_data(request, state, row)

    return handler


def taker_ratio(request: web.Request, state: SandboxState) -> web.Response:
    def row(symbol, s, i):
        buy, sell = float(s.cols["taker_buy_coin"][i]), float(s.cols["taker_sell_coin"][i])
        return {
            "buySellRatio": fmt(buy / sell, 4),
            "sellVol": fmt(sell, 4),
            "buyVol": fmt(buy, 4),
            "timestamp": int(s.ts[i]),
        }

    return _futures_data(request, state, row)


def _kline_route(kind: str):
    def handler(request: web.Request, state: SandboxState) -> web.Response:
        limit = _int(request, "limit", 500)
        weight = 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10
        _charge(request, "weight", weight, 2400, 60)
        if kind == "index":
            asset = _asset(state, request.query.get("pair"))
            if request.query.get("pair") is None:
                raise BinanceError(
                    -1102, "Mandatory parameter 'pair' was not sent, was empty/null, or malformed."
                )
        else:
            asset = _asset(state, request.query.get("symbol"))
        interval = request.query.get("interval")
        if interval not in INTERVALS and not (kind == "mark" and interval in MINUTE_INTERVALS):
            raise BinanceError(-1120, "Invalid interval.")
        if limit is None or limit < 1 or limit > 1500:
            raise BinanceError(-1130, "Data sent for parameter 'limit' is not valid.")
        if interval in MINUTE_INTERVALS:
            return json_response(_minute_mark_klines(request, state, asset, limit))
        s = state.series[(VENUE, asset)]
        step = INTERVALS[interval]
        now = state.clock_ms
        # bucket hourly rows into the interval; only buckets that have started are served
        starts = s.ts[(s.ts // HOUR_MS % step == 0) & (s.ts <= now)]
        chosen = _select(starts, _int(request, "startTime"), _int(request, "endTime"), limit)
        prefix = {"last": "", "mark": "mark_", "index": "index_"}[kind]
        out = []
        for i in chosen:
            t0 = int(starts[i])
            lo = int(np.searchsorted(s.ts, t0, "left"))
            hi = int(np.searchsorted(s.ts, min(t0 + step * HOUR_MS, now + 1), "left"))
            o = s.cols[prefix + "open"][lo]
            h = s.cols[prefix + "high"][lo:hi].max()
            lw = s.cols[prefix + "low"][lo:hi].min()
            c = s.cols[prefix + "close"][hi - 1]
            if kind == "last":
                vol = float(s.cols["volume_coin"][lo:hi].sum())
                buy = float(s.cols["taker_buy_coin"][lo:hi].sum())
                mid = (o + c) / 2
                trades = int(vol * 3.7) + 1
                vals = [fmt(vol, 3), fmt(vol * mid, 5), trades, fmt(buy, 3), fmt(buy * mid, 5)]
            else:
                vals = ["0", "0", step * 3600, "0", "0"]  # index/mark klines count seconds, not trades
            out.append(
                [
                    t0,
                    fmt(o, 2),
                    fmt(h, 2),
                    fmt(lw, 2),
                    fmt(c, 2),
                    vals[0],
                    t0 + step * HOUR_MS - 1,
                    vals[1],
                    vals[2],
                    vals[3],
                    vals[4],
                    "0",
                ]
            )
        return json_response(out)

    return handler


def _minute_mark_klines(request: web.Request, state: SandboxState, asset: str, limit: int) -> list[list]:
    """1m mark klines from the minute book: ascending, the same startTime/endTime/limit rules as hourly ones."""
    book = minute_book(state)
    now = state.clock_ms
    started = max(min(book.index_of(now) + 1, book.minutes), 0)  # candles open by the clock
    starts = book.start_ms + np.arange(started, dtype=np.int64) * MINUTE_MS
    chosen = _select(starts, _int(request, "startTime"), _int(request, "endTime"), limit)
    if not len(chosen):
        return []
    bars = book.served(VENUE, asset, "mark", int(chosen[0]), int(chosen[-1]) + 1, now)
    # mark klines: volume slots "0", slot 8 counts the mark readings in the minute (one a second)
    return [
        [
            int(t0),
            fmt(o, 8),
            fmt(h, 8),
            fmt(lw, 8),
            fmt(c, 8),
            "0",
            int(t0) + MINUTE_MS - 1,
            "0",
            60,
            "0",
            "0",
            "0",
        ]
        for t0, (o, h, lw, c) in zip(bars.ts, bars.ohlc, strict=True)
    ]


def exchange_info(request: web.Request, state: SandboxState) -> web.Response:
    _charge(request, "weight", 1, 2400, 60)
    symbols = [
        {
            "symbol": f"{a}USDT",
            "pair": f"{a}USDT",
            "contractType": "PERPETUAL",
            "deliveryDate": PERP_DELIVERY,
            "onboardDate": 1569398400000,
            "status": "TRADING",
            "baseAsset": a,
            "quoteAsset": "USDT",
            "marginAsset": "USDT",
            "filters": [],
        }
        for a in state.assets
    ]
    return json_response(
        {
            "timezone": "UTC",
            "serverTime": state.clock_ms,
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400}
            ],
            "symbols": symbols,
        }
    )


def _supply(symbol: str) -> float:
    return {
        "BTCUSDT": 19_930_000,
        "ETHUSDT": 120_700_000,
        "SOLUSDT": 545_000_000,
        "XRPUSDT": 60_000_000_000,
        "DOGEUSDT": 151_000_000_000,
    }.get(symbol, 1e9)


INSURANCE_KEY = web.AppKey("binance_insurance", object)


def insurance_balance(request: web.Request, state: SandboxState) -> web.Response:
    """GET /fapi/v1/insuranceBalance (weight 1): with `symbol` its pool {symbols, assets}, without a list of pools.
    Sandbox choices: one isolated USDT pool per symbol; updateTime = the balance's last change."""
    _charge(request, "weight", 1, 2400, 60)
    book = request.app[INSURANCE_KEY]
    symbol = request.query.get("symbol")
    wanted = [_asset(state, symbol)] if symbol is not None else book.assets(VENUE)
    pools = []
    for asset in wanted:
        reading = book.balance_at(VENUE, asset, state.clock_ms)
        if reading is None:
            continue
        balance, updated = reading
        pools.append(
            {
                "symbols": [f"{asset}USDT"],
                "assets": [{"asset": "USDT", "marginBalance": f"{balance:.8f}", "updateTime": updated}],
            }
        )
    if symbol is not None:
        if not pools:
            raise BinanceError(-1121, "Invalid symbol.")
        return json_response(pools[0])
    return json_response(pools)


def app(state: SandboxState) -> web.Application:
    sub = web.Application()
    sub[STATE_KEY] = state
    sub.router.add_get("/fapi/v1/fundingRate", _wrap(funding_rate))
    sub.router.add_get("/fapi/v1/klines", _wrap(_kline_route("last")))
    sub.router.add_get("/fapi/v1/markPriceKlines", _wrap(_kline_route("mark")))
    sub.router.add_get("/fapi/v1/indexPriceKlines", _wrap(_kline_route("index")))
    sub.router.add_get("/fapi/v1/exchangeInfo", _wrap(exchange_info))
    sub.router.add_get("/futures/data/openInterestHist", _wrap(open_interest_hist))
    sub.router.add_get("/futures/data/globalLongShortAccountRatio", _wrap(_ratio_route("long_account_share")))
    sub.router.add_get(
        "/futures/data/topLongShortAccountRatio", _wrap(_ratio_route("top_account_long_share"))
    )
    sub.router.add_get(
        "/futures/data/topLongShortPositionRatio", _wrap(_ratio_route("top_position_long_share"))
    )
    sub.router.add_get("/futures/data/takerlongshortRatio", _wrap(taker_ratio))
    sub[INSURANCE_KEY] = FundBook(state.market.insurance)
    sub.router.add_get("/fapi/v1/insuranceBalance", _wrap(insurance_balance))
    return sub
