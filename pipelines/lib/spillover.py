"""Diebold-Yilmaz (2012) spillover from a VAR's generalized FEVD, and a lead-lag helper. Pure numpy.

Generalized forecast-error variance decomposition (Pesaran and Shin 1998), for a VAR with MA matrices Psi_h and
residual covariance Sigma, at horizon H:

    theta_ij = sigma_jj^-1 * sum_{h<H} (e_i' Psi_h Sigma e_j)^2  /  sum_{h<H} (e_i' Psi_h Sigma Psi_h' e_i)

Its rows need not add up to 1 (the shocks are correlated), so each row is divided by its sum. With N variables:

    total      S      = 100 * sum_{i != j} theta~_ij / N
    from       FROM_i = 100 * sum_{j != i} theta~_ij / N      (what i receives)
    to         TO_i   = 100 * sum_{j != i} theta~_ji / N      (what i gives)
    net        NET_i  = TO_i - FROM_i

S, FROM and TO lie in [0, 100); sum_i FROM_i = sum_i TO_i = S (Diebold and Yilmaz 2012, eq. 2-6).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Spillover:
    """A spillover table: nodes, the row-normalised GFEVD (shares summing to 1 per row), and its summaries."""

    nodes: tuple[str, ...]
    table: np.ndarray  # (N, N): table[i, j] = share of i's forecast-error variance due to shocks to j
    total: float  # 0..100
    to_others: np.ndarray  # (N,) 0..100
    from_others: np.ndarray  # (N,) 0..100
    net: np.ndarray  # (N,) -100..100


def generalized_fevd(ma: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Pesaran-Shin generalized FEVD, not normalised. ma: (H, N, N) MA matrices Psi_0 (= I) .. Psi_{H-1};
    sigma: (N, N) residual covariance. Returns theta (N, N)."""
    ma, sigma = np.asarray(ma, float), np.asarray(sigma, float)
    if ma.ndim != 3 or ma.shape[1] != ma.shape[2] or sigma.shape != ma.shape[1:]:
        raise ValueError(f"expected MA (H, N, N) and sigma (N, N), got {ma.shape} and {sigma.shape}")
    diag = np.diag(sigma)
    if np.any(diag <= 0):
        raise ValueError("residual covariance has a non-positive variance: a constant series in the window")
    response = ma @ sigma  # (H, N, N): [h, i, j] = e_i' Psi_h Sigma e_j
    numerator = (response**2).sum(axis=0) / diag[None, :]
    mse = np.einsum("hij,jk,hik->i", ma, sigma, ma)  # sum_h e_i' Psi_h Sigma Psi_h' e_i
    return numerator / mse[:, None]


def spillover_from_fevd(theta: np.ndarray, nodes: tuple[str, ...] | list[str]) -> Spillover:
    """Row-normalise a (generalized) FEVD and take the Diebold-Yilmaz total and directional spillovers."""
    theta = np.asarray(theta, float)
    n = theta.shape[0]
    if theta.shape != (n, n) or len(nodes) != n:
        raise ValueError(f"expected a square table with one node per row, got {theta.shape} and {len(nodes)}")
    table = theta / theta.sum(axis=1, keepdims=True)
    off = table * (1 - np.eye(n))
    from_others = 100 * off.sum(axis=1) / n
    to_others = 100 * off.sum(axis=0) / n
    return Spillover(
        nodes=tuple(nodes),
        table=table,
        total=float(100 * off.sum() / n),
        to_others=to_others,
        from_others=from_others,
        net=to_others - from_others,
    )


@dataclass(frozen=True)
class VarFit:
    """A VAR(p) fitted by OLS with a constant: y_t = intercept + sum_i coefs[i - 1] @ y_{t-i} + u_t."""

    intercept: np.ndarray  # (N,)
    coefs: np.ndarray  # (p, N, N)
    sigma_u: np.ndarray  # (N, N): residual covariance, degrees of freedom corrected

    def ma_rep(self, maxn: int) -> np.ndarray:
        """MA matrices Psi_0 (= I) .. Psi_maxn: Psi_h = sum_{i=1..min(h, p)} A_i Psi_{h-i}. (maxn + 1, N, N)."""
        lags, n = self.coefs.shape[0], self.coefs.shape[1]
        psi = np.zeros((maxn + 1, n, n))
        psi[0] = np.eye(n)
        for h in range(1, maxn + 1):
            for i in range(1, min(h, lags) + 1):
                psi[h] += self.coefs[i - 1] @ psi[h - i]
        return psi


