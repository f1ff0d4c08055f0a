"""Farside Investors' US spot-ETF flow pages (BTC, ETH, SOL): HTML tables in US$m, scraped and parsed.

Each page holds the whole history, one row per US trading day and one column per fund, so a fetch downloads the
page once and keeps the rows of its window; `chunk_days` is large so a backfill asks a few times, not daily.
Farside sits behind Cloudflare: server-side clients often get a 403 or a "Just a moment..." challenge. That is
a refusal, not an outage, so it is not retried; the error says how to load the table through the CSV drop
folder instead (pipelines/etf_import.py). Requests carry browser-like headers, which is what usually works.

The newest rows can still be filling in (a '-' where a fund has not reported, a partial Total), so re-fetching
the last ~5 trading days replaces them with the complete figures; partitions are rewritten whole, never doubled.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import pyarrow as pa

from pipelines.lib import etf_tickers
from pipelines.lib.farside import FlowTable, parse_page
from pipelines.lib.timeutil import day_start_ms
from pipelines.lib.us_market_calendar import is_trading_day
from pipelines.venues.base import DatasetSpec, raw_json, to_table
from pipelines.venues.http import RetryableError, VenueError, VenueHttp, WeightLimiter

VENUE = "farside"
DATASET = "etf_flows"
PAGES = {
    "BTC": "/bitcoin-etf-flow-all-data/",
    "ETH": "/ethereum-etf-flow-all-data/",
    "SOL": "/sol/",
}
UNDERLYINGS = tuple(PAGES)
DROP_FOLDER_HINT = (
    "load the table by hand instead: save it as a Farside-format CSV (Date, one column per ticker, Total) in "
    "$LEVWATCH_HOME/drop/etf_flows/<BTC|ETH|SOL>/ and materialize raw/farside/etf_flows_csv (README: 'ETF flows')"
)
CHALLENGE_MARKERS = ("just a moment", "cloudflare", "cf-chl", "challenge-platform", "attention required")
BROWSER_HEADERS = {
    "User-Agent": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0 Safari/537.36"
    ),
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "en-GB,en;q=0.9",
}
# Nothing is published about limits: a page every two seconds at most is polite, and a backfill needs few.
LIMITER_CAPACITY = 5
RATE_WINDOW_S = 10.0


class FarsideRefusedError(VenueError):
    """The site refused to serve the page (bot protection); retrying from the same place will not help."""


def refusal(response: httpx.Response) -> str | None:
    """Why the response is a bot-protection refusal, or None: a 403, or a challenge page instead of the table."""
    text = response.text.lower()
    challenge = any(marker in text for marker in CHALLENGE_MARKERS) and "<table" not in text
    if response.status_code == 403 or challenge:
        return (
            f"the site refused the request (HTTP {response.status_code}: bot protection"
            + (", a Cloudflare challenge page" if challenge else "")
            + f"); {DROP_FOLDER_HINT}"
        )
    return None


class FarsideHttp(VenueHttp):
    """VenueHttp for HTML pages: same retries, limiter and api_health rows; the body is returned as text."""

    def __init__(self, base_url: str, **kwargs):
        super().__init__(VENUE, base_url, ban_statuses=(), **kwargs)
        self._client.headers.update(BROWSER_HEADERS)

    def get_text(self, path: str) -> str:
        return self._request("GET", path, params=None, body=None, weight=1)

    def _handle(self, response: httpx.Response, endpoint: str, key) -> Any:
        status = response.status_code
        reason = refusal(response)
        if reason:
            raise FarsideRefusedError(VENUE, endpoint, reason, status=status)
        if status == 429:
            retry_after = response.headers.get("retry-after")
            raise RetryableError(
                "rate limited (HTTP 429)",
                retry_after_s=float(retry_after) if retry_after and retry_after.isdigit() else None,
                status=429,
            )
        if status >= 500:
            raise RetryableError(f"server error (HTTP {status})", status=status)
        if status >= 400:
            raise VenueError(VENUE, endpoint, " ".join(response.text.split())[:300], status=status)
        return response.text


def make_http(base_url: str, **kwargs) -> FarsideHttp:
    kwargs.setdefault("limiter", WeightLimiter(LIMITER_CAPACITY, RATE_WINDOW_S))
    return FarsideHttp(base_url, **kwargs)


def lake_rows(table: FlowTable, underlying: str, source: str, origin: dict[str, Any]) -> list[dict]:
    """One lake row per fund and day: US$m -> US$, '-' stays None; raw keeps the cell and the page's Total."""
    rows = []
    for row in table.rows:
        for ticker, flow in row.flows.items():
            rows.append(
                {
                    "venue": VENUE,
                    "asset": underlying,
                    "symbol": ticker,
                    "ts": day_start_ms(row.day),
                    # whole dollars: US$m with one decimal, without float residue (95.1 * 1e6)
                    "flow_usd": None if flow is None else float(round(flow * 1_000_000)),
                    "issuer": etf_tickers.issuer(underlying, ticker),
                    "source": source,
                    "raw": raw_json(
                        {
                            **origin,
                            "line": row.line,
                            "date": row.day.isoformat(),
                            "cell": row.cells.get(ticker),
                            "total_usd_m": row.total,
                        }
                    ),
                }
            )
    return rows


def fetch_etf_flows(http: VenueHttp, asset: str, start_ms: int, end_ms: int) -> pa.Table:
    if asset not in PAGES:
        raise ValueError(f"farside has no ETF page for {asset!r}; pages: {', '.join(PAGES)}")
    if not isinstance(http, FarsideHttp):
        raise TypeError("fetch_etf_flows needs the client from pipelines.venues.farside.make_http")
    path = PAGES[asset]
    table = parse_page(http.get_text(path), asset)
    rows = [r for r in lake_rows(table, asset, "html", {"page": path}) if start_ms <= r["ts"] < end_ms]
    return to_table(DATASET, rows)


def expects_rows_on(asset: str, day: date) -> bool:
    """ETF flows exist on US trading days from the underlying's first ETF on; weekends and holidays have none."""
    return day >= etf_tickers.launch(asset) and is_trading_day(day)


DATASETS = {
    DATASET: DatasetSpec(
        name=DATASET,
        fetch=fetch_etf_flows,
        chunk_days=366,  # each page holds the whole history: one download serves a year of partitions
        assets=UNDERLYINGS,
        expects_rows_on=expects_rows_on,
        description=(
            "US spot-ETF daily net flows per fund (BTC, ETH, SOL) from Farside's HTML tables, in US$. "
            "Rows on US trading days only; '-' (no reading) is kept as null, never 0."
        ),
    )
}
