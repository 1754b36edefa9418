"""Every tensor on the model's device: ART-RL's update and resume, the q-profile and a sampling
shard run under a guard that fails on any tensor factory or generator made by artrl without the
model's device (tests/device_guard.py); EDM's latents seed for seed; checkpoints with CUDA
device tags resume on the CPU; one GPU per job on a node with several."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from device_guard import ARTRL_SRC, DeviceGuard
from edm_format import write_tiny_edm_pickle

from artrl.art.analytic import fine_grid, q_profile
from artrl.art.train import make_trainer
from artrl.device import DeviceError, claim_gpu, generator, model_device, resolve_device
from artrl.models import build
from artrl.models.edm import file_sha256
from artrl.sample import generate, seed_latents
from artrl.schedules import edm


@pytest.fixture(scope="module")
def edm_pickle(tmp_path_factory):
    """A tiny class-conditional network in EDM's pickle format (3×8×8, 10 classes)."""
    path = write_tiny_edm_pickle(tmp_path_factory.mktemp("edm") / "net.pkl", label_dim=10)
    return {"type": "edm", "path": str(path), "sha256": file_sha256(path)}


def test_the_guard_catches_a_factory_without_device():
    code = compile("import torch\ntorch.zeros(3)\n", f"{ARTRL_SRC}/fake.py", "exec")
    with pytest.raises(AssertionError, match="fake.py:2: torch.zeros without device="):
        with DeviceGuard("cpu"):
            exec(code, {})
    code = compile("import torch\ntorch.Generator().manual_seed(1)\n", f"{ARTRL_SRC}/g.py", "exec")
    with pytest.raises(AssertionError, match="g.py:2: torch.Generator without device="):
        with DeviceGuard("cpu"):
            exec(code, {})
    ok = compile("import torch\ntorch.Generator(device='cpu')\n", f"{ARTRL_SRC}/g.py", "exec")
    with DeviceGuard("cpu") as guard:
        exec(ok, {})
        torch.zeros(2)  # made by this test, not by artrl: not checked
    assert guard.violations == [] and torch.Generator.__name__ == "Generator"


def _edm_dcfg(model, clock):
    art = {"clock": clock, "iterations": 4, "batch": 4, "hidden": 16, "checkpoint_every": 2}
    if clock == "log":
        art.update(distill_frac=0.5, bank_paths=8, bank_points=16)
    else:
        art.update(features="summary", distill_trajectories=8, td_lambda=0.5)
    return {"model": model, "sigma_max": 80.0, "art": art,
            "analytic": {"convention": "code", "sigma_min": 0.002}}  # fmt: skip


@pytest.mark.parametrize("clock", ["log", "sigma"])
def test_art_rl_update_and_resume_make_every_tensor_on_the_model_device(
    edm_pickle, tmp_path, clock
):
    dcfg = _edm_dcfg(edm_pickle, clock)
    ckpt = tmp_path / "ckpt.pt"
    with DeviceGuard("cpu"):
        tr = make_trainer(dcfg, K=3, seed=0, device="cpu")
        tr.train(ckpt, stop_after=2, progress=False, log=lambda s: None)
        again = make_trainer(dcfg, K=3, seed=0, device="cpu")
        again.train(ckpt, progress=False, log=lambda s: None)
    assert again.iteration == 4
    whole = make_trainer(dcfg, K=3, seed=0, device="cpu")
    whole.train(None, progress=False, log=lambda s: None)
    for a, b in zip(whole.actor.parameters(), again.actor.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)  # the resume is the same run


def test_q_profile_and_a_sampling_shard_make_every_tensor_on_the_model_device(edm_pickle):
    b = build(edm_pickle, 80.0, "cpu")
    assert model_device(b.D) == torch.device("cpu")
    with DeviceGuard("cpu"):
        q = q_profile(b.D, fine_grid(80.0, 6, "edm"), b.prior, 4, T=80.0, labels=b.labels)
        imgs, _, calls = generate(
            b.D, b.D.fit_grid(edm(3, 80.0, 0.002, convention="code")), range(0, 5),
            shape=b.data_shape, solver="heun", batch=4, n_classes=b.n_classes, device="cpu",
        )  # fmt: skip
    assert np.isfinite(q).all() and imgs.shape == (5, 8, 8, 3) and calls == 5


class _StackedRandomGenerator:
    """A transcription of the logic of NVlabs/edm ``generate.py``'s StackedRandomGenerator and
    of how its main loop draws latents and labels (written here, not copied)."""

    def __init__(self, device, seeds):
        self.gens = [torch.Generator(device).manual_seed(int(s) % (1 << 32)) for s in seeds]

    def randn(self, size, **kw):
        return torch.stack([torch.randn(size[1:], generator=g, **kw) for g in self.gens])

    def randint(self, *args, size, **kw):
        return torch.stack(
            [torch.randint(*args, size=size[1:], generator=g, **kw) for g in self.gens]
        )


