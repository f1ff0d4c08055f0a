"""The sandbox's Deribit options and perpetual funding, derived from the simulated market: what Deribit serves at
a clock time.

Pure functions of the market and the sandbox clock (`option_chain`, `funding_history`), so the route
(routes/deribit.py) only renders them and tests recompute what was served.

Sandbox choices (not venue facts):
- Spot is the simulated index at the open of the clock's hour; the chain is rebuilt from it every hour.
- Expiries (08:00 UTC, after the clock): the dailies of the next days, the next 3 Fridays (weeklies), the
  last Fridays of the next 3 months (monthlies), continued until two quarter months (Mar/Jun/Sep/Dec) are listed.
- Strikes: a grid of `nice` steps around spot, wider for longer expiries (±2% dailies .. ±50% quarterlies).
- Open interest: a fixed pool per currency split by expiry kind, put share 0.38 - 1.5 x the trailing 7-day log
  return (clipped to 0.25..0.6: put/call about 0.6 when calm, up to 1.5, so OI shifts to puts as the price falls), puts centred 8% below spot and calls
  8% above, doubled on round strikes (ten grid steps), with a fixed per-instrument factor; 0.1-coin lots.
- IV: a base per currency, lifted by the trailing 24 h realised volatility for short expiries (so it jumps on
  the crash), with a put skew that steepens as the 7-day return falls. Mark prices are Black-76 on the expiry's
  forward (5%/year basis), in coin (USD value / forward), like Deribit's inverse options.
- Funding history: hourly; interest_1h = the reference venue's premium over the hour + 0.01%/8h interest
  (the Deribit perpetual is taken to track the same premium), capped at ±0.3%/h; interest_8h = the sum of the
  last 8 hours; index_price is the index at the timestamp, prev_index_price an hour before.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, date, datetime, timedelta

import numpy as np

from pipelines.lib.option_names import EXPIRY_HOUR_UTC, MONTHS, format_option_name
from pipelines.sandbox.market import BASE_FUNDING_8H, Market
from pipelines.sandbox.serving import HOUR_MS

YEAR_MS = 365 * 24 * HOUR_MS
TICK = 0.0001
BASIS_PER_YEAR = 0.05
BASE_IV = {"BTC": 0.42, "ETH": 0.60}
OI_POOL_COIN = {"BTC": 250_000.0, "ETH": 2_000_000.0}
EXPIRY_WEIGHT = {"daily": 0.2, "weekly": 0.5, "monthly": 1.0, "quarterly": 1.5}
STRIKE_STEP_OF_SPOT = {"daily": 0.01, "weekly": 0.025, "monthly": 0.05, "quarterly": 0.10}
STRIKES_EACH_SIDE = {"daily": 2, "weekly": 4, "monthly": 5, "quarterly": 5}
MAX_HOURLY_FUNDING = 0.003

_INDEX_CACHE: dict[tuple[int, str], tuple[Market, dict[str, np.ndarray]]] = {}


def _index(market: Market, currency: str) -> dict[str, np.ndarray] | None:
    """The currency's hourly index (identical on every venue) and a reference venue's premium."""
    key = (id(market), currency)
    cached = _INDEX_CACHE.get(key)
    if cached is not None and cached[0] is market:
        return cached[1]
    venues = sorted(v for v in market.scenario.venues if currency in market.scenario.venues[v].oi_usd)
    if currency not in market.scenario.assets or not venues:
        return None
    s = market.series(venues[0], currency).sort_by("ts")
    series = {
        "ts": s["ts"].cast("int64").to_numpy(),
        "open": s["index_open"].to_numpy(),
        "close": s["index_close"].to_numpy(),
        "premium": s["premium"].to_numpy(),
    }
    _INDEX_CACHE[key] = (market, series)
    return series


def expiry_kind(day: date) -> str:
    if day.weekday() != 4:
        return "daily"
    if (day + timedelta(days=7)).month == day.month:
        return "weekly"
    return "quarterly" if day.month in (3, 6, 9, 12) else "monthly"


def _last_friday(year: int, month: int) -> date:
    first_next = date(year + month // 12, month % 12 + 1, 1)
    last = first_next - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - 4) % 7)


def listed_expiries(clock_ms: int) -> list[date]:
    """Expiry days whose 08:00 UTC lies after the clock: dailies, weeklies, monthlies, quarterlies."""
    now = datetime.fromtimestamp(clock_ms / 1000, tz=UTC)
    first = now.date() if now.hour < EXPIRY_HOUR_UTC else now.date() + timedelta(days=1)
    days = {first + timedelta(days=i) for i in range(2)}  # dailies
    friday = first + timedelta(days=(4 - first.weekday()) % 7)
    days |= {friday + timedelta(weeks=i) for i in range(3)}  # weeklies
    months, (y, m) = [], (first.year, first.month)
    while len(months) < 3 or len([x for x in months if x.month in (3, 6, 9, 12)]) < 2:
        candidate = _last_friday(y, m)
        if candidate >= first and (len(months) < 3 or m in (3, 6, 9, 12)):
            months.append(candidate)
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return sorted(days | set(months))


def _nice_step(value: float) -> float:
    """The largest 1, 2, 2.5 or 5 x 10^k not above value."""
    power = 10 ** math.floor(math.log10(value))
    return max(m * power for m in (1, 2, 2.5, 5) if m * power <= value)


def _unit(name: str, salt: str = "") -> float:
    """A fixed pseudo-random number in [0, 1) per name: deterministic, no global RNG."""
    digest = hashlib.blake2b(f"{name}|{salt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _norm_cdf(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def _black76(forward: float, strike: float, years: float, vol: float, option_type: str) -> float:
    sd = vol * math.sqrt(years)
    d1 = (math.log(forward / strike) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    if option_type == "call":
        return forward * _norm_cdf(d1) - strike * _norm_cdf(d2)
    return strike * _norm_cdf(-d2) - forward * _norm_cdf(-d1)


def _ticks(value: float, up: bool) -> float | None:
    n = math.ceil(value / TICK - 1e-9) if up else math.floor(value / TICK + 1e-9)
    return round(n * TICK, 4) if n > 0 else None


def option_chain(market: Market, currency: str, clock_ms: int) -> list[dict]:
    """Every option on `currency` as get_book_summary_by_currency serves it at clock_ms (field order as recorded)."""
    index = _index(market, currency)
    if index is None:
        return []
    i = int(np.searchsorted(index["ts"], clock_ms, side="right")) - 1
    if i < 0:
        return []  # before the simulation starts
    spot = float(index["open"][i])
    week_ago = float(index["open"][max(i - 168, 0)])
    ret_7d = math.log(spot / week_ago)
    closes = np.log(index["close"][max(i - 25, 0) : i])
    realised = float(np.std(np.diff(closes)) * math.sqrt(24 * 365)) if len(closes) > 2 else 0.0
    base_iv = BASE_IV.get(currency, 0.7)
    short_iv = max(0.5 * base_iv + 0.7 * realised, 0.6 * base_iv)
    skew = 0.15 + 1.5 * max(-ret_7d, 0.0)
    put_share = min(max(0.38 - 1.5 * ret_7d, 0.25), 0.6)  # put/call ~0.6 when calm, up to 1.5
    pool = OI_POOL_COIN.get(currency, 100_000.0)

    expiries = listed_expiries(clock_ms)
    kinds = {day: expiry_kind(day) for day in expiries}
    weight_total = sum(EXPIRY_WEIGHT[k] for k in kinds.values())
    records = []
    for day in expiries:
        kind = kinds[day]
        expiry_ms = int(
            datetime(day.year, day.month, day.day, EXPIRY_HOUR_UTC, tzinfo=UTC).timestamp() * 1000
        )
        years = (expiry_ms - clock_ms) / YEAR_MS
        forward = spot * math.exp(BASIS_PER_YEAR * years)
        atm_iv = base_iv + (short_iv - base_iv) * math.exp(-years * 365 / 20)
        step = _nice_step(spot * STRIKE_STEP_OF_SPOT[kind])
        centre = round(spot / step)
        n = STRIKES_EACH_SIDE[kind]
        strikes = [k * step for k in range(centre - n, centre + n + 1) if k > 0]
        expiry_pool = pool * EXPIRY_WEIGHT[kind] / weight_total
        for option_type, share, centre_log in (("call", 1 - put_share, 0.08), ("put", put_share, -0.08)):
            weights = {}
            for strike in strikes:
                name = format_option_name(currency, day, strike, option_type)
                w = math.exp(-0.5 * ((math.log(strike / spot) - centre_log) / 0.15) ** 2)
                w *= 2.0 if round(strike / (10 * step), 9).is_integer() else 1.0  # round strikes draw OI
                weights[name] = (strike, w * (0.7 + 0.6 * _unit(name)))
            total_w = sum(w for _, w in weights.values())
            for name, (strike, w) in weights.items():
                oi = round(expiry_pool * share * w / total_w, 1)
                records.append(
                    _book_summary(
                        name, currency, day, strike, option_type, oi, forward, spot, years, atm_iv, skew
                    )
                    | {"creation_timestamp": clock_ms, "_hour": i}
                )
    return [_ordered(r, realised) for r in records]


def _book_summary(name, currency, day, strike, option_type, oi, forward, spot, years, atm_iv, skew) -> dict:
    x = math.log(strike / forward)
    iv = min(max(atm_iv * (1 - skew * x + 1.0 * x * x), 0.15), 3.0)
    mark = _black76(forward, strike, max(years, 1 / YEAR_MS * HOUR_MS), iv, option_type) / forward
    mark = max(float(f"{mark:.8g}"), 1e-8)
    return {
        "instrument_name": name,
        "currency": currency,
        "expiry_day": day,
        "open_interest": oi,
        "mark_price": mark,
        "mark_iv": round(iv * 100, 2),
        "underlying_price": round(forward, 2),
        "estimated_delivery_price": round(spot, 2),
    }


def _ordered(r: dict, realised: float) -> dict:
    """Fill the quote fields and lay the record out in the recording's key order."""
    name, mark, oi = r["instrument_name"], r["mark_price"], r["open_interest"]
    activity = _unit(name, str(r["_hour"]))
    volume = round(oi * 0.03 * (1 + 3 * realised) * 2 * activity, 1) if activity > 0.3 else 0.0
    bid = _ticks(mark * 0.97, up=False)
    ask = _ticks(mark * 1.03 + TICK, up=True)
    last = _ticks(mark * (0.97 + 0.06 * _unit(name, "last")), up=False)
    traded = volume > 0 and last is not None
    change = round((_unit(name, f"chg{r['_hour']}") - 0.5) * 40, 4) if traded else None
    currency, day = r["currency"], r["expiry_day"]
    return {
        "high": round(max(last, ask or last), 4) if traded else None,
        "low": round(min(last, bid or last), 4) if traded else None,
        "last": last,
        "instrument_name": name,
        "bid_price": bid,
        "ask_price": ask,
        "open_interest": oi,
        "mark_price": mark,
        "interest_rate": 0.0,
        "creation_timestamp": r["creation_timestamp"],
        "estimated_delivery_price": r["estimated_delivery_price"],
        "price_change": change,
        "volume": volume,
        "mark_iv": r["mark_iv"],
        "underlying_price": r["underlying_price"],
        "underlying_index": f"{currency}-{day.day}{MONTHS[day.month - 1]}{day.year % 100:02d}",
        "base_currency": currency,
        "quote_currency": currency,
        "volume_usd": round(volume * mark * r["underlying_price"], 2),
        "mid_price": round((bid + ask) / 2, 5) if bid is not None and ask is not None else None,
    }


def funding_history(market: Market, currency: str, start_ms: int, end_ms: int, clock_ms: int) -> list[dict]:
    """Hourly rows with start <= timestamp <= min(end, clock); the hour before each timestamp must be simulated."""
    index = _index(market, currency)
    if index is None:
        return []
    ts, rows = index["ts"], []
    rates = np.clip(index["premium"] + BASE_FUNDING_8H / 8, -MAX_HOURLY_FUNDING, MAX_HOURLY_FUNDING)
    first = max(-(-start_ms // HOUR_MS) * HOUR_MS, int(ts[0]) + HOUR_MS)
    last = min(end_ms, clock_ms, int(ts[-1]) + HOUR_MS)
    for t in range(first, last + 1, HOUR_MS):
        i = int(np.searchsorted(ts, t - HOUR_MS))  # the hour ending at t
        rows.append(
            {
                "timestamp": t,
                "index_price": round(float(index["close"][i]), 2),
                "prev_index_price": round(float(index["open"][i]), 2),
                "interest_8h": round(float(rates[max(i - 7, 0) : i + 1].sum()), 8),
                "interest_1h": round(float(rates[i]), 8),
            }
        )
    return rows
