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
from pipelines.sandbox.scenario import Scenario, VenueSpec

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

FLOW_SERIES = (
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


@dataclass(frozen=True)
class _Timeline:
    """The scenario's window counted in days, steps and minutes."""

    venues: list[str]
    assets: list[str]
    n_days: int
    step: int  # minutes per step
    n_minutes: int
    n_steps: int
    steps_per_day: int
    start_ms: int
    minute_ms: np.ndarray  # (minutes,) the start of each minute


@dataclass(frozen=True)
class _ExogenousPrice:
    """The log price before any liquidation impact, per minute and as each step's open, close, low and high."""

    minutes: np.ndarray  # (A, minutes)
    by_step: np.ndarray  # (A, steps, step)
    open: np.ndarray  # (A, steps)
    close: np.ndarray
    low: np.ndarray
    high: np.ndarray


@dataclass(frozen=True)
class _Grid:
    """The liquidation-price bins of each asset (log price), shared by every venue."""

    log_price: np.ndarray  # (A, BINS)
    price: np.ndarray  # (A, BINS)
    bin_w: float
    bins_idx: np.ndarray  # (BINS,)


@dataclass(frozen=True)
class _Dynamics:
    """The constants of the step loop: target open interest, depth, volatility and the book's rates."""

    oi_usd0: np.ndarray  # (V, A)
    p0: np.ndarray  # (A,) the first price
    depth: np.ndarray  # (A,)
    sigma_step: np.ndarray  # (A,) volatility per step
    close_rate: float
    refill_rate: float
    decay: float  # of the impact, per step


@dataclass(frozen=True)
class _Model:
    """Everything the step loop reads and never changes."""

    scenario: Scenario
    timeline: _Timeline
    exo: _ExogenousPrice
    grid: _Grid
    kernels: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
    dynamics: _Dynamics


@dataclass
class _State:
    """What the step loop carries from one step to the next."""

    hist_long: np.ndarray  # (V, A, BINS) coins of leveraged longs by liquidation-price bin
    hist_short: np.ndarray
    impact: np.ndarray  # (A,) the forced flow's log-price impact, decaying
    ret_hist: np.ndarray  # (A,) the slow trend signal traders chase
    prev_close: np.ndarray  # (A,)


@dataclass
class _Recording:
    """What the step loop writes down for the output tables."""

    flows: dict[str, np.ndarray]  # FLOW_SERIES, each (V, A, steps)
    log_price: np.ndarray  # (A, steps, 4) open, high, low, close including impact
    impact_at_open: np.ndarray  # (A, steps) the impact a step opens with, and the one it closes with
    impact_at_close: np.ndarray
    book_snapshots: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class _Cascade:
    """One step's forced closes (V, A) and the price range (A,) they pushed the step to."""

    long: np.ndarray
    short: np.ndarray
    long_usd: np.ndarray
    short_usd: np.ndarray
    low: np.ndarray
    high: np.ndarray


def simulate(scenario: Scenario) -> Market:
    """Run the scenario's market step by step and assemble its ground-truth tables."""
    rng = np.random.default_rng(scenario.seed)
    timeline = _timeline(scenario)
    exo = _exogenous_price(rng, scenario, timeline)
    grid = _liquidation_grid(exo.minutes[:, 0])
    model = _Model(
        scenario=scenario,
        timeline=timeline,
        exo=exo,
        grid=grid,
        kernels=_leverage_kernels(scenario, timeline.venues, grid.bin_w),
        dynamics=_dynamics(scenario, timeline, exo),
    )
    state = _seeded_state(model)
    rec = _new_recording(timeline)
    for t in range(timeline.n_steps):
        _step(model, state, rec, rng, t)
    return _complete_market(model, rec)


def _timeline(scenario: Scenario) -> _Timeline:
    """Count the scenario's days, steps and minutes once, for every step below."""
    n_days = (scenario.end - scenario.start).days + 1
    step = scenario.step_minutes
    n_minutes = n_days * 1440
    start_ms = day_start_ms(scenario.start)
    return _Timeline(
        venues=list(scenario.venues),
        assets=list(scenario.assets),
        n_days=n_days,
        step=step,
        n_minutes=n_minutes,
        n_steps=n_minutes // step,
        steps_per_day=1440 // step,
        start_ms=start_ms,
        minute_ms=start_ms + np.arange(n_minutes, dtype=np.int64) * 60_000,
    )


def _exogenous_price(rng: np.random.Generator, scenario: Scenario, timeline: _Timeline) -> _ExogenousPrice:
    """The price path the books trade against: daily anchors, bridged noise and shocks (the rng's first draws)."""
    assets = timeline.assets
    noise = _bridge_noise(rng, scenario, timeline.n_days)
    exo = np.stack(
        [
            _anchor_log_path(scenario, a, timeline.n_minutes)
            + noise[a]
            + _shock_path(scenario, a, timeline.minute_ms)
            for a in assets
        ]
    )  # (A, minutes)
    by_step = exo.reshape(len(assets), timeline.n_steps, timeline.step)
    return _ExogenousPrice(
        minutes=exo,
        by_step=by_step,
        open=by_step[:, :, 0],
        close=by_step[:, :, -1],
        low=by_step.min(axis=2),
        high=by_step.max(axis=2),
    )


def _liquidation_grid(centre: np.ndarray) -> _Grid:
    """Bin liquidation prices on a log grid around each asset's first price."""
    offsets = np.linspace(-LOG_SPAN, LOG_SPAN, BINS)
    grid = centre[:, None] + offsets[None, :]
    return _Grid(log_price=grid, price=np.exp(grid), bin_w=offsets[1] - offsets[0], bins_idx=np.arange(BINS))


def _leverage_kernels(
    scenario: Scenario, venues: list[str], bin_w: float
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per venue, where new longs and shorts land on the grid: bin offsets and weights of its leverage mix."""
    mmr = scenario.maintenance_margin
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
    return kernels


def _dynamics(scenario: Scenario, timeline: _Timeline, exo: _ExogenousPrice) -> _Dynamics:
    """Gather the step loop's constants from the scenario."""
    venues, assets, step = timeline.venues, timeline.assets, timeline.step
    return _Dynamics(
        oi_usd0=np.array([[scenario.venues[v].oi_usd.get(a, 0.0) for a in assets] for v in venues]),
        p0=np.exp(exo.open[:, 0]),
        depth=np.array([scenario.assets[a].depth_usd for a in assets]),
        sigma_step=np.array([scenario.assets[a].vol_annual for a in assets]) / math.sqrt(365 * 1440 / step),
        close_rate=step / (3 * 1440),  # positions live ~3 days on average
        refill_rate=step / (0.6 * 1440),  # how fast a drained book refills towards its target
        decay=math.exp(-math.log(2) * step / scenario.impact_half_life_minutes),
    )


def _seeded_state(model: _Model) -> _State:
    """Start the books at their targets, with positions opened over the previous days at the first price."""
    timeline, exo, dyn = model.timeline, model.exo, model.dynamics
    V, A = len(timeline.venues), len(timeline.assets)
    hist_long = np.zeros((V, A, BINS))
    hist_short = np.zeros((V, A, BINS))
    for _ in range(int(3 / (timeline.step / 1440))):
        _open(
            hist_long,
            hist_short,
            model.kernels,
            model.grid.log_price,
            exo.open[:, 0],
            dyn.oi_usd0,
            dyn.p0,
            model.scenario.long_bias,
            dyn.close_rate,
            1.0,
        )
        hist_long *= 1 - dyn.close_rate
        hist_short *= 1 - dyn.close_rate
    return _State(
        hist_long=hist_long,
        hist_short=hist_short,
        impact=np.zeros(A),
        ret_hist=np.zeros((A,)),
        prev_close=exo.open[:, 0].copy(),
    )


def _new_recording(timeline: _Timeline) -> _Recording:
    """Empty arrays for every series the step loop records."""
    V, A, n_steps = len(timeline.venues), len(timeline.assets), timeline.n_steps
    return _Recording(
        flows={k: np.zeros((V, A, n_steps)) for k in FLOW_SERIES},
        log_price=np.zeros((A, n_steps, 4)),
        impact_at_open=np.zeros((A, n_steps)),
        impact_at_close=np.zeros((A, n_steps)),
        book_snapshots=[],
    )


def _step(model: _Model, state: _State, rec: _Recording, rng: np.random.Generator, t: int) -> None:
    """One step: liquidations and their impact, the candle, the books' turnover, then premium and volume."""
    timeline, exo = model.timeline, model.exo
    day = model.scenario.start + timedelta(days=(t * timeline.step) // 1440)
    oi_mult = _waypoint_value(model.scenario.oi_multiplier, day)
    _record_positions(state, rec, t)
    open_lp = exo.open[:, t] + state.impact
    rec.impact_at_open[:, t] = state.impact
    cascade = _cascade(model, state, t)
    close_lp = exo.close[:, t] + state.impact
    rec.impact_at_close[:, t] = state.impact
    _record_candle(rec, t, open_lp, cascade, close_lp)
    state.impact *= model.dynamics.decay
    ret, long_share_target = _chase_trend(model, state, close_lp)
    price = np.exp(close_lp)
    _turn_over_books(model, state, close_lp, price, oi_mult, long_share_target)
    _record_premium(model, state, rec, rng, t)
    _record_flows(model, rec, cascade, ret, t)
    if (t + 1) % timeline.steps_per_day == 0:  # ground truth for the collateral-at-risk estimate
        _snapshot_books(model, state, rec, t, price)


def _record_positions(state: _State, rec: _Recording, t: int) -> None:
    """Open interest and each side's coins as the step opens."""
    L = state.hist_long.sum(axis=2)
    S = state.hist_short.sum(axis=2)
    rec.flows["oi"][:, :, t] = np.maximum(L, S)
    rec.flows["long_coin"][:, :, t] = L
    rec.flows["short_coin"][:, :, t] = S


def _cascade(model: _Model, state: _State, t: int) -> _Cascade:
    """Force-close what the step's range reaches; the forced flow moves price, which can reach the next layer."""
    exo, grid, depth = model.exo, model.grid, model.dynamics.depth
    hist_long, hist_short = state.hist_long, state.hist_short
    V, A = hist_long.shape[:2]
    liq_long = np.zeros((V, A))
    liq_short = np.zeros((V, A))
    liq_long_usd = np.zeros((V, A))
    liq_short_usd = np.zeros((V, A))
    low, high = exo.low[:, t] + state.impact, exo.high[:, t] + state.impact
    for _ in range(8):
        lo_i = (grid.log_price < low[:, None]).sum(axis=1)  # first bin at or above the low
        hi_i = (grid.log_price <= high[:, None]).sum(axis=1) - 1  # last bin at or below the high
        mask_l = grid.bins_idx[None, :] >= lo_i[:, None]  # (A, BINS)
        mask_s = grid.bins_idx[None, :] <= hi_i[:, None]
        hit_l = hist_long * mask_l[None]
        hit_s = hist_short * mask_s[None]
        ql, qs = hit_l.sum(axis=2), hit_s.sum(axis=2)
        if ql.sum() + qs.sum() == 0:
            break
        ul, us = (hit_l * grid.price[None]).sum(axis=2), (hit_s * grid.price[None]).sum(axis=2)
        hist_long -= hit_l
        hist_short -= hit_s
        liq_long += ql
        liq_short += qs
        liq_long_usd += ul
        liq_short_usd += us
        net_sell_usd = (ul - us).sum(axis=0)  # forced long closes sell, forced short closes buy
        push = -0.01 * net_sell_usd / depth
        state.impact += push
        low = np.minimum(low, exo.low[:, t] + state.impact)
        high = np.maximum(high, exo.high[:, t] + state.impact)
        if np.all(np.abs(push) < 1e-5):
            break
    return _Cascade(liq_long, liq_short, liq_long_usd, liq_short_usd, low, high)


def _record_candle(
    rec: _Recording, t: int, open_lp: np.ndarray, cascade: _Cascade, close_lp: np.ndarray
) -> None:
    """The step's log-price OHLC, stretched to the cascade's extremes."""
    rec.log_price[:, t] = np.stack(
        [
            open_lp,
            np.maximum(cascade.high, np.maximum(open_lp, close_lp)),
            np.minimum(cascade.low, np.minimum(open_lp, close_lp)),
            close_lp,
        ],
        axis=1,
    )


def _chase_trend(model: _Model, state: _State, close_lp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The step's return, and the long share traders aim for as they chase the slow trend."""
    ret = close_lp - state.prev_close
    state.prev_close = close_lp
    state.ret_hist = 0.98 * state.ret_hist + ret
    long_share_target = np.clip(
        model.scenario.long_bias + 0.08 * np.tanh(state.ret_hist / (model.dynamics.sigma_step * 12)), 0.5, 0.8
    )
    return ret, long_share_target


def _closing_rate(model: _Model, close_lp: np.ndarray) -> float | np.ndarray:
    """The share of positions closed this step: the steady rate, plus de-risking near the price when set."""
    scenario, close_rate = model.scenario, model.dynamics.close_rate
    closing = close_rate
    if scenario.derisk_distance > 0 and scenario.derisk_hours > 0:
        distance = np.abs(
            model.grid.log_price - close_lp[:, None]
        )  # (A, BINS): how far each liquidation price is
        closing = (
            close_rate
            + np.minimum(
                model.timeline.step
                / (scenario.derisk_hours * 60)
                * np.exp(-distance / scenario.derisk_distance),
                0.5,
            )[None]
        )
    return closing


def _turn_over_books(
    model: _Model,
    state: _State,
    close_lp: np.ndarray,
    price: np.ndarray,
    oi_mult: float,
    long_share_target: np.ndarray,
) -> None:
    """Close positions at the step's rate and open new ones at the close, refilling towards the target."""
    dyn = model.dynamics
    closing = _closing_rate(model, close_lp)
    state.hist_long *= 1 - closing
    state.hist_short *= 1 - closing
    _open(
        state.hist_long,
        state.hist_short,
        model.kernels,
        model.grid.log_price,
        close_lp,
        dyn.oi_usd0 * oi_mult,
        dyn.p0,
        long_share_target,
        dyn.close_rate,
        1.0,
        refill_rate=dyn.refill_rate,
        current=(state.hist_long.sum(axis=2), state.hist_short.sum(axis=2)),
        price=price,
    )


def _record_premium(model: _Model, state: _State, rec: _Recording, rng: np.random.Generator, t: int) -> None:
    """The perp premium from the books' skew and the impact, plus noise (the loop's only rng draw)."""
    Lp, Sp = state.hist_long.sum(axis=2), state.hist_short.sum(axis=2)
    skew = Lp / np.maximum(Lp + Sp, 1e-12) - model.scenario.long_bias
    V, A = Lp.shape
    rec.flows["premium"][:, :, t] = (
        0.0012 * skew + 0.15 * (state.impact - 0) / 8 + rng.normal(0, 0.00004, (V, A))
    )


def _record_flows(model: _Model, rec: _Recording, cascade: _Cascade, ret: np.ndarray, t: int) -> None:
    """The step's forced closes, and its volume and taker buys: turnover that grows with the move, plus forced flow."""
    flows = rec.flows
    flows["liq_long_coin"][:, :, t] = cascade.long
    flows["liq_short_coin"][:, :, t] = cascade.short
    flows["liq_long_usd"][:, :, t] = cascade.long_usd
    flows["liq_short_usd"][:, :, t] = cascade.short_usd
    z = ret / model.dynamics.sigma_step
    base_vol = (
        flows["oi"][:, :, t] * TURNOVER_PER_HOUR * model.timeline.step / 60 * (1 + 0.3 * np.abs(z))[None, :]
    )
    buy_share = 0.5 + 0.15 * np.tanh(z / 2)[None, :]
    flows["volume"][:, :, t] = base_vol + cascade.long + cascade.short
    flows["taker_buy"][:, :, t] = base_vol * buy_share + cascade.short


def _snapshot_books(model: _Model, state: _State, rec: _Recording, t: int, price: np.ndarray) -> None:
    """Keep the books at a day's end: the true liquidation levels the collateral-at-risk estimate is judged against."""
    end_ms = model.timeline.start_ms + (t + 1) * model.timeline.step * 60_000
    rec.book_snapshots.append((end_ms, state.hist_long.copy(), state.hist_short.copy(), price.copy()))


def _complete_market(model: _Model, rec: _Recording) -> Market:
    """The hourly, funding and liquidation tables, then the minute prices, day-end books and insurance funds."""
    scenario, timeline = model.scenario, model.timeline
    market = _assemble(scenario, timeline, rec)
    minutes = _minute_table(
        timeline.assets,
        timeline.start_ms,
        minute_paths(model.exo.by_step, rec.impact_at_open, rec.impact_at_close, rec.log_price),
    )
    funds = simulate_funds(scenario, market.liquidations, minutes)
    return dataclasses.replace(
        market,
        minutes=minutes,
        books=_books_table(timeline.venues, timeline.assets, model.grid.price, rec.book_snapshots),
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


HOURLY_COLUMNS = (
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
FUNDING_COLUMNS = (
    "venue",
    "asset",
    "funding_time",
    "funding_rate",
    "interval_hours",
    "mark_price",
    "oi_coin",
    "funding_paid_usd",
)
LIQUIDATION_COLUMNS = ("venue", "asset", "ts", "side", "qty_coin", "notional_usd")
LIQUIDATION_SERIES = ("liq_long_coin", "liq_short_coin", "liq_long_usd", "liq_short_usd")


@dataclass(frozen=True)
class _Hours:
    """The recording regrouped by hour: the index candles and the premium of every step in each hour."""

    H: int
    per_hour: int  # steps per hour
    hour_ms: np.ndarray  # (H,)
    step_ms: np.ndarray  # (steps,)
    index_log: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # open, high, low, close, each (A, H)
    premium: np.ndarray  # (V, A, H, per_hour)


@dataclass(frozen=True)
class _HourlySeries:
    """One venue and asset's hourly prices, positions and volumes."""

    p_mean: np.ndarray  # (H,) the mean premium
    index: np.ndarray  # (4, H) index OHLC
    mark: np.ndarray  # (4, H)
    last: np.ndarray  # (4, H)
    L: np.ndarray  # (H,) long coins at the hour's start
    S: np.ndarray  # (H,) short coins at the hour's start
    vol: np.ndarray  # (H,)
    buy: np.ndarray  # (H,)


def _assemble(scenario: Scenario, timeline: _Timeline, rec: _Recording) -> Market:
    """Turn the step recording into the hourly, funding and liquidation tables and the truth log."""
    hours = _hours(timeline, rec)
    basis = np.array([scenario.venues[v].basis_bps for v in timeline.venues]) / 1e4
    cols: dict[str, list] = {k: [] for k in HOURLY_COLUMNS}
    fund_cols: dict[str, list] = {k: [] for k in FUNDING_COLUMNS}
    liq_cols: dict[str, list] = {k: [] for k in LIQUIDATION_COLUMNS}
    for v, venue in enumerate(timeline.venues):
        up = np.array([scenario.outage_at(venue, int(ts)) is None for ts in hours.hour_ms])
        for a, asset in enumerate(timeline.assets):
            series = _hourly_series(hours, rec.flows, basis[v], v, a)
            _append_hourly_rows(cols, venue, asset, hours, series, rec.flows, v, a, up)
            _append_funding_settlements(fund_cols, venue, asset, scenario.venues[venue], hours, series)
            _append_liquidation_steps(liq_cols, venue, asset, hours, rec.flows, v, a)
    hourly = _hourly_table(cols)
    funding = _funding_table(fund_cols)
    liquidations = _liquidations_table(liq_cols)
    return Market(
        scenario=scenario,
        hourly=hourly,
        funding=funding,
        liquidations=liquidations,
        truth=_truth_log(scenario, hourly, funding),
        liquidation_events=split_into_events(liquidations, timeline.step, scenario.seed),
    )


def _hours(timeline: _Timeline, rec: _Recording) -> _Hours:
    """Regroup the steps by hour: the index candle of each hour and the premium of each of its steps."""
    V, A = len(timeline.venues), len(timeline.assets)
    n_steps, step, start_ms = timeline.n_steps, timeline.step, timeline.start_ms
    per_hour = 60 // step
    H = n_steps // per_hour
    lp = rec.log_price.reshape(A, H, per_hour, 4)
    return _Hours(
        H=H,
        per_hour=per_hour,
        hour_ms=start_ms + np.arange(H, dtype=np.int64) * HOUR_MS,
        step_ms=start_ms + np.arange(n_steps, dtype=np.int64) * step * 60_000,
        index_log=(
            lp[:, :, 0, 0],
            lp[:, :, :, 1].max(axis=2),
            lp[:, :, :, 2].min(axis=2),
            lp[:, :, -1, 3],
        ),
        premium=rec.flows["premium"].reshape(V, A, H, per_hour),
    )


def _hourly_series(hours: _Hours, flows: dict[str, np.ndarray], b: float, v: int, a: int) -> _HourlySeries:
    """One venue and asset by hour: index, mark (index plus premium) and last (mark plus basis) prices, books, volume."""
    H, per_hour = hours.H, hours.per_hour
    idx_o, idx_h, idx_l, idx_c = hours.index_log
    p_mean = hours.premium[v, a].mean(axis=1)
    index = np.exp(np.stack([idx_o[a], idx_h[a], idx_l[a], idx_c[a]]))
    mark = index * (1 + p_mean)[None, :]
    return _HourlySeries(
        p_mean=p_mean,
        index=index,
        mark=mark,
        last=mark * (1 + b),
        L=flows["long_coin"][v, a].reshape(H, per_hour)[:, 0],
        S=flows["short_coin"][v, a].reshape(H, per_hour)[:, 0],
        vol=flows["volume"][v, a].reshape(H, per_hour).sum(axis=1),
        buy=flows["taker_buy"][v, a].reshape(H, per_hour).sum(axis=1),
    )


def _append_hourly_rows(
    cols: dict[str, list],
    venue: str,
    asset: str,
    hours: _Hours,
    series: _HourlySeries,
    flows: dict[str, np.ndarray],
    v: int,
    a: int,
    up: np.ndarray,
) -> None:
    """Add one venue and asset's hourly rows: candles, volume, positions, account ratios, liquidations, uptime."""
    H, per_hour = hours.H, hours.per_hour
    L, S = series.L, series.S
    acc_l, acc_s = L / AVG_SIZE_LONG, S / AVG_SIZE_SHORT
    cols["venue"] += [venue] * H
    cols["asset"] += [asset] * H
    cols["ts"].append(hours.hour_ms)
    for name, arr in zip(("open", "high", "low", "close"), series.last, strict=True):
        cols[name].append(arr)
    for name, arr in zip(("mark_open", "mark_high", "mark_low", "mark_close"), series.mark, strict=True):
        cols[name].append(arr)
    for name, arr in zip(("index_open", "index_high", "index_low", "index_close"), series.index, strict=True):
        cols[name].append(arr)
    cols["volume_coin"].append(series.vol)
    cols["taker_buy_coin"].append(series.buy)
    cols["taker_sell_coin"].append(series.vol - series.buy)
    cols["oi_coin"].append(np.maximum(L, S))
    cols["long_coin"].append(L)
    cols["short_coin"].append(S)
    cols["long_account_share"].append(acc_l / (acc_l + acc_s))
    cols["top_account_long_share"].append(0.4 * acc_l / (0.4 * acc_l + 0.45 * acc_s))
    cols["top_position_long_share"].append(0.35 * L / (0.35 * L + 0.45 * S))
    cols["premium"].append(series.p_mean)
    for k in LIQUIDATION_SERIES:
        cols[k].append(flows[k][v, a].reshape(H, per_hour).sum(axis=1))
    cols["venue_up"].append(up)


def _append_funding_settlements(
    fund_cols: dict[str, list],
    venue: str,
    asset: str,
    spec: VenueSpec,
    hours: _Hours,
    series: _HourlySeries,
) -> None:
    """Add one venue and asset's settlements: the mean premium over each interval plus interest, capped."""
    H = hours.H
    ih = spec.funding_interval_hours
    per_8h = series.p_mean + BASE_FUNDING_8H
    for end in range(ih, H + 1, ih):
        rate8 = float(per_8h[end - ih : end].mean())
        rate = float(np.clip(rate8 * ih / 8, -spec.funding_cap, spec.funding_cap))
        if end >= H:
            break  # the settlement at the window's end belongs to the next day
        oi = float(max(series.L[end], series.S[end]))
        m = float(series.mark[0][end])
        fund_cols["venue"].append(venue)
        fund_cols["asset"].append(asset)
        fund_cols["funding_time"].append(int(hours.hour_ms[end]))
        fund_cols["funding_rate"].append(round(rate, 8))
        fund_cols["interval_hours"].append(ih)
        fund_cols["mark_price"].append(m)
        fund_cols["oi_coin"].append(oi)
        fund_cols["funding_paid_usd"].append(round(rate, 8) * oi * m)


def _append_liquidation_steps(
    liq_cols: dict[str, list],
    venue: str,
    asset: str,
    hours: _Hours,
    flows: dict[str, np.ndarray],
    v: int,
    a: int,
) -> None:
    """Add one venue and asset's steps with forced closes, one row per side."""
    for side, q, u in (
        ("long", flows["liq_long_coin"][v, a], flows["liq_long_usd"][v, a]),
        ("short", flows["liq_short_coin"][v, a], flows["liq_short_usd"][v, a]),
    ):
        nz = np.nonzero(q > 1e-9)[0]
        liq_cols["venue"] += [venue] * len(nz)
        liq_cols["asset"] += [asset] * len(nz)
        liq_cols["ts"].append(hours.step_ms[nz])
        liq_cols["side"] += [side] * len(nz)
        liq_cols["qty_coin"].append(q[nz])
        liq_cols["notional_usd"].append(u[nz])


TS_TYPE = pa.timestamp("ms", tz="UTC")


def _hourly_table(cols: dict[str, list]) -> pa.Table:
    """The hourly columns as a table."""
    return pa.table(
        {
            k: (
                pa.array(v, pa.string())
                if k in ("venue", "asset")
                else pa.array(np.concatenate(v), TS_TYPE)
                if k == "ts"
                else pa.array(np.concatenate(v))
            )
            for k, v in cols.items()
        }
    )


def _funding_table(fund_cols: dict[str, list]) -> pa.Table:
    """The funding settlements as a table."""
    return pa.table(
        {k: (pa.array(v, TS_TYPE) if k == "funding_time" else pa.array(v)) for k, v in fund_cols.items()}
    )


def _liquidations_table(liq_cols: dict[str, list]) -> pa.Table:
    """The per-step forced closes as a table (typed even when empty)."""
    return pa.table(
        {
            "venue": pa.array(liq_cols["venue"], pa.string()),
            "asset": pa.array(liq_cols["asset"], pa.string()),
            "ts": pa.array(
                np.concatenate(liq_cols["ts"]) if liq_cols["ts"] else np.array([], np.int64), TS_TYPE
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
