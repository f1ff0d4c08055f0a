"""The daily risk page: one self-contained HTML file per day, D.html, and an index.html linking every day written.

Charts are matplotlib figures inlined as SVG, with text drawn as paths: the page needs no script, no font and no
request of any kind, opens offline in any browser, and stays a few hundred kB. Every number on it comes from
pipelines/report_queries.py; this module only lays them out.
"""

from __future__ import annotations

import functools
import html
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import matplotlib

matplotlib.use("Agg")  # no display: the figures only ever become SVG text

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from pipelines import report_queries as q  # noqa: E402
from pipelines.files import atomic_write  # noqa: E402

# this page's matplotlib style, applied per chart (rc_context) so importing the module changes no global state
RC = {
    "svg.fonttype": "path",  # glyphs as paths: no font needed where the page is opened
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "figure.dpi": 100,
}


def _styled(chart: Callable[..., Chart]) -> Callable[..., Chart]:
    @functools.wraps(chart)
    def draw(*args, **kwargs) -> Chart:
        with plt.rc_context(RC):
            return chart(*args, **kwargs)

    return draw


VENUE_COLOURS = {
    "binance": "#f0b90b",
    "bybit": "#3d3d3d",
    "okx": "#2f6fdb",
    "hyperliquid": "#25a38b",
    "deribit": "#8e44ad",
}
LONG, SHORT, MARK = "#c0392b", "#27ae60", "#7f8c8d"
SVG_METADATA = re.compile(r"<metadata>.*?</metadata>", re.S)
PAGE_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}\.html$")


def usd(value: float | None) -> str:
    """US$ with a unit a reader can compare at a glance: 17.1bn, 196.0M, 3.2K."""
    if value is None:
        return "n/a"
    sign = "-" if value < 0 else ""
    value = abs(value)
    for unit, scale in (("bn", 1e9), ("M", 1e6), ("K", 1e3)):
        if value >= scale:
            return f"{sign}US${value / scale:,.1f}{unit}"
    return f"{sign}US${value:,.0f}"


def pct(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:+.{digits}f}%"


def _svg(fig) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    text = text[text.index("<svg") :]  # drop the XML declaration and DOCTYPE: the SVG is inlined
    return SVG_METADATA.sub("", text)  # the creation date and licence block: noise in a page


def _groups(rows: list[dict], key: str) -> list[tuple[object, list[dict]]]:
    """The rows split by one column's value, in sorted order (one line or bar series per venue, coin, …)."""
    return [(value, [r for r in rows if r[key] == value]) for value in sorted({r[key] for r in rows})]


def _mark_day(ax, day: date) -> None:
    ax.axvline(day, color=MARK, linestyle="--", linewidth=1)
    ax.annotate(
        day.isoformat(),
        (day, 1),
        xycoords=("data", "axes fraction"),
        ha="right",
        va="top",
        fontsize=8,
        color=MARK,
    )


def _dates_axis(ax, day: date) -> None:
    """The window's 30 days on the x axis whatever the data covers, so every trend chart lines up."""
    first = q.window_start(day)
    ax.set_xlim(mdates.date2num(first) - 0.5, mdates.date2num(day) + 0.5)
    ax.xaxis.set_major_locator(mdates.DayLocator(interval=4))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))


@dataclass(frozen=True)
class Chart:
    slug: str
    title: str
    caption: str
    svg: str

    def html(self) -> str:
        return (
            f'<figure class="chart" id="chart-{self.slug}"><figcaption><h3>{html.escape(self.title)}</h3>'
            f"<p>{html.escape(self.caption)}</p></figcaption>{self.svg}</figure>"
        )


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _empty(what: str) -> str:
    return f'<p class="empty">{html.escape(what)}</p>'


# --- charts ------------------------------------------------------------------------------------------------------


