"""Farside-style ETF flow pages over the simulated market: /bitcoin-etf-flow-all-data/, /ethereum-etf-flow-all-data/
and /sol/, each a `<table class="etf">` in US$m with parenthesised outflows, thousands separators, '-' cells and
Total/Average/Maximum/Minimum footer rows, as on the real site.

The flows are the sandbox's ground truth (`etf_flows`). For every day the published history covers
(pipelines/sandbox/data/etf_flows/, real Farside figures; see its ORIGIN.md), they are the published rows. Outside it
they come from a model over the simulated prices, so that money leaves the funds after sell-offs: on each US
trading day, the underlying's day total is

    base + sensitivity x (trailing 3-day return at the US close, in %) + noise,

split over the funds by fixed shares, with fund-level noise; smaller funds often see no creations or redemptions
(0.0). Noise is seeded by (scenario seed, underlying, day), so every process serves the same numbers. Rows exist
for trading days whose US close (16:00 New York) has passed on the sandbox clock; a fund shows '-' before its
launch (pipelines/lib/etf_tickers.py) and weekday US holidays are all-'-' rows with a 0.0 Total, as Farside shows.

Sandbox choices (not site facts): the page holds the scenario window only; the issuer and fee rows above the
ticker row follow third-party descriptions of some page versions (UNCONFIRMED); the ETH page's Total header cell is
empty, as on the real page. A scripted fault of kind "403" or "503" (POST /_sandbox/faults, venue "farside")
answers with a Cloudflare-like "Just a moment..." challenge page; kind "challenge" does the same with HTTP 200.
"""

from __future__ import annotations

import csv
import functools
import html
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from aiohttp import web

from pipelines.lib import etf_tickers
from pipelines.lib.timeutil import HOUR_MS
from pipelines.lib.us_market_calendar import NYSE_HOLIDAYS, is_trading_day, market_close_utc
from pipelines.sandbox.market import Market
from pipelines.sandbox.serving import STATE_KEY, SandboxState, render_fault, state_of

VENUE = "farside"
PAGES = {
    "/bitcoin-etf-flow-all-data/": ("BTC", "Bitcoin ETF Flow – All Data (US$m)"),
    "/ethereum-etf-flow-all-data/": ("ETH", "Ethereum ETF Flow – All Data (US$m)"),
    "/sol/": ("SOL", "Solana ETF Flow (US$m)"),
}
PAGES_PER_MINUTE = 60  # nothing is published; generous, scaled by the scenario
FLOWS_KEY = web.AppKey("farside_flows", dict)


@dataclass(frozen=True)
class FundModel:
    ticker: str
    share: float  # of the underlying's day total
    idle: float  # probability of a 0.0 day (no creations or redemptions)
    noise_usd_m: float
    bias_usd_m: float = 0.0  # a fund's own drift (GBTC's fees drive steady redemptions)
    fee: str = "0.25%"


@dataclass(frozen=True)
class UnderlyingModel:
    base_usd_m: float  # a flat day's total
    sensitivity_usd_m: float  # per 1% of trailing 3-day return
    noise_usd_m: float
    funds: tuple[FundModel, ...]


