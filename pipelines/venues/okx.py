"""OKX v5 USDT-margined perpetual swaps: funding, hourly OI history, account long/short ratio, hourly candles,
1-minute mark-price candles, instruments, liquidation orders (the last 24 hours only).

Every response is an envelope {"code": "0", "msg": "", "data": [...]} with `code` a string; errors keep the
envelope with another code (51001 unknown instrument, 50011 rate limit), at HTTP 200 or 4xx. Every value inside
`data` is a string. History endpoints answer newest first and page backwards: a cursor (`after` for funding and
candles, `end` for the trading statistics) returns rows strictly earlier than it, so the next cursor is the oldest
time of the page.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from pipelines.instruments import ASSETS, venue_symbol
from pipelines.lib.numbers import PayloadError, require, to_decimal, to_float, to_int
from pipelines.lib.timeutil import HOUR_MS, floor_hour_ms
from pipelines.lib.venue_status import codes_text, event_type_of
from pipelines.venues.base import DatasetSpec, raw_json, to_table
from pipelines.venues.http import RetryableError, VenueError, VenueHttp, WeightLimiter

VENUE = "okx"
INST_TYPE = "SWAP"
# Hourly bars start on the hour in UTC and UTC+8 alike; OKX's "...utc" bar variants exist only from 6H up.
HOURLY_BAR = "1H"
KLINE_INTERVAL = "1h"  # the lake's interval name, shared by every venue

RATE_LIMITED = "50011"
# "Service temporarily unavailable", "Endpoint request timeout", "Systems are busy", "System error"
TRANSIENT_CODES = frozenset({"50001", "50004", "50013", "50026"})

# Limits are "N requests per 2 seconds" per endpoint. One limiter covers them all: capacity is 90% of the
# loosest limit (20/2s; the rest is headroom for requests bunching in transit) and each endpoint costs in
# proportion (a 10/2s endpoint 2: 9 of its 10), so even a single endpoint stays under its own.
RATE_WINDOW_S = 2.0
LIMITER_CAPACITY = 18
WEIGHT_20_PER_2S = 1  # history-candles, history-mark-price-candles, instruments
WEIGHT_10_PER_2S = 2  # funding-rate-history, open-interest-history, public/time
WEIGHT_5_PER_2S = 4  # long-short-account-ratio-contract

# The funding cap is 400 today but was 100 in older docs; 100 is safe under both and a day has at most 24
# settlements (1-hour funding), so it is still one page.
FUNDING_PAGE_LIMIT = 100
STATS_PAGE_LIMIT = 100  # open-interest-history and long/short ratio: documented maximum
CANDLE_PAGE_LIMIT = 100  # documented maximum (some 2026 reports say 300)
MARK_CANDLE_PAGE_LIMIT = 100  # history-mark-price-candles: documented maximum
MINUTE_BAR = "1m"
LIQUIDATION_PAGE_LIMIT = 100  # documented maximum; the endpoint allows 40/2s, charged as 20/2s to be safe

FUNDING_INTERVALS_H = frozenset({1, 2, 4, 6, 8})  # the intervals OKX uses; any other gap means a missing row


def error_check(response, payload: Any) -> None:
    """Turn an error envelope (code != "0") into RetryableError for rate limits and transient faults, else VenueError."""
    if not isinstance(payload, dict) or "code" not in payload or str(payload["code"]) == "0":
        return
    code, message = str(payload["code"]), str(payload.get("msg") or "error without a message")
    if code == RATE_LIMITED:  # usually HTTP 429 (handled before this hook); one doc version says HTTP 200
        raise RetryableError(
            f"rate limited (code {code}): {message}", retry_after_s=RATE_WINDOW_S, status=response.status_code
        )
    if code in TRANSIENT_CODES:
        raise RetryableError(f"server busy (code {code}): {message}", status=response.status_code)
    inst_id = response.request.url.params.get("instId")
    detail = f"{message} (instId={inst_id})" if inst_id else message
    raise VenueError(VENUE, response.request.url.path, detail, status=response.status_code, code=code)


def make_http(base_url: str, **kwargs) -> VenueHttp:
    kwargs.setdefault("limiter", WeightLimiter(LIMITER_CAPACITY, RATE_WINDOW_S))
    kwargs.setdefault("rate_limit_default_s", RATE_WINDOW_S)  # no Retry-After: the 2 s window is the wait
    # 403 is how OKX's edge answers a blocked IP; 418 is not documented but is treated as a ban, to be safe
    return VenueHttp(VENUE, base_url, ban_statuses=(403, 418), error_check=error_check, **kwargs)


# -- parsers: payload -> rows in the lake schema (pure, tested against the documented payload shapes) ----------


def unwrap(payload: Any, where: str) -> list:
    """The `data` list of a successful envelope."""
    if not isinstance(payload, dict):
        raise PayloadError(f"okx {where}: expected an envelope object, got {type(payload).__name__}")
    code = require(payload, "code", f"okx {where}")
    if str(code) != "0":
        raise PayloadError(f"okx {where}: error envelope code {code!r}: {payload.get('msg')!r}")
    data = require(payload, "data", f"okx {where}")
    if not isinstance(data, list):
        raise PayloadError(f"okx {where}: expected `data` to be a list, got {type(data).__name__}")
    return data


def _array(record: Any, size: int, where: str, fields: str) -> list:
    if not isinstance(record, list) or len(record) < size:
        raise PayloadError(f"{where}: expected an array [{fields}], got {record!r:.80}")
    return record


def parse_funding(payload: Any, asset: str) -> list[dict]:
    """Rows keep funding_interval_hours empty: it needs the neighbouring settlement (see with_funding_intervals)."""
    rows = []
    for i, rec in enumerate(unwrap(payload, "funding-rate-history")):
        where = f"okx funding-rate-history[{i}]"
        t = to_int(require(rec, "fundingTime", where), "fundingTime")
        # realizedRate is what was settled; fundingRate is the prediction, a fallback for records without it
        rate = to_float(rec.get("realizedRate"), "realizedRate")
        if rate is None:
            rate = to_float(rec.get("fundingRate"), "fundingRate")
        if rate is None:
            raise PayloadError(f"{where}: neither realizedRate nor fundingRate has a value")
        rows.append(
            {
                "venue": VENUE,
                "asset": asset,
                "symbol": require(rec, "instId", where),
                "funding_time": floor_hour_ms(t),
                "funding_rate": rate,
                "funding_interval_hours": None,
                "mark_price": None,  # not in OKX's funding history
                "raw": raw_json(rec),
            }
        )
    return rows


def with_funding_intervals(rows: list[dict]) -> list[dict]:
    """Each settlement's interval is the gap to the previous one, ascending; unknown for the oldest row."""
    ordered = sorted(rows, key=lambda r: r["funding_time"])
    previous = None
    for row in ordered:
        gap_h = None if previous is None else (row["funding_time"] - previous) / HOUR_MS
        row["funding_interval_hours"] = gap_h if gap_h in FUNDING_INTERVALS_H else None
        previous = row["funding_time"]
    return ordered


