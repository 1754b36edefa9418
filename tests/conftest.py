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
