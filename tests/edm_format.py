"""Write tiny network pickles in NVIDIA EDM's exact on-disk format, for tests (no EDM code).

EDM's pretrained files (ecosystem.md §4.2) are ``pickle.dump`` of
``dict(ema=…, loss_fn=…, augment_pipe=…, dataset_kwargs=dict(…))`` in which every
``@persistence.persistent_class`` instance reduces to
``(torch_utils.persistence._reconstruct_persistent_obj, (meta,))`` with
``meta = dict(type="class", version=6, module_src=<source text>, class_name=…,
state=obj.__dict__)``.

Here the writing side of that format is reimplemented for a tiny EDM-style network whose
source (:data:`NETWORK_SRC`, written for these tests) has the same structure as EDM's
``training/networks.py``: ``from torch_utils import persistence``, decorated classes, an
old-style attention ``AttentionOp(torch.autograd.Function)`` with ``forward(ctx, q, k)`` and
``backward`` only, and an ``EDMPrecond`` with c_skip, c_out, c_in, c_noise (Karras et al.
2022, Table 1), class labels, ``img_resolution``, ``sigma_min``/``sigma_max`` and
``round_sigma``.

While it executes that source and while it pickles, a temporary writer-side
``torch_utils.persistence`` sits in ``sys.modules`` (so that pickle can write the global
``torch_utils.persistence._reconstruct_persistent_obj``); it is removed afterwards.

Helpers: :func:`tiny_edm_net` (the in-memory network), :func:`write_edm_pickle` and
:func:`write_tiny_edm_pickle` (both), used by tests/test_models_edm.py and workflow tests.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import pickle
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import torch

__all__ = [
    "NETWORK_SRC",
    "EasyDict",
    "LOSS_SRC",
    "BROKEN_LOSS_SRC",
    "tiny_edm_net",
    "tiny_edm_loss",
    "write_edm_pickle",
    "write_tiny_edm_pickle",
]

NETWORK_SRC = '''\
"""A tiny EDM-style preconditioned network (test fixture, structured like EDM's networks)."""

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
        n, c, hh, ww = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(
            n * self.num_heads, c // self.num_heads, 3, -1
        ).unbind(2)
        w = AttentionOp.apply(q, k)
        a = torch.einsum("nqk,nck->ncq", w, v)
        x = x + self.proj(a.reshape(n, c, hh, ww))
        return self.conv_out(silu(self.norm_out(x)))


@persistence.persistent_class
class EDMPrecond(torch.nn.Module):
    """D(x; sigma) = c_skip x + c_out F(c_in x; c_noise) (Karras et al. 2022, Table 1)."""

    def __init__(self, img_resolution, img_channels, label_dim=0, use_fp16=False,
                 sigma_min=0, sigma_max=float("inf"), sigma_data=0.5, **model_kwargs):
        super().__init__()
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.label_dim = label_dim
        self.use_fp16 = use_fp16
        self.sigma_min = sigma_min
        self.sigma_max = sigma_max
        self.sigma_data = sigma_data
        self.model = TinyUNet(img_resolution=img_resolution, in_channels=img_channels,
                              out_channels=img_channels, label_dim=label_dim, **model_kwargs)

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
    names = ("torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util")
    saved = {n: sys.modules.get(n) for n in names}
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
    sys.modules.update(
        {
            "torch_utils": pkg,
            "torch_utils.persistence": persistence,
            "dnnlib": dnnlib,
            "dnnlib.util": util,
        }
    )
    try:
        yield persistence
    finally:
        for n, old in saved.items():
            if old is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = old


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


def tiny_edm_net(
    label_dim: int = 0, resolution: int = 8, channels: int = 3, seed: int = 0
) -> torch.nn.Module:
    """The tiny EDM-style network of :data:`NETWORK_SRC`, in memory (eval, no grads)."""
    module = _module(NETWORK_SRC, "_edm_format_networks")
    torch.manual_seed(seed)
    net = module.EDMPrecond(
        img_resolution=resolution, img_channels=channels, label_dim=label_dim, model_channels=8
    )
    return net.eval().requires_grad_(False)


def tiny_edm_loss(broken: bool = False):
    """A loss object with its own ``module_src``; ``broken``: that source fails to import."""
    if not broken:
        return _module(LOSS_SRC, "_edm_format_loss").EDMLoss()
    # The object is made from the working source, but pickled with BROKEN_LOSS_SRC.
    module = _module(LOSS_SRC, "_edm_format_loss_broken")
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
    """Pickle ``dict(ema=net, loss_fn=…, augment_pipe=None, dataset_kwargs=…)`` as EDM does.

    ``version`` other than 6 writes a file with a wrong persistence version (for error tests);
    ``extra`` replaces entries of the top-level dict.
    """
    path = Path(path)
    data = dict(
        ema=net,
        loss_fn=tiny_edm_loss() if loss_fn is None else loss_fn,
        augment_pipe=None,
        dataset_kwargs=dict(
            class_name="training.dataset.ImageFolderDataset",
            path="datasets/tiny.zip",
            use_labels=bool(getattr(net, "label_dim", 0)),
            resolution=getattr(net, "img_resolution", None),
        ),
    )
    data.update(extra or {})
    buf = io.BytesIO()
    with _writer_persistence() as persistence:
        _EDMPickler(buf, persistence._reconstruct_persistent_obj, version).dump(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return path


def write_tiny_edm_pickle(
    path: str | os.PathLike, label_dim: int = 0, resolution: int = 8, channels: int = 3
) -> Path:
    """Write a tiny EDM-format network pickle (seed 0) to ``path`` and return the path."""
    return write_edm_pickle(path, tiny_edm_net(label_dim, resolution, channels))
