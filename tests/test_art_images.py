"""ART-RL on an image model (summary features, Q by JVP through a U-Net) on tiny sizes."""

import json

import numpy as np
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


def test_log_clock_on_images_ends_at_sigma_min(tiny_model, tmp_path):
    """The scale-free clock in EDM's code convention on a U-Net: every learned grid runs from
    80 to σ_min exactly (the budget by construction), then 0."""
    dcfg = {
        "model": {"type": "unet", "path": str(tiny_model)},
        "sigma_max": 80.0,
        "analytic": {"convention": "code", "sigma_min": 0.002},
        "art": {"iterations": 4, "batch": 4, "hidden": 16, "checkpoint_every": 2,
                "distill_frac": 0.5, "bank_paths": 8, "bank_points": 32},
    }  # fmt: skip
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
