"""``python -m artrl.sample``: generate one shard of images for a (schedule, solver) cell.

Seeds follow NVlabs/edm ``generate.py``: one ``torch.Generator`` per image seed on the model's
device; the float32 latent is drawn first, then (for class-conditional models) the class label
from the same generator; x_T = latent · σ_0 in float64 (:func:`seed_latents`). Images go out
as uint8 NHWC with EDM's rounding.

Batches are fixed blocks of absolute seeds (seed // batch), so a shard whose bounds are
multiples of ``--batch`` runs exactly the batches an unsharded run would: the images are the
same whichever way the seeds are split into shards.

A shard is written atomically (a temporary file renamed into place) and holds no timings, so a
job killed at any point leaves no output, and its rerun writes the same bytes as an
uninterrupted run. Its ``meta`` records the numerics it was computed with (``numerics``:
:func:`artrl.device.numerics_record`, ``--threads`` default 1); shards written before that key
existed are read as before.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from artrl.art.state_sampler import StatePolicy, load_policy, sample_state
from artrl.device import (
    DEVICE_HELP,
    device_arg,
    generator,
    numerics_record,
    set_threads,
    threads_arg,
)
from artrl.io import InputError, file_sha256, run_cli, write_npz
from artrl.schedules import load_for_slot, parse_expect
from artrl.solvers import PER_SAMPLE_STEPS, SOLVERS, CountingDenoiser, nfe, sample

__all__ = ["seed_latents", "to_uint8_nhwc", "generate", "main"]


def seed_latents(
    seeds: list[int], shape: tuple[int, ...], n_classes: int = 0, device="cpu"
) -> tuple[Tensor, Tensor | None]:
    """EDM's latents and labels for ``seeds``: latents [B, *shape] (float64) and one-hot labels
    [B, n_classes] (float64; None for an unconditional model).

    As NVlabs/edm ``generate.py`` (its ``StackedRandomGenerator``): one generator per seed on
    ``device``, seeded with seed mod 2³²; each draws its float32 latent first, then (for a
    class-conditional model) its class with ``randint(n_classes, size=[])``. The latent is
    widened to float64 afterwards, as EDM's sampler does (``latents.to(torch.float64)``), so
    the same seed on the same device gives EDM's image.
    """
    device = torch.device(device)
    gens = [generator(s, device) for s in seeds]
    x = torch.stack([torch.randn(shape, generator=g, device=device) for g in gens])
    labels = None
    if n_classes > 0:
        idx = torch.stack(
            [torch.randint(n_classes, size=[], generator=g, device=device) for g in gens]
        )
        labels = torch.eye(n_classes, dtype=torch.float64, device=device)[idx]
    return x.to(torch.float64), labels


def to_uint8_nhwc(x: Tensor) -> np.ndarray:
    """[-1, 1] images [B, C, H, W] → uint8 [B, H, W, C] (EDM's ``x * 127.5 + 128`` rounding)."""
    u = (x * 127.5 + 128).clip(0, 255).to(torch.uint8)
    return u.permute(0, 2, 3, 1).cpu().numpy()


@torch.no_grad()
def generate(
    D,
    sigmas: np.ndarray,
    seeds: range,
    *,
    shape: tuple[int, ...],
    solver: str = "heun",
    batch: int = 256,
    n_classes: int = 0,
    device="cpu",
    progress: bool = False,
    policy: StatePolicy | None = None,
    grids: list[np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Images for ``seeds`` as (uint8 [N, H, W, C], seeds, denoiser calls per batch).

    With ``policy`` (issue 17) each image follows its own σ-grid, the state-dependent ART
    sampler's (:func:`artrl.art.state_sampler.sample_state`; ``sigmas`` is then unused but for
    σ_0); the per-image grids [B, K + 1] of each batch are appended to ``grids``, and the calls
    per batch count its NFE and its JVPs (one call each)."""
    counter = CountingDenoiser(D)
    out, calls = [], 0
    blocks = sorted({s // batch for s in seeds})
    it = blocks
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(blocks, desc="batches", mininterval=2)
    for b in it:
        bs = [s for s in range(b * batch, (b + 1) * batch) if s in seeds]
        z, labels = seed_latents(bs, shape, n_classes, device)
        counter.reset()
        if policy is None:
            x = sample(counter, z * float(sigmas[0]), sigmas, solver=solver, labels=labels)
        else:
            with torch.enable_grad():  # the features' |Q| is a JVP (reverse mode: a backward)
                x, g, _ = sample_state(counter, z * policy.clock.T, policy, solver, labels)
            if grids is not None:
                grids.append(g.cpu().numpy())
        calls = counter.calls
        out.append(to_uint8_nhwc(x))
    return np.concatenate(out), np.asarray(list(seeds), dtype=np.int64), calls


def _parse_seeds(text: str) -> range:
    try:
        lo, hi = (int(v) for v in text.split("-"))
    except ValueError:
        msg = f"seeds must look like 0-999 (inclusive), got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if hi < lo or lo < 0:
        raise argparse.ArgumentTypeError(f"empty or negative seed range {text!r}")
    return range(lo, hi + 1)


def _policy_for(path: str, schedule: str, sched, solver: str) -> StatePolicy:
    """The state policy at ``path``, refused unless it was written with ``schedule`` (its
    provenance holds that file's sha256, :mod:`artrl.art.distill`) for a solver it can run."""
    policy, prov = load_policy(path)
    if prov.get("schedule_sha256") != file_sha256(schedule):
        raise InputError(
            f"{path}: this policy was written with {prov.get('schedule', 'another schedule')}, "
            f"not with {schedule} (sha256 differs); make both with one python -m "
            "artrl.art.distill --out SCHEDULE --policy-out POLICY"
        )
    if policy.clock.K != sched.K or policy.clock.T != sched.sigma_max:
        raise InputError(f"{path}: policy K/T {policy.clock.K}/{policy.clock.T} != schedule's")
    if solver not in PER_SAMPLE_STEPS:
        raise InputError(
            f"--policy: the state-dependent sampler runs {sorted(PER_SAMPLE_STEPS)}, not {solver}"
        )
    return policy


def main(argv: list[str] | None = None) -> Path:
    from artrl.io import load_dataset_config
    from artrl.models import build

    p = argparse.ArgumentParser(
        prog="python -m artrl.sample",
        description="Generate one shard of uint8 images (npz: images NHWC, seeds) with a "
        "deterministic PF-ODE solver over a schedule's σ-grid.",
    )
    p.add_argument("--dataset-config", required=True, help="JSON string or file: dataset entry")
    p.add_argument("--schedule", required=True, help="schedule JSON")
    p.add_argument(
        "--expect",
        default=None,
        help="JSON object: what the schedule's slot expects of the file (dataset, K, "
        "sigma_max, config_digest); a file that differs is refused",
    )
    p.add_argument(
        "--policy",
        default=None,
        help="state-policy JSON (python -m artrl.art.distill --policy-out, written with "
        "--schedule): each image on the σ-grid the policy chooses at its own state (issue 17)",
    )
    p.add_argument("--solver", choices=list(SOLVERS), default="heun")
    p.add_argument("--seeds", type=_parse_seeds, required=True, help="inclusive range, e.g. 0-999")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--device", type=device_arg, default="cpu", help=DEVICE_HELP)
    threads_arg(p)
    p.add_argument("--out", required=True)
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    set_threads(a.threads)
    dcfg = load_dataset_config(a.dataset_config)
    sched = load_for_slot(a.schedule, parse_expect(a.expect))
    bundle = build(dcfg["model"], sched.sigma_max, a.device)
    sigmas = sched.sigmas
    fit = getattr(bundle.D, "fit_grid", None)  # EDM networks: their σ range and round_sigma
    if fit is not None:
        try:
            sigmas = fit(sigmas)
        except ValueError as e:
            raise InputError(f"{a.schedule}: {e}") from None
        if not np.array_equal(sigmas, sched.sigmas):
            print(f"σ-grid rounded by the network's round_sigma: {np.round(sigmas, 6).tolist()}")
    policy = None if a.policy is None else _policy_for(a.policy, a.schedule, sched, a.solver)
    grids: list[np.ndarray] = []
    t0 = time.perf_counter()
    images, seeds, calls = generate(
        bundle.D,
        sigmas,
        a.seeds,
        shape=bundle.data_shape,
        solver=a.solver,
        batch=a.batch,
        n_classes=bundle.n_classes,
        device=a.device,
        progress=not a.no_progress,
        policy=policy,
        grids=grids,
    )
    expect = nfe(a.solver, sched.K)
    extra: dict = {}
    if policy is not None:  # calls = NFE + one per JVP (K_l − 1 per image: artrl.art.state_sampler)
        extra = {"jvps": policy.K_l - 1, "actor_calls": policy.K_l - 1}
        calls -= extra["jvps"]
    if calls != expect:
        raise SystemExit(f"error: solver made {calls} denoiser calls per batch, expected {expect}")
    seconds = time.perf_counter() - t0
    # no timings in the shard: the same command always writes the same bytes (a rerun after a
    # kill included); the time goes to the log
    # what the FID cell checks against its own identity (artrl.metrics.fid): which schedule
    # file (its bytes' digest), made for which data set, K and config, by which solver
    meta = {
        "schedule": str(a.schedule),
        "schedule_sha256": file_sha256(a.schedule),
        "method": sched.method,
        "dataset": sched.dataset,
        "K": sched.K,
        "config_digest": sched.config_digest,
        "solver": a.solver,
        "nfe": calls,
        "seeds": [a.seeds.start, a.seeds.stop - 1],
        "numerics": numerics_record(),  # threads and CPU kernels the images were computed with
    }
    arrays = {"images": images, "seeds": seeds}
    if policy is not None:  # the per-image grids: the state-dependent sampler's own schedule
        g = np.concatenate(grids)
        meta |= extra | {
            "policy": str(a.policy),
            "policy_sha256": file_sha256(a.policy),
            "sigma_mean": g.mean(0).tolist(),
            "sigma_sd": g.std(0).tolist(),
        }
        arrays["sigmas"] = g
    write_npz(a.out, **arrays, meta=np.array(json.dumps(meta)))
    print(f"{len(seeds)} images, NFE {calls}, {seconds:.1f} s -> {a.out}")
    return Path(a.out)


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