def parse_open_interest(payload: Any, asset: str, symbol: str) -> list[dict]:
    rows = []
    for i, rec in enumerate(unwrap(payload, "open-interest-history")):
        ts, oi, oi_ccy, oi_usd = _array(rec, 4, f"okx open-interest-history[{i}]", "ts, oi, oiCcy, oiUsd")[:4]
        rows.append(
            {
                "venue": VENUE,
                "asset": asset,
                "symbol": symbol,
                "ts": to_int(ts, "ts"),
                "oi_coin": to_float(oi_ccy, "oiCcy"),
                "oi_usd": to_float(oi_usd, "oiUsd"),
                "oi_contracts": to_float(oi, "oi"),
                "raw": raw_json(rec),
            }
        )
    return rows


def parse_long_short_ratio(payload: Any, asset: str, symbol: str) -> list[dict]:
    """Accounts long / accounts short, over all traders of the contract; long_share = r / (1 + r)."""
    rows = []
    for i, rec in enumerate(unwrap(payload, "long-short-account-ratio-contract")):
        where = f"okx long-short-account-ratio-contract[{i}]"
        ts, ratio = _array(rec, 2, where, "ts, longShortAcctRatio")[:2]
        r = to_float(ratio, "longShortAcctRatio")
        if r is not None and r < 0:
            raise PayloadError(f"{where}: longShortAcctRatio must not be negative, got {ratio!r}")
        rows.append(
            {
                "venue": VENUE,
                "asset": asset,
                "symbol": symbol,
                "ts": to_int(ts, "ts"),
                "ratio_type": "global_account",
                "long_share": None if r is None else r / (1 + r),
                "long_short_ratio": r,
                "raw": raw_json(rec),
            }
        )
    return rows


