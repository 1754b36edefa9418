"""The scale-free clock of ART-RL (docs/art_clock.md): where a step may go, and how learned
grids are averaged. numpy only (no torch), so the distillation and the workflow can use it.

The ART problem (arXiv 2601.18681 §2, Eqs. 4–9) chooses a monotone path σ(t) from T to the end
of the grid; its optimum does not depend on how the path is parameterised. The paper lets the
actor choose the clock speed θ = dψ/dt and enforces the budget ψ(T) = T with a multiplier γ
(Eq. 23). Here the actor chooses, at step k of K_l learned steps, the **fraction** f_k of the
remaining coordinate r that the step covers:

    r_{k+1} = r_k (1 − f_k),   f_k = sigmoid(a_k + logit(1/n_k)),   n_k = K_l − k,

with f = 1 on the last learned step, so every trajectory lands on the end of the grid by
construction (no γ, no budget error), and a = 0 spaces the grid uniformly in r. The
coordinate r of a noise level σ is

* ``code`` (EDM's convention, EDM ``generate.py``: σ_{K−1} = σ_min, then 0):
  r = log(σ/σ_min); K_l = K − 1 learned steps from σ_max to σ_min, then the fixed step to 0;
  a = 0 is the geometric (DPM) grid;
* ``paper`` (the paper's 1-D convention, σ_K = 0): r = σ; K_l = K; a = 0 is the Uniform grid.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["CONVENTIONS", "average_grids", "base_logit", "learned_steps", "r_of", "sigma_of"]

CONVENTIONS = ("paper", "code")


def _check(convention: str) -> None:
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {list(CONVENTIONS)}, got {convention!r}")


def learned_steps(K: int, convention: str) -> int:
    """K_l: the steps the actor chooses (K − 1 in the code convention, K in the paper's)."""
    _check(convention)
    K_l = K - 1 if convention == "code" else K
    if K_l < 1:
        raise ValueError(f"K = {K} leaves no step to learn in the {convention} convention")
    return K_l


def r_of(sigma, convention: str, sigma_min: float):
    """The clock coordinate r(σ) as a float64 array: log(σ/σ_min) (code) or σ (paper)."""
    _check(convention)
    if convention == "code":
        return np.log(np.asarray(sigma, dtype=np.float64) / sigma_min)
    return np.asarray(sigma, dtype=np.float64)


def sigma_of(r, convention: str, sigma_min: float):
    """The noise level σ(r), the inverse of :func:`r_of`."""
    _check(convention)
    if convention == "code":
        return sigma_min * np.exp(np.asarray(r, dtype=np.float64))
    return np.asarray(r, dtype=np.float64)


def base_logit(n: int) -> float:
    """logit(1/n): with a = 0 the step covers 1/n of what remains, n steps before the end."""
    if n <= 1:
        return math.inf
    return -math.log(n - 1)


def average_grids(
    grids: np.ndarray, convention: str, sigma_min: float, T: float
) -> tuple[np.ndarray, dict]:
    """The distilled grid (arXiv 2601.18681 §5 distillation, in the clock coordinate): the mean
    of r_k over the trajectories' learned grids at each k, mapped back to σ.

    ``grids`` is [M, K + 1] (σ_0 = T, …, σ_K = 0). The per-trajectory budget rescaling of the
    paper's distillation is not needed: every grid already ends where it must. Returns
    (σ-grid, info with the interquartile range of each σ_k over the trajectories).
    """
    grids = np.asarray(grids, dtype=np.float64)
    if grids.ndim != 2 or grids.shape[0] == 0:
        raise ValueError(f"need a non-empty [trajectories, K + 1] array, got {grids.shape}")
    K = grids.shape[1] - 1
    K_l = learned_steps(K, convention)
    inner = grids[:, 1:K_l]  # the learned interior points (both ends are fixed)
    if not (np.isfinite(inner).all() and (inner > 0).all()):
        raise ValueError("the learned grids have a non-finite or non-positive interior sigma")
    r = r_of(inner, convention, sigma_min)
    mean = sigma_of(r.mean(axis=0), convention, sigma_min)
    out = np.concatenate([[T], mean, grids[0, K_l:]])
    info = {
        "trajectories": int(grids.shape[0]),
        "sigma_q25": np.quantile(grids, 0.25, axis=0).tolist(),
        "sigma_q75": np.quantile(grids, 0.75, axis=0).tolist(),
    }
    return out, info
