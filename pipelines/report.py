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


def summary(home: Path) -> str:
    lines = []
    with connect_read_only(home) as con:
        rows = con.execute(LARGEST_OI_DROPS).fetchall()
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
    lines.append("")
    lines.append(f"Query it:  duckdb -readonly {published_path(home)}")
    return "\n".join(lines)


def _pct(value) -> str:
    return "n/a" if value is None else f"{value:+.1f}%"


def _bps(value) -> str:
    return "n/a" if value is None else f"{value * 100:+.4f}%"
