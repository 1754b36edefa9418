"""Devices and random generators: the ``--device`` option of every command, and one policy for
where tensors and generators live.

``--device`` takes ``cpu``, ``cuda``, ``cuda:N`` or ``auto``:

- ``cuda`` is what the workflow passes to a job that was given a GPU (rule parameter
  ``Workflow.torch_device`` in :mod:`artrl.workflow`). Without CUDA it stops with a message; it
  never falls back to the CPU.
- ``auto`` (CUDA if present, else the CPU with a notice) is passed only when the run allows
  GPU jobs on the CPU explicitly (config ``allow_cpu: true``: tiny checks, test clusters whose
  GPUs are fake).
- On a node that shows several GPUs, ``cuda`` (and ``auto``) claims one of them for the
  process with a lock file (:func:`claim_gpu`), so ``snakemake --cores all --resources gpu=N``
  on a workstation with N cards puts each GPU job on its own card. A SLURM job sees only the
  card it was given (``CUDA_VISIBLE_DEVICES``) and claims nothing.

Generators follow the model: :func:`generator` makes a seeded ``torch.Generator`` on the device
of the network it feeds (NVlabs/edm ``generate.py`` draws its latents the same way), and
:func:`model_device` says which device that is.

Numerics: torch's intra-op CPU thread count changes how reductions are split, and so the last
bits of a result (a trained model's weights among them). Every command that runs torch takes
``--threads N`` (:func:`threads_arg`, default 1), sets it with :func:`set_threads`, and records
:func:`numerics_record` (threads, ATen's CPU dispatch level, the oneDNN / ATen ISA overrides,
torch's version) in its output, so a result says which numerics made it.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import torch

__all__ = [
    "DEVICE_CHOICES",
    "DeviceError",
    "resolve_device",
    "device_arg",
    "claim_gpu",
    "generator",
    "model_device",
    "THREADS_HELP",
    "threads_arg",
    "set_threads",
    "numerics_record",
]

DEVICE_CHOICES = "cpu | cuda | cuda:N | auto"
DEVICE_HELP = (
    f"torch device: {DEVICE_CHOICES} (cuda stops if there is none; auto: cuda if available, "
    "else the cpu with a notice)"
)
LOCK_DIR_ENV = "ARTRL_GPU_LOCK_DIR"
THREADS_HELP = (
    "torch intra-op CPU threads: the numerics depend on it, so the workflow passes a fixed "
    "value from the config (torch_threads), never the machine's core count"
)

_claimed: dict[int, object] = {}  # GPU index -> open lock file, held for the process's life


class DeviceError(ValueError):
    """An unknown device name, or a CUDA device that is not there."""


def _lock_dir() -> Path:
    default = Path(tempfile.gettempdir()) / f"artrl-gpu-locks-{os.getuid()}"
    return Path(os.environ.get(LOCK_DIR_ENV) or default)


def claim_gpu(
    count: int, lock_dir: str | Path | None = None, *, wait_s: float = 3600.0, poll_s: float = 2.0
) -> int:
    """Index of a GPU among ``count`` visible ones that no other artrl process holds.

    Each card has a lock file ``gpu<i>.lock`` in ``lock_dir`` (``$ARTRL_GPU_LOCK_DIR``, default
    a per-user folder in the temp dir); the first one free is locked (``flock``) until this
    process exits. With every card taken it waits, up to ``wait_s`` seconds, then raises
    :class:`DeviceError`. The index is local to ``CUDA_VISIBLE_DEVICES``.
    """
    for i in _claimed:
        if i < count:
            return i
    folder = Path(lock_dir) if lock_dir is not None else _lock_dir()
    folder.mkdir(parents=True, exist_ok=True)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "all")
    deadline = time.monotonic() + wait_s
    while True:
        for i in range(count):
            f = open(folder / f"gpu{i}.lock", "a+")  # noqa: SIM115 - held open: the lock
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.close()
                continue
            f.seek(0)
            f.truncate()
            f.write(f"pid {os.getpid()} CUDA_VISIBLE_DEVICES={visible}\n")
            f.flush()
            _claimed[i] = f
            return i
        if time.monotonic() > deadline:
            raise DeviceError(
                f"all {count} GPUs are held by other artrl jobs (lock files in {folder}) after "
                f"{wait_s:.0f} s; run at most {count} GPU jobs at once (--resources gpu={count})"
            )
        time.sleep(poll_s)


def resolve_device(
    name: str | torch.device, *, quiet: bool = False, claim: bool = False
) -> torch.device:
    """The ``torch.device`` for ``name`` (``cpu``, ``cuda``, ``cuda:N``, ``auto``).

    ``auto`` falls back to the CPU when CUDA is not available, printing a one-line notice to
    stderr unless ``quiet``. Raises :class:`DeviceError` for an unknown name or a CUDA device
    that is not available. With ``claim``, ``cuda`` and ``auto`` on a node with several visible
    GPUs take a free one (:func:`claim_gpu`) instead of always the first.
    """
    if isinstance(name, torch.device):
        name = str(name)
    text = str(name).strip().lower()
    if text == "auto":
        if not torch.cuda.is_available():
            if not quiet:
                print(
                    "device auto: CUDA is not available, using the CPU",
                    file=sys.stderr,
                    flush=True,
                )
            return torch.device("cpu")
        text = "cuda"
    if text == "cpu":
        return torch.device("cpu")
    m = re.fullmatch(r"cuda(?::(\d+))?", text)
    if m is None:
        raise DeviceError(f"unknown device {name!r}; choose one of: {DEVICE_CHOICES}")
    if not torch.cuda.is_available():
        raise DeviceError(
            f"device {name!r} requested but CUDA is not available (torch {torch.__version__}, "
            f"CUDA build {torch.version.cuda or 'none'}); run GPU jobs on a GPU node (the gpu or "
            "slurm profile), or use --device cpu for a small check"
        )
    count = torch.cuda.device_count()
    if m.group(1) is None:
        if claim and count > 1:
            return torch.device("cuda", claim_gpu(count))
        return torch.device("cuda")
    index = int(m.group(1))
    if index >= count:
        raise DeviceError(f"device {name!r} requested but only {count} CUDA device(s) are visible")
    return torch.device("cuda", index)


def device_arg(name: str) -> torch.device:
    """``argparse`` type for ``--device``: an error names the accepted values; ``cuda`` claims a
    free card where several are visible."""
    try:
        return resolve_device(name, claim=True)
    except DeviceError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with ``seed`` (mod 2³², as EDM's
    ``generate.py`` does). Draw with it on the same device: ``randn(..., generator=g,
    device=g.device)``."""
    return torch.Generator(device=torch.device(device)).manual_seed(int(seed) % (1 << 32))


