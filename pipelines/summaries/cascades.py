"""The demo summary's contagion lines: the largest liquidation cascade, read from the published warehouse."""

from __future__ import annotations

LARGEST_EPISODE = """
select
    start_ts, duration_minutes, assets, lead_venue, lead_seconds, long_usd, short_usd, dominant_side,
    primary_asset, price_change_pct, oi_change_pct, coverage,
    api_outage_overlap, api_outage_venues, depeg_overlap, depeg_assets,
    oracle_mark_deviation_overlap, oracle_deviation_venues, adl_overlap, adl_venues,
    count(*) over () as episodes
from marts.liquidation_cascades
order by total_usd desc, start_ts
limit 1
"""


def cascade_lines(con) -> list[str]:
    """The largest episode of marts.liquidation_cascades (the crash, in the demo's market): start, lead venue,
    long/short USD, drawdown (or run-up) and the overlap flags with the venues they name."""
    try:
        row = con.execute(LARGEST_EPISODE).fetchone()
    except Exception:  # the mart is absent from this warehouse (built before it existed)
        return ["Liquidation cascades: not in this warehouse"]
    if row is None:
        return ["Liquidation cascades: no episode flagged"]
    (
        start,
        duration,
        assets,
        lead,
        lead_seconds,
        long_usd,
        short_usd,
        side,
        primary,
        price_change,
        oi_change,
        coverage,
        outage,
        outage_venues,
        depeg,
        depeg_assets,
        oracle,
        oracle_venues,
        adl,
        adl_venues,
        episodes,
    ) = row
    move = "drawdown" if side == "long" else "run-up"
    ahead = f", {lead_seconds:,.0f} s before the next venue" if lead_seconds is not None else ""
    return [
        f"Largest liquidation cascade ({episodes} episode{'s' if episodes != 1 else ''} flagged): "
        f"{start:%Y-%m-%d %H:%M} UTC, {duration} min, {', '.join(assets)}",
        f"  lead venue {lead or 'none (no venue crossed its own threshold)'}{ahead}",
        f"  longs US${long_usd / 1e6:,.0f}M, shorts US${short_usd / 1e6:,.0f}M liquidated "
        f"({'a long flush' if side == 'long' else 'a short squeeze'}; coverage {coverage})",
        f"  {primary} {move} {_pct(price_change)} from the minute klines; open interest {_pct(oi_change)}",
        f"  overlaps: API outage {_named(outage, outage_venues)}; depeg {_named(depeg, depeg_assets)}; "
        f"oracle/mark deviation {_named(oracle, oracle_venues)}; ADL {_named(adl, adl_venues)}",
    ]


def _named(flag: bool, names: list[str]) -> str:
    return f"yes ({', '.join(names)})" if flag else "no"


def _pct(value) -> str:
    return "n/a" if value is None else f"{value:+.1f}%"
