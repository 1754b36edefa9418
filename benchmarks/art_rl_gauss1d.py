"""Benchmark: ART-RL on the paper's 1-D Gaussian (K = 100), not a test.

Reports iterations per second, and the seconds and iterations until the distilled schedule of
the last ``--window`` trajectories has an expected ART cost within ``--tol`` of the analytic
optimum (paper.md §1.4), checked every ``--check-every`` iterations. Uses the hyperparameters of
``config.yaml`` (datasets.gauss1d.art) unless overridden.

    .venv/bin/python benchmarks/art_rl_gauss1d.py [--iterations N] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import yaml

from artrl.art.analytic import analytic_schedule, art_cost, fine_grid
from artrl.art.distill import distill
from artrl.art.train import make_trainer
from artrl.metrics.w2 import exact_w2_linear_gaussian
from artrl.models import build
from artrl.schedules import from_psi

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--config", default=str(ROOT / "config.yaml"))
    p.add_argument("--K", type=int, default=100)
    p.add_argument("--iterations", type=int, default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--check-every", type=int, default=50)
    p.add_argument("--tol", type=float, default=0.03)
    p.add_argument("--samples", type=int, default=100_000, help="rollouts for the ART cost")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="optional JSON summary")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    dcfg = yaml.safe_load(Path(a.config).read_text())["datasets"]["gauss1d"]
    T = float(dcfg["sigma_max"])
    over = {} if a.iterations is None else {"iterations": a.iterations}
    tr = make_trainer(dcfg, a.K, a.seed, **over)
    b = build(dcfg["model"], T)
    psi_a, _ = analytic_schedule(b.D, a.K, T, b.prior, fine_sigmas=fine_grid(T, 2000), n=2048)
    c_opt = art_cost(b.D, from_psi(psi_a, T), b.prior, a.samples, seed=123)
    t_train, reached, rows = 0.0, None, []
    while tr.iteration < tr.cfg.iterations:
        t0 = time.perf_counter()
        for _ in range(min(a.check_every, tr.cfg.iterations - tr.iteration)):
            tr.step()
        t_train += time.perf_counter() - t0
        try:
            psi, _ = distill(tr.buffer_theta, T)
            sig = from_psi(psi, T)
            ratio = art_cost(b.D, sig, b.prior, a.samples, seed=123) / c_opt
            w2 = exact_w2_linear_gaussian(sig)
        except ValueError:  # not yet a valid (monotone) schedule
            ratio, w2 = float("nan"), float("nan")
        rows.append({"iteration": tr.iteration, "seconds": t_train, "cost_ratio": ratio, "w2": w2})
        print(f"it {tr.iteration:5d}  {t_train:7.1f} s  cost/opt {ratio:.4f}  W2(K) {w2:.4f}")
        if reached is None and abs(ratio - 1) <= a.tol:
            reached = (tr.iteration, t_train)
    summary = {
        "K": a.K,
        "threads": a.threads,
        "iterations": tr.iteration,
        "batch": tr.cfg.batch,
        "train_seconds": t_train,
        "iterations_per_second": tr.iteration / t_train,
        "final_cost_ratio": rows[-1]["cost_ratio"],
        "final_w2": rows[-1]["w2"],
        "first_within_tol": None if reached is None else {"iteration": reached[0], "s": reached[1]},
        "tol": a.tol,
    }
    print(json.dumps(summary, indent=2))
    if a.out:
        Path(a.out).write_text(json.dumps({"summary": summary, "trace": rows}, indent=2))


if __name__ == "__main__":
    main()
