"""The market simulator: correlated prices, a leveraged position population per venue, funding and liquidations.

Mechanism, not paint: each venue and asset holds leveraged longs and shorts as a histogram over liquidation
price. Positions open at the current price with a spread of leverage, close at a steady rate, and are force-closed
when the price crosses their liquidation price. Forced closes push the price further (impact that decays), which
can trigger the next layer: cascades emerge. Open interest is the leveraged long book (the market maker takes the
other side of any imbalance), funding follows the premium, and long/short ratios come from the same books.

The output tables are the sandbox's ground truth; the server serves venue-shaped views of them.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.lib.timeutil import DAY_MS, HOUR_MS, day_start_ms
from pipelines.sandbox.insurance import simulate_funds
from pipelines.sandbox.scenario import Scenario

DATA_DIR = Path(__file__).parent / "data"
BINS = 1200
LOG_SPAN = 1.5  # the grid covers price x e^-1.5 .. x e^1.5 around each asset's first price
BASE_FUNDING_8H = 0.0001  # the interest component: +0.01% per 8h
AVG_SIZE_LONG, AVG_SIZE_SHORT = 1.0, 1.6  # shorts are fewer, larger accounts
TURNOVER_PER_HOUR = 0.08
# quantiles of a lognormal (sigma 0.30) around each nominal leverage
LEVERAGE_SPREAD = np.exp(0.30 * np.array([-1.73, -1.15, -0.76, -0.43, -0.14, 0.14, 0.43, 0.76, 1.15, 1.73]))


@dataclass(frozen=True)
class Market:
    scenario: Scenario
    hourly: (
        pa.Table
    )  # venue, asset, ts, OHLC (last/mark/index), volume, taker, oi, ratios, liquidations, venue_up
    funding: (
        pa.Table
    )  # venue, asset, funding_time, funding_rate, interval_hours, mark_price, oi_coin, funding_paid_usd
    liquidations: (
        pa.Table
    )  # venue, asset, ts, side, qty_coin, notional_usd (one row per step with forced closes)
    truth: dict  # the ground-truth event log
    liquidation_events: pa.Table | None = (
        None  # individual forced closes: venue, asset, ts, side, price, qty...
    )
    # asset, ts, OHLC of the index price per minute (venue mark and last prices: see minute_bars)
    minutes: pa.Table | None = None
    # the position books at each day's end: venue, asset, ts (00:00 UTC of the next day), side, liq_price,
    # qty_coin (one row per non-empty liquidation-price bin), index_price (the index close at that instant)
    books: pa.Table | None = None
    # insurance funds and ADL (pipelines/sandbox/insurance.py): ledger, ADL events, ADL episodes
    insurance: pa.Table | None = None
    adl_events: pa.Table | None = None
    adl_episodes: pa.Table | None = None

    def series(self, venue: str, asset: str) -> pa.Table:
        mask = pc.and_(pc.equal(self.hourly["venue"], venue), pc.equal(self.hourly["asset"], asset))
        return self.hourly.filter(mask)


# -- price paths -------------------------------------------------------------------------------------------------


def _anchor_closes(scenario: Scenario, asset: str) -> dict[date, float]:
    spec = scenario.assets[asset]
    if spec.anchor_file:
        closes = {}
        for line in (DATA_DIR / spec.anchor_file).read_text().splitlines()[1:]:
            day, value = line.split(",")
            closes[date.fromisoformat(day)] = float(value)
        return closes
    return spec.waypoints


def _anchor_log_path(scenario: Scenario, asset: str, n_minutes: int) -> np.ndarray:
    """Log price at each minute, linear in log space between daily anchors at each day's end."""
    closes = _anchor_closes(scenario, asset)
    known = sorted(closes)
    days = [
        scenario.start - timedelta(days=1) + timedelta(days=i)
        for i in range((scenario.end - scenario.start).days + 2)
    ]
    xs = np.array([(d - known[0]).days for d in known], dtype=float)
    ys = np.log(np.array([closes[d] for d in known]))
    anchor_x = np.array([(d - known[0]).days for d in days], dtype=float)
    anchor_y = np.interp(anchor_x, xs, ys)  # days between waypoints interpolate, beyond them hold flat
    minute_x = anchor_x[0] + np.arange(n_minutes + 1) / 1440.0
    return np.interp(minute_x, anchor_x, anchor_y)[:-1]


