"""Every figure of the daily risk page, read from the published warehouse: the page never computes a number itself.

A section whose mart is not built in this warehouse is left out (`has_table`, from information_schema), never
faked. Each query takes the report day D and looks at most WINDOW_DAYS back, so a page costs the same on a
year-old warehouse as on a fresh one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import duckdb

WINDOW_DAYS = 30  # the trend charts show the 30 days up to D


def has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """Whether schema.table exists (a table or a view) in the connected warehouse."""
    found = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()[0]
    return found > 0


def _plain(value):
    """DECIMAL columns arrive as Decimal: the page formats and plots floats."""
    return float(value) if isinstance(value, Decimal) else value


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> list[dict]:
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, map(_plain, row), strict=True)) for row in cursor.fetchall()]


def _row(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> tuple | None:
    row = con.execute(sql, params).fetchone()
    return None if row is None else tuple(map(_plain, row))


def window_start(day: date) -> date:
    return day - timedelta(days=WINDOW_DAYS - 1)


def latest_complete_day(con: duckdb.DuckDBPyConnection, today: date) -> date | None:
    """The newest day before `today` (UTC) that the leverage mart holds: today's partition is still filling."""
    return con.execute("select max(date) from marts.leverage_daily where date < ?", [today]).fetchone()[0]


@dataclass(frozen=True)
class Headline:
    """The day's headline numbers (None where the warehouse has nothing for the day)."""

    liq_long_usd: float | None
    liq_short_usd: float | None
    liq_imbalance_pct: float | None  # 100 x larger side / smaller side, as the press reports it
    liq_dominant_side: str | None
    oi_usd: float | None
    oi_change_usd: float | None
    oi_change_pct: float | None  # over the venues that reported on both days
    risk_index: float | None = None
    risk_driver: str | None = None
    risk_driver_category: str | None = None


HEADLINE_LIQUIDATIONS = """
select sum(long_usd) as long_usd, sum(short_usd) as short_usd,
from marts.liquidations_daily
where date = ?
"""

HEADLINE_OI = """
select
    sum(oi_usd) as oi_usd,
    sum(oi_usd_change) as oi_change_usd,
    sum(oi_usd_change) / nullif(sum(oi_usd) - sum(oi_usd_change), 0) * 100 as oi_change_pct,
from marts.leverage_daily
where date = ?
"""

HEADLINE_RISK = """
select risk_index, driver, driver_category
from marts.systemic_risk_daily
where date = ?
"""


def headline(con: duckdb.DuckDBPyConnection, day: date) -> Headline:
    long_usd = short_usd = None
    if has_table(con, "marts", "liquidations_daily"):
        long_usd, short_usd = _row(con, HEADLINE_LIQUIDATIONS, [day])
    imbalance = side = None
    if long_usd is not None and short_usd is not None:
        low, high = min(long_usd, short_usd), max(long_usd, short_usd)
        imbalance = 100 * high / low if low else None
        side = "balanced" if long_usd == short_usd else ("long" if long_usd > short_usd else "short")
    oi_usd = oi_change = oi_pct = None
    if has_table(con, "marts", "leverage_daily"):
        oi_usd, oi_change, oi_pct = _row(con, HEADLINE_OI, [day])
    risk = (None, None, None)
    if has_table(con, "marts", "systemic_risk_daily"):
        risk = _row(con, HEADLINE_RISK, [day]) or risk
    return Headline(long_usd, short_usd, imbalance, side, oi_usd, oi_change, oi_pct, *risk)


HOURLY_LIQUIDATIONS = """
select
    venue,
    hour(ts) as hour,
    sum(long_usd) as long_usd,
    sum(short_usd) as short_usd,
    bool_or(coverage = 'sampled') as sampled,
    max(gap_minutes) as gap_minutes,
from marts.liquidations_hourly
where cast(ts as date) = ?
group by venue, hour(ts)
order by venue, hour
"""


def hourly_liquidations(con, day: date) -> list[dict]:
    """Per venue and UTC hour of D: longs, shorts, whether a cell is sampled, and the recorder's gap minutes."""
    return _rows(con, HOURLY_LIQUIDATIONS, [day])


DAILY_LIQUIDATIONS = """
select
    venue,
    sum(long_usd) as long_usd,
    sum(short_usd) as short_usd,
    string_agg(distinct coverage, '/' order by coverage) as coverage,
    sum(gap_minutes) as gap_minutes,
from marts.liquidations_daily
where date = ?
group by venue
order by venue
"""


def liquidations_by_venue(con, day: date) -> list[dict]:
    return _rows(con, DAILY_LIQUIDATIONS, [day])


OI_AND_PRICE = """
select
    date,
    sum(oi_usd) as oi_usd,
    max(case when asset = 'BTC' then close end) as btc_close,
    max(case when asset = 'ETH' then close end) as eth_close,
from marts.leverage_daily
where date between ? and ?
group by date
order by date
"""


def oi_and_price(con, day: date) -> list[dict]:
    """Aggregate OI (all venues, all assets) and the BTC and ETH closes, day by day over the window."""
    return _rows(con, OI_AND_PRICE, [window_start(day), day])


