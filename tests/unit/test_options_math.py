"""Max pain and put/call ratio, against an independent brute force over a small chain."""

from __future__ import annotations

import itertools

import pytest

from pipelines.lib.options_math import max_pain, open_interest_by_type, payout_at, put_call_ratio

CHAIN = [
    (90.0, "put", 50.0),
    (95.0, "put", 20.0),
    (100.0, "put", 10.0),
    (100.0, "call", 15.0),
    (105.0, "call", 30.0),
    (110.0, "call", 5.0),
]


def brute_force_max_pain(chain, prices):
    """Holders' payout at every candidate settlement price, written out longhand; the cheapest price wins."""
    best_price, best_payout = None, None
    for price in prices:
        payout = 0.0
        for strike, kind, oi in chain:
            if kind == "call" and price > strike:
                payout += (price - strike) * oi
            if kind == "put" and price < strike:
                payout += (strike - price) * oi
        if best_payout is None or payout < best_payout:
            best_price, best_payout = price, payout
    return best_price


def test_max_pain_matches_a_brute_force_over_a_fine_price_grid():
    fine_grid = [80 + i * 0.5 for i in range(81)]  # 80 .. 120, every strike included
    assert max_pain(CHAIN) == brute_force_max_pain(CHAIN, fine_grid) == 100.0  # nobody is paid at 100


def test_payout_by_hand_at_one_price():
    assert payout_at(100.0, CHAIN) == 0.0
    assert payout_at(97.0, CHAIN) == pytest.approx(10 * 3)  # only the 100 put is in the money
    assert payout_at(107.0, CHAIN) == pytest.approx(15 * 7 + 30 * 2)
    assert payout_at(85.0, CHAIN) == pytest.approx(50 * 5 + 20 * 10 + 10 * 15)


@pytest.mark.parametrize("seed", range(20))
def test_max_pain_on_random_chains_matches_brute_force(seed):
    import random

    rng = random.Random(seed)
    strikes = sorted(rng.sample(range(50, 151, 5), 6))
    chain = [
        (float(k), kind, round(rng.uniform(0, 100), 1))
        for k, kind in itertools.product(strikes, ("call", "put"))
    ]
    grid = [40 + i * 0.25 for i in range(481)]  # 40 .. 160 covers every strike
    expected = brute_force_max_pain(chain, grid)
    assert max_pain(chain) == expected


def test_ties_go_to_the_lowest_strike_and_empty_chains_have_no_max_pain():
    assert (
        max_pain([(100.0, "call", 1.0), (100.0, "put", 1.0), (90.0, "put", 0.0), (110.0, "call", 0.0)])
        == 100.0
    )
    assert max_pain([(100.0, "call", 0.0), (110.0, "put", 0.0)]) is None
    assert max_pain([]) is None
    # flat payout of zero between 100 and 110: the lowest strike of the flat stretch
    assert max_pain([(100.0, "call", 1.0), (110.0, "put", 1.0), (105.0, "call", 0.0)]) == 100.0


def test_put_call_ratio_and_bad_input():
    assert open_interest_by_type(CHAIN) == (80.0, 50.0)
    assert put_call_ratio(CHAIN) == pytest.approx(80 / 50)
    assert put_call_ratio([(100.0, "put", 3.0)]) is None
    assert put_call_ratio([(100.0, "put", 3.0), (100.0, "call", None)]) is None  # no reading is not zero
    with pytest.raises(ValueError, match="negative open interest"):
        max_pain([(100.0, "put", -1.0)])
    with pytest.raises(ValueError, match="option_type"):
        put_call_ratio([(100.0, "straddle", 1.0)])