@_styled
def chart_hourly_liquidations(rows: list[dict], day: date) -> Chart:
    venues = sorted({r["venue"] for r in rows})
    fig, ax = plt.subplots(figsize=(10, 3.6))
    long_base, short_base = [0.0] * 24, [0.0] * 24
    for venue in venues:
        cells = {r["hour"]: r for r in rows if r["venue"] == venue}
        longs = [(cells[h]["long_usd"] or 0) / 1e6 if h in cells else 0.0 for h in range(24)]
        shorts = [-(cells[h]["short_usd"] or 0) / 1e6 if h in cells else 0.0 for h in range(24)]
        sampled = [h in cells and cells[h]["sampled"] for h in range(24)]
        colour = VENUE_COLOURS.get(venue, "#999999")
        for values, base in ((longs, long_base), (shorts, short_base)):
            bars = ax.bar(range(24), values, bottom=base, color=colour, width=0.8, label=None)
            for bar, is_sampled in zip(bars, sampled, strict=True):
                if is_sampled:  # a sampled feed's figure is a floor: hatched
                    bar.set_hatch("///")
                    bar.set_edgecolor("white")
            for h in range(24):
                base[h] += values[h]
        ax.bar([0], [0], color=colour, label=venue)
    gaps = sorted({r["hour"] for r in rows if (r["gap_minutes"] or 0) > 0})
    for h in gaps:
        ax.axvspan(h - 0.5, h + 0.5, color="#f5b7b1", alpha=0.35, zorder=0)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xlim(-0.6, 23.6)
    ax.set_xticks(range(0, 24, 2))
    ax.set_xlabel(f"hour of {day.isoformat()} (UTC)")
    ax.set_ylabel("US$m  (longs up, shorts down)")
    if gaps:
        ax.axvspan(-10, -9, color="#f5b7b1", alpha=0.35, label="recorder gap")
    ax.bar([0], [0], color="white", edgecolor="#555555", hatch="///", label="sampled (a floor)")
    ax.legend(loc="upper left", fontsize=8, ncols=3, frameon=False)
    return Chart(
        "liquidations-hourly",
        f"Liquidations by hour, side and venue on {day.isoformat()} (US$m)",
        "Look for the hour where longs pile up across several venues at once; hatched bars come from a "
        "throttled feed (a floor), shaded hours had a recorder gap.",
        _svg(fig),
    )


@_styled
def chart_oi_and_price(rows: list[dict], day: date) -> Chart:
    dates = [r["date"] for r in rows]
    fig, ax = plt.subplots(figsize=(10, 3.2))
    ax.plot(
        dates,
        [(r["oi_usd"] or 0) / 1e9 for r in rows],
        color="#2f6fdb",
        linewidth=2,
        marker="o",
        markersize=3,
    )
    ax.set_ylabel("open interest (US$bn)", color="#2f6fdb")
    price = ax.twinx()
    price.grid(False)
    price.spines["right"].set_visible(True)
    price.plot(
        dates,
        [r["btc_close"] for r in rows],
        color="#e67e22",
        linewidth=1.5,
        marker="s",
        markersize=3,
    )
    price.set_ylabel("BTC close (US$)", color="#e67e22")
    _dates_axis(ax, day)
    _mark_day(ax, day)
    return Chart(
        "oi-price",
        "Aggregate open interest and the BTC price, 30 days (US$bn, US$)",
        "Look for open interest falling with the price: positions closed by force rather than by choice.",
        _svg(fig),
    )


@_styled
def chart_funding(rows: list[dict], day: date) -> Chart:
    fig, ax = plt.subplots(figsize=(10, 3.0))
    for venue, mine in _groups(rows, "venue"):
        ax.plot(
            [r["date"] for r in mine],
            [r["funding_8h_pct"] for r in mine],
            label=venue,
            color=VENUE_COLOURS.get(venue),
            linewidth=1.5,
        )
    ax.axhline(0.01, color=MARK, linewidth=0.8, linestyle=":")
    ax.set_ylabel("BTC funding (% per 8h)")
    _dates_axis(ax, day)
    _mark_day(ax, day)
    ax.legend(fontsize=8, frameon=False, ncols=4)
    return Chart(
        "funding",
        "BTC funding by venue, 30 days (% per 8 hours)",
        "Look for funding far above the usual +0.01% (crowded longs paying up) or turning negative after a flush.",
        _svg(fig),
    )


