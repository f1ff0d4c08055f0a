"""Binance USD-M futures (fapi): funding, OI history, long/short ratios, klines (last, mark, index), minute mark
klines."""

from __future__ import annotations

from typing import Any

from pipelines.instruments import venue_symbol
from pipelines.lib.numbers import PayloadError, require, to_float, to_int
from pipelines.lib.timeutil import HOUR_MS, MINUTE_MS, floor_hour_ms
from pipelines.venues.base import DatasetSpec, mark_kline_row, raw_json, to_table
from pipelines.venues.http import VenueError, VenueHttp, WeightLimiter

VENUE = "binance"


def error_check(response, payload: Any) -> None:
    """Binance errors are {"code": <negative int>, "msg": ...}, usually with HTTP 4xx."""
    if (
        isinstance(payload, dict)
        and "code" in payload
        and "msg" in payload
        and payload.get("code") not in (0, 200)
    ):
        raise VenueError(
            VENUE,
            response.request.url.path,
            str(payload["msg"]),
            status=response.status_code,
            code=payload["code"],
        )


def make_http(base_url: str, **kwargs) -> VenueHttp:
    kwargs.setdefault(
        "limiter", WeightLimiter(2160, 60)
    )  # REQUEST_WEIGHT 2400/min: 90%, headroom for bunching
    return VenueHttp(
        VENUE,
        base_url,
        ban_statuses=(418, 403),
        error_check=error_check,
        usage_header="X-MBX-USED-WEIGHT-1M",
        **kwargs,
    )


# -- parsers: payload -> rows in the lake schema (pure, tested against recorded payloads) --------------------


def parse_funding(payload: Any, asset: str) -> list[dict]:
    if not isinstance(payload, list):
        raise PayloadError(f"binance fundingRate: expected a list, got {type(payload).__name__}")
    rows = []
    for i, rec in enumerate(payload):
        where = f"binance fundingRate[{i}]"
        t = to_int(require(rec, "fundingTime", where), "fundingTime")
        rows.append(
            {
                "venue": VENUE,
                "asset": asset,
                "symbol": require(rec, "symbol", where),
                "funding_time": floor_hour_ms(t),
                "funding_rate": to_float(require(rec, "fundingRate", where), "fundingRate"),
                "funding_interval_hours": None,  # derived in staging from consecutive times
                "mark_price": to_float(rec.get("markPrice"), "markPrice"),
                "raw": raw_json(rec),
            }
        )
    return rows


def parse_open_interest_hist(payload: Any, asset: str) -> list[dict]:
    if not isinstance(payload, list):
        raise PayloadError(f"binance openInterestHist: expected a list, got {type(payload).__name__}")
    rows = []
    for i, rec in enumerate(payload):
        where = f"binance openInterestHist[{i}]"
        rows.append(
            {
                "venue": VENUE,
                "asset": asset,
                "symbol": require(rec, "symbol", where),
                "ts": to_int(
                    require(rec, "timestamp", where), "timestamp"
                ),  # documented as string, recorded as int
                "oi_coin": to_float(require(rec, "sumOpenInterest", where), "sumOpenInterest"),
                "oi_usd": to_float(require(rec, "sumOpenInterestValue", where), "sumOpenInterestValue"),
                "oi_contracts": None,
                "raw": raw_json(rec),
            }
        )
    return rows


def parse_account_ratio(payload: Any, asset: str, symbol: str, ratio_type: str) -> list[dict]:
    if not isinstance(payload, list):
        raise PayloadError(f"binance {ratio_type} ratio: expected a list, got {type(payload).__name__}")
    rows = []
    for i, rec in enumerate(payload):
        where = f"binance {ratio_type}[{i}]"
        rows.append(
            {
                "venue": VENUE,
                "asset": asset,
                "symbol": rec.get("symbol", symbol),
                "ts": to_int(require(rec, "timestamp", where), "timestamp"),
                "ratio_type": ratio_type,
                "long_share": to_float(require(rec, "longAccount", where), "longAccount"),
                "long_short_ratio": to_float(rec.get("longShortRatio"), "longShortRatio"),
                "raw": raw_json(rec),
            }
        )
    return rows


