"""Bybit v5 linear perpetuals: funding, hourly OI, global account long/short ratio, hourly last-price klines and
1-minute mark-price klines.

Every response is an envelope {retCode, retMsg, result, retExtInfo, time}; errors arrive as HTTP 200 with
retCode != 0, and every value inside `result` is a string (timestamps included). All the endpoints answer
newest first: funding and klines page by moving the end below the oldest row, OI and ratios follow a cursor.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from pipelines.instruments import ASSETS, venue_symbol
from pipelines.lib.numbers import PayloadError, require, to_decimal, to_float, to_int
from pipelines.lib.timeutil import floor_hour_ms
from pipelines.lib.venue_status import codes_text, event_type_of
from pipelines.venues.base import DatasetSpec, mark_kline_row, raw_json, to_table
from pipelines.venues.http import RetryableError, VenueError, VenueHttp, WeightLimiter

VENUE = "bybit"
CATEGORY = "linear"
RATE_LIMITED = 10006  # "Too many visits!"
SERVER_ERROR = 10016
RATE_LIMIT_DEFAULT_WAIT_S = 5.0  # no reset hint: wait out the 5 s IP window
IP_BAN_S = 600.0  # "403, access too frequent": wait at least 10 minutes

FUNDING_PAGE_LIMIT = 200
OPEN_INTEREST_PAGE_LIMIT = 200
ACCOUNT_RATIO_PAGE_LIMIT = 500
KLINE_PAGE_LIMIT = 1000
MARK_KLINE_PAGE_LIMIT = 1000  # documented range [1, 1000]


def error_check(response, payload: Any) -> None:
    """Bybit answers errors inside HTTP 200: retCode 10006 is its rate limit, 10016 a server fault."""
    if not isinstance(payload, dict) or payload.get("retCode", 0) == 0:
        return
    code, message = payload.get("retCode"), str(payload.get("retMsg", ""))
    endpoint = response.request.url.path
    if code == RATE_LIMITED:
        raise RetryableError(
            f"rate limited (retCode {code}): {message}",
            retry_after_s=_rate_limit_wait_s(response),
            status=response.status_code,
        )
    if code == SERVER_ERROR:
        raise RetryableError(f"server error (retCode {code}): {message}", status=response.status_code)
    raise VenueError(
        VENUE, endpoint, message or "error without a message", status=response.status_code, code=code
    )


def _rate_limit_wait_s(response) -> float:
    retry_after = response.headers.get("retry-after")
    if retry_after:
        try:
            return max(float(retry_after), 0.0)
        except ValueError:
            pass
    reset_ms = response.headers.get("x-bapi-limit-reset-timestamp")
    if reset_ms and reset_ms.isdigit():
        return max(int(reset_ms) / 1000 - time.time(), 0.0)
    return RATE_LIMIT_DEFAULT_WAIT_S


def make_http(base_url: str, **kwargs) -> VenueHttp:
    kwargs.setdefault(
        "limiter", WeightLimiter(540, 5)
    )  # 600 requests / 5 s per IP: 90%, headroom for bunching
    kwargs.setdefault("ban_default_s", IP_BAN_S)
    return VenueHttp(VENUE, base_url, ban_statuses=(403,), error_check=error_check, **kwargs)


# -- parsers: envelope -> rows in the lake schema (pure, tested against recorded payloads) -----------------------


def _result(payload: Any, where: str) -> dict:
    if not isinstance(payload, dict):
        raise PayloadError(f"{where}: expected the v5 envelope object, got {type(payload).__name__}")
    result = require(payload, "result", where)
    if not isinstance(result, dict):
        raise PayloadError(f"{where}: expected 'result' to be an object, got {type(result).__name__}")
    return result


def _records(payload: Any, where: str) -> list:
    records = require(_result(payload, where), "list", f"{where} result")
    if not isinstance(records, list):
        raise PayloadError(f"{where}: expected 'result.list' to be a list, got {type(records).__name__}")
    return records


def _required_float(record: Any, key: str, where: str) -> float:
    value = to_float(require(record, key, where), key)
    if value is None:
        raise PayloadError(f"{where}: field {key!r} is empty")
    return value


def parse_funding(payload: Any, asset: str) -> list[dict]:
    rows = []
    for i, rec in enumerate(_records(payload, "bybit funding/history")):
        where = f"bybit funding/history list[{i}]"
        rows.append(
            {
                "venue": VENUE,
                "asset": asset,
                "symbol": require(rec, "symbol", where),
                "funding_time": floor_hour_ms(
                    to_int(require(rec, "fundingRateTimestamp", where), "fundingRateTimestamp")
                ),
                "funding_rate": _required_float(rec, "fundingRate", where),
                "funding_interval_hours": None,  # not in this endpoint; staging derives it from consecutive times
                "mark_price": None,
                "raw": raw_json(rec),
            }
        )
    return rows


def parse_open_interest(payload: Any, asset: str) -> list[dict]:
    """openInterest counts both sides; singleOpenInterest (added 2026-06-11) is the one-sided figure we store."""
    result = _result(payload, "bybit open-interest")
    symbol = require(result, "symbol", "bybit open-interest result")
    rows = []
    for i, rec in enumerate(_records(payload, "bybit open-interest")):
        where = f"bybit open-interest list[{i}]"
        both_sides = to_decimal(require(rec, "openInterest", where), "openInterest")
        single = to_decimal(rec.get("singleOpenInterest"), "singleOpenInterest")
        if single is None and both_sides is not None:
            single = both_sides / 2
        rows.append(
            {
                "venue": VENUE,
                "asset": asset,
                "symbol": symbol,
                "ts": to_int(require(rec, "timestamp", where), "timestamp"),
                "oi_coin": None if single is None else float(single),
                "oi_usd": None,  # no price here: staging values it with the hour's price
                "oi_contracts": None,
                "raw": raw_json(rec),
            }
        )
    return rows


def parse_account_ratio(payload: Any, asset: str) -> list[dict]:
    rows = []
    for i, rec in enumerate(_records(payload, "bybit account-ratio")):
        where = f"bybit account-ratio list[{i}]"
        buy = to_decimal(require(rec, "buyRatio", where), "buyRatio")
        sell = to_decimal(rec.get("sellRatio"), "sellRatio")
        if buy is None:
            raise PayloadError(f"{where}: field 'buyRatio' is empty")
        rows.append(
            {
                "venue": VENUE,
                "asset": asset,
                "symbol": require(rec, "symbol", where),
                "ts": to_int(require(rec, "timestamp", where), "timestamp"),
                "ratio_type": "global_account",
                "long_share": float(buy),
                "long_short_ratio": float(buy / sell) if sell else None,
                "raw": raw_json(rec),
            }
        )
    return rows


def parse_klines(payload: Any, asset: str) -> list[dict]:
    """Hourly last-price candles: [start, open, high, low, close, volume (base), turnover (quote)], all strings."""
    symbol = require(_result(payload, "bybit kline"), "symbol", "bybit kline result")
    rows = []
    for i, k in enumerate(_records(payload, "bybit kline")):
        if not isinstance(k, list) or len(k) < 7:
            raise PayloadError(f"bybit kline list[{i}]: expected a 7-slot array, got {k!r:.80}")
        prices = [to_float(v, name) for v, name in zip(k[1:5], ("open", "high", "low", "close"), strict=True)]
        if None in prices:
            raise PayloadError(f"bybit kline list[{i}]: a price slot is empty: {k!r:.80}")
        o, h, lo, c = prices
        rows.append(
            {
                "venue": VENUE,
                "asset": asset,
                "symbol": symbol,
                "price_type": "last",
                "interval": "1h",
                "open_time": to_int(k[0], "startTime"),
                "open": o,
                "high": h,
                "low": lo,
                "close": c,
                "volume_coin": to_float(k[5], "volume"),
                "volume_usd": to_float(k[6], "turnover"),
                "trades": None,  # Bybit klines carry no trade count
                "raw": raw_json(k),
            }
        )
    return rows


def parse_mark_klines_1m(payload: Any, asset: str) -> list[dict]:
    """mark-price-kline at interval 1: [startTime, open, high, low, close], all strings, newest first."""
    symbol = require(_result(payload, "bybit mark-price-kline"), "symbol", "bybit mark-price-kline result")
    rows = []
    for i, k in enumerate(_records(payload, "bybit mark-price-kline")):
        where = f"bybit mark-price-kline list[{i}]"
        if not isinstance(k, list) or len(k) < 5:
            raise PayloadError(f"{where}: expected a 5-slot array, got {k!r:.80}")
        rows.append(mark_kline_row(VENUE, asset, symbol, k, where, "startTime"))
    return rows


# -- fetchers: rows with start <= time < end, walking back from the end (Bybit is newest first) ------------------


def _page_back_by_end(
    http: VenueHttp,
    path: str,
    params: dict,
    start: int,
    end: int,
    time_of: Callable[[Any], int],
    *,
    start_key: str,
    end_key: str,
    limit: int,
) -> list[Any]:
    """Ask for [start, end-1]; the venue returns its newest `limit` rows, so the next end is the oldest row - 1."""
    pages, upper = [], end - 1
    while upper >= start:
        payload = http.get_json(path, {**params, start_key: start, end_key: upper, "limit": limit})
        records = _records(payload, f"bybit {path}")
        if not records:
            break
        pages.append(payload)
        next_upper = min(time_of(r) for r in records) - 1
        if next_upper >= upper:
            raise PayloadError(
                f"bybit {path}: the page does not reach below endTime {upper}; pagination cannot advance"
            )
        upper = next_upper
    return pages


def _page_back_by_cursor(
    http: VenueHttp,
    path: str,
    params: dict,
    start: int,
    end: int,
    time_of: Callable[[Any], int],
    *,
    limit: int,
) -> list[Any]:
    """Follow nextPageCursor until it runs out or the page reaches `start`."""
    pages, cursor, seen = [], None, set()
    while True:
        payload = http.get_json(
            path, {**params, "startTime": start, "endTime": end - 1, "limit": limit, "cursor": cursor}
        )
        records = _records(payload, f"bybit {path}")
        if not records:
            break
        pages.append(payload)
        # the cursor arrives URL-encoded (lastid%3D…); httpx would encode it a second time
        cursor = unquote(_result(payload, f"bybit {path}").get("nextPageCursor") or "")
        if not cursor or min(time_of(r) for r in records) <= start:
            break
        if cursor in seen:
            raise PayloadError(f"bybit {path}: nextPageCursor {cursor!r} repeated; pagination cannot advance")
        seen.add(cursor)
    return pages


def _record_time(key: str) -> Callable[[Any], int]:
    return lambda rec: to_int(require(rec, key, f"bybit record {rec!r:.80}"), key)


def _kline_start(kline: Any) -> int:
    if not isinstance(kline, list) or not kline:
        raise PayloadError(f"bybit kline: expected a candle array, got {kline!r:.80}")
    return to_int(kline[0], "startTime")


def _in_window(rows: list[dict], time_column: str, start: int, end: int) -> list[dict]:
    """Drop rows outside [start, end) and duplicates at page edges (keyed by time, last one wins)."""
    return list({r[time_column]: r for r in rows if start <= r[time_column] < end}.values())


def fetch_funding_rates(
    http: VenueHttp, asset: str, start: int, end: int, *, page_limit: int = FUNDING_PAGE_LIMIT
):
    pages = _page_back_by_end(
        http,
        "/v5/market/funding/history",
        {"category": CATEGORY, "symbol": venue_symbol(VENUE, asset)},
        start,
        end,
        _record_time("fundingRateTimestamp"),
        start_key="startTime",
        end_key="endTime",
        limit=page_limit,
    )
    rows = [row for page in pages for row in parse_funding(page, asset)]
    return to_table("funding_rates", _in_window(rows, "funding_time", start, end))


def _fetch_hourly_by_cursor(http, asset, start, end, *, path, period_key, parse, dataset, page_limit):
    """Open interest and account ratio share one shape: hourly records, newest first, cursor pagination."""
    pages = _page_back_by_cursor(
        http,
        path,
        {"category": CATEGORY, "symbol": venue_symbol(VENUE, asset), period_key: "1h"},
        start,
        end,
        _record_time("timestamp"),
        limit=page_limit,
    )
    rows = [row for page in pages for row in parse(page, asset)]
    return to_table(dataset, _in_window(rows, "ts", start, end))


def fetch_open_interest(
    http: VenueHttp, asset: str, start: int, end: int, *, page_limit: int = OPEN_INTEREST_PAGE_LIMIT
):
    return _fetch_hourly_by_cursor(
        http, asset, start, end, path="/v5/market/open-interest", period_key="intervalTime",
        parse=parse_open_interest, dataset="open_interest", page_limit=page_limit,
    )  # fmt: skip


def fetch_long_short_ratios(
    http: VenueHttp, asset: str, start: int, end: int, *, page_limit: int = ACCOUNT_RATIO_PAGE_LIMIT
):
    return _fetch_hourly_by_cursor(
        http, asset, start, end, path="/v5/market/account-ratio", period_key="period",
        parse=parse_account_ratio, dataset="long_short_ratios", page_limit=page_limit,
    )  # fmt: skip


def _fetch_klines_at(
    http: VenueHttp,
    asset: str,
    start: int,
    end: int,
    *,
    path: str,
    interval: str,
    parse,
    dataset: str,
    page_limit: int,
):
    """Klines of one interval, paged back by `end`; rows outside [start, end) dropped."""
    pages = _page_back_by_end(
        http,
        path,
        {"category": CATEGORY, "symbol": venue_symbol(VENUE, asset), "interval": interval},
        start,
        end,
        _kline_start,
        start_key="start",
        end_key="end",
        limit=page_limit,
    )
    rows = [row for page in pages for row in parse(page, asset)]
    return to_table(dataset, _in_window(rows, "open_time", start, end))


def fetch_klines(http: VenueHttp, asset: str, start: int, end: int, *, page_limit: int = KLINE_PAGE_LIMIT):
    return _fetch_klines_at(
        http, asset, start, end, path="/v5/market/kline", interval="60", parse=parse_klines, dataset="klines",
        page_limit=page_limit,
    )  # fmt: skip


def fetch_klines_1m(
    http: VenueHttp, asset: str, start: int, end: int, *, page_limit: int = MARK_KLINE_PAGE_LIMIT
):
    return _fetch_klines_at(
        http, asset, start, end, path="/v5/market/mark-price-kline", interval="1", parse=parse_mark_klines_1m,
        dataset="klines_1m", page_limit=page_limit,
    )  # fmt: skip


STATUS_PATH = "/v5/system/status"


def parse_system_status(payload: Any, ts: int) -> list[dict]:
    """One row per announced event (result.list, every state), stamped with the snapshot time `ts`.
    `maintainType` and `env` are strings in the field table and integers in the doc's own example: both parse."""
    rows = []
    for i, rec in enumerate(_records(payload, "bybit system/status")):
        where = f"bybit system/status.list[{i}]"
        end_raw = rec.get("end")
        rows.append(
            {
                "venue": VENUE,
                "event_id": require(rec, "id", where),
                "ts": ts,
                "title": rec.get("title") or None,
                "state": require(rec, "state", where),
                "event_type": event_type_of(require(rec, "maintainType", where), where),
                "begin": to_int(require(rec, "begin", where), f"{where}.begin"),
                "end": None if end_raw in (None, "") else to_int(end_raw, f"{where}.end"),
                "services": codes_text(rec.get("serviceTypes")),
                "raw": raw_json(rec),
            }
        )
    return rows


