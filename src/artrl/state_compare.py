"""When does the state matter? One replicate of the state-dependent comparison (issue 17).

For one 1-D problem (a Gaussian mixture, :class:`artrl.models.mixture.GaussianMixture1D`; one
component is the Gaussian control) and each step budget K, this trains ART-RL on the
scale-free clock (:mod:`artrl.art.logrl`, the workflow's default settings) and measures, on
the same n stratified prior points for every row (:mod:`artrl.metrics.mixture`):

* ``art_rl``: ART-RL distilled to one time-only grid (arXiv 2601.18681 §5);
* ``art_analytic``: ART-analytic on the same PF-ODE paths (θ* ∝ E|Q|^(-1/2), the closed-form
  time-only optimum of the Euler ART cost; :meth:`LogClockTrainer.bank_analytic`);
* ``art_state``: the state-dependent sampler, each sample on the clock the actor's mean
  chooses at its own state (:mod:`artrl.art.state_sampler`), with the same NFE;
* ``gits``, ``ld3``, ``dmn``: the competing time-only methods (docs/references.md §4), made
  on this mixture as the workflow makes them on the data sets: GITS (dynamic programming over
  a fine teacher grid, arXiv 2405.11326) and LD3 (teacher matching through the solver, arXiv
  2405.15506) from their own seeded draws of x_T ~ p_{σ_max} (the replicate's seed), each for
  the solver it is sampled with; DMN (arXiv 2402.17376) is model-free. Settings: the block's
  ``competitors`` over :data:`COMPETITOR_DEFAULTS`;
* ``edm``, ``dpm``, ``uniform``: the closed-form time-only baselines.

For each row and solver: the quantile W2 to the mixture (no Monte-Carlo noise, so the spread
over replicates is the spread of the schedule-making seeds), and for the ART rows the expected
ART cost (|Q| integrated along each step, the objective ART-RL minimises) over the training
run's bank of exact PF-ODE paths, the state-dependent policy's on each path's own clock. Also:
the per-sample clocks of ``art_state`` summarised by the mode each sample ends in, a few of
them whole (the figure), and the inference work (NFE, JVPs, actor calls per sample). The file
holds no timings (they go to the log), so a fixed seed gives the same bytes.

Run ``python -m artrl.state_compare --help`` for the command line interface.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from artrl import schedules as S
from artrl.art.logrl import LogClockTrainer
from artrl.art.state_sampler import StatePolicy, sample_state, save_policy
from artrl.art.train import make_trainer
from artrl.device import numerics_record, set_threads, threads_arg
from artrl.io import InputError, config_digest, load_dataset_config, run_cli, write_json
from artrl.methods.dmn import dmn_schedule
from artrl.methods.gits import fine_grid, gits_costs, schedule_from_costs
from artrl.methods.ld3 import ld3_schedule, teacher_samples
from artrl.metrics.mixture import target_quantiles, w2_quantile_1d
from artrl.models import build
from artrl.models.mixture import GaussianMixture1D
from artrl.solvers import nfe, sample

__all__ = [
    "BASELINES",
    "COMPETITORS",
    "COMPETITOR_DEFAULTS",
    "ROWS",
    "compare_at_K",
    "Competitors",
    "main",
    "mixture_of",
]

#: the closed-form time-only baselines (paper convention: σ_K = 0, as the 1-D table)
BASELINES = ("edm", "dpm", "uniform")
#: the competing methods; GITS and LD3 make one grid per solver, DMN one for both
COMPETITORS = ("gits", "ld3", "dmn")
#: their settings (paper convention, σ_K = 0, as the other rows); GITS's fine grid as the 1-D
#: table's (config.yaml gauss1d), LD3's and DMN's the methods' defaults
COMPETITOR_DEFAULTS: dict[str, dict[str, Any]] = {
    "gits": {"trajectories": 256, "fine_steps": 400, "teacher_solver": "heun", "rho": 7.0},
    "ld3": {"samples": 256, "teacher_K": 64, "teacher_sigma_min": 0.002, "iterations": 300},
    "dmn": {"sigma_min": 0.002},
}
ROWS = ("art_rl", "art_analytic", "art_state", *COMPETITORS, *BASELINES)
DPM_SIGMA_MIN = 1e-4  # the 1-D table's DPM row (config.yaml gauss1d)
PATHS_SHOWN = 24  # whole per-sample clocks kept for the figure (at evenly spaced quantiles)


def mixture_of(model_cfg: dict, sigma_max: float) -> GaussianMixture1D:
    """The problem's mixture, built as the trainer builds it (:func:`artrl.models.build`)."""
    if model_cfg.get("type") != "mixture":
        raise InputError(f"the state comparison needs a model of type mixture, got {model_cfg}")
    return build(model_cfg, sigma_max).D