def parse_taker_ratio(payload: Any, asset: str, symbol: str) -> list[dict]:
    if not isinstance(payload, list):
        raise PayloadError(f"binance takerlongshortRatio: expected a list, got {type(payload).__name__}")
    rows = []
    for i, rec in enumerate(payload):
        where = f"binance takerlongshortRatio[{i}]"
        buy = to_float(require(rec, "buyVol", where), "buyVol")
        sell = to_float(require(rec, "sellVol", where), "sellVol")
        total = (buy or 0) + (sell or 0)
        rows.append(
            {
                "venue": VENUE,
                "asset": asset,
                "symbol": symbol,
                "ts": to_int(require(rec, "timestamp", where), "timestamp"),
                "ratio_type": "taker_volume",
                "long_share": buy / total if buy is not None and sell is not None and total > 0 else None,
                "long_short_ratio": to_float(rec.get("buySellRatio"), "buySellRatio"),
                "raw": raw_json(rec),
            }
        )
    return rows


def parse_klines(payload: Any, asset: str, symbol: str, price_type: str, interval: str) -> list[dict]:
    if not isinstance(payload, list):
        raise PayloadError(f"binance {price_type} klines: expected a list, got {type(payload).__name__}")
    rows = []
    for i, k in enumerate(payload):
        if not isinstance(k, list) or len(k) < 12:
            raise PayloadError(f"binance {price_type} klines[{i}]: expected a 12-slot array, got {k!r:.80}")
        has_volume = price_type == "last"
        rows.append(
            {
                "venue": VENUE,
                "asset": asset,
                "symbol": symbol,
                "price_type": price_type,
                "interval": interval,
                "open_time": to_int(k[0], "openTime"),
                "open": to_float(k[1], "open"),
                "high": to_float(k[2], "high"),
                "low": to_float(k[3], "low"),
                "close": to_float(k[4], "close"),
                # mark and index klines carry "0" in the volume slots: that is no reading, not zero volume
                "volume_coin": to_float(k[5], "volume") if has_volume else None,
                "volume_usd": to_float(k[7], "quoteVolume") if has_volume else None,
                "trades": to_int(k[8], "trades") if has_volume else None,
                "raw": raw_json(k),
            }
        )
    return rows


def parse_mark_klines_1m(payload: Any, asset: str, symbol: str) -> list[dict]:
    """markPriceKlines at 1m: the 12-slot kline array whose volume slots are "0" (mark prices trade nothing)."""
    if not isinstance(payload, list):
        raise PayloadError(f"binance markPriceKlines: expected a list, got {type(payload).__name__}")
    rows = []
    for i, k in enumerate(payload):
        where = f"binance markPriceKlines[{i}]"
        if not isinstance(k, list) or len(k) < 12:
            raise PayloadError(f"{where}: expected a 12-slot array, got {k!r:.80}")
        rows.append(mark_kline_row(VENUE, asset, symbol, k, where, "openTime"))
    return rows


# -- fetchers: one UTC day [start, end) each, paginating oldest-first -----------------------------------------


def _paginate(
    http: VenueHttp,
    path: str,
    params: dict,
    start: int,
    end: int,
    time_of,
    *,
    limit: int,
    weight: int = 1,
    step_ms: int | None = None,
) -> list:
    """Ascending pages: next startTime = last time + 1, until an empty page or the window is covered.

    With a fixed row spacing (step_ms), a page whose last row is the window's last slot ends the loop without
    one more empty request."""
    out, cursor = [], start
    while cursor < end:
        page = http.get_json(
            path, {**params, "startTime": cursor, "endTime": end - 1, "limit": limit}, weight=weight
        )
        if not isinstance(page, list):
            raise PayloadError(f"binance {path}: expected a list, got {raw_json(page)[:200]}")
        if not page:
            break
        out.extend(page)
        last = time_of(page[-1])
        if last + 1 <= cursor:
            raise PayloadError(f"binance {path}: pagination did not advance past {cursor}")
        cursor = last + 1
        if step_ms is not None and last + step_ms >= end:
            break
    return out


