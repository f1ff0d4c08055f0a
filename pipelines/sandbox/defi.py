"""The sandbox's DeFi world, derived from the simulated market: lending books, stablecoin supply and prices.

Pure functions of the Market, so the routes serve them and the tests recompute them as ground truth.

- Collateral moves with prices: a chain book's supplied USD = its starting USD x (sum of w_asset x price/start price
  + the stablecoin share). Prices are the venues' mean index price at each hour.
- Borrowing shrinks through on-chain liquidations: on each UTC day, the collateral basket's worst intraday drawdown
  beyond DD_FREE liquidates LIQ_RATE x the excess of the book's debt (capped at MAX_LIQ_SHARE); otherwise debt grows
  by BORROW_GROWTH a day. Snapshots are taken at 00:00 UTC (as DefiLlama's daily points), so a day's liquidations
  show in the next day's snapshot.
- One synthetic dollar (USDe) depegs on one venue's book (Binance) during the crash: from DEPEG_START_AFTER_SHOCK
  after the first shock's onset it slides to DEPEG_LOW, and is back near 1 after DEPEG_MINUTES. Every other venue
  and DefiLlama's aggregate price hold near 1.00.

Figures aim at shared/CALIBRATION.md: ~$41B borrowed on lending apps, ~$8.2B crypto-backed CDP stablecoins,
~$280B stablecoin supply. Ids, slugs and gecko ids are DefiLlama's where known; the books are invented.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pyarrow.compute as pc

from pipelines.sandbox.market import Market

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
MINUTE_MS = 60_000

DD_FREE = 0.03  # drawdowns up to this are absorbed by health-factor buffers
LIQ_RATE = 0.5  # share of debt liquidated per unit of drawdown beyond DD_FREE
MAX_LIQ_SHARE = 0.25
BORROW_GROWTH = 0.001  # a quiet day's net new borrowing

DEPEG_SYMBOL = "USDe"
DEPEG_VENUE = "binance"
DEPEG_LOW = 0.65
DEPEG_START_AFTER_SHOCK_MIN = 20  # the 20:50 onset -> 21:10 UTC
DEPEG_MINUTES = 60
DEPEG_TROUGH_MIN = 30  # minutes into the depeg at which the low prints
PRICE_VENUES = ("binance", "bybit", "okx", "coinbase")


@dataclass(frozen=True)
class ChainBook:
    supplied_usd: float  # at the scenario's start
    borrowed_usd: float | None  # None: the protocol reports no borrows (CDP)
    mix: dict[str, float]  # collateral weights by asset; the rest is stablecoins


@dataclass(frozen=True)
class Protocol:
    slug: str
    name: str
    category: str
    chains: dict[str, ChainBook]
    id: str = ""


_ETH_HEAVY = {"ETH": 0.45, "BTC": 0.2}
_BTC_HEAVY = {"BTC": 0.45, "ETH": 0.2}
PROTOCOLS: tuple[Protocol, ...] = (
    Protocol(
        "aave-v3",
        "Aave V3",
        "Lending",
        {
            "Ethereum": ChainBook(48e9, 24.0e9, _ETH_HEAVY),
            "Plasma": ChainBook(6.5e9, 3.0e9, {"ETH": 0.2, "BTC": 0.1}),
            "Arbitrum": ChainBook(3.0e9, 1.2e9, _ETH_HEAVY),
            "Base": ChainBook(2.5e9, 1.0e9, _ETH_HEAVY),
        },
        "1599",
    ),
    Protocol(
        "morpho-blue",
        "Morpho Blue",
        "Lending",
        {"Ethereum": ChainBook(6.0e9, 3.5e9, _BTC_HEAVY), "Base": ChainBook(2.5e9, 1.5e9, _BTC_HEAVY)},
        "4025",
    ),
    Protocol(
        "compound-v3",
        "Compound V3",
        "Lending",
        {"Ethereum": ChainBook(2.2e9, 0.9e9, _ETH_HEAVY), "Arbitrum": ChainBook(0.4e9, 0.15e9, _ETH_HEAVY)},
        "2088",
    ),
    Protocol("sparklend", "SparkLend", "Lending", {"Ethereum": ChainBook(5.0e9, 1.8e9, _ETH_HEAVY)}, "2927"),
    Protocol(
        "sky-lending", "Sky Lending", "CDP", {"Ethereum": ChainBook(7.0e9, None, {"ETH": 0.6, "BTC": 0.2})}
    ),
    Protocol(
        "kamino-lend",
        "Kamino Lend",
        "Lending",
        {"Solana": ChainBook(3.2e9, 1.5e9, {"SOL": 0.55, "BTC": 0.1})},
        "3770",
    ),
    Protocol(
        "fluid-lending", "Fluid Lending", "Lending", {"Ethereum": ChainBook(2.5e9, 1.4e9, _ETH_HEAVY)}, "4167"
    ),
    Protocol("euler-v2", "Euler V2", "Lending", {"Ethereum": ChainBook(1.5e9, 0.8e9, _BTC_HEAVY)}, "5044"),
    # not lending, or below the client's TVL floor: the listing carries them, the pipeline must skip them
    Protocol("lido", "Lido", "Liquid Staking", {"Ethereum": ChainBook(30e9, None, {"ETH": 1.0})}, "182"),
    Protocol("uniswap-v3", "Uniswap V3", "Dexs", {"Ethereum": ChainBook(2.5e9, None, {"ETH": 0.4})}, "2198"),
    Protocol("tiny-lend", "Tiny Lend", "Lending", {"Ethereum": ChainBook(20e6, 8e6, _ETH_HEAVY)}),
)


@dataclass(frozen=True)
class Stablecoin:
    id: str
    name: str
    symbol: str
    gecko_id: str
    peg_mechanism: str
    supply_usd: float  # at the scenario's start
    chains: dict[str, float] = field(default_factory=lambda: {"Ethereum": 1.0})  # shares of supply
    daily_growth: float = 0.0005
    post_crash_daily_growth: float | None = None  # after the first shock (USDe redemptions)


STABLECOINS: tuple[Stablecoin, ...] = (
    Stablecoin(
        "1",
        "Tether",
        "USDT",
        "tether",
        "fiat-backed",
        176e9,
        {"Tron": 0.45, "Ethereum": 0.47, "Solana": 0.08},
    ),
    Stablecoin(
        "2",
        "USD Coin",
        "USDC",
        "usd-coin",
        "fiat-backed",
        74e9,
        {"Ethereum": 0.62, "Solana": 0.14, "Base": 0.24},
    ),
    Stablecoin(
        "146", "Ethena USDe", "USDe", "ethena-usde", "crypto-backed", 14.6e9, post_crash_daily_growth=-0.02
    ),
    Stablecoin("5", "Dai", "DAI", "dai", "crypto-backed", 4.9e9),
    Stablecoin("209", "Sky Dollar", "USDS", "usds", "crypto-backed", 2.9e9),
    Stablecoin(
        "262",
        "World Liberty Financial USD",
        "USD1",
        "usd1-wlfi",
        "fiat-backed",
        2.7e9,
        {"BSC": 0.8, "Ethereum": 0.2},
    ),
    Stablecoin("120", "PayPal USD", "PYUSD", "paypal-usd", "fiat-backed", 2.6e9),
    Stablecoin(
        "119",
        "First Digital USD",
        "FDUSD",
        "first-digital-usd",
        "fiat-backed",
        1.1e9,
        {"BSC": 0.7, "Ethereum": 0.3},
    ),
    Stablecoin("118", "GHO", "GHO", "gho", "crypto-backed", 0.3e9),
    Stablecoin("110", "crvUSD", "crvUSD", "crvusd", "crypto-backed", 0.12e9),
    Stablecoin("999", "Tiny Dollar", "TINY", "tiny-dollar", "algorithmic", 5e6),  # below the client's floor
)


def _day_ms(day: date) -> int:
    return int(np.datetime64(day, "ms").astype(np.int64))


def snapshot_days(market: Market) -> list[date]:
    """DefiLlama-style daily points at 00:00 UTC, from the scenario's first day to the day after its last."""
    s = market.scenario
    return [s.start + timedelta(days=i) for i in range((s.end - s.start).days + 2)]


