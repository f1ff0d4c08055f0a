"""OKX v5 perpetual swaps over the simulated market: same paths, parameters, caps, ordering, errors and shapes.

Every answer is the envelope {"code": "0", "msg": "", "data": [...]} with string values; history is newest first
and `after`/`end` (older than) and `before`/`begin` (newer than) are exclusive bounds. Refusals keep the envelope:
51001 for an unknown instId (HTTP 200), 50014/51000 for a missing or bad parameter (HTTP 400) and 50011 with
HTTP 429 when an endpoint's "N requests per 2 seconds" limit is spent.

Sandbox choices (not venue facts): contract values are 0.01 BTC, 0.1 ETH, 1 SOL, 100 XRP and 1000 DOGE; the
predicted `fundingRate` equals the settled `realizedRate`; the simulation is hourly, so bars and periods shorter
than an hour are refused as the venue refuses an unknown one; a candle still forming shows only the prices known
at the clock (completed hours plus the current hour's open).

Liquidation orders are the simulator's OKX forced closes of the last 24 h before the clock, sizes in contracts
(qty_coin / ctVal) and bankruptcy price = the event's price, both to ten significant digits; only SWAP is
simulated, every position is cross margin (mgnMode=isolated answers nothing), `state=unfilled` answers nothing
and a range without liquidations answers `data: []` (the real venue's empty shape is UNCONFIRMED).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from aiohttp import web

from pipelines.sandbox.insurance import FundBook, okx_history
from pipelines.sandbox.minutes import MINUTE_MS, minute_book
from pipelines.sandbox.serving import (
    HOUR_MS,
    STATE_KEY,
    SandboxState,
    Series,
    apply_faults,
    fmt,
    int_param,
    json_response,
    state_of,
)
from pipelines.sandbox.status import DISRUPTION, status_events

VENUE = "okx"
DAY_MS = 24 * HOUR_MS
FUNDING_RETENTION_MS = 92 * DAY_MS  # "up to three months"
STATS_ENTRIES = 1440  # trading statistics keep the latest 1,440 entries of each period
FUNDING_LIMIT_CAP = 400
STATS_LIMIT_CAP = 100
CANDLE_LIMIT_CAP = 100
MARK_CANDLE_LIMIT_CAP = 100
MARK_CANDLE_BARS = {"1m"}  # the simulator keeps a minute mark path; longer mark bars are refused as unknown
LIQUIDATION_LIMIT_CAP = 100
LIQUIDATION_RETENTION_MS = DAY_MS  # liquidation orders "in the last day": (now - 24 h, now]
LIQUIDATIONS_KEY = web.AppKey("okx_liquidations", dict)
RATE_WINDOW_S = 2.0
INST_TYPES = ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION")

# bar/period -> (hours, offset): bars of 6H and longer open at UTC+8 boundaries unless they carry "utc"
BARS = {
    "1H": (1, 0),
    "2H": (2, 0),
    "4H": (4, 0),
    "6H": (6, 8),
    "12H": (12, 8),
    "1D": (24, 8),
    "6Hutc": (6, 0),
    "12Hutc": (12, 0),
    "1Dutc": (24, 0),
}
# asset -> (ctVal in coins, tickSz); the sandbox's choice for contract sizes
CONTRACTS = {
    "BTC": ("0.01", "0.1"),
    "ETH": ("0.1", "0.01"),
    "SOL": ("1", "0.01"),
    "XRP": ("100", "0.0001"),
    "DOGE": ("1000", "0.00001"),
}
DEFAULT_CONTRACT = ("1", "0.0001")
LIST_TIME = "1573557408000"


class OkxError(Exception):
    def __init__(self, code: str, msg: str, status: int):
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


def error_body(status: int, msg: str) -> dict:
    code = "50011" if status == 429 else "50001" if status >= 500 else "51000"
    return {"code": code, "msg": msg, "data": []}


def _envelope(data: list) -> web.Response:
    return json_response({"code": "0", "msg": "", "data": data})


def _wrap(handler):
    async def route(request: web.Request) -> web.StreamResponse:
        fault = await apply_faults(request, VENUE, error_body)
        if fault is not None:
            return fault
        try:
            return handler(request, state_of(request))
        except OkxError as exc:
            return json_response({"code": exc.code, "msg": exc.msg, "data": []}, status=exc.status)

    return route


def _charge(request: web.Request, bucket: str, per_2s: int) -> None:
    if state_of(request).spend(VENUE, bucket, 1, per_2s, RATE_WINDOW_S) is not None:
        raise OkxError("50011", "Too Many Requests", 429)


def _instrument(request: web.Request, state: SandboxState) -> tuple[str, str]:
    inst_id = request.query.get("instId")
    if not inst_id:
        raise OkxError("50014", "Parameter instId can not be empty", 400)
    for asset in state.assets:
        if inst_id == f"{asset}-USDT-SWAP":
            return inst_id, asset
    raise OkxError("51001", "Instrument ID does not exist", 200)


def _ms(request: web.Request, name: str) -> int | None:
    try:
        return int_param(request, name)
    except ValueError:
        raise OkxError("51000", f"Parameter {name} error", 400) from None


def _limit(request: web.Request, default: int, cap: int) -> int:
    limit = _ms(request, "limit")
    if limit is None:
        return default
    if not 1 <= limit <= cap:
        raise OkxError("51000", "Parameter limit error", 400)
    return limit


def _bar(request: web.Request, name: str, default: str) -> tuple[int, int]:
    value = request.query.get(name) or default
    if value not in BARS:
        raise OkxError("51000", f"Parameter {name} error", 400)
    return BARS[value]


def _newest_first(ts: np.ndarray, older_than: int | None, newer_than: int | None, limit: int) -> np.ndarray:
    """Indices of the newest `limit` rows with newer_than < ts < older_than, newest first (ts ascending)."""
    hi = len(ts) if older_than is None else int(np.searchsorted(ts, older_than, "left"))
    lo = 0 if newer_than is None else int(np.searchsorted(ts, newer_than, "right"))
    if hi <= lo:
        return np.arange(0)
    return np.arange(hi - 1, max(lo, hi - limit) - 1, -1)


def _on_grid(ts: np.ndarray, hours: int, offset: int) -> np.ndarray:
    return (ts // HOUR_MS + offset) % hours == 0


def funding_rate_history(request: web.Request, state: SandboxState) -> web.Response:
    _charge(request, f"funding:{request.query.get('instId')}", 10)
    inst_id, asset = _instrument(request, state)
    limit = _limit(request, FUNDING_LIMIT_CAP, FUNDING_LIMIT_CAP)
    s = state.funding[(VENUE, asset)]
    now = state.clock_ms
    idx = np.nonzero((s.ts <= now) & (s.ts >= now - FUNDING_RETENTION_MS))[0]
    chosen = idx[_newest_first(s.ts[idx], _ms(request, "after"), _ms(request, "before"), limit)]
    out = []
    for i in chosen:
        rate = fmt(s.cols["funding_rate"][i], 8)
        out.append(
            {
                "formulaType": "withRate",
                "fundingRate": rate,
                "fundingTime": str(int(s.ts[i])),
                "instId": inst_id,
                "instType": "SWAP",
                "method": "current_period",
                "realizedRate": rate,
            }
        )
    return _envelope(out)


def _statistics(request: web.Request, state: SandboxState, bucket: str, per_2s: int, render) -> web.Response:
    _charge(request, f"{bucket}:{request.query.get('instId')}", per_2s)
    inst_id, asset = _instrument(request, state)
    hours, offset = _bar(request, "period", "5m")
    limit = _limit(request, STATS_LIMIT_CAP, STATS_LIMIT_CAP)
    s = state.series[(VENUE, asset)]
    now = state.clock_ms
    latest_bar = ((now // HOUR_MS + offset) // hours * hours - offset) * HOUR_MS
    oldest_kept = latest_bar - (STATS_ENTRIES - 1) * hours * HOUR_MS
    # retention, nothing from the future, and no statistics for hours the venue was down
    keep = (
        _on_grid(s.ts, hours, offset)
        & (s.ts <= now)
        & (s.ts >= oldest_kept)
        & s.cols["venue_up"].astype(bool)
    )
    idx = np.nonzero(keep)[0]
    chosen = idx[_newest_first(s.ts[idx], _ms(request, "end"), _ms(request, "begin"), limit)]
    return _envelope([render(asset, s, i) for i in chosen])


def open_interest_history(request: web.Request, state: SandboxState) -> web.Response:
    def row(asset: str, s: Series, i: int) -> list[str]:
        oi_coin = float(s.cols["oi_coin"][i])
        ct_val = float(CONTRACTS.get(asset, DEFAULT_CONTRACT)[0])
        return [
            str(int(s.ts[i])),
            fmt(oi_coin / ct_val, 2),
            fmt(oi_coin, 4),
            fmt(oi_coin * s.cols["mark_open"][i], 4),
        ]

    return _statistics(request, state, "open_interest", 10, row)


def long_short_account_ratio(request: web.Request, state: SandboxState) -> web.Response:
    def row(asset: str, s: Series, i: int) -> list[str]:
        long_share = float(s.cols["long_account_share"][i])
        return [str(int(s.ts[i])), fmt(long_share / (1 - long_share), 6)]

    return _statistics(request, state, "long_short", 5, row)


def _candle(s: Series, t0: int, hours: int, now: int, asset: str) -> list[str]:
    ct_val, tick = CONTRACTS.get(asset, DEFAULT_CONTRACT)
    decimals = len(tick.split(".")[1]) if "." in tick else 0
    bar_end = t0 + hours * HOUR_MS
    lo = int(np.searchsorted(s.ts, t0, "left"))
    in_bar = int(np.searchsorted(s.ts, bar_end, "left"))
    elapsed = min(in_bar, int(np.searchsorted(s.ts, now - HOUR_MS, "right")))  # hours complete by the clock
    cols = s.cols
    o = h = low = c = float(cols["open"][lo])
    vol = quote = 0.0
    if elapsed > lo:
        h, low, c = (
            float(cols["high"][lo:elapsed].max()),
            float(cols["low"][lo:elapsed].min()),
            float(cols["close"][elapsed - 1]),
        )
        vol = float(cols["volume_coin"][lo:elapsed].sum())
        quote = float(
            (
                cols["volume_coin"][lo:elapsed] * (cols["open"][lo:elapsed] + cols["close"][lo:elapsed]) / 2
            ).sum()
        )
    confirmed = bar_end <= now
    if (
        not confirmed and elapsed < in_bar and s.ts[elapsed] <= now
    ):  # the hour under way: only its open is known
        current = float(cols["open"][elapsed])
        h, low, c = max(h, current), min(low, current), current
    return [
        str(t0),
        fmt(o, decimals),
        fmt(h, decimals),
        fmt(low, decimals),
        fmt(c, decimals),
        fmt(vol / float(ct_val), 2),
        fmt(vol, 4),
        fmt(quote, 2),
        "1" if confirmed else "0",
    ]


def history_candles(request: web.Request, state: SandboxState) -> web.Response:
    _charge(request, "history_candles", 20)
    inst_id, asset = _instrument(request, state)
    hours, offset = _bar(request, "bar", "1m")
    limit = _limit(request, CANDLE_LIMIT_CAP, CANDLE_LIMIT_CAP)
    s = state.series[(VENUE, asset)]
    now = state.clock_ms
    starts = s.ts[_on_grid(s.ts, hours, offset) & (s.ts <= now)]
    chosen = _newest_first(starts, _ms(request, "after"), _ms(request, "before"), limit)
    return _envelope([_candle(s, int(starts[i]), hours, now, asset) for i in chosen])


def history_mark_price_candles(request: web.Request, state: SandboxState) -> web.Response:
    """1-minute mark candles [ts, o, h, l, c, confirm] from "recent years" (the whole simulated window), newest
    first; `after` answers candles older than it, `before` newer (both exclusive)."""
    _charge(request, "history_mark_price_candles", 20)
    inst_id, asset = _instrument(request, state)
    if (request.query.get("bar") or "1m") not in MARK_CANDLE_BARS:
        raise OkxError("51000", "Parameter bar error", 400)
    limit = _limit(request, MARK_CANDLE_LIMIT_CAP, MARK_CANDLE_LIMIT_CAP)
    book = minute_book(state)
    now = state.clock_ms
    started = max(min(book.index_of(now) + 1, book.minutes), 0)
    starts = book.start_ms + np.arange(started, dtype=np.int64) * MINUTE_MS
    chosen = _newest_first(starts, _ms(request, "after"), _ms(request, "before"), limit)
    if not len(chosen):
        return _envelope([])
    bars = book.served(VENUE, asset, "mark", int(chosen[-1]), int(chosen[0]) + 1, now)
    tick = CONTRACTS.get(asset, DEFAULT_CONTRACT)[1]
    decimals = len(tick.split(".")[1]) if "." in tick else 0
    out = []
    for t0, ohlc in zip(bars.ts[::-1], bars.ohlc[::-1], strict=True):
        confirmed = int(t0) + MINUTE_MS <= now
        out.append([str(int(t0)), *(fmt(v, decimals) for v in ohlc), "1" if confirmed else "0"])
    return _envelope(out)


def _instrument_record(asset: str) -> dict:
    ct_val, tick = CONTRACTS.get(asset, DEFAULT_CONTRACT)
    return {
        "alias": "",
        "baseCcy": "",
        "ctMult": "1",
        "ctType": "linear",
        "ctVal": ct_val,
        "ctValCcy": asset,
        "expTime": "",
        "instFamily": f"{asset}-USDT",
        "instId": f"{asset}-USDT-SWAP",
        "instType": "SWAP",
        "lever": "100",
        "listTime": LIST_TIME,
        "lotSz": "0.01",
        "minSz": "0.01",
        "quoteCcy": "",
        "settleCcy": "USDT",
        "state": "live",
        "tickSz": tick,
        "uly": f"{asset}-USDT",
    }


def instruments(request: web.Request, state: SandboxState) -> web.Response:
    inst_type = request.query.get("instType")
    _charge(request, f"instruments:{inst_type}", 20)
    if not inst_type:
        raise OkxError("50014", "Parameter instType can not be empty", 400)
    if inst_type not in INST_TYPES:
        raise OkxError("51000", "Parameter instType error", 400)
    records = (
        [_instrument_record(a) for a in state.assets] if inst_type == "SWAP" else []
    )  # only swaps simulated
    inst_id = request.query.get("instId")
    if inst_id:
        records = [r for r in records if r["instId"] == inst_id]
        if not records:
            raise OkxError("51001", "Instrument ID does not exist", 200)
    return _envelope(records)


@dataclass(frozen=True)
class LiquidationBook:
    """One asset's forced closes on OKX, ascending by (ts, event_id) so equal times keep a stable order."""

    ts: np.ndarray
    side: np.ndarray
    price: np.ndarray
    qty_coin: np.ndarray


