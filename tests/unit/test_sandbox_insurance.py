"""The sandbox's insurance-fund model on cases worked by hand (pipelines/sandbox/insurance.py)."""

from __future__ import annotations

import dataclasses

import pyarrow as pa
import pytest

from pipelines.sandbox.insurance import bankruptcy_gaps, close_outcomes, simulate_funds
from pipelines.sandbox.scenario import load_scenario

T0 = 1_760_054_400_000  # 2025-10-10 00:00 UTC
STEP_MS = 5 * 60_000


def test_bankruptcy_gap_over_a_leverage_mix():
    # 10x: liquidation at 1 - 0.1 + 0.005 = 0.905 of entry, bankruptcy at 0.9: gap 0.005 / 0.905 of the liq price
    g_long, g_short = bankruptcy_gaps({10: 1.0}, 0.005)
    assert g_long == pytest.approx(0.005 / 0.905)
    assert g_short == pytest.approx(0.005 / 1.095)
    # weights average the gaps: half 10x, half 2x (0.005 / 0.505)
    assert bankruptcy_gaps({10: 1.0, 2: 1.0}, 0.005)[0] == pytest.approx((0.005 / 0.905 + 0.005 / 0.505) / 2)


def test_close_outcomes():
    # one row per case; gaps 0.5% for both sides, fee rate 0.5%
    fill, bankrupt, owed, fee = close_outcomes(
        [True, True, True, False],
        [2.0, 2.0, 2.0, 2.0],
        [100.0, 100.0, 100.0, 100.0],
        [99.0, 101.0, 99.8, 102.0],
        (0.005, 0.005),
        0.005,
    )
    # a long liquidated at 100, bankruptcy at 99.5: the market closed at 99 -> fill 99, fund owes 2 x 0.5
    # the market held above: fill at 100, margin left 2 x 0.5 = 1.0, fee min(0.5% x 200, 1.0) = 1.0
    # fill between liquidation and bankruptcy: margin left 2 x (99.8 - 99.5) = 0.6 caps the fee (0.998)
    # a short liquidated at 100, bankruptcy 100.5, the market closed at 102 -> owes 2 x 1.5 = 3
    assert fill.tolist() == pytest.approx([99.0, 100.0, 99.8, 102.0])
    assert bankrupt.tolist() == pytest.approx([99.5, 99.5, 99.5, 100.5])
    assert owed.tolist() == pytest.approx([1.0, 0.0, 0.0, 3.0])
    assert fee.tolist() == pytest.approx([0.0, 1.0, 0.6, 0.0])


def _scenario(fund: float, adl_drawdown: float):
    base = load_scenario()
    return dataclasses.replace(
        base,
        venues={"okx": dataclasses.replace(base.venues["okx"], leverage={10: 1.0})},
        maintenance_margin=0.005,
        insurance={
            "liquidation_fee_rate": 0.005,
            "adl_drawdown": adl_drawdown,
            "funds_usd": {"okx": {"SOL": fund}},
        },
    )


def _minutes(closes: list[float]) -> pa.Table:
    n = len(closes)
    return pa.table(
        {
            "asset": ["SOL"] * n,
            "ts": pa.array([T0 + i * 60_000 for i in range(n)], pa.timestamp("ms", tz="UTC")),
            "open": closes,
            "high": closes,
            "low": closes,
            "close": closes,
        }
    )


def _liquidations(rows: list[tuple[int, str, float, float]]) -> pa.Table:
    return pa.table(
        {
            "venue": ["okx"] * len(rows),
            "asset": ["SOL"] * len(rows),
            "ts": pa.array([T0 + step * STEP_MS for step, *_ in rows], pa.timestamp("ms", tz="UTC")),
            "side": [r[1] for r in rows],
            "qty_coin": [r[2] for r in rows],
            "notional_usd": [r[3] for r in rows],
        }
    )


def test_fund_pays_down_to_the_floor_and_deleverages_the_rest():
    gap = 0.005 / 0.905
    # step 0: 1,000 coins of longs liquidated at 100 fill at the step's close 90 -> shortfall 1000 x (100(1-g) - 90)
    # step 1: a long closes at its liquidation price 100 (close 101): fee min(0.5% x 100, 100 g) = 0.5
    closes = [90.0] * 5 + [101.0] * 5
    shortfall = 1000 * (100 * (1 - gap) - 90)  # 9447.5...
    fund = 20_000.0
    tables = simulate_funds(
        _scenario(fund, 0.7),
        _liquidations([(0, "long", 1000.0, 100_000.0), (1, "long", 1.0, 100.0)]),
        _minutes(closes),
    )
    ledger = tables.ledger.to_pylist()
    assert [r["balance_usd"] for r in ledger][0] == fund  # the opening entry
    # floor = 30% of the 8-hour high (20,000) = 6,000: the fund may pay up to 14,000 and owes 9,447.5, so it
    # pays all of it: no ADL
    assert ledger[1]["loss_paid_usd"] == pytest.approx(shortfall)
    assert ledger[1]["balance_usd"] == pytest.approx(fund - shortfall)
    assert tables.adl_events.num_rows == 0
    assert ledger[2]["fee_usd"] == pytest.approx(0.5)

    # a thinner fund: 10,000 with the floor at 70% (adl_drawdown 0.3) = 7,000 -> pays 3,000, ADLs the rest
    tables = simulate_funds(
        _scenario(10_000.0, 0.3),
        _liquidations([(0, "long", 1000.0, 100_000.0), (1, "long", 1.0, 100.0)]),
        _minutes(closes),
    )
    step = tables.ledger.to_pylist()[1]
    assert step["loss_paid_usd"] == pytest.approx(3_000.0)
    assert step["balance_usd"] == pytest.approx(7_000.0)
    (event,) = tables.adl_events.to_pylist()
    assert event["side"] == "short"  # the profitable side is deleveraged against the bankrupt longs
    bankrupt_notional = 1000 * 100 * (1 - gap)
    assert event["amount_usd"] == pytest.approx(bankrupt_notional * (shortfall - 3_000.0) / shortfall)
    assert int(event["ts"].timestamp() * 1000) == T0 + STEP_MS  # effective at the step's end
    (episode,) = tables.adl_episodes.to_pylist()
    assert int(episode["start_ts"].timestamp() * 1000) == T0 + STEP_MS
    # the next step with a forced close needs no ADL: the episode ends there
    assert int(episode["end_ts"].timestamp() * 1000) == T0 + 2 * STEP_MS
    assert episode["max_balance_usd"] == 10_000.0
