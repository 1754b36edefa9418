"""Exact score model of a 1-D Gaussian mixture under the EDM/VE forward process (issue 17).

Data p_0 = Σ_j π_j N(μ_j, s_j²). With σ(τ) = τ (arXiv 2601.18681 §5.1; docs/references.md §2.1)
the noisy marginal is p_σ = Σ_j π_j N(μ_j, s_j² + σ²), and the denoiser (the posterior mean
E[x_0 | x_σ = x]) is in closed form:

* responsibilities  w_j(x, σ) ∝ π_j N(x; μ_j, s_j² + σ²)
* denoiser          D(x; σ) = Σ_j w_j (μ_j + s_j²/(s_j² + σ²) (x − μ_j))

The PF-ODE dx/dσ = (x − D(x; σ))/σ (paper Eq. 5 in EDM form) has no closed-form flow unless
there is one component (then it is :class:`artrl.models.analytic.GaussianModel`'s, shifted by
μ); its reference solution is a fine solver's (:mod:`artrl.metrics.mixture`). The mixture's
CDF and quantiles at any σ are closed form or one bisection away, so prior samples can be
stratified (x_T at the quantiles (i − ½)/n of p_{σ_max}) and the output compared with p_0 by
its exact 1-D W2 (:func:`artrl.metrics.mixture.w2_to_mixture_1d`).

Which mixtures make the sample's state matter: the ART cost density |Q|θ² (paper Eqs. 8–9)
of a path ending in a mode of width s_j is largest where σ ≈ s_j, so modes of very different
widths ask for different clocks; a single Gaussian's optimal clock is the same for every path
(|Q| is ∝ |x_T| at every σ), the control of the comparison.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from scipy.special import ndtr
from torch import Tensor

from artrl.models.analytic import _as_sigma, _per_sample

__all__ = ["GaussianMixture1D"]


def _sigma_col(sigma: Tensor | float, x: Tensor) -> Tensor:
    """σ broadcasting against x ([B, 1]): the Gaussian model's helpers (a tensor is used as it
    is, so ``torch.func.jvp``'s wrapped σ passes through)."""
    return _per_sample(_as_sigma(sigma, x), x.ndim)


