"""Tests for artrl.models.mixture: the exact denoiser, CDF and quantiles of a 1-D Gaussian
mixture (issue 17)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import norm

from artrl.art.dynamics import jvp
from artrl.models import build
from artrl.models.analytic import GaussianModel
from artrl.models.mixture import GaussianMixture1D

F64 = torch.float64
TWO_WIDTHS = GaussianMixture1D([0.5, 0.5], [-2.0, 2.0], [0.05, 1.0])


def test_one_component_is_the_shifted_gaussian_model():
    mu, s = 0.7, 0.4
    mix, g = GaussianMixture1D([1.0], [mu], [s]), GaussianModel(s)
    x = torch.linspace(-3, 3, 13, dtype=F64).reshape(-1, 1)
    for sigma in (0.0, 0.01, 0.5, 3.0, 80.0):
        want = mu + g(x - mu, torch.tensor(sigma, dtype=F64))
        torch.testing.assert_close(mix(x, sigma), want, rtol=1e-14, atol=1e-15)


def test_denoiser_is_the_posterior_mean_by_quadrature():
    # E[x0 | x] = ∫ x0 p0(x0) N(x; x0, σ²) dx0 / ∫ p0(x0) N(x; x0, σ²) dx0, on a fine grid
    x0 = np.linspace(-8, 8, 400_001)
    p0 = 0.5 * norm.pdf(x0, -2.0, 0.05) + 0.5 * norm.pdf(x0, 2.0, 1.0)
    for xv, sigma in ((-1.5, 0.3), (0.4, 1.0), (2.5, 2.0)):
        k = p0 * norm.pdf(xv, x0, sigma)
        want = np.trapezoid(x0 * k, x0) / np.trapezoid(k, x0)
        got = float(TWO_WIDTHS(torch.tensor([[xv]], dtype=F64), sigma))
        assert got == pytest.approx(want, rel=1e-8, abs=1e-10)


def test_per_sample_sigma_matches_scalar_sigma_row_by_row():
    x = torch.linspace(-3, 3, 5, dtype=F64).reshape(-1, 1)
    sig = torch.tensor([0.01, 0.1, 0.5, 1.0, 3.0], dtype=F64)
    out = TWO_WIDTHS(x, sig)
    for i in range(5):
        assert torch.equal(out[i], TWO_WIDTHS(x[i : i + 1], sig[i])[0])
    r = TWO_WIDTHS.responsibilities(x, sig)
    torch.testing.assert_close(r.sum(-1), torch.ones(5, dtype=F64), rtol=0, atol=1e-15)


def test_jvp_runs_through_the_denoiser():
    # forward mode and double backward agree with a central difference in (x, σ)
    x = torch.tensor([[-1.9], [0.3], [2.2]], dtype=F64)
    s = torch.tensor([0.2, 0.8, 1.5], dtype=F64)
    tx, ts = torch.ones_like(x), -torch.ones_like(s)
    h = 1e-6
    fd = (TWO_WIDTHS(x + h * tx, s + h * ts) - TWO_WIDTHS(x - h * tx, s - h * ts)) / (2 * h)
    for mode in ("forward", "reverse"):
        _, d = jvp(lambda a, b: TWO_WIDTHS(a, b), (x, s), (tx, ts), mode=mode)
        torch.testing.assert_close(d, fd, rtol=1e-6, atol=1e-8)


def test_cdf_and_quantile_invert_each_other():
    u = np.array([1e-9, 1e-4, 0.1, 0.25, 0.5, 0.5001, 0.9, 1 - 1e-9])
    for sigma in (0.0, 0.5, 3.0):
        q = TWO_WIDTHS.quantile(u, sigma)
        assert np.all(np.diff(q) > 0)
        np.testing.assert_allclose(TWO_WIDTHS.cdf(q, sigma), u, rtol=1e-12, atol=1e-15)
    one = GaussianMixture1D([1.0], [1.0], [2.0])
    np.testing.assert_allclose(one.quantile(u[1:-1], 1.5), norm.ppf(u[1:-1], 1.0, 2.5), rtol=1e-12)
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        one.quantile(np.array([0.0, 0.5]))


def test_stratified_prior_and_moments():
    x = TWO_WIDTHS.stratified_prior(1000, 3.0)
    assert x.shape == (1000, 1) and x.dtype == F64 and bool((x[1:] > x[:-1]).all())
    np.testing.assert_allclose(
        TWO_WIDTHS.cdf(x.numpy().ravel(), 3.0), (np.arange(1000) + 0.5) / 1000
    )
    # Var = Σπ(s² + μ²) − (Σπμ)² = 0.5(0.0025 + 4) + 0.5(1 + 4) = 4.50125
    assert TWO_WIDTHS.data_var() == pytest.approx(4.50125, rel=1e-15)
    gen = torch.Generator().manual_seed(0)
    draws = TWO_WIDTHS.sample_prior(200_000, 3.0, generator=gen)
    assert float(draws.var()) == pytest.approx(4.50125 + 9.0, rel=0.02)


@pytest.mark.parametrize(
    ("weights", "means", "stds", "match"),
    [([0.5], [0.0, 1.0], [1.0], "one length"), ([1.0], [0.0], [0.0], "> 0"),
     ([1.0], [float("nan")], [1.0], "finite")],
)  # fmt: skip
def test_bad_mixtures_are_refused(weights, means, stds, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture1D(weights, means, stds)


def test_build_mixture_bundle():
    spec = {"type": "mixture", "weights": [1, 3], "means": [-1.0, 1.0], "stds": [0.1, 0.5]}
    b = build(spec, 3.0)
    assert b.data_shape == (1,) and float(b.D.weights[1]) == 0.75
    assert b.prior_std == pytest.approx(np.sqrt(b.D.data_var() + 9.0))
    x = b.prior(8, torch.Generator().manual_seed(1))
    assert x.shape == (8, 1) and x.dtype == F64
