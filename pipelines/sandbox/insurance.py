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

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from pipelines.lib.timeutil import DAY_MS, HOUR_MS
from pipelines.sandbox.scenario import Scenario

EIGHT_HOURS_MS = 8 * HOUR_MS
OKX_DAILY_ENTRY_MS = 8 * HOUR_MS  # OKX books deposit and bankruptcy-loss entries once a day, around 08:00 UTC
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
        ("max_8h_usd", pa.float64()),  # the floor's 8-hour high, on entries with a bankruptcy (else null)
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


def close_outcomes(is_long, qty, p_liq, close, gaps: tuple[float, float], fee_rate: float):
    """Forced closes, as arrays: (fill price, bankruptcy price, shortfall the fund owes, fee the fund earns)."""
    is_long, qty, p_liq, close = (np.asarray(x) for x in (is_long, qty, p_liq, close))
    gap = np.where(is_long, gaps[0], gaps[1])
    fill = np.where(is_long, np.minimum(p_liq, close), np.maximum(p_liq, close))
    bankrupt_px = np.where(is_long, p_liq * (1 - gap), p_liq * (1 + gap))
    margin_left = qty * np.where(is_long, fill - bankrupt_px, bankrupt_px - fill)
    owed = np.maximum(-margin_left, 0.0)
    fee = np.where(margin_left >= 0, np.minimum(fee_rate * qty * fill, margin_left), 0.0)
    return fill, bankrupt_px, owed, fee


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
    venues = np.array(liquidations["venue"].to_pylist(), dtype=object)
    assets = np.array(liquidations["asset"].to_pylist(), dtype=object)
    rows = {
        "ts": liquidations["ts"].cast(pa.int64()).to_numpy(),
        "long": np.array([side == "long" for side in liquidations["side"].to_pylist()], dtype=bool),
        "qty": liquidations["qty_coin"].to_numpy(),
        "usd": liquidations["notional_usd"].to_numpy(),
    }
    ledgers, adl_parts, episode_parts = [], [], []
    for venue, per_asset in sorted(params.funds_usd.items()):
        if venue not in scenario.venues:
            continue
        gaps = bankruptcy_gaps(scenario.venues[venue].leverage, scenario.maintenance_margin)
        for asset, opening in sorted(per_asset.items()):
            mask = (venues == venue) & (assets == asset) & (rows["qty"] > 0)
            fund = {k: v[mask] for k, v in rows.items()}
            ledger, adl, episodes = _run_fund(
                venue, asset, opening, start_ms, step_ms, fund, closes[asset], gaps, params
            )
            ledgers.append(ledger)
            adl_parts.append(adl)
            episode_parts.append(episodes)
    return FundTables(
        ledger=_concat(ledgers, LEDGER_SCHEMA),
        adl_events=_concat(adl_parts, ADL_SCHEMA),
        adl_episodes=_concat(episode_parts, EPISODE_SCHEMA),
    )


def _concat(parts: list[dict], schema: pa.Schema) -> pa.Table:
    return pa.concat_tables([pa.table(p, schema=schema) for p in parts]) if parts else schema.empty_table()


def _minute_closes(minutes: pa.Table) -> dict[str, tuple[int, np.ndarray]]:
    out = {}
    assets = np.array(minutes["asset"].to_pylist(), dtype=object)
    ts = minutes["ts"].cast(pa.int64()).to_numpy()
    close = minutes["close"].to_numpy()
    for asset in dict.fromkeys(assets):
        mask = assets == asset
        out[asset] = (int(ts[mask][0]), close[mask])
    return out