def parse_candles(payload: Any, asset: str, symbol: str) -> list[dict]:
    """Completed candles only: confirm "0" marks the bar still forming."""
    rows = []
    for i, rec in enumerate(unwrap(payload, "history-candles")):
        where = f"okx history-candles[{i}]"
        ts, o, h, low, c, _contracts, vol_base, vol_quote, confirm = _array(
            rec, 9, where, "ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm"
        )[:9]
        if confirm not in ("0", "1"):
            raise PayloadError(f'{where}: confirm must be "0" or "1", got {confirm!r}')
        if confirm != "1":
            continue
        prices = {name: to_float(value, name) for name, value in (("o", o), ("h", h), ("l", low), ("c", c))}
        missing = [name for name, value in prices.items() if value is None]
        if missing:
            raise PayloadError(f"{where}: missing price {', '.join(missing)}")
        rows.append(
            {
                "venue": VENUE,
                "asset": asset,
                "symbol": symbol,
                "price_type": "last",
                "interval": KLINE_INTERVAL,
                "open_time": to_int(ts, "ts"),
                "open": prices["o"],
                "high": prices["h"],
                "low": prices["l"],
                "close": prices["c"],
                "volume_coin": to_float(vol_base, "volCcy"),  # vol itself counts contracts
                "volume_usd": to_float(vol_quote, "volCcyQuote"),
                "trades": None,  # OKX candles carry no trade count
                "raw": raw_json(rec),
            }
        )
    return rows


def parse_mark_candles_1m(payload: Any, asset: str, symbol: str) -> list[dict]:
    """history-mark-price-candles: [ts, o, h, l, c, confirm], all strings; completed candles only."""
    rows = []
    for i, rec in enumerate(unwrap(payload, "history-mark-price-candles")):
        where = f"okx history-mark-price-candles[{i}]"
        ts, o, h, low, c, confirm = _array(rec, 6, where, "ts, o, h, l, c, confirm")[:6]
        if confirm not in ("0", "1"):
            raise PayloadError(f'{where}: confirm must be "0" or "1", got {confirm!r}')
        if confirm != "1":
            continue  # the minute under way: its prices are not final
        prices = {name: to_float(value, name) for name, value in (("o", o), ("h", h), ("l", low), ("c", c))}
        missing = [name for name, value in prices.items() if value is None]
        if missing:
            raise PayloadError(f"{where}: missing price {', '.join(missing)}")
        rows.append(
            {
                "venue": VENUE,
                "asset": asset,
                "symbol": symbol,
                "price_type": "mark",
                "open_time": to_int(ts, "ts"),
                "open": prices["o"],
                "high": prices["h"],
                "low": prices["l"],
                "close": prices["c"],
                "raw": raw_json(rec),
            }
        )
    return rows


def parse_server_time(payload: Any) -> int:
    data = unwrap(payload, "public/time")
    if len(data) != 1:
        raise PayloadError(f"okx public/time: expected one record, got {len(data)}")
    return to_int(require(data[0], "ts", "okx public/time[0]"), "ts")


def parse_instruments(payload: Any, asset: str, symbol: str, ts: int) -> list[dict]:
    """The `symbol` record of an instruments snapshot taken at `ts`; contract_value is ctVal (coins per contract)."""
    rows = []
    for i, rec in enumerate(unwrap(payload, "instruments")):
        where = f"okx instruments[{i}]"
        if require(rec, "instId", where) != symbol:
            continue
        rows.append(
            {
                "venue": VENUE,
                "asset": asset,
                "symbol": symbol,
                "ts": ts,
                "contract_value": to_float(require(rec, "ctVal", where), "ctVal"),
                "contract_value_ccy": rec.get("ctValCcy") or None,
                "state": rec.get("state") or None,
                "raw": raw_json(rec),
            }
        )
    if not rows:
        raise PayloadError(f"okx instruments: {symbol} is not in the response")
    return rows


