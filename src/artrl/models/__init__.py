"""Score models behind the common denoiser interface ``D(x, σ, labels) → denoised x``.

:func:`build` turns a dataset's ``model`` config entry into a :class:`ModelBundle`: the denoiser
plus what ART-RL and the samplers need to start trajectories (the prior p_T = N(0, (s² + σ_max²) I)
for EDM/VE models, the data shape, and a label sampler for class-conditional models).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from artrl.models.analytic import GaussianModel

__all__ = ["ModelBundle", "build", "GaussianModel"]


@dataclass
class ModelBundle:
    D: Callable  # D(x, σ, labels) -> denoised x
    data_shape: tuple[int, ...]
    prior_std: float  # std of x_0 ~ p_T (per coordinate, typical)
    prior: Callable[[int, torch.Generator], Tensor]  # (B, generator) -> x_T, float64
    labels: Callable[[int, torch.Generator], Tensor] | None = None
    n_classes: int = 0  # 0: unconditional


def build(spec: dict, sigma_max: float, device: str | torch.device = "cpu") -> ModelBundle:
    """A :class:`ModelBundle` from a config entry such as ``{type: gaussian, std: 1.0, dim: 1}``."""
    kind = spec.get("type")
    if kind == "gaussian":
        model = GaussianModel(spec.get("std", 1.0), spec.get("dim")).to(device)
        var = model.var  # per-coordinate data variance
        std_T = (var + sigma_max**2).sqrt()

        def prior(B: int, gen: torch.Generator) -> Tensor:
            z = torch.randn(B, model.dim, generator=gen, dtype=torch.float64, device=gen.device)
            return z * std_T.to(z.device)

        typical = math.sqrt(float(var.mean()) + sigma_max**2)
        return ModelBundle(model, (model.dim,), typical, prior)
    if kind == "mixture":  # 1-D Gaussian mixture, exact denoiser (issue 17)
        from artrl.models.mixture import GaussianMixture1D

        mix = GaussianMixture1D(spec["weights"], spec["means"], spec["stds"]).to(device)

        def mixture_prior(B: int, gen: torch.Generator) -> Tensor:
            return mix.sample_prior(B, sigma_max, generator=gen)

        return ModelBundle(mix, (1,), mix.typical_scale(sigma_max), mixture_prior)
    if kind == "unet":  # an EDM-preconditioned U-Net trained by artrl.models.train_score
        from artrl.models.unet import load_model

        net = load_model(spec["path"], device).eval()
        for p in net.parameters():
            p.requires_grad_(False)
        shape = (net.img_channels, net.img_resolution, net.img_resolution)
        return _edm_bundle(net, shape, sigma_max, net.label_dim)
    if kind == "edm":  # an NVIDIA EDM network pickle (docs/references.md §3.1), loaded without EDM
        from artrl.models.edm import EDMDenoiser, load_edm

        net = load_edm(spec["path"], device, sha256_allowed=trusted_sha256(spec))
        denoiser = EDMDenoiser(net)
        shape = (denoiser.img_channels, denoiser.img_resolution, denoiser.img_resolution)
        return _edm_bundle(denoiser, shape, sigma_max, denoiser.label_dim)
    raise ValueError(
        f"model type {kind!r} is not known; set datasets.<name>.model.type to one of: "
        "gaussian, mixture, unet, edm"
    )


DEFAULT_LOCK = "resources/checksums.json"


def trusted_sha256(spec: dict) -> set[str]:
    """The sha256 digests an EDM pickle may have before it is unpickled (which runs its code).

    ``model.sha256`` (a digest or a list) allows files explicitly; otherwise the digest pinned
    for this path in the lock file ``model.lock`` (default ``resources/checksums.json``,
    written by ``python -m artrl.download`` at the first download) is the only one allowed.
    """
    allowed = spec.get("sha256")
    if allowed is not None:
        return {allowed} if isinstance(allowed, str) else set(allowed)
    from pathlib import Path

    from artrl.download import lock_key, read_lock

    lock = Path(spec.get("lock", DEFAULT_LOCK))
    pinned = read_lock(lock).get(lock_key(spec["path"], lock)) if lock.exists() else None
    if pinned is None:
        raise ValueError(
            f"{spec['path']}: refusing to unpickle an EDM file (it runs the code inside it) "
            f"whose sha256 is not pinned in {lock}; download it with the workflow's download "
            "rule (which pins it), or allow it explicitly with datasets.<name>.model.sha256"
        )
    return {pinned}


def _edm_bundle(net, shape, sigma_max: float, n_classes: int) -> ModelBundle:
    """EDM convention: x_T = σ_max · N(0, I) (generate.py), labels uniform over the classes."""

    def prior(B: int, gen: torch.Generator) -> Tensor:
        z = torch.randn(B, *shape, generator=gen, dtype=torch.float64, device=gen.device)
        return z * sigma_max

    labels = None
    if n_classes > 0:

        def labels(B: int, gen: torch.Generator) -> Tensor:
            idx = torch.randint(n_classes, (B,), generator=gen, device=gen.device)
            return torch.eye(n_classes, dtype=torch.float64, device=gen.device)[idx]

    return ModelBundle(net, shape, float(sigma_max), prior, labels, n_classes)
