"""``python -m artrl.smoke``: a short end-to-end check of the GPU path, with cost projections.

Run it on a GPU node before the CIFAR-10 tables (``make gpu-smoke``, or
``python -m artrl.smoke --device cuda --out results/smoke``); the test suite runs it on the
CPU at a tiny size (``--device cpu --size tiny``). With ``--size full`` (the default) it is
designed to finish in a few minutes on one H100/H200-class GPU. In order, on ``--device``:

1. **network**: writes a random-weight network in NVIDIA EDM's pickle format
   (:mod:`artrl.models.edm_writer`, no EDM code): ``--size full`` has the size of EDM's
   ``edm-cifar10-32x32-cond-vp`` (32x32x3, 10 classes, DDPM++ widths, ~61 M parameters),
   ``--size tiny`` the 8x8 test network; then loads it back through
   :func:`artrl.models.build` with its sha256 pinned, as the workflow loads EDM's files.
2. **ART-RL, killed and resumed** (arXiv 2601.18681 §4, Algorithm 1, on the scale-free clock):
   K = 5 with a small path bank, stopped after 2 iterations with a checkpoint, resumed by a
   new trainer to 3, and compared with an uninterrupted 3-iteration run (asserted equal on
   the CPU, reported on CUDA, whose kernels need not be bit-reproducible).
3. **ART-RL iteration cost** at K = 18 with 64 trajectories: the path bank's build time (the
   run's only network use on the scale-free clock) apart from an iteration (rollouts read
   the bank), and one iteration of the paper's σ-clock (``clock: sigma``), which calls the
   network K times per iteration.
4. **q-profile** of ART-analytic (:func:`artrl.art.analytic.q_profile`) on a short fine grid.
5. **one sampling shard**: Heun on EDM's ρ = 7 grid with K = 18 (NFE 35), 1,000 images at
   full size: images/s and seconds per image per NFE.
6. **one FID cell** of that shard against made-up reference statistics, through
   :func:`artrl.metrics.fid.compute_fid_report` with a stand-in TorchScript of the Inception
   file's call interface (``model(x, return_features=True)`` → ``[N, 2048]``). The value is
   meaningless; it shows the path runs on the device.
7. **forward vs forward-mode JVP** at batch 64 (2 at tiny size): ``D(x, σ, labels)``, the
   JVP that gives Q (:func:`artrl.art.dynamics.drift_and_q`) and the nested one of the Heun
   proxy (:func:`artrl.art.dynamics.drift_q_heun`).

Then it prints and writes ``smoke.json`` (atomically) in ``--out``: device name, parameter
count, images/s, seconds per ART-RL iteration, peak GPU memory and the **projected**
GPU-hours of every FID table of the data set (``--dataset``, default cifar10, read from
``--config``) and of its ART-RL and q-profile jobs (:func:`project_gpu_hours`: images × NFE
per table, counted as :mod:`artrl.workflow` counts the cells, times the measured cost
of one image-NFE). Projections, not measurements.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from artrl.device import DEVICE_HELP, device_arg, generator
from artrl.io import atomic_write, write_json, write_npz

__all__ = ["SIZES", "UnitCosts", "project_gpu_hours", "StandInInception", "main"]

# Sizes of each step: "full" fits a few minutes on one modern GPU, "tiny" a CPU test.
SIZES: dict[str, dict[str, Any]] = {
    "full": dict(
        resume_bank=(16, 16),  # (paths, fine levels) of the K = 5 runs
        cost_bank=(64, 32),  # of the K = 18 iteration-cost run
        rl_batch=64,
        q_profile=(32, 32),  # (rollouts, fine steps)
        sample_images=1000,
        sample_batch=500,  # config.yaml cifar10 fid.batch
        fid_dim=2048,
        jvp_batch=64,
        repeats=5,
    ),
    "tiny": dict(
        resume_bank=(8, 8),
        cost_bank=(8, 8),
        rl_batch=64,
        q_profile=(4, 8),
        sample_images=8,
        sample_batch=4,
        fid_dim=64,  # a 2048-dim sqrtm takes ~10 s on a small CPU; 64 keeps the test quick
        jvp_batch=2,
        repeats=2,
    ),
}
K_RESUME, K_COST, K_SAMPLE = 5, 18, 18
SIGMA_MIN = 0.002  # EDM's last positive σ (NVlabs/edm generate.py)
# the paper's σ-clock settings for images (config.yaml, cifar10 art_rl_sigma_k18), started
# from the uniform clock so that no warm-start fit is timed
SIGMA_CLOCK = dict(
    clock="sigma", features="summary", actor_output="exp", lam=1e-4, eps=1e-2, s_floor=2e-3
)


# ----------------------------------------------------------------------------------------------
# Projection of GPU-hours (pure: config and unit costs in, numbers out)


@dataclass(frozen=True)
class UnitCosts:
    """Measured seconds on one device, per image (per batch row).

    ``image_nfe``: one denoiser evaluation inside a sampling batch; ``drift_q``: F and Q
    (:func:`artrl.art.dynamics.drift_and_q`, a forward and a JVP); ``drift_q_heun``: F, Q and
    Heun's R̃ (:func:`artrl.art.dynamics.drift_q_heun`); ``log_step``: one learned step of one
    scale-free-clock ART-RL iteration (rollouts read the path bank, the update; no network).
    """

    image_nfe: float
    drift_q: float
    drift_q_heun: float
    log_step: float


def _workflow(dcfg: dict, core_only: bool, dataset: str = "cifar10"):
    """The workflow's view (:class:`artrl.workflow.Workflow`) of one data set's config block:
    ``core_only`` leaves out the ``extra: true`` rows and tables, as ``make demo`` does; the
    rest are all counted (``gpu_extras``: the projection prices every method)."""
    from artrl.workflow import Workflow

    block = {"model": {"type": "edm"}, **dcfg}
    cfg = {"datasets": {dataset: block}, "seed": 0, "core_only": core_only, "gpu_extras": True}
    return Workflow(cfg)


def _included(block: dict, core_only: bool) -> bool:
    return _workflow({}, core_only).included(block, "cifar10")


def _table_cells(dcfg: dict, core_only: bool) -> dict[str, tuple[str, list[tuple[str, int]]]]:
    """{table id: (solver, [(schedule, K)])}, the cells :mod:`artrl.workflow` builds
    (``Workflow.table_ids``, ``solver_of``, ``fid_cells``)."""
    w = _workflow(dcfg, core_only)
    return {
        tid: (w.solver_of("cifar10", tid), [(n, int(K)) for n, K in w.fid_cells("cifar10", tid)])
        for tid in w.table_ids("cifar10")
    }


def _jobs(dcfg: dict, dataset: str, name: str, K: int) -> set[tuple[str, str, int]]:
    """The GPU jobs a cell's schedule needs (``Workflow.schedule_jobs``): an ART-RL run
    ("art_rl", name, K) or the q-profile ("q_profile", "", 0); transfers follow their source
    (within this data set: another data set's runs are that data set's cost)."""
    s = dcfg["schedules"][name]
    m = s["method"]
    if m == "art_rl":
        return {("art_rl", name, int(K))}
    if m == "art_analytic":
        return {("q_profile", "", 0)}
    if m == "art_rl_transfer" and s.get("source_dataset", dataset) == dataset:
        return _jobs(dcfg, dataset, s.get("source", "art_rl"), int(s.get("from_K", K)))
    return set()


def _art_config(dcfg: dict, name: str, K: int):
    """The ARTConfig of an ART-RL job, merged as ``artrl.art.train.make_trainer`` merges it."""
    from artrl.art.config import ARTConfig

    art = {**dcfg.get("art", {}), **dcfg["schedules"][name].get("art", {})}
    for key in ("convention", "sigma_min"):
        if key in dcfg.get("analytic", {}) and key not in art:
            art[key] = dcfg["analytic"][key]
    cfg = ARTConfig.from_dict(art, where=f"schedules.{name}.art")
    cfg.K = int(K)
    return cfg


def _art_job_seconds(cfg, u: UnitCosts) -> dict[str, Any]:
    """Seconds of one ART-RL run.

    Scale-free clock (artrl.art.logrl): the path bank, ``bank_paths`` paths each with
    ``bank_points + 1`` F-and-Q nodes and ``bank_points`` Heun predictor calls (plus Heun's
    R̃ at every node with ``proxy: heun``; artrl.art.paths), then ``iterations`` iterations
    of K_l learned steps that read the bank (their time taken as ∝ K_l: small kernels, launch
    bound). σ-clock (artrl.art.rl): every iteration ``batch`` trajectories of K steps, each
    F and Q (F, Q and R̃ with ``proxy: heun``, but for the Euler last step), plus the
    warm-start batch (max(batch, 16) trajectories) when ``init_schedule`` is not uniform.
    """
    from artrl.art.clock import learned_steps

    heun = cfg.proxy == "heun"
    if cfg.clock == "log":
        n, p = cfg.bank_paths, cfg.bank_points
        bank = n * ((p + 1) * u.drift_q + p * u.image_nfe)
        if heun:
            bank += n * (p + 1) * u.drift_q_heun
        k_l = learned_steps(cfg.K, cfg.convention)
        its = cfg.iterations * k_l * u.log_step
        return {"clock": "log", "bank_s": bank, "iterations_s": its, "seconds": bank + its}
    per_traj = (cfg.K - 1) * u.drift_q_heun + u.drift_q if heun else cfg.K * u.drift_q
    its = cfg.iterations * cfg.batch * per_traj
    warm = max(cfg.batch, 16) * per_traj if cfg.init_schedule != "uniform" else 0.0
    return {"clock": "sigma", "warm_start_s": warm, "iterations_s": its, "seconds": its + warm}


def _q_profile_seconds(dcfg: dict, u: UnitCosts, core_only: bool) -> float:
    """Seconds of ART-analytic's q-profile (artrl.art.analytic): ``rollouts`` Heun paths over
    ``fine_steps + 1`` nodes, F and Q at each (F, Q and R̃ when an analytic schedule uses the
    Heun proxy) and F and Q at each of the ``fine_steps − 1`` predictors (the last step into
    σ = 0 is Euler)."""
    a = dcfg.get("analytic", {})
    n, steps = int(a.get("rollouts", 4096)), int(a.get("fine_steps", 1000))
    heun = any(
        (s.get("analytic", {}).get("proxy") or a.get("proxy", "euler")) == "heun"
        for s in dcfg.get("schedules", {}).values()
        if s["method"] == "art_analytic" and _included(s, core_only)
    )
    node = u.drift_q_heun if heun else u.drift_q
    return n * ((steps + 1) * node + (steps - 1) * u.drift_q)


def project_gpu_hours(
    dcfg: dict, unit: UnitCosts, *, dataset: str = "cifar10", core_only: bool = False
) -> dict[str, Any]:
    """PROJECTED GPU-hours of a data set's FID tables and of the ART-RL and q-profile jobs
    their rows need, from a config block (``config.yaml`` ``datasets.<dataset>``) and measured
    unit costs.

    A table's sampling is Σ over its cells (schedule, K) of ``fid.samples`` × NFE(solver, K)
    image-NFEs (K, 2K − 1, 4K − 3 for Euler, Heun, RK4), times ``unit.image_nfe``; the
    cells are counted as the workflow counts them (:func:`_table_cells`); ``core_only`` leaves
    out the ``extra: true`` rows and tables, as ``make demo`` does. ART-RL runs are counted
    once per (schedule, K) even when several tables use them. Not included: the Inception
    features of the FID (not measured: the smoke check's Inception is a stand-in) and the GITS,
    LD3 and DMN schedule jobs.
    """
    from artrl.solvers import nfe

    samples = int(dcfg.get("fid", {}).get("samples", 5000))
    tables: dict[str, Any] = {}
    jobs: set[tuple[str, str, int]] = set()
    for tid, (solver, cells) in _table_cells(dcfg, core_only).items():
        image_nfe = sum(samples * nfe(solver, K) for _, K in cells)
        need = set().union(*(_jobs(dcfg, dataset, n, K) for n, K in cells)) if cells else set()
        jobs |= need
        tables[tid] = {
            "solver": solver,
            "cells": len(cells),
            "images": samples * len(cells),
            "image_nfe": image_nfe,
            "gpu_hours": image_nfe * unit.image_nfe / 3600,
            "art_rl_jobs": [f"{n}@K{K}" for kind, n, K in sorted(need) if kind == "art_rl"],
        }
    ref = dcfg.get("reference")
    if ref:  # the reference cell of the tables (digits: EDM at K = 40)
        image_nfe = samples * nfe(ref["solver"], int(ref["K"]))
        tables["reference"] = {
            "solver": ref["solver"],
            "cells": 1,
            "images": samples,
            "image_nfe": image_nfe,
            "gpu_hours": image_nfe * unit.image_nfe / 3600,
            "art_rl_jobs": [],
        }
    art: dict[str, Any] = {}
    for kind, name, K in sorted(jobs):
        if kind != "art_rl":
            continue
        cfg = _art_config(dcfg, name, K)
        cost = dict(_art_job_seconds(cfg, unit))
        job = {"clock": cost.pop("clock"), "iterations": cfg.iterations}
        if job["clock"] == "log":
            job["bank"] = f"{cfg.bank_paths} paths x {cfg.bank_points} levels"
        else:
            job["batch"] = cfg.batch
        job["gpu_hours"] = cost.pop("seconds") / 3600
        job |= {k.removesuffix("_s") + "_gpu_hours": v / 3600 for k, v in cost.items()}
        art[f"{name}@K{K}"] = job
    q = _q_profile_seconds(dcfg, unit, core_only) / 3600 if ("q_profile", "", 0) in jobs else 0.0
    sampling = sum(t["gpu_hours"] for t in tables.values())
    art_total = sum(j["gpu_hours"] for j in art.values())
    return {
        "note": "PROJECTIONS from measured unit costs, not measurements",
        "dataset": dataset,
        "core_only": core_only,
        "samples_per_cell": samples,
        "unit_costs_s": asdict(unit),
        "tables": tables,
        "art_rl_jobs": art,
        "q_profile_gpu_hours": q,
        "total_gpu_hours": {
            "sampling": sampling,
            "art_rl": art_total,
            "q_profile": q,
            "all": sampling + art_total + q,
        },
    }


# ----------------------------------------------------------------------------------------------
# The stand-in Inception (the call interface of inception-2015-12-05.pt)


class StandInInception(torch.nn.Module):
    """The call interface of the TorchScript Inception that :class:`artrl.metrics.fid.
    InceptionFeatureExtractor` loads: ``model(x, return_features=True)`` with ``x`` float
    ``[N, 3, H, W]`` in [0, 255] at native size, resized to 299x299 inside, returns features
    ``[N, D]`` (D = 2048 in the real file). Here a fixed random projection of 8x8 average-pooled
    pixels (``weight``: ``[192, D]``); without ``return_features``, their softmax."""

    def __init__(self, weight: Tensor):
        super().__init__()
        self.register_buffer("weight", weight)

    def forward(self, x: Tensor, return_features: bool = False) -> Tensor:
        x = torch.nn.functional.interpolate(
            x.to(torch.float32), size=(299, 299), mode="bilinear", align_corners=False
        )
        pooled = torch.nn.functional.adaptive_avg_pool2d(x / 127.5 - 1.0, 8).flatten(1)
        feats = torch.relu(pooled @ self.weight)
        if return_features:
            return feats
        return feats.softmax(dim=1)


def write_stand_in_inception(path: Path, dim: int, device: torch.device, seed: int = 0) -> Path:
    """Script :class:`StandInInception` (``dim`` features, weights drawn on ``device``) and
    save it atomically as a TorchScript file."""
    g = generator(seed, device)
    weight = torch.randn(192, dim, generator=g, device=device) / math.sqrt(192)
    with warnings.catch_warnings():  # torch >= 2.9 marks TorchScript as deprecated
        warnings.simplefilter("ignore", FutureWarning)
        scripted = torch.jit.script(StandInInception(weight).eval())
        return atomic_write(path, lambda tmp: torch.jit.save(scripted, tmp))


# ----------------------------------------------------------------------------------------------
# Helpers


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], Any], device: torch.device, repeats: int = 1, warmup: int = 0):
    """(the last result, seconds per call) of ``fn``, synchronised on CUDA."""
    for _ in range(warmup):
        fn()
    _sync(device)
    t0 = time.perf_counter()
    out = None
    for _ in range(repeats):
        out = fn()
    _sync(device)
    return out, (time.perf_counter() - t0) / repeats


class _Steps:
    """Prints each step's start and wall time, and keeps the times."""

    def __init__(self, total: int):
        self.total, self.n, self.seconds = total, 0, {}

    def __call__(self, name: str, title: str):
        steps = self

        class _Ctx:
            def __enter__(self):
                steps.n += 1
                print(f"[{steps.n}/{steps.total}] {title} ...", flush=True)
                self.t0 = time.perf_counter()
                return self

            def __exit__(self, *exc):
                dt = time.perf_counter() - self.t0
                steps.seconds[name] = dt
                status = "failed after" if exc[0] is not None else "done in"
                print(f"[{steps.n}/{steps.total}] {title}: {status} {dt:.2f} s", flush=True)
                return False

        return _Ctx()


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform

    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def _dataset_block(config: str, dataset: str) -> dict:
    import yaml

    path = Path(config)
    if not path.is_file():
        raise SystemExit(f"error: --config {config}: file not found (run from the repository)")
    cfg = yaml.safe_load(path.read_text())
    try:
        return cfg["datasets"][dataset]
    except (KeyError, TypeError):
        raise SystemExit(f"error: {config} has no datasets.{dataset} block") from None


def _same_state(a, b) -> bool:
    """Whether two trainers hold the same history and actor/critic weights, bit for bit."""
    if a.history != b.history:
        return False
    for net in ("actor", "critic"):
        sa, sb = getattr(a, net).state_dict(), getattr(b, net).state_dict()
        if any(not torch.equal(sa[k], sb[k]) for k in sa):
            return False
    return True


# ----------------------------------------------------------------------------------------------
# The steps


def _write_network(out: Path, size: str, seed: int) -> tuple[Path, int]:
    from artrl.models.edm_writer import (
        cifar10_edm_net,
        parameter_count,
        tiny_edm_net,
        write_edm_pickle,
    )

    net = cifar10_edm_net(seed) if size == "full" else tiny_edm_net(label_dim=10, seed=seed)
    path = write_edm_pickle(out / f"edm-random-{size}.pkl", net)
    return path, parameter_count(net)


def _resume(dcfg: dict, device, sz: dict, out: Path, seed: int) -> dict:
    from artrl.art.train import make_trainer

    paths, points = sz["resume_bank"]
    over = dict(bank_paths=paths, bank_points=points, iterations=3, batch=16)
    ckpt = out / f"art_rl_K{K_RESUME}" / "checkpoint.pt"
    ckpt.unlink(missing_ok=True)  # every smoke run starts afresh

    def log(msg: str) -> None:
        print(f"    {msg}", flush=True)

    first = make_trainer(dcfg, K_RESUME, seed, device, **over)
    first.train(ckpt, stop_after=2, progress=False, log=log)  # "killed" after 2 iterations
    stopped = first.iteration
    del first
    msgs: list[str] = []
    second = make_trainer(dcfg, K_RESUME, seed, device, **over)
    second.train(ckpt, progress=False, log=lambda m: (msgs.append(m), log(m)))
    found = [re.search(r"resumed from .* at iteration (\d+)", m) for m in msgs]
    resumed_from = next((int(m.group(1)) for m in found if m), None)
    whole = make_trainer(dcfg, K_RESUME, seed, device, **over)
    whole.train(None, progress=False, log=log)
    same = _same_state(second, whole)
    res = {
        "K": K_RESUME,
        "iterations": 3,
        "bank_paths": paths,
        "bank_points": points,
        "stopped_at": stopped,
        "resumed_from": resumed_from,
        "final_iteration": second.iteration,
        "history_rows": len(second.history),
        "matches_uninterrupted": same,
        "art_cost_last": second.history[-1]["art_cost"],
    }
    if stopped != 2 or resumed_from != 2 or second.iteration != 3 or len(second.history) != 3:
        raise RuntimeError(f"ART-RL did not resume as expected: {res}")
    if device.type == "cpu" and not same:
        raise RuntimeError("ART-RL resumed on the CPU differs from the uninterrupted run")
    return res


def _iteration_cost(dcfg: dict, device, sz: dict, seed: int) -> dict:
    from artrl.art.clock import learned_steps
    from artrl.art.rl import TrainingDiverged
    from artrl.art.train import make_trainer

    paths, points, B = *sz["cost_bank"], sz["rl_batch"]
    # critic_warmup 0: the timed iterations update the actor too
    over = dict(bank_paths=paths, bank_points=points, batch=B, iterations=2, critic_warmup=0)
    tr = make_trainer(dcfg, K_COST, seed, device, **over)
    bank_s = _timed(lambda t=tr: t.bank, device)[1]
    its = [_timed(tr.step, device)[1] for _ in range(2)]
    log_iter = min(its)
    k_l = learned_steps(K_COST, tr.cfg.convention)
    res = {
        "K": K_COST,
        "batch": B,
        "bank_paths": paths,
        "bank_points": points,
        "bank_build_s": bank_s,
        "bank_denoiser_evals": int(tr.D.evals),
        "log_clock_iteration_s": log_iter,
        "log_clock_step_s": log_iter / k_l,
    }
    del tr
    sig = make_trainer(dcfg, K_COST, seed, device, batch=B, iterations=2, **SIGMA_CLOCK)
    try:
        res["sigma_clock_iteration_s"] = min(_timed(sig.step, device)[1] for _ in range(2))
    except TrainingDiverged as e:  # a random network: report, the timing is what matters
        res["sigma_clock_iteration_s"] = None
        res["sigma_clock_error"] = str(e)
    return res


def _jvp_timing(bundle, device, sz: dict, seed: int, T: float) -> dict:
    from artrl.art.dynamics import drift_and_q, drift_q_heun

    B, reps = sz["jvp_batch"], sz["repeats"]
    gen = generator(seed, device)
    x = bundle.prior(B, gen)
    lab = bundle.labels(B, gen) if bundle.labels is not None else None
    sigma = torch.full((B,), 1.0, dtype=torch.float64, device=device)
    psi = T - sigma
    D = bundle.D

    def forward():
        with torch.no_grad():
            return D(x, sigma, lab)

    _, fwd = _timed(forward, device, reps, warmup=1)
    res: dict[str, Any] = {"batch": B, "sigma": 1.0, "forward_s": fwd}
    mode = "forward"
    try:
        _, dq = _timed(lambda: drift_and_q(D, x, psi, T, lab, mode=mode), device, reps, 1)
    except (RuntimeError, NotImplementedError, TypeError) as e:  # report, then reverse mode
        res["forward_mode_error"] = f"{type(e).__name__}: {e}"
        mode = "reverse"
        _, dq = _timed(lambda: drift_and_q(D, x, psi, T, lab, mode=mode), device, reps, 1)
    res |= {"jvp_mode": mode, "drift_and_q_s": dq, "jvp_s": max(dq - fwd, 0.0)}
    res["jvp_over_forward"] = res["jvp_s"] / fwd
    _, hq = _timed(lambda: drift_q_heun(D, x, psi, T, lab, mode=mode), device, reps, 1)
    res["drift_q_heun_s"] = hq
    return res


# ----------------------------------------------------------------------------------------------
# CLI


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m artrl.smoke",
        description="GPU smoke check: an EDM-format network of CIFAR-10 size with random "
        "weights through ART-RL (killed and resumed), the q-profile, one sampling shard, one "
        "FID cell and JVP timing; prints timings and PROJECTED GPU-hours of the data set's "
        "tables, and writes OUT/smoke.json.",
    )
    p.add_argument("--device", type=device_arg, default="cuda", help=DEVICE_HELP)
    p.add_argument(
        "--size",
        choices=sorted(SIZES),
        default="full",
        help="full: the CIFAR-10 network size and the timed sizes; tiny: an 8x8 network, for a "
        "CPU check (default: full)",
    )
    p.add_argument("--out", default="results/smoke", help="output folder (default: %(default)s)")
    p.add_argument("--config", default="config.yaml", help="workflow config (default: %(default)s)")
    p.add_argument(
        "--dataset", default="cifar10", help="its data set to project (default: %(default)s)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's)")
    p.add_argument(
        "--keep-network", action="store_true", help="keep the network pickle (~250 MB at full)"
    )
    return p


