"""Benchmark: ART-RL with the default setting on 1-D Gaussians of every noise range (issue 12).

For data std c ∈ {0.25, 0.5, 1, 2} × T ∈ {1, 3, 80, 160} (EDM's code convention, σ_min = 0.002,
where T ≥ 80; the paper's, σ_K = 0, otherwise) × K ∈ {2, 3, 5, 10, 20}, Euler: train ART-RL with
the config defaults (artrl.art.config LOG_CLOCK_DEFAULTS; no per-cell setting), distil, and
print the ratios to ART-analytic of the refined expected ART cost (m sub-steps, artrl.art.cost)
and of the exact W2. Not a test: quality is measured here, not asserted.

    .venv/bin/python benchmarks/art_rl_grid.py [--out results/benchmarks/art_rl_grid.csv]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch

from artrl.art.analytic import analytic_schedule, fine_grid
from artrl.art.cost import art_costs
from artrl.art.train import make_trainer
from artrl.metrics.w2 import exact_w2_linear_gaussian
from artrl.models import build


def cell(std: float, T: float, K: int, *, seed: int, rollouts: int, m: int) -> dict:
    conv = "code" if T >= 80 else "paper"
    analytic = {"convention": conv, "sigma_min": 0.002} if conv == "code" else {}
    dcfg = {
        "model": {"type": "gaussian", "std": std, "dim": 1},
        "sigma_max": float(T),
        "analytic": analytic,
        "art": {"jvp_mode": "reverse"},
    }
    b = build(dcfg["model"], T)
    fine = fine_grid(T, 2000, "edm", 0.002) if conv == "code" else fine_grid(T, 2000)
    psi, _ = analytic_schedule(
        b.D, K, T, b.prior, fine_sigmas=fine, n=2048, convention=conv, jvp_mode="reverse"
    )
    s_a = T - psi
    s_a[-1] = 0.0
    row = {"std": std, "T": T, "K": K, "convention": conv}
    if K == 2 and conv == "code":  # [T, σ_min, 0]: nothing to learn, every method agrees
        s_rl, secs = s_a.copy(), 0.0
    else:
        tr = make_trainer(dcfg, K, seed)
        t0 = time.perf_counter()
        tr.train(progress=False, log=lambda _: None)
        secs = time.perf_counter() - t0
        s_rl, _ = tr.distilled()
    kw = dict(m=m, convention=conv, jvp_mode="reverse", seed=123)
    ca = art_costs(b.D, s_a, b.prior, rollouts, **kw)
    cr = art_costs(b.D, s_rl, b.prior, rollouts, **kw)
    w_a = exact_w2_linear_gaussian(s_a, std=std)
    w_r = exact_w2_linear_gaussian(s_rl, std=std)
    row |= {
        "train_s": secs,
        "refined_rl": cr["refined"],
        "refined_analytic": ca["refined"],
        "refined_ratio": cr["refined"] / ca["refined"],
        "plain_ratio": cr["plain"] / ca["plain"],
        "w2_rl": w_r,
        "w2_analytic": w_a,
        "w2_ratio": w_r / w_a,
        "last_sigma_rl": float(s_rl[-2]),
    }
    return row


def markdown(df: pd.DataFrame) -> str:
    """Both ratios per cell, "refined / W2", rows (std, σ_max), columns K."""
    Ks = sorted(df["K"].unique())
    lines = [
        "| data std | σ_max | " + " | ".join(f"K = {k}" for k in Ks) + " |",
        "|---|---|" + "---|" * len(Ks),
    ]
    for (std, T), g in df.groupby(["std", "T"], sort=True):
        by = {r.K: r for r in g.itertuples()}
        cells = [f"{by[k].refined_ratio:.3f} / {by[k].w2_ratio:.3f}" if k in by else "" for k in Ks]
        lines.append(f"| {std:g} | {T:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--stds", type=float, nargs="+", default=[0.25, 0.5, 1.0, 2.0])
    p.add_argument("--Ts", type=float, nargs="+", default=[1.0, 3.0, 80.0, 160.0])
    p.add_argument("--Ks", type=int, nargs="+", default=[2, 3, 5, 10, 20])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rollouts", type=int, default=4000, help="rollouts for the ART costs")
    p.add_argument("--m", type=int, default=8, help="sub-steps of the refined cost")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None, help="CSV of every cell")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    rows = []
    for std in a.stds:
        for T in a.Ts:
            for K in a.Ks:
                r = cell(std, T, K, seed=a.seed, rollouts=a.rollouts, m=a.m)
                rows.append(r)
                print(
                    f"std={std:<5} T={T:<5g} K={K:<3} {r['train_s']:6.1f} s  refined x"
                    f"{r['refined_ratio']:.4f}  plain x{r['plain_ratio']:.4f}  "
                    f"W2 x{r['w2_ratio']:.4f} ({r['w2_rl']:.4g} vs {r['w2_analytic']:.4g})",
                    flush=True,
                )
    df = pd.DataFrame(rows)
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(a.out, index=False)
        Path(a.out).with_suffix(".md").write_text(markdown(df))
    for key in ("refined_ratio", "w2_ratio"):
        print(f"\n{key} (rows: std, T; columns: K)")
        print(df.pivot_table(index=["std", "T"], columns="K", values=key).round(4).to_string())


if __name__ == "__main__":
    main()
