"""Preemption: the long-running commands, killed (SIGKILL) or stopped (SIGTERM, what SLURM sends
at a time limit) part way and rerun with the same command, end with the same outputs as an
uninterrupted run. Each command runs as a real subprocess, on the CPU, with a fixed seed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

ENV = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")

# ART-RL on the 1-D Gaussian: ~2 s of training, a checkpoint every 50 of 300 iterations
ART_CFG = {
    "model": {"type": "gaussian", "std": 1.0, "dim": 1},
    "sigma_max": 3.0,
    "art": {
        "iterations": 300,
        "checkpoint_every": 50,
        "batch": 16,
        "hidden": 16,
        "distill_trajectories": 64,
        "lr_actor": 1e-3,
        "lr_critic": 1e-3,
        "lr_gamma": 1e-2,
    },
}


def _art_cmd(out_dir: Path) -> list[str]:
    return [sys.executable, "-m", "artrl.art.train", "--dataset-config", json.dumps(ART_CFG),
            "--K", "5", "--seed", "0", "--threads", "1", "--no-progress",
            "--out-dir", str(out_dir)]  # fmt: skip


def _score_cmd(out: Path) -> list[str]:
    return [sys.executable, "-m", "artrl.models.train_score", "--steps", "200", "--batch", "16",
            "--channels", "8", "--num-blocks", "1", "--warmup-steps", "5",
            "--checkpoint-every", "10", "--seed", "0", "--threads", "1", "--no-progress",
            "--out", str(out)]  # fmt: skip


def _run(cmd: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def _start(cmd: list[str], cwd: Path, log: Path) -> subprocess.Popen:
    """Start ``cmd`` in the background, its stdout and stderr to ``log``."""
    with open(log, "w") as f:
        return subprocess.Popen(cmd, cwd=cwd, env=ENV, stdout=f, stderr=subprocess.STDOUT)


def _wait_for(proc: subprocess.Popen, ready, what: str, timeout: float = 90) -> None:
    """Poll until ``ready()``; fail (killing the process) on timeout or an early exit."""
    end = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            raise AssertionError(f"the process ended (rc {proc.returncode}) before {what}")
        if time.monotonic() > end:
            proc.kill()
            proc.wait()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def _stop(proc: subprocess.Popen, sig: int) -> int:
    proc.send_signal(sig)
    return proc.wait(timeout=60)


def _temp_files(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.tmp"))


@pytest.fixture(scope="module")
def art_reference(tmp_path_factory) -> Path:
    """An uninterrupted ART-RL run."""
    out = tmp_path_factory.mktemp("art_ref") / "out"
    _run(_art_cmd(out), out.parent)
    return out


def _assert_same_art_outputs(a: Path, b: Path) -> None:
    za, zb = np.load(a / "rollouts.npz"), np.load(b / "rollouts.npz")
    assert sorted(za.files) == sorted(zb.files)
    for key in za.files:
        np.testing.assert_array_equal(za[key], zb[key], err_msg=key)  # bit-identical
    assert (a / "train_log.csv").read_text() == (b / "train_log.csv").read_text()
    # and the files themselves (npz members carry no timestamps)
    assert (a / "rollouts.npz").read_bytes() == (b / "rollouts.npz").read_bytes()


def test_art_train_sigkill_then_rerun_equals_uninterrupted(tmp_path, art_reference):
    out = tmp_path / "out"
    ckpt = out / "checkpoint.pt"
    proc = _start(_art_cmd(out), tmp_path, tmp_path / "err.log")
    _wait_for(proc, ckpt.exists, "the first checkpoint")
    assert _stop(proc, signal.SIGKILL) == -signal.SIGKILL
    # killed part way: a checkpoint, no results
    it = torch.load(ckpt, weights_only=True)["iteration"]
    assert 0 < it < ART_CFG["art"]["iterations"]
    assert not (out / "rollouts.npz").exists() and not (out / "train_log.csv").exists()
    r = _run(_art_cmd(out), tmp_path)
    assert "resumed from" in r.stdout + r.stderr
    _assert_same_art_outputs(art_reference, out)
    assert _temp_files(out) == []


def test_art_train_sigterm_checkpoints_and_exits_143(tmp_path, art_reference):
    out = tmp_path / "out"
    ckpt = out / "checkpoint.pt"
    proc = _start(_art_cmd(out), tmp_path, tmp_path / "err.log")
    _wait_for(proc, ckpt.exists, "the first checkpoint")
    assert _stop(proc, signal.SIGTERM) == 143, (tmp_path / "err.log").read_text()
    it = torch.load(ckpt, weights_only=True)["iteration"]
    assert 0 < it < ART_CFG["art"]["iterations"]
    assert "SIGTERM" in (tmp_path / "err.log").read_text()
    assert not (out / "rollouts.npz").exists()
    _run(_art_cmd(out), tmp_path)
    _assert_same_art_outputs(art_reference, out)


def test_score_model_sigkill_then_rerun_equals_uninterrupted(tmp_path):
    ref = tmp_path / "ref" / "model.pt"
    ref.parent.mkdir()
    _run(_score_cmd(ref), ref.parent)

    out = tmp_path / "run" / "model.pt"
    out.parent.mkdir()
    ckpt = out.with_name("model.pt.ckpt")
    proc = _start(_score_cmd(out), out.parent, tmp_path / "err.log")
    _wait_for(proc, ckpt.exists, "the first checkpoint")
    assert _stop(proc, signal.SIGKILL) == -signal.SIGKILL
    step = torch.load(ckpt, weights_only=True)["step"]
    assert 0 < step < 200 and not out.exists()
    r = _run(_score_cmd(out), out.parent)
    assert "resumed from" in r.stderr

    a, b = torch.load(ref, weights_only=True), torch.load(out, weights_only=True)
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key  # bit-identical weights
    assert a["meta"] == b["meta"]
    assert ref.read_bytes() == out.read_bytes()  # the same file
    # the wall time is only in the sidecar JSON
    assert "wall_seconds" in json.loads(out.with_name("model.pt.json").read_text())
    assert _temp_files(out.parent) == []


def test_sample_shard_sigkill_leaves_nothing_and_rerun_is_identical(tmp_path, tiny_model):
    from artrl.schedules import Schedule, edm

    sched = Schedule(edm(10, 80.0, 0.002, convention="code"), "edm", "digits", 10)
    sp = sched.save(tmp_path / "K10.json")
    dcfg = json.dumps({"model": {"type": "unet", "path": str(tiny_model)}, "sigma_max": 80.0})

    def cmd(out: Path, progress: bool = False) -> list[str]:
        quiet = [] if progress else ["--no-progress"]
        return [sys.executable, "-m", "artrl.sample", "--dataset-config", dcfg,
                "--schedule", str(sp), "--solver", "heun", "--seeds", "0-399", "--batch", "8",
                "--threads", "1", *quiet, "--out", str(out)]  # fmt: skip

    ref = tmp_path / "ref" / "seeds0-399.npz"
    _run(cmd(ref), tmp_path)

    out = tmp_path / "run" / "seeds0-399.npz"
    out.parent.mkdir()
    err = tmp_path / "err.log"
    proc = _start(cmd(out, progress=True), tmp_path, err)
    # the progress bar is drawn when the first batch starts: the job is generating images
    _wait_for(proc, lambda: "batches:" in err.read_text(), "the sampling loop")
    time.sleep(0.3)
    assert _stop(proc, signal.SIGKILL) == -signal.SIGKILL
    assert not out.exists()  # nothing that looks like a finished shard
    # a temporary file of a write killed half way (simulated) is never taken as the output
    torn = out.parent / f".{out.name}.torn.tmp"
    torn.write_bytes(ref.read_bytes()[:100])
    _run(cmd(out), tmp_path)
    assert out.read_bytes() == ref.read_bytes()
    z = np.load(out)
    assert z["images"].shape == (400, 8, 8, 1)
    np.testing.assert_array_equal(z["seeds"], np.arange(400))
    assert _temp_files(out.parent) == [torn]  # the rerun left no temporary file of its own
