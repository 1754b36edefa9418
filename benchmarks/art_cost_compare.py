"""Benchmark: the expected ART cost (plain and refined) of schedule files on one data set's
model, on the same rollouts: e.g. an ART-RL schedule against ART-analytic's and EDM's.

    .venv/bin/python benchmarks/art_cost_compare.py --dataset digits \\
        results/schedules/digits/art_rl_k18/K18.json results/schedules/digits/art_analytic/K18.json

Refined: |Q| integrated along the PF-ODE path (m sub-steps per step, artrl.art.cost); plain: at
each step's start along the grid's own Euler rollouts. The convention (which steps count) is
the data set's analytic.convention.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import yaml

from artrl.art.cost import art_costs
from artrl.models import build
from artrl.schedules import Schedule

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("schedules", nargs="+", help="schedule JSON files (the last is the reference)")
    p.add_argument("--dataset", required=True)
    p.add_argument("--config", default=str(ROOT / "config.yaml"))
    p.add_argument("--rollouts", type=int, default=128)
    p.add_argument("--m", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    d = yaml.safe_load(Path(a.config).read_text())["datasets"][a.dataset]
    T = float(d["sigma_max"])
    b = build(d["model"], T)
    conv = d.get("analytic", {}).get("convention", "paper")
    rows = []
    for path in a.schedules:
        s = Schedule.load(path)
        c = art_costs(
            b.D, s.sigmas, b.prior, a.rollouts, m=a.m, convention=conv, labels=b.labels,
            seed=a.seed,
        )  # fmt: skip
        rows.append((path, c))
    ref = rows[-1][1] if len(rows) > 1 else rows[0][1]
    print(f"{a.dataset}: {a.rollouts} rollouts, seed {a.seed}, m = {a.m}, convention {conv}")
    print(f"{'schedule':60s} {'plain':>8s} {'refined':>8s} {'refined/last':>12s}")
    for path, c in rows:
        ratio = c["refined"] / ref["refined"]
        print(f"{path:60s} {c['plain']:8.4f} {c['refined']:8.4f} {ratio:12.4f}")


if __name__ == "__main__":
    main()
