"""The demo's closing summary, read from the published warehouse (read-only, like any analyst)."""

from __future__ import annotations

from pathlib import Path

from pipelines.recorder.streams import STREAM_VENUES
from pipelines.summaries.cascades import cascade_lines
from pipelines.summaries.insurance import insurance_lines
from pipelines.summaries.risk import risk_lines
from pipelines.summaries.spillover import crash_week_spillover_line
from pipelines.warehouse import connect_read_only, published_path

LARGEST_OI_DROPS = """
with daily as (
    select
        date,
        sum(oi_usd) as oi_usd,
        sum(oi_usd_change) as oi_usd_change,
        sum(oi_usd_change) / nullif(sum(oi_usd) - sum(oi_usd_change), 0) * 100 as oi_change_pct,
        sum(funding_rate_8h_oi_weighted * oi_usd) / nullif(sum(oi_usd), 0) as funding_8h,
        max(case when asset = 'BTC' then return_pct end) as btc_return_pct,
        max(case when asset = 'ETH' then return_pct end) as eth_return_pct,
        max(oi_venues) as oi_venues,
    from marts.leverage_daily
    group by date
)
select * from daily
where oi_usd_change is not null
order by oi_usd_change asc
limit 5
"""


CRASH_DAY = "2025-10-10"

LIQUIDATIONS_ON = """
select
    venue,
    sum(long_usd) as long_usd,
    sum(short_usd) as short_usd,
    string_agg(distinct coverage, '/' order by coverage) as coverage,
    sum(coalesce(estimated_total_usd, total_usd)) as estimated_total_usd,
from marts.liquidations_daily
where date = ?
group by venue
order by venue
"""

OPTIONS_ON = """
select underlying, put_call_oi_ratio, top_put_strike, top_call_strike, max_pain_strike, spot_price
from marts.options_positioning_daily
where date = ?
order by underlying
"""

LATEST_DEBT = """
select date, defi_borrowed_usd, cdp_stablecoin_supply_usd, cefi_lender_book_usd, treasury_company_debt_usd,
    crypto_collateralized_usd, total_with_treasury_debt_usd, onchain_share_pct, perp_oi_usd,
from marts.crypto_debt_daily
order by date desc
limit 1
"""

ETF_NOVEMBER = """
select underlying, sum(flow_usd) as flow_usd, count(distinct date) as days,
from marts.etf_flows_daily
where date >= '2025-11-01' and date < '2025-12-01'
group by underlying
order by underlying
"""


def _imbalance(long_usd: float, short_usd: float) -> str:
    low = min(long_usd, short_usd)
    return "n/a" if not low else f"{100 * max(long_usd, short_usd) / low:,.0f}%"


# CoinGlass: 'All' sums Binance, OKX and Bybit; with its Hyperliquid series, the four venues' market-wide figure
MARKET_WIDE = """
select
    coalesce(sum(long_usd), 0) as long_usd,
    coalesce(sum(short_usd), 0) as short_usd,
    coalesce(sum(total_usd) filter (where covers_venue = 'hyperliquid'), 0) as hyperliquid_usd,
    count(distinct covers_venue) as series,
from staging.stg_coinglass__liquidation_aggregates
where aggregate_interval = ? and covers_venue in ('all', 'hyperliquid') and ts >= ? and ts < ?
"""

LARGEST_SINGLE = """
select venue, asset, side, ts, notional_usd
from marts.fct_liquidations
where source != 'aggregate' and ts >= ? and ts < ?
order by notional_usd desc
limit 1
"""

PRESS_WINDOW = ("2025-11-13 14:00:00", "2025-11-13 17:00:00")  # the seed's "1,364%": 100 x $203.6M / $14.9M


def market_wide(con, interval: str, start: str, end: str) -> tuple[float, float, float] | None:
    """(long, short, Hyperliquid's part) in US$ from CoinGlass over [start, end), or None without its data."""
    try:
        row = con.execute(MARKET_WIDE, [interval, start, end]).fetchall()[0]
    except Exception:  # the staging view is absent or unreadable: no CoinGlass in this warehouse
        return None
    long_usd, short_usd, hyperliquid_usd, series = row
    return None if series < 2 else (long_usd, short_usd, hyperliquid_usd)


