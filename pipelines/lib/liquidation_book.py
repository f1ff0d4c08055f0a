"""An estimated book of perp liquidation levels, rebuilt from hourly OI, price and long share (pure, no I/O).

The liquidation-heatmap method, made explicit:

- **Entries.** Each hour, each side's book is reconciled with the venue's OI at the hour's end, split into longs
  and shorts by the venue's long share. A side below its target gains the difference as new positions entered at
  the hour's typical price (high + low + close) / 3; a side above it is scaled down proportionally (closes are not
  attributed to any entry price).
- **Leverage tiers.** New positions are spread over `TIER_LEVERAGE` with `TIER_WEIGHTS` (a documented prior, not
  fitted: most retail OI sits at 5-25x, a thin tail at 50-100x). A tier above the venue's maximum leverage for the
  asset is capped at that maximum.
- **Liquidation price** (isolated margin, the venues' maintenance-margin rule): a long entered at P with leverage L
  is liquidated at P x (1 - 1/L + mmr), a short at P x (1 + 1/L - mmr).
- **Trading through.** Levels the hour's range reached (longs at or above its low, shorts at or below its high)
  were liquidated and leave the book before the reconciliation, so an OI fall is not counted twice.
- **The curve.** At a shock s (a fraction, -0.5..+0.5) from a reference price P, the liquidatable notional is the
  sum of qty x liquidation price over longs with a level at or above P x (1 + s) for s < 0, and over shorts at or
  below P x (1 + s) for s > 0: monotonic in |s| by construction.

What it cannot see: positions that open and close within an hour, turnover at flat OI (levels never age), cross
margin, and margin top-ups. So the output is an estimate, labelled so in the marts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

TIER_LEVERAGE: tuple[float, ...] = (5.0, 10.0, 25.0, 50.0, 100.0)
TIER_WEIGHTS: tuple[float, ...] = (0.35, 0.30, 0.20, 0.10, 0.05)

# shock_pct steps: fine near the price, where most levels sit, coarse in the tails
SHOCKS_PCT: tuple[float, ...] = (
    -50.0, -40.0, -30.0, -25.0, -20.0, -15.0, -10.0, -7.5, -5.0, -3.0, -2.0, -1.0,
    1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0,
)  # fmt: skip

# (maintenance margin rate, maximum leverage): each venue's first (smallest) risk bracket.
# Binance USD-M brackets (BTCUSDT 0.40% at 125x, ETHUSDT 0.50% at 100x, others ~1% at 50-75x); Bybit's risk
# limit tier 1 (0.50%); OKX's tier 1 (0.40% BTC/ETH); Hyperliquid's maintenance margin is half the initial margin
# at the asset's maximum leverage (BTC 40x -> 1.25%, ETH 25x -> 2%, SOL 20x -> 2.5%, others 10x -> 5%).
MAINTENANCE: dict[str, dict[str, tuple[float, float]]] = {
    "binance": {"BTC": (0.004, 125), "ETH": (0.005, 100), "*": (0.01, 75)},
    "bybit": {"BTC": (0.005, 100), "ETH": (0.005, 100), "*": (0.01, 50)},
    "okx": {"BTC": (0.004, 100), "ETH": (0.004, 100), "*": (0.01, 50)},
    "hyperliquid": {"BTC": (0.0125, 40), "ETH": (0.02, 25), "SOL": (0.025, 20), "*": (0.05, 10)},
    "*": {"*": (0.005, 100)},
}


def maintenance(venue: str, asset: str) -> tuple[float, float]:
    """(maintenance margin rate, maximum leverage) for a venue's asset, falling back to the venue's default."""
    table = MAINTENANCE.get(venue, MAINTENANCE["*"])
    return table.get(asset, table["*"])


def liquidation_price(entry: float, leverage: float, mmr: float, side: str) -> float:
    """Isolated-margin liquidation price of a position entered at `entry`."""
    if side == "long":
        return entry * (1 - 1 / leverage + mmr)
    if side == "short":
        return entry * (1 + 1 / leverage - mmr)
    raise ValueError(f"side must be 'long' or 'short', got {side!r}")


@dataclass(frozen=True)
class Hour:
    """One hour of one venue's market: the price bar and, at its end, the OI (coins) and long share [0, 1]."""

    high: float
    low: float
    close: float
    oi_coin: float | None  # None: no reading; the book is only swept this hour
    long_share: float | None  # None: unknown; the caller's fallback applies


