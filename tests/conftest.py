"""Shared test fixtures."""

import pytest
import torch

from artrl.models.unet import EDMPrecond, save_model


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A small, randomly initialised EDM-preconditioned U-Net saved as a model file."""
    torch.manual_seed(0)
    net = EDMPrecond(img_resolution=8, img_channels=1, channels=8, channel_mult=(1, 2))
    path = tmp_path_factory.mktemp("model") / "model.pt"
    save_model(path, net)
    return path


@pytest.fixture(scope="session", autouse=True)
def _no_slurm_controller_probe(tmp_path_factory):
    """snakemake-executor-plugin-slurm runs `scontrol show config` when Snakemake starts (to
    word its help text). On a machine with SLURM's client tools but no reachable controller
    (e.g. after .ci/slurm_test stopped its daemons) that waits ~9 s per Snakemake start, and
    the tests start Snakemake ~60 times with the local executor, where the answer is unused.
    A stub `scontrol` that fails at once (the plugin then assumes nothing) goes first on PATH
    for the session; the opt-in SLURM test (ARTRL_SLURM_TEST=1) keeps the real one."""
    import os
    import shutil

    if os.environ.get("ARTRL_SLURM_TEST") == "1" or shutil.which("scontrol") is None:
        yield
        return
    stub = tmp_path_factory.mktemp("no_slurm")
    (stub / "scontrol").write_text("#!/bin/sh\nexit 1\n")
    (stub / "scontrol").chmod(0o755)
    old = os.environ["PATH"]
    os.environ["PATH"] = f"{stub}{os.pathsep}{old}"
    try:
        yield
    finally:
        os.environ["PATH"] = old