def liquidation_lines(con, day: str = CRASH_DAY) -> list[str]:
    rows = con.execute(LIQUIDATIONS_ON, [day]).fetchall()
    next_day = con.execute("select cast(cast(? as date) + 1 as varchar)", [day]).fetchall()[0][0]
    wide = market_wide(con, "1d", day, next_day)
    lines = [f"Liquidations on {day} (US$m; Binance's stream is throttled, so its figure is a floor):"]
    if not rows:
        return [*lines, "  none recorded"]
    lines.append(
        f"  {'venue':<12}{'long':>10}{'short':>10}{'imbalance':>11}{'est. total':>12}{'share':>8}  coverage"
    )
    total_long = total_short = 0.0
    wide_total = (wide[0] + wide[1]) if wide else None
    for venue, long_usd, short_usd, coverage, estimate in rows:
        total_long, total_short = total_long + long_usd, total_short + short_usd
        share = f"{100 * (long_usd + short_usd) / wide_total:.0f}%" if wide_total else "n/a"
        lines.append(
            f"  {venue:<12}{long_usd / 1e6:>10,.0f}{short_usd / 1e6:>10,.0f}{_imbalance(long_usd, short_usd):>11}"
            f"{estimate / 1e6:>12,.0f}{share:>8}  {coverage}"
        )
    if "hyperliquid" not in {r[0] for r in rows}:
        lines.append(f"  {'hyperliquid':<12}{'-':>10}{'-':>10}{'':>11}{'':>12}{'':>8}  none (no public feed)")
    observed = total_long + total_short
    lines.append(
        f"  {'observed':<12}{total_long / 1e6:>10,.0f}{total_short / 1e6:>10,.0f}"
        f"{_imbalance(total_long, total_short):>11}"
    )
    if wide is None:
        return [*lines, "  market-wide: no CoinGlass data in this warehouse (set COINGLASS_API_KEY)"]
    wide_long, wide_short, hyperliquid = wide
    lines.append(
        f"  {'market-wide':<12}{wide_long / 1e6:>10,.0f}{wide_short / 1e6:>10,.0f}"
        f"{_imbalance(wide_long, wide_short):>11}{wide_total / 1e6:>12,.0f}{'100%':>8}  CoinGlass (four venues)"
    )
    lines.append(
        f"  US${wide_total / 1e9:,.1f}bn liquidated market-wide, {100 * wide_long / wide_total:.0f}% of it longs; "
        f"observed US${observed / 1e9:,.1f}bn. The gap, US${(wide_total - observed) / 1e9:,.1f}bn: Hyperliquid "
        f"US${hyperliquid / 1e9:,.1f}bn (no public feed), the rest mostly Binance's throttled stream."
    )
    return lines


def press_window_lines(con, window: tuple[str, str] = PRESS_WINDOW) -> list[str]:
    wide = market_wide(con, "1h", *window)
    title = f"Liquidations {window[0][:16]} .. {window[1][11:16]} UTC"
    if wide is None:
        return [f"{title}: no CoinGlass data"]
    long_usd, short_usd, _ = wide
    return [
        f"{title}, market-wide (CoinGlass): longs US${long_usd / 1e6:,.1f}M, shorts US${short_usd / 1e6:,.1f}M, "
        f"imbalance {_imbalance(long_usd, short_usd)} (100 x larger side / smaller side, as the press reports it)"
    ]


def largest_single_lines(con, first, last) -> list[str]:
    rows = con.execute(LARGEST_SINGLE, [str(first), f"{last} 23:59:59.999"]).fetchall()
    if not rows:
        return ["Largest single liquidation: none recorded"]
    venue, asset, side, ts, notional = rows[0]
    return [
        f"Largest single liquidation {first} .. {last}: US${notional / 1e6:,.1f}M, a {asset} {side} on {venue}, "
        f"{ts:%Y-%m-%d %H:%M} UTC (venues that publish each liquidation; Hyperliquid's are not among them)"
    ]


def options_lines(con, day: str = CRASH_DAY) -> list[str]:
    rows = con.execute(OPTIONS_ON, [day]).fetchall()
    lines = [f"Options positioning on {day} (Deribit, last snapshot of the day):"]
    if not rows:
        return [*lines, "  no snapshots recorded"]
    for underlying, pcr, top_put, top_call, max_pain, spot in rows:
        lines.append(
            f"  {underlying}: put/call OI {pcr:.2f}, top put strike {top_put:,.0f}, top call strike {top_call:,.0f}, "
            f"max pain {max_pain:,.0f} (spot {spot:,.0f})"
        )
    return lines


