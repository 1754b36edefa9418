"""Write network pickles in NVIDIA EDM's on-disk format, with random weights and no EDM code.

EDM's pretrained files are ``pickle.dump`` of
``dict(ema=…, loss_fn=…, augment_pipe=…, dataset_kwargs=dict(…))`` in which every
``@persistence.persistent_class`` instance reduces to
``(torch_utils.persistence._reconstruct_persistent_obj, (meta,))`` with
``meta = dict(type="class", version=6, module_src=<source text>, class_name=…,
state=obj.__dict__)`` (NVlabs/edm ``torch_utils/persistence.py``). :mod:`artrl.models.edm`
implements the loading side of that format; this module implements the writing side, for the
test suite and the GPU smoke check (:mod:`artrl.smoke`).

The network source (:data:`NETWORK_SRC`, written for this project, not taken from EDM, whose
code is licensed CC BY-NC-SA 4.0) has the structure of NVlabs/edm ``training/networks.py``:
``from torch_utils import persistence``, decorated classes, an old-style attention
``AttentionOp(torch.autograd.Function)`` with ``forward(ctx, q, k)`` and ``backward`` only (no
forward-mode AD until :mod:`artrl.models.edm` patches it), and an ``EDMPrecond`` with c_skip,
c_out, c_in, c_noise of Karras et al. 2022, Table 1, class labels, ``img_resolution``,
``sigma_min``/``sigma_max`` and ``round_sigma``. ``EDMPrecond(model_type=…)`` builds either

* ``TinyUNet`` (the default): one residual block and one attention layer, a few channels, for
  the unit tests (:func:`tiny_edm_net`); or
* ``UNet``: a plain U-Net of residual blocks (GroupNorm, SiLU, 3x3 convolutions, the
  noise/label embedding as a per-channel scale and shift), self-attention at chosen
  resolutions and skip connections from encoder to decoder. With :data:`CIFAR10_KWARGS` it
  has the size of EDM's ``edm-cifar10-32x32-cond-vp`` (DDPM++: 32x32x3, 10 classes, 128 base
  channels, multipliers (2, 2, 2), 4 blocks per resolution, attention at 16x16; about 56 M
  parameters, :func:`cifar10_edm_net`). Only the size and the cost of a forward pass are
  EDM's; the layers are this project's own.

While the source executes and while the pickle is written, a temporary writer-side
``torch_utils.persistence`` (and ``dnnlib.util`` for ``EasyDict``) sits in ``sys.modules``, so
that pickle can name the global ``torch_utils.persistence._reconstruct_persistent_obj``; it is
removed afterwards, under the loader's lock.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import pickle
import types
from collections.abc import Iterator
from pathlib import Path

import torch

from artrl.io import atomic_write
from artrl.models.edm import swapped_modules

__all__ = [
    "NETWORK_SRC",
    "LOSS_SRC",
    "BROKEN_LOSS_SRC",
    "CIFAR10_KWARGS",
    "EasyDict",
    "tiny_edm_net",
    "cifar10_edm_net",
    "tiny_edm_loss",
    "parameter_count",
    "write_edm_pickle",
    "write_tiny_edm_pickle",
]

NETWORK_SRC = '''\
"""EDM-style preconditioned networks (artrl.models.edm_writer), structured like EDM's."""

import numpy as np
import torch
from torch.nn.functional import silu
from torch_utils import persistence


@persistence.persistent_class
class Linear(torch.nn.Module):
    def __init__(self, in_features, out_features, bias=True, init_scale=1.0):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        w = torch.randn(out_features, in_features) * (init_scale / np.sqrt(in_features))
        self.weight = torch.nn.Parameter(w)
        self.bias = torch.nn.Parameter(0.1 * torch.randn(out_features)) if bias else None

    def forward(self, x):
        x = x @ self.weight.to(x.dtype).t()
        if self.bias is not None:
            x = x.add_(self.bias.to(x.dtype))
        return x