def fetch_system_status(http: VenueHttp, asset: str, start: int, end: int):
    """A snapshot at the window's end (ingest ends a snapshot day's window at now + 1 ms). `asset` is a stand-in."""
    ts = end - 1
    if not start <= ts < end:
        return to_table("system_status", [])
    return to_table("system_status", parse_system_status(http.get_json(STATUS_PATH), ts))


# -- insurance pools: GET /v5/market/insurance (current balances only; isolated pools update every minute, shared
# pools every 24 h) ---------------------------------------------------------------------------------------------

INSURANCE_COIN = "USDT"  # the settlement coin of the linear USDT perpetuals


def parse_insurance(payload: Any, asset: str, symbol: str, ts_ms: int) -> list[dict]:
    """The pools whose `symbols` list `symbol` (one for an isolated pool, several for a shared one), at ts_ms."""
    where = "bybit insurance"
    result = _result(payload, where)
    updated = to_int(require(result, "updatedTime", f"{where} result"), "updatedTime")
    rows = []
    for i, rec in enumerate(_records(payload, where)):
        at = f"{where} list[{i}]"
        symbols = str(require(rec, "symbols", at))
        if symbol not in symbols.split(","):
            continue
        rows.append(
            {
                "venue": VENUE,
                "asset": asset,
                "symbol": symbol,
                "pool": symbols,
                "currency": str(require(rec, "coin", at)),
                "entry_type": "snapshot",
                "ts": ts_ms,
                "balance": _required_float(rec, "balance", at),
                "balance_usd": to_float(require(rec, "value", at), "value"),
                "amount": None,
                "adl_type": None,
                "max_balance": None,
                "max_balance_ts": None,
                "updated_at": updated,
                "raw": raw_json(rec),
            }
        )
    return rows