def _print_summary(r: dict) -> None:
    it, smp, jv = r["art_rl_iteration"], r["sampling"], r["jvp"]
    mem = r["peak_gpu_memory_bytes"]
    print("\n=== smoke summary ===")
    print(f"device                 {r['device']} ({r['device_name']})")
    print(f"network parameters     {r['parameters']:,} ({r['size']})")
    print(
        f"sampling               {smp['images_per_s']:.1f} images/s at NFE {smp['nfe']} "
        f"(batch {smp['batch']}; {smp['s_per_image_nfe'] * 1e6:.1f} µs per image-NFE)"
    )
    print(
        f"ART-RL K={it['K']}, batch {it['batch']}: path bank {it['bank_paths']}x"
        f"{it['bank_points']} built in {it['bank_build_s']:.2f} s; then "
        f"{it['log_clock_iteration_s'] * 1e3:.1f} ms per iteration (scale-free clock, reads the "
        "bank, no network call)"
    )
    if it.get("sigma_clock_iteration_s") is not None:
        print(
            f"ART-RL σ-clock         {it['sigma_clock_iteration_s']:.3f} s per iteration "
            f"(K={it['K']} F-and-Q calls at batch {it['batch']})"
        )
    print(
        f"forward / JVP          {jv['forward_s'] * 1e3:.2f} ms / {jv['jvp_s'] * 1e3:.2f} ms at "
        f"batch {jv['batch']} (JVP = {jv['jvp_over_forward']:.2f} forwards, {jv['jvp_mode']} "
        f"mode; F,Q,R̃ {jv['drift_q_heun_s'] * 1e3:.2f} ms)"
    )
    print(f"FID (meaningless)      {r['fid']['fid']:.3f} ({r['fid']['feat_dim']}-d stand-in)")
    print(f"peak GPU memory        {mem if isinstance(mem, str) else f'{mem / 2**30:.2f} GiB'}")
    print(f"ART-RL resume          {r['art_rl_resume']}")
    pr = r["projection"]
    print(
        f"\n=== PROJECTED GPU-hours ({pr['dataset']}, {pr['samples_per_cell']:,} samples per "
        f"cell, on {r['device_name']}): PROJECTIONS from the timings above, not measurements ==="
    )
    for tid, t in pr["tables"].items():
        print(
            f"  table {tid:<10} {t['cells']:>4} cells, {t['image_nfe']:.3g} image-NFEs: "
            f"{t['gpu_hours']:8.2f} h sampling (projected); needs "
            f"{len(t['art_rl_jobs'])} ART-RL runs: {', '.join(t['art_rl_jobs']) or '-'}"
        )
    for name, j in pr["art_rl_jobs"].items():
        parts = ", ".join(f"{k} {v:.3f}" for k, v in j.items() if k.endswith("_gpu_hours"))
        print(f"  ART-RL {name:<22} {j['gpu_hours']:8.3f} h ({j['clock']} clock: {parts})")
    if pr["q_profile_gpu_hours"]:
        print(f"  q-profile                     {pr['q_profile_gpu_hours']:8.3f} h")
    tot = pr["total_gpu_hours"]
    print(
        f"  total (projected)             {tot['all']:8.2f} h = sampling {tot['sampling']:.2f} "
        f"+ ART-RL {tot['art_rl']:.2f} + q-profile {tot['q_profile']:.3f} (every row: "
        f"--config gpu_extras=True); the paper's rows only (the default): "
        f"{r['projection_core_only']['total_gpu_hours']['all']:.2f} h"
    )


