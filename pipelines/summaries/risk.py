"""The demo summary's risk lines: the collateral-at-risk curve for an asset on a day, and the systemic-risk index
on a day with its driver. Read from the published warehouse like the rest of pipelines/report.py."""

from __future__ import annotations

CURVE_DAY = "2025-10-09"  # the day before the 10 Oct crash: the curve a risk officer had that evening
INDEX_DAY = "2025-10-10"
CURVE_SHOCKS = (-20.0, -15.0, -10.0, -5.0, -2.0, 2.0, 5.0, 10.0)

CURVE_ON = """
select shock_pct, reference_price, cefi_liquidatable_usd, defi_liquidatable_usd, total_liquidatable_usd, cefi_venues
from marts.collateral_at_risk
where date = ? and asset = ? and list_contains(?, shock_pct)
order by shock_pct
"""

INDEX_ON = """
with ranked as (
    select
        date,
        risk_index,
        driver,
        driver_category,
        percent_rank() over (order by risk_index) as pct_rank,
        count(*) over () as days
    from marts.systemic_risk_daily
    where risk_index is not null  -- days with too little history have no index and no rank
)
select
    ranked.risk_index,
    ranked.driver,
    ranked.driver_category,
    ranked.pct_rank,
    ranked.days,
    scores.zscore,
    scores.contribution
from ranked
left join intermediate.int_risk_component_scores as scores
    on scores.date = ranked.date and scores.component = ranked.driver
where ranked.date = ?
"""


def _musd(value: float) -> str:
    return f"{value / 1e6:,.0f}"


def collateral_at_risk_lines(con, day: str = CURVE_DAY, asset: str = "BTC") -> list[str]:
    """A small text table: shock, CeFi (estimated), DeFi (estimated) and total liquidatable, in US$M."""
    rows = con.execute(CURVE_ON, [day, asset, list(CURVE_SHOCKS)]).fetchall()
    if not rows:
        return [f"Collateral at risk, {asset} on {day}: no curve in the warehouse."]
    reference, venues = rows[0][1], rows[0][5]
    price = f"${reference:,.0f}" if reference is not None else "no CeFi price"
    lines = [
        f"Collateral at risk, {asset} on {day} (close {price}, CeFi over {venues} venues; both sides estimated), US$M:",
        f"  {'shock':>7}  {'CeFi':>9}  {'DeFi':>9}  {'total':>9}",
    ]
    for shock, _, cefi, defi, total, _ in rows:
        lines.append(f"  {shock:+6.1f}%  {_musd(cefi):>9}  {_musd(defi):>9}  {_musd(total):>9}")
    return lines


def systemic_risk_lines(con, day: str = INDEX_DAY) -> list[str]:
    """The index on a day, its rank in the warehouse's window, and the component that drove it."""
    row = con.execute(INDEX_ON, [day]).fetchone()
    if row is None:
        known = con.execute(
            "select count(*) from marts.systemic_risk_daily where date = ?", [day]
        ).fetchone()[0]
        if known:
            return [f"Systemic-risk index on {day}: none yet (too little history to score its components)."]
        return [f"Systemic-risk index on {day}: no row in the warehouse."]
    index, driver, category, pct_rank, days, zscore, contribution = row
    rank = f"top {100 * (1 - pct_rank):.0f}% of {days} days" if days > 1 else "the only day"
    if driver is None:
        return [
            f"Systemic-risk index on {day}: {index:.1f} / 100 ({rank}); no component above its trailing mean."
        ]
    return [
        f"Systemic-risk index on {day}: {index:.1f} / 100 ({rank}); driver {driver} ({category}), "
        f"z {zscore:+.1f}, {contribution:+.1f} points."
    ]


def risk_lines(con, curve_day: str = CURVE_DAY, index_day: str = INDEX_DAY) -> list[str]:
    """Everything the demo summary prints for risk ahead of the move."""
    return collateral_at_risk_lines(con, curve_day) + systemic_risk_lines(con, index_day)
