"""W2 to a 1-D Gaussian mixture by quantiles, and its PF-ODE reference flow (issue 17).

In 1-D the optimal coupling between two laws is the monotone one, so
W2² = ∫_0^1 (F⁻¹(u) − G⁻¹(u))² du for quantile functions F⁻¹, G⁻¹ (exact for 1-D laws).
The samplers start from the stratified prior x_T^(i) = p_{σ_max}⁻¹((i − ½)/n)
(:meth:`artrl.models.mixture.GaussianMixture1D.stratified_prior`); the exact PF-ODE flow is
monotone and pushes p_{σ_max} to p_0, so it maps x_T^(i) to p_0⁻¹((i − ½)/n). A sampler's sorted
outputs are its own quantiles at the same levels, and

    W2_n = sqrt(mean_i (x_(i) − p_0⁻¹((i − ½)/n))²)                 (:func:`w2_quantile_1d`)

is the midpoint rule of the integral above: no Monte-Carlo noise (the same n levels for every
schedule) and no quantisation floor (an exact flow gives 0, where the W2 of n points to the
continuous law is O(n^{-1/2})). For a linear map of Gaussian data it converges to the closed
form |g·sqrt(s² + σ_max²) − s| (tests/test_metrics_mixture.py).

:func:`reference_flow` integrates the PF-ODE (paper Eq. 5, EDM form) by classical RK4 on a fine
geometric σ-grid and one Euler step into σ = 0: the check that the flow does map the prior's
quantiles to the data's (to 1e-9 with 2,000 steps on the shipped mixtures), and the per-path
reference the state-dependent sampler's figures use.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from artrl.models.mixture import GaussianMixture1D
from artrl.solvers import rk4

__all__ = ["levels", "target_quantiles", "w2_quantile_1d", "reference_grid", "reference_flow"]


def levels(n: int) -> np.ndarray:
    """The quantile levels (i − ½)/n, i = 1..n."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return (np.arange(n, dtype=np.float64) + 0.5) / n


def target_quantiles(model: GaussianMixture1D, n: int) -> np.ndarray:
    """p_0⁻¹((i − ½)/n): where the exact flow takes the stratified prior's points."""
    return model.quantile(levels(n), 0.0)


def w2_quantile_1d(samples, quantiles) -> float:
    """sqrt(mean((sort(samples) − quantiles)²)): the quantile W2 of the module docstring,
    ``quantiles`` the target law's at levels (i − ½)/n (ascending, as many as samples)."""
    a = np.sort(np.asarray(samples, dtype=np.float64).ravel())
    q = np.asarray(quantiles, dtype=np.float64).ravel()
    if a.shape != q.shape or a.size == 0:
        raise ValueError(f"need as many quantiles as samples (> 0), got {q.size} and {a.size}")
    if not (np.isfinite(a).all() and np.isfinite(q).all()):
        raise ValueError("samples and quantiles must be finite")
    return float(np.sqrt(np.mean((a - q) ** 2)))


def reference_grid(
    model: GaussianMixture1D, sigma_max: float, steps: int = 2000, sigma_end: float | None = None
) -> np.ndarray:
    """The reference solver's grid: ``steps`` geometric steps from σ_max to ``sigma_end``
    (default 10⁻⁶ · the narrowest component's std), then 0."""
    if sigma_end is None:
        sigma_end = 1e-6 * float(model.stds.min())
    if not 0 < sigma_end < sigma_max:
        raise ValueError(f"need 0 < sigma_end < sigma_max, got {sigma_end}, {sigma_max}")
    g = np.geomspace(sigma_max, sigma_end, steps + 1)
    g[0] = sigma_max
    return np.concatenate([g, [0.0]])


def reference_flow(
    model: GaussianMixture1D,
    x_T: Tensor,
    sigma_max: float,
    steps: int = 2000,
    sigma_end: float | None = None,
) -> Tensor:
    """x_0 of the PF-ODE from x_T at σ_max: RK4 on :func:`reference_grid` (float64)."""
    grid = reference_grid(model, sigma_max, steps, sigma_end)
    return rk4(model, torch.as_tensor(x_T, dtype=torch.float64), grid)