FUNDING_BY_VENUE = """
select venue, cast(funding_time as date) as date, avg(funding_rate_8h) * 100 as funding_8h_pct,
from marts.fct_funding_rates
where asset = 'BTC' and cast(funding_time as date) between ? and ?
group by venue, cast(funding_time as date)
order by venue, date
"""


def funding_by_venue(con, day: date) -> list[dict]:
    """BTC funding per venue, the day's mean of its 8h-equivalent rates, in percent."""
    return _rows(con, FUNDING_BY_VENUE, [window_start(day), day])


OPTIONS_ON = """
select underlying, put_call_oi_ratio, top_put_strike, top_call_strike, max_pain_strike, spot_price, total_oi_usd,
from marts.options_positioning_daily
where date = ?
order by underlying
"""

OPTIONS_TREND = """
select underlying, date, put_call_oi_ratio
from marts.options_positioning_daily
where date between ? and ?
order by underlying, date
"""


def options_on(con, day: date) -> list[dict]:
    return _rows(con, OPTIONS_ON, [day])


def options_trend(con, day: date) -> list[dict]:
    return _rows(con, OPTIONS_TREND, [window_start(day), day])


ETF_FLOWS = """
select date, underlying, max(day_total_flow_usd) as flow_usd,
from marts.etf_flows_daily
where date between ? and ?
group by date, underlying
order by date, underlying
"""


def etf_flows(con, day: date) -> list[dict]:
    """Net flow per underlying and trading day (the day's total over its funds)."""
    return _rows(con, ETF_FLOWS, [window_start(day), day])


DEBT_LEDGER = """
select date, defi_borrowed_usd, cdp_stablecoin_supply_usd, cefi_lender_book_usd, treasury_company_debt_usd,
    crypto_collateralized_usd, total_with_treasury_debt_usd, onchain_share_pct, perp_oi_usd,
from marts.crypto_debt_daily
where date <= ?
order by date desc
limit 1
"""


def debt_ledger(con, day: date) -> dict | None:
    """The ledger's latest row on or before D."""
    rows = _rows(con, DEBT_LEDGER, [day])
    return rows[0] if rows else None


STABLECOIN_PEGS = """
select stablecoin, date, max(abs(peg_deviation_bps)) as deviation_bps,
from marts.stablecoins_daily
where date between ? and ? and peg_deviation_bps is not null
group by stablecoin, date
order by stablecoin, date
"""


def stablecoin_pegs(con, day: date) -> list[dict]:
    """Each stablecoin's daily distance from its peg, in basis points (worst chain)."""
    return _rows(con, STABLECOIN_PEGS, [window_start(day), day])


# --- marts built by other modules: each section renders only where its table exists --------------------------

CASCADES = """
select episode_id, start_ts, end_ts, duration_minutes, assets, venues, long_usd, short_usd, total_usd,
    dominant_side, peak_minute, peak_minute_usd, price_change_pct, lead_venue, lead_seconds, coverage,
from marts.liquidation_cascades
where cast(start_ts as date) <= ? and cast(end_ts as date) >= ?
order by start_ts
"""


def cascades(con, day: date) -> list[dict] | None:
    """Cascade episodes touching D, or None when the mart is not built."""
    if not has_table(con, "marts", "liquidation_cascades"):
        return None
    return _rows(con, CASCADES, [day, day])


COLLATERAL_AT_RISK = """
select asset, shock_pct, cefi_liquidatable_usd, defi_liquidatable_usd, total_liquidatable_usd,
from marts.collateral_at_risk
where date = ? and asset in ('BTC', 'ETH')
order by asset, shock_pct
"""


def collateral_at_risk(con, day: date) -> list[dict] | None:
    if not has_table(con, "marts", "collateral_at_risk"):
        return None
    return _rows(con, COLLATERAL_AT_RISK, [day])


SYSTEMIC_RISK = """
select date, risk_index, driver, driver_category
from marts.systemic_risk_daily
where date between ? and ?
order by date
"""


def systemic_risk(con, day: date) -> list[dict] | None:
    if not has_table(con, "marts", "systemic_risk_daily"):
        return None
    return _rows(con, SYSTEMIC_RISK, [window_start(day), day])


VENUE_OPERATIONS = """
select venue, hour(ts) as hour, sum(request_count) as request_count, max(error_rate) as error_rate,
    max(p95_latency_ms) as p95_latency_ms, sum(outage_minutes) as outage_minutes,
    sum(recorder_gap_minutes) as recorder_gap_minutes,
from marts.venue_operational_risk
where cast(ts as date) = ?
group by venue, hour(ts)
order by venue, hour
"""


def venue_operations(con, day: date) -> list[dict] | None:
    """Per venue and UTC hour of D: errors, latency, outage and recorder-gap minutes."""
    if not has_table(con, "marts", "venue_operational_risk"):
        return None
    return _rows(con, VENUE_OPERATIONS, [day])


INSURANCE_FUNDS = """
select date, venue, sum(balance_usd) as balance_usd, sum(change_usd) as change_usd,
    max(drawdown_from_30d_high_pct) as drawdown_from_30d_high_pct,
from marts.insurance_funds_daily
where date between ? and ?
group by date, venue
order by venue, date
"""


def insurance_funds(con, day: date) -> list[dict] | None:
    if not has_table(con, "marts", "insurance_funds_daily"):
        return None
    return _rows(con, INSURANCE_FUNDS, [window_start(day), day])