@_styled
def chart_options(rows: list[dict], day: date) -> Chart:
    fig, ax = plt.subplots(figsize=(10, 2.8))
    for underlying, mine in _groups(rows, "underlying"):
        ax.plot(
            [r["date"] for r in mine], [r["put_call_oi_ratio"] for r in mine], label=underlying, linewidth=1.5
        )
    ax.axhline(1.0, color=MARK, linewidth=0.8, linestyle=":")
    ax.set_ylabel("put/call open interest")
    _dates_axis(ax, day)
    _mark_day(ax, day)
    ax.legend(fontsize=8, frameon=False)
    return Chart(
        "options",
        "Options put/call open-interest ratio, 30 days (Deribit)",
        "Look for the ratio rising towards or above 1: more open puts than calls, hedging demand.",
        _svg(fig),
    )


@_styled
def chart_etf(rows: list[dict], day: date) -> Chart:
    fig, ax = plt.subplots(figsize=(10, 2.8))
    groups = _groups(rows, "underlying")
    width = 0.8 / max(len(groups), 1)
    for i, (underlying, mine) in enumerate(groups):
        xs = [mdates.date2num(r["date"]) + (i - (len(groups) - 1) / 2) * width for r in mine]
        ax.bar(xs, [(r["flow_usd"] or 0) / 1e6 for r in mine], width=width, label=underlying)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_ylabel("net flow (US$m)")
    ax.xaxis_date()
    _dates_axis(ax, day)
    _mark_day(ax, day)
    ax.legend(fontsize=8, frameon=False)
    return Chart(
        "etf",
        "Spot-ETF net flows per trading day, 30 days (US$m)",
        "Look for runs of outflows: spot demand leaving while leverage unwinds.",
        _svg(fig),
    )


@_styled
def chart_stablecoins(rows: list[dict], day: date) -> Chart:
    fig, ax = plt.subplots(figsize=(10, 2.8))
    for coin, mine in _groups(rows, "stablecoin"):
        ax.plot([r["date"] for r in mine], [r["deviation_bps"] for r in mine], label=coin, linewidth=1.2)
    ax.axhline(50, color=LONG, linewidth=0.8, linestyle=":")
    ax.set_ylabel("distance from peg (bps)")
    _dates_axis(ax, day)
    _mark_day(ax, day)
    ax.legend(fontsize=8, frameon=False, ncols=6)
    return Chart(
        "stablecoins",
        "Stablecoin distance from peg, 30 days (basis points, worst chain)",
        "Look for a coin crossing the dotted 50 bps line: a depeg that collateral and liquidations feel.",
        _svg(fig),
    )