def baseline_grid(name: str, K: int, T: float) -> np.ndarray:
    if name == "edm":
        return S.edm(K, T, 0.0, rho=7.0, convention="paper")
    if name == "dpm":
        return S.geometric(K, T, DPM_SIGMA_MIN, convention="paper")
    if name == "uniform":
        return S.uniform(K, T)
    raise ValueError(f"unknown baseline {name!r}")


class Competitors:
    """The competing methods' grids [T, …, 0] on one mixture (module docstring). What does not
    depend on K is made once and kept: GITS's cost matrix per solver (its teacher paths start
    from ``mix.sample_prior`` with a generator seeded by ``seed``) and LD3's teacher samples
    (drawn the same way). ``settings`` override :data:`COMPETITOR_DEFAULTS` per method."""

    def __init__(self, mix: GaussianMixture1D, T: float, seed: int, settings: dict | None = None):
        self.mix, self.T, self.seed = mix, float(T), int(seed)
        self.cfg = {k: {**v, **(settings or {}).get(k, {})} for k, v in COMPETITOR_DEFAULTS.items()}
        self._gits: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._ld3: tuple[torch.Tensor, torch.Tensor] | None = None

    def _start(self, n: int) -> torch.Tensor:
        return self.mix.sample_prior(n, self.T, torch.Generator().manual_seed(self.seed))

    def gits(self, K: int, solver: str) -> np.ndarray:
        g = self.cfg["gits"]
        if solver not in self._gits:
            fine = fine_grid(self.T, int(g["fine_steps"]), "edm", rho=float(g["rho"]))
            x = self._start(int(g["trajectories"]))
            self._gits[solver] = gits_costs(
                self.mix, x, fine_sigmas=fine, solver=solver, teacher_solver=g["teacher_solver"]
            )
        return schedule_from_costs(*self._gits[solver], K)[0]

    def ld3(self, K: int, solver: str) -> np.ndarray:
        c = self.cfg["ld3"]
        if self._ld3 is None:
            x = self._start(int(c["samples"]))
            target = teacher_samples(
                self.mix, x, self.T, K=int(c["teacher_K"]), sigma_min=float(c["teacher_sigma_min"])
            )
            self._ld3 = (x, target)
        x, target = self._ld3
        return ld3_schedule(
            self.mix, K, self.T, x, target, solver=solver, iterations=int(c["iterations"]),
            seed=self.seed,
        )[0]  # fmt: skip

    def dmn(self, K: int) -> np.ndarray:
        return dmn_schedule(K, self.T, float(self.cfg["dmn"]["sigma_min"]))[0]


@torch.no_grad()
def state_bank_cost(tr: LogClockTrainer) -> float:
    """Expected ART cost (refined: |Q| integrated along each step) of the actor's mean clocks
    over every path of the run's bank, each path on the clock the actor chooses along it."""
    idx = torch.arange(tr.bank.n, device=tr.device)
    ro = tr.rollout(tr.bank.n, noise=False, idx=idx)
    return float(ro.cost.sum(0).mean())