_CACHE: dict[tuple[int, str], object] = {}  # per market object: a Market (it holds tables) is not hashable


def _cached(market: Market, name: str, build):
    key = (id(market), name)
    if key not in _CACHE:
        _CACHE[key] = build()
    return _CACHE[key]


def _index_prices(market: Market) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    return _cached(market, "index_prices", lambda: _build_index_prices(market))


def _build_index_prices(market: Market) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """asset -> (hour ts, open, low, close): the mean over venues of the hourly index candles."""
    h = market.hourly
    out = {}
    for asset in market.scenario.assets:
        t = h.filter(pc.equal(h["asset"], asset))
        ts = t["ts"].cast("int64").to_numpy()
        hours = np.unique(ts)
        slot = np.searchsorted(hours, ts)
        cols = []
        for name in ("index_open", "index_low", "index_close"):
            total = np.zeros(len(hours))
            np.add.at(total, slot, t[name].to_numpy())
            cols.append(total / np.bincount(slot, minlength=len(hours)))
        out[asset] = (hours, *cols)
    return out


def _price_at(market: Market, asset: str, ms: int) -> float:
    """The price at an instant on the hour: the close of the hour before it (the first open at the start)."""
    hours, opens, _, closes = _index_prices(market)[asset]
    i = int(np.searchsorted(hours, ms, side="left"))
    return float(opens[0]) if i == 0 else float(closes[min(i, len(hours)) - 1])


