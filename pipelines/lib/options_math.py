"""Positioning figures over an option chain: put/call open-interest ratio and max pain.

A chain is any iterable of (strike, option_type, open_interest) with option_type 'call' or 'put' and open
interest in coins (one Deribit option is one coin of the underlying).

Max pain: the settlement price S, among the listed strikes, that minimises the total intrinsic value paid to
option holders at expiry,

    payout(S) = sum over calls of oi * max(S - K, 0)  +  sum over puts of oi * max(K - S, 0).

payout is piecewise linear in S with its kinks at the strikes, so its minimum over all prices lies at a strike;
searching the strikes is exact. Ties go to the lowest strike.
"""

from __future__ import annotations

from collections.abc import Iterable

Chain = Iterable[tuple[float, str, float]]


def _rows(chain: Chain) -> list[tuple[float, str, float]]:
    rows = []
    for strike, option_type, oi in chain:
        if option_type not in ("call", "put"):
            raise ValueError(f"option_type must be 'call' or 'put', got {option_type!r}")
        if oi is None:
            continue  # no reading is not zero: leave the instrument out
        if oi < 0:
            raise ValueError(f"negative open interest {oi} at strike {strike} ({option_type})")
        rows.append((float(strike), option_type, float(oi)))
    return rows


def payout_at(settlement: float, chain: Chain) -> float:
    """Total intrinsic value paid to holders if the underlying settles at `settlement` (coins x price)."""
    total = 0.0
    for strike, option_type, oi in _rows(chain):
        intrinsic = settlement - strike if option_type == "call" else strike - settlement
        total += oi * max(intrinsic, 0.0)
    return total


def max_pain(chain: Chain) -> float | None:
    """The strike minimising payout_at; None for a chain without open interest."""
    rows = _rows(chain)
    if not rows or not any(oi > 0 for _, _, oi in rows):
        return None
    strikes = sorted({strike for strike, _, _ in rows})
    # one pass per candidate is O(n^2); chains are a few hundred rows, so clarity wins
    return min(strikes, key=lambda s: (payout_at(s, rows), s))


def open_interest_by_type(chain: Chain) -> tuple[float, float]:
    """(put OI, call OI) in coins."""
    puts = calls = 0.0
    for _, option_type, oi in _rows(chain):
        if option_type == "put":
            puts += oi
        else:
            calls += oi
    return puts, calls


def put_call_ratio(chain: Chain) -> float | None:
    """Put OI / call OI; None when there is no call open interest."""
    puts, calls = open_interest_by_type(chain)
    return puts / calls if calls > 0 else None
