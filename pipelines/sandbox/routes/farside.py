"""Farside-style ETF flow pages over the simulated market: /bitcoin-etf-flow-all-data/, /ethereum-etf-flow-all-data/
and /sol/, each a `<table class="etf">` in US$m with parenthesised outflows, thousands separators, '-' cells and
Total/Average/Maximum/Minimum footer rows, as on the real site.

The route only renders: the flows are the sandbox's ground truth, the model in pipelines/sandbox/etf_flows.py
(`etf_flows`, which lists how they are made). Rows show for trading days whose US close (16:00 New York) has passed
on the sandbox clock; a fund shows '-' before its launch (pipelines/lib/etf_tickers.py) and weekday US holidays are
all-'-' rows with a 0.0 Total, as Farside shows.

Sandbox choices (not site facts): the page holds the scenario window only; the issuer and fee rows above the
ticker row follow third-party descriptions of some page versions (UNCONFIRMED); the ETH page's Total header cell is
empty, as on the real page. A scripted fault of kind "403" or "503" (POST /_sandbox/faults, venue "farside")
answers with a Cloudflare-like "Just a moment..." challenge page; kind "challenge" does the same with HTTP 200.
"""

from __future__ import annotations

import html
from datetime import date

import numpy as np
import pyarrow as pa
from aiohttp import web

from pipelines.lib import etf_tickers
from pipelines.lib.us_market_calendar import NYSE_HOLIDAYS, market_close_utc
from pipelines.sandbox.etf_flows import MODELS, etf_flows
from pipelines.sandbox.serving import STATE_KEY, SandboxState, render_fault, state_of

VENUE = "farside"
PAGES = {
    "/bitcoin-etf-flow-all-data/": ("BTC", "Bitcoin ETF Flow – All Data (US$m)"),
    "/ethereum-etf-flow-all-data/": ("ETH", "Ethereum ETF Flow – All Data (US$m)"),
    "/sol/": ("SOL", "Solana ETF Flow (US$m)"),
}
PAGES_PER_MINUTE = 60  # nothing is published; generous, scaled by the scenario
FLOWS_KEY = web.AppKey("farside_flows", dict)


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
    if state.market.scenario.outage_at(VENUE, state.clock_ms) is not None:
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
    page = render_page(asset, title, cache[asset], state.clock_ms, (scenario.start, scenario.end))
    return web.Response(text=page, content_type="text/html")


def app(state: SandboxState) -> web.Application:
    sub = web.Application()
    sub[STATE_KEY] = state
    sub[FLOWS_KEY] = {}
    for path in PAGES:
        sub.router.add_get(path, _page)
    return sub
