"""F (Eq. 5) and Q (Eq. 8) by one JVP, against the closed forms of the Gaussian model."""

import math

import pytest
import torch

from artrl.art.dynamics import drift, drift_and_q, euler_step, jvp
from artrl.models.analytic import GaussianModel

T = 3.0


def test_q_1d_matches_paper_formula():
    # arXiv 2601.18681 §5.1: Q(x, ψ) = x / (1 + (T − ψ)²)² for p0 = N(0, 1), T = 3
    D = GaussianModel(1.0)
    x = torch.linspace(-4, 4, 17, dtype=torch.float64)[:, None]
    psi = torch.linspace(0.0, 2.9, 17, dtype=torch.float64)
    F, Q = drift_and_q(D, x, psi, T)
    s = (T - psi)[:, None]
    torch.testing.assert_close(F, -s * x / (1 + s**2), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(Q, x / (1 + s**2) ** 2, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_jvp_q_matches_closed_form_d16(mode):
    g = torch.Generator().manual_seed(0)
    std = 0.3 + torch.rand(16, generator=g, dtype=torch.float64) * 2
    D = GaussianModel(std)
    x = torch.randn(8, 16, generator=g, dtype=torch.float64) * 3
    psi = torch.rand(8, generator=g, dtype=torch.float64) * 2.5
    F, Q = drift_and_q(D, x, psi, T, mode=mode)
    torch.testing.assert_close(F, D.F_closed_form(x, psi, T), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(Q, D.Q_closed_form(x, psi, T), rtol=1e-10, atol=1e-13)


def test_q_is_total_derivative_of_F_along_the_flow():
    # Q = dF/dψ along ẋ = F: compare with a central finite difference of F(x(ψ), ψ).
    D = GaussianModel(torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64))
    x = torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64)
    psi = torch.tensor([1.2], dtype=torch.float64)
    h = 1e-5
    F, Q = drift_and_q(D, x, psi, T)
    Fp = drift(D, x + h * F, psi + h, T)
    Fm = drift(D, x - h * F, psi - h, T)
    torch.testing.assert_close(Q, (Fp - Fm) / (2 * h), rtol=1e-6, atol=1e-9)


class _OldStyleSquare(torch.autograd.Function):
    """An old-style Function without forward-mode support, like EDM's attention op."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * x * g


class _OldStyleModel(torch.nn.Module):
    def forward(self, x, sigma, labels=None):
        s = sigma.reshape(-1, 1)
        return _OldStyleSquare.apply(x) / (1 + s**2)


def test_auto_mode_falls_back_when_forward_mode_fails():
    D = _OldStyleModel()
    x = torch.tensor([[0.7], [-1.3]], dtype=torch.float64)
    psi = torch.tensor([0.5, 2.0], dtype=torch.float64)
    with pytest.raises((RuntimeError, NotImplementedError)):
        drift_and_q(D, x, psi, T, mode="forward")
    F, Q = drift_and_q(D, x, psi, T, mode="auto")
    s = (T - psi)[:, None]
    # D = x²/(1+s²): J_D F = 2xF/(1+s²), ∂_σ D = −2s x²/(1+s²)²
    expect = (2 * x * F / (1 + s**2) + 2 * s * x**2 / (1 + s**2) ** 2) / s
    torch.testing.assert_close(Q, expect, rtol=1e-12, atol=1e-14)


def test_jvp_rejects_unknown_mode():
    with pytest.raises(ValueError, match="auto"):
        jvp(lambda a: a, (torch.ones(1),), (torch.ones(1),), mode="bogus")


def test_euler_step_is_eq4():
    x = torch.tensor([[2.0]], dtype=torch.float64)
    psi = torch.tensor([1.0], dtype=torch.float64)
    theta = torch.tensor([0.5], dtype=torch.float64)
    F = torch.tensor([[-4.0]], dtype=torch.float64)
    x1, p1 = euler_step(x, psi, theta, F, 0.1)
    assert math.isclose(float(x1), 2.0 - 0.2) and math.isclose(float(p1), 1.05)
