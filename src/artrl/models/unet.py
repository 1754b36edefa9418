"""A small U-Net denoiser with EDM preconditioning (Karras et al. 2022), for small images.

:class:`EDMPrecond` is the denoiser ``D(x; σ)`` behind the common interface
``D(x, sigma, labels) -> denoised x`` of :mod:`artrl.solvers`::

    D(x; σ) = c_skip(σ) x + c_out(σ) F_θ(c_in(σ) x, c_noise(σ), labels)
    c_skip = σ_d²/(σ² + σ_d²),  c_out = σ σ_d/√(σ² + σ_d²),  c_in = 1/√(σ² + σ_d²),
    c_noise = ln(σ)/4,  σ_d = 0.5.

F_θ is :class:`UNet`: residual blocks (GroupNorm, SiLU, 3×3 convolutions) with the noise (and
optional class) embedding applied in every block as a per-channel scale and shift, one
resolution level per factor of 2 down to 4×4 (8×8: 8 and 4; 16×16: 16, 8, 4; 32×32: 32, 16,
8, 4) and self-attention in the bottleneck. Everything is pure tensor ops without in-place
updates of inputs, ``.item()`` or branches on tensor values, so ``torch.func.jvp`` runs through
the whole denoiser (the ART dynamics need J_D·v, :mod:`artrl.art.dynamics`).

:class:`EDMLoss` is EDM's training loss, and :func:`save_model` / :func:`load_model` store the
constructor arguments with the (EMA) weights in a plain ``torch.save`` dictionary.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from artrl.io import torch_save

__all__ = [
    "UNet",
    "EDMPrecond",
    "EDMLoss",
    "default_channel_mult",
    "save_model",
    "load_model",
    "MODEL_HINT",
]

FORMAT = "artrl.edm_precond/1"
MODEL_HINT = "snakemake results/models/digits/model.pt"


def default_channel_mult(resolution: int) -> tuple[int, ...]:
    """Channel multipliers, one per level from ``resolution`` down to 4×4: (1, 2, 2, …)."""
    if resolution < 4 or resolution & (resolution - 1):
        raise ValueError(f"resolution must be a power of two ≥ 4, got {resolution!r}")
    levels = int(math.log2(resolution)) - 1  # 8 → 2 levels (8, 4); 32 → 4 levels
    return (1,) + (2,) * (levels - 1)


def _groups(channels: int) -> int:
    """GroupNorm groups: up to 32, with at least 4 channels per group when possible."""
    g = min(32, max(1, channels // 4))
    while channels % g:
        g -= 1
    return g


class NoiseEmbedding(nn.Module):
    """c_noise → [cos, sin](2π f_k c_noise) with ``n`` geometric frequencies in [1/4, 8].

    c_noise = ln(σ)/4 spans about [−1.6, 1.1] for σ ∈ [0.002, 80], so the slowest feature is
    monotone over the range and the fastest resolves ratios of σ of a few percent.
    """

    freqs: Tensor

    def __init__(self, n: int = 32, f_min: float = 0.25, f_max: float = 8.0):
        super().__init__()
        freqs = torch.logspace(math.log10(f_min), math.log10(f_max), n, dtype=torch.float64)
        self.register_buffer("freqs", (2 * math.pi * freqs).to(torch.float32))

    def forward(self, c_noise: Tensor) -> Tensor:
        arg = c_noise[:, None] * self.freqs.to(c_noise.dtype)[None, :]
        return torch.cat([arg.cos(), arg.sin()], dim=1)


class ResBlock(nn.Module):
    """GroupNorm–SiLU–conv, FiLM by the embedding, GroupNorm–SiLU–dropout–conv, plus skip."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, dropout: float = 0.0):
        super().__init__()
        self.norm0 = nn.GroupNorm(_groups(c_in), c_in)
        self.conv0 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.affine = nn.Linear(emb_dim, 2 * c_out)
        self.norm1 = nn.GroupNorm(_groups(c_out), c_out)
        self.dropout = nn.Dropout(dropout)
        self.conv1 = nn.Conv2d(c_out, c_out, 3, padding=1)
        nn.init.zeros_(self.conv1.weight)  # each block starts as the identity on its skip path
        nn.init.zeros_(self.conv1.bias)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv0(F.silu(self.norm0(x)))
        scale, shift = self.affine(emb)[:, :, None, None].chunk(2, dim=1)
        h = F.silu(self.norm1(h) * (1 + scale) + shift)
        h = self.conv1(self.dropout(h))
        return (h + self.skip(x)) * math.sqrt(0.5)


