"""Insurance funds and auto-deleveraging (ADL) in the simulated market, from the simulator's own forced closes.

One isolated fund per venue and asset, in USDT (a USD stablecoin: 1 USDT = 1 USD in the sandbox). Each simulator
step's forced closes of one side (market.liquidations: quantity and notional at the positions' liquidation
prices) are taken as one order:

- liquidation price p_liq = notional / quantity (the step's average); the order fills at the step's closing
  index price if the market closed beyond p_liq (a gap through the book), else at p_liq;
- bankruptcy price p_bk, where the position's margin is gone: p_liq x (1 - g_long) for longs, p_liq x (1 + g_short)
  for shorts, with g the venue's average gap between liquidation and bankruptcy price over its leverage mix:
  g_long = sum_L w_L x mmr / (1 - 1/L + mmr), g_short = sum_L w_L x mmr / (1 + 1/L - mmr) (mmr: maintenance margin);
- a fill beyond p_bk is a bankruptcy: the fund pays the shortfall, quantity x |p_bk - fill|;
- otherwise the fund earns the liquidation fee, min(fee_rate x quantity x fill, the margin left, quantity x
  |fill - p_bk|).

ADL floor (OKX's `rate_adl_start` rule, with a published rate): the fund never pays below
floor = (1 - adl_drawdown) x its highest balance of the past eight hours. The part of a shortfall it cannot pay
is auto-deleveraged: profitable positions on the other side are closed against the bankrupt ones, at the
bankruptcy price, so amount_usd = the bankrupt notional x unpaid / shortfall, side = the side deleveraged. An ADL
episode starts at the first step that deleverages and ends at the next step with forced closes that needs none.

Times: a step's entries take effect at the step's end (start + step). The fund's balance at time t is the balance
after the last entry at or before t.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from pipelines.sandbox.scenario import Scenario

EIGHT_HOURS_MS = 8 * 3_600_000
TS = pa.timestamp("ms", tz="UTC")
VENUES_WITH_FUNDS = ("binance", "bybit", "okx")  # the venues whose funds the pipeline reads

LEDGER_SCHEMA = pa.schema(
    [
        ("venue", pa.string()),
        ("asset", pa.string()),
        (
            "ts",
            TS,
        ),  # when the entry takes effect (a step's end; the scenario's start for the opening balance)
        ("fee_usd", pa.float64()),  # liquidation fees earned
        ("shortfall_usd", pa.float64()),  # bankruptcy losses of the step, paid or not
        ("loss_paid_usd", pa.float64()),  # the part the fund paid
        ("adl_usd", pa.float64()),  # notional auto-deleveraged
        ("balance_usd", pa.float64()),  # after the entry
        ("max_8h_usd", pa.float64()),  # the fund's high of the past eight hours, at the entry
    ]
)
ADL_SCHEMA = pa.schema(
    [
        ("venue", pa.string()),
        ("asset", pa.string()),
        ("ts", TS),
        ("side", pa.string()),  # the side of the positions deleveraged (the profitable, opposite side)
        ("amount_usd", pa.float64()),
        ("episode_start_ts", TS),  # the ADL episode this belongs to
    ]
)
EPISODE_SCHEMA = pa.schema(
    [
        ("venue", pa.string()),
        ("asset", pa.string()),
        ("start_ts", TS),
        ("end_ts", TS),  # null while it lasts at the end of the simulation
        ("max_balance_usd", pa.float64()),  # the 8-hour high at the start
        ("max_balance_ts", TS),
        ("balance_usd", pa.float64()),  # at the start
        ("end_balance_usd", pa.float64()),
    ]
)


@dataclass(frozen=True)
class InsuranceParams:
    fee_rate: float  # liquidation fee on a forced close's filled notional
    adl_drawdown: float  # the floor: ADL once the fund would fall below (1 - this) x its 8-hour high
    funds_usd: dict[str, dict[str, float]]  # venue -> asset -> opening balance

    @classmethod
    def of(cls, scenario: Scenario) -> InsuranceParams:
        doc = scenario.insurance or {}
        return cls(
            fee_rate=float(doc.get("liquidation_fee_rate", 0.005)),
            adl_drawdown=float(doc.get("adl_drawdown", 0.3)),
            funds_usd={
                venue: {asset: float(x) for asset, x in per_asset.items()}
                for venue, per_asset in (doc.get("funds_usd") or {}).items()
            },
        )


def bankruptcy_gaps(leverage: dict[int, float], mmr: float) -> tuple[float, float]:
    """(g_long, g_short): the weighted average distance from liquidation to bankruptcy price, as a fraction of the
    liquidation price, over a venue's leverage mix (weights need not sum to 1)."""
    total = sum(leverage.values())
    g_long = sum(w * mmr / (1 - 1 / lev + mmr) for lev, w in leverage.items()) / total
    g_short = sum(w * mmr / (1 + 1 / lev - mmr) for lev, w in leverage.items()) / total
    return g_long, g_short