def _liquidation_side(detail: dict, where: str) -> str:
    """The liquidated position's side: posSide, or for net-mode positions the opposite of the closing order."""
    pos_side = detail.get("posSide") or ""
    if pos_side in ("long", "short"):
        return pos_side
    order_side = detail.get("side") or ""
    if pos_side in ("", "net") and order_side in ("buy", "sell"):
        return "long" if order_side == "sell" else "short"  # selling closes a long
    raise PayloadError(
        f"{where}: cannot tell the liquidated side from posSide={pos_side!r}, side={order_side!r}"
    )


def liquidation_event_key(inst_family: str, detail: dict) -> str:
    """OKX gives liquidations no id: the served strings of these fields are the event's identity."""
    return "|".join([inst_family] + [str(detail.get(k) or "") for k in ("ts", "posSide", "bkPx", "sz")])


def parse_liquidations(payload: Any, asset: str, contract_value: Decimal) -> list[dict]:
    """One row per detail of the asset's instrument family; `sz` counts contracts of `contract_value` coins."""
    family = f"{asset}-USDT"
    symbol = venue_symbol(VENUE, asset)
    rows = []
    for i, rec in enumerate(unwrap(payload, "liquidation-orders")):
        where = f"okx liquidation-orders[{i}]"
        details = require(rec, "details", where)
        rec_family = rec.get("instFamily") or rec.get("uly")
        if not rec_family:
            raise PayloadError(f"{where}: neither instFamily nor uly names the instrument family")
        if not isinstance(details, list):
            raise PayloadError(f"{where}: expected `details` to be a list, got {type(details).__name__}")
        if rec_family != family or rec.get("instType", INST_TYPE) != INST_TYPE:
            continue  # another family or instrument type: not this asset's swap
        for j, detail in enumerate(details):
            at = f"{where}.details[{j}]"
            ts = to_int(require(detail, "ts", at), "ts")
            price = to_decimal(detail.get("bkPx"), "bkPx")
            contracts = to_decimal(detail.get("sz"), "sz")
            qty = None if contracts is None else contracts * contract_value
            rows.append(
                {
                    "venue": VENUE,
                    "asset": asset,
                    "symbol": rec.get("instId") or symbol,
                    "ts": ts,
                    "side": _liquidation_side(detail, at),
                    "price": None if price is None else float(price),
                    "qty_coin": None if qty is None else float(qty),
                    "notional_usd": None if qty is None or price is None else float(qty * price),
                    "source": "rest",
                    "event_key": liquidation_event_key(rec_family, detail),
                    "raw": raw_json({**detail, "instFamily": rec_family}),
                }
            )
    return rows


# -- fetchers: one UTC day [start, end) each, paging backwards from the end ------------------------------------


def _pages_back(
    http: VenueHttp,
    path: str,
    params: dict,
    start: int,
    end: int,
    time_of: Callable[[Any], int],
    *,
    cursor: str,
    limit: int,
    weight: int,
) -> list[Any]:
    """Newest-first pages: `cursor=t` answers rows older than t, so the next cursor is the page's oldest time.

    Stops at an empty page or once a page reaches before `start` (so the row just before the window is included,
    which funding uses to derive the first interval).
    """
    pages, before = [], end
    while True:
        page = http.get_json(path, {**params, cursor: str(before), "limit": str(limit)}, weight=weight)
        records = unwrap(page, path)
        pages.append(page)
        if not records:
            return pages
        oldest = min(time_of(r) for r in records)
        if oldest >= before:
            raise PayloadError(f"okx {path}: page did not move back past {before} (oldest row {oldest})")
        if oldest < start:
            return pages
        before = oldest


def _array_time(rec: Any) -> int:
    return to_int(_array(rec, 1, "okx row", "ts, ...")[0], "ts")


