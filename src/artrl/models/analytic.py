"""Analytic score model: Gaussian data N(0, diag(s²)) under the EDM/VE forward process.

With σ(τ) = τ (f ≡ 0, g² = 2τ: arXiv 2601.18681 §5.1; docs/references.md §2.1) the noisy
marginal at level σ is N(0, diag(s² + σ²)), so everything is in closed form:

* denoiser      D(x; σ) = x s²/(s² + σ²)
* score         ∇ log p_σ(x) = −x/(s² + σ²)
* PF-ODE flow   x(σ_to) = x(σ_from) sqrt((s² + σ_to²)/(s² + σ_from²))
* F(x, ψ)       = (D − x)/σ = −σ x/(s² + σ²),  σ = T − ψ         (paper Eq. 5, EDM form)
* Q(x, ψ)       = x s²/(s² + σ²)²                                 (paper Eq. 8)

The paper's 1-D example (arXiv 2601.18681 §5.1) is ``GaussianModel(std=1.0)`` with T = σ_max = 3.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def _as_sigma(sigma: Tensor | float, like: Tensor) -> Tensor:
    """A noise level as a tensor: Python numbers become 0-dim tensors on ``like``'s device."""
    if isinstance(sigma, Tensor):
        return sigma
    return torch.tensor(sigma, dtype=torch.float64, device=like.device)


def _per_sample(sigma: Tensor, ndim: int) -> Tensor:
    """Reshape a 0-dim or [B] noise level so it broadcasts against a [B, ..., dim] tensor."""
    if sigma.ndim == 0:
        return sigma
    return sigma.reshape(sigma.shape[0], *([1] * (ndim - 1)))


class GaussianModel(torch.nn.Module):
    """Exact denoiser for data N(0, diag(std²)) in dimension ``dim`` (EDM/VE, σ(τ) = τ).

    ``std`` is a float (isotropic) or a 1-D sequence/tensor of per-coordinate stds; ``dim``
    defaults to its length (1 for a float). ``forward`` is the denoiser interface
    ``D(x, sigma, labels)`` of :mod:`artrl.solvers` and uses only pure torch ops, so it works
    under ``torch.func.jvp``.
    """

    std: Tensor

    def __init__(self, std: float | Sequence[float] | Tensor = 1.0, dim: int | None = None):
        super().__init__()
        s = torch.as_tensor(std, dtype=torch.float64).detach().clone()
        if s.ndim == 0:
            s = s.expand(1 if dim is None else dim).clone()
        elif s.ndim != 1:
            raise ValueError(f"std must be a float or 1-D, got shape {tuple(s.shape)}")
        if dim is not None and s.shape[0] != dim:
            raise ValueError(f"std has length {s.shape[0]} but dim = {dim}")
        if s.shape[0] < 1 or not bool((s > 0).all()) or not bool(torch.isfinite(s).all()):
            raise ValueError(f"std must be finite and > 0, got {s.tolist()}")
        self.register_buffer("std", s)

    @property
    def dim(self) -> int:
        return int(self.std.shape[0])

    @property
    def var(self) -> Tensor:
        return self.std**2

    def forward(self, x: Tensor, sigma: Tensor | float, labels: Tensor | None = None) -> Tensor:
        """D(x; σ) = x s²/(s² + σ²); ``labels`` is ignored."""
        sig = _per_sample(_as_sigma(sigma, x), x.ndim)
        return x * self.var / (self.var + sig**2)

    def score(self, x: Tensor, sigma: Tensor | float) -> Tensor:
        """∇_x log p_σ(x) = −x/(s² + σ²) = (D − x)/σ²."""
        sig = _per_sample(_as_sigma(sigma, x), x.ndim)
        return -x / (self.var + sig**2)

    def marginal_std(self, sigma: Tensor | float) -> Tensor:
        """Per-coordinate std of p_σ: sqrt(s² + σ²); shape [dim] or [B, dim]."""
        sig = _as_sigma(sigma, self.std)
        sig = sig if sig.ndim == 0 else sig.reshape(-1, 1)
        return torch.sqrt(self.var + sig**2)

    def pf_ode_solution(
        self, x: Tensor, sigma_from: Tensor | float, sigma_to: Tensor | float
    ) -> Tensor:
        """Exact PF-ODE flow from σ_from to σ_to: x sqrt((s² + σ_to²)/(s² + σ_from²))."""
        a = _per_sample(_as_sigma(sigma_from, x), x.ndim)
        b = _per_sample(_as_sigma(sigma_to, x), x.ndim)
        return x * torch.sqrt((self.var + b**2) / (self.var + a**2))

    def F_closed_form(self, x: Tensor, psi: Tensor | float, T: float) -> Tensor:
        """Backward PF field on the ψ-clock (paper Eq. 5): F = (D − x)/σ = −σx/(s² + σ²)."""
        sig = T - _per_sample(_as_sigma(psi, x), x.ndim)
        return -sig * x / (self.var + sig**2)

    def Q_closed_form(self, x: Tensor, psi: Tensor | float, T: float) -> Tensor:
        """Q = dF/dψ along the flow (paper Eq. 8): x s²/(s² + σ²)², σ = T − ψ.

        For 1-D, s = 1 this is the paper's Q(x, ψ) = x/(1 + (T − ψ)²)² (arXiv 2601.18681 §5.1).
        """
        sig = T - _per_sample(_as_sigma(psi, x), x.ndim)
        return x * self.var / (self.var + sig**2) ** 2

    def sample_prior(
        self, n: int, sigma_max: float, generator: torch.Generator | None = None
    ) -> Tensor:
        """x_T ~ N(0, diag(s² + σ_max²)), float64 [n, dim]."""
        z = torch.randn(
            n, self.dim, generator=generator, dtype=torch.float64, device=self.std.device
        )
        return z * self.marginal_std(sigma_max)

    def sample_data(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """x_0 ~ N(0, diag(s²)), float64 [n, dim]."""
        z = torch.randn(
            n, self.dim, generator=generator, dtype=torch.float64, device=self.std.device
        )
        return z * self.std
