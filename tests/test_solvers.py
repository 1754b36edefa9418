"""Tests for artrl.solvers: NFE counts, convergence order, purity."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from artrl import schedules as S
from artrl.models.analytic import GaussianModel
from artrl.solvers import SOLVERS, CountingDenoiser, euler, heun, nfe, sample, to_d

SOLVER_NAMES = ["euler", "heun", "rk4"]


@pytest.mark.parametrize("K", [1, 2, 5, 18])
@pytest.mark.parametrize("solver", SOLVER_NAMES)
def test_nfe_counts(solver, K):
    D = CountingDenoiser(GaussianModel())
    x = torch.randn(4, 1, dtype=torch.float64)
    sample(D, x, S.edm(K, 80.0, 0.002), solver=solver)
    assert D.calls == nfe(solver, K) == {"euler": K, "heun": 2 * K - 1, "rk4": 4 * K - 3}[solver]
    D.reset()
    assert D.calls == 0
    # A grid ending at σ > 0: every step is a full step.
    SOLVERS[solver](D, x, np.linspace(3.0, 0.5, K + 1))
    assert (
        D.calls
        == nfe(solver, K, ends_at_zero=False)
        == {"euler": 1, "heun": 2, "rk4": 4}[solver] * K
    )


@pytest.mark.parametrize(("solver", "order"), [("euler", 1), ("heun", 2), ("rk4", 4)])
def test_convergence_order(solver, order):
    model = GaussianModel(std=1.0)
    x = torch.linspace(-3.0, 3.0, 7, dtype=torch.float64).reshape(-1, 1)
    exact = model.pf_ode_solution(x, 3.0, 0.5)
    errs = []
    for N in (20, 40, 80):  # asymptotic regime: RK4 rates 3.94, 3.97
        out = sample(model, x, np.linspace(3.0, 0.5, N + 1), solver=solver)
        errs.append((out - exact).abs().max().item())
    rates = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(np.abs(rates - order) < 0.15), rates


def test_euler_step_by_hand():
    # Uniform K = 2 on the 1-D Gaussian: x → 0.55 x → 0.55 x / 3.25.
    out = euler(GaussianModel(), torch.ones(1, 1, dtype=torch.float64), [3.0, 1.5, 0.0])
    assert out.item() == pytest.approx(0.55 / 3.25, rel=1e-15)


@pytest.mark.parametrize("solver", SOLVER_NAMES)
def test_last_step_into_zero_is_euler(solver):
    # The Euler step σ → 0 lands exactly on the denoised estimate: x + (0 − σ)(x − D)/σ = D.
    model = GaussianModel(std=[0.5, 2.0])
    x = torch.randn(3, 2, dtype=torch.float64)
    out = sample(model, x, [1.7, 0.0], solver=solver)
    torch.testing.assert_close(out, model(x, torch.tensor(1.7, dtype=torch.float64)))


@pytest.mark.parametrize("solver", SOLVER_NAMES)
def test_pure_and_float64(solver):
    x = torch.randn(5, 3, dtype=torch.float32)
    x_copy = x.clone()
    seen = []

    def D(y, sigma, labels):
        seen.append((y.dtype, sigma.dtype, sigma.ndim, labels))
        return GaussianModel(std=[0.5, 1.0, 2.0])(y, sigma)

    labels = torch.arange(5)
    out = sample(D, x, S.edm(4, 80.0, 0.002), solver=solver, labels=labels)
    assert out.dtype == torch.float64 and out.shape == x.shape
    assert torch.equal(x, x_copy)
    assert all(dt == torch.float64 and st == torch.float64 and nd == 0 for dt, st, nd, _ in seen)
    assert all(lb is labels for *_, lb in seen)
    x64 = x.double()
    x64_copy = x64.clone()
    sample(D, x64, S.uniform(3, 3.0), solver=solver)
    assert torch.equal(x64, x64_copy)


def test_sigmas_as_tensor_and_progress():
    model = GaussianModel()
    x = torch.ones(2, 1, dtype=torch.float64)
    s = S.edm(5, 3.0, 0.0, convention="paper")
    a = heun(model, x, s)
    b = heun(model, x, torch.tensor(s), progress=True)
    assert torch.equal(a, b)


def test_to_d():
    x, den = torch.tensor([3.0]), torch.tensor([1.0])
    assert to_d(x, torch.tensor(2.0), den).item() == 1.0


def test_bad_inputs():
    model = GaussianModel()
    x = torch.ones(1, 1)
    with pytest.raises(ValueError, match="known: euler, heun, rk4"):
        sample(model, x, [3.0, 0.0], solver="dpm2")
    with pytest.raises(ValueError, match="known"):
        nfe("dpm2", 3)
    with pytest.raises(ValueError, match="strictly decreasing"):
        euler(model, x, [1.0, 2.0, 0.0])
    with pytest.raises(ValueError, match="last entry"):
        euler(model, x, [1.0, 0.0, -1.0])
    with pytest.raises(ValueError, match="1-D"):
        euler(model, x, [3.0])


# ----------------------------------------------------------------------------------------------
# Per-sample grids (issue 17)


def _mixture():
    from artrl.models.mixture import GaussianMixture1D

    return GaussianMixture1D([0.5, 0.5], [-2.0, 2.0], [0.05, 1.0])


@pytest.mark.parametrize("solver", ["euler", "heun"])
def test_equal_per_sample_grids_give_the_scalar_solvers_bytes(solver):
    from artrl.solvers import sample_grids

    D = _mixture()
    x = D.stratified_prior(32, 3.0)
    grid = S.edm(6, 3.0, 0.002, convention="paper")
    rows = torch.as_tensor(grid).expand(32, -1)
    assert torch.equal(sample_grids(D, x, rows, solver), sample(D, x, grid, solver=solver))


@pytest.mark.parametrize("solver", ["euler", "heun"])
def test_per_sample_grids_batched_equal_one_row_at_a_time(solver):
    from artrl.solvers import sample_grids

    D = CountingDenoiser(_mixture())
    x = _mixture().stratified_prior(16, 3.0)
    gen = torch.Generator().manual_seed(0)
    inner = torch.sort(torch.rand(16, 4, generator=gen, dtype=torch.float64) * 3.0, 1, True)[0]
    grids = torch.cat([torch.full((16, 1), 3.0, dtype=torch.float64), inner], 1)
    grids = torch.cat([grids, torch.zeros(16, 1, dtype=torch.float64)], 1)  # K = 5, to 0
    out = sample_grids(D, x, grids, solver)
    assert D.calls == nfe(solver, 5)  # one call per stage for the whole batch
    for i in range(16):
        assert torch.equal(
            out[i], sample_grids(_mixture(), x[i : i + 1], grids[i : i + 1], solver)[0]
        )
        assert torch.equal(out[i], sample(_mixture(), x[i : i + 1], grids[i], solver=solver)[0])


def test_per_sample_grids_are_checked():
    from artrl.solvers import sample_grids

    x = torch.zeros(2, 1, dtype=torch.float64)
    with pytest.raises(ValueError, match="strictly decreasing"):
        sample_grids(GaussianModel(), x, torch.tensor([[3.0, 1.0, 0.0], [3.0, 3.0, 0.0]]))
    with pytest.raises(ValueError, match=r"\[B, K \+ 1\]"):
        sample_grids(GaussianModel(), x, torch.tensor([3.0, 1.0, 0.0]))
    with pytest.raises(ValueError, match="euler"):
        sample_grids(GaussianModel(), x, torch.tensor([[3.0, 0.0], [3.0, 0.0]]), solver="rk4")