def fetch_funding_rates(
    http: VenueHttp, asset: str, start: int, end: int, *, page_limit: int = FUNDING_PAGE_LIMIT
):
    symbol = venue_symbol(VENUE, asset)
    pages = _pages_back(
        http,
        "/api/v5/public/funding-rate-history",
        {"instId": symbol},
        start,
        end,
        lambda r: to_int(require(r, "fundingTime", "okx funding"), "fundingTime"),
        cursor="after",
        limit=page_limit,
        weight=WEIGHT_10_PER_2S,
    )
    by_time = {r["funding_time"]: r for page in pages for r in parse_funding(page, asset)}
    rows = with_funding_intervals(
        list(by_time.values())
    )  # before filtering: the earlier row gives the first gap
    return to_table("funding_rates", (r for r in rows if start <= r["funding_time"] < end))


def _fetch_hourly_stats(http, asset, start, end, *, path, parse, dataset, weight, page_limit):
    """The rubik statistics endpoints share one shape: hourly arrays, newest first, paged back with `end`."""
    symbol = venue_symbol(VENUE, asset)
    pages = _pages_back(
        http,
        path,
        {"instId": symbol, "period": HOURLY_BAR},
        start,
        end,
        _array_time,
        cursor="end",
        limit=page_limit,
        weight=weight,
    )
    rows = {r["ts"]: r for page in pages for r in parse(page, asset, symbol)}
    return to_table(dataset, (r for t, r in rows.items() if start <= t < end))


def fetch_open_interest(
    http: VenueHttp, asset: str, start: int, end: int, *, page_limit: int = STATS_PAGE_LIMIT
):
    return _fetch_hourly_stats(
        http, asset, start, end, path="/api/v5/rubik/stat/contracts/open-interest-history",
        parse=parse_open_interest, dataset="open_interest", weight=WEIGHT_10_PER_2S, page_limit=page_limit,
    )  # fmt: skip


def fetch_long_short_ratios(
    http: VenueHttp, asset: str, start: int, end: int, *, page_limit: int = STATS_PAGE_LIMIT
):
    return _fetch_hourly_stats(
        http, asset, start, end, path="/api/v5/rubik/stat/contracts/long-short-account-ratio-contract",
        parse=parse_long_short_ratio, dataset="long_short_ratios", weight=WEIGHT_5_PER_2S, page_limit=page_limit,
    )  # fmt: skip


def _fetch_candles(
    http: VenueHttp,
    asset: str,
    start: int,
    end: int,
    *,
    path: str,
    bar: str,
    parse,
    dataset: str,
    page_limit: int,
):
    """Candles of one bar size, paged back from the window's end; rows outside [start, end) dropped, repeats merged."""
    symbol = venue_symbol(VENUE, asset)
    pages = _pages_back(
        http,
        path,
        {"instId": symbol, "bar": bar},
        start,
        end,
        _array_time,
        cursor="after",
        limit=page_limit,
        weight=WEIGHT_20_PER_2S,
    )
    rows = {r["open_time"]: r for page in pages for r in parse(page, asset, symbol)}
    return to_table(dataset, (r for t, r in rows.items() if start <= t < end))


def fetch_klines(http: VenueHttp, asset: str, start: int, end: int, *, page_limit: int = CANDLE_PAGE_LIMIT):
    return _fetch_candles(
        http, asset, start, end, path="/api/v5/market/history-candles", bar=HOURLY_BAR, parse=parse_candles,
        dataset="klines", page_limit=page_limit,
    )  # fmt: skip


def fetch_klines_1m(
    http: VenueHttp, asset: str, start: int, end: int, *, page_limit: int = MARK_CANDLE_PAGE_LIMIT
):
    return _fetch_candles(
        http, asset, start, end, path="/api/v5/market/history-mark-price-candles", bar=MINUTE_BAR,
        parse=parse_mark_candles_1m, dataset="klines_1m", page_limit=page_limit,
    )  # fmt: skip


def fetch_instruments(http: VenueHttp, asset: str, start: int, end: int):
    """A snapshot stamped with OKX's server time; a day that is not the venue's today gets no rows."""
    symbol = venue_symbol(VENUE, asset)
    now = parse_server_time(http.get_json("/api/v5/public/time", weight=WEIGHT_10_PER_2S))
    if not start <= now < end:
        return to_table("instruments", [])
    payload = http.get_json(
        "/api/v5/public/instruments", {"instType": INST_TYPE, "instId": symbol}, weight=WEIGHT_20_PER_2S
    )
    return to_table("instruments", parse_instruments(payload, asset, symbol, now))