def close_outcome(
    side: str, qty: float, p_liq: float, close: float, gap: float, fee_rate: float
) -> tuple[float, float, float]:
    """One forced close: (fill price, shortfall the fund owes, fee the fund earns)."""
    if side == "long":
        fill = min(p_liq, close)
        bankrupt = p_liq * (1 - gap)
        margin_left = qty * (fill - bankrupt)
    else:
        fill = max(p_liq, close)
        bankrupt = p_liq * (1 + gap)
        margin_left = qty * (bankrupt - fill)
    if margin_left < 0:
        return fill, -margin_left, 0.0
    return fill, 0.0, min(fee_rate * qty * fill, margin_left)


@dataclass(frozen=True)
class FundTables:
    ledger: pa.Table
    adl_events: pa.Table
    adl_episodes: pa.Table


def simulate_funds(scenario: Scenario, liquidations: pa.Table, minutes: pa.Table) -> FundTables:
    """The funds' ledgers, ADL events and episodes from the step liquidations and the minute index path."""
    params = InsuranceParams.of(scenario)
    step_ms = scenario.step_minutes * 60_000
    start_ms = int(minutes["ts"].cast(pa.int64())[0].as_py()) if minutes.num_rows else 0
    closes = _minute_closes(minutes)
    ledger: dict[str, list] = {name: [] for name in LEDGER_SCHEMA.names}
    adl: dict[str, list] = {name: [] for name in ADL_SCHEMA.names}
    episodes: dict[str, list] = {name: [] for name in EPISODE_SCHEMA.names}
    liq = {
        "venue": liquidations["venue"].to_pylist(),
        "asset": liquidations["asset"].to_pylist(),
        "ts": liquidations["ts"].cast(pa.int64()).to_numpy(),
        "side": liquidations["side"].to_pylist(),
        "qty": liquidations["qty_coin"].to_numpy(),
        "usd": liquidations["notional_usd"].to_numpy(),
    }
    rows_of: dict[tuple[str, str], list[int]] = {}
    for i, key in enumerate(zip(liq["venue"], liq["asset"], strict=True)):
        rows_of.setdefault(key, []).append(i)
    for venue, per_asset in sorted(params.funds_usd.items()):
        if venue not in scenario.venues:
            continue
        gaps = bankruptcy_gaps(scenario.venues[venue].leverage, scenario.maintenance_margin)
        for asset, opening in sorted(per_asset.items()):
            rows = sorted(rows_of.get((venue, asset), []), key=lambda i: (liq["ts"][i], liq["side"][i]))
            _run_fund(
                venue,
                asset,
                opening,
                start_ms,
                step_ms,
                rows,
                liq,
                closes[asset],
                gaps,
                params,
                ledger,
                adl,
                episodes,
            )
    return FundTables(
        ledger=pa.table(ledger, schema=LEDGER_SCHEMA),
        adl_events=pa.table(adl, schema=ADL_SCHEMA),
        adl_episodes=pa.table(episodes, schema=EPISODE_SCHEMA),
    )


def _minute_closes(minutes: pa.Table) -> dict[str, tuple[int, np.ndarray]]:
    out = {}
    assets = np.array(minutes["asset"].to_pylist(), dtype=object)
    ts = minutes["ts"].cast(pa.int64()).to_numpy()
    close = minutes["close"].to_numpy()
    for asset in dict.fromkeys(assets):
        mask = assets == asset
        out[asset] = (int(ts[mask][0]), close[mask])
    return out