def _bridge_noise(rng: np.random.Generator, scenario: Scenario, n_days: int) -> dict[str, np.ndarray]:
    """Correlated minute noise that returns to zero at every day's end, so daily anchors hold."""
    minutes = n_days * 1440
    common = rng.standard_normal(minutes)
    out = {}
    for asset, spec in scenario.assets.items():
        own = rng.standard_normal(minutes)
        corr = min(max(spec.beta, 0.0), 1.0)
        sigma = spec.vol_annual / math.sqrt(365 * 1440)
        walk = (
            (sigma * (corr * common + math.sqrt(1 - corr * corr) * own)).reshape(n_days, 1440).cumsum(axis=1)
        )
        frac = (np.arange(1, 1441) / 1440.0)[None, :]
        out[asset] = (walk - frac * walk[:, -1:]).reshape(-1)
    return out


def _shock_path(scenario: Scenario, asset: str, minute_ms: np.ndarray) -> np.ndarray:
    path = np.zeros(minute_ms.shape)
    for shock in scenario.shocks:
        m = shock.magnitude.get(asset, shock.magnitude.get("ALL", 0.0))
        if not m:
            continue
        dur = shock.duration_minutes * 60_000
        t = (minute_ms - shock.start_ms).astype(float)
        ramp = np.clip(t / dur, 0.0, 1.0)
        ramp = 0.5 - 0.5 * np.cos(np.pi * ramp)  # smooth onset and bottom
        after = np.clip(t - dur, 0.0, None)
        recovered = shock.recovery * (1 - np.exp(-after / (shock.recovery_hours * HOUR_MS / 3)))
        path += m * (ramp - np.where(t > dur, recovered, 0.0))
    return path


def _waypoint_value(points: dict[date, float], day: date, default: float = 1.0) -> float:
    if not points:
        return default
    known = sorted(points)
    xs = [(d - known[0]).days for d in known]
    return float(np.interp((day - known[0]).days, xs, [points[d] for d in known]))


# -- the simulation ----------------------------------------------------------------------------------------------


