"""The expected ART cost of a σ-grid, and the step cost that ART-RL is trained on.

The continuous ART objective (arXiv 2601.18681 §2, Eq. 9) charges the error density
|Q(x(t), ψ(t))| θ(t)² over the clock. On a grid whose step k has the constant speed
θ_k = Δσ_k / Δt (Δt = T/K, Δσ_k = σ_k − σ_{k+1}) the exact charge of step k is

    c_k = ∫_{t_k}^{t_{k+1}} |Q| θ_k² dt = θ_k ∫_{σ_{k+1}}^{σ_k} |Q(x(σ), σ)| dσ,

x(σ) being the PF-ODE path, which does not depend on the grid (the reviewers'
remark, docs/references.md §2.3).

* The **plain** cost charges |Q_k| θ_k² Δt, |Q| at the step's start, along the grid's own Euler
  rollouts (Eq. 22's δ_k). It can be gamed: along a long Euler step the state collapses and
  |Q| with it, and |Q| spans ~7 decades along an image trajectory (docs/art_clock.md §3).
* The **refined** cost follows the path with m Heun sub-steps per step (nodes spaced in log σ,
  linearly for a step into σ = 0) and integrates |Q| along it by the trapezoid rule on σ|Q| in
  log σ (:func:`advance`); it converges to the exact c_k as m grows. ART-RL reads the same
  integral off a bank of paths integrated once on a fine grid (artrl.art.paths).

The last step into σ = 0 of a code-convention grid (EDM: σ_{K−1} = σ_min, then 0) is the same
for every grid with that σ_min and |Q| ~ 1/σ makes its integral diverge: :func:`art_costs`
leaves it out there (``convention="code"``) and charges it in the paper's convention.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from artrl.art.clock import learned_steps
from artrl.art.dynamics import _expand, batch_norm, drift, drift_and_q

if TYPE_CHECKING:
    from artrl.solvers import Denoiser

__all__ = ["advance", "art_costs", "trapezoid"]


def trapezoid(
    s_a: Tensor, s_b: Tensor, v_a: Tensor, v_b: Tensor, geometric: Tensor | None = None
) -> Tensor:
    """∫_{s_b}^{s_a} v dσ between two neighbouring levels (per sample): the trapezoid rule on σv
    in log σ where ``geometric`` (default s_b > 0), else on v in σ."""
    pos = s_b > 0 if geometric is None else geometric
    sb = torch.where(pos, s_b, torch.ones_like(s_b))
    geo = 0.5 * (s_a.clamp_min(1e-300) / sb).log() * (s_a * v_a + s_b * v_b)
    lin = 0.5 * (s_a - s_b) * (v_a + v_b)
    return torch.where(pos, geo, lin)


def advance(
    D: Denoiser,
    x: Tensor,
    s_a: Tensor,
    s_b: Tensor,
    F_a: Tensor,
    q_a: Tensor,
    m: int,
    *,
    T: float,
    labels: Tensor | None = None,
    s_floor: float = 1e-6,
    jvp_mode: str = "auto",
    max_dlog: float = 0.25,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Follow the PF-ODE path from σ = s_a to s_b (per sample, s_a > s_b ≥ 0) with ``m`` Heun
    sub-steps (nodes geometric in σ, linear when s_b = 0; Euler into σ = 0 as EDM does), and
    integrate |Q| along it: the trapezoid rule on σ|Q| in log σ (on |Q| in σ for s_b = 0).

    ``F_a``, ``q_a`` are F and |Q| at (x, s_a). Returns (x, F, |Q|) at s_b and ∫_{s_b}^{s_a}|Q|dσ.
    Every node costs one denoiser call and one JVP, every Heun predictor one call more.

    The sub-steps are at least ``m`` and at most ``max_dlog`` apart in log σ (the batch's
    longest step sets their number), so the path's accuracy does not depend on the grid: with
    few sub-steps over a long step Heun's own error lowers |Q| along it, which a learned grid
    would exploit (docs/art_clock.md §3).
    """
    pos = s_b > 0
    if bool(pos.any()):
        longest = float((s_a[pos] / s_b[pos]).log().max())
        m = max(m, math.ceil(longest / max_dlog - 1e-9))
    ratio = torch.where(pos, s_b / s_a, torch.ones_like(s_a))
    total = torch.zeros_like(s_a)
    s_prev, F, q = s_a, F_a, q_a
    for j in range(1, m + 1):
        frac = j / m
        s_j = torch.where(pos, s_a * ratio**frac, s_a * (1 - frac))
        if j == m:
            s_j = s_b  # exactly
        h = _expand(s_prev - s_j, x)
        x_e = x + h * F
        F_e = drift(D, x_e, T - s_j, T, labels, s_floor=s_floor)
        # Heun; Euler into σ = 0 (EDM's last step)
        x = torch.where(_expand(s_j > 0, x), x + 0.5 * h * (F + F_e), x_e)
        F_j, Q_j = drift_and_q(D, x, T - s_j, T, labels, s_floor=s_floor, mode=jvp_mode)
        q_j = batch_norm(Q_j)
        total = total + trapezoid(s_prev, s_j, q, q_j, geometric=pos)  # as the nodes are spaced
        s_prev, F, q = s_j, F_j, q_j
    return x, F, q, total