@torch.no_grad()
def state_headroom(tr: LogClockTrainer) -> dict[str, float]:
    """How much a clock that sees the state could lower the ART cost at all, in the limit of
    many steps, on the run's bank of exact paths. The continuous ART cost ∫|Q| σ'(t)² dt of a
    path over t ∈ [0, T] (Eq. 9 with dσ = −θ dt) is at least (∫√|Q| dσ)²/T (Cauchy–Schwarz),
    reached by θ ∝ |Q|^(-1/2) along that path. One time-only clock for all paths can reach
    (∫√E|Q| dσ)²/T (ART-analytic's θ* ∝ E|Q|^(-1/2)); a clock per path E[(∫√|Q_i| dσ)²]/T,
    never more (Minkowski). ``gain`` = 1 − per-path / time-only: the headroom of the state."""
    bank = tr.bank
    sig = bank.z.exp() if bank.log else bank.z  # ascending
    root = bank.q.clamp_min(0.0).sqrt()
    per_path = torch.trapezoid(root, sig, dim=1)
    per_path_cost = float((per_path**2).mean())
    time_only = float(torch.trapezoid(bank.q.mean(0).sqrt(), sig) ** 2)
    return {
        "time_only": time_only / tr.cfg.T,
        "per_path": per_path_cost / tr.cfg.T,
        "gain": 1.0 - per_path_cost / time_only,
    }


def _mode_summary(grids: torch.Tensor, modes: torch.Tensor, n_modes: int) -> list[dict]:
    out = []
    for j in range(n_modes):
        g = grids[modes == j]
        if g.shape[0] == 0:
            out.append({"mode": j, "samples": 0})
            continue
        out.append(
            {
                "mode": j,
                "samples": int(g.shape[0]),
                "sigma_mean": g.mean(0).tolist(),
                "sigma_std": g.std(0, correction=0).tolist(),
            }
        )
    return out