def simulate(scenario: Scenario) -> Market:
    rng = np.random.default_rng(scenario.seed)
    venues = list(scenario.venues)
    assets = list(scenario.assets)
    V, A = len(venues), len(assets)
    n_days = (scenario.end - scenario.start).days + 1
    step = scenario.step_minutes
    n_minutes = n_days * 1440
    n_steps = n_minutes // step
    start_ms = day_start_ms(scenario.start)
    minute_ms = start_ms + np.arange(n_minutes, dtype=np.int64) * 60_000

    noise = _bridge_noise(rng, scenario, n_days)
    exo = np.stack(
        [
            _anchor_log_path(scenario, a, n_minutes) + noise[a] + _shock_path(scenario, a, minute_ms)
            for a in assets
        ]
    )  # (A, minutes)
    by_step = exo.reshape(A, n_steps, step)
    ex_open, ex_close = by_step[:, :, 0], by_step[:, :, -1]
    ex_low, ex_high = by_step.min(axis=2), by_step.max(axis=2)

    # liquidation-price grid per asset (log price), shared by every venue
    centre = exo[:, 0]
    offsets = np.linspace(-LOG_SPAN, LOG_SPAN, BINS)
    grid = centre[:, None] + offsets[None, :]
    bin_price = np.exp(grid)  # (A, BINS)
    bin_w = offsets[1] - offsets[0]
    mmr = scenario.maintenance_margin

    # per-venue leverage kernels: (V, K) bin offsets and weights, one for each side
    kernels = []
    for v in venues:
        lev = scenario.venues[v].leverage
        nominal = np.array(sorted(lev), dtype=float)
        nominal_w = np.array([lev[int(x)] for x in nominal], dtype=float)
        # effective leverage is spread around the nominal setting (margin top-ups, partial entries), so
        # liquidation prices do not stack into artificial walls
        levs = np.clip((nominal[:, None] * LEVERAGE_SPREAD[None, :]).reshape(-1), 1.2, None)
        w = np.repeat(nominal_w / len(LEVERAGE_SPREAD), len(LEVERAGE_SPREAD))
        w /= w.sum()
        long_off = np.round(np.log(1 - 1 / levs + mmr) / bin_w).astype(int)
        short_off = np.round(np.log(1 + 1 / levs - mmr) / bin_w).astype(int)
        kernels.append((long_off, short_off, w))

    oi_usd0 = np.array([[scenario.venues[v].oi_usd.get(a, 0.0) for a in assets] for v in venues])  # (V, A)
    p0 = np.exp(ex_open[:, 0])
    depth = np.array([scenario.assets[a].depth_usd for a in assets])
    sigma_step = np.array([scenario.assets[a].vol_annual for a in assets]) / math.sqrt(365 * 1440 / step)
    basis = np.array([scenario.venues[v].basis_bps for v in venues]) / 1e4

    hist_long = np.zeros((V, A, BINS))
    hist_short = np.zeros((V, A, BINS))
    close_rate = step / (3 * 1440)  # positions live ~3 days on average
    refill_rate = step / (0.6 * 1440)  # how fast a drained book refills towards its target
    decay = math.exp(-math.log(2) * step / scenario.impact_half_life_minutes)
    impact = np.zeros(A)
    bins_idx = np.arange(BINS)

    # seed the books at their targets with positions opened over the previous days
    for _ in range(int(3 / (step / 1440))):
        _open(
            hist_long,
            hist_short,
            kernels,
            grid,
            ex_open[:, 0],
            oi_usd0,
            p0,
            scenario.long_bias,
            close_rate,
            1.0,
        )
        hist_long *= 1 - close_rate
        hist_short *= 1 - close_rate

    rec = {
        k: np.zeros((V, A, n_steps))
        for k in (
            "oi",
            "long_coin",
            "short_coin",
            "liq_long_coin",
            "liq_short_coin",
            "liq_long_usd",
            "liq_short_usd",
            "premium",
            "volume",
            "taker_buy",
        )
    }
    log_price = np.zeros((A, n_steps, 4))  # open, high, low, close including impact
    impact_at_open = np.zeros((A, n_steps))  # the impact a step opens with, and the one it closes with
    impact_at_close = np.zeros((A, n_steps))
    ret_hist = np.zeros((A,))
    prev_close = ex_open[:, 0].copy()
    book_snapshots: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []
    steps_per_day = 1440 // step

    for t in range(n_steps):
        day = scenario.start + timedelta(days=(t * step) // 1440)
        oi_mult = _waypoint_value(scenario.oi_multiplier, day)
        L = hist_long.sum(axis=2)
        S = hist_short.sum(axis=2)
        rec["oi"][:, :, t] = np.maximum(L, S)
        rec["long_coin"][:, :, t] = L
        rec["short_coin"][:, :, t] = S

        open_lp = ex_open[:, t] + impact
        impact_at_open[:, t] = impact
        liq_long = np.zeros((V, A))
        liq_short = np.zeros((V, A))
        liq_long_usd = np.zeros((V, A))
        liq_short_usd = np.zeros((V, A))
        low, high = ex_low[:, t] + impact, ex_high[:, t] + impact
        for _ in range(8):  # cascade: forced flow moves price, which can reach the next layer of positions
            lo_i = (grid < low[:, None]).sum(axis=1)  # first bin at or above the low
            hi_i = (grid <= high[:, None]).sum(axis=1) - 1  # last bin at or below the high
            mask_l = bins_idx[None, :] >= lo_i[:, None]  # (A, BINS)
            mask_s = bins_idx[None, :] <= hi_i[:, None]
            hit_l = hist_long * mask_l[None]
            hit_s = hist_short * mask_s[None]
            ql, qs = hit_l.sum(axis=2), hit_s.sum(axis=2)
            if ql.sum() + qs.sum() == 0:
                break
            ul, us = (hit_l * bin_price[None]).sum(axis=2), (hit_s * bin_price[None]).sum(axis=2)
            hist_long -= hit_l
            hist_short -= hit_s
            liq_long += ql
            liq_short += qs
            liq_long_usd += ul
            liq_short_usd += us
            net_sell_usd = (ul - us).sum(axis=0)  # forced long closes sell, forced short closes buy
            push = -0.01 * net_sell_usd / depth
            impact += push
            low = np.minimum(low, ex_low[:, t] + impact)
            high = np.maximum(high, ex_high[:, t] + impact)
            if np.all(np.abs(push) < 1e-5):
                break
        close_lp = ex_close[:, t] + impact
        impact_at_close[:, t] = impact
        log_price[:, t] = np.stack(
            [
                open_lp,
                np.maximum(high, np.maximum(open_lp, close_lp)),
                np.minimum(low, np.minimum(open_lp, close_lp)),
                close_lp,
            ],
            axis=1,
        )
        impact *= decay

        ret = close_lp - prev_close
        prev_close = close_lp
        ret_hist = 0.98 * ret_hist + ret  # a slow trend signal: traders chase it
        long_share_target = np.clip(
            scenario.long_bias + 0.08 * np.tanh(ret_hist / (sigma_step * 12)), 0.5, 0.8
        )

        price = np.exp(close_lp)
        closing = close_rate
        if scenario.derisk_distance > 0 and scenario.derisk_hours > 0:
            distance = np.abs(grid - close_lp[:, None])  # (A, BINS): how far each liquidation price is
            closing = (
                close_rate
                + np.minimum(
                    step / (scenario.derisk_hours * 60) * np.exp(-distance / scenario.derisk_distance), 0.5
                )[None]
            )
        hist_long *= 1 - closing
        hist_short *= 1 - closing
        _open(
            hist_long,
            hist_short,
            kernels,
            grid,
            close_lp,
            oi_usd0 * oi_mult,
            p0,
            long_share_target,
            close_rate,
            1.0,
            refill_rate=refill_rate,
            current=(hist_long.sum(axis=2), hist_short.sum(axis=2)),
            price=price,
        )

        Lp, Sp = hist_long.sum(axis=2), hist_short.sum(axis=2)
        skew = Lp / np.maximum(Lp + Sp, 1e-12) - scenario.long_bias
        rec["premium"][:, :, t] = 0.0012 * skew + 0.15 * (impact - 0) / 8 + rng.normal(0, 0.00004, (V, A))
        rec["liq_long_coin"][:, :, t] = liq_long
        rec["liq_short_coin"][:, :, t] = liq_short
        rec["liq_long_usd"][:, :, t] = liq_long_usd
        rec["liq_short_usd"][:, :, t] = liq_short_usd
        z = ret / sigma_step
        base_vol = rec["oi"][:, :, t] * TURNOVER_PER_HOUR * step / 60 * (1 + 0.3 * np.abs(z))[None, :]
        buy_share = 0.5 + 0.15 * np.tanh(z / 2)[None, :]
        rec["volume"][:, :, t] = base_vol + liq_long + liq_short
        rec["taker_buy"][:, :, t] = base_vol * buy_share + liq_short
        if (t + 1) % steps_per_day == 0:  # ground truth for the collateral-at-risk estimate
            end_ms = start_ms + (t + 1) * step * 60_000
            book_snapshots.append((end_ms, hist_long.copy(), hist_short.copy(), price.copy()))

    market = _assemble(scenario, venues, assets, start_ms, n_steps, step, log_price, rec, basis)
    minutes = _minute_table(
        assets, start_ms, minute_paths(by_step, impact_at_open, impact_at_close, log_price)
    )
    funds = simulate_funds(scenario, market.liquidations, minutes)
    return dataclasses.replace(
        market,
        minutes=minutes,
        books=_books_table(venues, assets, bin_price, book_snapshots),
        insurance=funds.ledger,
        adl_events=funds.adl_events,
        adl_episodes=funds.adl_episodes,
    )


def _books_table(venues, assets, bin_price, snapshots) -> pa.Table:
    """The day-end position books as rows: the true liquidation levels the estimate is judged against."""
    cols: dict[str, list] = {
        k: [] for k in ("venue", "asset", "ts", "side", "liq_price", "qty_coin", "index_price")
    }
    for end_ms, hist_long, hist_short, price in snapshots:
        for v, venue in enumerate(venues):
            for a, asset in enumerate(assets):
                for side, hist in (("long", hist_long), ("short", hist_short)):
                    nz = np.nonzero(hist[v, a] > 1e-12)[0]
                    n = len(nz)
                    cols["venue"] += [venue] * n
                    cols["asset"] += [asset] * n
                    cols["ts"].append(np.full(n, end_ms, np.int64))
                    cols["side"] += [side] * n
                    cols["liq_price"].append(bin_price[a, nz])
                    cols["qty_coin"].append(hist[v, a, nz])
                    cols["index_price"].append(np.full(n, price[a]))

    def cat(name, dtype=np.float64):
        return np.concatenate(cols[name]) if cols[name] else np.array([], dtype)

    return pa.table(
        {
            "venue": pa.array(cols["venue"], pa.string()),
            "asset": pa.array(cols["asset"], pa.string()),
            "ts": pa.array(cat("ts", np.int64), pa.timestamp("ms", tz="UTC")),
            "side": pa.array(cols["side"], pa.string()),
            "liq_price": pa.array(cat("liq_price")),
            "qty_coin": pa.array(cat("qty_coin")),
            "index_price": pa.array(cat("index_price")),
        }
    )


def minute_paths(
    exo_by_step: np.ndarray, impact_open: np.ndarray, impact_close: np.ndarray, step_ohlc: np.ndarray
) -> np.ndarray:
    """Minute log-price OHLC (A, minutes, 4) inside the simulator's steps, consistent with each step's OHLC.

    The exogenous path (trend, noise and shock ramps) is already per minute; only the cascade's impact is per
    step, so it is bridged linearly from the impact a step opens with to the one it closes with. Minute closes
    are that path, each minute opens at the previous close (the step's first minute at the step's open), and the
    step's cascade extremes land in the minute where the exogenous path is lowest (highest). So the first open,
    last close, lowest low and highest high of a step's minutes are exactly the step's OHLC."""
    n_assets, n_steps, step = exo_by_step.shape
    frac = np.arange(step) / (step - 1) if step > 1 else np.ones(1)
    bridge = impact_open[:, :, None] + (impact_close - impact_open)[:, :, None] * frac[None, None, :]
    close = exo_by_step + bridge
    opens = np.empty_like(close)
    opens[:, :, 0] = step_ohlc[:, :, 0]
    opens[:, :, 1:] = close[:, :, :-1]
    high = np.maximum(opens, close)
    low = np.minimum(opens, close)
    lowest = exo_by_step.argmin(axis=2)[:, :, None]
    highest = exo_by_step.argmax(axis=2)[:, :, None]
    np.put_along_axis(low, lowest, np.minimum(take(low, lowest), step_ohlc[:, :, 2:3]), axis=2)
    np.put_along_axis(high, highest, np.maximum(take(high, highest), step_ohlc[:, :, 1:2]), axis=2)
    ohlc = np.stack([opens, high, low, close], axis=-1)  # (A, steps, step, 4)
    return ohlc.reshape(n_assets, n_steps * step, 4)


def take(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    return np.take_along_axis(values, index, axis=2)


def _minute_table(assets: list[str], start_ms: int, minutes: np.ndarray) -> pa.Table:
    n = minutes.shape[1]
    ts = start_ms + np.arange(n, dtype=np.int64) * 60_000
    prices = np.exp(minutes)
    return pa.table(
        {
            "asset": pa.array(np.repeat(np.array(assets, dtype=object), n), pa.string()),
            "ts": pa.array(np.tile(ts, len(assets)), pa.timestamp("ms", tz="UTC")),
            "open": pa.array(prices[:, :, 0].reshape(-1)),
            "high": pa.array(prices[:, :, 1].reshape(-1)),
            "low": pa.array(prices[:, :, 2].reshape(-1)),
            "close": pa.array(prices[:, :, 3].reshape(-1)),
        }
    )


def _open(
    hist_long,
    hist_short,
    kernels,
    grid,
    log_price,
    oi_usd,
    p0,
    long_share,
    close_rate,
    scale,
    refill_rate=0.0,
    current=None,
    price=None,
):
    """New positions at the current price: enough to replace closures and refill a drained book."""
    price = np.exp(log_price) if price is None else price
    target_usd = oi_usd * (price / p0)[None, :] ** 0.7  # OI in USD follows price, partly
    target_long = target_usd / price[None, :]
    share = np.broadcast_to(long_share, target_long.shape[1:])[None, :] if np.ndim(long_share) else long_share
    target_short = target_long * (1 - share) / share
    inflow_long = close_rate * target_long
    inflow_short = close_rate * target_short
    if current is not None:
        inflow_long = inflow_long + refill_rate * np.maximum(target_long - current[0], 0)
        inflow_short = inflow_short + refill_rate * np.maximum(target_short - current[1], 0)
    centre_idx = np.round((log_price - grid[:, 0]) / (grid[:, 1] - grid[:, 0])).astype(int)  # (A,)
    n_bins = grid.shape[1]
    for v, (long_off, short_off, w) in enumerate(kernels):
        li = np.clip(centre_idx[:, None] + long_off[None, :], 0, n_bins - 1)  # (A, K)
        si = np.clip(centre_idx[:, None] + short_off[None, :], 0, n_bins - 1)
        rows = np.arange(grid.shape[0])[:, None]
        np.add.at(hist_long[v], (rows, li), inflow_long[v][:, None] * w[None, :] * scale)
        np.add.at(hist_short[v], (rows, si), inflow_short[v][:, None] * w[None, :] * scale)


def _assemble(scenario, venues, assets, start_ms, n_steps, step, log_price, rec, basis) -> Market:
    V, A = len(venues), len(assets)
    per_hour = 60 // step
    H = n_steps // per_hour
    hour_ms = start_ms + np.arange(H, dtype=np.int64) * HOUR_MS
    lp = log_price.reshape(A, H, per_hour, 4)
    idx_o, idx_h, idx_l, idx_c = (
        lp[:, :, 0, 0],
        lp[:, :, :, 1].max(axis=2),
        lp[:, :, :, 2].min(axis=2),
        lp[:, :, -1, 3],
    )
    prem = rec["premium"].reshape(V, A, H, per_hour)

    cols: dict[str, list] = {
        k: []
        for k in (
            "venue",
            "asset",
            "ts",
            "open",
            "high",
            "low",
            "close",
            "mark_open",
            "mark_high",
            "mark_low",
            "mark_close",
            "index_open",
            "index_high",
            "index_low",
            "index_close",
            "volume_coin",
            "taker_buy_coin",
            "taker_sell_coin",
            "oi_coin",
            "long_coin",
            "short_coin",
            "long_account_share",
            "top_account_long_share",
            "top_position_long_share",
            "premium",
            "liq_long_coin",
            "liq_short_coin",
            "liq_long_usd",
            "liq_short_usd",
            "venue_up",
        )
    }
    fund_cols: dict[str, list] = {
        k: []
        for k in (
            "venue",
            "asset",
            "funding_time",
            "funding_rate",
            "interval_hours",
            "mark_price",
            "oi_coin",
            "funding_paid_usd",
        )
    }
    liq_cols: dict[str, list] = {k: [] for k in ("venue", "asset", "ts", "side", "qty_coin", "notional_usd")}

    step_ms = start_ms + np.arange(n_steps, dtype=np.int64) * step * 60_000
    for v, venue in enumerate(venues):
        spec = scenario.venues[venue]
        up = np.array([scenario.outage_at(venue, int(ts)) is None for ts in hour_ms])
        for a, asset in enumerate(assets):
            b = basis[v]
            p_mean = prem[v, a].mean(axis=1)
            mark = np.exp(np.stack([idx_o[a], idx_h[a], idx_l[a], idx_c[a]])) * (1 + p_mean)[None, :]
            last = mark * (1 + b)
            L = rec["long_coin"][v, a].reshape(H, per_hour)[:, 0]
            S = rec["short_coin"][v, a].reshape(H, per_hour)[:, 0]
            acc_l, acc_s = L / AVG_SIZE_LONG, S / AVG_SIZE_SHORT
            vol = rec["volume"][v, a].reshape(H, per_hour).sum(axis=1)
            buy = rec["taker_buy"][v, a].reshape(H, per_hour).sum(axis=1)
            n = H
            cols["venue"] += [venue] * n
            cols["asset"] += [asset] * n
            cols["ts"].append(hour_ms)
            for name, arr in zip(("open", "high", "low", "close"), last, strict=True):
                cols[name].append(arr)
            for name, arr in zip(("mark_open", "mark_high", "mark_low", "mark_close"), mark, strict=True):
                cols[name].append(arr)
            for name, arr in zip(
                ("index_open", "index_high", "index_low", "index_close"),
                np.exp(np.stack([idx_o[a], idx_h[a], idx_l[a], idx_c[a]])),
                strict=True,
            ):
                cols[name].append(arr)
            cols["volume_coin"].append(vol)
            cols["taker_buy_coin"].append(buy)
            cols["taker_sell_coin"].append(vol - buy)
            cols["oi_coin"].append(np.maximum(L, S))
            cols["long_coin"].append(L)
            cols["short_coin"].append(S)
            cols["long_account_share"].append(acc_l / (acc_l + acc_s))
            cols["top_account_long_share"].append(0.4 * acc_l / (0.4 * acc_l + 0.45 * acc_s))
            cols["top_position_long_share"].append(0.35 * L / (0.35 * L + 0.45 * S))
            cols["premium"].append(p_mean)
            for k in ("liq_long_coin", "liq_short_coin", "liq_long_usd", "liq_short_usd"):
                cols[k].append(rec[k][v, a].reshape(H, per_hour).sum(axis=1))
            cols["venue_up"].append(up)

            # funding: the mean premium over each interval plus the interest component, capped
            ih = spec.funding_interval_hours
            per_8h = p_mean + BASE_FUNDING_8H
            for end in range(ih, H + 1, ih):
                rate8 = float(per_8h[end - ih : end].mean())
                rate = float(np.clip(rate8 * ih / 8, -spec.funding_cap, spec.funding_cap))
                if end >= H:
                    break  # the settlement at the window's end belongs to the next day
                oi = float(max(L[end], S[end]))
                m = float(mark[0][end])
                fund_cols["venue"].append(venue)
                fund_cols["asset"].append(asset)
                fund_cols["funding_time"].append(int(hour_ms[end]))
                fund_cols["funding_rate"].append(round(rate, 8))
                fund_cols["interval_hours"].append(ih)
                fund_cols["mark_price"].append(m)
                fund_cols["oi_coin"].append(oi)
                fund_cols["funding_paid_usd"].append(round(rate, 8) * oi * m)

            ql, qs = rec["liq_long_coin"][v, a], rec["liq_short_coin"][v, a]
            for side, q, u in (
                ("long", ql, rec["liq_long_usd"][v, a]),
                ("short", qs, rec["liq_short_usd"][v, a]),
            ):
                nz = np.nonzero(q > 1e-9)[0]
                liq_cols["venue"] += [venue] * len(nz)
                liq_cols["asset"] += [asset] * len(nz)
                liq_cols["ts"].append(step_ms[nz])
                liq_cols["side"] += [side] * len(nz)
                liq_cols["qty_coin"].append(q[nz])
                liq_cols["notional_usd"].append(u[nz])

    ts_type = pa.timestamp("ms", tz="UTC")
    hourly = pa.table(
        {
            k: (
                pa.array(v, pa.string())
                if k in ("venue", "asset")
                else pa.array(np.concatenate(v), ts_type)
                if k == "ts"
                else pa.array(np.concatenate(v))
            )
            for k, v in cols.items()
        }
    )
    funding = pa.table(
        {k: (pa.array(v, ts_type) if k == "funding_time" else pa.array(v)) for k, v in fund_cols.items()}
    )
    liquidations = pa.table(
        {
            "venue": pa.array(liq_cols["venue"], pa.string()),
            "asset": pa.array(liq_cols["asset"], pa.string()),
            "ts": pa.array(
                np.concatenate(liq_cols["ts"]) if liq_cols["ts"] else np.array([], np.int64), ts_type
            ),
            "side": pa.array(liq_cols["side"], pa.string()),
            "qty_coin": pa.array(
                np.concatenate(liq_cols["qty_coin"]) if liq_cols["qty_coin"] else [], pa.float64()
            ),
            "notional_usd": pa.array(
                np.concatenate(liq_cols["notional_usd"]) if liq_cols["notional_usd"] else [], pa.float64()
            ),
        }
    )
    truth = _truth_log(scenario, hourly, funding)
    events = split_into_events(liquidations, step, scenario.seed)
    return Market(
        scenario=scenario,
        hourly=hourly,
        funding=funding,
        liquidations=liquidations,
        truth=truth,
        liquidation_events=events,
    )


EVENT_TARGET_USD = 1_000_000.0  # the population is coarse: one event stands for a cohort of forced closes
MAX_EVENTS_PER_STEP = 300
DUST_USD = 10_000.0  # steps with less are rounding residue of the book, not positions


def split_into_events(liquidations: pa.Table, step_minutes: int, seed: int) -> pa.Table:
    """Each step's forced closes as individual positions: heavy-tailed sizes, times spread over the step.

    Every event of a step carries the step's average price, so the events add up exactly to the step totals
    (steps below DUST_USD are left out).
    """
    rng = np.random.default_rng(seed + 1)
    step_ms = step_minutes * 60_000
    cols: dict[str, list] = {
        k: [] for k in ("venue", "asset", "ts", "side", "price", "qty_coin", "notional_usd")
    }
    ts_all = liquidations["ts"].cast(pa.int64()).to_numpy()
    qty_all = liquidations["qty_coin"].to_numpy()
    usd_all = liquidations["notional_usd"].to_numpy()
    venues = liquidations["venue"].to_pylist()
    assets = liquidations["asset"].to_pylist()
    sides = liquidations["side"].to_pylist()
    for i in range(liquidations.num_rows):
        if usd_all[i] < DUST_USD:
            continue
        n = int(np.clip(round(usd_all[i] / EVENT_TARGET_USD), 1, MAX_EVENTS_PER_STEP))
        weights = rng.dirichlet(np.full(n, 0.6))
        offsets = np.sort(rng.integers(0, step_ms, n))
        price = usd_all[i] / qty_all[i]
        cols["venue"] += [venues[i]] * n
        cols["asset"] += [assets[i]] * n
        cols["side"] += [sides[i]] * n
        cols["ts"].append(ts_all[i] + offsets)
        cols["price"].append(np.full(n, price))
        cols["qty_coin"].append(qty_all[i] * weights)
        cols["notional_usd"].append(usd_all[i] * weights)
    if not cols["ts"]:
        return LIQUIDATION_EVENT_SCHEMA.empty_table()
    table = pa.table(
        {
            "venue": pa.array(cols["venue"], pa.string()),
            "asset": pa.array(cols["asset"], pa.string()),
            "ts": pa.array(np.concatenate(cols["ts"]), pa.timestamp("ms", tz="UTC")),
            "side": pa.array(cols["side"], pa.string()),
            "price": pa.array(np.concatenate(cols["price"])),
            "qty_coin": pa.array(np.concatenate(cols["qty_coin"])),
            "notional_usd": pa.array(np.concatenate(cols["notional_usd"])),
        }
    ).sort_by([("venue", "ascending"), ("ts", "ascending")])
    # a stable identity per venue, in time order: what a venue's own order id would be
    ids = np.zeros(table.num_rows, dtype=np.int64)
    venue_col = table["venue"].to_pylist()
    counters: dict[str, int] = {}
    for j, v in enumerate(venue_col):
        counters[v] = counters.get(v, 0) + 1
        ids[j] = counters[v]
    return table.append_column("event_id", pa.array(ids))


LIQUIDATION_EVENT_SCHEMA = pa.schema(
    [
        ("venue", pa.string()),
        ("asset", pa.string()),
        ("ts", pa.timestamp("ms", tz="UTC")),
        ("side", pa.string()),
        ("price", pa.float64()),
        ("qty_coin", pa.float64()),
        ("notional_usd", pa.float64()),
        ("event_id", pa.int64()),
    ]
)


def _truth_log(scenario: Scenario, hourly: pa.Table, funding: pa.Table) -> dict:
    """What happened, in the simulator's own terms; tests compare the marts against it."""
    events = []
    for s in scenario.shocks:
        events.append(
            {
                "type": "shock",
                "name": s.name,
                "start_ms": s.start_ms,
                "duration_minutes": s.duration_minutes,
                "magnitude": s.magnitude,
                "aims_at": s.aims_at,
            }
        )
    for o in scenario.outages:
        events.append(
            {"type": "outage", "venue": o.venue, "start_ms": o.start_ms, "end_ms": o.end_ms, "mode": o.mode}
        )
    if (
        scenario.minute_lead_minutes
    ):  # a venue's minute prices lead the others' (pipelines/sandbox/minutes.py)
        events.append(
            {
                "type": "minute_lead",
                "venue": scenario.minute_lead_venue,
                "minutes": scenario.minute_lead_minutes,
            }
        )
    # daily liquidations by side, market-wide, and the worst day
    day = pc.floor_temporal(hourly["ts"], unit="day")
    daily = (
        hourly.append_column("day", day)
        .group_by("day")
        .aggregate([("liq_long_usd", "sum"), ("liq_short_usd", "sum")])
        .sort_by("day")
    )
    totals = [
        a + b
        for a, b in zip(
            daily["liq_long_usd_sum"].to_pylist(), daily["liq_short_usd_sum"].to_pylist(), strict=True
        )
    ]
    worst = int(np.argmax(totals)) if totals else None
    if worst is not None:
        events.append(
            {
                "type": "largest_liquidation_day",
                "day": daily["day"][worst].as_py().date().isoformat(),
                "long_usd": daily["liq_long_usd_sum"][worst].as_py(),
                "short_usd": daily["liq_short_usd_sum"][worst].as_py(),
            }
        )
    return {"scenario": scenario.name, "digest": scenario.digest, "events": events}


# -- caching: simulate once, every process serves the same market ------------------------------------------------


INSURANCE_TABLES = ("insurance", "adl_events", "adl_episodes")


def load_market(scenario: Scenario, cache_root: Path) -> Market:
    folder = cache_root / f"{scenario.name}-{scenario.digest}"
    if not (folder / "truth.json").exists():
        market = simulate(scenario)
        tmp = Path(tempfile.mkdtemp(prefix=".sim-", dir=_mkdir(cache_root)))
        pq.write_table(market.hourly, tmp / "hourly.parquet", compression="zstd")
        pq.write_table(market.funding, tmp / "funding.parquet", compression="zstd")
        pq.write_table(market.liquidations, tmp / "liquidations.parquet", compression="zstd")
        pq.write_table(market.liquidation_events, tmp / "liquidation_events.parquet", compression="zstd")
        pq.write_table(market.minutes, tmp / "minutes.parquet", compression="zstd")
        pq.write_table(market.books, tmp / "books.parquet", compression="zstd")
        for name in INSURANCE_TABLES:
            pq.write_table(getattr(market, name), tmp / f"{name}.parquet", compression="zstd")
        (tmp / "truth.json").write_text(json.dumps(market.truth, indent=2))
        try:
            os.replace(tmp, folder)
        except OSError:  # another process finished first: its copy is the same market
            shutil.rmtree(tmp, ignore_errors=True)
        return market
    return Market(
        scenario=scenario,
        hourly=pq.read_table(folder / "hourly.parquet"),
        funding=pq.read_table(folder / "funding.parquet"),
        liquidations=pq.read_table(folder / "liquidations.parquet"),
        liquidation_events=pq.read_table(folder / "liquidation_events.parquet"),
        minutes=pq.read_table(folder / "minutes.parquet"),
        books=pq.read_table(folder / "books.parquet"),
        **{name: pq.read_table(folder / f"{name}.parquet") for name in INSURANCE_TABLES},
        truth=json.loads((folder / "truth.json").read_text()),
    )


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


__all__ = ["Market", "simulate", "load_market", "DAY_MS"]
