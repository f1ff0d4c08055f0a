"""Diebold-Yilmaz spillover (generalized FEVD) and the lead-lag helper, on cases worked by hand or constructed."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.lib.spillover import (
    fit_var,
    generalized_fevd,
    lead_lag,
    spillover_from_fevd,
    var_spillover,
)


def simulate_var1(coef: np.ndarray, cov: np.ndarray, steps: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shocks = rng.multivariate_normal(np.zeros(len(cov)), cov, size=steps + 100)
    out = np.zeros_like(shocks)
    for t in range(1, len(out)):
        out[t] = coef @ out[t - 1] + shocks[t]
    return out[100:]


def test_one_step_with_correlated_shocks_worked_by_hand():
    # H = 1: Psi_0 = I, theta_ij = sigma_ij^2 / (sigma_ii sigma_jj) = [[1, .25], [.25, 1]] -> rows [.8, .2]
    sigma = np.array([[1.0, 0.5], [0.5, 1.0]])
    theta = generalized_fevd(np.eye(2)[None], sigma)
    np.testing.assert_allclose(theta, [[1.0, 0.25], [0.25, 1.0]])
    s = spillover_from_fevd(theta, ["x", "y"])
    np.testing.assert_allclose(s.table, [[0.8, 0.2], [0.2, 0.8]])
    assert s.total == pytest.approx(20.0)  # 100 * (0.2 + 0.2) / 2
    np.testing.assert_allclose(s.from_others, [10.0, 10.0])
    np.testing.assert_allclose(s.to_others, [10.0, 10.0])
    np.testing.assert_allclose(s.net, [0.0, 0.0])


def test_two_steps_of_one_way_dynamics_worked_by_hand():
    # Psi_1 = [[0, 0], [1, 0]] (x_{t-1} moves y_t), Sigma = I. Row x: own 1, from y 0.
    # Row y: from x 0 + 1^2 = 1, own 1 + 0 = 1 -> [.5, .5]. S = 100 * .5 / 2 = 25.
    ma = np.array([np.eye(2), [[0.0, 0.0], [1.0, 0.0]]])
    s = spillover_from_fevd(generalized_fevd(ma, np.eye(2)), ["x", "y"])
    np.testing.assert_allclose(s.table, [[1.0, 0.0], [0.5, 0.5]])
    assert s.total == pytest.approx(25.0)
    np.testing.assert_allclose(s.to_others, [25.0, 0.0])
    np.testing.assert_allclose(s.from_others, [0.0, 25.0])
    np.testing.assert_allclose(s.net, [25.0, -25.0])


def statsmodels_var(data: np.ndarray, lags: int):
    """The reference implementation (a dev dependency): statsmodels' VAR fitted by OLS with a constant."""
    import warnings

    from statsmodels.tsa.api import VAR

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels warns about the missing date index
        return (
            VAR(data).fit(lags, trend="c")._results
        )  # the results object itself: its wrapper shadows sigma_u


@pytest.mark.parametrize(("lags", "series", "steps"), [(1, 2, 100), (2, 5, 168), (3, 4, 500), (1, 12, 168)])
def test_the_numpy_var_fits_what_statsmodels_fits(lags, series, steps):
    rng = np.random.default_rng(lags * 100 + series)
    data = rng.standard_normal((steps, series)).cumsum(axis=0) * 0.1 + rng.standard_normal((steps, series))
    ours, ref = fit_var(data, lags), statsmodels_var(data, lags)
    np.testing.assert_allclose(ours.intercept, ref.intercept, atol=1e-12)
    np.testing.assert_allclose(ours.coefs, ref.coefs, atol=1e-12)
    np.testing.assert_allclose(ours.sigma_u, ref.sigma_u, atol=1e-12)
    np.testing.assert_allclose(ours.ma_rep(9), ref.ma_rep(9), atol=1e-12)


def test_a_var1_recovers_its_coefficients_and_its_ma_matrices_are_powers_of_them():
    coef = np.array([[0.5, 0.0], [0.4, 0.2]])
    fit = fit_var(simulate_var1(coef, np.eye(2), 20_000, seed=5), lags=1)
    np.testing.assert_allclose(fit.coefs[0], coef, atol=0.02)
    np.testing.assert_allclose(fit.sigma_u, np.eye(2), atol=0.05)
    psi = fit.ma_rep(3)  # VAR(1): Psi_h = A^h
    np.testing.assert_allclose(psi[0], np.eye(2))
    np.testing.assert_allclose(psi[3], np.linalg.matrix_power(fit.coefs[0], 3), atol=1e-12)