def fetch_funding_rates(http: VenueHttp, asset: str, start: int, end: int):
    symbol = venue_symbol(VENUE, asset)
    raw = _paginate(
        http,
        "/fapi/v1/fundingRate",
        {"symbol": symbol},
        start,
        end,
        lambda r: int(r["fundingTime"]),
        limit=1000,
    )
    rows = {r["funding_time"]: r for r in parse_funding(raw, asset) if start <= r["funding_time"] < end}
    return to_table("funding_rates", rows.values())


def fetch_open_interest(http: VenueHttp, asset: str, start: int, end: int):
    symbol = venue_symbol(VENUE, asset)
    raw = _paginate(
        http,
        "/futures/data/openInterestHist",
        {"symbol": symbol, "period": "1h"},
        start,
        end,
        lambda r: int(r["timestamp"]),
        limit=500,
        step_ms=HOUR_MS,
    )
    rows = {r["ts"]: r for r in parse_open_interest_hist(raw, asset) if start <= r["ts"] < end}
    return to_table("open_interest", rows.values())


RATIO_ENDPOINTS = {
    "global_account": "/futures/data/globalLongShortAccountRatio",
    "top_position": "/futures/data/topLongShortPositionRatio",
}


def fetch_long_short_ratios(http: VenueHttp, asset: str, start: int, end: int):
    symbol = venue_symbol(VENUE, asset)
    rows: dict = {}
    for ratio_type, path in RATIO_ENDPOINTS.items():
        raw = _paginate(
            http,
            path,
            {"symbol": symbol, "period": "1h"},
            start,
            end,
            lambda r: int(r["timestamp"]),
            limit=500,
            step_ms=HOUR_MS,
        )
        for r in parse_account_ratio(raw, asset, symbol, ratio_type):
            rows[(ratio_type, r["ts"])] = r
    raw = _paginate(
        http,
        "/futures/data/takerlongshortRatio",
        {"symbol": symbol, "period": "1h"},
        start,
        end,
        lambda r: int(r["timestamp"]),
        limit=500,
        step_ms=HOUR_MS,
    )
    for r in parse_taker_ratio(raw, asset, symbol):
        rows[("taker_volume", r["ts"])] = r
    return to_table("long_short_ratios", (r for r in rows.values() if start <= r["ts"] < end))


KLINE_ENDPOINTS = {
    "last": ("/fapi/v1/klines", "symbol"),
    "mark": ("/fapi/v1/markPriceKlines", "symbol"),
    "index": ("/fapi/v1/indexPriceKlines", "pair"),
}


def fetch_klines(http: VenueHttp, asset: str, start: int, end: int):
    symbol = venue_symbol(VENUE, asset)
    rows: dict = {}
    for price_type, (path, key) in KLINE_ENDPOINTS.items():
        raw = _paginate(
            http,
            path,
            {key: symbol, "interval": "1h"},
            start,
            end,
            lambda k: int(k[0]),
            limit=499,
            weight=2,
            step_ms=HOUR_MS,
        )  # < 500 rows costs weight 2
        for r in parse_klines(raw, asset, symbol, price_type, "1h"):
            if start <= r["open_time"] < end:
                rows[(price_type, r["open_time"])] = r
    return to_table("klines", rows.values())


def fetch_klines_1m(http: VenueHttp, asset: str, start: int, end: int):
    symbol = venue_symbol(VENUE, asset)
    # 499 rows cost weight 2 (1500 would cost 10): the most minutes per unit of the 2400/min budget
    raw = _paginate(
        http,
        "/fapi/v1/markPriceKlines",
        {"symbol": symbol, "interval": "1m"},
        start,
        end,
        lambda k: int(k[0]),
        limit=499,
        weight=2,
        step_ms=MINUTE_MS,
    )
    rows = {
        r["open_time"]: r for r in parse_mark_klines_1m(raw, asset, symbol) if start <= r["open_time"] < end
    }
    return to_table("klines_1m", rows.values())