@persistence.persistent_class
class Conv2d(torch.nn.Module):
    def __init__(self, in_channels, out_channels, kernel, bias=True, init_scale=1.0):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        fan_in = in_channels * kernel * kernel
        w = torch.randn(out_channels, in_channels, kernel, kernel) * (init_scale / np.sqrt(fan_in))
        self.weight = torch.nn.Parameter(w)
        self.bias = torch.nn.Parameter(0.1 * torch.randn(out_channels)) if bias else None

    def forward(self, x):
        w = self.weight.to(x.dtype)
        b = self.bias.to(x.dtype) if self.bias is not None else None
        return torch.nn.functional.conv2d(x, w, b, padding=w.shape[-1] // 2)


@persistence.persistent_class
class GroupNorm(torch.nn.Module):
    def __init__(self, num_channels, num_groups=4, eps=1e-5):
        super().__init__()
        self.num_groups = num_groups
        self.eps = eps
        self.weight = torch.nn.Parameter(1 + 0.1 * torch.randn(num_channels))
        self.bias = torch.nn.Parameter(0.1 * torch.randn(num_channels))

    def forward(self, x):
        return torch.nn.functional.group_norm(
            x, self.num_groups, self.weight.to(x.dtype), self.bias.to(x.dtype), self.eps
        )


class AttentionOp(torch.autograd.Function):
    """Attention weights softmax(q^T k / sqrt(C)) in float32, old-style Function (no jvp)."""

    @staticmethod
    def forward(ctx, q, k):
        scale = np.sqrt(k.shape[1])
        w = torch.einsum("ncq,nck->nqk", q.to(torch.float32), (k / scale).to(torch.float32))
        w = w.softmax(dim=2).to(q.dtype)
        ctx.save_for_backward(q, k, w)
        return w

    @staticmethod
    def backward(ctx, dw):
        q, k, w = ctx.saved_tensors
        w32, dw32 = w.to(torch.float32), dw.to(torch.float32)
        ds = w32 * (dw32 - (dw32 * w32).sum(dim=2, keepdim=True))  # softmax backward
        scale = np.sqrt(k.shape[1])
        dq = torch.einsum("nck,nqk->ncq", k.to(torch.float32), ds).to(q.dtype) / scale
        dk = torch.einsum("ncq,nqk->nck", q.to(torch.float32), ds).to(k.dtype) / scale
        return dq, dk


@persistence.persistent_class
class PositionalEmbedding(torch.nn.Module):
    def __init__(self, num_channels, max_positions=10000):
        super().__init__()
        self.num_channels = num_channels
        self.max_positions = max_positions

    def forward(self, x):
        freqs = torch.arange(0, self.num_channels // 2, dtype=torch.float32, device=x.device)
        freqs = (1 / self.max_positions) ** (freqs / (self.num_channels // 2))
        x = x.ger(freqs.to(x.dtype))
        return torch.cat([x.cos(), x.sin()], dim=1)


def attention(x, norm, qkv, proj, num_heads):
    """Multi-head self-attention over the pixels of x [N, C, H, W] (weights by AttentionOp)."""
    n, c, hh, ww = x.shape
    q, k, v = qkv(norm(x)).reshape(n * num_heads, c // num_heads, 3, -1).unbind(2)
    w = AttentionOp.apply(q, k)
    a = torch.einsum("nqk,nck->ncq", w, v)
    return proj(a.reshape(n, c, hh, ww))


@persistence.persistent_class
class TinyUNet(torch.nn.Module):
    """conv -> (GroupNorm, SiLU, conv + noise/label embedding) -> self-attention -> conv."""

    def __init__(self, img_resolution, in_channels, out_channels, label_dim=0,
                 model_channels=8, num_heads=2):
        super().__init__()
        self.img_resolution = img_resolution
        self.label_dim = label_dim
        self.num_heads = num_heads
        c = model_channels
        self.map_noise = PositionalEmbedding(num_channels=c)
        self.map_label = Linear(label_dim, c, bias=False) if label_dim else None
        self.map_layer = Linear(c, 2 * c)
        self.conv_in = Conv2d(in_channels, c, 3)
        self.norm0 = GroupNorm(c)
        self.conv0 = Conv2d(c, c, 3)
        self.norm1 = GroupNorm(c)
        self.qkv = Conv2d(c, 3 * c, 1)
        self.proj = Conv2d(c, c, 1)
        self.norm_out = GroupNorm(c)
        self.conv_out = Conv2d(c, out_channels, 3, init_scale=0.5)

    def forward(self, x, noise_labels, class_labels=None, augment_labels=None):
        emb = self.map_noise(noise_labels)
        if self.map_label is not None:
            emb = emb + self.map_label(class_labels)
        scale, shift = silu(self.map_layer(silu(emb))).unsqueeze(-1).unsqueeze(-1).chunk(2, 1)
        x = self.conv_in(x)
        h = self.conv0(silu(self.norm0(x)))
        x = x + silu(h * (1 + scale) + shift)
        x = x + attention(x, self.norm1, self.qkv, self.proj, self.num_heads)
        return self.conv_out(silu(self.norm_out(x)))


def groups(channels):
    return min(32, max(1, channels // 4))


@persistence.persistent_class
class ResBlock(torch.nn.Module):
    """x -> (x' + conv(SiLU(scale/shift(GroupNorm(conv(SiLU(GroupNorm(x)))))))) / sqrt 2, where
    x' is x (or a 1x1 convolution of it when the width changes); resampled first ("down":
    2x2 average pooling, "up": nearest neighbour), then self-attention where asked."""

    def __init__(self, in_channels, out_channels, emb_channels, resample=None,
                 attention=False, channels_per_head=64):
        super().__init__()
        self.resample = resample
        self.num_heads = max(1, out_channels // channels_per_head) if attention else 0
        self.norm0 = GroupNorm(in_channels, num_groups=groups(in_channels))
        self.conv0 = Conv2d(in_channels, out_channels, 3)
        self.affine = Linear(emb_channels, 2 * out_channels)
        self.norm1 = GroupNorm(out_channels, num_groups=groups(out_channels))
        self.conv1 = Conv2d(out_channels, out_channels, 3, init_scale=0.2)
        self.skip = Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None
        if attention:
            self.norm2 = GroupNorm(out_channels, num_groups=groups(out_channels))
            self.qkv = Conv2d(out_channels, 3 * out_channels, 1)
            self.proj = Conv2d(out_channels, out_channels, 1, init_scale=0.2)

    def _resample(self, x):
        if self.resample == "down":
            return torch.nn.functional.avg_pool2d(x, 2)
        if self.resample == "up":
            return torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")
        return x

    def forward(self, x, emb):
        h = self.conv0(self._resample(silu(self.norm0(x))))
        x = self._resample(x)
        scale, shift = self.affine(emb).to(h.dtype).unsqueeze(-1).unsqueeze(-1).chunk(2, 1)
        h = self.conv1(silu(self.norm1(h) * (1 + scale) + shift))
        x = (h + (x if self.skip is None else self.skip(x))) * np.sqrt(0.5)
        if self.num_heads:
            a = attention(x, self.norm2, self.qkv, self.proj, self.num_heads)
            x = (x + a) * np.sqrt(0.5)
        return x


@persistence.persistent_class
class UNet(torch.nn.Module):
    """A U-Net: per resolution num_blocks residual blocks (the encoder) and num_blocks + 1 that
    take the encoder's outputs as skip connections (the decoder); 2x resampling blocks between
    resolutions, two blocks (one with attention) at the bottom; the noise level's positional
    embedding plus the label embedding through a 2-layer MLP conditions every block."""

    def __init__(self, img_resolution, in_channels, out_channels, label_dim=0,
                 model_channels=128, channel_mult=(2, 2, 2), emb_mult=4, num_blocks=4,
                 attn_resolutions=(16,)):
        super().__init__()
        self.img_resolution = img_resolution
        self.label_dim = label_dim
        emb = model_channels * emb_mult
        self.map_noise = PositionalEmbedding(num_channels=model_channels)
        self.map_label = Linear(label_dim, model_channels, bias=False) if label_dim else None
        self.map_layer0 = Linear(model_channels, emb)
        self.map_layer1 = Linear(emb, emb)
        c = model_channels * channel_mult[0]
        self.conv_in = Conv2d(in_channels, c, 3)
        skips = [c]
        self.enc = torch.nn.ModuleList()
        for level, mult in enumerate(channel_mult):
            res = img_resolution >> level
            if level > 0:
                self.enc.append(ResBlock(c, c, emb, resample="down"))
                skips.append(c)
            for _ in range(num_blocks):
                cout = model_channels * mult
                self.enc.append(ResBlock(c, cout, emb, attention=res in attn_resolutions))
                c = cout
                skips.append(c)
        self.dec = torch.nn.ModuleList()
        self.dec_takes_skip = []
        for level in reversed(range(len(channel_mult))):
            res = img_resolution >> level
            if level == len(channel_mult) - 1:
                self.dec.append(ResBlock(c, c, emb, attention=True))
                self.dec.append(ResBlock(c, c, emb))
                self.dec_takes_skip += [False, False]
            else:
                self.dec.append(ResBlock(c, c, emb, resample="up"))
                self.dec_takes_skip.append(False)
            for _ in range(num_blocks + 1):
                cout = model_channels * channel_mult[level]
                self.dec.append(
                    ResBlock(c + skips.pop(), cout, emb, attention=res in attn_resolutions)
                )
                self.dec_takes_skip.append(True)
                c = cout
        self.norm_out = GroupNorm(c, num_groups=groups(c))
        self.conv_out = Conv2d(c, out_channels, 3, init_scale=0.2)

    def forward(self, x, noise_labels, class_labels=None, augment_labels=None):
        emb = self.map_noise(noise_labels)
        if self.map_label is not None:
            emb = emb + self.map_label(class_labels)
        emb = silu(self.map_layer1(silu(self.map_layer0(emb))))
        x = self.conv_in(x)
        skips = [x]
        for block in self.enc:
            x = block(x, emb)
            skips.append(x)
        for block, takes_skip in zip(self.dec, self.dec_takes_skip):
            if takes_skip:
                x = torch.cat([x, skips.pop()], dim=1)
            x = block(x, emb)
        return self.conv_out(silu(self.norm_out(x)))


@persistence.persistent_class
class EDMPrecond(torch.nn.Module):
    """D(x; sigma) = c_skip x + c_out F(c_in x; c_noise) (Karras et al. 2022, Table 1)."""

    def __init__(self, img_resolution, img_channels, label_dim=0, use_fp16=False,
                 sigma_min=0, sigma_max=float("inf"), sigma_data=0.5, model_type="TinyUNet",
                 **model_kwargs):
        super().__init__()
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.label_dim = label_dim
        self.use_fp16 = use_fp16
        self.sigma_min = sigma_min
        self.sigma_max = sigma_max
        self.sigma_data = sigma_data
        self.model = globals()[model_type](
            img_resolution=img_resolution, in_channels=img_channels, out_channels=img_channels,
            label_dim=label_dim, **model_kwargs)

    def forward(self, x, sigma, class_labels=None, force_fp32=False, **model_kwargs):
        x = x.to(torch.float32)
        sigma = sigma.to(torch.float32).reshape(-1, 1, 1, 1)
        if self.label_dim == 0:
            class_labels = None
        elif class_labels is None:
            class_labels = torch.zeros([1, self.label_dim], device=x.device)
        else:
            class_labels = class_labels.to(torch.float32).reshape(-1, self.label_dim)
        fp16 = self.use_fp16 and not force_fp32 and x.device.type == "cuda"
        dtype = torch.float16 if fp16 else torch.float32
        sd2 = self.sigma_data ** 2
        c_skip = sd2 / (sigma ** 2 + sd2)
        c_out = sigma * self.sigma_data / (sigma ** 2 + sd2).sqrt()
        c_in = 1 / (sd2 + sigma ** 2).sqrt()
        c_noise = sigma.log() / 4
        F_x = self.model((c_in * x).to(dtype), c_noise.flatten(), class_labels=class_labels,
                         **model_kwargs)
        assert F_x.dtype == dtype
        return c_skip * x + c_out * F_x.to(torch.float32)

    def round_sigma(self, sigma):
        return torch.as_tensor(sigma)
'''

LOSS_SRC = '''\
"""A tiny EDM-style loss object (its own module_src, as training/loss.py in EDM)."""

import torch
from torch_utils import persistence


@persistence.persistent_class
class EDMLoss:
    def __init__(self, P_mean=-1.2, P_std=1.2, sigma_data=0.5):
        self.P_mean = P_mean
        self.P_std = P_std
        self.sigma_data = sigma_data
'''

# A loss whose module imports something that does not resolve (as EDM's augment.py would need
# torch_utils.misc functions): the loader must replace it by a stub and still load 'ema'.
BROKEN_LOSS_SRC = LOSS_SRC.replace("import torch\n", "import torch\nimport artrl_no_such_module\n")

# The size of EDM's edm-cifar10-32x32-cond-vp (DDPM++; NVlabs/edm train.py, --arch=ddpmpp,
# cond=1): 32x32x3, 10 classes, 128 channels x (2, 2, 2), 4 blocks, attention at 16x16.
CIFAR10_KWARGS = dict(
    img_resolution=32,
    img_channels=3,
    label_dim=10,
    model_type="UNet",
    model_channels=128,
    channel_mult=(2, 2, 2),
    num_blocks=4,
    attn_resolutions=(16,),
)


class EasyDict(dict):
    """Writer-side stand-in for ``dnnlib.util.EasyDict`` (pickled by that global name)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


EasyDict.__module__ = "dnnlib.util"


def _reconstruct_persistent_obj(meta):  # the global every persistent object reduces to
    raise RuntimeError("writer-side placeholder; loading is artrl.models.edm's job")


@contextlib.contextmanager
def _writer_persistence() -> Iterator[types.ModuleType]:
    """Temporary ``torch_utils.persistence`` and ``dnnlib.util`` for writing EDM pickles."""
    pkg = types.ModuleType("torch_utils")
    pkg.__path__ = []
    persistence = types.ModuleType("torch_utils.persistence")
    fn = types.FunctionType(_reconstruct_persistent_obj.__code__, {}, "_reconstruct_persistent_obj")
    fn.__module__, fn.__qualname__ = "torch_utils.persistence", "_reconstruct_persistent_obj"
    persistence._reconstruct_persistent_obj = fn
    persistence.persistent_class = _persistent_class
    pkg.persistence = persistence
    dnnlib, util = types.ModuleType("dnnlib"), types.ModuleType("dnnlib.util")
    dnnlib.__path__, util.EasyDict, dnnlib.util = [], EasyDict, util
    modules = {
        "torch_utils": pkg,
        "torch_utils.persistence": persistence,
        "dnnlib": dnnlib,
        "dnnlib.util": util,
    }
    with swapped_modules(modules):  # the loader's lock: its stubs have the same names
        yield persistence


def _persistent_class(orig: type) -> type:
    """Writer-side decorator: remember the module source and the constructor arguments."""

    class Persistent(orig):
        _artrl_persistent = True

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._init_args = copy.deepcopy(args)
            self._init_kwargs = copy.deepcopy(kwargs)

    Persistent.__name__ = Persistent.__qualname__ = orig.__name__
    Persistent.__module__ = orig.__module__
    Persistent._orig_class_name = orig.__name__
    return Persistent


def _exec_source(src: str, name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module._artrl_module_src = src
    with _writer_persistence():
        exec(compile(src, f"<{name}>", "exec"), module.__dict__)
    return module


class _EDMPickler(pickle.Pickler):
    """Reduce every persistent object to (_reconstruct_persistent_obj, (meta,)), as EDM does."""

    def __init__(self, file, reconstruct, version: int = 6):
        super().__init__(file)  # the default protocol, as EDM's pickle.dump
        self._reconstruct = reconstruct
        self._version = version

    def reducer_override(self, obj):
        cls = type(obj)
        if isinstance(obj, type) or not getattr(cls, "_artrl_persistent", False):
            return NotImplemented
        meta = dict(
            type="class",
            version=self._version,
            module_src=_SOURCES[cls.__module__]._artrl_module_src,
            class_name=cls._orig_class_name,
            state=obj.__dict__,
        )
        return self._reconstruct, (meta,)


_SOURCES: dict[str, types.ModuleType] = {}


def _module(src: str, name: str) -> types.ModuleType:
    if name not in _SOURCES:
        _SOURCES[name] = _exec_source(src, name)
    return _SOURCES[name]


def _networks() -> types.ModuleType:
    return _module(NETWORK_SRC, "_artrl_edm_writer_networks")


def tiny_edm_net(
    label_dim: int = 0, resolution: int = 8, channels: int = 3, seed: int = 0
) -> torch.nn.Module:
    """The tiny EDM-style network (``TinyUNet``, 8 channels), in memory (eval, no grads).

    Seeds torch's global generator with ``seed`` (the weights are drawn on the CPU)."""
    module = _networks()
    torch.manual_seed(seed)
    net = module.EDMPrecond(
        img_resolution=resolution, img_channels=channels, label_dim=label_dim, model_channels=8
    )
    return net.eval().requires_grad_(False)


def cifar10_edm_net(seed: int = 0, **overrides) -> torch.nn.Module:
    """A random-weight ``UNet`` network of the size of EDM's CIFAR-10 DDPM++ model
    (:data:`CIFAR10_KWARGS`, ``overrides`` replace entries), in memory on the CPU (eval, no
    grads). Seeds torch's global generator with ``seed``."""
    module = _networks()
    torch.manual_seed(seed)
    net = module.EDMPrecond(**{**CIFAR10_KWARGS, **overrides})
    return net.eval().requires_grad_(False)


def parameter_count(net: torch.nn.Module) -> int:
    """The number of scalar parameters of a network."""
    return int(sum(p.numel() for p in net.parameters()))


def tiny_edm_loss(broken: bool = False):
    """A loss object with its own ``module_src``; ``broken``: that source fails to import."""
    if not broken:
        return _module(LOSS_SRC, "_artrl_edm_writer_loss").EDMLoss()
    # The object is made from the working source, but pickled with BROKEN_LOSS_SRC.
    module = _module(LOSS_SRC, "_artrl_edm_writer_loss_broken")
    module._artrl_module_src = BROKEN_LOSS_SRC
    return module.EDMLoss()


def write_edm_pickle(
    path: str | os.PathLike,
    net: torch.nn.Module,
    loss_fn: object | None = None,
    *,
    version: int = 6,
    extra: dict | None = None,
) -> Path:
    """Pickle ``dict(ema=net, loss_fn=…, augment_pipe=None, dataset_kwargs=…)`` as EDM does,
    atomically (a temporary file renamed onto ``path``).

    ``version`` other than 6 writes a file with a wrong persistence version (for error tests);
    ``extra`` replaces entries of the top-level dict.
    """
    path = Path(path)
    resolution = getattr(net, "img_resolution", None)
    data = dict(
        ema=net,
        loss_fn=tiny_edm_loss() if loss_fn is None else loss_fn,
        augment_pipe=None,
        dataset_kwargs=dict(
            class_name="training.dataset.ImageFolderDataset",
            path="datasets/tiny.zip" if resolution != 32 else "datasets/cifar10-32x32.zip",
            use_labels=bool(getattr(net, "label_dim", 0)),
            resolution=resolution,
        ),
    )
    data.update(extra or {})
    buf = io.BytesIO()
    with _writer_persistence() as persistence:
        _EDMPickler(buf, persistence._reconstruct_persistent_obj, version).dump(data)

    def _write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(buf.getbuffer())

    return atomic_write(path, _write)


def write_tiny_edm_pickle(
    path: str | os.PathLike, label_dim: int = 0, resolution: int = 8, channels: int = 3
) -> Path:
    """Write a tiny EDM-format network pickle (seed 0) to ``path`` and return the path."""
    return write_edm_pickle(path, tiny_edm_net(label_dim, resolution, channels))
