"""LD3-style learned timesteps: back-propagate a teacher-matching loss into the σ-grid.

Source: Tong, Hoang, Liu, Van den Broeck, Niepert, "Learning to Discretize Denoising Diffusion
ODEs", ICLR 2025, arXiv 2405.15506; reference code vinhsuhi/LD3@9e4a66f (``trainer.py``:
``LD3Trainer``, ``discretize_model_wrapper``). Published settings and numbers:
docs/references.md §4.3.

What is kept from LD3: the K timesteps are a softmax of learnable logits (increments of a
monotone coordinate between fixed endpoints, so the grid stays strictly decreasing from σ_max
to its end), a student solver run from the teacher's own x_T is matched to a high-NFE teacher's
output, and the gradient flows through every solver step into the σ's; teacher samples are
split into training and validation halves and the iterate with the best validation loss is
kept (LD3 keeps its best-validation checkpoint).

What differs:

* Loss: LD3 uses LPIPS (VGG) on images; no LPIPS network is available offline, so the loss is
  the mean squared error per coordinate (L2). The images here are tiny (8×8 digits).
* Only one set of times: LD3's "decoupled" second set of model-input times and its "soft
  teacher" (x′_T in a ball of radius r·σ_T around x_T) are not implemented (r = 0).
* Optimiser: Adam with a fixed number of full-batch iterations (LD3: RMSprop + SGD with
  patience-based learning-rate decay).
* Coordinate: ``space: rho`` — increments of σ^{1/ρ} (the EDM warp; the initial grid, all
  logits 0, is EDM ρ), which reaches σ = 0 (``paper`` convention); ``space: log`` — increments of
  log σ (LD3's λ = log-SNR parametrisation in EDM; the initial grid is geometric), which needs
  σ_min > 0 (``code`` convention only).
* Teacher: EDM ρ = 7 grid with Heun (``teacher_K`` = 64 intervals, NFE 127) by default.

Conventions: ``paper`` — the K intervals run from σ_max to 0; ``code`` — K − 1 learned intervals
from σ_max to σ_min, then a fixed step to 0 (EDM ``generate.py``).

Run ``python -m artrl.methods.ld3 --help`` for the command line interface.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from artrl.device import set_threads
from artrl.io import run_cli
from artrl.methods.common import (
    EvalCounter,
    base_parser,
    check_grid_args,
    draw_start,
    read_settings,
    save_schedule,
    solver_step,
    to_float_list,
)

__all__ = ["DEFAULTS", "grid_from_logits", "ld3_schedule", "rollout", "teacher_samples"]

SPACES = ("rho", "log")

DEFAULTS: dict[str, Any] = {
    "samples": 256,  # teacher samples (LD3: 100), split into train and validation
    "val_fraction": 0.5,
    "teacher_K": 64,
    "teacher_solver": "heun",
    "teacher_rho": 7.0,
    "teacher_sigma_min": 0.002,  # EDM code-convention teacher grid, then a step to 0
    "convention": "paper",
    "sigma_min": 0.0,  # the student grid's last positive sigma (code convention)
    "space": "rho",
    "rho": 7.0,
    "iterations": 300,
    "lr": 0.05,
    "batch": 0,  # training rows per iteration; 0 = the whole training set
    "val_every": 1,  # validate (and possibly keep the iterate) every this many iterations
}


def grid_from_logits(
    w: Tensor,
    sigma_max: float,
    sigma_end: float,
    space: str = "rho",
    rho: float = 7.0,
) -> Tensor:
    """σ_max > σ_1 > … > σ_n = σ_end from n logits (differentiable in ``w``).

    ``rho``: σ_k^{1/ρ} = a + F_k (b − a), a = σ_max^{1/ρ}, b = σ_end^{1/ρ}; ``log``: log σ_k =
    log σ_max + F_k (log σ_end − log σ_max); F_k = Σ_{i<k} softmax(w)_i. The ends are exact.
    """
    if space not in SPACES:
        raise ValueError(f"ld3: space must be one of {SPACES}, got {space!r}")
    frac = torch.cumsum(torch.softmax(w, dim=0), dim=0)[:-1]
    one = torch.ones(1, dtype=w.dtype, device=w.device)
    if space == "rho":
        a, b = sigma_max ** (1 / rho), sigma_end ** (1 / rho)
        inner = (a + frac * (b - a)) ** rho
    else:
        if not sigma_end > 0:
            raise ValueError("ld3: space 'log' needs sigma_end > 0 (use the code convention)")
        a, b = math.log(sigma_max), math.log(sigma_end)
        inner = torch.exp(a + frac * (b - a))
    return torch.cat([one * sigma_max, inner, one * sigma_end])


def rollout(
    D: Callable, x: Tensor, sigmas: Tensor, solver: str, labels: Tensor | None = None
) -> Tensor:
    """Integrate from x at σ_0 along ``sigmas`` (a tensor, possibly requiring grad)."""
    for i in range(len(sigmas) - 1):
        x = solver_step(D, x, sigmas[i], sigmas[i + 1], solver, labels)
    return x


@torch.no_grad()
def teacher_samples(
    D: Callable,
    x: Tensor,
    sigma_max: float,
    *,
    K: int = 64,
    solver: str = "heun",
    rho: float = 7.0,
    sigma_min: float = 0.002,
    labels: Tensor | None = None,
) -> Tensor:
    """Teacher outputs: ``solver`` on the EDM ρ grid (code convention: K positive σ's down to
    σ_min, then 0) from the prior samples ``x``."""
    from artrl.schedules import edm
    from artrl.solvers import sample

    grid = edm(K, sigma_max, sigma_min, rho=rho, convention="code")
    return sample(D, x, grid, solver=solver, labels=labels)


def _mse(a: Tensor, b: Tensor) -> Tensor:
    return ((a - b) ** 2).mean()


def ld3_schedule(
    D: Callable,
    K: int,
    sigma_max: float,
    x: Tensor,
    target: Tensor,
    *,
    solver: str = "euler",
    labels: Tensor | None = None,
    convention: str = "paper",
    sigma_min: float = 0.0,
    space: str = "rho",
    rho: float = 7.0,
    iterations: int = 300,
    lr: float = 0.05,
    val_fraction: float = 0.5,
    batch: int = 0,
    val_every: int = 1,
    seed: int = 0,
    progress: bool = False,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Learn a K-step schedule for ``solver`` matching ``target`` (teacher outputs of ``x``).

    The first ``n − round(n · val_fraction)`` samples train (full batch, or ``batch`` rows per
    iteration drawn with a generator seeded by ``seed``), the rest validate; the schedule with
    the lowest validation loss (checked every ``val_every`` iterations and at the last one; the
    initial grid included) is returned, or the last one when ``val_fraction`` is 0.
    Diagnostics: initial, final and best losses and the training-loss history every 10
    iterations.
    """
    from artrl.schedules import validate

    n_free = check_grid_args(K, sigma_max, sigma_min, convention, "ld3")
    if space not in SPACES:
        raise ValueError(f"ld3: space must be one of {SPACES}, got {space!r}")
    if space == "log" and convention != "code":
        raise ValueError("ld3: space 'log' needs the code convention (sigma_min > 0)")
    if not 0 <= val_fraction < 1:
        raise ValueError(f"ld3: val_fraction must be in [0, 1), got {val_fraction!r}")
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 0:
        raise ValueError(f"ld3: iterations must be an integer >= 0, got {iterations!r}")
    if not lr > 0:
        raise ValueError(f"ld3: lr must be > 0, got {lr!r}")
    if isinstance(val_every, bool) or not isinstance(val_every, int) or val_every < 1:
        raise ValueError(f"ld3: val_every must be an integer >= 1, got {val_every!r}")
    if x.shape != target.shape:
        raise ValueError(f"ld3: x {tuple(x.shape)} and target {tuple(target.shape)} differ")
    n = x.shape[0]
    n_val = int(round(n * val_fraction))
    n_tr = n - n_val
    if n_tr < 1:
        raise ValueError(f"ld3: no training samples ({n} samples, val_fraction {val_fraction})")
    if n_free == 0:  # code convention, K = 1: nothing to learn
        return np.array([sigma_max, 0.0]), {"loss_init": None, "loss_final": None}
    sigma_end = sigma_min if convention == "code" else 0.0

    def grid(w: Tensor) -> Tensor:
        g = grid_from_logits(w, sigma_max, sigma_end, space, rho)
        if convention == "code":
            g = torch.cat([g, g.new_zeros(1)])
        return g

    def loss_on(w: Tensor, sl: slice | Tensor) -> Tensor:
        lab = None if labels is None else labels[sl]
        return _mse(rollout(D, x[sl], grid(w), solver, lab), target[sl])

    tr, va = slice(0, n_tr), slice(n_tr, n)
    w = torch.zeros(n_free, dtype=torch.float64, device=x.device, requires_grad=True)
    opt = torch.optim.Adam([w], lr=lr)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    with torch.no_grad():
        loss_init = float(loss_on(w, tr))
        val_init = float(loss_on(w, va)) if n_val else None
    best = (val_init if n_val else math.inf, 0, w.detach().clone())
    history = []
    bar = tqdm(range(iterations), desc="ld3", disable=not progress, leave=False, mininterval=1)
    for it in bar:
        if 0 < batch < n_tr:
            rows = torch.randperm(n_tr, generator=gen, device=gen.device)[:batch].to(x.device)
        else:
            rows = tr
        opt.zero_grad()
        loss = loss_on(w, rows)
        loss.backward()
        opt.step()
        if it % 10 == 0:
            history.append(float(loss.detach()))
        if n_val and ((it + 1) % val_every == 0 or it + 1 == iterations):
            with torch.no_grad():
                v = float(loss_on(w, va))
            if v < best[0]:
                best = (v, it + 1, w.detach().clone())
            bar.set_postfix(loss=f"{history[-1]:.3g}")
    w_final = w.detach()
    w_sel = best[2] if n_val else w_final
    with torch.no_grad():
        loss_final = float(loss_on(w_final, tr))
        loss_sel = float(loss_on(w_sel, tr))
        sig = grid(w_sel).cpu().numpy().astype(np.float64)
    sig[0], sig[-1] = sigma_max, 0.0
    info = {
        "train_samples": n_tr,
        "val_samples": n_val,
        "loss_init": loss_init,
        "loss_final": loss_final,
        "loss_selected": loss_sel,
        "val_loss_init": val_init,
        "val_loss_best": best[0] if n_val else None,
        "best_iteration": best[1] if n_val else iterations,
        "loss_history_every_10": history,
        "logits": to_float_list(w_sel),
    }
    return validate(sig, sigma_max=sigma_max, K=K, name="ld3"), info