@_styled
def chart_cascades(rows: list[dict], day: date) -> Chart:
    fig, ax = plt.subplots(figsize=(10, max(1.8, 0.45 * len(rows) + 1)))
    day_start = datetime.combine(day, datetime.min.time())
    for i, r in enumerate(rows):
        start = (r["start_ts"] - day_start).total_seconds() / 3600
        length = max((r["end_ts"] - r["start_ts"]).total_seconds() / 3600, 0.05)
        colour = LONG if r["dominant_side"] == "long" else SHORT
        ax.barh(i, length, left=start, color=colour, height=0.6)
        ax.annotate(
            f"{usd(r['total_usd'])}, lead {r['lead_venue'] or 'n/a'}",
            (start + length, i),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    ax.set_yticks(range(len(rows)), [f"#{r['episode_id']}" for r in rows])
    ax.set_xlim(0, 24)
    ax.set_xticks(range(0, 25, 2))
    ax.set_xlabel(f"hour of {day.isoformat()} (UTC)")
    return Chart(
        "cascades",
        f"Liquidation cascade episodes on {day.isoformat()} (hours UTC)",
        "Look for long red bars: long liquidations feeding on each other; the lead venue moved first.",
        _svg(fig),
    )


@_styled
def chart_collateral(rows: list[dict], day: date) -> Chart:
    fig, ax = plt.subplots(figsize=(10, 2.8))
    for asset in ("BTC", "ETH"):
        mine = [r for r in rows if r["asset"] == asset]
        if mine:
            ax.plot(
                [r["shock_pct"] for r in mine],
                [(r["total_liquidatable_usd"] or 0) / 1e9 for r in mine],
                marker="o",
                markersize=3,
                label=asset,
            )
    ax.set_xlabel("price shock (%)")
    ax.set_ylabel("liquidatable (US$bn)")
    ax.legend(fontsize=8, frameon=False)
    return Chart(
        "collateral",
        f"Collateral at risk on {day.isoformat()}: what a price drop would liquidate (US$bn)",
        "Look for a steep step: a shock of that size crosses a cluster of CeFi and DeFi liquidation prices.",
        _svg(fig),
    )


@_styled
def chart_systemic(rows: list[dict], day: date) -> Chart:
    fig, ax = plt.subplots(figsize=(10, 2.6))
    indexed = [r for r in rows if r["risk_index"] is not None]  # days with too little history have no index
    ax.plot([r["date"] for r in indexed], [r["risk_index"] for r in indexed], color="#8e44ad", linewidth=2)
    ax.set_ylabel("risk index")
    _dates_axis(ax, day)
    _mark_day(ax, day)
    return Chart(
        "systemic",
        "Systemic-risk index, 30 days",
        "Look for the index climbing before the price breaks; the table names the day's driver.",
        _svg(fig),
    )


@_styled
def chart_operations(rows: list[dict], day: date) -> Chart:
    venues = sorted({r["venue"] for r in rows})
    grid = [[0.0] * 24 for _ in venues]
    for r in rows:
        grid[venues.index(r["venue"])][r["hour"]] = (r["error_rate"] or 0) * 100
    fig, ax = plt.subplots(figsize=(10, max(1.6, 0.4 * len(venues) + 1)))
    # vector cells (pcolormesh), not imshow: imshow would embed a PNG as a data: URL the browser has to load
    image = ax.pcolormesh(
        [h - 0.5 for h in range(25)],
        [i - 0.5 for i in range(len(venues) + 1)],
        grid,
        cmap="Reds",
        vmin=0,
        vmax=max(5.0, max(map(max, grid))),
    )
    ax.grid(False)
    ax.invert_yaxis()
    ax.set_yticks(range(len(venues)), venues)
    ax.set_xticks(range(0, 24, 2))
    ax.set_xlabel(f"hour of {day.isoformat()} (UTC)")
    colour_bar = fig.colorbar(image, ax=ax, label="error rate (%)")
    colour_bar.solids.set_rasterized(False)  # vector too: a rasterized bar would be an embedded PNG
    return Chart(
        "operations",
        f"Venue API error rate by hour on {day.isoformat()} (%)",
        "Look for dark cells during the crash hours: a venue unreachable while its users were being liquidated.",
        _svg(fig),
    )


@_styled
def chart_insurance(rows: list[dict], day: date) -> Chart:
    fig, ax = plt.subplots(figsize=(10, 2.6))
    for venue, mine in _groups(rows, "venue"):
        ax.plot(
            [r["date"] for r in mine],
            [(r["balance_usd"] or 0) / 1e9 for r in mine],
            label=venue,
            color=VENUE_COLOURS.get(venue),
        )
    ax.set_ylabel("balance (US$bn)")
    _dates_axis(ax, day)
    _mark_day(ax, day)
    ax.legend(fontsize=8, frameon=False)
    return Chart(
        "insurance",
        "Exchange insurance funds, 30 days (US$bn)",
        "Look for a fund drawn down: liquidations the order book could not absorb.",
        _svg(fig),
    )


# --- sections ----------------------------------------------------------------------------------------------------


def _section(slug: str, title: str, body: str) -> str:
    return f'<section id="{slug}"><h2>{html.escape(title)}</h2>{body}</section>'


def _figure(key: str, label: str, value: float | None, text: str) -> str:
    raw = "" if value is None else repr(float(value))
    return (
        f'<div class="card"><div class="label">{html.escape(label)}</div>'
        f'<div class="value" data-key="{key}" data-value="{raw}">{html.escape(text)}</div></div>'
    )


def headline_html(h: q.Headline) -> str:
    imbalance = "n/a" if h.liq_imbalance_pct is None else f"{h.liq_imbalance_pct:,.0f}%"
    cards = [
        _figure("liq_long_usd", "longs liquidated", h.liq_long_usd, usd(h.liq_long_usd)),
        _figure("liq_short_usd", "shorts liquidated", h.liq_short_usd, usd(h.liq_short_usd)),
        _figure(
            "liq_imbalance_pct",
            f"imbalance ({h.liq_dominant_side or 'no'} side)",
            h.liq_imbalance_pct,
            imbalance,
        ),
        _figure("oi_change_usd", "open-interest change", h.oi_change_usd, usd(h.oi_change_usd)),
        _figure("oi_change_pct", "open-interest change %", h.oi_change_pct, pct(h.oi_change_pct)),
    ]
    if h.risk_index is not None:
        cards.append(
            _figure("risk_index", f"systemic risk ({h.risk_driver})", h.risk_index, f"{h.risk_index:.1f}")
        )
    note = (
        "<p class=\"note\">Liquidations as the venues' own feeds recorded them (Binance's stream is throttled, so "
        "its figure is a floor; Hyperliquid publishes none). Imbalance: 100 x larger side / smaller side. "
        "Open-interest change over the venues that reported on both days.</p>"
    )
    return _section("headline", "Headline", f'<div class="cards">{"".join(cards)}</div>{note}')


Section = Callable[[duckdb.DuckDBPyConnection, date], str | None]


def liquidations_section(con, day: date) -> str | None:
    if not q.has_table(con, "marts", "liquidations_hourly"):
        return None
    rows = q.hourly_liquidations(con, day)
    venues = q.liquidations_by_venue(con, day)
    body = (
        chart_hourly_liquidations(rows, day).html()
        if rows
        else _empty("No liquidations recorded on this day.")
    )
    body += _table(
        ["venue", "longs", "shorts", "coverage", "recorder gap (min)"],
        [
            [
                v["venue"],
                usd(v["long_usd"]),
                usd(v["short_usd"]),
                v["coverage"] or "",
                f"{v['gap_minutes'] or 0:,.0f}",
            ]
            for v in venues
        ],
    )
    return _section("liquidations", "Liquidations", body)


def leverage_section(con, day: date) -> str | None:
    if not q.has_table(con, "marts", "leverage_daily"):
        return None
    rows = q.oi_and_price(con, day)
    if not rows:
        return _section("leverage", "Open interest and price", _empty("No open interest in the window."))
    return _section("leverage", "Open interest and price", chart_oi_and_price(rows, day).html())


def cascades_section(con, day: date) -> str | None:
    rows = q.cascades(con, day)
    if rows is None:
        return None
    if not rows:
        return _section("cascades", "Cascade episodes", _empty("No cascade episode on this day."))
    table = _table(
        [
            "episode",
            "start (UTC)",
            "minutes",
            "side",
            "total",
            "peak minute",
            "lead venue",
            "lead (s)",
            "coverage",
        ],
        [
            [
                str(r["episode_id"]),
                f"{r['start_ts']:%H:%M}",
                f"{r['duration_minutes']:,.0f}",
                r["dominant_side"] or "",
                usd(r["total_usd"]),
                usd(r["peak_minute_usd"]),
                r["lead_venue"] or "n/a",
                "n/a" if r["lead_seconds"] is None else f"{r['lead_seconds']:,.0f}",
                r["coverage"] or "",
            ]
            for r in rows
        ],
    )
    return _section("cascades", "Cascade episodes", chart_cascades(rows, day).html() + table)


def collateral_section(con, day: date) -> str | None:
    rows = q.collateral_at_risk(con, day)
    if rows is None:
        return None
    if not rows:
        return _section(
            "collateral", "Collateral at risk", _empty("No collateral-at-risk curve for this day.")
        )
    return _section("collateral", "Collateral at risk", chart_collateral(rows, day).html())


def systemic_section(con, day: date) -> str | None:
    rows = q.systemic_risk(con, day)
    if rows is None:
        return None
    if not rows:
        return _section("systemic", "Systemic risk", _empty("No systemic-risk index in the window."))
    today = [r for r in rows if r["date"] == day]
    table = _table(
        ["date", "index", "driver", "category"],
        [
            [
                str(r["date"]),
                "none yet (too little history)" if r["risk_index"] is None else f"{r['risk_index']:.1f}",
                r["driver"] or "",
                r["driver_category"] or "",
            ]
            for r in today
        ],
    )
    return _section("systemic", "Systemic risk", chart_systemic(rows, day).html() + table)


def funding_section(con, day: date) -> str | None:
    if not q.has_table(con, "marts", "fct_funding_rates"):
        return None
    rows = q.funding_by_venue(con, day)
    body = chart_funding(rows, day).html() if rows else _empty("No funding rates in the window.")
    return _section("funding", "Funding", body)


def options_section(con, day: date) -> str | None:
    if not q.has_table(con, "marts", "options_positioning_daily"):
        return None
    trend, today = q.options_trend(con, day), q.options_on(con, day)
    body = chart_options(trend, day).html() if trend else _empty("No option snapshots in the window.")
    body += _table(
        ["underlying", "put/call OI", "top put strike", "top call strike", "max pain", "spot"],
        [
            [
                r["underlying"],
                f"{r['put_call_oi_ratio']:.2f}",
                f"{r['top_put_strike']:,.0f}",
                f"{r['top_call_strike']:,.0f}",
                f"{r['max_pain_strike']:,.0f}",
                f"{r['spot_price']:,.0f}",
            ]
            for r in today
        ],
    )
    return _section("options", "Options positioning", body)


def etf_section(con, day: date) -> str | None:
    if not q.has_table(con, "marts", "etf_flows_daily"):
        return None
    rows = q.etf_flows(con, day)
    body = chart_etf(rows, day).html() if rows else _empty("No ETF flows in the window.")
    return _section("etf", "Spot-ETF flows", body)


def debt_section(con, day: date) -> str | None:
    if not q.has_table(con, "marts", "crypto_debt_daily"):
        return None
    row = q.debt_ledger(con, day)
    if row is None:
        return _section("debt", "Crypto debt ledger", _empty("No debt ledger row on or before this day."))
    table = _table(
        ["as of", "DeFi borrowed", "CDP stablecoins", "CeFi lenders", "treasury companies", "crypto-collateralized",
         "with treasury debt", "on-chain share"],
        [[
            str(row["date"]), usd(row["defi_borrowed_usd"]), usd(row["cdp_stablecoin_supply_usd"]),
            usd(row["cefi_lender_book_usd"]), usd(row["treasury_company_debt_usd"]),
            usd(row["crypto_collateralized_usd"]), usd(row["total_with_treasury_debt_usd"]),
            "n/a" if row["onchain_share_pct"] is None else f"{row['onchain_share_pct']:.1f}%",
        ]],
    )  # fmt: skip
    return _section("debt", "Crypto debt ledger", table)


def stablecoins_section(con, day: date) -> str | None:
    if not q.has_table(con, "marts", "stablecoins_daily"):
        return None
    rows = q.stablecoin_pegs(con, day)
    body = chart_stablecoins(rows, day).html() if rows else _empty("No stablecoin prices in the window.")
    return _section("stablecoins", "Stablecoin pegs", body)


def operations_section(con, day: date) -> str | None:
    rows = q.venue_operations(con, day)
    if rows is None:
        return None
    if not rows:
        return _section("operations", "Venue operations", _empty("No API calls recorded on this day."))
    by_venue: dict[str, list[float]] = {}
    for r in rows:
        totals = by_venue.setdefault(r["venue"], [0.0, 0.0])
        totals[0] += r["outage_minutes"] or 0
        totals[1] += r["recorder_gap_minutes"] or 0
    table = _table(
        ["venue", "outage minutes", "recorder gap minutes"],
        [[v, f"{o:,.0f}", f"{g:,.0f}"] for v, (o, g) in sorted(by_venue.items())],
    )
    return _section("operations", "Venue outages", chart_operations(rows, day).html() + table)


def insurance_section(con, day: date) -> str | None:
    rows = q.insurance_funds(con, day)
    if rows is None:
        return None
    if not rows:
        return _section("insurance", "Insurance funds", _empty("No insurance-fund balances in the window."))
    today = [r for r in rows if r["date"] == day]
    table = _table(
        ["venue", "balance", "change", "drawdown from 30-day high"],
        [
            [r["venue"], usd(r["balance_usd"]), usd(r["change_usd"]), pct(r["drawdown_from_30d_high_pct"])]
            for r in today
        ],
    )
    return _section("insurance", "Insurance funds", chart_insurance(rows, day).html() + table)


SECTIONS: tuple[Section, ...] = (
    liquidations_section,
    cascades_section,
    leverage_section,
    systemic_section,
    collateral_section,
    funding_section,
    options_section,
    etf_section,
    debt_section,
    stablecoins_section,
    operations_section,
    insurance_section,
)

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0 auto;
max-width:1040px;padding:16px 24px;color:#1c2833;background:#fff}
h1{font-size:22px;margin:8px 0 2px}h2{font-size:17px;border-bottom:1px solid #d5d8dc;padding-bottom:3px;margin-top:28px}
h3{font-size:14px;margin:0}figcaption p{margin:2px 0 6px;color:#566573;font-size:13px}
figure.chart{margin:8px 0}figure.chart svg{max-width:100%;height:auto;display:block}
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{border:1px solid #d5d8dc;border-radius:6px;padding:8px 12px;
min-width:150px}.label{font-size:12px;color:#566573}.value{font-size:22px;font-weight:600}
table{border-collapse:collapse;font-size:13px;margin:8px 0}th,td{padding:3px 10px;text-align:right;white-space:nowrap;
border-bottom:1px solid #eaeded}th:first-child,td:first-child{text-align:left}.note,.empty,footer{color:#566573;
font-size:12px}nav a{margin-right:12px}
"""


def render_page(con: duckdb.DuckDBPyConnection, day: date, *, source: str) -> tuple[str, q.Headline]:
    """The page for `day` as one HTML string, and its headline numbers (for the caller's summary)."""
    head = q.headline(con, day)
    sections = [headline_html(head)]
    sections += [s for s in (section(con, day) for section in SECTIONS) if s is not None]
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>levwatch daily risk {day.isoformat()}</title>"
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head><body>'
        f'<nav><a href="index.html">all days</a></nav>'
        f"<h1>Leverage and contagion risk on {day.isoformat()}</h1>"
        f'<p class="note">levwatch daily report from {html.escape(source)}, generated {generated}. '
        "All times UTC; every figure read from the warehouse's marts.</p>"
        + "".join(sections)
        + "<footer><p>Sections whose mart this warehouse has not built are left out.</p></footer></body></html>"
    )
    return page, head


def write_index(out_dir: Path) -> Path:
    """index.html: every day's page in the folder, newest first."""
    days = sorted((p.stem for p in out_dir.iterdir() if PAGE_NAME.match(p.name)), reverse=True)
    items = "".join(f'<li><a href="{d}.html">{d}</a></li>' for d in days)
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>levwatch daily risk reports</title>'
        f"<style>{STYLE}</style></head><body><h1>levwatch daily risk reports</h1><ul>{items}</ul></body></html>"
    )
    return atomic_write(out_dir / "index.html", lambda fh: fh.write(page.encode()))


def write_report(
    con: duckdb.DuckDBPyConnection, day: date, out_dir: Path, *, source: str
) -> tuple[Path, q.Headline]:
    """Write D.html (whole or not at all) and refresh index.html; return the page's path and its headline."""
    page, head = render_page(con, day, source=source)
    path = atomic_write(out_dir / f"{day.isoformat()}.html", lambda fh: fh.write(page.encode()))
    write_index(out_dir)
    return path, head


def headline_markdown(day: date, h: q.Headline) -> str:
    """The headline as a small markdown table, for Dagster's materialization metadata and the terminal."""
    imbalance = "n/a" if h.liq_imbalance_pct is None else f"{h.liq_imbalance_pct:,.0f}%"
    lines = [
        f"**{day.isoformat()}**",
        "",
        "| figure | value |",
        "|---|---|",
        f"| longs liquidated | {usd(h.liq_long_usd)} |",
        f"| shorts liquidated | {usd(h.liq_short_usd)} |",
        f"| imbalance | {imbalance} ({h.liq_dominant_side or 'no'} side) |",
        f"| open-interest change | {usd(h.oi_change_usd)} ({pct(h.oi_change_pct)}) |",
    ]
    if h.risk_index is not None:
        lines.append(f"| systemic risk | {h.risk_index:.1f} ({h.risk_driver}) |")
    return "\n".join(lines)


def reports_dir(home: Path) -> Path:
    return home / "reports"


def write_daily_report(home: Path, day: date | None = None, out_dir: Path | None = None) -> Path | None:
    """The page for `day` (default: the latest complete day) from the published warehouse, read-only like any
    analyst; None when the warehouse holds no complete day."""
    from pipelines.warehouse import connect_read_only, published_path

    with connect_read_only(home) as con:
        day = day or q.latest_complete_day(con, datetime.now(UTC).date())
        if day is None:
            return None
        path, _ = write_report(con, day, out_dir or reports_dir(home), source=str(published_path(home)))
    return path