class GaussianMixture1D(torch.nn.Module):
    """Exact denoiser of Σ_j π_j N(μ_j, s_j²) in one dimension (EDM/VE, σ(τ) = τ).

    ``forward(x, sigma, labels)`` is the denoiser interface of :mod:`artrl.solvers` (x of shape
    [B, 1], σ a number, a 0-dim or a [B] tensor; ``labels`` ignored), pure torch ops, so
    ``torch.func.jvp`` runs through it (ART's Q, :mod:`artrl.art.dynamics`).
    """

    weights: Tensor
    means: Tensor
    stds: Tensor

    def __init__(
        self, weights: Sequence[float], means: Sequence[float], stds: Sequence[float]
    ) -> None:
        super().__init__()
        w, m, s = (
            torch.as_tensor(v, dtype=torch.float64).reshape(-1) for v in (weights, means, stds)
        )
        n = w.shape[0]
        if n < 1 or m.shape[0] != n or s.shape[0] != n:
            raise ValueError(
                f"a mixture needs weights, means and stds of one length >= 1, got "
                f"{w.shape[0]}, {m.shape[0]}, {s.shape[0]}"
            )
        if not bool(torch.isfinite(torch.cat([w, m, s])).all()):
            raise ValueError("mixture weights, means and stds must be finite")
        if not bool((w > 0).all()) or not bool((s > 0).all()):
            raise ValueError(
                f"mixture weights and stds must be > 0, got {w.tolist()}, {s.tolist()}"
            )
        self.register_buffer("weights", w / w.sum())
        self.register_buffer("means", m)
        self.register_buffer("stds", s)

    @property
    def dim(self) -> int:
        return 1

    @property
    def n_components(self) -> int:
        return int(self.weights.shape[0])

    def data_var(self) -> float:
        """Var of p_0: Σ π (s² + μ²) − (Σ π μ)²."""
        w, m, s = self.weights, self.means, self.stds
        mean = float((w * m).sum())
        return float((w * (s**2 + m**2)).sum()) - mean**2

    def data_mean(self) -> float:
        return float((self.weights * self.means).sum())

    def responsibilities(self, x: Tensor, sigma: Tensor | float) -> Tensor:
        """w_j(x, σ), shape [B, n_components] (the posterior over components at noise σ)."""
        sig = _sigma_col(sigma, x)
        var = self.stds**2 + sig**2  # [n] or [B, n]
        logp = self.weights.log() - 0.5 * (x - self.means) ** 2 / var - 0.5 * var.log()  # [B, n]
        return torch.softmax(logp, dim=-1)

    def forward(self, x: Tensor, sigma: Tensor | float, labels: Tensor | None = None) -> Tensor:
        """D(x; σ) = Σ_j w_j (μ_j + s_j²/(s_j² + σ²)(x − μ_j)); x of shape [B, 1]."""
        sig = _sigma_col(sigma, x)
        var = self.stds**2 + sig**2
        post = self.means + self.stds**2 / var * (x - self.means)  # [B, n]
        return (self.responsibilities(x, sigma) * post).sum(-1, keepdim=True)

    # ------------------------------------------------------------------ distribution (numpy)
    def _params(self, sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        w = self.weights.cpu().numpy()
        m = self.means.cpu().numpy()
        s = np.sqrt(self.stds.cpu().numpy() ** 2 + float(sigma) ** 2)
        return w, m, s

    def cdf(self, x: np.ndarray, sigma: float = 0.0) -> np.ndarray:
        """CDF of p_σ at ``x`` (float64 array)."""
        w, m, s = self._params(sigma)
        x = np.asarray(x, dtype=np.float64)
        return (w * ndtr((x[..., None] - m) / s)).sum(-1)

    def quantile(self, u: np.ndarray, sigma: float = 0.0, iters: int = 200) -> np.ndarray:
        """Quantiles of p_σ at levels ``u`` in (0, 1): bisection of :meth:`cdf` to float64
        resolution (200 halvings of a bracket of every component's ±40 std)."""
        u = np.asarray(u, dtype=np.float64)
        if not bool(((u > 0) & (u < 1)).all()):
            raise ValueError("quantile levels must lie in (0, 1)")
        _, m, s = self._params(sigma)
        lo = np.full(u.shape, float((m - 40 * s).min()))
        hi = np.full(u.shape, float((m + 40 * s).max()))
        for _ in range(iters):
            mid = 0.5 * (lo + hi)
            below = self.cdf(mid, sigma) < u
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
            if bool((hi - lo <= 4 * np.spacing(np.abs(mid) + 1e-300)).all()):
                break
        return 0.5 * (lo + hi)

    def stratified_prior(self, n: int, sigma_max: float) -> Tensor:
        """x_T at the quantiles (i − ½)/n, i = 1..n, of p_{σ_max}: float64 [n, 1], ascending.
        The PF-ODE flow is monotone in 1-D, so the exact flow maps them to p_0's quantiles."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        u = (np.arange(n, dtype=np.float64) + 0.5) / n
        return torch.as_tensor(self.quantile(u, sigma_max), device=self.weights.device)[:, None]

    def sample_prior(
        self, n: int, sigma_max: float, generator: torch.Generator | None = None
    ) -> Tensor:
        """x_T ~ p_{σ_max}, float64 [n, 1]: a component by its weight, then its noisy normal."""
        dev = self.weights.device
        j = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        z = torch.randn(n, generator=generator, dtype=torch.float64, device=dev)
        std = torch.sqrt(self.stds[j] ** 2 + sigma_max**2)
        return (self.means[j] + std * z)[:, None]

    def component_of(self, x0: Tensor) -> Tensor:
        """The most likely component of each clean sample (argmax of w_j(x, 0)), [B] long: the
        mode a path ended in, for colouring figures."""
        return self.responsibilities(x0, 0.0).argmax(-1)

    def describe(self) -> str:
        parts = [
            f"{float(w):.3g}·N({float(m):.3g}, {float(s):.3g}²)"
            for w, m, s in zip(self.weights, self.means, self.stds, strict=True)
        ]
        return " + ".join(parts)

    def second_moment(self) -> float:
        """E[x²] under p_0."""
        w, m, s = self.weights, self.means, self.stds
        return float((w * (s**2 + m**2)).sum())

    def typical_scale(self, sigma_max: float) -> float:
        """Std of p_{σ_max}: sqrt(Var p_0 + σ_max²) (ART's x_scale)."""
        return math.sqrt(self.data_var() + sigma_max**2)