@torch.no_grad()
def art_costs(
    D: Denoiser,
    sigmas: np.ndarray,
    prior: Callable[[int, torch.Generator], Tensor],
    n: int,
    *,
    m: int = 8,
    convention: str = "paper",
    labels=None,
    seed: int = 0,
    batch: int = 4096,
    jvp_mode: str = "auto",
    s_floor: float = 1e-6,
    device: str | torch.device = "cpu",
    max_dlog: float = 0.1,
) -> dict:
    """Plain and refined expected ART cost of a σ-grid.

    Plain: Σ_k |Q(x_k)| θ_k² Δt along the grid's own Euler rollouts (the paper's discretised
    objective). Refined: Σ_k θ_k ∫|Q| dσ along the PF-ODE path (:func:`advance` with ``m``
    sub-steps per step, at most ``max_dlog`` apart in log σ), which does not depend on the
    grid. ``n`` rollouts from ``prior``, a generator seeded by ``seed`` on ``device`` (the
    model's). ``convention="code"``: the last step (into σ = 0) is left out of both. Returns
    ``{"plain", "refined", "plain_std", "refined_std", "m", "rollouts"}`` (std: of the
    per-rollout cost).
    """
    if m < 1:
        raise ValueError(f"m must be >= 1, got {m}")
    sigmas = np.asarray(sigmas, dtype=np.float64)
    T, K = float(sigmas[0]), len(sigmas) - 1
    dt = T / K
    steps = learned_steps(K, convention)  # the code convention leaves out the step into 0
    gen = torch.Generator(device=torch.device(device)).manual_seed(seed)
    plain, refined = [], []
    done = 0
    kw = dict(s_floor=s_floor, mode=jvp_mode)
    while done < n:
        b = min(batch, n - done)
        x0 = prior(b, gen).to(torch.float64)
        lab = labels(b, gen) if labels is not None else None
        c_plain = torch.zeros(b, dtype=torch.float64, device=x0.device)
        c_ref = torch.zeros_like(c_plain)
        x, xe = x0, x0
        F, Q = drift_and_q(D, x, torch.zeros_like(c_plain), T, lab, **kw)
        q = batch_norm(Q)
        for k in range(steps):
            s_a, s_b = sigmas[k], sigmas[k + 1]
            theta = (s_a - s_b) / dt
            Fe, Qe = drift_and_q(D, xe, torch.full_like(c_plain, T - s_a), T, lab, **kw)
            c_plain += batch_norm(Qe) * theta**2 * dt
            xe = xe + (s_a - s_b) * Fe
            sa, sb = torch.full_like(c_plain, s_a), torch.full_like(c_plain, s_b)
            x, F, q, integral = advance(
                D,
                x,
                sa,
                sb,
                F,
                q,
                m,
                T=T,
                labels=lab,
                s_floor=s_floor,
                jvp_mode=jvp_mode,
                max_dlog=max_dlog,
            )
            c_ref += theta * integral
        plain.append(c_plain)
        refined.append(c_ref)
        done += b
    p, r = torch.cat(plain), torch.cat(refined)
    return {
        "plain": float(p.mean()),
        "refined": float(r.mean()),
        "plain_std": float(p.std()) if n > 1 else 0.0,
        "refined_std": float(r.std()) if n > 1 else 0.0,
        "m": m,
        "rollouts": n,
    }