def _basket(market: Market, mix: dict[str, float], ms: int) -> float:
    """A book's collateral value relative to its start: 1.0 at the first snapshot."""
    t0 = _day_ms(market.scenario.start)
    stable = 1.0 - sum(mix.values())
    return stable + sum(w * _price_at(market, a, ms) / _price_at(market, a, t0) for a, w in mix.items())


def _worst_basket_in_day(market: Market, mix: dict[str, float], day_start: int) -> float:
    t0 = _day_ms(market.scenario.start)
    stable = 1.0 - sum(mix.values())
    worst = np.full(24, stable)
    for asset, w in mix.items():
        hours, _, lows, _ = _index_prices(market)[asset]
        lo, hi = np.searchsorted(hours, [day_start, day_start + DAY_MS])
        if hi <= lo:
            return _basket(market, mix, day_start)
        worst[: hi - lo] += w * lows[lo:hi] / _price_at(market, asset, t0)
    return float(worst[: hi - lo].min())


def lending_books(market: Market) -> dict[tuple[str, str], list[dict]]:
    """(slug, chain) -> one point a snapshot day: {ts, supplied_usd, borrowed_usd, liquidated_usd (the day before)}."""
    return _cached(market, "lending_books", lambda: _build_lending_books(market))


def _build_lending_books(market: Market) -> dict[tuple[str, str], list[dict]]:
    books = {}
    days = snapshot_days(market)
    for p in PROTOCOLS:
        for chain, book in p.chains.items():
            points, borrowed = [], book.borrowed_usd
            for i, day in enumerate(days):
                ts = _day_ms(day)
                liquidated = 0.0
                if i > 0 and borrowed is not None:
                    prev = ts - DAY_MS
                    drawdown = 1.0 - _worst_basket_in_day(market, book.mix, prev) / _basket(
                        market, book.mix, prev
                    )
                    share = min(MAX_LIQ_SHARE, LIQ_RATE * max(0.0, drawdown - DD_FREE))
                    liquidated = borrowed * share
                    borrowed = (borrowed - liquidated) * (1.0 if share else 1.0 + BORROW_GROWTH)
                points.append(
                    {
                        "ts": ts,
                        "supplied_usd": book.supplied_usd * _basket(market, book.mix, ts),
                        "borrowed_usd": borrowed,
                        "liquidated_usd": liquidated,
                    }
                )
            books[(p.slug, chain)] = points
    return books


def _crash_ms(market: Market) -> int:
    shocks = market.scenario.shocks
    return min(s.start_ms for s in shocks) if shocks else _day_ms(market.scenario.start) + DAY_MS


def depeg_window(market: Market) -> tuple[int, int]:
    start = _crash_ms(market) + DEPEG_START_AFTER_SHOCK_MIN * MINUTE_MS
    return start, start + DEPEG_MINUTES * MINUTE_MS