def parse_contract_value(payload: Any, symbol: str) -> Decimal:
    """ctVal of `symbol` from an instruments response: coins per contract, exactly."""
    for i, rec in enumerate(unwrap(payload, "instruments")):
        if require(rec, "instId", f"okx instruments[{i}]") == symbol:
            value = to_decimal(require(rec, "ctVal", f"okx instruments[{i}]"), "ctVal")
            if value is None or value <= 0:
                raise PayloadError(f"okx instruments: {symbol} has no usable ctVal ({rec.get('ctVal')!r})")
            return value
    raise PayloadError(f"okx instruments: {symbol} is not in the response")


def _liquidation_pages(http: VenueHttp, family: str, start: int, end: int, limit: int) -> list[Any]:
    """Newest-first pages of filled SWAP liquidations back from `end` until one reaches before `start`.

    `after=t` answers details strictly older than t. Several liquidations can share a millisecond and a full page
    can end among them, so after a full page the next cursor is its oldest ts + 1: that millisecond is asked
    again and its repeats are dropped by event key. A page that is not full holds its oldest millisecond whole.
    """
    path = "/api/v5/public/liquidation-orders"
    params = {"instType": INST_TYPE, "instFamily": family, "state": "filled", "limit": str(limit)}
    pages, cursor = [], end
    while True:
        page = http.get_json(path, {**params, "after": str(cursor)}, weight=WEIGHT_20_PER_2S)
        times = [
            to_int(require(d, "ts", f"okx {path} detail"), "ts")
            for rec in unwrap(page, path)
            for d in (require(rec, "details", f"okx {path}") or [])
        ]
        pages.append(page)
        if not times or min(times) < start:
            return pages
        if max(times) >= cursor:
            raise PayloadError(f"okx {path}: asked for liquidations before {cursor}, got one at {max(times)}")
        next_cursor = min(times) + 1 if len(times) >= limit else min(times)
        if next_cursor >= cursor:
            raise PayloadError(
                f"okx {path}: a full page of {len(times)} liquidations all at {min(times)} ms; "
                f"cannot page past them with limit={limit}"
            )
        cursor = next_cursor


def fetch_liquidations(
    http: VenueHttp, asset: str, start: int, end: int, *, page_limit: int = LIQUIDATION_PAGE_LIMIT
):
    """Filled forced closes of the asset's USDT swap in [start, end), sizes in coins via today's ctVal."""
    symbol = venue_symbol(VENUE, asset)
    instruments = http.get_json(
        "/api/v5/public/instruments", {"instType": INST_TYPE, "instId": symbol}, weight=WEIGHT_20_PER_2S
    )
    contract_value = parse_contract_value(instruments, symbol)
    pages = _liquidation_pages(http, f"{asset}-USDT", start, end, page_limit)
    rows = {r["event_key"]: r for page in pages for r in parse_liquidations(page, asset, contract_value)}
    return to_table("liquidations", (r for r in rows.values() if start <= r["ts"] < end))


# -- system status: announcements of maintenance and disruptions (current state: a snapshot) --------------------

STATUS_PATH = "/api/v5/system/status"
# Without `state` OKX answers scheduled, ongoing and pre_open events; completed ones need state=completed, so a
# snapshot is two requests. The endpoint allows 1 request per 5 s: its own limiter, on the client's clock.
STATUS_STATES = (None, "completed")
STATUS_WINDOW_S = 5.0
_STATUS_LIMITERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def parse_system_status(payload: Any, ts: int) -> list[dict]:
    """One row per announced event, stamped with the snapshot time `ts`. OKX gives events no id: title|begin."""
    rows = []
    for i, rec in enumerate(unwrap(payload, "system/status")):
        where = f"okx system/status[{i}]"
        title = require(rec, "title", where)
        begin = to_int(require(rec, "begin", where), f"{where}.begin")
        end_raw = rec.get("end")
        rows.append(
            {
                "venue": VENUE,
                "event_id": f"{title}|{begin}",
                "ts": ts,
                "title": title or None,
                "state": require(rec, "state", where),
                "event_type": event_type_of(require(rec, "maintType", where), where),
                "begin": begin,
                "end": None if end_raw in (None, "") else to_int(end_raw, f"{where}.end"),
                "services": codes_text(rec.get("serviceType")),
                "raw": raw_json(rec),
            }
        )
    return rows


