"""CoinGlass API v4 (keyed): aggregated liquidation history per coin across Binance, OKX and Bybit ('All'), and per
exchange (those three and Hyperliquid, whose public API has no liquidation feed), hourly and daily.

Every request carries the key in the `CG-API-KEY` header; a missing or bad key is HTTP 401 (or, to be safe, an
envelope with code "401"). The envelope is {"code": "0", "msg": "success", "data": [...]}; `data` rows are
{time (ms), aggregated_long_liquidation_usd, aggregated_short_liquidation_usd} with JSON numbers.

The key is a secret: it is sent only as a header and is redacted from every error text and api_health row this
module produces. Exceptions raised here carry no chained cause, because httpx keeps the request, headers
included, on its own exceptions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from pipelines.lib.clock import WALL_CLOCK, Clock
from pipelines.lib.numbers import PayloadError, require, to_float, to_int
from pipelines.venues.base import DatasetSpec, raw_json, to_table
from pipelines.venues.http import RetryableError, VenueError, VenueHttp, WeightLimiter

VENUE = "coinglass"
KEY_HEADER = "CG-API-KEY"
KEY_ENV = "COINGLASS_API_KEY"
PATH = "/api/futures/liquidation/aggregated-history"
EXCHANGES = ("Binance", "OKX", "Bybit")  # what 'All' sums: the venues whose own feeds the estimates complete
# Per-exchange series: EXCHANGES, plus Hyperliquid, which no public feed of ours covers; All + Hyperliquid is the
# market-wide figure (Hyperliquid in CoinGlass's exchange_list is UNCONFIRMED for the live API)
SERIES_EXCHANGES = (*EXCHANGES, "Hyperliquid")
AGGREGATE_EXCHANGE = "All"  # the lake's name for the sum over EXCHANGES
INTERVALS = ("1h", "1d")
PAGE_LIMIT = 1000  # documented maximum
REDACTED = "[redacted]"

# Per-plan request budgets are not published (Hobbyist is said to be about 30/min, UNCONFIRMED): stay under it.
LIMITER_CAPACITY = 25
RATE_WINDOW_S = 60.0


class CoinGlassKeyRejected(RuntimeError):
    """CoinGlass refused the API key (HTTP 401): a configuration problem, never retried."""


class CoinGlassError(RuntimeError):
    """Any other CoinGlass failure, with the key redacted from its text."""


def redact(text: str, secret: str | None) -> str:
    return text.replace(secret, REDACTED) if secret else text


class _KeyHeader(httpx.BaseTransport):
    """Adds the key to each request at the transport, so it never sits in the client's default headers."""

    def __init__(self, api_key: str, inner: httpx.BaseTransport | None = None):
        self._api_key = api_key
        self._inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.headers[KEY_HEADER] = self._api_key
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


class CoinGlassHttp(VenueHttp):
    """VenueHttp whose api_health rows never hold the key, even if a server echoes it in an error body."""

    def __init__(self, base_url: str, api_key: str, **kwargs):
        if not api_key:
            raise CoinGlassKeyRejected(f"no CoinGlass API key: set {KEY_ENV}")
        self.api_key = api_key
        transport = _KeyHeader(api_key, kwargs.pop("transport", None))
        super().__init__(VENUE, base_url, transport=transport, **kwargs)

    def __repr__(self) -> str:
        return f"CoinGlassHttp({self.base_url!r}, api_key={REDACTED})"

    def _record(self, endpoint, method, started_wall, started, status, attempt, error) -> None:
        super()._record(
            endpoint,
            method,
            started_wall,
            started,
            status,
            attempt,
            redact(error, self.api_key) if error else error,
        )


def error_check(response: httpx.Response, payload: Any) -> None:
    """401 (status or envelope) -> key rejected; 429 -> retry; any other non-"0" code -> VenueError."""
    code = str(payload.get("code")) if isinstance(payload, dict) and "code" in payload else None
    if response.status_code == 401 or code == "401":
        raise VenueError(VENUE, response.request.url.path, "API key rejected", status=401, code=code)
    if code == "429":
        raise RetryableError("rate limited (code 429)", status=429)
    if code is not None and code != "0":
        message = str(payload.get("msg") or "error without a message")
        raise VenueError(VENUE, response.request.url.path, message, status=response.status_code, code=code)


def make_http(
    base_url: str,
    api_key: str,
    *,
    clock: Clock = WALL_CLOCK,
    sleep: Callable[[float], None] = time.sleep,
    **kwargs,
) -> CoinGlassHttp:
    """The keyed client. `clock` stamps its api_health and runs its per-minute limiter, `sleep` is how the limiter
    (and retry) waits: a test can run the pacing on a replayed clock and assert it without waiting out real
    minutes."""
    kwargs.setdefault("limiter", WeightLimiter(LIMITER_CAPACITY, RATE_WINDOW_S, clock=clock, sleep=sleep))
    kwargs.setdefault("rate_limit_default_s", RATE_WINDOW_S)  # per-minute budgets: a 429 waits out the minute
    return CoinGlassHttp(base_url, api_key, error_check=error_check, clock=clock, sleep=sleep, **kwargs)


