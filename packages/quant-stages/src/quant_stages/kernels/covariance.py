"""Annualised covariance of a returns matrix with missing values.

Input: a DataFrame of simple returns (rows = UTC dates, columns = symbols), NaN where an asset did
not trade. Nothing is filled.

* "sample": pairwise-complete covariance. Each pair (i, j) uses the dates where both traded, with
  the means of i and j over those dates, divided by (n_ij - 1). Computed for all pairs at once from
  masked matrix products.
* "ledoit_wolf": shrinkage towards the CONSTANT-CORRELATION target, Ledoit & Wolf (2004), "Honey,
  I Shrunk the Sample Covariance Matrix", J. Portfolio Management 30(4), closed form (no sklearn).
  Target F_ii = s_ii, F_ij = rbar sqrt(s_ii s_jj) with rbar the mean off-diagonal sample
  correlation; intensity delta = max(0, min(1, kappa / T)), kappa = (pi - rho) / gamma with the
  paper's pi, rho and gamma, computed from the moments of each asset's own-mean-demeaned returns
  with 1/T normalisation exactly as in the paper (and its covCor.m). With missing values each
  pair's moment averages use the dates where both traded, and kappa / T generalises to
  sum_ij (pi_ij - rho_ij) / n_ij / gamma (each entry's estimation variance over its own sample
  size), which equals the paper's formula when nothing is missing. delta is then applied to the
  unbiased pairwise sample covariance above (so delta = 0 gives method="sample" exactly).
* PSD repair: a pairwise-complete matrix can be indefinite. When its smallest eigenvalue is below
  -1e-12 times the largest, it is replaced by the nearest valid covariance with the same variances:
  the correlation matrix is projected to the nearest correlation matrix (Higham 2002, alternating
  projections with Dykstra's correction, Frobenius norm), then rescaled by the volatilities.
  Without missing values there is nothing to check: the sample covariance is a Gram matrix
  (Y'Y / (T - 1)), PSD by construction, and Ledoit-Wolf mixes it with a constant-correlation
  target whose mean correlation is >= -1 / (N - 1), PSD too. Skipping the check matters when
  N > T: the matrix is then singular, a Cholesky factorisation fails and the eigenvalue check
  (O(N^3)) would cost more than the covariance itself.
* Annualisation by calendar: an asset traded `ppy_i` periods a year (e.g. 365 for crypto, 252 for
  equities on weekdays) has annual variance ppy_i s_ii; a covariance is scaled by
  sqrt(ppy_i ppy_j), which keeps the annualised correlation equal to the per-period one. For a pair
  with different calendars this is an approximation: their common dates are the weekdays, and the
  equity's Monday return spans the weekend that the crypto's Monday return does not.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from quant_core.errors import DataValidationError, ParamValidationError

from quant_stages.kernels.checks import is_int

METHODS = ("sample", "ledoit_wolf")
#: Relative size of the most negative eigenvalue tolerated before the PSD repair runs.
PSD_TOLERANCE = 1e-12
HIGHAM_MAX_ITERATIONS = 200
HIGHAM_TOLERANCE = 1e-10


def _validated_returns(returns: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    if not isinstance(returns, pd.DataFrame):
        raise DataValidationError(
            f"returns must be a pandas DataFrame, got {type(returns).__name__}", source="returns", rule="dataframe"
        )
    if returns.shape[1] == 0 or returns.shape[0] == 0:
        raise DataValidationError(f"returns are empty (shape {returns.shape})", source="returns", rule="non_empty")
    symbols = [str(column) for column in returns.columns]
    if len(set(symbols)) != len(symbols):
        duplicated = sorted({s for s in symbols if symbols.count(s) > 1})
        raise DataValidationError(
            f"returns have duplicate columns: {duplicated[:5]}", source="returns", rule="unique_symbols"
        )
    order = sorted(range(len(symbols)), key=symbols.__getitem__)
    try:
        values = returns.iloc[:, order].to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as error:
        raise DataValidationError(f"returns must be numeric: {error}", source="returns", rule="float64") from error
    infinite = np.isinf(values)
    if infinite.any():
        row, col = np.argwhere(infinite)[0]
        raise DataValidationError(
            "returns contain an infinite value",
            source="returns",
            column=symbols[order[col]],
            row=str(returns.index[row]),
            rule="finite_or_nan",
        )
    return [symbols[i] for i in order], values


def _periods_per_year(periods_per_year: float | pd.Series | Mapping[str, float], symbols: list[str]) -> np.ndarray:
    if isinstance(periods_per_year, (pd.Series, Mapping)):
        table = pd.Series(periods_per_year, dtype="float64").rename(index=str)
        missing = [s for s in symbols if s not in table.index]
        if missing:
            raise ParamValidationError(
                f"periods_per_year has no value for {len(missing)} symbol(s): {missing[:5]}",
                param="periods_per_year",
                value=missing,
                rule="covers_symbols",
            )
        values = table.loc[symbols].to_numpy(dtype=np.float64)
    else:
        values = np.full(len(symbols), float(periods_per_year))
    bad = np.flatnonzero(~(np.isfinite(values) & (values > 0)))
    if bad.size:
        raise ParamValidationError(
            f"periods_per_year must be a positive finite number, got {values[bad[0]]} for {symbols[bad[0]]!r}",
            param="periods_per_year",
            value=float(values[bad[0]]),
            rule="positive",
        )
    return values


def pairwise_sample_covariance(
    values: np.ndarray, min_periods: int, symbols: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairwise-complete unbiased covariance, the pairwise observation counts n_ij, and the cross
    products Y'Y of the mean-centred returns (0 where missing), which Ledoit-Wolf reuses.

    With mask M (1 where observed) and X0 (returns, 0 where missing):
    n = M'M, S_i(j) = sum of x_i over dates where j also traded = (X0'M)_ij, and
    cov_ij = ((X0'X0)_ij - S_i(j) S_j(i) / n_ij) / (n_ij - 1).
    """
    observed = ~np.isnan(values)
    # The formula is invariant to shifting a column; centring first avoids cancellation.
    centred = values - np.nanmean(values, axis=0)
    if observed.all():
        n_rows = values.shape[0]
        counts = np.full((values.shape[1], values.shape[1]), float(n_rows))
        if n_rows < min_periods:
            raise DataValidationError(
                f"only {n_rows} date(s) of returns; min_periods is {min_periods}", source="returns", rule="min_periods"
            )
        cross = centred.T @ centred
        cov = cross / (n_rows - 1.0)
        return 0.5 * (cov + cov.T), counts, cross
    mask = observed.astype(np.float64)
    zeroed = np.where(observed, centred, 0.0)
    counts = mask.T @ mask
    too_few = counts < min_periods
    if too_few.any():
        i, j = np.argwhere(too_few)[0]
        raise DataValidationError(
            f"only {int(counts[i, j])} date(s) where both {symbols[i]!r} and {symbols[j]!r} traded; "
            f"min_periods is {min_periods}",
            source="returns",
            column=symbols[i],
            rule="min_periods",
        )
    sums_where_both = zeroed.T @ mask
    cross = zeroed.T @ zeroed
    cov = (cross - sums_where_both * sums_where_both.T / counts) / (counts - 1.0)
    return 0.5 * (cov + cov.T), counts, cross