class SelfAttention(nn.Module):
    """Multi-head self-attention over the pixels (explicit softmax, so forward-mode AD works)."""

    def __init__(self, channels: int, heads: int = 1):
        super().__init__()
        if channels % heads:
            raise ValueError(f"channels {channels} not divisible by heads {heads}")
        self.heads = heads
        self.norm = nn.GroupNorm(_groups(channels), channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: Tensor) -> Tensor:
        B, C, H, W = x.shape
        q, k, v = (
            self.qkv(self.norm(x)).reshape(B * self.heads, 3, C // self.heads, H * W).unbind(1)
        )
        w = torch.softmax(torch.einsum("nci,ncj->nij", q, k) / math.sqrt(C // self.heads), dim=2)
        h = torch.einsum("nij,ncj->nci", w, v).reshape(B, C, H, W)
        return (x + self.proj(h)) * math.sqrt(0.5)


class UNet(nn.Module):
    """F_θ(x_in, c_noise, labels): a small U-Net for ``img_resolution``² images.

    Args:
        img_resolution: image side (a power of two ≥ 4).
        img_channels: image channels (in and out).
        channels: base width; level ``i`` has ``channels · channel_mult[i]`` channels.
        channel_mult: multipliers per level, highest resolution first; by default
            :func:`default_channel_mult` (levels down to 4×4).
        num_blocks: residual blocks per level in the encoder (the decoder has one more).
        label_dim: number of classes for a class-conditional model, 0 for unconditional.
        dropout: dropout probability inside the residual blocks (training only).
        attention: self-attention in the bottleneck.
        noise_freqs: frequencies of the noise embedding.
    """

    def __init__(
        self,
        img_resolution: int = 8,
        img_channels: int = 1,
        channels: int = 64,
        channel_mult: Sequence[int] | None = None,
        num_blocks: int = 2,
        label_dim: int = 0,
        dropout: float = 0.0,
        attention: bool = True,
        noise_freqs: int = 32,
    ):
        super().__init__()
        mult = tuple(channel_mult or default_channel_mult(img_resolution))
        if img_resolution % (2 ** (len(mult) - 1)):
            raise ValueError(f"{len(mult)} levels do not fit resolution {img_resolution}")
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.label_dim = int(label_dim)
        emb_dim = 4 * channels
        self.noise_emb = NoiseEmbedding(noise_freqs)
        self.map = nn.Sequential(
            nn.Linear(2 * noise_freqs, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim)
        )
        self.label_emb = nn.Linear(label_dim, emb_dim, bias=False) if label_dim else None
        widths = [channels * m for m in mult]

        self.conv_in = nn.Conv2d(img_channels, widths[0], 3, padding=1)
        self.down = nn.ModuleList()
        skips = [widths[0]]
        c = widths[0]
        for level, w in enumerate(widths):
            for _ in range(num_blocks):
                self.down.append(ResBlock(c, w, emb_dim, dropout))
                c = w
                skips.append(c)
            if level < len(widths) - 1:
                self.down.append(nn.AvgPool2d(2))
                skips.append(c)
        self.mid = nn.ModuleList(
            [
                ResBlock(c, c, emb_dim, dropout),
                SelfAttention(c) if attention else nn.Identity(),
                ResBlock(c, c, emb_dim, dropout),
            ]
        )
        self.up = nn.ModuleList()
        for level in reversed(range(len(widths))):
            w = widths[level]
            for _ in range(num_blocks + 1):
                self.up.append(ResBlock(c + skips.pop(), w, emb_dim, dropout))
                c = w
            if level > 0:
                self.up.append(nn.Upsample(scale_factor=2, mode="nearest"))
        self.norm_out = nn.GroupNorm(_groups(c), c)
        self.conv_out = nn.Conv2d(c, img_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def embed(self, c_noise: Tensor, labels: Tensor | None) -> Tensor:
        """The per-sample embedding [B, emb_dim] of the noise level and (optional) class."""
        emb = self.map(self.noise_emb(c_noise))
        if self.label_emb is not None:
            emb = emb + self.label_emb(labels)
        return F.silu(emb)

    def forward(self, x: Tensor, c_noise: Tensor, labels: Tensor | None = None) -> Tensor:
        emb = self.embed(c_noise, labels)
        h = self.conv_in(x)
        hs = [h]
        for layer in self.down:
            h = layer(h, emb) if isinstance(layer, ResBlock) else layer(h)
            hs.append(h)
        for layer in self.mid:
            h = layer(h, emb) if isinstance(layer, ResBlock) else layer(h)
        for layer in self.up:
            if isinstance(layer, ResBlock):
                h = layer(torch.cat([h, hs.pop()], dim=1), emb)
            else:
                h = layer(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class EDMPrecond(nn.Module):
    """EDM-preconditioned denoiser ``D(x, sigma, labels)`` around a :class:`UNet`.

    ``x`` is ``[B, C, H, W]`` of any float dtype; it is cast to the parameters' dtype for the
    network and the result is returned in the input dtype (the preconditioning itself is done
    in the input dtype, so float64 samplers keep ``c_skip x`` exact). ``sigma`` is a number, a
    0-dim tensor or a ``[B]`` tensor. ``labels`` is None, one-hot ``[B, label_dim]`` or integer
    ``[B]``; None on a class-conditional model means an all-zero label vector, and labels are
    ignored by an unconditional one (as in EDM). The keyword arguments are those of
    :class:`UNet` and are kept in ``init_kwargs`` for :func:`save_model`.

    Attributes follow EDM's network interface: ``img_resolution``, ``img_channels``,
    ``label_dim``, ``sigma_min`` (0), ``sigma_max`` (inf), ``sigma_data`` (0.5).
    """

    sigma_min = 0.0
    sigma_max = float("inf")

    def __init__(self, sigma_data: float = 0.5, **unet_kwargs: Any):
        super().__init__()
        self.net = UNet(**unet_kwargs)
        self.sigma_data = float(sigma_data)
        self.img_resolution = self.net.img_resolution
        self.img_channels = self.net.img_channels
        self.label_dim = self.net.label_dim
        self.init_kwargs = {"sigma_data": self.sigma_data, **unet_kwargs}

    def round_sigma(self, sigma: Tensor) -> Tensor:
        """Identity (EDM's interface; other preconditioners round σ to their discrete grid)."""
        return torch.as_tensor(sigma)

    def _labels(self, labels: Tensor | None, batch: int, like: Tensor) -> Tensor | None:
        if self.label_dim == 0:
            return None
        if labels is None:
            return torch.zeros(batch, self.label_dim, dtype=like.dtype, device=like.device)
        if not labels.is_floating_point():  # class indices [B]
            labels = F.one_hot(labels.long(), self.label_dim)
        return labels.to(device=like.device, dtype=like.dtype).reshape(batch, self.label_dim)

    def forward(self, x: Tensor, sigma: Tensor | float, labels: Tensor | None = None) -> Tensor:
        p = self.net.conv_in.weight
        sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
        sigma = sigma.reshape(-1).expand(x.shape[0])  # [B]; a 0-dim σ is shared
        s = sigma.reshape(-1, 1, 1, 1)
        sd = self.sigma_data
        c_skip = sd**2 / (s**2 + sd**2)
        c_out = s * sd / (s**2 + sd**2).sqrt()
        c_in = 1 / (s**2 + sd**2).sqrt()
        c_noise = sigma.clamp_min(1e-20).log() / 4  # finite at σ = 0, where c_out = 0
        f = self.net(
            (c_in * x).to(p.dtype), c_noise.to(p.dtype), self._labels(labels, x.shape[0], p)
        )
        return c_skip * x + c_out * f.to(x.dtype)


class EDMLoss:
    """EDM's loss: ln σ ~ N(P_mean, P_std²), weight λ(σ) = (σ² + σ_d²)/(σ σ_d)².

    ``loss(net, y, labels, generator)`` returns the mean over batch and pixels of
    λ(σ) ‖D(y + σ n; σ) − y‖², with σ and n drawn from ``generator`` (so training is
    reproducible from its state). With this weighting the expected loss of the trivial
    denoiser D = c_skip x (F_θ = 0) is 1 per pixel.
    """

    def __init__(self, P_mean: float = -1.2, P_std: float = 1.2, sigma_data: float = 0.5):
        self.P_mean, self.P_std, self.sigma_data = P_mean, P_std, sigma_data

    def __call__(
        self,
        net: nn.Module,
        y: Tensor,
        labels: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        B = y.shape[0]
        ln_sigma = torch.randn(B, generator=generator, device=y.device, dtype=y.dtype)
        sigma = (ln_sigma * self.P_std + self.P_mean).exp()
        n = torch.randn(y.shape, generator=generator, device=y.device, dtype=y.dtype)
        s = sigma.reshape(-1, 1, 1, 1)
        weight = (s**2 + self.sigma_data**2) / (s * self.sigma_data) ** 2
        D = net(y + s * n, sigma, labels)
        return (weight * (D - y) ** 2).mean()


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def save_model(path: str | os.PathLike, model: EDMPrecond, meta: dict | None = None) -> Path:
    """Write ``{format, kwargs, state_dict, meta}`` (float32, CPU tensors) atomically."""
    state = {k: v.detach().to("cpu", torch.float32) for k, v in model.state_dict().items()}
    blob = {"format": FORMAT, "kwargs": dict(model.init_kwargs), "state_dict": state}
    blob["meta"] = json.loads(json.dumps(meta or {}, default=str))  # plain types only
    return torch_save(path, blob)


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> EDMPrecond:
    """The :class:`EDMPrecond` saved by :func:`save_model`, in eval mode on ``device``.

    Its ``meta`` dictionary is attached as ``model.meta``. A missing or unreadable file raises
    an error that names the path and how to produce it.
    """
    path = Path(path)
    how = f"train it with `{MODEL_HINT}` (or `python -m artrl.models.train_score --out {path}`)"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: score model not found; {how}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(blob, dict) or blob.get("format") != FORMAT:
            raise ValueError(f"not an {FORMAT} file")
        model = EDMPrecond(**blob["kwargs"])
        model.load_state_dict(blob["state_dict"])
    except Exception as e:
        raise RuntimeError(f"{path}: cannot read score model ({e}); delete it and {how}") from e
    model.meta = dict(blob.get("meta", {}))
    return model.to(device).eval().requires_grad_(False)