def main(argv: list[str] | None = None) -> int:
    a = _parser().parse_args(argv)
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    from artrl.art.analytic import fine_grid, q_profile
    from artrl.metrics.fid import FeatureArgs, compute_fid_report, save_ref_stats
    from artrl.models import build
    from artrl.models.edm import file_sha256
    from artrl.sample import generate
    from artrl.schedules import edm
    from artrl.solvers import nfe

    t_start = time.perf_counter()
    device, sz, out = a.device, SIZES[a.size], Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    block = _dataset_block(a.config, a.dataset)
    T = float(block.get("sigma_max", 80.0))
    ends = {"convention": "code", "sigma_min": SIGMA_MIN}
    ends |= {k: v for k, v in block.get("analytic", {}).items() if k in ends}
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    report: dict[str, Any] = {
        "note": "GPU smoke check (python -m artrl.smoke); the projection block is PROJECTED",
        "device": str(device),
        "device_name": _device_name(device),
        "torch": torch.__version__,
        "size": a.size,
        "dataset": a.dataset,
    }
    step = _Steps(7)
    print(f"smoke check on {device} ({report['device_name']}), size {a.size}", flush=True)

    with step("network", "EDM-format network with random weights: write, load"):
        path, n_params = _write_network(out, a.size, a.seed)
        digest = file_sha256(path)
        spec = {"type": "edm", "path": str(path), "sha256": digest}
        bundle = build(spec, sigma_max=T, device=device)
        loaded = sum(p.numel() for p in bundle.D.parameters())
        if loaded != n_params:
            raise RuntimeError(f"loaded network has {loaded} parameters, written {n_params}")
        report["parameters"] = n_params
        report["network"] = {"path": str(path), "sha256": digest, "bytes": path.stat().st_size}
        print(
            f"    {n_params:,} parameters, {path.stat().st_size / 2**20:.1f} MiB, sha256 "
            f"{digest[:12]}…, data {bundle.data_shape}, {bundle.n_classes} classes"
        )
    dcfg = {"model": spec, "sigma_max": T, "analytic": ends}

    with step("art_rl_resume", f"ART-RL K={K_RESUME}: 2 iterations, kill, resume to 3"):
        report["art_rl_resume"] = _resume(dcfg, device, sz, out, a.seed)
        print(f"    {report['art_rl_resume']}")

    with step("art_rl_iteration", f"ART-RL iteration cost at K={K_COST}, batch {sz['rl_batch']}"):
        report["art_rl_iteration"] = _iteration_cost(dcfg, device, sz, a.seed)
        print(f"    {report['art_rl_iteration']}")

    with step("q_profile", "ART-analytic q-profile"):
        n, steps = sz["q_profile"]
        fine = fine_grid(T, steps, "edm", ends["sigma_min"])
        q = q_profile(
            bundle.D, fine, bundle.prior, n, T=T, labels=bundle.labels, seed=a.seed, batch=n
        )
        if not np.isfinite(q).all():
            raise RuntimeError(f"q-profile is not finite: {q}")
        report["q_profile"] = {
            "rollouts": n,
            "fine_steps": steps,
            "q_min": float(q.min()),
            "q_max": float(q.max()),
        }

    with step("sampling", f"sampling shard: Heun, EDM ρ=7, K={K_SAMPLE}"):
        sigmas = bundle.D.fit_grid(edm(K_SAMPLE, T, ends["sigma_min"], convention="code"))
        N, batch = sz["sample_images"], sz["sample_batch"]
        # warm-up at the batch size (allocator, cuDNN's algorithm choice), not timed
        x_warm = bundle.prior(batch, generator(a.seed, device))
        s_warm = torch.full((batch,), T, dtype=torch.float64, device=device)
        with torch.no_grad():
            bundle.D(x_warm, s_warm)
        del x_warm, s_warm

        def shard_images():
            return generate(
                bundle.D,
                sigmas,
                range(0, N),
                shape=bundle.data_shape,
                solver="heun",
                batch=batch,
                n_classes=bundle.n_classes,
                device=device,
            )

        (images, seeds, calls), secs = _timed(shard_images, device)
        if calls != nfe("heun", K_SAMPLE):
            raise RuntimeError(f"Heun made {calls} calls per batch, expected 35")
        shard = out / f"samples_heun_edm_K{K_SAMPLE}_seeds0-{N - 1}.npz"
        meta = {"method": "edm", "K": K_SAMPLE, "solver": "heun", "nfe": calls, "smoke": True}
        write_npz(shard, images=images, seeds=seeds, meta=np.array(json.dumps(meta)))
        report["sampling"] = {
            "images": N,
            "batch": batch,
            "nfe": calls,
            "seconds": secs,
            "images_per_s": N / secs,
            "s_per_image_nfe": secs / (N * calls),
        }

    with step("fid", "one FID cell (stand-in Inception, made-up reference statistics)"):
        dim = sz["fid_dim"]
        ts = write_stand_in_inception(out / "stand_in_inception.pt", dim, device, a.seed)
        rng = np.random.default_rng(a.seed)
        ref = save_ref_stats(
            out / "made_up_ref_stats.npz",
            rng.normal(0.0, 0.1, dim),
            np.eye(dim),
            features="inception",
            note="made-up statistics (artrl.smoke): the FID is meaningless",
        )
        fa = FeatureArgs(
            inception_path=str(ts),
            device=str(device),
            batch_size=sz["sample_batch"],
            inception_sha256=[file_sha256(ts)],  # made here: allowed by its own digest
        )
        rep = compute_fid_report([shard], ref, features="inception", feature_args=fa)
        if not math.isfinite(rep["fid"]):
            raise RuntimeError(f"FID is not finite: {rep['fid']}")
        report["fid"] = {
            "fid": rep["fid"],
            "feat_dim": rep["feat_dim"],
            "n_images": rep["n_images"],
            "seconds": rep["seconds"],
            "note": "stand-in Inception and made-up reference statistics: meaningless value",
        }

    with step("jvp", f"forward vs forward-mode JVP at batch {sz['jvp_batch']}"):
        report["jvp"] = _jvp_timing(bundle, device, sz, a.seed, T)

    report["peak_gpu_memory_bytes"] = (
        int(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else "n/a"
    )
    jv, it = report["jvp"], report["art_rl_iteration"]
    unit = UnitCosts(
        image_nfe=report["sampling"]["s_per_image_nfe"],
        drift_q=jv["drift_and_q_s"] / jv["batch"],
        drift_q_heun=jv["drift_q_heun_s"] / jv["batch"],
        log_step=it["log_clock_step_s"],
    )
    report["projection"] = project_gpu_hours(block, unit, dataset=a.dataset)
    report["projection_core_only"] = project_gpu_hours(
        block, unit, dataset=a.dataset, core_only=True
    )
    report["step_seconds"] = dict(step.seconds)
    report["seconds_total"] = time.perf_counter() - t_start
    if not a.keep_network:
        path.unlink(missing_ok=True)
        report["network"]["deleted"] = True
    write_json(out / "smoke.json", report)
    _print_summary(report)
    print(f"\nsmoke check passed in {report['seconds_total']:.1f} s -> {out / 'smoke.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
