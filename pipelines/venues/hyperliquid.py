"""Hyperliquid perpetuals: hourly funding, hourly and 1-minute candles and the current asset contexts.

Every read is `POST /info` with a JSON body whose `type` names the query. Time-range queries return at most
500 rows, oldest first, and take both bounds inclusively.
"""

from __future__ import annotations

import json
from typing import Any

from pipelines.instruments import venue_symbol
from pipelines.lib.numbers import PayloadError, require, to_float, to_int
from pipelines.lib.timeutil import DAY_MS, HOUR_MS, MINUTE_MS, floor_hour_ms
from pipelines.venues.base import DatasetSpec, raw_json, to_table
from pipelines.venues.http import VenueError, VenueHttp, WeightLimiter

VENUE = "hyperliquid"
INFO_PATH = "/info"
KLINE_INTERVAL = "1h"
MINUTE_INTERVAL = "1m"
CANDLES_KEPT = 5000  # candleSnapshot serves only the latest 5,000 candles of each interval
# Funding settled every 8 hours until this hour, hourly from it on (the SDK's 2023 recording shows the switch).
HOURLY_FUNDING_FROM_MS = 1686186000000  # 2023-06-08T01:00Z

BASE_INFO_WEIGHT = 20
FUNDING_ITEMS_PER_WEIGHT = 20  # fundingHistory costs one more weight per 20 rows returned
CANDLE_ITEMS_PER_WEIGHT = 60  # candleSnapshot: one more per 60 candles
PAGE_ROWS = 500  # the documented cap for time-range queries; only used to estimate weight


def error_check(response, payload: Any) -> None:
    """Hyperliquid answers most refusals with a JSON `null` body; the exchange envelope is {"status": "err"}."""
    endpoint = response.request.url.path
    if payload is None and response.status_code >= 400:
        raise VenueError(
            VENUE, endpoint, "request refused with an empty (null) body", status=response.status_code
        )
    if isinstance(payload, dict) and payload.get("status") == "err":
        raise VenueError(VENUE, endpoint, str(payload.get("response")), status=response.status_code)


def make_http(base_url: str, **kwargs) -> VenueHttp:
    kwargs.setdefault(
        "limiter", WeightLimiter(1080, 60)
    )  # 1200 weight/min per IP: 90%, headroom for bunching
    # No documented ban status: a 403 is the edge refusing this IP, so stop instead of hammering it.
    return VenueHttp(
        VENUE, base_url, ban_statuses=(403,), error_check=error_check, response_check=response_check, **kwargs
    )


# -- parsers: payload -> rows in the lake schema (pure, tested against recorded payloads) --------------------


def funding_interval_hours(funding_time_ms: int) -> float:
    return 1.0 if funding_time_ms >= HOURLY_FUNDING_FROM_MS else 8.0


def parse_funding(payload: Any, asset: str) -> list[dict]:
    if not isinstance(payload, list):
        raise PayloadError(f"hyperliquid fundingHistory: expected a list, got {type(payload).__name__}")
    rows = []
    for i, rec in enumerate(payload):
        where = f"hyperliquid fundingHistory[{i}]"
        # settlement times carry jitter of milliseconds up to minutes (08:23:53.040 once): bucket to the hour
        funding_time = floor_hour_ms(to_int(require(rec, "time", where), f"{where}.time"))
        rows.append(
            {
                "venue": VENUE,
                "asset": asset,
                "symbol": require(rec, "coin", where),
                "funding_time": funding_time,
                "funding_rate": to_float(require(rec, "fundingRate", where), f"{where}.fundingRate"),
                "funding_interval_hours": funding_interval_hours(funding_time),
                "mark_price": None,  # fundingHistory carries no price
                "raw": raw_json(rec),
            }
        )
    return rows


def parse_candles(payload: Any, asset: str) -> list[dict]:
    if not isinstance(payload, list):
        raise PayloadError(f"hyperliquid candleSnapshot: expected a list, got {type(payload).__name__}")
    rows = []
    for i, rec in enumerate(payload):
        where = f"hyperliquid candleSnapshot[{i}]"
        rows.append(
            {
                "venue": VENUE,
                "asset": asset,
                "symbol": require(rec, "s", where),
                "price_type": "last",
                "interval": require(rec, "i", where),
                "open_time": to_int(require(rec, "t", where), f"{where}.t"),
                "open": _required_number(rec, "o", where),
                "high": _required_number(rec, "h", where),
                "low": _required_number(rec, "l", where),
                "close": _required_number(rec, "c", where),
                "volume_coin": to_float(require(rec, "v", where), f"{where}.v"),
                "volume_usd": None,  # candles carry base volume only
                "trades": to_int(require(rec, "n", where), f"{where}.n"),
                "raw": raw_json(rec),
            }
        )
    return rows


