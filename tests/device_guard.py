"""A guard that fails on any tensor or generator made by artrl code without the model's device.

On a CPU-only machine a tensor made without ``device=`` lands on the CPU, which is the model's
device, so a mix of CPU and CUDA tensors (the bug class of a first GPU run) never shows. The
guard makes it show: inside ``DeviceGuard(device)``, every tensor factory (``zeros``, ``full``,
``randn``, ``arange``, ``tensor``, ``eye``, ...) and every ``torch.Generator`` called directly
from a file under ``src/artrl`` must name ``device=`` and name the expected one. Calls made by
torch itself (a module's parameter init, autograd internals) are not checked.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch.overrides import TorchFunctionMode

ARTRL_SRC = str(Path(__file__).resolve().parents[1] / "src" / "artrl")

FACTORIES = frozenset(
    "zeros ones full empty randn rand randint randperm arange linspace logspace tensor "
    "as_tensor eye normal".split()
)


_MISSING = object()


def _from_artrl(depth: int) -> str | None:
    """``file:line`` of the frame ``depth`` levels up when it is artrl code, else None."""
    f = sys._getframe(depth + 1)
    path = f.f_code.co_filename
    if path.startswith(ARTRL_SRC):
        return f"{Path(path).relative_to(Path(ARTRL_SRC).parent)}:{f.f_lineno}"
    return None


class DeviceGuard(TorchFunctionMode):
    """Record (and with ``strict``, raise on) factory calls from artrl without ``device``."""

    def __init__(self, device: str | torch.device = "cpu", strict: bool = True):
        super().__init__()
        self.device = torch.device(device)
        self.strict = strict
        self.violations: list[str] = []
        self._generator = torch.Generator

    def _check(self, what: str, device, where: str | None) -> None:
        if where is None:
            return
        if device is None:
            problem = f"{where}: torch.{what} without device="
        elif torch.device(device).type != self.device.type:
            problem = f"{where}: torch.{what} on {device}, the model is on {self.device}"
        else:
            return
        self.violations.append(problem)
        if self.strict:
            raise AssertionError(problem)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name in FACTORIES and getattr(torch, name, None) is func:
            data_is_tensor = name in ("tensor", "as_tensor") and args and torch.is_tensor(args[0])
            if not data_is_tensor:  # as_tensor(t) keeps t's device
                self._check(name, kwargs.get("device"), _from_artrl(1))
        return func(*args, **kwargs)

    def __enter__(self):
        guard = self
        base = self._generator

        class GuardedGenerator(base):
            def __new__(cls, device=_MISSING, **kw):
                dev = kw.get("device") if device is _MISSING else device
                guard._check("Generator", dev, _from_artrl(1))
                return super().__new__(cls, device=dev if dev is not None else "cpu")

            def __init__(self, *args, **kwargs):
                pass

        torch.Generator = GuardedGenerator
        return super().__enter__()

    def __exit__(self, *exc):
        torch.Generator = self._generator
        return super().__exit__(*exc)
