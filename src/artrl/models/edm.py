"""Load NVIDIA EDM network pickles (Karras et al. 2022) without EDM's code.

EDM's pretrained files (NVlabs/edm ``README.md``; written by ``training/training_loop.py``) are
plain pickles of ``dict(ema=…, loss_fn=…, augment_pipe=…, dataset_kwargs=…)``. Every network
object in them is an instance of a ``@persistence.persistent_class`` and reduces to
``torch_utils.persistence._reconstruct_persistent_obj(meta)`` with
``meta = dict(type="class", version=6, module_src=<source of the defining module>,
class_name=…, state=<obj.__dict__>)`` (NVlabs/edm ``torch_utils/persistence.py``): the network
*code* travels inside the pickle; only the imports of that code must resolve.

EDM is licensed CC BY-NC-SA 4.0, so nothing of it is vendored here. This module is an
independent implementation of the loading side of that format:

* :class:`_EDMUnpickler` maps the two EDM globals a pickle refers to (the reconstruct function
  and ``dnnlib.util.EasyDict``) onto this module's own :func:`reconstruct_persistent_obj` and
  :class:`AttrDict`;
* while a file loads, stub modules ``torch_utils``, ``torch_utils.persistence`` (pass-through
  ``persistent_class``, no-op ``import_hook``) and ``torch_utils.misc`` sit in ``sys.modules``
  so that ``from torch_utils import persistence`` in the embedded source resolves; they are
  removed afterwards (any module of those names that was there before is put back), so no
  top-level ``torch_utils`` package is ever installed (docs/references.md §3.1);
* objects whose source cannot be executed (``loss_fn``, ``augment_pipe`` with imports that do
  not resolve) become :class:`UnloadedObject` stubs; only ``ema`` is kept and it must be
  complete.

Forward-mode AD (docs/references.md §3.1): EDM's U-Nets compute attention weights through
``AttentionOp`` (NVlabs/edm ``training/networks.py``), an old-style ``torch.autograd.Function``
(``forward(ctx, q, k)`` and ``backward``, no ``setup_context``/``jvp``), on which
``torch.func.jvp`` and ``torch.autograd.forward_ad`` raise. After loading, each embedded
module's ``AttentionOp`` is replaced by :class:`AttentionWeights`, plain tensor ops with the
same forward (softmax of ``qᵀk/√C`` in float32), so the JVP that gives Q (arXiv 2601.18681
Eq. 8) runs in forward mode, and double-backward (``torch.autograd.functional.jvp``) keeps
working. The replacement is checked bit-for-bit against the original on a probe before it is
installed.

:class:`EDMDenoiser` adapts a loaded network to the project's denoiser interface
``D(x, σ, labels)`` (float64 in, float64 out; :mod:`artrl.solvers`).

Unpickling executes code from the file: pass ``sha256_allowed`` (config: ``model.sha256``) to
load only files with known digests.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import math
import os
import pickle
import sys
import threading
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from artrl.io import file_sha256

__all__ = [
    "PERSISTENCE_VERSION",
    "EDMPickleError",
    "AttrDict",
    "UnloadedObject",
    "AttentionWeights",
    "reconstruct_persistent_obj",
    "load_edm",
    "file_sha256",
    "EDMDenoiser",
]

PERSISTENCE_VERSION = 6  # meta["version"] written by EDM's torch_utils/persistence.py
_STUB_NAMES = ("torch_utils", "torch_utils.persistence", "torch_utils.misc")
_EDM_HINT = (
    "expected a network pickle from NVIDIA EDM, e.g. "
    "https://nvlabs-fi-cdn.nvidia.com/edm/pretrained/edm-cifar10-32x32-cond-vp.pkl"
)


class EDMPickleError(ValueError):
    """A file that is not a loadable EDM network pickle; the message names the file."""


class AttrDict(dict):
    """A dict whose keys are also attributes (stands in for ``dnnlib.util.EasyDict``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None


class UnloadedObject:
    """Placeholder for a persistent object whose embedded source could not be executed."""

    def __init__(self, class_name: str, reason: str):
        self.class_name = class_name
        self.reason = reason

    def __repr__(self) -> str:
        return f"UnloadedObject({self.class_name!r}: {self.reason})"


class _SourceError(Exception):
    """The embedded ``module_src`` of a persistent object raised while being executed."""


# ----------------------------------------------------------------------------------------------
# Reconstructing persistent objects


_LOCK = threading.RLock()  # sys.modules stubs and the source cache are process-wide
_MODULES: dict[str, types.ModuleType] = {}  # sha256(module_src) -> module executed from it


def _source_module(src: str) -> types.ModuleType:
    """The module executed from ``src``, cached per source text (one module per source)."""
    digest = hashlib.sha256(src.encode("utf-8")).hexdigest()
    module = _MODULES.get(digest)
    if module is not None:
        return module
    name = f"_artrl_edm_src_{digest[:16]}"
    module = types.ModuleType(name)
    module.__file__ = f"<EDM module_src {digest[:16]}>"
    sys.modules[name] = module  # some code (dataclasses, typing) looks itself up by name
    try:
        exec(compile(src, module.__file__, "exec"), module.__dict__)
    except Exception as e:
        del sys.modules[name]
        raise _SourceError(f"{type(e).__name__}: {e}") from e
    _MODULES[digest] = module
    return module


def reconstruct_persistent_obj(meta: dict) -> Any:
    """Rebuild one persistent object from its ``meta`` (NVlabs/edm ``torch_utils/persistence.py``).

    Executes ``meta["module_src"]`` into a fresh module (cached per source text), looks up
    ``meta["class_name"]`` there, creates the object with ``__new__`` and restores
    ``meta["state"]`` (through ``__setstate__`` where the class has one, as ``nn.Module``
    does, else into ``__dict__``).
    """
    if not isinstance(meta, dict):
        raise EDMPickleError(f"persistent object metadata is a {type(meta).__name__}, not a dict")
    meta = AttrDict(meta)
    version = meta.get("version")
    if version != PERSISTENCE_VERSION:
        raise EDMPickleError(
            f"persistent object {meta.get('class_name')!r} has persistence version {version!r}; "
            f"this loader reads version {PERSISTENCE_VERSION} (NVIDIA EDM's torch_utils)"
        )
    if meta.get("type") != "class":
        raise EDMPickleError(f"persistent object type {meta.get('type')!r} is not 'class'")
    src, class_name = meta.get("module_src"), meta.get("class_name")
    if not isinstance(src, str) or not isinstance(class_name, str):
        raise EDMPickleError("persistent object without module_src/class_name strings")
    module = _source_module(src)
    cls = module.__dict__.get(class_name)
    if not isinstance(cls, type):
        raise EDMPickleError(f"class {class_name!r} is not defined by its embedded module_src")
    obj = cls.__new__(cls)
    state = dict(meta.get("state") or {})
    setstate = getattr(obj, "__setstate__", None)
    if callable(setstate):
        setstate(state)
    else:
        obj.__dict__.update(state)
    return obj


def _stub_modules() -> dict[str, types.ModuleType]:
    """Stand-ins for the ``torch_utils`` modules that EDM's embedded sources import."""
    pkg = types.ModuleType("torch_utils")
    pkg.__path__ = []  # a package, so ``from torch_utils import persistence`` works
    pkg.__doc__ = "artrl stub (artrl.models.edm), present only while an EDM pickle loads"

    persistence = types.ModuleType("torch_utils.persistence")

    def persistent_class(orig_class: type) -> type:  # pass-through decorator
        return orig_class

    def import_hook(hook: Any) -> Any:  # no-op: artrl patches after loading instead
        return hook

    persistence.persistent_class = persistent_class
    persistence.import_hook = import_hook
    persistence.is_persistent = lambda obj: False
    persistence._reconstruct_persistent_obj = reconstruct_persistent_obj

    misc = types.ModuleType("torch_utils.misc")

    def _missing(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(
            f"torch_utils.misc.{name} is not available: artrl loads EDM pickles with a stub "
            "torch_utils.misc (only the network, 'ema', is used)"
        )

    misc.__getattr__ = _missing
    pkg.persistence, pkg.misc = persistence, misc
    return {"torch_utils": pkg, "torch_utils.persistence": persistence, "torch_utils.misc": misc}


@contextlib.contextmanager
def _temporary_stubs() -> Iterator[None]:
    """Install the ``torch_utils`` stubs in ``sys.modules``; restore what was there after."""
    with swapped_modules(_stub_modules()):
        yield


@contextlib.contextmanager
def swapped_modules(modules: dict[str, types.ModuleType]) -> Iterator[None]:
    """Put ``modules`` into ``sys.modules`` under the loader's lock, and put back what was there
    (or nothing) on exit. The loader's stubs and the writer's (:mod:`artrl.models.edm_writer`)
    use the same names, so both go through here."""
    with _LOCK:
        saved = {name: sys.modules.get(name) for name in modules}
        sys.modules.update(modules)
        try:
            yield
        finally:
            for name, old in saved.items():
                if old is None:
                    sys.modules.pop(name, None)
                else:
                    sys.modules[name] = old


class _EDMUnpickler(pickle.Unpickler):
    """Resolves EDM's persistence globals to this module's own implementation."""

    def __init__(self, file, path: Path):
        super().__init__(file)
        self.path = path
        self.unloaded: list[UnloadedObject] = []

    def _reconstruct(self, meta: dict) -> Any:
        try:
            return reconstruct_persistent_obj(meta)
        except _SourceError as e:  # e.g. loss_fn / augment_pipe imports that do not resolve
            name = meta.get("class_name", "?") if isinstance(meta, dict) else "?"
            stub = UnloadedObject(str(name), str(e))
            self.unloaded.append(stub)
            return stub

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("torch_utils.persistence", "_reconstruct_persistent_obj"):
            return self._reconstruct
        if module in ("dnnlib.util", "dnnlib") and name == "EasyDict":
            return AttrDict
        if module == "torch_utils" or module.startswith(("torch_utils.", "dnnlib")):
            raise EDMPickleError(
                f"{self.path}: refers to {module}.{name}, which artrl's EDM loader does not "
                "provide (only the persistence reconstructor and dnnlib.util.EasyDict)"
            )
        return super().find_class(module, name)


# ----------------------------------------------------------------------------------------------
# Forward-mode AD for EDM's attention (docs/references.md §3.1)


class AttentionWeights:
    """Drop-in for EDM's ``AttentionOp``: ``apply(q, k)`` → softmax_k(qᵀk/√C) per head.

    q, k: ``[N, C, Q]`` and ``[N, C, K]``; returns ``[N, Q, K]`` in q's dtype, computed in
    float32 exactly as the original forward, but with plain tensor ops, so forward mode
    (``torch.func.jvp``, ``torch.autograd.forward_ad``) and double backward both work.
    """

    artrl_patched = True

    @staticmethod
    def apply(q: Tensor, k: Tensor) -> Tensor:
        scale = math.sqrt(k.shape[1])
        logits = torch.einsum("ncq,nck->nqk", q.to(torch.float32), (k / scale).to(torch.float32))
        return logits.softmax(dim=2).to(q.dtype)


def _has_forward_ad(fn_cls: type) -> bool:
    """Whether an ``autograd.Function`` subclass supports ``torch.func.jvp``: it must define
    its own ``jvp`` and the new-style ``setup_context`` (docs/references.md §3.1)."""
    base = torch.autograd.Function
    return fn_cls.jvp is not base.jvp and fn_cls.setup_context is not base.setup_context


def _patch_attention(module: types.ModuleType) -> bool:
    """Replace ``module.AttentionOp`` by :class:`AttentionWeights` when it has no forward AD.

    The replacement is installed only if it reproduces the original forward bit for bit on a
    random probe; returns whether the module now has a forward-mode-capable attention op.
    """
    op = module.__dict__.get("AttentionOp")
    if op is None or getattr(op, "artrl_patched", False):
        return op is not None
    if not (isinstance(op, type) and issubclass(op, torch.autograd.Function)):
        return False
    if _has_forward_ad(op):
        return True
    cpu = torch.device("cpu")  # a probe at load time, before the network moves to its device
    gen = torch.Generator(device=cpu).manual_seed(0)
    q = torch.randn(2, 8, 5, generator=gen, device=cpu)
    k = torch.randn(2, 8, 7, generator=gen, device=cpu)
    try:
        with torch.no_grad():
            same = torch.equal(op.apply(q, k), AttentionWeights.apply(q, k))
    except Exception:
        same = False
    if not same:
        return False
    module._artrl_original_AttentionOp = op
    module.AttentionOp = AttentionWeights
    return True


# ----------------------------------------------------------------------------------------------
# Loading


def _find_unloaded(obj: Any, seen: set[int] | None = None, depth: int = 0) -> UnloadedObject | None:
    """The first :class:`UnloadedObject` reachable from a module tree (attributes, containers)."""
    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 64 or isinstance(obj, Tensor | str | bytes | int | float):
        return None
    seen.add(id(obj))
    if isinstance(obj, UnloadedObject):
        return obj
    if isinstance(obj, dict):
        children = list(obj.values())
    elif isinstance(obj, list | tuple | set):
        children = list(obj)
    elif isinstance(obj, nn.Module):
        children = list(vars(obj).values())
    else:
        return None
    for child in children:
        found = _find_unloaded(child, seen, depth + 1)
        if found is not None:
            return found
    return None


def load_edm(
    path: str | os.PathLike,
    device: str | torch.device = "cpu",
    *,
    sha256_allowed: set[str] | None = None,
) -> nn.Module:
    """The EMA network (``data["ema"]``) of an NVIDIA EDM pickle, in eval mode, no grads.

    ``sha256_allowed``: if given, the file's sha256 must be in it (unpickling runs code from
    the file). The network's attention op is patched for forward-mode AD (module docstring).
    Raises FileNotFoundError (missing file) or :class:`EDMPickleError` (not an EDM pickle,
    wrong persistence version, digest not allowed, network code that does not load).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: EDM network pickle not found; download it (python -m artrl.download) or "
            "set the dataset's model.path in the config to a local copy"
        )
    if sha256_allowed is not None:
        digest = file_sha256(path)
        allowed = {str(s).strip().lower() for s in sha256_allowed}
        if digest not in allowed:
            raise EDMPickleError(
                f"{path}: sha256 {digest} is not in the allowed list "
                f"({', '.join(sorted(allowed)) or 'empty'}); loading a pickle runs the code in "
                "it, so it is refused. If this file is trusted, add its sha256 to the model's "
                "sha256 list in the config."
            )
    with _LOCK, _temporary_stubs(), open(path, "rb") as f:
        unpickler = _EDMUnpickler(f, path)
        try:
            data = unpickler.load()
        except EDMPickleError as e:
            msg = str(e)
            raise EDMPickleError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None
        except Exception as e:  # unpickling errors come in many types; name the file
            raise EDMPickleError(
                f"{path}: not a loadable EDM network pickle ({type(e).__name__}: {e}); {_EDM_HINT}"
            ) from e
        for module in _MODULES.values():  # forward-mode AD for the attention op
            _patch_attention(module)
    if not isinstance(data, dict) or "ema" not in data:
        keys = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise EDMPickleError(f"{path}: no 'ema' network in the pickle (found {keys}); {_EDM_HINT}")
    net = data["ema"]
    bad = _find_unloaded(net)
    if bad is not None:
        raise EDMPickleError(
            f"{path}: the network code ({bad.class_name}) embedded in the pickle does not load: "
            f"{bad.reason}"
        )
    if not isinstance(net, nn.Module):
        raise EDMPickleError(f"{path}: 'ema' is a {type(net).__name__}, not a torch module")
    return net.eval().requires_grad_(False).to(device)


# ----------------------------------------------------------------------------------------------
# The project's denoiser interface


class EDMDenoiser(nn.Module):
    """``D(x, σ, labels)`` around an EDM network: float64 in and out (EDMPrecond's
    interface: NVlabs/edm ``training/networks.py``).

    ``x``: ``[B, C, H, W]`` (any float dtype, cast to float32 for the network); ``sigma``: a
    number, a 0-dim tensor or ``[B]``; ``labels``: None, one-hot ``[B, label_dim]`` or integer
    class indices ``[B]`` (ignored by unconditional networks; None on a conditional network
    means an all-zero label vector, as in EDM). ``force_fp32`` is passed on to networks that
    accept it (EDM's preconditioners run in fp16 on CUDA when ``use_fp16``; set it for JVPs).
    """

    def __init__(self, net: nn.Module, *, force_fp32: bool = False):
        super().__init__()
        self.net = net
        self.img_channels = int(net.img_channels)
        self.img_resolution = int(net.img_resolution)
        self.label_dim = int(getattr(net, "label_dim", 0) or 0)
        self.sigma_min = float(getattr(net, "sigma_min", 0.0))
        self.sigma_max = float(getattr(net, "sigma_max", math.inf))
        self.sigma_data = float(getattr(net, "sigma_data", 0.5))
        params = inspect.signature(net.forward).parameters
        self._kwargs = {"force_fp32": True} if force_fp32 and "force_fp32" in params else {}

    def round_sigma(self, sigma: Tensor | float) -> Tensor:
        """The network's σ rounding (identity for EDMPrecond; EDM ``round_sigma``)."""
        rs = getattr(self.net, "round_sigma", None)
        if rs is not None:
            return rs(sigma)
        return torch.as_tensor(sigma, device=self._device())

    def _device(self) -> torch.device:
        return next((p.device for p in self.net.parameters()), torch.device("cpu"))

    def fit_grid(self, sigmas) -> np.ndarray:
        """A σ-grid as this network samples it: EDM's ``edm_sampler`` keeps its schedule inside
        the network's [sigma_min, sigma_max] and passes it through ``net.round_sigma``
        (NVlabs/edm ``generate.py``). Both are no-ops for EDMPrecond (range [0, ∞), identity);
        for VP/VE/iDDPM networks the positive σ's are rounded, and a grid that leaves the
        range is refused, since clamping an explicit grid would change the schedule itself."""
        s = np.asarray(sigmas, dtype=np.float64)
        pos = s > 0
        lo, hi = self.sigma_min, self.sigma_max
        out = s[pos]
        if out.size and (out.min() < lo * (1 - 1e-9) or out.max() > hi * (1 + 1e-9)):
            raise ValueError(
                f"σ-grid [{out.max():g} … {out.min():g}] leaves the range [{lo:g}, {hi:g}] of "
                f"this {type(self.net).__name__} network; set the dataset's sigma_max and "
                "sigma_min inside it (EDM clamps its schedule to the network's range)"
            )
        rounded = self.round_sigma(torch.as_tensor(out, dtype=torch.float64, device=self._device()))
        res = s.copy()
        res[pos] = rounded.detach().to("cpu", torch.float64).numpy().reshape(-1)
        return res

    def _labels(self, labels: Tensor | None, batch: int, device: torch.device) -> Tensor | None:
        if self.label_dim == 0 or labels is None:
            return None
        if not labels.is_floating_point():  # class indices [B]
            labels = F.one_hot(labels.long().reshape(-1), self.label_dim)
        return labels.to(device=device, dtype=torch.float32).reshape(batch, self.label_dim)

    def forward(self, x: Tensor, sigma: Tensor | float, labels: Tensor | None = None) -> Tensor:
        if x.ndim != 4:
            raise ValueError(f"EDM denoiser expects x of shape [B, C, H, W], got {tuple(x.shape)}")
        sigma = torch.as_tensor(sigma, dtype=torch.float64, device=x.device)
        if sigma.ndim not in (0, 1) or (sigma.ndim == 1 and sigma.shape[0] not in (1, x.shape[0])):
            raise ValueError(
                f"sigma must be 0-dim or [B] with B = {x.shape[0]}, got {tuple(sigma.shape)}"
            )
        out = self.net(
            x.to(torch.float32),
            sigma,
            self._labels(labels, x.shape[0], x.device),
            **self._kwargs,
        )
        return out.to(torch.float64)