MODELS = {
    "BTC": UnderlyingModel(
        60.0,
        45.0,
        90.0,
        (
            FundModel("IBIT", 0.46, 0.10, 25.0, fee="0.25%"),
            FundModel("FBTC", 0.20, 0.15, 15.0),
            FundModel("BITB", 0.06, 0.40, 6.0, fee="0.20%"),
            FundModel("ARKB", 0.08, 0.35, 8.0, fee="0.21%"),
            FundModel("BTCO", 0.02, 0.70, 3.0),
            FundModel("EZBC", 0.02, 0.70, 3.0, fee="0.19%"),
            FundModel("BRRR", 0.01, 0.75, 2.0),
            FundModel("HODL", 0.03, 0.50, 4.0, fee="0.20%"),
            FundModel("BTCW", 0.01, 0.80, 2.0),
            FundModel("GBTC", 0.06, 0.40, 10.0, bias_usd_m=-15.0, fee="1.50%"),
            FundModel("BTC", 0.05, 0.50, 6.0, fee="0.15%"),
        ),
    ),
    "ETH": UnderlyingModel(
        20.0,
        12.0,
        35.0,
        (
            FundModel("ETHA", 0.55, 0.10, 10.0),
            FundModel("FETH", 0.18, 0.20, 6.0),
            FundModel("ETHW", 0.05, 0.50, 3.0, fee="0.20%"),
            FundModel("TETH", 0.02, 0.70, 1.5, fee="0.21%"),
            FundModel("ETHV", 0.03, 0.60, 2.0, fee="0.20%"),
            FundModel("QETH", 0.01, 0.80, 1.0),
            FundModel("EZET", 0.01, 0.80, 1.0, fee="0.19%"),
            FundModel("ETHE", 0.07, 0.40, 5.0, bias_usd_m=-6.0, fee="2.50%"),
            FundModel("ETH", 0.08, 0.40, 4.0, fee="0.15%"),
        ),
    ),
    "SOL": UnderlyingModel(
        8.0,
        1.5,
        6.0,
        (
            FundModel("BSOL", 0.60, 0.10, 3.0, fee="0.20%"),
            FundModel("VSOL", 0.06, 0.60, 0.8, fee="0.30%"),
            FundModel("FSOL", 0.10, 0.50, 1.0),
            FundModel("TSOL", 0.04, 0.70, 0.5, fee="0.21%"),
            FundModel("SOEZ", 0.03, 0.70, 0.5, fee="0.19%"),
            FundModel("MSOL", 0.02, 0.80, 0.5),
            FundModel("GSOL", 0.15, 0.40, 1.5, fee="0.35%"),
        ),
    ),
}
UNDERLYING_INDEX = {asset: i for i, asset in enumerate(MODELS)}
LOOKBACK_DAYS = 3
PUBLISHED_DIR = Path(__file__).parent.parent / "data" / "etf_flows"
PUBLISHED_FILES = {"BTC": "btc_flows.csv", "ETH": "eth_flows.csv"}

Published = dict[date, dict[str, float | None]]


@functools.cache
def published_flows(asset: str) -> Published:
    """The real daily history (US$m per fund) for `asset`, by day; empty where none is bundled.

    The files' quirks: a bogus first row on 1 January 2024 (not a trading day: rows on non-trading days are
    dropped), the total in the last column whatever its header (`COL11` for ETH; the page sums its own), and `0`
    for funds not yet launched (Farside shows '-': None here)."""
    name = PUBLISHED_FILES.get(asset)
    if name is None:
        return {}
    with (PUBLISHED_DIR / name).open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    tickers = rows[0][1:-1]
    history: Published = {}
    for row in rows[1:]:
        day = date.fromisoformat(row[0])
        if not is_trading_day(day):
            continue
        history[day] = {
            ticker: float(value) + 0.0 if day >= etf_tickers.fund(asset, ticker).launched else None
            for ticker, value in zip(tickers, row[1:-1], strict=True)
        }
    return history


def page_tickers(asset: str, published: Published, first: date, last: date) -> list[str]:
    """The model's funds, then any fund only the published history names with a reading in [first, last]: a fund
    launched after the window is not a column of its pages, as on Farside then."""
    tickers = [fm.ticker for fm in MODELS[asset].funds]
    for day, flows in published.items():
        if first <= day <= last:
            tickers += [t for t, v in flows.items() if v is not None and t not in tickers]
    return tickers


def _us_close_prices(market: Market, asset: str) -> dict[int, float]:
    """Hour-end time (ms) -> the underlying's index price then, the mean over the venues."""
    hourly = market.hourly.filter(pc.equal(market.hourly["asset"], asset))
    grouped = hourly.group_by("ts").aggregate([("index_close", "mean")])
    ts = grouped["ts"].cast(pa.int64()).to_numpy()
    return dict(zip((ts + HOUR_MS).tolist(), grouped["index_close_mean"].to_numpy().tolist(), strict=True))


def _price_at(prices: dict[int, float], ms: int, first_ms: int) -> float:
    return prices[max(ms, first_ms)]  # before the simulation starts: its first price


