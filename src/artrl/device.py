"""The ``--device`` option of every command: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.

``auto`` is what the workflow passes to jobs that were given a GPU (rule parameter
``torch_device`` in ``workflow/rules/common.smk``): CUDA when it is available, else the CPU with
a one-line notice on stderr, so that a GPU job that lands on a node without one still runs.
An explicit ``cuda`` without CUDA, or an unknown name, is an error that says what is accepted.
"""

from __future__ import annotations

import argparse
import re
import sys

import torch

__all__ = ["DEVICE_CHOICES", "DeviceError", "resolve_device", "device_arg"]

DEVICE_CHOICES = "cpu | cuda | cuda:N | auto"
DEVICE_HELP = f"torch device: {DEVICE_CHOICES} (auto: cuda if available, else cpu)"


class DeviceError(ValueError):
    """An unknown device name, or a CUDA device that is not there."""


def resolve_device(name: str | torch.device, *, quiet: bool = False) -> torch.device:
    """The ``torch.device`` for ``name`` (``cpu``, ``cuda``, ``cuda:N``, ``auto``).

    ``auto`` falls back to the CPU when CUDA is not available, printing a one-line notice to
    stderr unless ``quiet``. Raises :class:`DeviceError` for an unknown name or a CUDA device
    that is not available.
    """
    if isinstance(name, torch.device):
        name = str(name)
    text = str(name).strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if not quiet:
            print("device auto: CUDA is not available, using the CPU", file=sys.stderr, flush=True)
        return torch.device("cpu")
    if text == "cpu":
        return torch.device("cpu")
    m = re.fullmatch(r"cuda(?::(\d+))?", text)
    if m is None:
        raise DeviceError(f"unknown device {name!r}; choose one of: {DEVICE_CHOICES}")
    if not torch.cuda.is_available():
        raise DeviceError(
            f"device {name!r} requested but CUDA is not available (torch {torch.__version__}, "
            f"CUDA build {torch.version.cuda or 'none'}); use --device cpu or --device auto"
        )
    if m.group(1) is None:
        return torch.device("cuda")
    index, count = int(m.group(1)), torch.cuda.device_count()
    if index >= count:
        raise DeviceError(f"device {name!r} requested but only {count} CUDA device(s) are visible")
    return torch.device("cuda", index)


def device_arg(name: str) -> torch.device:
    """``argparse`` type for ``--device``: an error names the accepted values."""
    try:
        return resolve_device(name)
    except DeviceError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