# -- insurance fund: GET /fapi/v1/insuranceBalance (since 2025-04-23; weight 1; the current balance only) ------


def parse_insurance_balance(payload: Any, asset: str, symbol: str, ts_ms: int) -> list[dict]:
    """The pool holding `symbol`: one row per asset of the pool, taken at ts_ms. With `symbol` the answer is one
    pool {symbols, assets}; without it a list of pools (the one listing `symbol` is kept)."""
    pools = payload if isinstance(payload, list) else [payload]
    rows = []
    for i, pool in enumerate(pools):
        where = f"binance insuranceBalance[{i}]"
        symbols = require(pool, "symbols", where)
        assets = require(pool, "assets", where)
        if not isinstance(symbols, list) or not isinstance(assets, list):
            raise PayloadError(f"{where}: expected lists for `symbols` and `assets`")
        if symbol not in symbols:
            continue
        pool_id = ",".join(sorted(str(s) for s in symbols))
        for j, rec in enumerate(assets):
            at = f"{where}.assets[{j}]"
            balance = to_float(require(rec, "marginBalance", at), "marginBalance")
            if balance is None:
                raise PayloadError(f"{at}: marginBalance is empty")
            rows.append(
                {
                    "venue": VENUE,
                    "asset": asset,
                    "symbol": symbol,
                    "pool": pool_id,
                    "currency": str(require(rec, "asset", at)),
                    "entry_type": "snapshot",
                    "ts": ts_ms,
                    "balance": balance,
                    "balance_usd": None,  # Binance states no USD value; staging values USD stablecoins 1:1
                    "amount": None,
                    "adl_type": None,
                    "max_balance": None,
                    "max_balance_ts": None,
                    "updated_at": to_int(require(rec, "updateTime", at), "updateTime"),
                    "raw": raw_json(rec),
                }
            )
    return rows


def fetch_insurance_funds(http: VenueHttp, asset: str, start: int, end: int):
    """A snapshot at the window's end (ingest ends a snapshot day's window at now + 1 ms), to the minute."""
    symbol = venue_symbol(VENUE, asset)
    ts = (end - 1) // MINUTE_MS * MINUTE_MS
    if not start <= ts < end:
        return to_table("insurance_funds", [])
    payload = http.get_json("/fapi/v1/insuranceBalance", {"symbol": symbol}, weight=1)
    return to_table("insurance_funds", parse_insurance_balance(payload, asset, symbol, ts))


DATASETS = {
    "insurance_funds": DatasetSpec(
        "insurance_funds",
        fetch_insurance_funds,
        snapshot=True,
        description="the insurance pool of each asset's symbol: balance per margin asset; the current balance "
        "only, so history starts when recording starts",
    ),
    "funding_rates": DatasetSpec(
        "funding_rates", fetch_funding_rates, chunk_days=90, description="8-hourly funding since listing"
    ),
    "open_interest": DatasetSpec(
        "open_interest",
        fetch_open_interest,
        retention_days=30,
        chunk_days=20,
        description="hourly OI history; Binance keeps ~30 days",
    ),
    "long_short_ratios": DatasetSpec(
        "long_short_ratios",
        fetch_long_short_ratios,
        retention_days=30,
        chunk_days=20,
        description="global account, top-trader position and taker ratios; ~30 days",
    ),
    "klines": DatasetSpec(
        "klines", fetch_klines, chunk_days=20, description="hourly last, mark and index price klines"
    ),
    "klines_1m": DatasetSpec(
        "klines_1m",
        fetch_klines_1m,
        chunk_days=5,  # 7,200 minutes: 15 pages of 499
        description="1-minute mark-price klines (markPriceKlines), oldest first, 499 per page",
    ),
}

__all__ = ["DATASETS", "VENUE", "make_http"]
