"""The systemic-risk index over a whole window (`make bench`, or `python -m tests.bench.risk_index <warehouse>`).

Needs the full default window, too long for `make test`: printed here with PASS/FAIL, not asserted.
- the crash day ranks in the top 2% of the window's days and names a liquidation or contagion driver;
- quiet September days (|BTC return| under 2%) sit below the window's median; and the same with quiet meaning every
  asset's |return| under 2% (market-wide).
Days without an index (too little history: the first ten of the window) are counted, not ranked.
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb

CRASH_DAY = "2025-10-10"
QUIET_MONTH = ("2025-09-01", "2025-09-30")
QUIET_MAX_ABS_RETURN_PCT = 2.0


def index_window_lines(con, crash_day: str = CRASH_DAY) -> list[str]:
    rows = con.execute(
        """
        select
            date,
            risk_index,
            driver_category,
            driver,
            percent_rank() over (order by risk_index) as pct_rank,
            median(risk_index) over () as window_median,
            count(*) over () as days
        from marts.systemic_risk_daily
        where risk_index is not null
        """
    ).fetchall()
    unindexed = con.execute(
        "select count(*) from marts.systemic_risk_daily where risk_index is null"
    ).fetchone()[0]
    if not rows:
        return [f"systemic risk: no indexed day ({unindexed} without enough history)"]
    by_day = {str(r[0]): r for r in rows}
    crash = by_day.get(crash_day)
    lines = [f"systemic risk: {len(rows)} indexed days, {unindexed} without enough history (no index)"]
    if crash is None:
        lines.append(f"FAIL crash day {crash_day}: not in the warehouse")
    else:
        _, index, category, driver, pct_rank, median, days = crash
        top = 1 - pct_rank
        ok = top <= 0.02 and category in ("liquidations", "contagion")
        lines.append(
            f"{'PASS' if ok else 'FAIL'} crash day {crash_day}: index {index:.1f}, top {100 * top:.1f}% of {days} "
            f"days (needs <= 2%), driver {driver} ({category})"
        )
    quiet = con.execute(
        """
        select lev.date, idx.risk_index, median(idx.risk_index) over () as m
        from marts.leverage_daily as lev
        inner join marts.systemic_risk_daily as idx using (date)
        where lev.asset = 'BTC' and lev.date between ? and ? and abs(lev.return_pct) < ? and idx.risk_index is not null
        """,
        [*QUIET_MONTH, QUIET_MAX_ABS_RETURN_PCT],
    ).fetchall()
    window_median = rows[0][5]
    below = [r for r in quiet if r[1] < window_median]
    lines.append(
        f"{'PASS' if quiet and len(below) == len(quiet) else 'FAIL'} quiet September days below the window median "
        f"({window_median:.1f}): {len(below)} of {len(quiet)}"
        + (
            f"; above: {', '.join(f'{r[0]} {r[1]:.1f}' for r in quiet if r[1] >= window_median)}"
            if below != quiet
            else ""
        )
    )
    # the same test with "quiet" market-wide: every asset's |return| under the threshold, not BTC's alone (the
    # scenario's altcoins fall 18-20% from 13 to 25 Sep on days BTC barely moves)
    calm = con.execute(
        """
        with moves as (
            select date, max(abs(return_pct)) as largest_move
            from marts.leverage_daily
            where date between ? and ?
            group by date
        )
        select moves.date, idx.risk_index
        from moves
        inner join marts.systemic_risk_daily as idx using (date)
        where moves.largest_move < ? and idx.risk_index is not null
        order by moves.date
        """,
        [*QUIET_MONTH, QUIET_MAX_ABS_RETURN_PCT],
    ).fetchall()
    calm_below = [r for r in calm if r[1] < window_median]
    lines.append(
        f"{'PASS' if calm and len(calm_below) == len(calm) else 'FAIL'} market-wide quiet September days (every "
        f"asset's |return| < {QUIET_MAX_ABS_RETURN_PCT:g}%) below the window median: {len(calm_below)} of {len(calm)}"
        + (
            f"; above: {', '.join(f'{r[0]} {r[1]:.1f}' for r in calm if r[1] >= window_median)}"
            if len(calm_below) != len(calm)
            else ""
        )
    )
    return lines


def main(db: Path) -> None:
    with duckdb.connect(str(db), read_only=True) as con:
        print("\n".join(index_window_lines(con)))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
