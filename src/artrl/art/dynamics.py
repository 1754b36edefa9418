"""The reparameterized ART dynamics (paper.md §1.2–1.3) in EDM/VE form.

Notation (paper.md §1): the backward clock ψ ∈ [0, T] runs from pure noise (ψ = 0) to data
(ψ = T); the current noise level is s = σ = T − ψ. With the EDM denoiser D(x; σ):

* Eq. (5)  F(x, ψ) = f(T−ψ) x + ½ g(T−ψ)² Ŝ(T−ψ, x) = (D(x; s) − x) / s   (VE: f = 0, g² = 2τ)
* Eq. (4)  ẋ = θ F(x, ψ),  ψ̇ = θ                          (one Euler step: ``euler_step``)
* Eq. (8)  Q(x, ψ) = dF/dψ along the flow = (J_D(x; s)·F − ∂_σ D(x; σ)|_{σ=s}) / s

Q is one Jacobian–vector product of D in (x, σ) with tangent (F, −1) (paper.md §1.3): forward
mode (``torch.func.jvp``) where the model supports it, else ``torch.autograd.functional.jvp``
(the double-backward trick), which also runs through old-style ``autograd.Function`` ops such
as EDM's attention (ecosystem.md §4.6).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from artrl.solvers import Denoiser


__all__ = [
    "noise_level",
    "drift",
    "drift_and_q",
    "jvp",
    "batch_norm",
    "euler_step",
]


def noise_level(psi: Tensor, T: float, s_floor: float = 1e-6) -> Tensor:
    """s = T − ψ (paper §1.1), floored at ``s_floor`` so F and Q stay finite at ψ = T."""
    return (T - psi).clamp_min(s_floor)


def _expand(v: Tensor, like: Tensor) -> Tensor:
    """Per-sample scalars [B] → [B, 1, ..., 1] for broadcasting against ``like``."""
    return v.reshape(v.shape + (1,) * (like.ndim - v.ndim))


def batch_norm(v: Tensor) -> Tensor:
    """Euclidean norm over every dimension but the batch one (|Q| of paper §1.3)."""
    return v.flatten(1).norm(dim=1)


def drift(
    D: Denoiser, x: Tensor, psi: Tensor, T: float, labels: Tensor | None = None, s_floor=1e-6
) -> Tensor:
    """Eq. (5) in EDM form: F(x, ψ) = (D(x; s) − x)/s with s = T − ψ (per sample)."""
    s = noise_level(psi, T, s_floor)
    return (D(x, s, labels) - x) / _expand(s, x)


_FORWARD_FAILS: set[int] = set()  # ids of denoisers on which forward-mode AD raised


def jvp(
    fn,
    primals: tuple[Tensor, ...],
    tangents: tuple[Tensor, ...],
    mode: str = "auto",
    key: object = None,
) -> tuple[Tensor, Tensor]:
    """(fn(*primals), J_fn(primals)·tangents) by forward mode, or by double backward.

    ``mode``: "forward" (``torch.func.jvp``), "reverse" (``torch.autograd.functional.jvp``,
    which works through old-style ``autograd.Function``), or "auto": forward, falling back to
    reverse when forward mode raises (remembered per ``key``, default ``fn``, so the failure
    is paid once).
    """
    if mode not in ("auto", "forward", "reverse"):
        raise ValueError(f"jvp mode must be auto|forward|reverse, got {mode!r}")
    key = id(fn if key is None else key)
    if mode == "forward" or (mode == "auto" and key not in _FORWARD_FAILS):
        try:
            return torch.func.jvp(fn, primals, tangents)
        except (RuntimeError, NotImplementedError, TypeError):
            if mode == "forward":
                raise
            _FORWARD_FAILS.add(key)
    with torch.enable_grad():
        out, tangent_out = torch.autograd.functional.jvp(fn, primals, tangents, create_graph=False)
    return out.detach(), tangent_out.detach()


def drift_and_q(
    D: Denoiser,
    x: Tensor,
    psi: Tensor,
    T: float,
    labels: Tensor | None = None,
    *,
    s_floor: float = 1e-6,
    mode: str = "auto",
) -> tuple[Tensor, Tensor]:
    """F (Eq. 5) and Q (Eq. 8) at (x, ψ): one denoiser call plus one JVP.

    Q = (J_D·F − ∂_σ D)/s = [JVP of (x, σ) ↦ D(x; σ) at (x, s) with tangent (F, −1)] / s.
    ``psi`` has shape [B]; x has shape [B, ...]. Returns (F, Q), both shaped like x.
    """
    s = noise_level(psi, T, s_floor)
    with torch.no_grad():
        F = (D(x, s, labels) - x) / _expand(s, x)

    def d_of(x_: Tensor, s_: Tensor) -> Tensor:
        return D(x_, s_, labels)

    _, dD = jvp(d_of, (x, s), (F, -torch.ones_like(s)), mode=mode, key=D)
    return F, dD / _expand(s, x)


def euler_step(x: Tensor, psi: Tensor, theta: Tensor, F: Tensor, dt: float):
    """One Euler step of Eq. (4) on the t-clock: x ← x + θ F Δt, ψ ← ψ + θ Δt (ψ unclipped)."""
    return x + _expand(theta, x) * F * dt, psi + theta * dt
