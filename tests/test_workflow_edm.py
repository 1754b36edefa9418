"""The EDM image chain through the same rules as CIFAR-10, offline, on CPU.

A test-made pickle in EDM's exact format stands in for NVIDIA's network, a tiny TorchScript
module with the TF-Inception call signature ``model(x, return_features=True)`` for the
Inception file, and statistics of its features on random images for EDM's reference npz.
ART-RL (one job per K), sharded sampling and FID then run through the workflow with the test
config; the table must carry every schedule at every K. The real CIFAR-10 targets are checked
by dry runs (one ART-RL job per K, one sampling job per shard, one FID job per cell), and the
download rule's offline failure by a real run against a closed port.
"""

from __future__ import annotations

import csv
import hashlib
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from edm_format import write_tiny_edm_pickle
from test_workflow import REPO, _config, _env

pytestmark = pytest.mark.skipif(
    subprocess.run([sys.executable, "-c", "import snakemake"]).returncode != 0,
    reason="snakemake is not installed",
)


class TinyInception(torch.nn.Module):
    """Same call as clean-fid's TorchScript Inception: float [N, 3, H, W] in [0, 255] → features."""

    def forward(self, x: torch.Tensor, return_features: bool = True) -> torch.Tensor:
        x = x / 255.0
        pooled = torch.nn.functional.adaptive_avg_pool2d(x, 2).flatten(1)  # 12
        return torch.cat([pooled, x.flatten(1).std(dim=1, keepdim=True)], dim=1)  # 13


def _snakemake(args, work: Path, cfg_file: Path, timeout: int = 900, profile: str = "none"):
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
         "--directory", str(work), "--configfile", str(cfg_file), "--workflow-profile", profile,
         *args],
        cwd=REPO, capture_output=True, text=True, timeout=timeout, env=_env(),
    )  # fmt: skip