def model_device(model) -> torch.device:
    """The device of a denoiser or network: its ``device`` attribute, else its first parameter
    or buffer, else the CPU (an analytic model without tensors)."""
    dev = getattr(model, "device", None)
    if dev is not None:
        return torch.device(dev)
    for attr in ("parameters", "buffers"):
        fn = getattr(model, attr, None)
        if callable(fn):
            for t in fn():
                return t.device
    for attr in ("net", "model", "denoiser"):  # wrappers: EDMDenoiser, CountingDenoiser, ...
        inner = getattr(model, attr, None)
        if inner is not None and inner is not model:
            return model_device(inner)
    return torch.device("cpu")


# ----------------------------------------------------------------------------------------------
# Numerics: the thread count and CPU kernels a result was computed with


def numerics_record() -> dict:
    """What decides this process's CPU numerics, as a JSON-serialisable dict: torch's intra-op
    thread count, ATen's CPU dispatch level (``"AVX2"``, ``"AVX512"``, ...), the
    ``ONEDNN_MAX_CPU_ISA`` and ``ATEN_CPU_CAPABILITY`` overrides (None when unset) and torch's
    version."""
    return {
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
        "aten_cpu_capability": os.environ.get("ATEN_CPU_CAPABILITY"),
        "torch": str(torch.__version__),
    }


def set_threads(n: int) -> dict:
    """``torch.set_num_threads(n)`` for an int ``n >= 1``; returns :func:`numerics_record`.

    Raises ValueError naming ``n`` otherwise (0 would not mean "torch's default" here: a
    command's numerics never follow the machine's core count)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"torch threads must be an integer >= 1, got {n!r}")
    torch.set_num_threads(n)
    return numerics_record()


def positive_int(text: str) -> int:
    """``argparse`` type of ``--threads`` (and any other count): an integer >= 1."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {v}")
    return v


def read_numerics(value: object, path: str | os.PathLike) -> dict | None:
    """A numerics record stored as a JSON string in an npz (``None``: a file from before they
    were recorded); a malformed one is a ValueError naming ``path``."""
    if value is None:
        return None
    try:
        return json.loads(str(value))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: its 'numerics' is not JSON ({e})") from None


def threads_arg(parser: argparse.ArgumentParser) -> argparse.Action:
    """Add the shared ``--threads N`` option (an integer >= 1, default 1) to ``parser``; the
    command then calls :func:`set_threads` with it."""
    return parser.add_argument("--threads", type=positive_int, default=1, help=THREADS_HELP)