# -- parser -------------------------------------------------------------------------------------------------------


def parse_aggregated_history(
    payload: Any, asset: str, interval: str, exchange: str = AGGREGATE_EXCHANGE
) -> list[dict]:
    if not isinstance(payload, dict):
        raise PayloadError(
            f"coinglass aggregated-history: expected an envelope object, got {type(payload).__name__}"
        )
    code = require(payload, "code", "coinglass aggregated-history")
    if str(code) != "0":
        raise PayloadError(
            f"coinglass aggregated-history: error envelope code {code!r}: {payload.get('msg')!r}"
        )
    data = require(payload, "data", "coinglass aggregated-history")
    if not isinstance(data, list):
        raise PayloadError(
            f"coinglass aggregated-history: expected `data` to be a list, got {type(data).__name__}"
        )
    rows = []
    for i, rec in enumerate(data):
        where = f"coinglass aggregated-history[{i}]"
        rows.append(
            {
                "venue": VENUE,
                "asset": asset,
                "exchange": exchange,
                "interval": interval,
                "ts": to_int(require(rec, "time", where), "time"),
                "long_usd": to_float(
                    rec.get("aggregated_long_liquidation_usd"), "aggregated_long_liquidation_usd"
                ),
                "short_usd": to_float(
                    rec.get("aggregated_short_liquidation_usd"), "aggregated_short_liquidation_usd"
                ),
                "raw": raw_json(rec),
            }
        )
    return rows


# -- fetcher ------------------------------------------------------------------------------------------------------


def _fetch_interval(
    http: VenueHttp, asset: str, interval: str, start: int, end: int, exchange: str = AGGREGATE_EXCHANGE
) -> list[dict]:
    """Bars of `interval` opening in [start, end), ascending pages of up to PAGE_LIMIT from `start` on.

    `exchange` is one of SERIES_EXCHANGES, or AGGREGATE_EXCHANGE for the sum over EXCHANGES."""
    exchanges = EXCHANGES if exchange == AGGREGATE_EXCHANGE else (exchange,)
    rows: dict[int, dict] = {}
    cursor = start
    while cursor < end:
        params = {
            "exchange_list": ",".join(exchanges),
            "symbol": asset,
            "interval": interval,
            "start_time": str(cursor),
            "end_time": str(end - 1),  # inclusive or not is UNCONFIRMED: ask for the last ms of the window
            "limit": str(PAGE_LIMIT),
        }
        page = parse_aggregated_history(http.get_json(PATH, params), asset, interval, exchange)
        fresh = [r for r in page if cursor <= r["ts"] < end]
        rows.update((r["ts"], r) for r in fresh)
        if len(page) < PAGE_LIMIT or not fresh:
            break
        cursor = max(r["ts"] for r in fresh) + 1
    return [rows[t] for t in sorted(rows)]


def fetch_liquidation_aggregates(http: VenueHttp, asset: str, start: int, end: int):
    """Hourly and daily long/short liquidation USD of `asset`, by exchange (SERIES_EXCHANGES) and summed over
    EXCHANGES ('All'), bars opening in [start, end). Per-exchange figures are the complete reference for sampled
    venues, and Hyperliquid's the only one for that venue."""
    key = getattr(http, "api_key", None)
    try:
        rows = [
            r
            for exchange in (AGGREGATE_EXCHANGE, *SERIES_EXCHANGES)
            for interval in INTERVALS
            for r in _fetch_interval(http, asset, interval, start, end, exchange)
        ]
    except VenueError as exc:
        if exc.status == 401:
            raise CoinGlassKeyRejected(
                f"CoinGlass rejected the API key (HTTP 401): check {KEY_ENV}; the key is not shown"
            ) from None
        raise CoinGlassError(redact(str(exc), key)) from None
    except (RetryableError, PayloadError, httpx.HTTPError) as exc:
        raise CoinGlassError(redact(f"{type(exc).__name__}: {exc}", key)) from None
    return to_table("liquidation_aggregates", rows)


DATASET = DatasetSpec(
    "liquidation_aggregates",
    fetch_liquidation_aggregates,
    chunk_days=30,
    description="CoinGlass aggregated liquidations (USD, long and short) by exchange (Binance, OKX, Bybit, "
    "Hyperliquid) and over Binance, OKX and Bybit ('All'), 1h and 1d; "
    "history depth depends on the key's plan",
)
DATASETS = {"liquidation_aggregates": DATASET}

__all__ = ["DATASET", "DATASETS", "VENUE", "CoinGlassKeyRejected", "make_http"]