def _run_fund(
    venue, asset, opening, start_ms, step_ms, rows, liq, closes, gaps, params, ledger, adl, episodes
) -> None:
    """One fund through the simulation: a ledger entry per step with forced closes, in time order."""
    first_minute, close_path = closes
    balance = opening
    window: deque[tuple[int, float]] = deque([(start_ms, opening)])  # (ts, balance) of the past eight hours
    episode: dict | None = None
    _append(ledger, venue, asset, start_ms, 0.0, 0.0, 0.0, 0.0, balance, balance)
    by_step: dict[int, list[int]] = {}
    for i in rows:
        by_step.setdefault(int(liq["ts"][i]), []).append(i)
    for step_start, idx in by_step.items():
        at = step_start + step_ms
        close = float(close_path[(at - first_minute) // 60_000 - 1])  # the step's last minute's close
        fee = shortfall = paid = deleveraged = 0.0
        deleveraged_sides: dict[str, float] = {}
        while window and window[0][0] < at - EIGHT_HOURS_MS:
            window.popleft()
        for i in idx:
            side, qty, usd = liq["side"][i], float(liq["qty"][i]), float(liq["usd"][i])
            if qty <= 0:
                continue
            p_liq = usd / qty
            gap = gaps[0] if side == "long" else gaps[1]
            fill, owed, earned = close_outcome(side, qty, p_liq, close, gap, params.fee_rate)
            fee += earned
            balance += earned
            if owed <= 0:
                continue
            high = max([b for _, b in window] + [balance])
            floor = (1 - params.adl_drawdown) * high
            pay = min(owed, max(balance - floor, 0.0))
            balance -= pay
            shortfall += owed
            paid += pay
            if owed - pay > 1e-9:
                notional = qty * p_liq * (1 - gap if side == "long" else 1 + gap)  # at the bankruptcy price
                amount = notional * (owed - pay) / owed
                opposite = "short" if side == "long" else "long"
                deleveraged_sides[opposite] = deleveraged_sides.get(opposite, 0.0) + amount
                deleveraged += amount
        high = max([b for _, b in window] + [balance])
        if deleveraged > 0:
            if episode is None:
                top_ts, top = max(window, key=lambda x: x[1]) if window else (at, balance)
                episode = {"start": at, "max": top, "max_ts": top_ts, "balance": balance}
            for side, amount in sorted(deleveraged_sides.items()):
                for name, value in zip(
                    ADL_SCHEMA.names, (venue, asset, at, side, amount, episode["start"]), strict=True
                ):
                    adl[name].append(value)
        elif episode is not None:
            _close_episode(episodes, venue, asset, episode, at, balance)
            episode = None
        window.append((at, balance))
        _append(ledger, venue, asset, at, fee, shortfall, paid, deleveraged, balance, high)
    if episode is not None:
        _close_episode(episodes, venue, asset, episode, None, balance)


def _append(ledger, venue, asset, ts, fee, shortfall, paid, deleveraged, balance, high) -> None:
    for name, value in zip(
        LEDGER_SCHEMA.names, (venue, asset, ts, fee, shortfall, paid, deleveraged, balance, high), strict=True
    ):
        ledger[name].append(value)


def _close_episode(episodes, venue, asset, episode, end, balance) -> None:
    values = (
        venue,
        asset,
        episode["start"],
        end,
        episode["max"],
        episode["max_ts"],
        episode["balance"],
        balance,
    )
    for name, value in zip(EPISODE_SCHEMA.names, values, strict=True):
        episodes[name].append(value)


class FundBook:
    """The ledger indexed for the routes: a fund's balance at any time, and the entries of a window."""

    def __init__(self, ledger: pa.Table):
        self._funds: dict[tuple[str, str], dict[str, np.ndarray]] = {}
        venues = np.array(ledger["venue"].to_pylist(), dtype=object)
        assets = np.array(ledger["asset"].to_pylist(), dtype=object)
        cols = {name: ledger[name].to_numpy() for name in ("fee_usd", "loss_paid_usd", "balance_usd")}
        ts = ledger["ts"].cast(pa.int64()).to_numpy()
        for key in sorted(set(zip(venues, assets, strict=True))):
            mask = (venues == key[0]) & (assets == key[1])
            order = np.argsort(ts[mask], kind="stable")
            self._funds[key] = {"ts": ts[mask][order], **{k: v[mask][order] for k, v in cols.items()}}

    def assets(self, venue: str) -> list[str]:
        return [a for v, a in self._funds if v == venue]

    def balance_at(self, venue: str, asset: str, t: int) -> tuple[float, int] | None:
        """(balance, the time of its last entry) at t; None before the fund opens or for an unknown fund."""
        fund = self._funds.get((venue, asset))
        if fund is None:
            return None
        i = int(np.searchsorted(fund["ts"], t, side="right")) - 1
        if i < 0:
            return None
        return float(fund["balance_usd"][i]), int(fund["ts"][i])

    def flows(self, venue: str, asset: str, lo: int, hi: int) -> tuple[float, float]:
        """(fees earned, losses paid) by entries with lo < ts <= hi."""
        fund = self._funds[(venue, asset)]
        a = int(np.searchsorted(fund["ts"], lo, side="right"))
        b = int(np.searchsorted(fund["ts"], hi, side="right"))
        return float(fund["fee_usd"][a:b].sum()), float(fund["loss_paid_usd"][a:b].sum())

    def opened_at(self, venue: str, asset: str) -> int:
        return int(self._funds[(venue, asset)]["ts"][0])


OKX_DAILY_ENTRY_MS = (
    8 * 3_600_000
)  # OKX books deposit and bankruptcy-loss entries once a day, around 08:00 UTC


@dataclass(frozen=True)
class HistoryEntry:
    ts: int
    type: str  # liquidation_balance_deposit | bankruptcy_loss | adl
    balance: float
    amount: float | None = None
    adl_type: str | None = None
    max_balance: float | None = None
    max_balance_ts: int | None = None


def okx_history(
    book: FundBook, episodes: pa.Table, venue: str, asset: str, until_ms: int
) -> list[HistoryEntry]:
    """A fund's history as OKX books it, oldest first, up to until_ms: each day at 08:00 UTC a
    liquidation_balance_deposit entry (amt = fees of the past 24 h) and, when the fund paid any, a bankruptcy_loss
    entry (amt = minus the losses paid), both with the balance at 08:00; an adl entry (bal_adl_start, with the
    8-hour high) when an ADL episode starts and one (adl_end) when it ends."""
    opened = book.opened_at(venue, asset)
    entries = []
    at = (opened // DAY_MS) * DAY_MS + OKX_DAILY_ENTRY_MS
    if at <= opened:
        at += DAY_MS
    while at <= until_ms:
        balance = book.balance_at(venue, asset, at)[0]
        fees, losses = book.flows(venue, asset, at - DAY_MS, at)
        entries.append(HistoryEntry(at, "liquidation_balance_deposit", balance, amount=fees))
        if losses > 0:
            entries.append(HistoryEntry(at, "bankruptcy_loss", balance, amount=-losses))
        at += DAY_MS
    mask = [
        v == venue and a == asset
        for v, a in zip(episodes["venue"].to_pylist(), episodes["asset"].to_pylist(), strict=True)
    ]
    for ep in episodes.filter(pa.array(mask, pa.bool_())).to_pylist():
        start = _ms(ep["start_ts"])
        if start <= until_ms:
            entries.append(
                HistoryEntry(
                    start,
                    "adl",
                    ep["balance_usd"],
                    adl_type="bal_adl_start",
                    max_balance=ep["max_balance_usd"],
                    max_balance_ts=_ms(ep["max_balance_ts"]),
                )
            )
        end = _ms(ep["end_ts"]) if ep["end_ts"] is not None else None
        if end is not None and end <= until_ms:
            entries.append(HistoryEntry(end, "adl", ep["end_balance_usd"], adl_type="adl_end"))
    return sorted(entries, key=lambda e: (e.ts, e.type))


def _ms(value) -> int:
    return int(value.timestamp() * 1000) if hasattr(value, "timestamp") else int(value)


DAY_MS = 86_400_000