def compare_at_K(
    mix: GaussianMixture1D,
    dcfg: dict,
    K: int,
    seed: int,
    samples: int,
    solvers: list[str],
    *,
    policy_out: Path | None = None,
    provenance: dict | None = None,
    competitors: Competitors | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Every row of the comparison at one K (module docstring)."""
    T = float(dcfg["sigma_max"])
    t0 = time.perf_counter()
    tr = make_trainer(dcfg, K, seed)
    if not isinstance(tr, LogClockTrainer):
        raise InputError("the state comparison needs ART-RL on the scale-free clock (clock: log)")
    tr.train(None, progress=progress, log=lambda s: None)
    train_s = time.perf_counter() - t0
    policy = StatePolicy.from_trainer(tr)
    if policy_out is not None:
        save_policy(policy_out, policy, {**(provenance or {}), "K": K, "seed": seed})
    grids = {"art_rl": tr.distilled()[0], "art_analytic": tr.bank_analytic()}
    grids |= {b: baseline_grid(b, K, T) for b in BASELINES}
    t0 = time.perf_counter()
    comp = competitors if competitors is not None else Competitors(mix, T, seed)
    grids["dmn"] = comp.dmn(K)
    per_solver = {s: {"gits": comp.gits(K, s), "ld3": comp.ld3(K, s)} for s in solvers}
    comp_s = time.perf_counter() - t0
    x_T = mix.stratified_prior(samples, T)
    q = target_quantiles(mix, samples)
    w2: dict[str, dict[str, float]] = {r: {} for r in ROWS}
    state: dict[str, Any] = {}
    for solver in solvers:
        for name, g in (grids | per_solver[solver]).items():
            w2[name][solver] = w2_quantile_1d(sample(mix, x_T, g, solver=solver).numpy(), q)
        t1 = time.perf_counter()
        x0, sg, cost = sample_state(mix, x_T, policy, solver)
        elapsed = time.perf_counter() - t1
        w2["art_state"][solver] = w2_quantile_1d(x0.numpy(), q)
        modes = mix.component_of(x0)
        shown = np.linspace(0, samples - 1, PATHS_SHOWN).round().astype(int)
        state[solver] = {
            "nfe": cost.nfe,
            "jvps": cost.jvps,
            "actor_calls": cost.actor_calls,
            "by_mode": _mode_summary(sg, modes, mix.n_components),
            "paths": {
                "quantile": ((shown + 0.5) / samples).tolist(),
                "mode": modes[shown].tolist(),
                "sigmas": sg[shown].tolist(),
            },
        }
        if cost.nfe != nfe(solver, K):
            raise RuntimeError(f"state sampler used {cost.nfe} NFE, not {nfe(solver, K)}")
    # the ART cost table is Euler's (Eq. 9 is the Euler step's error): GITS and LD3 as made for
    # Euler where it is among the solvers
    cost_solver = "euler" if "euler" in solvers else solvers[0]
    bank = {name: tr.bank_costs(g)["refined"] for name, g in grids.items()}
    bank |= {name: tr.bank_costs(g)["refined"] for name, g in per_solver[cost_solver].items()}
    bank["art_state"] = state_bank_cost(tr)
    headroom = state_headroom(tr)
    print(
        f"K={K}: ART-RL trained in {train_s:.1f} s; competitors {comp_s:.1f} s; state sampler "
        f"{elapsed:.2f} s",
        flush=True,
    )
    return {
        "K": K,
        "seed": seed,
        "denoiser_evals": int(tr.D.evals),
        "grids": {k: np.asarray(v, dtype=np.float64).tolist() for k, v in grids.items()},
        "solver_grids": {
            s: {k: np.asarray(v, dtype=np.float64).tolist() for k, v in d.items()}
            for s, d in per_solver.items()
        },
        "art_cost_solver": cost_solver,
        "w2": w2,
        "art_cost": bank,
        "bank_paths": int(tr.bank.n),
        "headroom": headroom,
        "state": state,
    }


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m artrl.state_compare",
        description="One replicate of the state-dependent ART comparison on a 1-D Gaussian "
        "mixture: ART-RL distilled, ART-analytic, the state-dependent sampler, the competing "
        "methods (GITS, LD3, DMN) and closed-form baselines, quantile W2 per K and solver "
        "(issue 17).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--problem-config",
        required=True,
        help="JSON string or file: {model: {type: mixture, weights, means, stds}, sigma_max, "
        "art: {...}, competitors: {gits: {...}, ld3: {...}, dmn: {...}}}",
    )
    p.add_argument("--problem", required=True, help="the problem's name (provenance)")
    p.add_argument("--K", type=int, nargs="+", required=True, help="step budgets")
    p.add_argument("--seed", type=int, default=0, help="ART-RL seed of this replicate")
    p.add_argument("--replicate", type=int, default=0, help="replicate index (provenance)")
    p.add_argument("--samples", type=int, default=20000, help="stratified prior points")
    p.add_argument("--solvers", nargs="+", default=["euler", "heun"], choices=["euler", "heun"])
    p.add_argument("--policy-dir", type=Path, default=None, help="write K<K>.policy.json here")
    threads_arg(p)
    p.add_argument("--progress", action="store_true", help="ART-RL progress bars")
    p.add_argument("--out", required=True, type=Path, help="output JSON (written atomically)")
    return p


def main(argv: list[str] | None = None) -> Path:
    a = _parser().parse_args(argv)
    set_threads(a.threads)
    if a.samples < 2 or any(k < 1 for k in a.K):
        raise InputError("--samples must be >= 2 and every --K >= 1")
    dcfg = load_dataset_config(a.problem_config)
    mix = mixture_of(dcfg["model"], float(dcfg["sigma_max"]))
    prov = {
        "method": "art_state",
        "dataset": a.problem,
        "config_digest": config_digest(dcfg),
        "replicate": a.replicate,
    }
    results = []
    comp = Competitors(mix, float(dcfg["sigma_max"]), a.seed, dcfg.get("competitors"))
    for K in a.K:
        pol = None if a.policy_dir is None else a.policy_dir / f"K{K}.policy.json"
        r = compare_at_K(
            mix, dcfg, K, a.seed, a.samples, a.solvers, policy_out=pol, provenance=prov,
            competitors=comp, progress=a.progress,
        )  # fmt: skip
        print(
            f"K={K}: W2 "
            + json.dumps({k: {s: round(v, 5) for s, v in d.items()} for k, d in r["w2"].items()}),
            flush=True,
        )
        results.append(r)
    doc = {
        "problem": a.problem,
        "mixture": mix.describe(),
        "model": dcfg["model"],
        "sigma_max": float(dcfg["sigma_max"]),
        "competitors": comp.cfg,
        "samples": a.samples,
        "solvers": a.solvers,
        "seed": a.seed,
        "replicate": a.replicate,
        "config_digest": prov["config_digest"],
        "numerics": numerics_record(),
        "results": results,
    }
    return write_json(a.out, doc)


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