def liquidation_books(state: SandboxState) -> dict[str, LiquidationBook]:
    events = state.market.liquidation_events
    books: dict[str, LiquidationBook] = {}
    if events is None:
        return books
    rows = events.filter(pc.equal(events["venue"], VENUE)).sort_by(
        [("ts", "ascending"), ("event_id", "ascending")]
    )
    assets = rows["asset"].to_numpy(zero_copy_only=False)
    cols = {
        "ts": rows["ts"].cast(pa.int64()).to_numpy(),
        "side": rows["side"].to_numpy(zero_copy_only=False),
        "price": rows["price"].to_numpy(),
        "qty_coin": rows["qty_coin"].to_numpy(),
    }
    for asset in sorted(set(assets)):
        mask = assets == asset
        books[asset] = LiquidationBook(**{k: v[mask] for k, v in cols.items()})
    return books


def _significant(value: float) -> str:
    """Ten significant digits, never exponent notation: bankruptcy prices and sizes are not tick-rounded."""
    return np.format_float_positional(value, precision=10, unique=False, fractional=False, trim="-")


def liquidation_orders(request: web.Request, state: SandboxState) -> web.Response:
    _charge(request, "liquidation_orders", 40)
    inst_type = request.query.get("instType")
    if not inst_type:
        raise OkxError("50014", "Parameter instType can not be empty", 400)
    if inst_type not in INST_TYPES:
        raise OkxError("51000", "Parameter instType error", 400)
    family = request.query.get("instFamily") or request.query.get("uly")
    liq_state = request.query.get("state")
    if inst_type in ("SWAP", "FUTURES", "OPTION"):
        if not family:
            raise OkxError("50014", "Parameter instFamily can not be empty", 400)
        if not liq_state:
            raise OkxError("50014", "Parameter state can not be empty", 400)
    if liq_state not in (None, "filled", "unfilled"):
        raise OkxError("51000", "Parameter state error", 400)
    mgn_mode = request.query.get("mgnMode")
    if mgn_mode not in (None, "", "cross", "isolated"):
        raise OkxError("51000", "Parameter mgnMode error", 400)
    limit = _limit(request, LIQUIDATION_LIMIT_CAP, LIQUIDATION_LIMIT_CAP)
    older_than, newer_than = _ms(request, "after"), _ms(request, "before")
    asset = next((a for a in state.assets if family == f"{a}-USDT"), None)
    if inst_type == "SWAP" and asset is None:
        raise OkxError("51001", "Instrument ID does not exist", 200)
    book = request.app[LIQUIDATIONS_KEY].get(asset) if inst_type == "SWAP" else None
    # only swaps are simulated; every position is cross margin and every liquidation order fills at once
    if book is None or liq_state != "filled" or mgn_mode == "isolated":
        return _envelope([])
    now = state.clock_ms
    kept = np.nonzero((book.ts > now - LIQUIDATION_RETENTION_MS) & (book.ts <= now))[0]
    chosen = kept[_newest_first(book.ts[kept], older_than, newer_than, limit)]
    if not len(chosen):
        return _envelope([])
    ct_val = float(CONTRACTS.get(asset, DEFAULT_CONTRACT)[0])
    details = [
        {
            "bkLoss": "0",
            "bkPx": _significant(float(book.price[i])),
            "ccy": "",
            "posSide": str(book.side[i]),
            "side": "sell" if book.side[i] == "long" else "buy",  # the order that closes the position
            "sz": _significant(float(book.qty_coin[i]) / ct_val),
            "ts": str(int(book.ts[i])),
        }
        for i in chosen
    ]
    return _envelope(
        [
            {
                "details": details,
                "instFamily": family,
                "instType": "SWAP",
                "totalLoss": "0",
                "uly": family,
            }
        ]
    )


