"""What the FID command (:mod:`artrl.metrics.fid`) and the digits feature network
(:mod:`artrl.metrics.digits_features`) share: feature statistics, reference-statistics files,
the shard image layout, a thread limit and the help formatter of their command lines.

Both import this module and :mod:`artrl.metrics.fid` imports the digits one, never the other
way round (tests/test_layers.py); :mod:`artrl.metrics.fid` re-exports these names.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from artrl.io import atomic_write, read_npz

__all__ = [
    "CliHelpFormatter",
    "RefStats",
    "feature_stats",
    "load_ref_stats",
    "nhwc_uint8_to_nchw",
    "save_ref_stats",
    "torch_threads",
]


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Temporarily ``torch.set_num_threads(n)`` (no-op for ``None``); restored on exit.

    Tiny CPU networks run fastest, and reproducibly, on one thread when the machine is shared.
    """
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def feature_stats(feats: Any) -> tuple[np.ndarray, np.ndarray]:
    """Float64 mean ``[D]`` and covariance ``[D, D]`` (``n − 1`` normalised) of ``feats [N, D]``."""
    f = np.asarray(feats, dtype=np.float64)
    if f.ndim != 2:
        raise ValueError(f"features must be [N, D], got shape {list(f.shape)}")
    if f.shape[0] < 2:
        raise ValueError(f"need at least 2 feature vectors for a covariance, got {f.shape[0]}")
    mu = f.mean(axis=0)
    sigma = np.atleast_2d(np.cov(f, rowvar=False))
    return mu, sigma


def nhwc_uint8_to_nchw(images: np.ndarray) -> torch.Tensor:
    """Checked uint8 images ``[N, H, W, C]`` (the shard layout) as a uint8 ``[N, C, H, W]`` view."""
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(
            f"numpy images must be uint8 [N, H, W, C], got {images.dtype} {list(images.shape)}"
        )
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)


class RefStats(NamedTuple):
    """Reference statistics: ``mu [D]``, ``sigma [D, D]`` (float64) and ``meta`` (dict)."""

    mu: np.ndarray
    sigma: np.ndarray
    meta: dict[str, Any]


def save_ref_stats(path: str | Path, mu: Any, sigma: Any, **meta: Any) -> Path:
    """Write reference statistics atomically to ``path`` (npz: ``mu``, ``sigma``, ``meta_json``).

    ``meta`` must be JSON-serialisable; it is stored as a JSON string (no pickles).
    """
    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise ValueError(
            f"mu must be [D] and sigma [D, D], got {list(mu.shape)}, {list(sigma.shape)}"
        )
    meta_json = json.dumps(meta, sort_keys=True)

    def _w(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, mu=mu, sigma=sigma, meta_json=np.array(meta_json))

    return atomic_write(path, _w)


def load_ref_stats(path: str | Path) -> RefStats:
    """Read reference statistics (ours or EDM's ``fid-refs/*.npz``): ``RefStats(mu, sigma, meta)``.

    ``meta`` is ``{}`` for files without ``meta_json`` (e.g. EDM's).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: reference statistics file not found")
    mu, sigma, meta_json = read_npz(
        path, ("mu", "sigma"), "reference statistics file", optional=("meta_json",)
    )
    mu, sigma = mu.astype(np.float64), sigma.astype(np.float64)
    try:
        meta = json.loads(str(meta_json)) if meta_json is not None else {}
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: meta_json is not valid JSON ({e})") from None
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise ValueError(
            f"{path}: mu must be [D] and sigma [D, D], got {list(mu.shape)}, {list(sigma.shape)}"
        )
    return RefStats(mu, sigma, meta)


class CliHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: …)`` only for options that have a meaningful default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        d = action.default
        if action.required or d is None or d is False or d is argparse.SUPPRESS:
            return action.help or ""
        return super()._get_help_string(action) or ""
