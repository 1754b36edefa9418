"""Shared pieces of the competing schedule methods: solver steps, counting, grids, CLI.

* :func:`solver_step` is one step of the Euler / Heun / RK4 solvers of :mod:`artrl.solvers`
  with the same formulas (and an Euler step into σ = 0), but without ``torch.no_grad`` and with
  a per-sample target σ allowed, so that GITS can batch many targets in one denoiser call and
  LD3 can back-propagate into the σ's.
* :class:`EvalCounter` counts denoiser calls and per-sample evaluations.
* Grid conventions (as in :mod:`artrl.schedules`): ``"paper"`` — the K intervals run from σ_max
  down to 0; ``"code"`` — K − 1 intervals run from σ_max down to σ_min > 0 and a last step goes
  to 0 (EDM ``generate.py``).
* :func:`base_parser`, :func:`read_settings`, :func:`save_schedule`: the command line shared by
  ``python -m artrl.methods.{gits,dmn,ld3}``, shaped like ``python -m artrl.art.analytic``
  (``--threads``, default 1, is set by each command; the schedule's ``extra.numerics`` records
  :func:`artrl.device.numerics_record`).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from artrl.device import DEVICE_HELP, device_arg, numerics_record, threads_arg
from artrl.solvers import SOLVERS, CountingDenoiser

CONVENTIONS = ("paper", "code")

__all__ = [
    "CONVENTIONS",
    "EvalCounter",
    "base_parser",
    "bcast",
    "check_grid_args",
    "draw_start",
    "read_settings",
    "save_schedule",
    "solver_step",
]


# the denoiser wrapper that counts calls and per-sample evaluations (kept under this name)
EvalCounter = CountingDenoiser


def bcast(s: Tensor, x: Tensor) -> Tensor:
    """A 0-dim or [B] noise level reshaped to broadcast against ``x`` of shape [B, ...]."""
    if s.ndim == 0:
        return s
    return s.reshape(s.shape[0], *([1] * (x.ndim - 1)))


#: the solvers :func:`solver_step` has formulas for (a plugin's solver of artrl.registry can
#: sample, but is not a student or teacher of GITS and LD3)
STEP_SOLVERS = ("euler", "heun", "rk4")


def _check_solver(solver: str) -> None:
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; known: {', '.join(SOLVERS)}")
    if solver not in STEP_SOLVERS:
        raise ValueError(
            f"solver {solver!r} has no step formula here; these methods step with "
            f"{', '.join(STEP_SOLVERS)}"
        )


def solver_step(
    D: Callable,
    x: Tensor,
    s: Tensor,
    s_next: Tensor,
    solver: str,
    labels: Tensor | None = None,
    d: Tensor | None = None,
) -> Tensor:
    """One ``solver`` step of dx/dσ = (x − D(x; σ))/σ from σ = ``s`` to σ = ``s_next``.

    Same formulas as :mod:`artrl.solvers` (Heun's trapezoidal corrector, classical RK4 with two
    midpoint stages); a step into σ = 0 is an Euler step. ``s`` is a 0-dim tensor or a [B]
    tensor, ``s_next`` too (per-sample targets must be all > 0 or all 0). ``d`` is the slope
    (x − D(x; s))/s at the start when already known (it is shared by every target of GITS).
    Gradients flow into ``s`` and ``s_next`` when they require grad.
    """
    _check_solver(solver)
    sb, nb = bcast(s, x), bcast(s_next, x)
    h = nb - sb
    if d is None:
        d = (x - D(x, s, labels)) / sb
    zero = s_next.detach() == 0
    if bool(zero.any()) and not bool(zero.all()):
        raise ValueError("solver_step: per-sample targets must be all > 0 or all 0")
    if solver == "euler" or bool(zero.all()):
        return x + h * d
    if solver == "heun":
        x_e = x + h * d
        d2 = (x_e - D(x_e, s_next, labels)) / nb
        return x + h * (0.5 * d + 0.5 * d2)
    mid = 0.5 * (s + s_next)  # rk4
    mb = bcast(mid, x)
    y2 = x + 0.5 * h * d
    k2 = (y2 - D(y2, mid, labels)) / mb
    y3 = x + 0.5 * h * k2
    k3 = (y3 - D(y3, mid, labels)) / mb
    y4 = x + h * k3
    k4 = (y4 - D(y4, s_next, labels)) / nb
    return x + (h / 6) * (d + 2 * k2 + 2 * k3 + k4)


def check_grid_args(K: int, sigma_max: float, sigma_min: float, convention: str, method: str):
    """Validate K, σ_max, σ_min and the convention; return the number of free intervals.

    ``"paper"``: K intervals from σ_max (to 0, or to σ_min for methods that need an end > 0 and
    replace it by 0). ``"code"``: K − 1 intervals from σ_max to σ_min > 0, then a step to 0.
    """
    if isinstance(K, bool) or not isinstance(K, int | np.integer) or K < 1:
        raise ValueError(f"{method}: K must be an integer >= 1, got {K!r}")
    if not (math.isfinite(sigma_max) and sigma_max > 0):
        raise ValueError(f"{method}: sigma_max must be finite and > 0, got {sigma_max!r}")
    if not (math.isfinite(sigma_min) and 0 <= sigma_min < sigma_max):
        raise ValueError(f"{method}: need 0 <= sigma_min < sigma_max, got {sigma_min!r}")
    if convention not in CONVENTIONS:
        raise ValueError(f"{method}: convention must be one of {CONVENTIONS}, got {convention!r}")
    if convention == "code":
        if sigma_min <= 0:
            raise ValueError(f"{method}: convention 'code' needs sigma_min > 0, got {sigma_min!r}")
        return int(K) - 1
    return int(K)


def draw_start(
    bundle: Any, n: int, seed: int, device: str | torch.device = "cpu"
) -> tuple[Tensor, Tensor | None]:
    """``n`` prior samples x_T (float64) and labels from a generator seeded with ``seed``."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the number of samples must be an integer >= 1, got {n!r}")
    gen = torch.Generator(device=device).manual_seed(int(seed))
    x = bundle.prior(n, gen).to(torch.float64)
    labels = bundle.labels(n, gen) if bundle.labels is not None else None
    return x, labels


