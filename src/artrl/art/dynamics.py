"""The reparameterized ART dynamics (arXiv 2601.18681 §2, Eqs. 4–8) in EDM/VE form.

Notation (arXiv 2601.18681 §2): the backward clock ψ ∈ [0, T] runs from pure noise (ψ = 0) to data
(ψ = T); the current noise level is s = σ = T − ψ. With the EDM denoiser D(x; σ):

* Eq. (5)  F(x, ψ) = f(T−ψ) x + ½ g(T−ψ)² Ŝ(T−ψ, x) = (D(x; s) − x) / s   (VE: f = 0, g² = 2τ)
* Eq. (4)  ẋ = θ F(x, ψ),  ψ̇ = θ                          (one Euler step: ``euler_step``)
* Eq. (8)  Q(x, ψ) = dF/dψ along the flow = (J_D(x; s)·F − ∂_σ D(x; σ)|_{σ=s}) / s

Q is one Jacobian–vector product of D in (x, σ) with tangent (F, −1) (docs/references.md §2.2):
forward mode (``torch.func.jvp``) where the model supports it, else
``torch.autograd.functional.jvp`` (the double-backward trick), which also runs through old-style
``autograd.Function`` ops such as EDM's attention (docs/references.md §3.1).

Heun's local error h³ R̃ (docs/heun_proxy.md), R̃ = −R/12 + ¼ ∂ₓF·Q with R = d²F/dψ² along
the flow, takes a second-order directional derivative more: ``drift_q_heun``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from artrl.solvers import expand_per_sample as _expand

if TYPE_CHECKING:
    from artrl.solvers import Denoiser


__all__ = [
    "noise_level",
    "drift",
    "drift_and_q",
    "flow_jvp",
    "drift_q_heun",
    "jvp",
    "batch_norm",
    "euler_step",
]


def noise_level(psi: Tensor, T: float, s_floor: float = 1e-6) -> Tensor:
    """s = T − ψ (arXiv 2601.18681 Eq. 8), floored at ``s_floor`` so F, Q stay finite at ψ = T."""
    return (T - psi).clamp_min(s_floor)


def batch_norm(v: Tensor) -> Tensor:
    """Euclidean norm over every dimension but the batch one (|Q| of arXiv 2601.18681 Eq. 8)."""
    return v.flatten(1).norm(dim=1)


def drift(
    D: Denoiser, x: Tensor, psi: Tensor, T: float, labels: Tensor | None = None, s_floor=1e-6
) -> Tensor:
    """Eq. (5) in EDM form: F(x, ψ) = (D(x; s) − x)/s with s = T − ψ (per sample)."""
    s = noise_level(psi, T, s_floor)
    return (D(x, s, labels) - x) / _expand(s, x)


_FORWARD_FAILS: set[int] = set()  # ids of denoisers on which forward-mode AD raised


def _with_fallback(compute, mode: str, key: object):
    """``compute(m)`` for m = "forward" or "reverse" as ``mode`` says; "auto": forward, then
    reverse when forward mode raises (remembered per ``key``, so the failure is paid once)."""
    if mode not in ("auto", "forward", "reverse"):
        raise ValueError(f"jvp mode must be auto|forward|reverse, got {mode!r}")
    key = id(key)
    if mode == "forward" or (mode == "auto" and key not in _FORWARD_FAILS):
        try:
            return compute("forward")
        except (RuntimeError, NotImplementedError, TypeError):
            if mode == "forward":
                raise
            _FORWARD_FAILS.add(key)
    return compute("reverse")


def jvp(
    fn,
    primals: tuple[Tensor, ...],
    tangents: tuple[Tensor, ...],
    mode: str = "auto",
    key: object = None,
    *,
    create_graph: bool = False,
) -> tuple[Tensor, Tensor]:
    """(fn(*primals), J_fn(primals)·tangents) by forward mode, or by double backward.

    ``mode``: "forward" (``torch.func.jvp``), "reverse" (``torch.autograd.functional.jvp``,
    which works through old-style ``autograd.Function``), or "auto": forward, falling back to
    reverse when forward mode raises (remembered per ``key``, default ``fn``, so the failure
    is paid once). ``create_graph`` (reverse mode) keeps the result differentiable, for a JVP
    nested inside another reverse-mode JVP (:func:`drift_q_heun`).
    """

    def compute(m: str) -> tuple[Tensor, Tensor]:
        if m == "forward":
            return torch.func.jvp(fn, primals, tangents)
        with torch.enable_grad():
            out, tangent_out = torch.autograd.functional.jvp(
                fn, primals, tangents, create_graph=create_graph
            )
        if create_graph:
            return out, tangent_out
        return out.detach(), tangent_out.detach()

    return _with_fallback(compute, mode, fn if key is None else key)


def flow_jvp(
    D: Denoiser, x: Tensor, s: Tensor, F: Tensor, labels: Tensor | None = None, *, mode="auto"
) -> Tensor:
    """J_D·F − ∂_σ D at (x, s): the JVP of (x, σ) ↦ D(x; σ) with tangent (F, −1), i.e. s·Q
    (Eq. 8) for F = (D − x)/s; ``s`` has shape [B]."""

    def d_of(x_: Tensor, s_: Tensor) -> Tensor:
        return D(x_, s_, labels)

    return jvp(d_of, (x, s), (F, -torch.ones_like(s)), mode=mode, key=D)[1]


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
    return F, flow_jvp(D, x, s, F, labels, mode=mode) / _expand(s, x)


def drift_q_heun(
    D: Denoiser,
    x: Tensor,
    psi: Tensor,
    T: float,
    labels: Tensor | None = None,
    *,
    s_floor: float = 1e-6,
    mode: str = "auto",
) -> tuple[Tensor, Tensor, Tensor]:
    """F (Eq. 5), Q (Eq. 8) and the Heun local-error coefficient R̃ at (x, ψ).

    Heun's step of length h in ψ has local error h³ R̃ (docs/heun_proxy.md) with

        R̃ = −R/12 + ¼ ∂ₓF·Q = (2 ∂ₓF·Q − S)/12,   R = d²F/dψ² = S + ∂ₓF·Q,

    S = ∇²F[u, u] the second directional derivative of F along the *fixed* u = (F, 1) in
    (x, ψ). In (x, σ) the direction is (F, −1); with D′, D″ the first and second directional
    derivatives of D along it (D′ = s Q), F = (D − x)/s gives S = (D″ + 2Q)/s, and
    ∂ₓF·Q = (J_D·Q − Q)/s, so R̃ = (2 J_D·Q − 4Q − D″)/(12 s).

    D′ and D″ come from one nested JVP (forward over forward with ``torch.func.jvp``, or
    ``torch.autograd.functional.jvp`` twice, the inner one with ``create_graph``, when forward
    mode fails: ``mode`` and its fallback as in :func:`jvp`), J_D·Q from one more JVP with
    tangent (Q, 0): about three times the cost of :func:`drift_and_q`, whose Q this one equals.
    Returns (F, Q, R̃), all shaped like x.

    Precision: R̃ is a difference of O(|Q|) terms divided by s, and F = (D − x)/s already carries
    the denoiser's rounding over s, so R̃'s rounding error grows like ε/s³ (float64 Gaussian:
    fine above s ~ 1e-3). At the end of the clock (T − ψ ≤ ``s_floor``, where s is floored)
    R̃ is set to its σ → 0 limit 0 (R̃ is odd in σ in VE, p_σ depending on σ² alone) instead of
    that rounding noise; no step starts there anyway (the last step into σ = 0 is Euler).
    """
    s = noise_level(psi, T, s_floor)
    with torch.no_grad():
        F = (D(x, s, labels) - x) / _expand(s, x)
    ds = -torch.ones_like(s)

    def d_of(x_: Tensor, s_: Tensor) -> Tensor:
        return D(x_, s_, labels)

    def compute(m: str) -> tuple[Tensor, Tensor, Tensor]:
        def d1_of(x_: Tensor, s_: Tensor) -> Tensor:  # D′ along the fixed direction (F, −1)
            return jvp(d_of, (x_, s_), (F, ds), mode=m, create_graph=m == "reverse")[1]

        d1, d2 = jvp(d1_of, (x, s), (F, ds), mode=m)
        Q = d1.detach() / _expand(s, x)
        _, jq = jvp(d_of, (x, s), (Q, torch.zeros_like(s)), mode=m)
        return Q, d2.detach(), jq.detach()

    Q, d2, jq = _with_fallback(compute, mode, D)
    Rt = (2 * jq - 4 * Q - d2) / (12 * _expand(s, x))
    at_end = _expand((T - psi) <= s_floor, x)
    return F, Q, torch.where(at_end, torch.zeros_like(Rt), Rt)


def euler_step(x: Tensor, psi: Tensor, theta: Tensor, F: Tensor, dt: float):
    """One Euler step of Eq. (4) on the t-clock: x ← x + θ F Δt, ψ ← ψ + θ Δt (ψ unclipped)."""
    return x + _expand(theta, x) * F * dt, psi + theta * dt