def debt_lines(con) -> list[str]:
    row = con.execute(LATEST_DEBT).fetchone()
    if not row:
        return ["Crypto debt ledger: no data"]
    day, defi, cdp, cefi, dat, total, total_dat, onchain_pct, perp = row
    b = 1e9
    return [
        f"Crypto debt ledger on {day}: US${total / b:,.1f}bn crypto-collateralized "
        f"(US${total_dat / b:,.1f}bn with treasury-company debt), {onchain_pct:.1f}% on-chain",
        f"  DeFi borrowed {defi / b:,.1f}bn, CDP stablecoins {cdp / b:,.1f}bn, CeFi lenders {cefi / b:,.1f}bn, "
        f"treasury companies {dat / b:,.1f}bn; perp open interest (separate) {(perp or 0) / b:,.1f}bn",
    ]


def etf_lines(con) -> list[str]:
    rows = con.execute(ETF_NOVEMBER).fetchall()
    if not rows:
        return ["Spot-ETF flows in November 2025: no data"]
    return [
        "Spot-ETF net flows in November 2025: "
        + ", ".join(f"{underlying} {flow / 1e6:+,.1f} US$m ({days} days)" for underlying, flow, days in rows),
        "  BTC and ETH are Farside's published daily figures (the sandbox serves the real history it bundles, "
        "pipelines/sandbox/data/etf_flows/); SOL comes from the sandbox's flow model",
    ]


def summary(home: Path) -> str:
    lines = []
    with connect_read_only(home) as con:
        rows = con.execute(LARGEST_OI_DROPS).fetchall()
        span = con.execute(
            "select min(date), max(date), count(distinct asset) from marts.leverage_daily"
        ).fetchone()
        sections = [
            liquidation_lines(con),
            cascade_lines(con),
            ["Contagion:", crash_week_spillover_line(con)],
            insurance_lines(con, CRASH_DAY),
            risk_lines(con),
            press_window_lines(con),
            largest_single_lines(con, span[0], span[1]),
            options_lines(con),
            debt_lines(con),
            etf_lines(con),
        ]
    lines.append(f"Warehouse: {published_path(home)}  ({span[0]} .. {span[1]}, {span[2]} assets)")
    lines.append("")
    lines.append("Five days with the largest aggregate open-interest drop (all venues, all assets):")
    lines.append(
        f"{'date':<12}{'OI (US$bn)':>12}{'change':>10}{'change %':>10}{'BTC move':>10}{'ETH move':>10}"
        f"{'funding/8h':>12}{'OI venues':>11}"
    )
    for date, oi, change, pct, funding, btc, eth, venues in rows:
        lines.append(
            f"{date!s:<12}{oi / 1e9:>12.2f}{change / 1e9:>+10.2f}{_pct(pct):>10}{_pct(btc):>10}{_pct(eth):>10}"
            f"{_bps(funding):>12}{venues:>11}"
        )
    lines.append(
        "OI change counts only venues that reported on both days; venues keep different history depths."
    )
    for section in sections:
        lines.append("")
        lines.extend(section)
    lines.append("")
    lines.append(f"Query it:  duckdb -readonly {published_path(home)}")
    return "\n".join(lines)


def unfetched_lines(home: Path, first, last) -> list[str]:
    """What a last-day backfill could not fetch, from the lake's own partition statuses."""
    from pipelines.lake import Lake
    from pipelines.lib.timeutil import days_between
    from pipelines.settings import load_settings
    from pipelines.venues.registry import VENUE_MODULES

    lake = Lake.at(load_settings().lake_url, home=home)
    days = days_between(first, last)
    lines = [f"What this backfill on the last day could not fetch ({first} .. {last}, {len(days)} days):"]
    for venue, module in VENUE_MODULES.items():
        for spec in module.DATASETS.values():
            statuses = [lake.partition_status(venue, spec.name, day) for day in days]
            lost = {s: statuses.count(s) for s in ("beyond_retention", "not_recordable") if s in statuses}
            if lost:
                why = ", ".join(f"{n} days {s.replace('_', ' ')}" for s, n in lost.items())
                lines.append(f"  {venue}/{spec.name}: {why}")
    for venue in STREAM_VENUES:
        rows = sum(
            lake.read_partition(venue, "liquidations", d).num_rows
            for d in days
            if lake.partition_path(venue, "liquidations", d).exists()
        )
        lines.append(f"  {venue}/liquidations: {rows} events (a stream cannot be backfilled; record it live)")
    lines.append("  coinglass: not run (a backfill needs COINGLASS_API_KEY; the full demo replays it)")
    return lines


def _pct(value) -> str:
    return "n/a" if value is None else f"{value:+.1f}%"


def _bps(value) -> str:
    return "n/a" if value is None else f"{value * 100:+.4f}%"
