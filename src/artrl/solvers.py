"""Deterministic probability-flow ODE samplers over an explicit σ-grid (EDM/VE conventions).

The PF-ODE in EDM form is ``dx/dσ = (x − D(x; σ))/σ`` (arXiv 2601.18681 Eq. 5 with
F = (D − x)/σ and dσ = −dψ; docs/references.md §2.1), integrated from σ_0 = σ_max down the
grid ``sigmas``. Modelled on k-diffusion ``sampling.py`` and NVlabs/edm ``generate.py`` (Heun
with S_churn = 0).

Every score model is a *denoiser* ``D(x, sigma, labels) -> denoised`` with ``x`` of shape
``[B, ...]``, ``sigma`` a 0-dim or ``[B]`` tensor and ``labels`` None or a tensor. The solvers
pass a 0-dim float64 sigma and a float64 ``x``; the per-sample steps (:func:`euler_step`,
:func:`heun_step`, :func:`sample_grids`: each sample on its own grid, issue 17) a ``[B]`` one.

Grids: a schedule ends with σ_K = 0 (see :mod:`artrl.schedules`); the step into σ = 0 is always
an Euler step (the ODE is singular there), giving NFE = K, 2K − 1, 4K − 3 for Euler, Heun and
RK4 (docs/references.md §2.5). The solvers also accept a grid whose last value is > 0: then
every step is a full step of the method (NFE = K, 2K, 4K), which is how the convergence order
is measured.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from artrl import registry

Denoiser = Callable[[Tensor, Tensor, Tensor | None], Tensor]


class CountingDenoiser:
    """Wrap a denoiser and count its calls (one call is one NFE, whatever the batch size) and
    its per-sample evaluations ``evals`` (batch rows: the cost column of the tables). A JVP
    through the wrapper counts as one call, although it costs about two forward passes."""

    def __init__(self, denoiser: Denoiser):
        self.denoiser = denoiser
        self.calls = 0
        self.evals = 0

    def __call__(self, x: Tensor, sigma: Tensor, labels: Tensor | None = None) -> Tensor:
        self.calls += 1
        self.evals += int(x.shape[0])
        return self.denoiser(x, sigma, labels)

    def reset(self) -> None:
        self.calls = 0
        self.evals = 0


def to_d(x: Tensor, sigma: Tensor, denoised: Tensor) -> Tensor:
    """PF-ODE derivative dx/dσ = (x − D(x; σ))/σ."""
    return (x - denoised) / sigma


def _setup(x: Tensor, sigmas: Any) -> tuple[Tensor, Tensor]:
    """Cast the state to float64 and check the grid: 1-D, finite, strictly decreasing, with
    every entry > 0 except possibly the last, which may be 0."""
    x = torch.as_tensor(x).to(torch.float64)
    if isinstance(sigmas, Tensor):
        s = sigmas.detach().to(device=x.device, dtype=torch.float64)
    else:
        s = torch.as_tensor(np.asarray(sigmas, dtype=np.float64), device=x.device)
    if s.ndim != 1 or s.shape[0] < 2:
        raise ValueError(f"sigmas must be 1-D with at least 2 entries, got shape {tuple(s.shape)}")
    if not bool(torch.isfinite(s).all()):
        raise ValueError("sigmas must be finite")
    if not bool((s[1:] < s[:-1]).all()):
        raise ValueError("sigmas must be strictly decreasing")
    if not bool(s[-1] >= 0):  # with strict decrease, every earlier entry is then > 0
        raise ValueError("sigmas must be > 0 except for the last entry, which may be 0")
    return x, s


def _steps(n: int, progress: bool, desc: str):
    return tqdm(range(n), disable=not progress, desc=desc, leave=False)


@torch.no_grad()  # sampling only, as in k-diffusion; no autograd graph through the solver
def euler(
    D: Denoiser, x: Tensor, sigmas: Any, labels: Tensor | None = None, progress: bool = False
) -> Tensor:
    """Euler (paper Eq. 3): x ← x + (σ_{i+1} − σ_i) (x − D(x; σ_i))/σ_i. NFE = K."""
    x, s = _setup(x, sigmas)
    for i in _steps(len(s) - 1, progress, "euler"):
        d = to_d(x, s[i], D(x, s[i], labels))
        x = x + (s[i + 1] - s[i]) * d
    return x


@torch.no_grad()
def heun(
    D: Denoiser, x: Tensor, sigmas: Any, labels: Tensor | None = None, progress: bool = False
) -> Tensor:
    """EDM's deterministic 2nd-order sampler (Karras et al. 2022, Alg. 1; S_churn = 0).

    Euler predictor, then the trapezoidal corrector x ← x + h (d + d')/2 whenever σ_{i+1} > 0.
    NFE = 2K − 1 on a grid ending at 0 (the last step into σ = 0 is Euler).
    """
    x, s = _setup(x, sigmas)
    for i in _steps(len(s) - 1, progress, "heun"):
        h = s[i + 1] - s[i]
        d = to_d(x, s[i], D(x, s[i], labels))
        x_next = x + h * d
        if s[i + 1] > 0:
            d_prime = to_d(x_next, s[i + 1], D(x_next, s[i + 1], labels))
            x_next = x + h * (0.5 * d + 0.5 * d_prime)
        x = x_next
    return x


@torch.no_grad()
def rk4(
    D: Denoiser, x: Tensor, sigmas: Any, labels: Tensor | None = None, progress: bool = False
) -> Tensor:
    """Classical 4th-order Runge–Kutta on dx/dσ = (x − D(x; σ))/σ.

    Stages at σ_i, the midpoint (σ_i + σ_{i+1})/2 (twice) and σ_{i+1} whenever σ_{i+1} > 0;
    Euler on the final step into σ = 0. NFE = 4K − 3 on a grid ending at 0.
    """
    x, s = _setup(x, sigmas)

    def f(y: Tensor, sigma: Tensor) -> Tensor:
        return to_d(y, sigma, D(y, sigma, labels))

    for i in _steps(len(s) - 1, progress, "rk4"):
        h = s[i + 1] - s[i]
        k1 = f(x, s[i])
        if s[i + 1] > 0:
            mid = 0.5 * (s[i] + s[i + 1])
            k2 = f(x + 0.5 * h * k1, mid)
            k3 = f(x + 0.5 * h * k2, mid)
            k4 = f(x + h * k3, s[i + 1])
            x = x + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
        else:
            x = x + h * k1
    return x


# ---------------------------------------------------------------------------------------------
# Per-sample grids (issue 17): sample i follows its own σ-grid, all in one batched call per
# stage. σ is a [B] tensor; the update of each row is the scalar-grid solver's, operation for
# operation, so a [B, K + 1] grid whose rows are equal gives the bytes of the solver above.


def expand_per_sample(v: Tensor, like: Tensor) -> Tensor:
    """Per-sample [B] → [B, 1, ..., 1] against ``like`` (also :mod:`artrl.art.dynamics`')."""
    return v.reshape(v.shape + (1,) * (like.ndim - v.ndim))


@torch.no_grad()
def euler_step(
    D: Denoiser,
    x: Tensor,
    sigma: Tensor,
    sigma_next: Tensor,
    labels: Tensor | None = None,
    denoised: Tensor | None = None,
) -> Tensor:
    """One Euler step (paper Eq. 3) per sample from σ ([B], > 0) to σ_next ([B]); ``denoised``
    = D(x; σ) when the caller has it already (one NFE then saved)."""
    if denoised is None:
        denoised = D(x, sigma, labels)
    s, s_next = expand_per_sample(sigma, x), expand_per_sample(sigma_next, x)
    return x + (s_next - s) * to_d(x, s, denoised)


@torch.no_grad()
def heun_step(
    D: Denoiser,
    x: Tensor,
    sigma: Tensor,
    sigma_next: Tensor,
    labels: Tensor | None = None,
    denoised: Tensor | None = None,
) -> Tensor:
    """One step of EDM's Heun (Karras et al. 2022, Alg. 1) per sample: the trapezoidal
    corrector for the rows with σ_next > 0 (their second evaluation in one call on those rows
    only), Euler for the rows stepping into σ = 0."""
    if denoised is None:
        denoised = D(x, sigma, labels)
    s, s_next = expand_per_sample(sigma, x), expand_per_sample(sigma_next, x)
    h = s_next - s
    d = to_d(x, s, denoised)
    x_next = x + h * d
    rows = (sigma_next > 0).nonzero().flatten()
    if rows.numel() == 0:
        return x_next
    xr, sr = x_next[rows], sigma_next[rows]
    lab = None if labels is None else labels[rows]
    d_prime = to_d(xr, expand_per_sample(sr, xr), D(xr, sr, lab))
    out = x_next.clone()
    out[rows] = x[rows] + h[rows] * (0.5 * d[rows] + 0.5 * d_prime)
    return out


PER_SAMPLE_STEPS = {"euler": euler_step, "heun": heun_step}


def sample_grids(
    D: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    solver: str = "heun",
    labels: Tensor | None = None,
) -> Tensor:
    """Integrate the PF-ODE from ``x`` with sample i on its own grid ``sigmas[i]`` ([B, K + 1],
    each row strictly decreasing from > 0, the last entry ≥ 0); Euler or Heun."""
    if solver not in PER_SAMPLE_STEPS:
        raise ValueError(f"per-sample grids support {sorted(PER_SAMPLE_STEPS)}, not {solver!r}")
    x = torch.as_tensor(x).to(torch.float64)
    s = torch.as_tensor(sigmas, dtype=torch.float64, device=x.device)
    if s.ndim != 2 or s.shape[0] != x.shape[0] or s.shape[1] < 2:
        raise ValueError(f"sigmas must be [B, K + 1] with B = {x.shape[0]}, got {tuple(s.shape)}")
    if not bool(torch.isfinite(s).all()) or not bool((s[:, 1:] < s[:, :-1]).all()):
        raise ValueError("every row of sigmas must be finite and strictly decreasing")
    if not bool((s[:, -1] >= 0).all()):
        raise ValueError("sigmas must be > 0 except for the last column, which may be 0")
    step = PER_SAMPLE_STEPS[solver]
    for k in range(s.shape[1] - 1):
        x = step(D, x, s[:, k], s[:, k + 1], labels)
    return x


class _SolverTable(Mapping[str, Callable[..., Tensor]]):
    """name -> solver function for every solver of :data:`artrl.registry.SOLVERS` (a plugin's
    included), each imported from its ``module:attr`` on first use."""

    def __getitem__(self, name: str) -> Callable[..., Tensor]:
        return registry.solver_function(name)

    def __contains__(self, name: object) -> bool:
        return name in registry.SOLVERS

    def __iter__(self) -> Iterator[str]:
        return iter(list(registry.SOLVERS))

    def __len__(self) -> int:
        return len(registry.SOLVERS)


SOLVERS: Mapping[str, Callable[..., Tensor]] = _SolverTable()


def _check_solver(solver: str) -> None:
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; known: {', '.join(SOLVERS)}")


def nfe(solver: str, K: int, *, ends_at_zero: bool = True) -> int:
    """Denoiser evaluations for K steps: K, 2K − 1, 4K − 3 (docs/references.md §2.5; the formula is
    :meth:`artrl.registry.Solver.nfe`).

    With ``ends_at_zero=False`` (grid ending at σ > 0) every step is full: K, 2K, 4K.
    """
    _check_solver(solver)
    return registry.SOLVERS[solver].nfe(K, ends_at_zero=ends_at_zero)


def sample(
    D: Denoiser,
    x: Tensor,
    sigmas: Any,
    solver: str = "heun",
    labels: Tensor | None = None,
    progress: bool = False,
) -> Tensor:
    """Integrate the PF-ODE from ``x`` at σ_0 along ``sigmas`` with the named solver."""
    _check_solver(solver)
    return SOLVERS[solver](D, x, sigmas, labels=labels, progress=progress)