def fit_var(data: np.ndarray, lags: int) -> VarFit:
    """VAR(lags) by equation-wise OLS with a constant, as statsmodels' VAR(data).fit(lags, trend="c") fits it
    (tests/unit/test_spillover.py compares them); numpy only, because importing statsmodels costs ~5 s of CPU in
    every dbt process that runs the contagion models. data: (T, N), oldest first.

    The regressors of y_t (t = lags .. T-1) are [1, y_{t-1}, .., y_{t-lags}]; the residual covariance divides by
    the observations minus the coefficients per equation (T - lags - (N * lags + 1))."""
    data = np.asarray(data, float)
    if data.ndim != 2 or data.shape[1] < 2:
        raise ValueError(f"a VAR needs a (T, N>=2) array, got shape {data.shape}")
    if not np.all(np.isfinite(data)):
        raise ValueError("the VAR's input has missing or infinite values")
    steps, n = data.shape
    if steps <= lags * n + 1 + n:
        raise ValueError(f"{steps} observations are too few for a VAR({lags}) in {n} series")
    y = data[lags:]
    x = np.hstack([np.ones((steps - lags, 1)), *(data[lags - i : steps - i] for i in range(1, lags + 1))])
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)  # (1 + N * lags, N)
    resid = y - x @ beta
    sigma_u = resid.T @ resid / (steps - lags - x.shape[1])
    # beta's block i: rows the lag-i regressors, columns the equations; coefs[i] is its transpose
    coefs = beta[1:].reshape(lags, n, n).transpose(0, 2, 1)
    return VarFit(intercept=beta[0], coefs=coefs, sigma_u=sigma_u)


def var_spillover(data: np.ndarray, nodes: tuple[str, ...] | list[str], lags: int, horizon: int) -> Spillover:
    """Diebold-Yilmaz spillover of the series in `data` (T, N): VAR(lags), generalized FEVD at `horizon` steps."""
    if horizon < 1:
        raise ValueError(f"the forecast horizon must be at least 1 step, got {horizon}")
    result = fit_var(data, lags)
    return spillover_from_fevd(generalized_fevd(result.ma_rep(horizon - 1), result.sigma_u), nodes)


def usable_columns(data: np.ndarray, min_std: float = 1e-12) -> np.ndarray:
    """Columns that vary in the window (a VAR cannot take a constant series, e.g. an hour grid with no
    liquidations)."""
    data = np.asarray(data, float)
    return np.nanstd(data, axis=0) > min_std


@dataclass(frozen=True)
class LeadLag:
    lag: int  # > 0: x leads y by `lag` steps (x at t moves with y at t + lag); < 0: y leads
    correlation: float  # Pearson correlation at that lag
    pairs: int  # number of (x_t, y_{t+lag}) pairs both present


def lagged_correlation(x: np.ndarray, y: np.ndarray, lag: int, min_pairs: int = 30) -> tuple[float, int]:
    """Correlation of x_t with y_{t+lag} over the steps where both are present (NaN marks a missing step)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if lag >= 0:
        a, b = x[: len(x) - lag], y[lag:]
    else:
        a, b = x[-lag:], y[: len(y) + lag]
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if len(a) < min_pairs:
        return float("nan"), int(len(a))
    a, b = a - a.mean(), b - b.mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    if denom == 0:
        return float("nan"), int(len(a))
    return float((a * b).sum() / denom), int(len(a))


def lagged_correlations(x: np.ndarray, y: np.ndarray, max_lag: int, min_pairs: int = 30):
    """corr(x_t, y_{t+k}) for every k in [-max_lag, max_lag] at once (lagged_correlation, vectorised over k).
    Returns (lags, correlations with NaN where too few pairs or no variation, pair counts)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    n = len(x)
    lags = np.arange(-max_lag, max_lag + 1)
    idx = np.arange(n)[None, :] + lags[:, None]  # where y_{t+k} sits
    inside = (idx >= 0) & (idx < n)
    yy = np.where(inside, y[np.clip(idx, 0, max(n - 1, 0))], np.nan)
    ok = np.isfinite(x)[None, :] & np.isfinite(yy)
    pairs = ok.sum(axis=1)
    xs, ys = np.where(ok, x[None, :], 0.0), np.where(ok, yy, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        dx = np.where(ok, xs - xs.sum(axis=1, keepdims=True) / pairs[:, None], 0.0)
        dy = np.where(ok, ys - ys.sum(axis=1, keepdims=True) / pairs[:, None], 0.0)
        denom = np.sqrt((dx * dx).sum(axis=1) * (dy * dy).sum(axis=1))
        corr = (dx * dy).sum(axis=1) / denom
    corr[(pairs < min_pairs) | ~(denom > 0)] = np.nan
    return lags, corr, pairs


def lead_lag(x: np.ndarray, y: np.ndarray, max_lag: int, min_pairs: int = 30) -> LeadLag | None:
    """The lag in [-max_lag, max_lag] that maximises corr(x_t, y_{t+lag}), and that correlation.

    x and y are aligned series on one step grid (minutes), NaN where missing. Ties go to the smallest |lag|
    (then to x leading), so two identical series give lag 0. None when no lag has enough pairs or variation."""
    if len(x) != len(y):
        raise ValueError(f"x and y must share one time grid, got lengths {len(x)} and {len(y)}")
    if max_lag < 0:
        raise ValueError(f"max_lag must be >= 0, got {max_lag}")
    lags, corr, pairs = lagged_correlations(x, y, max_lag, min_pairs)
    best: LeadLag | None = None
    for i in sorted(range(len(lags)), key=lambda i: (abs(lags[i]), -lags[i])):
        if np.isfinite(corr[i]) and (best is None or corr[i] > best.correlation + 1e-12):
            best = LeadLag(int(lags[i]), float(corr[i]), int(pairs[i]))
    return best
