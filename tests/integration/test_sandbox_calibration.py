"""The calibration figures `make bench` prints (pipelines/sandbox/calibration.py) are computed by SQL over the
simulated market: every query must run on the DuckDB the project pins (a timestamp literal without seconds broke
them on 1.4.4), a figure whose period the window misses is n/a, and the crash figures read the small market's crash."""

from pipelines.sandbox.calibration import FIGURES, calibration_figures, calibration_report


def test_every_calibration_query_runs_and_the_crash_liquidates_mostly_longs(sandbox):
    market = sandbox.state.market
    figures = calibration_figures(market)
    assert set(figures) == set(FIGURES)
    crash_long, crash_short = next(v for name, v in figures.items() if name.startswith("crash"))
    assert crash_long > 10 * crash_short > 0  # the scenario's 10 Oct long flush
    november = next(v for name, v in figures.items() if name.startswith("largest November"))
    assert november == (None, None)  # the small market ends in October
    assert "largest November BTC day" in calibration_report(market) and "n/a / n/a" in calibration_report(
        market
    )