def _wobble(key: str, ms, bps: float):
    """Deterministic noise of at most `bps` basis points around 1.00 (ms: an int or an array of minutes)."""
    h = (sum(map(ord, key)) * 131 + np.asarray(ms, dtype=np.int64) // MINUTE_MS * 7919) % 2001
    return 1.0 + (h - 1000) / 1000 * bps / 10_000


def venue_prices(coin: Stablecoin, venue: str, minutes: np.ndarray, market: Market) -> np.ndarray:
    """One venue's price of a stablecoin at each minute (the depeg lives only on DEPEG_VENUE's USDe book)."""
    price = _wobble(coin.symbol + venue, minutes, 8)
    start, end = depeg_window(market)
    if coin.symbol == DEPEG_SYMBOL and venue == DEPEG_VENUE:
        trough = start + DEPEG_TROUGH_MIN * MINUTE_MS
        span = np.where(minutes <= trough, trough - start, end - trough)
        depth = np.clip(1.0 - np.abs(minutes - trough) / span, 0.0, 1.0)  # 1 at the trough, 0 at the edges
        inside = (minutes >= start) & (minutes < end)
        price = np.where(inside, price - depth * (price - DEPEG_LOW), price)
    return price


def worst_venue_print(coin: Stablecoin, day: date, market: Market) -> dict:
    """The day's lowest single-venue print (minute resolution): {venue, price, ts}."""
    start = _day_ms(day)
    minutes = np.arange(start, start + DAY_MS, MINUTE_MS, dtype=np.int64)
    best = None
    for venue in PRICE_VENUES:
        prices = venue_prices(coin, venue, minutes, market)
        i = int(np.argmin(prices))
        if best is None or prices[i] < best["price"]:
            best = {"venue": venue, "price": round(float(prices[i]), 6), "ts": int(minutes[i])}
    return best


def aggregate_price(coin: Stablecoin, ms: int, market: Market) -> float:
    """DefiLlama's daily price: an aggregate that barely notices one venue's hour."""
    return round(float(_wobble(coin.symbol, ms, 4)), 6)


def supply(coin: Stablecoin, ms: int, market: Market) -> float:
    days = (ms - _day_ms(market.scenario.start)) // DAY_MS
    crash_day = (_crash_ms(market) - _day_ms(market.scenario.start)) // DAY_MS
    if coin.post_crash_daily_growth is None or days <= crash_day:
        return coin.supply_usd * (1 + coin.daily_growth) ** days
    before = coin.supply_usd * (1 + coin.daily_growth) ** (crash_day + 1)
    return before * (1 + coin.post_crash_daily_growth) ** (days - crash_day - 1)


def served_days(market: Market, now_ms: int) -> list[date]:
    return [d for d in snapshot_days(market) if _day_ms(d) <= now_ms]


def truth(market: Market) -> dict:
    """What happened on chain: each day's liquidations and the worst day, and the depeg, for the tests."""
    days = snapshot_days(market)
    by_day = np.zeros(len(days))
    for points in lending_books(market).values():
        by_day += [p["liquidated_usd"] for p in points]
    worst = int(np.argmax(by_day))
    start, end = depeg_window(market)
    coin = next(c for c in STABLECOINS if c.symbol == DEPEG_SYMBOL)
    low = worst_venue_print(coin, datetime.fromtimestamp(start / 1000, tz=UTC).date(), market)
    return {
        "events": [
            {
                "type": "defi_liquidations",
                # liquidated during `day`, first visible in the next 00:00 snapshot
                "day": (days[worst] - timedelta(days=1)).isoformat(),
                "snapshot_day": days[worst].isoformat(),
                "borrowed_liquidated_usd": float(by_day[worst]),
            },
            {
                "type": "stablecoin_depeg",
                "symbol": DEPEG_SYMBOL,
                "stablecoin_id": coin.id,
                "venue": DEPEG_VENUE,
                "start_ms": start,
                "end_ms": end,
                "low_price": low["price"],
                "low_ms": low["ts"],
            },
        ],
        "liquidated_usd_by_snapshot_day": {
            d.isoformat(): float(v) for d, v in zip(days, by_day, strict=True) if v
        },
    }