def ledoit_wolf_constant_correlation_intensity(
    values: np.ndarray, counts: np.ndarray, products: np.ndarray | None = None
) -> float:
    """Shrinkage intensity delta of Ledoit & Wolf (2004) towards constant correlation.

    Paper quantities with 1/n_ij moment averages over each pair's common dates (see module docs):
    y = returns minus each asset's own mean; s_ij = mean(y_i y_j);
    pi_ij = mean((y_i y_j - s_ij)^2); theta_ii,ij = mean((y_i^2 - s_ii)(y_i y_j - s_ij));
    rho = sum_i pi_ii + rbar sum_{i != j} sqrt(s_jj / s_ii) theta_ii,ij;
    gamma = ||F - S||_F^2; delta = clip(sum_ij (pi_ij - rho_ij) / n_ij / gamma, 0, 1).
    `products` is Y'Y when the caller has it already (`pairwise_sample_covariance` does).
    """
    observed = ~np.isnan(values)
    means = np.nanmean(values, axis=0)
    y = np.where(observed, values - means, 0.0)
    y2 = y * y
    if products is None:
        products = y.T @ y
    sample = products / counts
    variances = np.diag(sample).copy()
    std = np.sqrt(variances)
    pi = (y2.T @ y2) / counts - sample * sample
    # Mean of y_i^2 over the dates where j also traded (just s_ii when nothing is missing).
    if observed.all():
        own_square_where_both = np.broadcast_to(variances[:, None], counts.shape)
    else:
        own_square_where_both = (y2.T @ observed.astype(np.float64)) / counts
    cubic = ((y2 * y).T @ y) / counts
    # The paper's -s_ii s_ij and +s_ii s_ij terms cancel once s_ij is itself the pairwise mean.
    theta = cubic - sample * own_square_where_both
    mean_correlation = mean_off_diagonal_correlation(sample)
    target = constant_correlation_target(sample, mean_correlation)
    off_diagonal = ~np.eye(values.shape[1], dtype=bool)
    rho_terms = np.where(off_diagonal, mean_correlation * np.outer(1.0 / std, std) * theta, 0.0)
    rho_terms = rho_terms + np.diag(np.diag(pi))
    gamma = float(np.sum((target - sample) ** 2))
    if gamma <= 0:
        return 1.0
    kappa_over_t = float(np.sum((pi - rho_terms) / counts)) / gamma
    return float(min(1.0, max(0.0, kappa_over_t)))


