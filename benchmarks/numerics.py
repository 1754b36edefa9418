"""Benchmark: why two machines give different digits numbers (issue 16), not a test.

Trains the digits score model (``python -m artrl.models.train_score``, the workflow's command)
under several numerics settings, each in its own process so that the environment variables
take effect: torch's intra-op thread count (``--threads``), oneDNN's instruction set
(``ONEDNN_MAX_CPU_ISA``, the convolution kernels) and ATen's CPU dispatch level
(``ATEN_CPU_CAPABILITY``, the elementwise and reduction kernels). For each it prints the
sha256 of the weights (the state dict's tensor bytes, not the file, whose metadata records the
settings), the largest weight difference from the first setting and the wall time. With
``--fid`` it then samples ``--samples`` images of each model with EDM's schedule (ρ = 7,
σ ∈ [0.002, 80]) and Heun at each ``--K`` and measures the digits-FID, so the FID movement a
numerics setting causes can be compared with the replicate spread of the tables.

    .venv/bin/python benchmarks/numerics.py --steps 150                  # bytes and time
    .venv/bin/python benchmarks/numerics.py --fid --classifier results/fid/digits/classifier.pt \\
        --ref results/fid/digits/ref_stats.npz --out results/benchmarks/numerics.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from artrl.io import write_json
from artrl.models.unet import load_model

# (label, --threads, extra environment)
SETTINGS = [
    ("threads 2", 2, {}),
    ("threads 1", 1, {}),
    ("threads 2, oneDNN AVX2", 2, {"ONEDNN_MAX_CPU_ISA": "AVX2"}),
    ("threads 2, ATen avx2", 2, {"ATEN_CPU_CAPABILITY": "avx2"}),
    (
        "threads 2, oneDNN AVX2 + ATen avx2",
        2,
        {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"},
    ),
]


def _run(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"error: {' '.join(cmd)} failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return time.perf_counter() - t0


def _weights(path: Path) -> dict[str, np.ndarray]:
    model = load_model(path)
    return {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}


def _digest(w: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for k in sorted(w):
        h.update(k.encode())
        h.update(np.ascontiguousarray(w[k]).tobytes())
    return h.hexdigest()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--steps", type=int, default=None, help="training steps (default: the CLI's)")
    p.add_argument("--channels", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--settings", default="all", help="comma-separated indices into SETTINGS")
    p.add_argument("--fid", action="store_true", help="also sample and measure the digits-FID")
    p.add_argument("--classifier", default="results/fid/digits/classifier.pt")
    p.add_argument("--ref", default="results/fid/digits/ref_stats.npz")
    p.add_argument("--K", default="3,5", help="Heun step budgets (NFE 2K - 1)")
    p.add_argument("--samples", type=int, default=5000)
    p.add_argument("--workdir", default=None, help="where models and shards go (default: tmp)")
    p.add_argument("--out", default=None, help="optional JSON summary file")
    a = p.parse_args()
    chosen = SETTINGS if a.settings == "all" else [SETTINGS[int(i)] for i in a.settings.split(",")]
    work = Path(a.workdir or tempfile.mkdtemp(prefix="artrl-numerics-"))
    work.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    rows = []
    ref_w = None
    for i, (label, threads, env) in enumerate(chosen):
        model = work / f"model{i}.pt"
        cmd = [py, "-m", "artrl.models.train_score", "--dataset", "digits", "--resolution", "8",
               "--channels", str(a.channels), "--seed", str(a.seed), "--threads", str(threads),
               "--no-progress", "--out", str(model)]  # fmt: skip
        if a.steps:
            cmd += ["--steps", str(a.steps)]
        wall = _run(cmd, env)
        w = _weights(model)
        ref_w = ref_w or w
        diff = max(float(np.max(np.abs(w[k] - ref_w[k]))) for k in w)
        meta = json.loads(Path(f"{model}.json").read_text())
        row = {
            "setting": label,
            "threads": threads,
            "env": env,
            "weights_sha256": _digest(w),
            "max_abs_diff_vs_first": diff,
            "train_wall_s": round(wall, 2),
            "numerics": meta.get("numerics"),
        }
        if a.fid:
            row["fid"] = {}
            for K in (int(k) for k in a.K.split(",")):
                sched = work / f"edm_K{K}.json"
                if not sched.exists():
                    _run([py, "-m", "artrl.schedules", "--method", "edm", "--K", str(K),
                          "--sigma-max", "80", "--sigma-min", "0.002", "--rho", "7",
                          "--convention", "code", "--dataset", "digits", "--out", str(sched)],
                         {})  # fmt: skip
                shard = work / f"model{i}_K{K}.npz"
                dcfg = json.dumps({"model": {"type": "unet", "path": str(model)}, "sigma_max": 80})
                t = _run([py, "-m", "artrl.sample", "--dataset-config", dcfg, "--schedule",
                          str(sched), "--solver", "heun", "--seeds", f"0-{a.samples - 1}",
                          "--batch", "250", "--threads", "1", "--no-progress", "--out",
                          str(shard)], {})  # fmt: skip
                fid_json = work / f"model{i}_K{K}_fid.json"
                _run([py, "-m", "artrl.metrics.fid", "--shards", str(shard), "--ref", a.ref,
                      "--classifier", a.classifier, "--out", str(fid_json)], {})  # fmt: skip
                fid = json.loads(fid_json.read_text())["fid"]
                row["fid"][f"NFE{2 * K - 1}"] = fid
                print(f"  {label}: Heun K={K} FID {fid:.4f} (sampling {t:.0f} s)", flush=True)
        rows.append(row)
        print(
            f"{label}: weights {row['weights_sha256'][:16]}, max |Δw| {diff:.3g}, "
            f"{wall:.1f} s, cpu_capability {meta.get('numerics', {}).get('cpu_capability')}",
            flush=True,
        )
    summary = {
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "steps": a.steps,
        "channels": a.channels,
        "rows": rows,
    }
    if a.out:
        write_json(a.out, summary)


if __name__ == "__main__":
    main()
