"""The demo summary's insurance-fund lines: each venue's fund drawdown around a day, and the ADL events published
that day. Read from the published warehouse (marts.insurance_funds_daily, marts.adl_events) like any analyst."""

from __future__ import annotations

from datetime import date, timedelta

FUNDS_AROUND = """
select venue, currency, date, balance_usd, change_usd, drawdown_from_30d_high_pct
from marts.insurance_funds_daily
where date between ? and ?
order by venue, currency, date
"""

ADL_ON = """
select venue, asset, count(*) as episodes, min(ts) as first_start, max(coalesce(ended_at, ts)) as last_end,
    max(decline_from_8h_high_pct) as worst_decline_pct, string_agg(distinct source, '/' order by source) as source
from marts.adl_events
where cast(ts as date) = ?
group by venue, asset
order by venue, asset
"""


def insurance_lines(con, day: str | date) -> list[str]:
    """Per venue and currency: the fund on `day` and the day after (OKX books a day's losses at 08:00 UTC the next
    day), its change and drawdown from the 30-day high; then the ADL episodes that started on `day`."""
    day = date.fromisoformat(day) if isinstance(day, str) else day
    after = day + timedelta(days=1)
    rows = con.execute(FUNDS_AROUND, [day, after]).fetchall()
    lines = [
        f"Insurance funds on {day} and {after} (closing reading of each day; drawdown from the 30-day high):"
    ]
    if not rows:
        lines.append(
            "  no readings (Binance and Bybit serve only the current balance: history starts when recording starts)"
        )
    by_fund: dict[tuple[str, str], dict[date, tuple]] = {}
    for venue, currency, d, balance, change, drawdown in rows:
        by_fund.setdefault((venue, currency), {})[d] = (balance, change, drawdown)
    for (venue, currency), days in by_fund.items():
        cells = []
        for d in (day, after):
            if d not in days:
                cells.append(f"{d:%d %b} no reading")
                continue
            balance, change, drawdown = days[d]
            change_text = "" if change is None else f" ({change / 1e6:+,.1f}M)"
            cells.append(f"{d:%d %b} US${balance / 1e6:,.1f}M{change_text}, drawdown {drawdown:.1f}%")
        lines.append(f"  {venue} {currency}: " + "; ".join(cells))
    adl = con.execute(ADL_ON, [day]).fetchall()
    if not adl:
        lines.append(f"  ADL events published on {day}: none (Binance and Bybit publish no ADL feed)")
        return lines
    lines.append(f"  ADL events published on {day} (Binance and Bybit publish no ADL feed):")
    for venue, asset, episodes, first, last, decline, source in adl:
        lines.append(
            f"    {venue} {asset}: {episodes} episode{'s' if episodes != 1 else ''} {first:%H:%M}-{last:%H:%M} UTC, "
            f"fund down {decline:.1f}% from its 8-hour high at the worst start ({source})"
        )
    return lines