def mean_off_diagonal_correlation(cov: np.ndarray) -> float:
    """rbar: the mean correlation over distinct pairs of the covariance `cov` (0 for one asset)."""
    n_assets = cov.shape[0]
    if n_assets < 2:
        return 0.0
    std = np.sqrt(np.diag(cov))
    return float((cov / np.outer(std, std))[~np.eye(n_assets, dtype=bool)].mean())


def constant_correlation_target(cov: np.ndarray, rbar: float | None = None) -> np.ndarray:
    """F_ij = rbar sqrt(c_ii c_jj), F_ii = c_ii, rbar = mean off-diagonal correlation of `cov`
    (pass it when already known)."""
    std = np.sqrt(np.diag(cov))
    rbar = mean_off_diagonal_correlation(cov) if rbar is None else rbar
    target = rbar * np.outer(std, std)
    np.fill_diagonal(target, np.diag(cov))
    return target


def nearest_correlation(correlation: np.ndarray) -> np.ndarray:
    """Nearest correlation matrix in Frobenius norm (Higham 2002, alternating projections).

    Alternates the projection onto the PSD cone (eigenvalues clipped at 0) with the projection
    onto unit-diagonal matrices, with Dykstra's correction on the PSD step. Ends with a PSD
    projection followed by rescaling to unit diagonal, so the result is PSD whatever the iteration
    count.
    """
    y = correlation.copy()
    correction = np.zeros_like(y)
    x = y
    for _ in range(HIGHAM_MAX_ITERATIONS):
        r = y - correction
        eigenvalues, eigenvectors = np.linalg.eigh(r)
        x = (eigenvectors * np.clip(eigenvalues, 0.0, None)) @ eigenvectors.T
        correction = x - r
        y_next = x.copy()
        np.fill_diagonal(y_next, 1.0)
        change = np.linalg.norm(y_next - y) / max(np.linalg.norm(y), 1.0)
        y = y_next
        if change < HIGHAM_TOLERANCE:
            break
    eigenvalues, eigenvectors = np.linalg.eigh(0.5 * (y + y.T))
    x = (eigenvectors * np.clip(eigenvalues, 0.0, None)) @ eigenvectors.T
    scale = 1.0 / np.sqrt(np.diag(x))
    x = x * np.outer(scale, scale)
    return 0.5 * (x + x.T)


def repair_to_psd(cov: np.ndarray) -> tuple[np.ndarray, bool]:
    """(cov unchanged, False) if PSD within tolerance, else (nearest PSD with same variances, True)."""
    try:
        np.linalg.cholesky(cov)
        return cov, False  # positive definite: the O(N^3 / 3) check is enough
    except np.linalg.LinAlgError:
        pass  # singular or indefinite: the eigenvalues decide
    eigenvalues = np.linalg.eigvalsh(cov)
    if eigenvalues[0] >= -PSD_TOLERANCE * max(eigenvalues[-1], 0.0):
        return cov, False
    std = np.sqrt(np.diag(cov))
    repaired = nearest_correlation(cov / np.outer(std, std)) * np.outer(std, std)
    return repaired, True


def covariance(
    returns: pd.DataFrame,
    method: str = "sample",
    periods_per_year: float | pd.Series | Mapping[str, float] = 252.0,
    *,
    min_periods: int = 2,
) -> pd.DataFrame:
    """Annualised covariance (symbols sorted on both axes); see the module docstring.

    `periods_per_year` is one number or one per symbol. `min_periods` is the fewest common dates
    allowed for any pair (a pair with fewer raises `DataValidationError` naming it). Assets with
    zero variance are rejected, since no engine can use them.
    """
    if method not in METHODS:
        raise ParamValidationError(
            f"unknown covariance method {method!r}; choose one of {list(METHODS)}",
            param="method",
            value=method,
            rule="known_method",
        )
    if not is_int(min_periods) or min_periods < 2:
        raise ParamValidationError(
            f"min_periods must be an integer >= 2, got {min_periods!r}",
            param="min_periods",
            value=min_periods,
            rule="ge_2",
        )
    symbols, values = _validated_returns(returns)
    annual = _periods_per_year(periods_per_year, symbols)
    cov, counts, products = pairwise_sample_covariance(values, min_periods, symbols)
    flat = np.flatnonzero(~(np.diag(cov) > 0))
    if flat.size:
        raise DataValidationError(
            "asset has zero variance over its traded dates",
            source="returns",
            column=symbols[flat[0]],
            rule="positive_variance",
        )
    if method == "ledoit_wolf":
        intensity = ledoit_wolf_constant_correlation_intensity(values, counts, products)
        cov = intensity * constant_correlation_target(cov) + (1.0 - intensity) * cov
    if np.isnan(values).any():  # complete data gives a PSD matrix by construction (module docs)
        cov, _ = repair_to_psd(cov)
    scale = np.sqrt(annual)
    annualised = cov * np.outer(scale, scale)
    annualised = 0.5 * (annualised + annualised.T)
    return pd.DataFrame(annualised, index=pd.Index(symbols), columns=pd.Index(symbols))
