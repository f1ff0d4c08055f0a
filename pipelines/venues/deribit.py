"""Deribit: option book summaries (a snapshot: only "now" can be recorded) and perpetual funding history.

JSON-RPC 2.0 over GET: `/api/v2/public/<method>?params`. A success is {"jsonrpc": "2.0", "result": ...}; an error
is {"jsonrpc": "2.0", "error": {"code": int, "message": str, "data"?: {...}}}. Code 10028 (too_many_requests) is
a rate limit and is retried; every other code is a VenueError naming the code. The HTTP status of errors is
UNCONFIRMED, so the envelope is read whatever the status. Numbers are JSON numbers, missing values `null`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pipelines.lib.freshness import MaxAge
from pipelines.lib.numbers import PayloadError, require, to_float, to_int
from pipelines.lib.option_names import OptionNameError, parse_option_name
from pipelines.lib.timeutil import DAY_MS, floor_hour_ms
from pipelines.lib.venue_status import LOCK, codes_text, deribit_locked
from pipelines.venues.base import DatasetSpec, raw_json, to_table
from pipelines.venues.http import RetryableError, VenueError, VenueHttp, WeightLimiter

VENUE = "deribit"
API = "/api/v2/public"
BOOK_SUMMARY_PATH = f"{API}/get_book_summary_by_currency"
FUNDING_HISTORY_PATH = f"{API}/get_funding_rate_history"
STATUS_PATH = f"{API}/status"

TOO_MANY_REQUESTS = 10028
# Public calls draw 500 credits from a 50,000 pool refilled at 10,000/s: about 20 requests a second, burst 100.
# The client keeps to half of that.
LIMITER_CAPACITY, RATE_WINDOW_S = 10, 1.0
FUNDING_WINDOW_MS = 30 * DAY_MS  # the longest span per call is UNCONFIRMED; 30 days is what we ask for

# The perpetuals whose funding we read; Deribit lists inverse perpetuals for BTC and ETH only.
PERPETUALS = {"BTC": "BTC-PERPETUAL", "ETH": "ETH-PERPETUAL"}
OPTION_CURRENCIES = ("BTC", "ETH")


def error_check(response, payload: Any) -> None:
    if not isinstance(payload, dict) or "error" not in payload:
        return
    error = payload["error"] if isinstance(payload["error"], dict) else {}
    code, message = error.get("code"), str(error.get("message") or "error without a message")
    data = error.get("data")
    detail = f"{message} ({raw_json(data)})" if data else message
    if code == TOO_MANY_REQUESTS:
        raise RetryableError(
            f"rate limited (code {code}): {detail}", retry_after_s=RATE_WINDOW_S, status=response.status_code
        )
    query = dict(response.request.url.params)
    raise VenueError(
        VENUE, response.request.url.path, f"{detail}; params {query}", status=response.status_code, code=code
    )


def make_http(base_url: str, **kwargs) -> VenueHttp:
    kwargs.setdefault("limiter", WeightLimiter(LIMITER_CAPACITY, RATE_WINDOW_S))
    kwargs.setdefault("rate_limit_default_s", RATE_WINDOW_S)  # the credit pool refills within a second
    return VenueHttp(VENUE, base_url, error_check=error_check, **kwargs)


# -- parsers: payload -> rows in the lake schema (pure, tested against the recorded payload) -----------------


def unwrap(payload: Any, method: str) -> Any:
    where = f"deribit {method}"
    if not isinstance(payload, dict):
        raise PayloadError(f"{where}: expected a JSON-RPC envelope object, got {type(payload).__name__}")
    if "error" in payload:
        raise PayloadError(f"{where}: error envelope {raw_json(payload['error'])}")
    return require(payload, "result", where)


def parse_book_summary(payload: Any, ts_ms: int) -> list[dict]:
    """One row per option; an instrument name that does not parse fails the whole snapshot, naming the row."""
    result = unwrap(payload, "get_book_summary_by_currency")
    if not isinstance(result, list):
        raise PayloadError(
            f"deribit get_book_summary_by_currency: expected `result` to be a list, got {type(result).__name__}"
        )
    rows = []
    for i, rec in enumerate(result):
        where = f"deribit get_book_summary_by_currency result[{i}]"
        name = require(rec, "instrument_name", where)
        try:
            option = parse_option_name(name)
        except OptionNameError as exc:
            raise PayloadError(f"{where}: {exc}") from None
        rows.append(
            {
                "venue": VENUE,
                "asset": option.underlying,
                "symbol": name,
                "ts": ts_ms,
                "expiry": option.expiry_ms,
                "strike": option.strike,
                "option_type": option.option_type,
                "open_interest_coin": to_float(
                    require(rec, "open_interest", where), f"{where}.open_interest"
                ),
                "mark_price": to_float(require(rec, "mark_price", where), f"{where}.mark_price"),
                "mark_iv": to_float(require(rec, "mark_iv", where), f"{where}.mark_iv"),
                "underlying_price": to_float(
                    require(rec, "underlying_price", where), f"{where}.underlying_price"
                ),
                "volume": to_float(require(rec, "volume", where), f"{where}.volume"),
                "raw": raw_json(rec),
            }
        )
    return rows


def parse_funding_history(payload: Any, asset: str, instrument: str) -> list[dict]:
    """Hourly rows; interest_1h is the funding accrued over the hour ending at `timestamp`."""
    result = unwrap(payload, "get_funding_rate_history")
    if not isinstance(result, list):
        raise PayloadError(
            f"deribit get_funding_rate_history: expected `result` to be a list, got {type(result).__name__}"
        )
    rows = []
    for i, rec in enumerate(result):
        where = f"deribit get_funding_rate_history[{i}]"
        rate = to_float(require(rec, "interest_1h", where), f"{where}.interest_1h")
        if rate is None:
            raise PayloadError(f"{where}: interest_1h is empty")
        rows.append(
            {
                "venue": VENUE,
                "asset": asset,
                "symbol": instrument,
                "funding_time": floor_hour_ms(to_int(require(rec, "timestamp", where), f"{where}.timestamp")),
                "funding_rate": rate,
                "funding_interval_hours": 1.0,
                "mark_price": None,  # the history carries the index price, not the mark (kept in raw)
                "raw": raw_json(rec),
            }
        )
    return rows


# -- fetchers: [start, end) windows ---------------------------------------------------------------------------


def fetch_options_snapshots(http: VenueHttp, asset: str, start: int, end: int, *, now_ms: int | None = None):
    # ingest ends a snapshot day's window at now + 1 ms, so the window's last hour is the snapshot's hour
    snapshot_ts = floor_hour_ms(end - 1 if now_ms is None else now_ms)
    if not start <= snapshot_ts < end:
        return to_table("options_snapshots", [])  # a past or future day: a snapshot cannot be recorded for it
    payload = http.get_json(BOOK_SUMMARY_PATH, {"currency": asset, "kind": "option"})
    return to_table("options_snapshots", parse_book_summary(payload, snapshot_ts))


def fetch_funding_rates(http: VenueHttp, asset: str, start: int, end: int):
    try:
        instrument = PERPETUALS[asset.upper()]
    except KeyError:
        raise VenueError(VENUE, FUNDING_HISTORY_PATH, f"no perpetual listed for {asset!r}") from None
    rows: dict[int, dict] = {}
    for lo in range(start, end, FUNDING_WINDOW_MS):
        hi = min(lo + FUNDING_WINDOW_MS, end) - 1  # both bounds inclusive
        payload = http.get_json(
            FUNDING_HISTORY_PATH, {"instrument_name": instrument, "start_timestamp": lo, "end_timestamp": hi}
        )
        for row in parse_funding_history(payload, asset, instrument):
            if start <= row["funding_time"] < end:
                rows[row["funding_time"]] = row
    return to_table("funding_rates", [rows[t] for t in sorted(rows)])


def parse_status(payload: Any, ts: int) -> list[dict]:
    """public/status: one `platform_lock` row per snapshot, the all-clear included (so a reading shows the check
    was made). The schema documents `locked` as "true"/"partial"/"false" with `locked_indices`; the doc's own
    example sends a boolean with `locked_currencies`: both parse."""
    result = unwrap(payload, "status")
    if not isinstance(result, dict):
        raise PayloadError(f"deribit status: expected `result` to be an object, got {type(result).__name__}")
    locked = deribit_locked(require(result, "locked", "deribit status result"), "deribit status result")
    which = result.get("locked_indices", result.get("locked_currencies"))
    return [
        {
            "venue": VENUE,
            "event_id": "platform_lock",
            "ts": ts,
            "title": None,
            "state": locked,
            "event_type": LOCK,
            "begin": None,
            "end": None,
            "services": codes_text(which),
            "raw": raw_json(result),
        }
    ]


def fetch_system_status(http: VenueHttp, asset: str, start: int, end: int):
    """A snapshot at the window's end (ingest ends a snapshot day's window at now + 1 ms). `asset` is a stand-in."""
    ts = end - 1
    if not start <= ts < end:
        return to_table("system_status", [])
    return to_table("system_status", parse_status(http.get_json(STATUS_PATH), ts))


DATASETS = {
    "options_snapshots": DatasetSpec(
        "options_snapshots",
        fetch_options_snapshots,
        snapshot=True,
        assets=OPTION_CURRENCIES,
        # the hourly schedule takes one snapshot an hour: two hours without one is news, six an outage
        max_age=MaxAge(error_after=timedelta(hours=6), warn_after=timedelta(hours=2)),
        description="get_book_summary_by_currency kind=option: every listed option's OI (coins), mark price "
        "(in coin), mark IV, underlying price and volume, one snapshot per run. ts is the start of the hour of "
        "the window's end (ingest ends a snapshot day's window at now); past days cannot be recorded after the "
        "fact and are written empty with status not_recordable",
    ),
    "funding_rates": DatasetSpec(
        "funding_rates",
        fetch_funding_rates,
        assets=tuple(PERPETUALS),
        chunk_days=30,
        description="BTC-PERPETUAL and ETH-PERPETUAL funding: get_funding_rate_history's hourly interest_1h",
    ),
    "system_status": DatasetSpec(
        "system_status",
        fetch_system_status,
        snapshot=True,
        assets=OPTION_CURRENCIES[:1],  # venue-wide: one stand-in asset, so the ingest calls the fetch once
        description="public/status: whether the platform is locked (true, partial, false) and which currencies, "
        "one reading per run. A snapshot: its history starts when recording starts",
    ),
}

__all__ = ["DATASETS", "VENUE", "make_http"]