@pytest.fixture(scope="module")
def tiny_edm(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_edm")
    pkl = write_tiny_edm_pickle(root / "tiny-edm-cond.pkl", label_dim=10, resolution=8)
    digest = hashlib.sha256(pkl.read_bytes()).hexdigest()
    inc = root / "tiny-inception.pt"
    torch.jit.script(TinyInception()).save(str(inc))
    rng = np.random.default_rng(0)
    imgs = torch.as_tensor(rng.integers(0, 256, (256, 3, 8, 8)), dtype=torch.float32)
    feats = TinyInception()(imgs).double().numpy()
    ref = root / "ref.npz"
    np.savez(ref, mu=feats.mean(0), sigma=np.cov(feats, rowvar=False))
    cfg = _config("cifar10")  # the real CIFAR-10 block, shrunk: same rules, same keys
    c = cfg["datasets"].pop("cifar10")
    c["model"] = {"type": "edm", "path": str(pkl), "sha256": [digest]}
    c["solvers"] = {"heun": [2, 3]}
    c.pop("tables")
    c["schedules"] = {k: c["schedules"][k] for k in ("uniform", "edm", "art_rl")}
    c["art"] = dict(  # the default clock, with a tiny budget and bank of paths
        iterations=4, batch=4, hidden=16, checkpoint_every=2, critic_warmup=1,
        distill_trajectories=16, bank_paths=8, bank_points=16,
    )  # fmt: skip
    c["fid"] = {
        "features": "inception",
        "inception_path": str(inc),
        "inception_sha256": [hashlib.sha256(inc.read_bytes()).hexdigest()],
        "ref": str(ref),
        "samples": 20,
        "shard_size": 10,
        "batch": 10,
        "blocks": 2,
    }
    cfg["datasets"]["tinyedm"] = c
    cfg["allow_cpu"] = True  # an EDM data set on a machine without CUDA: explicitly allowed
    cfg_file = root / "tiny_edm.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False))
    work = root / "work"
    work.mkdir()
    return work, cfg_file


def test_tiny_edm_chain_runs_through_the_cifar10_rules(tiny_edm):
    work, cfg_file = tiny_edm
    target = "results/tables/tinyedm_fid.csv"
    dry = _snakemake(["-n", "--cores", "1", target], work, cfg_file)
    assert dry.returncode == 0, dry.stderr[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", dry.stdout, re.M))
    # one ART-RL job per K, one sampling job per (schedule, K, shard), one FID job per cell
    assert (counts["art_train"], counts["sample_shard"], counts["fid_cell"]) == ("2", "12", "6")
    assert "download" not in counts  # local files: nothing to fetch
    r = _snakemake(["--cores", "2", "--show-failed-logs", target], work, cfg_file)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    rows = list(csv.DictReader((work / target).open()))
    assert [row["name"] for row in rows] == ["uniform", "edm", "art_rl"]
    for row in rows:
        for col in ("fid_NFE3", "fid_NFE5"):
            assert math.isfinite(float(row[col])) and float(row[col]) > 0, row
    fid = yaml.safe_load((work / "results/fid/tinyedm/heun/art_rl/K3.json").read_text())
    assert fid["features"] == "inception" and fid["n_images"] == 20 and fid["feat_dim"] == 13
    assert len(fid["fid_blocks"]["fids"]) == 2  # two disjoint seed blocks of 10


def test_tiny_edm_chain_with_two_replicates_reports_mean_and_spread(tiny_edm):
    """Issue 16: `replicates: 2` trains ART-RL again with the second replicate's seed, samples
    the disjoint seeds 20-39 and writes mean, sample std and n_replicates into the table."""
    work, cfg_file = tiny_edm
    target = "results/tables/tinyedm_fid.csv"
    args = ["--cores", "2", "--show-failed-logs", target, "--config", "replicates=2"]
    r = _snakemake(args, work, cfg_file)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    rows = list(csv.DictReader((work / target).open()))
    assert [row["name"] for row in rows] == ["uniform", "edm", "art_rl"]
    cells = {}
    for rep in ("", "rep1/"):
        path = work / f"results/{rep}fid/tinyedm/heun/art_rl/K3.json"
        cells[rep] = yaml.safe_load(path.read_text())
    assert (cells[""]["replicate"], cells["rep1/"]["replicate"]) == (0, 1)
    assert (cells[""]["seed_min"], cells["rep1/"]["seed_min"]) == (0, 20)
    assert cells["rep1/"]["replicate_seed"] - cells[""]["replicate_seed"] == 1_000_000
    sched = yaml.safe_load((work / "results/rep1/schedules/tinyedm/art_rl/K3.json").read_text())
    assert sched["seed"] == cells["rep1/"]["replicate_seed"]
    # each replicate's cell value is the mean of its two seed blocks (FidRecord.fid)
    fids = [sum(cells[rep]["fid_blocks"]["fids"]) / 2 for rep in ("", "rep1/")]
    for row in rows:
        assert row["n_replicates"] == "2"
    art = rows[2]
    assert float(art["fid_NFE5"]) == pytest.approx(sum(fids) / 2, rel=1e-6)
    assert float(art["fid_sd_NFE5"]) == pytest.approx(abs(fids[0] - fids[1]) / 2**0.5, rel=1e-6)


@pytest.mark.parametrize(
    "target,extras,art,shards,cells",
    [
        ("results/tables/cifar10_fid.csv", False, 6, 240, 24),
        ("results/tables/cifar10_euler_fid.csv", False, 8, 320, 32),
        ("results/tables/cifar10_resampled_fid.csv", False, 1, 240, 24),
        ("results/tables/afhqv2_fid.csv", False, 6, 240, 24),
        # every method (gpu_extras): 13 rows; the ART-RL variants trained once, at K = 18
        ("results/tables/cifar10_fid.csv", True, 6 + 3, 780, 78),
        ("results/tables/cifar10_euler_fid.csv", True, 8 + 3, 1040, 104),
    ],
)
def test_cifar10_targets_dry_run_with_the_gpu_profile(tmp_path, target, extras, art, shards, cells):
    """The paper's targets with the gpu profile on this CPU-only machine: the paper's four rows
    by default, the competing methods with gpu_extras; ART-RL per K (the resampled table: only
    K = 18), 10 shards of 5,000 seeds per cell, one FID job per cell, downloads as local jobs;
    every job that evaluates a network (GITS and LD3 included) runs with --device cuda."""
    cfg = _config()
    cfg["gpu_extras"] = extras
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False))
    (tmp_path / "w").mkdir()
    gpu = str(REPO / "workflow/profiles/gpu")
    r = _snakemake(["-n", "-p", "--cores", "1", target], tmp_path / "w", cfg_file, 300, gpu)
    assert r.returncode == 0, r.stderr[-3000:]
    counts = {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", r.stdout, re.M)}
    assert counts["art_train"] == art
    assert (counts["sample_shard"], counts["fid_cell"]) == (shards, cells)
    assert counts["download"] >= 3  # pickle, Inception, reference statistics
    if "resampled" in target or not extras:  # the paper's schedules only: no methods
        assert "gits_costs" not in counts and "method_schedule" not in counts
        assert cells == 4 * (cells // 4)  # Uniform, EDM, DPM, ART-RL
    elif target.startswith("results/tables/cifar10_"):
        n_K = cells // 13
        assert counts["gits_costs"] == 1  # one cost matrix for the table's solver
        assert counts["method_schedule"] == 3 * n_K  # GITS, DMN, LD3 at every K
        assert counts["art_q_profile"] == 1
    network = ("art_train", "art_q_profile", "gits_costs", "method_schedule", "sample_shard",
               "fid_cell")  # fmt: skip
    cmds = [ln for ln in r.stdout.splitlines() if "python -m artrl" in ln and "--device" in ln]
    assert len(cmds) == sum(counts.get(k, 0) for k in network)
    assert all("--device cuda " in c for c in cmds), [c for c in cmds if "--device cuda" not in c]


def test_the_paper_command_without_a_gpu_stops_before_any_job_and_names_the_gpu_profile(tmp_path):
    """`snakemake --cores all results/tables/cifar10_fid.csv` on this CPU-only machine, no
    profile: one message, no job run (nothing downloaded, no results)."""
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(yaml.safe_dump(_config(), allow_unicode=True, sort_keys=False))
    work = tmp_path / "w"
    work.mkdir()
    r = _snakemake(["--cores", "all", "results/tables/cifar10_fid.csv"], work, cfg_file, 300)
    assert r.returncode != 0
    err = r.stdout + r.stderr
    assert err.count("needs a GPU") == 1, err[-3000:]
    assert "--workflow-profile workflow/profiles/gpu" in err and "allow_cpu=True" in err
    assert not (work / "results").exists() and not (work / "resources").exists()


def _fetch_model(tmp_path: Path, cfg: dict):
    """Run the download rule for cifar10's model path under ``cfg`` in a fresh work folder."""
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False))
    work = tmp_path / "w"
    work.mkdir()
    target = cfg["datasets"]["cifar10"]["model"]["path"]
    return _snakemake(["--cores", "1", target], work, cfg_file, timeout=300), work


def test_download_rule_offline_names_url_and_key(tmp_path):
    cfg = _config("cifar10")
    c = cfg["datasets"]["cifar10"]
    url = "http://127.0.0.1:9/edm-cifar10-32x32-cond-vp.pkl"  # discard port: refused
    c["model"]["url"] = url
    r, work = _fetch_model(tmp_path, cfg)
    assert r.returncode != 0
    log = work / "results/logs/download" / (c["model"]["path"][len("resources/") :] + ".log")
    text = log.read_text()
    assert url in text and "datasets.cifar10.model.path" in text, text
    assert not (work / c["model"]["path"]).exists()