def fetch_insurance_funds(http: VenueHttp, asset: str, start: int, end: int):
    """A snapshot at the window's end (ingest ends a snapshot day's window at now + 1 ms), to the minute."""
    symbol = venue_symbol(VENUE, asset)
    ts = (end - 1) // 60_000 * 60_000
    if not start <= ts < end:
        return to_table("insurance_funds", [])
    payload = http.get_json("/v5/market/insurance", {"coin": INSURANCE_COIN})
    return to_table("insurance_funds", parse_insurance(payload, asset, symbol, ts))


DATASETS = {
    "funding_rates": DatasetSpec(
        "funding_rates", fetch_funding_rates, chunk_days=60, description="8-hourly funding since listing"
    ),
    "open_interest": DatasetSpec(
        "open_interest",
        fetch_open_interest,
        chunk_days=30,
        description="hourly one-sided OI in coins since launch",
    ),
    "long_short_ratios": DatasetSpec(
        "long_short_ratios",
        fetch_long_short_ratios,
        chunk_days=30,
        description="hourly global account ratio (buyRatio) since 2020-07-20",
    ),
    "klines": DatasetSpec("klines", fetch_klines, chunk_days=30, description="hourly last-price klines"),
    "klines_1m": DatasetSpec(
        "klines_1m",
        fetch_klines_1m,
        chunk_days=10,  # 14,400 minutes: 15 pages of 1,000
        description="1-minute mark-price klines (mark-price-kline), newest first, 1,000 per page",
    ),
    "system_status": DatasetSpec(
        "system_status",
        fetch_system_status,
        snapshot=True,
        assets=ASSETS[:1],  # venue-wide: one stand-in asset, so the ingest calls the fetch once
        may_be_empty=True,  # no announcement is the usual answer
        description="GET /v5/system/status: maintenance and incident announcements (every state) with their "
        "windows, one snapshot per run. A snapshot: its history starts when recording starts",
    ),
    "insurance_funds": DatasetSpec(
        "insurance_funds",
        fetch_insurance_funds,
        snapshot=True,
        description="the USDT insurance pools of each asset's symbol; the current balance only, so history "
        "starts when recording starts",
    ),
}

__all__ = ["DATASETS", "VENUE", "make_http"]
