"""Tests for artrl.models.analytic: closed forms of the Gaussian model (arXiv 2601.18681 §5.1)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from artrl.models.analytic import GaussianModel
from artrl.solvers import sample

F64 = torch.float64
T = 3.0


def test_forward_closed_form_1d():
    m = GaussianModel()
    x = torch.linspace(-4, 4, 9, dtype=F64).reshape(-1, 1)
    for sigma in (0.0, 0.3, 1.0, 3.0, 80.0):
        out = m(x, torch.tensor(sigma, dtype=F64))
        torch.testing.assert_close(out, x / (1 + sigma**2), rtol=1e-15, atol=0)


def test_forward_per_sample_sigma_and_per_coordinate_std():
    std = [0.5, 1.0, 2.0]
    m = GaussianModel(std=std)
    assert m.dim == 3 and m.std.dtype == F64
    x = torch.randn(4, 3, dtype=F64)
    sigma = torch.tensor([0.1, 1.0, 2.0, 5.0], dtype=F64)
    s2 = torch.tensor(std, dtype=F64) ** 2
    ref = x * s2 / (s2 + sigma[:, None] ** 2)
    torch.testing.assert_close(m(x, sigma), ref, rtol=1e-15, atol=0)
    torch.testing.assert_close(m.score(x, sigma), -x / (s2 + sigma[:, None] ** 2))
    # score = (D − x)/σ²
    torch.testing.assert_close(m.score(x, sigma), (m(x, sigma) - x) / sigma[:, None] ** 2)
    assert m.marginal_std(sigma).shape == (4, 3)
    torch.testing.assert_close(m.marginal_std(2.0), torch.sqrt(s2 + 4.0))


def test_constructor_checks():
    assert GaussianModel(2.0, dim=4).std.tolist() == [2.0] * 4
    with pytest.raises(ValueError, match="dim"):
        GaussianModel([1.0, 2.0], dim=3)
    with pytest.raises(ValueError, match="> 0"):
        GaussianModel(0.0)


def test_Q_paper_formula_1d():
    m = GaussianModel()
    x = torch.linspace(-3, 3, 13, dtype=F64).reshape(-1, 1)
    for psi in (0.0, 0.5, 1.7, 3.0):
        q = m.Q_closed_form(x, psi, T)
        torch.testing.assert_close(q, x / (1 + (T - psi) ** 2) ** 2, rtol=1e-15, atol=0)
        f = m.F_closed_form(x, psi, T)
        torch.testing.assert_close(f, -(T - psi) * x / (1 + (T - psi) ** 2), rtol=1e-15, atol=0)


def test_F_is_D_minus_x_over_sigma():
    m = GaussianModel(std=[0.7, 1.3])
    x = torch.randn(5, 2, dtype=F64)
    psi = torch.tensor([0.0, 0.4, 1.1, 2.2, 2.9], dtype=F64)
    sigma = T - psi
    torch.testing.assert_close(m.F_closed_form(x, psi, T), (m(x, sigma) - x) / sigma[:, None])


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
def test_Q_is_jvp_of_denoiser():
    # Eq. 8 in EDM form (docs/references.md §2.2): Q = (J_D F − ∂_σ D)/σ = one JVP with
    # tangent (F, −1), over σ.
    m = GaussianModel(std=[0.7, 1.3])
    x = torch.randn(5, 2, dtype=F64)
    psi = 1.2
    sigma = torch.tensor(T - psi, dtype=F64)
    F = m.F_closed_form(x, psi, T)
    _, jvp = torch.func.jvp(lambda y, s: m(y, s), (x, sigma), (F, -torch.ones_like(sigma)))
    torch.testing.assert_close(jvp / sigma, m.Q_closed_form(x, psi, T))


def test_pf_ode_solution_composes_and_matches_solver():
    m = GaussianModel(std=[0.5, 2.0])
    x = torch.randn(6, 2, dtype=F64)
    a, b, c = 80.0, 2.5, 0.1
    torch.testing.assert_close(
        m.pf_ode_solution(m.pf_ode_solution(x, a, b), b, c), m.pf_ode_solution(x, a, c)
    )
    torch.testing.assert_close(m.pf_ode_solution(x, a, a), x)
    # It solves dx/dσ = (x − D)/σ: a fine RK4 integration agrees.
    num = sample(m, x, np.geomspace(a, c, 200), solver="rk4")
    torch.testing.assert_close(num, m.pf_ode_solution(x, a, c), rtol=1e-8, atol=1e-10)
    # PF-ODE to σ = 0 maps the prior onto the data law: per-coordinate std ratio.
    torch.testing.assert_close(
        m.pf_ode_solution(torch.ones(1, 2, dtype=F64), 3.0, 0.0)[0], m.std / m.marginal_std(3.0)
    )


def test_sample_prior_marginal_std():
    m = GaussianModel()
    n = 100_000
    gen = torch.Generator().manual_seed(0)
    x = m.sample_prior(n, 3.0, generator=gen)
    assert x.shape == (n, 1) and x.dtype == F64
    target = math.sqrt(10.0)
    se = target / math.sqrt(2 * n)  # standard error of a sample std of a Gaussian
    assert abs(x.std().item() - target) < 3 * se
    d = m.sample_data(n, generator=gen)
    assert abs(d.std().item() - 1.0) < 3 / math.sqrt(2 * n)


def test_sample_prior_reproducible():
    m = GaussianModel(std=[1.0, 2.0])
    a = m.sample_prior(10, 3.0, generator=torch.Generator().manual_seed(3))
    b = m.sample_prior(10, 3.0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.shape == (10, 2)
