"""Tests for artrl.metrics.mixture: quantile W2 and the PF-ODE reference flow (issue 17)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import norm

from artrl import schedules as S
from artrl.metrics.mixture import (
    levels,
    reference_flow,
    reference_grid,
    target_quantiles,
    w2_quantile_1d,
)
from artrl.metrics.w2 import exact_w2_linear_gaussian, linear_solver_gain
from artrl.models.analytic import GaussianModel
from artrl.models.mixture import GaussianMixture1D
from artrl.solvers import sample

F64 = torch.float64
T = 3.0


@pytest.mark.parametrize("sigma_to", [0.0, 0.2])
def test_reference_flow_of_one_component_is_the_closed_form(sigma_to):
    # one Gaussian component N(μ, s²): x(σ) = μ + (x_T − μ) sqrt((s² + σ²)/(s² + T²))
    mu, s = 0.5, 0.3
    mix = GaussianMixture1D([1.0], [mu], [s])
    x_T = mix.stratified_prior(64, T)
    want = mu + GaussianModel(s).pf_ode_solution(x_T - mu, T, sigma_to)
    if sigma_to == 0.0:
        got = reference_flow(mix, x_T, T)
    else:  # the same RK4, stopped at sigma_to
        grid = np.geomspace(T, sigma_to, 2001)
        grid[0], grid[-1] = T, sigma_to
        got = sample(mix, x_T, grid, solver="rk4")
    torch.testing.assert_close(got, want, rtol=0, atol=1e-10)


def test_reference_flow_maps_prior_quantiles_to_data_quantiles():
    # the flow is monotone and pushes p_T to p_0: quantile (i − ½)/n goes to quantile (i − ½)/n
    mix = GaussianMixture1D([0.3, 0.7], [-2.0, 1.0], [0.05, 1.0])
    x0 = reference_flow(mix, mix.stratified_prior(400, T), T).numpy().ravel()
    np.testing.assert_allclose(x0, target_quantiles(mix, 400), rtol=0, atol=1e-8)
    g = reference_grid(mix, T)
    assert g[0] == T and g[-1] == 0.0 and g[-2] == pytest.approx(5e-8) and len(g) == 2002


@pytest.mark.parametrize("solver", ["euler", "heun"])
def test_quantile_w2_against_the_gaussian_closed_form(solver):
    # Gaussian data N(0, s²): a solver maps x_T to g·x_T, so its sorted outputs are
    # g·sqrt(s² + T²)·z_i and the data's quantiles s·z_i, z_i = Φ⁻¹((i − ½)/n): the quantile W2
    # is |g sqrt(s² + T²) − s| · sqrt(mean z_i²) exactly, → the closed-form W2 as n grows
    s, n, sig = 0.7, 100_000, S.edm(5, T, 0.002, convention="paper")
    mix = GaussianMixture1D([1.0], [0.0], [s])
    out = sample(GaussianModel(s), mix.stratified_prior(n, T), sig, solver=solver)
    got = w2_quantile_1d(out.numpy(), target_quantiles(mix, n))
    z = norm.ppf(levels(n))
    g = linear_solver_gain(sig, solver=solver, std=s)
    assert got == pytest.approx(abs(g * np.hypot(s, T) - s) * np.sqrt(np.mean(z * z)), rel=1e-9)
    closed = exact_w2_linear_gaussian(sig, solver=solver, std=s)
    assert got == pytest.approx(closed, rel=2e-4)


def test_quantile_w2_basics():
    q = np.array([-1.0, 0.0, 2.0])
    assert w2_quantile_1d([2.0, -1.0, 0.0], q) == 0.0  # sorted first
    assert w2_quantile_1d([0.0, 1.0, 3.0], q) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="as many"):
        w2_quantile_1d([0.0], q)
    with pytest.raises(ValueError, match="finite"):
        w2_quantile_1d([0.0, np.nan, 1.0], q)