def parse_candles_1m(payload: Any, asset: str) -> list[dict]:
    """candleSnapshot at 1m: traded-price candles (Hyperliquid has no mark-price candles), so price_type last.
    The rows keep the hourly parser's extra columns; the klines_1m table takes only its own."""
    rows = parse_candles(payload, asset)
    for r in rows:
        if r["interval"] != MINUTE_INTERVAL:
            raise PayloadError(
                f"hyperliquid candleSnapshot: expected {MINUTE_INTERVAL} candles, got {r['interval']!r}"
            )
    return rows


def parse_asset_contexts(payload: Any, asset: str, coin: str, ts_ms: int) -> list[dict]:
    """metaAndAssetCtxs: [{"universe": [...]}, [ctx...]], where ctx[i] describes universe[i]."""
    where = "hyperliquid metaAndAssetCtxs"
    if not isinstance(payload, list) or len(payload) != 2:
        raise PayloadError(f"{where}: expected [meta, contexts], got {raw_json(payload)[:200]}")
    meta, contexts = payload
    universe = require(meta, "universe", f"{where}[0]")
    if not isinstance(universe, list) or not isinstance(contexts, list):
        raise PayloadError(f"{where}: expected lists for universe and contexts")
    if len(universe) != len(contexts):
        raise PayloadError(f"{where}: {len(universe)} universe entries but {len(contexts)} contexts")
    names = [require(entry, "name", f"{where}.universe[{i}]") for i, entry in enumerate(universe)]
    if coin not in names:
        raise PayloadError(f"{where}: coin {coin!r} is not in the universe ({len(names)} coins listed)")
    i = names.index(coin)
    ctx, ctx_where = contexts[i], f"{where} contexts[{i}] ({coin})"
    return [
        {
            "venue": VENUE,
            "asset": asset,
            "symbol": coin,
            "ts": ts_ms,
            "funding_rate": to_float(require(ctx, "funding", ctx_where), "funding"),
            "oi_coin": to_float(require(ctx, "openInterest", ctx_where), "openInterest"),
            "mark_price": to_float(require(ctx, "markPx", ctx_where), "markPx"),
            "oracle_price": to_float(require(ctx, "oraclePx", ctx_where), "oraclePx"),
            "mid_price": to_float(
                require(ctx, "midPx", ctx_where), "midPx"
            ),  # null when the book is one-sided
            "premium": to_float(require(ctx, "premium", ctx_where), "premium"),
            "day_notional_volume_usd": to_float(require(ctx, "dayNtlVlm", ctx_where), "dayNtlVlm"),
            "raw": raw_json({"universe": universe[i], "ctx": ctx}),  # the pair, so raw keeps the coin's name
        }
    ]


def _required_number(rec: dict, key: str, where: str) -> float:
    value = to_float(require(rec, key, where), f"{where}.{key}")
    if value is None:
        raise PayloadError(f"{where}: field {key!r} is empty")
    return value


# -- fetchers: one UTC day [start, end) each -----------------------------------------------------------------


def _info(http: VenueHttp, body: dict, *, weight: int) -> Any:
    return http.post_json(INFO_PATH, body, weight=weight)


def response_check(response) -> None:
    """HTTP 500 with a `null` body is how Hyperliquid answers a coin it does not list: fail at once, plainly."""
    if response.status_code != 500 or response.text.strip() != "null":
        return
    try:
        body = json.loads(response.request.content or b"{}")
    except ValueError:
        return
    coin = _coin_of(body) if isinstance(body, dict) else None
    if coin:
        raise VenueError(
            VENUE,
            INFO_PATH,
            f"{body.get('type')} refused coin {coin!r} (HTTP 500, null body): the venue does not list it",
            status=500,
        )


def _coin_of(body: dict) -> str | None:
    return body.get("coin") or body.get("req", {}).get("coin")