# ----------------------------------------------------------------------------------------------
# Command line


def main(argv: list[str] | None = None):
    from artrl.io import load_dataset_config
    from artrl.models import build
    from artrl.schedules import ScheduleError

    p = base_parser(
        "python -m artrl.methods.ld3",
        "LD3-style schedule (Tong et al. 2025): learn the K timesteps by back-propagating an L2 "
        "teacher-matching loss through the solver (arXiv 2405.15506). Settings under the dataset "
        f"entry's 'ld3' key (defaults: {DEFAULTS}).",
        "ld3",
    )
    a = p.parse_args(argv)
    set_threads(a.threads)
    dcfg = load_dataset_config(a.dataset_config)
    T = float(dcfg["sigma_max"])
    cfg = read_settings(dcfg.get("ld3"), DEFAULTS, "ld3", p)
    solver = a.solver or dcfg.get("solver", "heun")
    torch.manual_seed(a.seed)
    try:
        bundle = build(dcfg["model"], T, a.device)
        D = EvalCounter(bundle.D)
        x, labels = draw_start(bundle, int(cfg["samples"]), a.seed, a.device)
        t0 = time.perf_counter()
        target = teacher_samples(
            D,
            x,
            T,
            K=int(cfg["teacher_K"]),
            solver=cfg["teacher_solver"],
            rho=float(cfg["teacher_rho"]),
            sigma_min=float(cfg["teacher_sigma_min"]),
            labels=labels,
        )
        teacher_calls, teacher_evals = D.calls, D.evals
        sigmas, info = ld3_schedule(
            D,
            a.K,
            T,
            x,
            target,
            solver=solver,
            labels=labels,
            convention=cfg["convention"],
            sigma_min=float(cfg["sigma_min"]),
            space=cfg["space"],
            rho=float(cfg["rho"]),
            iterations=int(cfg["iterations"]),
            lr=float(cfg["lr"]),
            val_fraction=float(cfg["val_fraction"]),
            batch=int(cfg["batch"]),
            val_every=int(cfg["val_every"]),
            seed=a.seed,
            progress=not a.no_progress,
        )
        wall = time.perf_counter() - t0
    except (ValueError, ScheduleError) as e:
        p.error(str(e))
    extra = {
        "solver": solver,
        "settings": cfg,
        "loss": "L2 (mean squared error per coordinate); LD3 uses LPIPS, unavailable offline",
        **info,
        "denoiser_calls": D.calls,
        "denoiser_evals": D.evals,
        "teacher_denoiser_calls": teacher_calls,
        "teacher_denoiser_evals": teacher_evals,
        "denoiser_count_note": "forward calls only; each training call is also back-propagated",
    }
    out = save_schedule(sigmas, "ld3", a, extra)
    print(
        f"LD3 K={a.K} solver={solver}: train loss {info['loss_init']} -> {info['loss_final']} "
        f"(selected {info['loss_selected']}), {D.calls} denoiser calls ({D.evals} sample "
        f"evaluations), {wall:.1f} s -> {out}"
    )
    return out


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
