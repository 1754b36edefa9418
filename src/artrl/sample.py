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
from artrl.solvers import SOLVERS, CountingDenoiser, nfe, sample

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
) -> tuple[np.ndarray, np.ndarray, int]:
    """Images for ``seeds`` as (uint8 [N, H, W, C], seeds, denoiser calls per batch)."""
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
        x = sample(counter, z * float(sigmas[0]), sigmas, solver=solver, labels=labels)
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
    )
    expect = nfe(a.solver, sched.K)
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
    write_npz(a.out, images=images, seeds=seeds, meta=np.array(json.dumps(meta)))
    print(f"{len(seeds)} images, NFE {calls}, {seconds:.1f} s -> {a.out}")
    return Path(a.out)


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