@dataclass
class LiquidationBook:
    venue: str
    asset: str
    tiers: Sequence[float] = TIER_LEVERAGE
    weights: Sequence[float] = TIER_WEIGHTS
    mmr: float | None = None  # None: the venue's rule (MAINTENANCE)
    # levels per side: liquidation prices and quantities (coins), parallel arrays
    prices: dict[str, np.ndarray] = field(default_factory=dict)
    qty: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.tiers) != len(self.weights) or abs(sum(self.weights) - 1) > 1e-9:
            raise ValueError("tier weights must match the tiers and sum to 1")
        venue_mmr, max_lev = maintenance(self.venue, self.asset)
        mmr = venue_mmr if self.mmr is None else self.mmr
        self._lev = np.minimum(np.asarray(self.tiers, float), max_lev)
        self._w = np.asarray(self.weights, float)
        self._factor = {
            side: np.array([liquidation_price(1.0, lev, mmr, side) for lev in self._lev])
            for side in ("long", "short")
        }
        for side in ("long", "short"):
            self.prices.setdefault(side, np.empty(0))
            self.qty.setdefault(side, np.empty(0))

    def total(self, side: str) -> float:
        return float(self.qty[side].sum())

    def step(self, hour: Hour) -> None:
        """Sweep the levels the hour traded through, then reconcile each side with the hour-end OI."""
        if not (hour.low > 0 and hour.high >= hour.low):
            raise ValueError(f"bad price bar for {self.venue} {self.asset}: high {hour.high}, low {hour.low}")
        self._keep("long", self.prices["long"] < hour.low)
        self._keep("short", self.prices["short"] > hour.high)
        if hour.oi_coin is None:
            return
        if hour.oi_coin < 0 or not (0 <= (hour.long_share if hour.long_share is not None else 0.5) <= 1):
            raise ValueError(f"bad OI or long share for {self.venue} {self.asset}: {hour}")
        share = 0.5 if hour.long_share is None else hour.long_share
        entry = (hour.high + hour.low + hour.close) / 3
        for side, target in (("long", hour.oi_coin * share), ("short", hour.oi_coin * (1 - share))):
            held = self.total(side)
            if target > held:
                self.prices[side] = np.concatenate([self.prices[side], entry * self._factor[side]])
                self.qty[side] = np.concatenate([self.qty[side], (target - held) * self._w])
            elif held > 0:
                self.qty[side] = self.qty[side] * (target / held)
        if len(self.prices["long"]) > 4096:  # drop emptied levels now and then
            for side in ("long", "short"):
                self._keep(side, self.qty[side] > 1e-12)

    def _keep(self, side: str, mask: np.ndarray) -> None:
        self.prices[side] = self.prices[side][mask]
        self.qty[side] = self.qty[side][mask]

    def liquidatable_usd(self, reference_price: float, shock: float) -> float:
        """Notional (qty x liquidation price) liquidated by a move from `reference_price` to x (1 + shock)."""
        if shock == 0:
            return 0.0
        level = reference_price * (1 + shock)
        if shock < 0:
            hit = self.prices["long"] >= level
            return float((self.prices["long"][hit] * self.qty["long"][hit]).sum())
        hit = self.prices["short"] <= level
        return float((self.prices["short"][hit] * self.qty["short"][hit]).sum())


@dataclass(frozen=True)
class Bar:
    """A row of the hourly input: one venue, asset and hour."""

    venue: str
    asset: str
    day: object  # the UTC date the hour belongs to
    hour: Hour


def daily_curves(
    bars: Iterable[Bar], shocks_pct: Sequence[float] = SHOCKS_PCT
) -> list[tuple[str, str, object, float, float, float]]:
    """Run one book per (venue, asset) through its hours (in time order) and read the curve at each day's last hour.

    Returns rows (venue, asset, day, shock_pct, reference_price, liquidatable_usd), the reference price being the
    close of the day's last hour. A venue and asset without any OI reading yet has no book, and no rows."""
    books: dict[tuple[str, str], LiquidationBook] = {}
    last: dict[tuple[str, str], tuple[object, float]] = {}
    fed: set[tuple[str, str]] = set()
    rows: list[tuple[str, str, object, float, float, float]] = []

    def emit(key: tuple[str, str]) -> None:
        if key not in fed:
            return
        day, close = last[key]
        book = books[key]
        for s in shocks_pct:
            rows.append((key[0], key[1], day, float(s), close, book.liquidatable_usd(close, s / 100)))

    for bar in bars:
        key = (bar.venue, bar.asset)
        if key in last and last[key][0] != bar.day:
            emit(key)
        book = books.get(key)
        if book is None:
            book = books[key] = LiquidationBook(bar.venue, bar.asset)
        book.step(bar.hour)
        if bar.hour.oi_coin is not None:
            fed.add(key)
        last[key] = (bar.day, bar.hour.close)
    for key in last:
        emit(key)
    return rows