def test_with_a_diagonal_covariance_it_equals_statsmodels_orthogonalized_fevd():
    coef = np.array([[0.3, 0.2, 0.0], [0.1, 0.4, -0.2], [0.0, 0.3, 0.2]])
    data = simulate_var1(coef, np.diag([1.0, 2.0, 0.5]), 2000, seed=1)
    fit, result = fit_var(data, lags=2), statsmodels_var(data, lags=2)
    horizon = 8
    variances = np.diag(fit.sigma_u)
    theta = generalized_fevd(fit.ma_rep(horizon - 1), np.diag(variances))  # diagonal: no correlated shocks
    np.testing.assert_allclose(
        theta.sum(axis=1), 1.0, atol=1e-12
    )  # already normalised when Sigma is diagonal
    # statsmodels' Cholesky factor of the diagonal covariance is diag(sqrt(sigma_jj)); equation x horizon x shock
    result.sigma_u = np.diag(variances)
    orthogonalized = result.fevd(horizon, var_decomp=np.diag(np.sqrt(variances))).decomp[:, horizon - 1, :]
    np.testing.assert_allclose(theta, orthogonalized, atol=1e-10)


def test_one_way_dependence_spills_only_from_driver_to_follower():
    # x drives y (y_t = 0.8 x_{t-1} + ...), y never feeds back, shocks independent
    coef = np.array([[0.2, 0.0], [0.8, 0.1]])
    s = var_spillover(simulate_var1(coef, np.eye(2), 3000, seed=2), ["x", "y"], lags=1, horizon=10)
    print(
        f"\none-way VAR: table {np.round(s.table, 3).tolist()}, to {s.to_others.round(1)}, net {s.net.round(1)}"
    )
    assert s.table[1, 0] > 0.25  # y's variance is largely x's shocks
    assert s.table[0, 1] < 0.01  # x's variance owes (almost) nothing to y
    assert s.net[0] > 10 and s.net[1] < -10
    assert 0 <= s.total <= 100


def test_shares_stay_in_range_and_directional_sums_equal_the_total():
    rng = np.random.default_rng(3)
    data = rng.standard_normal((400, 5)) @ rng.standard_normal((5, 5))  # correlated, no dynamics
    s = var_spillover(data, list("abcde"), lags=2, horizon=10)
    assert 0 <= s.total < 100
    assert np.all((s.to_others >= 0) & (s.to_others < 100) & (s.from_others >= 0) & (s.from_others < 100))
    assert s.to_others.sum() == pytest.approx(s.total)
    assert s.from_others.sum() == pytest.approx(s.total)
    assert s.net.sum() == pytest.approx(0.0, abs=1e-9)


def test_bad_inputs_are_refused_with_a_clear_error():
    with pytest.raises(ValueError, match="too few"):
        var_spillover(np.zeros((5, 3)), list("abc"), lags=2, horizon=10)
    with pytest.raises(ValueError, match="missing"):
        var_spillover(np.full((100, 2), np.nan), list("ab"), lags=1, horizon=10)
    with pytest.raises(ValueError, match="non-positive variance"):
        generalized_fevd(np.eye(2)[None], np.diag([1.0, 0.0]))


def test_lead_lag_finds_a_known_shift():
    rng = np.random.default_rng(4)
    leader = rng.standard_normal(3000)
    follower = np.roll(leader, 7) + 0.5 * rng.standard_normal(3000)  # follower_t = leader_{t-7} + noise
    follower[:7] = np.nan
    found = lead_lag(leader, follower, max_lag=15)
    assert found.lag == 7
    assert found.correlation == pytest.approx(1 / np.sqrt(1.25), abs=0.03)  # corr of s and s + 0.5 n
    reverse = lead_lag(follower, leader, max_lag=15)
    assert reverse.lag == -7


def test_lead_lag_of_identical_series_is_zero_and_missing_data_gives_none():
    x = np.sin(np.arange(200) / 3.0)
    assert lead_lag(x, x.copy(), max_lag=5).lag == 0
    assert lead_lag(np.full(200, np.nan), x, max_lag=5) is None


def test_vectorised_lagged_correlations_equal_the_one_lag_definition():
    from pipelines.lib.spillover import lagged_correlation, lagged_correlations

    rng = np.random.default_rng(8)
    x, y = rng.standard_normal(300), rng.standard_normal(300)
    x[rng.integers(0, 300, 40)] = np.nan
    y[rng.integers(0, 300, 40)] = np.nan
    lags, corr, pairs = lagged_correlations(x, y, max_lag=12, min_pairs=30)
    for k, c, p in zip(lags, corr, pairs, strict=True):
        expected, expected_pairs = lagged_correlation(x, y, int(k), min_pairs=30)
        assert p == expected_pairs
        np.testing.assert_allclose(c, expected, rtol=1e-10)
    short = lagged_correlations(x[:20], y[:20], max_lag=3, min_pairs=30)[1]
    assert np.isnan(short).all()