def _status_limiter(http: VenueHttp) -> WeightLimiter | None:
    if http.limiter is None:
        return None
    if http not in _STATUS_LIMITERS:  # the client's own clock and sleep: replayed time in the demo's replay
        _STATUS_LIMITERS[http] = WeightLimiter(
            1, STATUS_WINDOW_S, clock=http.limiter.clock, sleep=http.limiter._sleep
        )
    return _STATUS_LIMITERS[http]


def fetch_system_status(http: VenueHttp, asset: str, start: int, end: int):
    """A snapshot at the window's end (ingest ends a snapshot day's window at now + 1 ms). `asset` is a stand-in."""
    ts = end - 1
    if not start <= ts < end:
        return to_table("system_status", [])
    limiter = _status_limiter(http)
    rows: dict[str, dict] = {}
    for state in STATUS_STATES:
        reservation = limiter.acquire() if limiter else None
        try:
            payload = http.get_json(STATUS_PATH, {"state": state}, weight=WEIGHT_20_PER_2S)
        finally:
            if reservation is not None:
                limiter.settle(reservation)
        for row in parse_system_status(payload, ts):
            rows[row["event_id"]] = row  # an event in both answers (it completed in between) is kept once
    return to_table("system_status", rows.values())


# -- insurance fund: GET /api/v5/public/insurance-fund (history, newest first, `after` pages back) ------------------
# 10 requests / 2 s per IP. Types: liquidation_balance_deposit and bankruptcy_loss (with `amt`, generated daily
# around 08:00 UTC), regular_update (up-to-the-minute; the 2025+ docs say it was removed), platform_revenue and adl
# (adlType, maxBal, maxBalTs; the 2025+ docs mark both deprecated, answering empty values). Retention UNVERIFIED.

INSURANCE_PAGE_LIMIT = 100  # documented maximum
WEIGHT_10_PER_2S_INSURANCE = 2


def parse_insurance_fund(payload: Any, asset: str) -> list[dict]:
    """One row per detail entry; `total` (USD, for the whole family) is kept in raw only."""
    rows = []
    for i, rec in enumerate(unwrap(payload, "insurance-fund")):
        where = f"okx insurance-fund[{i}]"
        family = str(require(rec, "instFamily", where))
        details = require(rec, "details", where)
        if not isinstance(details, list):
            raise PayloadError(f"{where}: expected `details` to be a list")
        for j, d in enumerate(details):
            at = f"{where}.details[{j}]"
            balance = to_float(require(d, "balance", at), "balance")
            entry_type = str(require(d, "type", at))
            if balance is None:
                if entry_type in ("adl", "platform_revenue"):
                    continue  # deprecated types answer empty values
                raise PayloadError(f"{at}: balance is empty")
            currency = str(require(d, "ccy", at))
            rows.append(
                {
                    "venue": VENUE,
                    "asset": asset,
                    "symbol": family,
                    "pool": family,
                    "currency": currency,
                    "entry_type": entry_type,
                    "ts": to_int(require(d, "ts", at), "ts"),
                    "balance": balance,
                    "balance_usd": None,  # staging values USD stablecoins 1:1; `total` is the family's, all ccys
                    "amount": to_float(d.get("amt"), "amt"),
                    "adl_type": d.get("adlType") or None,
                    "max_balance": to_float(d.get("maxBal"), "maxBal"),
                    "max_balance_ts": to_int(d["maxBalTs"], "maxBalTs") if d.get("maxBalTs") else None,
                    "updated_at": None,
                    "raw": raw_json({**d, "instFamily": family, "instType": rec.get("instType")}),
                }
            )
    return rows


def _insurance_key(row: dict) -> tuple:
    return (row["currency"], row["entry_type"], row["ts"])