# ----------------------------------------------------------------------------------------------
# Command line


def base_parser(prog: str, description: str, key: str) -> argparse.ArgumentParser:
    """The options shared by every method (those of ``python -m artrl.art.analytic`` + solver)."""
    p = argparse.ArgumentParser(
        prog=prog,
        description=description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--dataset-config",
        required=True,
        help="JSON string or JSON/YAML file: the dataset's config entry (keys 'model', "
        f"'sigma_max', optional 'solver', and the method's settings under '{key}')",
    )
    p.add_argument("--K", type=int, required=True, help="number of intervals of the schedule")
    p.add_argument("--dataset", required=True, help="dataset tag stored as provenance")
    p.add_argument("--seed", type=int, default=0, help="seed of every random draw")
    p.add_argument("--config-digest", default=None, help="config digest stored as provenance")
    p.add_argument("--device", type=device_arg, default="cpu", help=DEVICE_HELP)
    threads_arg(p)  # the command calls artrl.device.set_threads(args.threads)
    p.add_argument(
        "--solver",
        choices=list(SOLVERS),
        default=None,
        help="student solver the schedule is made for (default: the config's 'solver', else heun)",
    )
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bars")
    p.add_argument("--out", required=True, type=Path, help="output JSON (written atomically)")
    return p


def read_settings(
    sub: Any, defaults: dict[str, Any], where: str, parser: argparse.ArgumentParser
) -> dict[str, Any]:
    """Merge the method's config sub-dict into ``defaults``; unknown keys and wrong types are
    parser errors naming ``where`` (e.g. ``datasets.<name>.gits``)."""
    if sub is None:
        sub = {}
    if not isinstance(sub, dict):
        parser.error(f"{where} must be a mapping, got {type(sub).__name__}")
    unknown = sorted(set(sub) - set(defaults))
    if unknown:
        parser.error(f"{where}: unknown key(s) {unknown}; known: {sorted(defaults)}")
    out = dict(defaults)
    for k, v in sub.items():
        d = defaults[k]
        if isinstance(d, bool):
            ok = isinstance(v, bool)
        elif isinstance(d, int):
            ok = isinstance(v, int) and not isinstance(v, bool)
        elif isinstance(d, float):
            ok = isinstance(v, int | float) and not isinstance(v, bool)
            v = float(v) if ok else v
        elif isinstance(d, str):
            ok = isinstance(v, str)
        else:  # None default: any JSON value, checked by the method
            ok = True
        if not ok:
            parser.error(f"{where}.{k} must be of type {type(d).__name__}, got {v!r}")
        out[k] = v
    return out


def save_schedule(
    sigmas: Any, method: str, args: argparse.Namespace, extra: dict[str, Any]
) -> Path:
    """Validate and write the schedule atomically with the run's provenance.

    ``extra["numerics"]`` is :func:`artrl.device.numerics_record` of this process unless the
    caller set it (GITS from a saved cost matrix: the numerics that computed the costs)."""
    from artrl.schedules import Schedule

    if "numerics" not in extra:
        extra = {**extra, "numerics": numerics_record()}
    sched = Schedule(
        sigmas=np.asarray(sigmas, dtype=np.float64),
        method=method,
        dataset=args.dataset,
        K=args.K,
        seed=args.seed,
        config_digest=args.config_digest,
        extra=extra,
    )
    return sched.save(args.out)


def to_float_list(a: Any) -> list[float]:
    return [float(v) for v in np.asarray(a, dtype=np.float64).ravel()]
