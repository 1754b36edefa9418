"""2-Wasserstein distances for the Gaussian benchmark (arXiv 2601.18681 §5.1, Table 1).

The paper's 1-D table reports W2 (not its square) between sampler output and N(0, 1). For
Gaussian data every deterministic solver is a linear map x_T ↦ g x_T, so the output law is
N(0, (g sqrt(s² + σ_max²))²) and W2 is exact (:func:`exact_w2_linear_gaussian`); the paper's
numbers are these plus a Monte-Carlo bias of a few 1e-3.

Run ``python -m artrl.metrics.w2 --help`` for the command line interface.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import norm
from torch import Tensor

from artrl.device import numerics_record, set_threads, threads_arg
from artrl.io import file_sha256, run_cli, write_json
from artrl.models.analytic import GaussianModel
from artrl.schedules import Schedule, ScheduleError, load_for_slot, parse_expect
from artrl.solvers import SOLVERS, nfe, sample


def w2_gaussian_1d(m1: Any, s1: Any, m2: Any, s2: Any) -> float:
    """Exact W2 between N(m1, s1²) and N(m2, s2²): sqrt((m1 − m2)² + (s1 − s2)²).

    Arrays are taken as diagonal Gaussians: the squares are summed over coordinates.
    """
    m1, s1, m2, s2 = (np.asarray(v, dtype=np.float64) for v in (m1, s1, m2, s2))
    return float(np.sqrt(np.sum((m1 - m2) ** 2 + (s1 - s2) ** 2)))


def linear_solver_gain(
    sigmas, solver: str = "euler", std: float | Sequence[float] | Tensor = 1.0
) -> float | np.ndarray:
    """Per-coordinate gain g of a solver's map x_T ↦ x_0 for Gaussian data.

    D is linear in x, so every solver of :mod:`artrl.solvers` maps x_T to g ⊙ x_T; g is obtained
    exactly (up to float64 rounding) by running the solver from x = 1. Returns a float for
    dim 1, else a float64 array of shape [dim].
    """
    model = GaussianModel(std)
    x = torch.ones(1, model.dim, dtype=torch.float64)
    g = sample(model, x, sigmas, solver=solver)[0].numpy().astype(np.float64)
    return float(g[0]) if model.dim == 1 else g


def exact_w2_linear_gaussian(sigmas: Any, solver: str = "euler", std: Any = 1.0) -> float:
    """Exact W2 between a solver's output law and the data N(0, diag(s²)).

    x_T ~ N(0, s² + σ_max²) is mapped to g x_T with g from
    :func:`linear_solver_gain`.
    """
    s = np.atleast_1d(np.asarray(std, dtype=np.float64))
    sigma_max = float(np.asarray(sigmas, dtype=np.float64)[0])
    g = np.atleast_1d(linear_solver_gain(sigmas, solver=solver, std=s))
    std_gen = np.abs(g) * np.sqrt(s**2 + sigma_max**2)
    return w2_gaussian_1d(0.0, std_gen, 0.0, s)


def w2_empirical_1d(a: Any, b: Any) -> float:
    """Monte-Carlo W2 between two equal-size 1-D samples: sqrt(mean((sort a − sort b)²))."""
    a = np.sort(np.asarray(a, dtype=np.float64).ravel())
    b = np.sort(np.asarray(b, dtype=np.float64).ravel())
    if a.shape != b.shape:
        raise ValueError(f"samples must have equal size, got {a.size} and {b.size}")
    return float(np.sqrt(np.mean((a - b) ** 2)))


def w2_to_normal_1d(samples: Any, mean: float = 0.0, std: float = 1.0) -> float:
    """Exact W2 between the empirical law of ``samples`` and N(mean, std²).

    With sorted samples a_(1) <= … <= a_(n) on the equal-mass bins [(i−1)/n, i/n] and
    G^{-1} = mean + std Φ^{-1}, W2² = ∫ (F_n^{-1} − G^{-1})² du
    = mean(a²) − 2 Σ_i a_(i) m_i + mean² + std², where
    m_i = ∫_bin G^{-1} du = mean/n + std (φ(z_{i−1}) − φ(z_i)), z_i = Φ^{-1}(i/n)
    (closed form, using ∫ z φ(z) dz = −φ(z)); no midpoint-quantile approximation.
    """
    a = np.sort(np.asarray(samples, dtype=np.float64).ravel())
    n = a.size
    if n == 0:
        raise ValueError("need at least one sample")
    if not std > 0:
        raise ValueError(f"std must be > 0, got {std!r}")
    pdf = norm.pdf(norm.ppf(np.arange(n + 1) / n))  # φ(±∞) = 0 at the ends
    m = mean / n + std * (pdf[:-1] - pdf[1:])
    w2_sq = np.mean(a**2) - 2.0 * np.dot(a, m) + mean**2 + std**2
    return float(math.sqrt(max(w2_sq, 0.0)))


# ----------------------------------------------------------------------------------------------
# Command line


#: the expected ART cost of a schedule, (schedule, data std s, rollouts, seed) -> (plain,
#: refined): ART's own maths, which this module may not import (tests/test_layers.py); the
#: workflow's command, python -m artrl.gauss1d, passes it to :func:`main`
ArtCosts = Callable[[Schedule, float, int, int], tuple[float, float]]


def _parser(prog: str = "python -m artrl.metrics.w2") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description=(
            "W2 distance between the output of a deterministic PF-ODE solver run on a schedule "
            "and Gaussian data N(0, std^2) (paper Table 1). Always computes the exact W2 of the "
            "linear-Gaussian output law; with --mc-samples N > 0 also a Monte-Carlo W2 from N "
            "prior samples pushed through the solver."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--schedule", required=True, type=Path, help="schedule JSON (artrl.schedules)")
    p.add_argument("--solver", default="euler", choices=list(SOLVERS), help="PF-ODE solver")
    p.add_argument("--std", type=float, default=1.0, help="data std s (1-D data N(0, s^2))")
    p.add_argument("--mc-samples", type=int, default=0, help="Monte-Carlo samples (0: none)")
    p.add_argument("--seed", type=int, default=0, help="torch.Generator seed for Monte Carlo")
    p.add_argument(
        "--art-cost-samples",
        type=int,
        default=0,
        help="also report the expected ART cost E Σ|Q|θ²Δt (paper Eq. 9) from N rollouts "
        "(python -m artrl.gauss1d only)",
    )
    p.add_argument(
        "--expect",
        default=None,
        help="JSON object: what the schedule's slot expects of the file (dataset, K, "
        "sigma_max, config_digest); a file that differs is refused",
    )
    p.add_argument(
        "--replicate",
        type=int,
        default=None,
        help="record this replicate index (and --seed as its replicate_seed) in the output, "
        "for a table that averages replicates (issue 16)",
    )
    threads_arg(p)
    p.add_argument("--out", required=True, type=Path, help="output JSON (written atomically)")
    return p


def main(
    argv: list[str] | None = None,
    *,
    art_costs: ArtCosts | None = None,
    prog: str = "python -m artrl.metrics.w2",
) -> Path:
    """The command line; ``--art-cost-samples N > 0`` needs ``art_costs`` (the ART cost)."""
    parser = _parser(prog)
    a = parser.parse_args(argv)
    if a.art_cost_samples > 0 and art_costs is None:
        parser.error("--art-cost-samples needs the ART cost: run python -m artrl.gauss1d")
    if a.mc_samples < 0:
        parser.error("--mc-samples must be >= 0")
    if not a.std > 0:
        parser.error("--std must be > 0")
    if a.replicate is not None and a.replicate < 0:
        parser.error("--replicate must be >= 0")
    set_threads(a.threads)
    try:
        sched = load_for_slot(a.schedule, parse_expect(a.expect))
    except ScheduleError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    w2_exact = exact_w2_linear_gaussian(sched.sigmas, solver=a.solver, std=a.std)
    w2_mc = None
    if a.mc_samples > 0:
        model = GaussianModel(a.std)
        gen = torch.Generator().manual_seed(a.seed)
        x_T = model.sample_prior(a.mc_samples, sched.sigma_max, generator=gen)
        x_0 = sample(model, x_T, sched.sigmas, solver=a.solver)
        w2_mc = w2_to_normal_1d(x_0.numpy().ravel(), mean=0.0, std=a.std)
    art_cost = art_cost_refined = None
    if a.art_cost_samples > 0:
        art_cost, art_cost_refined = art_costs(sched, a.std, a.art_cost_samples, a.seed)
    result = {
        "method": sched.method,
        "dataset": sched.dataset,
        "K": sched.K,
        "solver": a.solver,
        "nfe": nfe(a.solver, sched.K),
        "std": a.std,
        "w2_exact": w2_exact,
        "w2_mc": w2_mc,
        "mc_samples": a.mc_samples,
        "art_cost": art_cost,
        "art_cost_refined": art_cost_refined,
        "art_cost_samples": a.art_cost_samples,
        "seed": a.seed if a.mc_samples > 0 else None,
        "schedule_config_digest": sched.config_digest,
        "schedule_sha256": file_sha256(a.schedule),
        "sigmas": [float(v) for v in sched.sigmas],
    }
    result["numerics"] = numerics_record()
    if a.replicate is not None:
        result["replicate"] = a.replicate
        result["replicate_seed"] = a.seed
    return write_json(a.out, result)


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