def system_time(request: web.Request, state: SandboxState) -> web.Response:
    _charge(request, "time", 10)
    return _envelope([{"ts": str(state.clock_ms)}])


STATUS_STATES = ("scheduled", "ongoing", "pre_open", "completed", "canceled")
STATUS_DEFAULT_STATES = ("scheduled", "ongoing", "pre_open")  # without `state`: these only
STATUS_WINDOW_S = 5.0  # 1 request per 5 seconds


def system_status(request: web.Request, state: SandboxState) -> web.Response:
    if state.spend(VENUE, "status", 1, 1, STATUS_WINDOW_S) is not None:
        raise OkxError("50011", "Too Many Requests", 429)
    wanted = request.query.get("state")
    if wanted and wanted not in STATUS_STATES:
        raise OkxError("51000", "Parameter state error", 400)
    states = (wanted,) if wanted else STATUS_DEFAULT_STATES
    return _envelope(
        [
            {
                "begin": str(e.begin_ms),
                "end": str(e.end_ms),
                "href": "",
                "preOpenBegin": "",
                "scheDesc": "",
                "serviceType": "5",  # trading service
                "state": e.state,
                "maintType": str(DISRUPTION),
                "env": "1",
                "system": "unified",
                "title": e.title,
            }
            for e in status_events(state.market.scenario, VENUE, state.clock_ms)
            if e.state in states
        ]
    )