@pytest.mark.parametrize("label_dim", [0, 10])
def test_latents_and_labels_are_edms_seed_for_seed(label_dim):
    seeds = [0, 1, 2, 7, 49_999, (1 << 32) + 5]
    rnd = _StackedRandomGenerator("cpu", seeds)
    latents = rnd.randn([len(seeds), 3, 8, 8], device="cpu")
    labels = None
    if label_dim:
        labels = torch.eye(label_dim)[rnd.randint(label_dim, size=[len(seeds)], device="cpu")]
    x, lab = seed_latents(seeds, (3, 8, 8), label_dim, "cpu")
    assert x.dtype == torch.float64
    torch.testing.assert_close(x, latents.to(torch.float64), rtol=0, atol=0)
    if label_dim:
        torch.testing.assert_close(lab, labels.to(torch.float64), rtol=0, atol=0)
    else:
        assert lab is None


def _save_with_cuda_tags(obj, path):
    """torch.save as on a GPU node: every storage tagged 'cuda:0' (the tag torch.load maps)."""
    from torch import serialization

    orig = serialization.location_tag
    serialization.location_tag = lambda storage: "cuda:0"
    try:
        torch.save(obj, path)
    finally:
        serialization.location_tag = orig


def test_a_checkpoint_with_cuda_device_tags_resumes_on_the_cpu(edm_pickle, tmp_path, capsys):
    dcfg = _edm_dcfg(edm_pickle, "log")
    tr = make_trainer(dcfg, K=3, seed=0, device="cpu")
    tr.train(None, stop_after=2, progress=False, log=lambda s: None)
    sd = tr.state_dict()
    with pytest.raises(RuntimeError, match="CUDA"):  # the tags are real: torch refuses by default
        _save_with_cuda_tags(sd, tmp_path / "probe.pt")
        torch.load(tmp_path / "probe.pt", weights_only=True)
    _save_with_cuda_tags(sd, tmp_path / "same.pt")
    a = make_trainer(dcfg, K=3, seed=0, device="cpu")
    a.load_checkpoint(tmp_path / "same.pt")
    assert a.iteration == 2 and capsys.readouterr().err == ""  # the CPU stream continues
    a.train(None, progress=False, log=lambda s: None)
    ref = make_trainer(dcfg, K=3, seed=0, device="cpu")
    ref.train(None, progress=False, log=lambda s: None)
    torch.testing.assert_close(a.actor.net[-1].weight, ref.actor.net[-1].weight, rtol=0, atol=0)
    # a CUDA generator's state (Philox: 16 bytes) cannot continue a CPU stream: reseeded, said
    sd_gpu = {**sd, "generator": torch.zeros(16, dtype=torch.uint8), "generator_device": "cuda"}
    _save_with_cuda_tags(sd_gpu, tmp_path / "gpu.pt")
    b = make_trainer(dcfg, K=3, seed=0, device="cpu")
    b.load_checkpoint(tmp_path / "gpu.pt")
    err = capsys.readouterr().err
    assert b.iteration == 2 and "saved on cuda, this run is on cpu" in err and "reseeded" in err
    b.train(None, progress=False, log=lambda s: None)
    assert b.iteration == 4


def test_each_process_claims_its_own_gpu(tmp_path):
    """A fake list of 3 GPUs: three processes take cards 0, 1, 2; a fourth waits and says why."""
    script = (
        "import sys, time; from artrl.device import claim_gpu; "
        f"print(claim_gpu(3, {str(tmp_path)!r}), flush=True); time.sleep(30)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              env=env) for _ in range(3)]  # fmt: skip
    try:
        got = sorted(int(p.stdout.readline()) for p in procs)
        assert got == [0, 1, 2]
        with pytest.raises(DeviceError, match="all 3 GPUs are held.*--resources gpu=3"):
            claim_gpu(3, tmp_path, wait_s=0.2, poll_s=0.05)
    finally:
        for p in procs:
            p.kill()
            p.wait()
    assert claim_gpu(3, tmp_path, wait_s=5) in (0, 1, 2)  # released when a process ends


def test_cuda_stops_without_cuda_and_claims_a_card_with_several(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="CUDA is not available.*gpu or slurm profile"):
        resolve_device("cuda", claim=True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setenv("ARTRL_GPU_LOCK_DIR", str(tmp_path))
    monkeypatch.setattr("artrl.device._claimed", {})
    dev = resolve_device("cuda", claim=True)
    assert dev.type == "cuda" and dev.index == 0 and (tmp_path / "gpu0.lock").exists()
    assert resolve_device("auto", claim=True) == dev  # one process keeps its card
    assert resolve_device("cuda") == torch.device("cuda")  # no claim: the first visible card


def test_generator_follows_the_model():
    g = generator((1 << 32) + 3, "cpu")
    torch.testing.assert_close(
        torch.randn(4, generator=g), torch.randn(4, generator=torch.Generator().manual_seed(3))
    )
    lin = torch.nn.Linear(2, 2)
    assert model_device(lin) == torch.device("cpu")
    assert model_device(lambda x: x) == torch.device("cpu")