def fetch_insurance_funds(
    http: VenueHttp, asset: str, start: int, end: int, *, page_limit: int = INSURANCE_PAGE_LIMIT
):
    """Entries of the asset's USDT swap family in [start, end), paging back with `after` (older than).

    Entries share a millisecond (a day's deposit and bankruptcy-loss rows): after a full page the next cursor is
    its oldest ts + 1, so that millisecond is asked again and repeats collapse by key."""
    family = f"{asset}-USDT"
    params = {"instType": INST_TYPE, "instFamily": family, "limit": str(page_limit)}
    rows: dict[tuple, dict] = {}
    cursor = end
    while True:
        page = http.get_json(
            "/api/v5/public/insurance-fund",
            {**params, "after": str(cursor)},
            weight=WEIGHT_10_PER_2S_INSURANCE,
        )
        entries = sum(len(r.get("details") or []) for r in unwrap(page, "insurance-fund"))
        parsed = parse_insurance_fund(page, asset)
        for row in parsed:
            rows[_insurance_key(row)] = row
        times = [r["ts"] for r in parsed]
        if not entries or not times or min(times) < start:
            break
        if max(times) >= cursor:
            raise PayloadError(
                f"okx insurance-fund: asked for entries before {cursor}, got one at {max(times)}"
            )
        next_cursor = min(times) + 1 if entries >= page_limit else min(times)
        if next_cursor >= cursor:
            raise PayloadError(
                f"okx insurance-fund: a full page of {entries} entries all at {min(times)} ms; "
                f"cannot page past them with limit={page_limit}"
            )
        cursor = next_cursor
    return to_table("insurance_funds", (r for r in rows.values() if start <= r["ts"] < end))


DATASETS = {
    "funding_rates": DatasetSpec(
        "funding_rates",
        fetch_funding_rates,
        retention_days=92,
        chunk_days=30,
        description="realized funding per settlement (8h, or shorter for some alts); "
        "OKX serves about three months",
    ),
    "open_interest": DatasetSpec(
        "open_interest",
        fetch_open_interest,
        retention_days=60,
        chunk_days=30,
        description="hourly OI in contracts, coins and USD; the latest 1,440 entries",
    ),
    "long_short_ratios": DatasetSpec(
        "long_short_ratios",
        fetch_long_short_ratios,
        retention_days=60,
        chunk_days=30,
        description="hourly account long/short ratio of all traders; latest 1,440",
    ),
    "klines": DatasetSpec(
        "klines", fetch_klines, chunk_days=30, description="hourly last-price candles, completed bars only"
    ),
    "klines_1m": DatasetSpec(
        "klines_1m",
        fetch_klines_1m,
        chunk_days=10,
        description="1-minute mark-price candles (history-mark-price-candles, 'recent years'), completed bars "
        "only; 100 per page, newest first",
    ),
    "instruments": DatasetSpec(
        "instruments",
        fetch_instruments,
        snapshot=True,
        description="contract value (ctVal, coins per contract) and state",
    ),
    # OKX keeps liquidation orders "in the last day" (a rolling 24 h). retention_days=1 makes today and
    # yesterday fetchable (yesterday only from now - 24 h on) and writes older days empty as beyond_retention.
    "liquidations": DatasetSpec(
        "liquidations",
        fetch_liquidations,
        retention_days=1,
        accumulate=True,  # the daily run sees only the last 24 h: keep what the hourly runs recorded earlier
        may_be_empty=True,
        description="filled SWAP liquidation orders (side of the liquidated position, coins via ctVal); "
        "OKX serves only the last 24 hours, so a day is complete only if recorded within a day of its end",
    ),
    "system_status": DatasetSpec(
        "system_status",
        fetch_system_status,
        snapshot=True,
        assets=ASSETS[:1],  # venue-wide: one stand-in asset, so the ingest calls the fetch once
        may_be_empty=True,  # no announcement is the usual answer
        description="GET /api/v5/system/status (scheduled, ongoing, pre_open, and state=completed): maintenance "
        "and disruption announcements with their windows, one snapshot per run; 1 request per 5 s. A snapshot: "
        "its history starts when recording starts",
    ),
    "insurance_funds": DatasetSpec(
        "insurance_funds",
        fetch_insurance_funds,
        chunk_days=30,
        may_be_empty=True,  # the daily entries come around 08:00 UTC; the day under way may have none yet
        description="insurance-fund history of each asset's USDT swap family: daily deposit and bankruptcy-loss "
        "entries with the balance after them, and ADL entries where OKX still publishes them",
    ),
}

__all__ = ["DATASETS", "VENUE", "make_http"]
