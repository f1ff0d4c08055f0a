"""The demo's closing summary, read from the published warehouse (read-only, like any analyst)."""

from __future__ import annotations

from pathlib import Path

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


def liquidation_lines(con, day: str = CRASH_DAY) -> list[str]:
    rows = con.execute(LIQUIDATIONS_ON, [day]).fetchall()
    lines = [f"Liquidations on {day} (US$m; Binance's stream is throttled, so its figure is a floor):"]
    if not rows:
        return [*lines, "  none recorded"]
    lines.append(f"  {'venue':<12}{'long':>10}{'short':>10}{'imbalance':>11}{'est. total':>12}  coverage")
    total_long = total_short = 0.0
    for venue, long_usd, short_usd, coverage, estimate in rows:
        total_long, total_short = total_long + long_usd, total_short + short_usd
        lines.append(
            f"  {venue:<12}{long_usd / 1e6:>10,.0f}{short_usd / 1e6:>10,.0f}{_imbalance(long_usd, short_usd):>11}"
            f"{estimate / 1e6:>12,.0f}  {coverage}"
        )
    lines.append(
        f"  {'all':<12}{total_long / 1e6:>10,.0f}{total_short / 1e6:>10,.0f}{_imbalance(total_long, total_short):>11}"
    )
    return lines


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
        + ", ".join(f"{underlying} {flow / 1e6:+,.1f} US$m ({days} days)" for underlying, flow, days in rows)
    ]


def summary(home: Path) -> str:
    lines = []
    with connect_read_only(home) as con:
        rows = con.execute(LARGEST_OI_DROPS).fetchall()
        sections = [liquidation_lines(con), options_lines(con), debt_lines(con), etf_lines(con)]
        span = con.execute(
            "select min(date), max(date), count(distinct asset) from marts.leverage_daily"
        ).fetchone()
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


def _pct(value) -> str:
    return "n/a" if value is None else f"{value:+.1f}%"


def _bps(value) -> str:
    return "n/a" if value is None else f"{value * 100:+.4f}%"