def etf_flows(market: Market, asset: str, published: Published | None = None) -> pa.Table:
    """The ground truth: every fund's flow (US$m, None before its launch) on every US trading day of the window.

    Columns: day (date), ticker, issuer, flow_usd_m, trailing_return_pct. Rows come in page order (day, then
    column). A fund's flow is rounded to 0.1 like Farside's cells; the day's total is the sum of those. Days the
    published history holds (default: the bundled real one) are its rows; the model fills every other day.
    """
    published = published_flows(asset) if published is None else published
    model = MODELS[asset]
    scenario = market.scenario
    tickers = page_tickers(asset, published, scenario.start, scenario.end)
    prices = _us_close_prices(market, asset)
    if not prices:
        return _empty_truth()
    first_ms, last_ms = min(prices), max(prices)
    rows = []
    day = scenario.start
    while day <= scenario.end:
        close_ms = int(market_close_utc(day).timestamp() * 1000)
        if is_trading_day(day) and close_ms <= last_ms:
            before = _price_at(prices, close_ms - LOOKBACK_DAYS * 24 * HOUR_MS, first_ms)
            trailing_pct = 100.0 * (prices[close_ms] / before - 1.0)
            if day in published:
                rows += [
                    {
                        "day": day,
                        "ticker": ticker,
                        "issuer": etf_tickers.issuer(asset, ticker),
                        "flow_usd_m": published[day].get(ticker),
                        "trailing_return_pct": trailing_pct,
                    }
                    for ticker in tickers
                ]
                day += timedelta(1)
                continue
            rng = np.random.default_rng([scenario.seed, UNDERLYING_INDEX[asset], day.toordinal()])
            total = (
                model.base_usd_m + model.sensitivity_usd_m * trailing_pct + rng.normal(0, model.noise_usd_m)
            )
            for fm in model.funds:
                idle, noise = (
                    rng.random(),
                    rng.normal(0, fm.noise_usd_m),
                )  # drawn for every fund: stable order
                listed = day >= etf_tickers.fund(asset, fm.ticker).launched
                flow = round(fm.share * total + fm.bias_usd_m + noise, 1) if idle >= fm.idle else 0.0
                rows.append(
                    {
                        "day": day,
                        "ticker": fm.ticker,
                        "issuer": etf_tickers.issuer(asset, fm.ticker),
                        "flow_usd_m": (flow + 0.0) if listed else None,  # + 0.0 turns -0.0 into 0.0
                        "trailing_return_pct": trailing_pct,
                    }
                )
            rows += [  # funds only the published history names have no reading on modelled days
                {
                    "day": day,
                    "ticker": ticker,
                    "issuer": etf_tickers.issuer(asset, ticker),
                    "flow_usd_m": None,
                    "trailing_return_pct": trailing_pct,
                }
                for ticker in tickers[len(model.funds) :]
            ]
        day += timedelta(1)
    return pa.Table.from_pylist(rows, schema=_TRUTH_SCHEMA)


_TRUTH_SCHEMA = pa.schema(
    [
        ("day", pa.date32()),
        ("ticker", pa.string()),
        ("issuer", pa.string()),
        ("flow_usd_m", pa.float64()),
        ("trailing_return_pct", pa.float64()),
    ]
)


def _empty_truth() -> pa.Table:
    return _TRUTH_SCHEMA.empty_table()


# -- the page -----------------------------------------------------------------------------------------------------


def cell(value: float | None) -> str:
    """Farside's cell text: '-' for no reading, '(1,113.7)' for an outflow, '1,373.8' otherwise."""
    if value is None:
        return "-"
    text = f"{abs(value):,.1f}"
    return f"({text})" if round(value, 1) < 0 else text


def _td(text: str, tag: str = "td") -> str:
    css = ' class="redFont"' if text.startswith("(") else ""
    return f'<{tag}><span class="tabletext"{css}>{html.escape(text)}</span></{tag}>'


