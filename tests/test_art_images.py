"""ART-RL on an image model (summary features, Q by JVP through a U-Net) on tiny sizes."""

import json

import numpy as np
import pytest
import torch

from artrl.art.distill import main as distill_main
from artrl.art.train import main as train_main
from artrl.models import build
from artrl.schedules import Schedule


def test_build_unet_bundle(tiny_model):
    b = build({"type": "unet", "path": str(tiny_model)}, 80.0)
    assert b.data_shape == (1, 8, 8) and b.n_classes == 0 and b.labels is None
    x = b.prior(4, torch.Generator().manual_seed(0))
    assert x.dtype == torch.float64 and x.shape == (4, 1, 8, 8)
    assert 40 < float(x.std()) < 120  # x_T = 80 · N(0, I)


def test_art_rl_on_images_yields_valid_schedule(tiny_model, tmp_path):
    dcfg = {
        "model": {"type": "unet", "path": str(tiny_model)},
        "sigma_max": 80.0,
        "art": {"clock": "sigma", "features": "summary", "iterations": 6, "batch": 4, "hidden": 16,
                "checkpoint_every": 3, "distill_trajectories": 24},
    }  # fmt: skip
    out = tmp_path / "art"
    train_main(["--dataset-config", json.dumps(dcfg), "--K", "4", "--out-dir", str(out),
                "--no-progress"])  # fmt: skip
    z = np.load(out / "rollouts.npz")
    assert z["theta"].shape == (24, 4) and np.isfinite(z["theta"]).all()
    sched = distill_main(["--rollouts", str(out / "rollouts.npz"), "--dataset", "digits",
                          "--out", str(tmp_path / "s.json")])  # fmt: skip
    s = Schedule.load(sched)
    assert s.K == 4 and s.sigmas[0] == 80.0 and s.sigmas[-1] == 0.0


def _log_clock_cfg(tiny_model, iterations: int) -> dict:
    """A data-set entry for ART-RL on the scale-free clock (EDM's code convention) on the tiny
    U-Net, small enough for a test."""
    return {
        "model": {"type": "unet", "path": str(tiny_model)},
        "sigma_max": 80.0,
        "analytic": {"convention": "code", "sigma_min": 0.002},
        "art": {"iterations": iterations, "batch": 4, "hidden": 16, "checkpoint_every": 2,
                "distill_frac": 0.5, "bank_paths": 8, "bank_points": 32},
    }  # fmt: skip


def test_log_clock_on_images_ends_at_sigma_min(tiny_model, tmp_path):
    """The scale-free clock in EDM's code convention on a U-Net: every learned grid runs from
    80 to σ_min exactly (the budget by construction), then 0."""
    dcfg = _log_clock_cfg(tiny_model, iterations=4)
    out = tmp_path / "art"
    train_main(["--dataset-config", json.dumps(dcfg), "--K", "4", "--out-dir", str(out),
                "--no-progress"])  # fmt: skip
    z = np.load(out / "rollouts.npz")
    g = z["sigmas_executed"]
    assert g.shape == (8, 5) and str(z["convention"]) == "code"
    assert np.all(g[:, 0] == 80.0) and np.all(g[:, 3] == 0.002) and np.all(g[:, 4] == 0.0)
    assert np.all(np.diff(g, axis=1) < 0)
    sched = distill_main(["--rollouts", str(out / "rollouts.npz"), "--dataset", "digits",
                          "--out", str(tmp_path / "s.json")])  # fmt: skip
    s = Schedule.load(sched)
    assert s.K == 4 and s.sigmas[-2] == 0.002 and s.extra["clock"] == "log"


def test_state_policy_travels_from_training_to_sampling(tiny_model, tmp_path):
    """Issue 17 on images: a clock: log run stores its actor in rollouts.npz; distill
    --policy-out writes it bound to the schedule written with it (the schedule's sha256);
    python -m artrl.sample --policy gives each image the state sampler's own grid, the same
    images as sample_state called directly, at the time-only grid's NFE (+ K_l − 1 JVPs)."""
    from artrl.art.state_sampler import load_policy, sample_state
    from artrl.io import InputError, file_sha256
    from artrl.models.unet import load_model
    from artrl.sample import main as sample_main
    from artrl.sample import seed_latents, to_uint8_nhwc

    dcfg = _log_clock_cfg(tiny_model, iterations=2)
    out = tmp_path / "art"
    train_main(["--dataset-config", json.dumps(dcfg), "--K", "3", "--out-dir", str(out),
                "--seed", "4", "--no-progress"])  # fmt: skip
    sp, pp = tmp_path / "s.json", tmp_path / "s.policy.json"
    distill_main(["--rollouts", str(out / "rollouts.npz"), "--dataset", "digits", "--seed", "4",
                  "--method", "art_state", "--out", str(sp), "--policy-out", str(pp)])  # fmt: skip
    policy, prov = load_policy(pp)
    assert prov["schedule_sha256"] == file_sha256(sp)
    assert (prov["method"], prov["dataset"], prov["K"], prov["seed"]) == (
        "art_state",
        "digits",
        3,
        4,
    )
    assert policy.clock.K == 3 and policy.clock.T == 80.0 and policy.clock.convention == "code"

    args = ["--dataset-config", json.dumps(dcfg), "--schedule", str(sp), "--policy", str(pp),
            "--seeds", "0-5", "--batch", "3", "--no-progress"]  # fmt: skip
    for solver, nfe in (("heun", 5), ("euler", 3)):
        shard = tmp_path / f"{solver}.npz"
        sample_main([*args, "--solver", solver, "--out", str(shard)])
        z = np.load(shard)
        meta = json.loads(str(z["meta"]))
        assert meta["nfe"] == nfe and meta["jvps"] == 1 and meta["policy_sha256"] == file_sha256(pp)
        D = load_model(tiny_model)
        for lo in (0, 3):  # the shard's batches, one at a time
            x_T, _ = seed_latents(list(range(lo, lo + 3)), (1, 8, 8))
            x0, grids, cost = sample_state(D, x_T * 80.0, policy, solver)
            np.testing.assert_array_equal(z["images"][lo : lo + 3], to_uint8_nhwc(x0))
            np.testing.assert_array_equal(z["sigmas"][lo : lo + 3], grids.numpy())
            assert cost.nfe == nfe
        g = z["sigmas"]
        assert np.all(g[:, 0] == 80.0) and np.all(g[:, -2] == 0.002) and np.all(g[:, -1] == 0)

    other = Schedule.load(sp)
    other.seed = 5
    op = other.save(tmp_path / "other.json")
    with pytest.raises(InputError, match="sha256"):  # a policy made with another schedule
        sample_main(["--dataset-config", json.dumps(dcfg), "--schedule", str(op), "--policy",
                     str(pp), "--seeds", "0-1", "--out", str(tmp_path / "x.npz")])  # fmt: skip
    with pytest.raises(InputError, match="runs"):  # RK4 has no per-sample step
        sample_main([*args, "--solver", "rk4", "--out", str(tmp_path / "y.npz")])
