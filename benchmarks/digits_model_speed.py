"""Benchmark: the digits score model's speed on CPU, and the sampler's overhead, not a test.

Reports denoiser calls per second at ``--batch`` (float64 input, as the samplers pass it) and
the overhead of :func:`artrl.solvers.heun` on a K-step EDM grid (ρ = 7, σ ∈ [0.002, 80],
NFE = 2K − 1) over the same number of bare model calls at the same noise levels. The target is
an overhead under 3 %. Uses the trained model if ``--model`` is given (default
``results/models/digits/model.pt`` when it exists), else a freshly initialised one of the
default size of :mod:`artrl.models.train_score`.

    .venv/bin/python benchmarks/digits_model_speed.py [--model PATH] [--threads 2] [--out F]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from artrl.io import write_json
from artrl.models.train_score import TrainConfig
from artrl.models.unet import EDMPrecond, load_model, parameter_count
from artrl.schedules import edm
from artrl.solvers import CountingDenoiser, heun, nfe

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = ROOT / "results/models/digits/model.pt"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", default=None, help="model file (default: the trained one if any)")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--K", type=int, default=18)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5, help="timed repeats (median and min)")
    p.add_argument("--out", default=None, help="optional JSON summary file")
    a = p.parse_args()
    torch.set_num_threads(a.threads)

    path = Path(a.model) if a.model else (DEFAULT_MODEL if DEFAULT_MODEL.exists() else None)
    if path is not None:
        model, source = load_model(path), str(path)
    else:
        torch.manual_seed(0)
        model = EDMPrecond(**TrainConfig().model_kwargs()).eval().requires_grad_(False)
        source = "fresh (default size, untrained)"
    R = model.img_resolution
    sigmas = torch.as_tensor(edm(a.K, 80.0, 0.002, rho=7, convention="code"))
    # the noise levels heun evaluates: σ_0..σ_{K-1} and σ_1..σ_{K-1} again (corrector)
    levels = [s for i in range(a.K) for s in (sigmas[i], sigmas[i + 1]) if s > 0]
    levels = levels[: nfe("heun", a.K)]
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(a.batch, model.img_channels, R, R, generator=g, dtype=torch.float64) * 80

    def bare() -> float:
        x = x0.clone()
        t = time.perf_counter()
        with torch.no_grad():
            for s in levels:
                model(x, s, None)
        return time.perf_counter() - t

    counter = CountingDenoiser(model)

    def sampler() -> float:
        counter.reset()
        t = time.perf_counter()
        heun(counter, x0, sigmas)
        return time.perf_counter() - t

    bare(), sampler()  # warm-up (oneDNN primitive creation, allocator)
    t_bare, t_heun = [], []
    for _ in range(a.repeats):  # interleaved, so a load change hits both alike
        t_bare.append(bare())
        t_heun.append(sampler())
    assert counter.calls == len(levels), (counter.calls, len(levels))
    tb, th = statistics.median(t_bare), statistics.median(t_heun)
    summary = {
        "model": source,
        "parameter_count": parameter_count(model),
        "resolution": R,
        "batch": a.batch,
        "threads": a.threads,
        "K": a.K,
        "nfe": len(levels),
        "denoiser_calls_per_s": len(levels) / tb,
        "images_per_s_per_call": a.batch * len(levels) / tb,
        "bare_calls_s": tb,
        "heun_s": th,
        "heun_overhead_frac": th / tb - 1,
        "heun_overhead_frac_of_min": min(t_heun) / min(t_bare) - 1,
        "bare_calls_s_all": t_bare,
        "heun_s_all": t_heun,
    }
    print(json.dumps(summary, indent=2))
    if a.out:
        write_json(a.out, summary)


if __name__ == "__main__":
    main()