def render_page(
    asset: str, title: str, truth: pa.Table, now_ms: int, scenario_days: tuple[date, date]
) -> str:
    by_day: dict[date, dict[str, float | None]] = {}
    tickers: list[str] = []
    for row in truth.to_pylist():
        by_day.setdefault(row["day"], {})[row["ticker"]] = row["flow_usd_m"]
        if row["ticker"] not in tickers:
            tickers.append(row["ticker"])
    fees = {fm.ticker: fm.fee for fm in MODELS[asset].funds}
    tickers = tickers or list(fees)
    for holiday in NYSE_HOLIDAYS:  # weekday closures appear as all-'-' rows
        if scenario_days[0] <= holiday <= scenario_days[1] and holiday.weekday() < 5:
            by_day.setdefault(holiday, dict.fromkeys(tickers))
    published = sorted(d for d in by_day if int(market_close_utc(d).timestamp() * 1000) <= now_ms)
    total_header = "" if asset == "ETH" else "Total"  # the real ETH page leaves this cell empty
    lines = [
        "<!DOCTYPE html>",
        f"<html><head><meta charset='utf-8'><title>{html.escape(title)} - Farside Investors</title></head>",
        f"<body><h1>{html.escape(title)}</h1>",
        '<table class="etf">',
        "<thead>",
        "<tr>"
        + _td("", "th")
        + "".join(_td(etf_tickers.issuer(asset, t) or "", "th") for t in tickers)
        + _td("", "th")
        + "</tr>",
        "<tr>"
        + _td("Date", "th")
        + "".join(_td(t, "th") for t in tickers)
        + _td(total_header, "th")
        + "</tr>",
        "<tr>"
        + _td("Fee", "th")
        + "".join(_td(fees.get(t, ""), "th") for t in tickers)
        + _td("", "th")
        + "</tr>",
        "</thead>",
        "<tbody>",
    ]
    columns: dict[str, list[float]] = {t: [] for t in tickers + ["Total"]}
    for day in published:
        flows = by_day[day]
        values = [flows.get(t) for t in tickers]
        total = round(sum(v for v in values if v is not None), 1)
        for t, v in zip(tickers, values, strict=True):
            if v is not None:
                columns[t].append(v)
        if any(v is not None for v in values):
            columns["Total"].append(total)
        cells = [cell(v) for v in values] + [cell(total)]
        lines.append("<tr>" + _td(day.strftime("%d %b %Y")) + "".join(_td(c) for c in cells) + "</tr>")
    for label, reduce in (("Total", sum), ("Average", np.mean), ("Maximum", max), ("Minimum", min)):
        cells = [cell(float(reduce(columns[t]))) if columns[t] else "-" for t in tickers + ["Total"]]
        lines.append("<tr>" + _td(label) + "".join(_td(c) for c in cells) + "</tr>")
    lines += [
        "</tbody>",
        "</table>",
        "<p>Source: Farside Investors</p>",
        "</body></html>",
    ]
    return "\n".join(lines)


CHALLENGE_PAGE = """<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8"><meta name="robots" content="noindex,nofollow">
</head><body><div class="main-wrapper" role="main"><div class="main-content">
<h1 class="zone-name-title h1">farside.co.uk</h1>
<h2 class="h2" id="challenge-running">Verifying you are human. This may take a few seconds.</h2>
<noscript><div class="h2">Enable JavaScript and cookies to continue</div></noscript></div></div>
<script>(function(){window._cf_chl_opt={cvId: '3',cZone: "farside.co.uk",cType: 'managed'};
var a=document.createElement('script');a.src='/cdn-cgi/challenge-platform/h/g/orchestrate/chl_page/v1';
document.getElementsByTagName('head')[0].appendChild(a);}());</script>
<div class="footer" role="contentinfo">Performance &amp; security by Cloudflare</div></body></html>"""


def _challenge(status: int) -> web.Response:
    return web.Response(
        status=status,
        text=CHALLENGE_PAGE,
        content_type="text/html",
        headers={"Server": "cloudflare", "cf-mitigated": "challenge"},
    )


def _error_body(status: int, message: str) -> dict:
    return {"status": status, "message": message}


async def _page(request: web.Request) -> web.StreamResponse:
    state: SandboxState = state_of(request)
    path = request.path[len(f"/{VENUE}") :]
    state.requests.append({"venue": VENUE, "path": request.path, "query": dict(request.query)})
    if state.market.scenario.outage_at(VENUE, state.now_ms()) is not None:
        return web.Response(
            status=503, text="<html><body>Service Unavailable</body></html>", content_type="text/html"
        )
    fault = state.take_fault(VENUE, path)
    if fault is not None:
        if fault.kind in ("403", "503"):
            return _challenge(int(fault.kind))
        if fault.kind == "challenge":
            return _challenge(200)
        return await render_fault(request, fault, _error_body)
    wait = state.spend(VENUE, "pages", 1, PAGES_PER_MINUTE, 60.0)
    if wait is not None:
        return web.Response(status=429, text="Too Many Requests", headers={"Retry-After": str(int(wait) + 1)})
    asset, title = PAGES[path]
    cache = request.app[FLOWS_KEY]
    if asset not in cache:
        cache[asset] = etf_flows(state.market, asset)
    scenario = state.market.scenario
    page = render_page(asset, title, cache[asset], state.now_ms(), (scenario.start, scenario.end))
    return web.Response(text=page, content_type="text/html")


def app(state: SandboxState) -> web.Application:
    sub = web.Application()
    sub[STATE_KEY] = state
    sub[FLOWS_KEY] = {}
    for path in PAGES:
        sub.router.add_get(path, _page)
    return sub
