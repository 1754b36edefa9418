"""``python -m artrl.art.train``: run ART-RL (Algorithm 1) for one dataset and step budget K.

Writes into ``--out-dir``: ``checkpoint.pt`` (resume state, rewritten every ``checkpoint_every``
iterations; a rerun resumes from it), then at the end ``train_log.csv`` (one row per iteration)
and ``rollouts.npz`` (the executed θ and actor means μ of the last trajectories, for
``python -m artrl.art.distill``; its ``numerics`` entry, a JSON string, is
:func:`artrl.device.numerics_record` of the run: ``--threads``, default 1, and the CPU kernels,
which distill copies into the schedule's ``extra``). Every file is written atomically. The
config and the arguments are checked first: a bad one stops the command with a one-line
``error: ...`` (exit status 2) before ``--out-dir`` is made.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import NoReturn

import numpy as np
import pandas as pd

from artrl.art.logrl import LogClockTrainer
from artrl.art.rl import ARTConfig, ARTTrainer
from artrl.art.state_sampler import StatePolicy, policy_document
from artrl.device import (
    DEVICE_HELP,
    device_arg,
    numerics_record,
    positive_int,
    set_threads,
    threads_arg,
)
from artrl.io import load_dataset_config, run_cli, write_npz, write_text
from artrl.models import build

__all__ = ["make_trainer", "main"]


def make_trainer(dcfg: dict, K: int, seed: int, device: str = "cpu", **overrides) -> ARTTrainer:
    """An :class:`ARTTrainer` for a dataset entry ``dcfg`` (``model``, ``sigma_max``, ``art``)."""
    T = float(dcfg["sigma_max"])
    art = dict(dcfg.get("art", {}))
    art.update(overrides)
    # the grid's end, as ART-analytic's (datasets.<name>.analytic), unless art sets it
    ends = dcfg.get("analytic", {})
    for key in ("convention", "sigma_min"):
        if key in ends and key not in art:
            art[key] = ends[key]
    cfg = ARTConfig.from_dict(art, where="datasets.<name>.art")
    cfg.K, cfg.T, cfg.seed = int(K), T, int(seed)
    cfg.check()  # K (--K), T (sigma_max) and seed (--seed) are in range too
    bundle = build(dcfg["model"], T, device)
    cls = LogClockTrainer if cfg.clock == "log" else ARTTrainer
    return cls(
        bundle.D,
        cfg,
        bundle.prior,
        data_shape=bundle.data_shape,
        prior_std=bundle.prior_std,
        labels=bundle.labels,
        device=device,
    )


def _fail(message: str) -> NoReturn:
    """Stop with one line on stderr and exit status 2 (a usage error), no traceback."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m artrl.art.train",
        description="Train an ART-RL actor-critic (paper Algorithm 1) for one K; resumes from "
        "OUT_DIR/checkpoint.pt when it exists.",
    )
    p.add_argument("--dataset-config", required=True, help="JSON string or file: the dataset entry")
    p.add_argument("--K", type=int, required=True, help="steps on the t-grid")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--iterations", type=int, default=None, help="override art.iterations")
    p.add_argument(
        "--stop-after", type=positive_int, default=None, help="stop (with a checkpoint) here"
    )
    p.add_argument("--device", type=device_arg, default="cpu", help=DEVICE_HELP)
    threads_arg(p)
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    a = _parser().parse_args(argv)
    set_threads(a.threads)
    # everything is checked before --out-dir is made: a bad setting leaves nothing behind
    try:
        dcfg = load_dataset_config(a.dataset_config)
    except SystemExit as e:
        _fail(str(e.code).removeprefix("error: "))
    if not isinstance(dcfg, dict):
        _fail(f"--dataset-config must be a mapping (a dataset entry), got {type(dcfg).__name__}")
    over = {} if a.iterations is None else {"iterations": a.iterations}
    try:
        tr = make_trainer(dcfg, a.K, a.seed, a.device, **over)
    except KeyError as e:
        msg = str(e.args[0]) if e.args else ""
        # ARTConfig names unknown keys in a sentence; a bare key is one the entry lacks
        _fail(msg if " " in msg else f"--dataset-config has no key {msg!r}")
    except (TypeError, ValueError, OSError) as e:
        _fail(str(e))
    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    print(f"ART-RL K={a.K} config: {json.dumps(tr.cfg.__dict__)}", flush=True)
    tr.train(out / "checkpoint.pt", stop_after=a.stop_after, progress=not a.no_progress)
    if tr.iteration < tr.cfg.iterations:
        print(f"stopped at iteration {tr.iteration} of {tr.cfg.iterations} (checkpoint kept)")
        return 0
    write_text(out / "train_log.csv", pd.DataFrame(tr.history).to_csv(index=False))
    if isinstance(tr, LogClockTrainer):  # the grids of the settled policy (artrl.art.clock)
        grid, _ = tr.distilled()
        costs = tr.provenance(grid)  # of the distilled grid and ART-analytic's, same paths
        print("expected ART cost on the bank: " + json.dumps(costs), flush=True)
        arrays = {
            **{k: np.float64(v) for k, v in costs.items()},
            "sigmas": tr.buffer_mean_sigmas,
            "sigmas_executed": tr.buffer_sigmas,
            "convention": np.str_(tr.cfg.convention),
            "sigma_min": np.float64(tr.cfg.sigma_min),
            # the settled actor itself, for the state-dependent sampler (issue 17): the
            # document of artrl.art.state_sampler, given its provenance by artrl.art.distill
            "policy": np.str_(json.dumps(policy_document(StatePolicy.from_trainer(tr), {}))),
        }
    else:
        arrays = {"theta": tr.buffer_theta, "mu": tr.buffer_mu}
    arrays |= {
        "T": np.float64(tr.cfg.T),
        "K": np.int64(tr.cfg.K),
        "gamma": np.float64(tr.gamma),
        # per-sample denoiser evaluations of the whole run, warm start included (a JVP is one)
        "denoiser_evals": np.int64(tr.D.evals),
        # the numerics the run was computed with (artrl.device.numerics_record), as JSON
        "numerics": np.str_(json.dumps(numerics_record())),
    }
    write_npz(out / "rollouts.npz", **arrays)
    last = tr.history[-1]
    print(
        f"done: gamma={last['gamma']:.4f} budget={last['budget_mean']:.4f} "
        f"cost={last['art_cost']:.5f} -> {out / 'rollouts.npz'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