INSURANCE_KEY = web.AppKey("okx_insurance", dict)
INSURANCE_LIMIT_CAP = 100
INSURANCE_TYPES = (
    "regular_update",
    "liquidation_balance_deposit",
    "bankruptcy_loss",
    "platform_revenue",
    "adl",
)


def insurance_histories(state: SandboxState) -> dict[str, list]:
    """asset -> the fund's history entries as OKX books them (pipelines/sandbox/insurance.py), oldest first."""
    market = state.market
    if market.insurance is None:
        return {}
    book = FundBook(market.insurance)
    until = market.scenario.clock_ms + 400 * DAY_MS  # the clock may move on; entries past it are never served
    return {
        asset: okx_history(book, market.adl_episodes, VENUE, asset, until) for asset in book.assets(VENUE)
    }


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def insurance_fund(request: web.Request, state: SandboxState) -> web.Response:
    """GET /api/v5/public/insurance-fund: a family's entries newest first; `after`/`before` exclusive; limit <= 100.
    Sandbox choices: the fund is USDT only, so `total` (USD) is the newest served entry's balance; a family with
    no entries in range answers `data: []`."""
    _charge(request, "insurance", 10)
    inst_type = request.query.get("instType")
    if not inst_type:
        raise OkxError("50014", "Parameter instType can not be empty", 400)
    if inst_type not in INST_TYPES:
        raise OkxError("51000", "Parameter instType error", 400)
    family = request.query.get("instFamily") or request.query.get("uly")
    if inst_type in ("SWAP", "FUTURES", "OPTION") and not family:
        raise OkxError("50014", "Parameter instFamily can not be empty", 400)
    kind = request.query.get("type") or None
    if kind is not None and kind not in INSURANCE_TYPES:
        raise OkxError("51000", "Parameter type error", 400)
    limit = _limit(request, INSURANCE_LIMIT_CAP, INSURANCE_LIMIT_CAP)
    asset = next((a for a in state.assets if family == f"{a}-USDT"), None)
    if inst_type == "SWAP" and asset is None:
        raise OkxError("51001", "Instrument ID does not exist", 200)
    entries = request.app[INSURANCE_KEY].get(asset, []) if inst_type == "SWAP" else []
    now = state.clock_ms
    entries = [e for e in entries if e.ts <= now and (kind is None or e.type == kind)]
    ts = np.array([e.ts for e in entries], dtype=np.int64)
    chosen = _newest_first(ts, _ms(request, "after"), _ms(request, "before"), limit)
    if not len(chosen):
        return _envelope([])
    details = [
        {
            "adlType": entries[i].adl_type or "",
            "amt": _num(entries[i].amount),
            "balance": _num(entries[i].balance),
            "ccy": "USDT",
            "maxBal": _num(entries[i].max_balance),
            "maxBalTs": "" if entries[i].max_balance_ts is None else str(entries[i].max_balance_ts),
            "ts": str(entries[i].ts),
            "type": entries[i].type,
        }
        for i in chosen
    ]
    total = _num(entries[chosen[0]].balance)
    return _envelope([{"details": details, "instFamily": family, "instType": inst_type, "total": total}])


def app(state: SandboxState) -> web.Application:
    sub = web.Application()
    sub[STATE_KEY] = state
    sub.router.add_get("/api/v5/public/funding-rate-history", _wrap(funding_rate_history))
    sub.router.add_get("/api/v5/rubik/stat/contracts/open-interest-history", _wrap(open_interest_history))
    sub.router.add_get(
        "/api/v5/rubik/stat/contracts/long-short-account-ratio-contract", _wrap(long_short_account_ratio)
    )
    sub.router.add_get("/api/v5/market/history-candles", _wrap(history_candles))
    sub.router.add_get("/api/v5/market/history-mark-price-candles", _wrap(history_mark_price_candles))
    sub.router.add_get("/api/v5/public/instruments", _wrap(instruments))
    sub.router.add_get("/api/v5/public/time", _wrap(system_time))
    sub[LIQUIDATIONS_KEY] = liquidation_books(state)
    sub.router.add_get("/api/v5/public/liquidation-orders", _wrap(liquidation_orders))
    sub.router.add_get("/api/v5/system/status", _wrap(system_status))
    sub[INSURANCE_KEY] = insurance_histories(state)
    sub.router.add_get("/api/v5/public/insurance-fund", _wrap(insurance_fund))
    return sub