def _run_fund(venue, asset, opening, start_ms, step_ms, rows, closes, gaps, params):
    """One fund through the simulation: a ledger entry per step with forced closes, in time order.

    Within a step the fund first earns the step's fees, then pays its bankruptcies (longs, then shorts) down to
    the floor set by the 8-hour high (the balance after the step's fees included). Only bankrupt steps are walked
    one by one; between them the balance only grows by fees."""
    first_minute, close_path = closes
    steps, inverse = np.unique(rows["ts"], return_inverse=True)
    at = steps + step_ms
    close = close_path[(at - first_minute) // 60_000 - 1][inverse]  # each step's last minute's close, per row
    p_liq = rows["usd"] / rows["qty"]
    is_long = rows["long"]
    _, bankrupt_px, owed, fee = close_outcomes(is_long, rows["qty"], p_liq, close, gaps, params.fee_rate)

    n = len(steps)
    fee_step = np.bincount(inverse, weights=fee, minlength=n)
    shortfall_step = np.bincount(inverse, weights=owed, minlength=n)
    paid_step = np.zeros(n)
    adl_step = np.zeros(n)
    high_step = np.full(n, np.nan)
    balance = opening + np.cumsum(fee_step)  # after each step; lowered below by what the fund pays
    adl_cols: dict[str, list] = {name: [] for name in ADL_SCHEMA.names}
    episodes: dict[str, list] = {name: [] for name in EPISODE_SCHEMA.names}
    episode_of_step: dict[int, tuple[int, float, int]] = {}  # ADL step -> (start ts, 8-hour high, its ts)
    order = np.lexsort((~is_long, inverse))  # by step, longs first
    bankrupt_rows = order[owed[order] > 0]
    for k in np.unique(inverse[bankrupt_rows]):
        lo = int(np.searchsorted(at, at[k] - EIGHT_HOURS_MS, side="left"))
        candidates = [(balance[k], at[k])]  # the balance after this step's fees
        if lo < k:
            j = lo + int(np.argmax(balance[lo:k]))
            candidates.append((balance[j], at[j]))
        if start_ms >= at[k] - EIGHT_HOURS_MS:
            candidates.append((opening, start_ms))
        high, high_ts = max(candidates, key=lambda c: c[0])
        floor = (1 - params.adl_drawdown) * high
        available = max(balance[k] - floor, 0.0)
        deleveraged: dict[str, float] = {}
        for i in bankrupt_rows[inverse[bankrupt_rows] == k]:
            pay = min(owed[i], available)
            available -= pay
            paid_step[k] += pay
            if owed[i] - pay > 1e-9:
                side = "short" if is_long[i] else "long"  # the profitable side, opposite the bankrupt one
                amount = rows["qty"][i] * bankrupt_px[i] * (owed[i] - pay) / owed[i]
                deleveraged[side] = deleveraged.get(side, 0.0) + amount
        balance[k:] -= paid_step[k]
        high_step[k] = high
        if deleveraged:
            adl_step[k] = sum(deleveraged.values())
            previous = episode_of_step.get(k - 1)
            episode_of_step[k] = previous or (int(at[k]), high, int(high_ts))
            for side, amount in sorted(deleveraged.items()):
                for name, value in zip(
                    ADL_SCHEMA.names,
                    (venue, asset, int(at[k]), side, amount, episode_of_step[k][0]),
                    strict=True,
                ):
                    adl_cols[name].append(value)
    # an episode: consecutive ADL steps; it ends at the next step with forced closes, which needed no ADL
    for k in sorted(episode_of_step):
        if k - 1 in episode_of_step:
            continue
        last = k
        while last + 1 in episode_of_step:
            last += 1
        start_ts, high, high_ts = episode_of_step[k]
        ended = last + 1 < n
        values = (
            venue,
            asset,
            start_ts,
            int(at[last + 1]) if ended else None,
            high,
            high_ts,
            float(balance[k]),
            float(balance[last + 1] if ended else balance[last]),
        )
        for name, value in zip(EPISODE_SCHEMA.names, values, strict=True):
            episodes[name].append(value)
    ledger = {
        "venue": [venue] * (n + 1),
        "asset": [asset] * (n + 1),
        "ts": np.concatenate([[start_ms], at]),  # the opening balance first
        "fee_usd": np.concatenate([[0.0], fee_step]),
        "shortfall_usd": np.concatenate([[0.0], shortfall_step]),
        "loss_paid_usd": np.concatenate([[0.0], paid_step]),
        "adl_usd": np.concatenate([[0.0], adl_step]),
        "balance_usd": np.concatenate([[opening], balance]),
        "max_8h_usd": pa.array(np.concatenate([[np.nan], high_step]), from_pandas=True),
    }
    return ledger, adl_cols, episodes


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
