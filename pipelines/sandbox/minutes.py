"""Venue minute candles over the simulated market: the simulator's minute index path, priced per venue.

The simulator keeps one minute path per asset (index price, `Market.minutes`). A venue's mark price is that path
times (1 + the venue's premium of the hour) and its traded price adds the venue's basis, the same formulas as the
hourly series, so a venue's minute candles aggregate exactly to its hourly mark and last candles.

A scenario's `minute_lead: {venue, minutes}` makes that venue's minute path run `minutes` ahead of the index path
the others follow (its candle at t is the index candle at t + minutes, held at the last one past the market's
end), so the others lag it by a known number of minutes. Its minute candles then no longer aggregate to its
hourly ones; it is off unless a scenario sets it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from pipelines.lib.timeutil import day_start_ms
from pipelines.sandbox.market import Market
from pipelines.sandbox.serving import SandboxState

MINUTE_MS = 60_000
PRICE_TYPES = ("mark", "last")


@dataclass(frozen=True)
class MinuteBars:
    """Minute candles of one venue, asset and price type: open times (ms) and (n, 4) OHLC."""

    ts: np.ndarray
    ohlc: np.ndarray


@dataclass(frozen=True)
class MinuteBook:
    start_ms: int
    index_ohlc: dict[str, np.ndarray]  # asset -> (minutes, 4) index prices
    premium: dict[tuple[str, str], np.ndarray]  # (venue, asset) -> hourly mean premium
    basis: dict[str, float]  # venue -> traded-price basis over mark
    lead_minutes: dict[str, int] = dataclasses.field(
        default_factory=dict
    )  # venue -> minutes ahead of the index

    @classmethod
    def from_market(cls, market: Market) -> MinuteBook:
        if market.minutes is None:
            raise ValueError("this market has no minute path (simulated before minute candles existed)")
        m = market.minutes.sort_by([("asset", "ascending"), ("ts", "ascending")])
        assets = m["asset"].to_numpy(zero_copy_only=False)
        ohlc = np.stack([m[c].to_numpy() for c in ("open", "high", "low", "close")], axis=1)
        index_ohlc = {a: ohlc[assets == a] for a in sorted(set(assets))}
        h = market.hourly.sort_by([("venue", "ascending"), ("asset", "ascending"), ("ts", "ascending")])
        hv, ha = h["venue"].to_numpy(zero_copy_only=False), h["asset"].to_numpy(zero_copy_only=False)
        prem = h["premium"].to_numpy()
        premium = {
            key: prem[(hv == key[0]) & (ha == key[1])] for key in sorted(set(zip(hv, ha, strict=True)))
        }
        basis = {v: spec.basis_bps / 1e4 for v, spec in market.scenario.venues.items()}
        start_ms = int(m["ts"][0].value) if m.num_rows else day_start_ms(market.scenario.start)
        scenario = market.scenario
        lead = (
            {scenario.minute_lead_venue: scenario.minute_lead_minutes} if scenario.minute_lead_minutes else {}
        )
        return cls(start_ms=start_ms, index_ohlc=index_ohlc, premium=premium, basis=basis, lead_minutes=lead)

    @property
    def minutes(self) -> int:
        return len(next(iter(self.index_ohlc.values()))) if self.index_ohlc else 0

    def open_times(self) -> np.ndarray:
        return self.start_ms + np.arange(self.minutes, dtype=np.int64) * MINUTE_MS

    def bars(self, venue: str, asset: str, price_type: str, lo: int, hi: int) -> MinuteBars:
        """Candles lo..hi-1 (minute indexes from the market's start)."""
        if price_type not in PRICE_TYPES:
            raise ValueError(f"unknown minute price type {price_type!r}")
        lo, hi = max(lo, 0), min(hi, self.minutes)
        if hi <= lo:
            return MinuteBars(np.zeros(0, np.int64), np.zeros((0, 4)))
        factor = 1 + self.premium[(venue, asset)][np.arange(lo, hi) // 60]
        if price_type == "last":
            factor = factor * (1 + self.basis[venue])
        ts = self.start_ms + np.arange(lo, hi, dtype=np.int64) * MINUTE_MS
        path = np.minimum(np.arange(lo, hi) + self.lead_minutes.get(venue, 0), self.minutes - 1)
        return MinuteBars(ts, self.index_ohlc[asset][path] * factor[:, None])

    def index_of(self, ts_ms: int) -> int:
        """The minute index whose candle contains ts_ms (may lie outside the market)."""
        return (int(ts_ms) - self.start_ms) // MINUTE_MS

    def served(self, venue: str, asset: str, price_type: str, lo: int, hi: int, now_ms: int) -> MinuteBars:
        """What a venue serves at `now_ms`: started candles only; the one under way shows only its open."""
        hi = min(hi, self.index_of(now_ms) + 1)
        bars = self.bars(venue, asset, price_type, lo, hi)
        if len(bars.ts) and bars.ts[-1] + MINUTE_MS > now_ms:
            bars.ohlc[-1, 1:] = bars.ohlc[-1, 0]
        return bars


_BOOKS: dict[int, tuple[Market, MinuteBook]] = {}


def minute_book(state: SandboxState) -> MinuteBook:
    """The state's market as minute candles, built once per market and shared by the venue routes."""
    entry = _BOOKS.get(id(state.market))
    if entry is None or entry[0] is not state.market:
        _BOOKS.clear()  # one market is served at a time; do not keep old ones alive
        entry = (state.market, MinuteBook.from_market(state.market))
        _BOOKS[id(state.market)] = entry
    return entry[1]