def _estimated_weight(start: int, end: int, items_per_weight: int, row_ms: int = HOUR_MS) -> int:
    rows = min(max((end - start) // row_ms, 1), PAGE_ROWS)
    return BASE_INFO_WEIGHT + rows // items_per_weight


def _paginate(
    http: VenueHttp,
    request_of,
    start: int,
    end: int,
    next_start_of,
    *,
    items_per_weight: int,
    row_ms: int = HOUR_MS,
) -> list:
    """Ascending pages over [start, end - 1] (inclusive bounds); the next page starts just after the last row."""
    out, cursor = [], start
    while cursor < end:
        body = request_of(cursor, end - 1)
        page = _info(http, body, weight=_estimated_weight(cursor, end, items_per_weight, row_ms))
        if not isinstance(page, list):
            raise PayloadError(f"hyperliquid {body['type']}: expected a list, got {raw_json(page)[:200]}")
        if not page:
            break
        out.extend(page)
        next_cursor = next_start_of(page[-1])
        if next_cursor <= cursor:
            raise PayloadError(f"hyperliquid {body['type']}: pagination did not advance past {cursor}")
        cursor = next_cursor
    return out


def fetch_funding_rates(http: VenueHttp, asset: str, start: int, end: int):
    coin = venue_symbol(VENUE, asset)
    raw = _paginate(
        http,
        lambda lo, hi: {"type": "fundingHistory", "coin": coin, "startTime": lo, "endTime": hi},
        start,
        end,
        lambda rec: to_int(require(rec, "time", "fundingHistory"), "time") + 1,
        items_per_weight=FUNDING_ITEMS_PER_WEIGHT,
    )
    rows = {r["funding_time"]: r for r in parse_funding(raw, asset) if start <= r["funding_time"] < end}
    return to_table("funding_rates", rows.values())


def fetch_klines(http: VenueHttp, asset: str, start: int, end: int):
    coin = venue_symbol(VENUE, asset)
    # candleSnapshot returns every candle overlapping the range, so page from just after the last close time
    raw = _paginate(
        http,
        lambda lo, hi: {
            "type": "candleSnapshot",
            "req": {"coin": coin, "interval": KLINE_INTERVAL, "startTime": lo, "endTime": hi},
        },
        start,
        end,
        lambda rec: to_int(require(rec, "T", "candleSnapshot"), "T") + 1,
        items_per_weight=CANDLE_ITEMS_PER_WEIGHT,
    )
    rows = {r["open_time"]: r for r in parse_candles(raw, asset) if start <= r["open_time"] < end}
    return to_table("klines", rows.values())


def fetch_klines_1m(http: VenueHttp, asset: str, start: int, end: int):
    coin = venue_symbol(VENUE, asset)
    raw = _paginate(
        http,
        lambda lo, hi: {
            "type": "candleSnapshot",
            "req": {"coin": coin, "interval": MINUTE_INTERVAL, "startTime": lo, "endTime": hi},
        },
        start,
        end,
        lambda rec: to_int(require(rec, "T", "candleSnapshot"), "T") + 1,
        items_per_weight=CANDLE_ITEMS_PER_WEIGHT,
        row_ms=MINUTE_MS,
    )
    rows = {r["open_time"]: r for r in parse_candles_1m(raw, asset) if start <= r["open_time"] < end}
    return to_table("klines_1m", rows.values())


def fetch_asset_contexts(http: VenueHttp, asset: str, start: int, end: int, *, now_ms: int | None = None):
    coin = venue_symbol(VENUE, asset)
    # ingest caps a snapshot day's window at its "now" (end = now + 1 ms), so the last hour of the window is now's
    snapshot_ts = floor_hour_ms(end - 1 if now_ms is None else now_ms)
    if not start <= snapshot_ts < end:
        return to_table("asset_contexts", [])  # a past or future day: a snapshot cannot be recorded for it
    payload = _info(http, {"type": "metaAndAssetCtxs"}, weight=BASE_INFO_WEIGHT)
    return to_table("asset_contexts", parse_asset_contexts(payload, asset, coin, snapshot_ts))


DATASETS = {
    "funding_rates": DatasetSpec(
        "funding_rates",
        fetch_funding_rates,
        chunk_days=20,  # 500 hourly rows per page
        description="hourly funding (8-hourly before 2023-06-08) since listing; times floored to the hour",
    ),
    "klines": DatasetSpec(
        "klines",
        fetch_klines,
        retention_days=208,
        chunk_days=20,
        description="hourly last-price candles; only the latest 5000 candles (~208 days) are served",
    ),
    "klines_1m": DatasetSpec(
        "klines_1m",
        fetch_klines_1m,
        # 5,000 minutes is 3.47 days: whole days within 3 are served, older ones are written empty
        retention_days=CANDLES_KEPT * MINUTE_MS // DAY_MS,
        # a re-run of a day partly past the 5,000-minute horizon must not erase the minutes recorded earlier
        accumulate=True,
        chunk_days=4,
        description="1-minute traded-price candles (candleSnapshot; no mark candles exist); only the latest 5,000 "
        "minutes are served, so the history starts when recording starts",
    ),
    "asset_contexts": DatasetSpec(
        "asset_contexts",
        fetch_asset_contexts,
        snapshot=True,
        description="metaAndAssetCtxs snapshot (hourly funding, OI in coin, mark/oracle/mid, premium, 24h volume). "
        "ts is the start of the hour of the window's end (ingest ends a snapshot day's window at now); "
        "a window that does not contain it returns no rows without calling the venue",
    ),
}

__all__ = ["DATASETS", "VENUE", "make_http"]
