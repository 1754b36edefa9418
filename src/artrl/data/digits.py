"""The scikit-learn handwritten digits (1797 images, 8×8, 10 classes) as an image data set.

Images are returned as float32 tensors ``[N, 1, R, R]`` in [−1, 1] (EDM's convention: uint8
pixel ``p`` ↔ ``p/127.5 − 1``); the raw pixel values 0..16 are mapped linearly, 0 → −1 and
16 → +1. Resolutions above the native 8×8 are made by bilinear interpolation of the [−1, 1]
images (``align_corners=False``). The train/test split is stratified by class and depends only
on ``seed`` and ``test_fraction``, so it is the same at every resolution.

The data ship with scikit-learn, so nothing is downloaded.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "RESOLUTIONS",
    "N_CLASSES",
    "load_digits_images",
    "split_indices",
    "to_uint8",
    "from_uint8",
]

RESOLUTIONS = (8, 16, 32)
N_CLASSES = 10
_MAX_PIXEL = 16.0


@functools.lru_cache(maxsize=1)
def _raw() -> tuple[np.ndarray, np.ndarray]:
    """(images [N, 8, 8] float64 in 0..16, labels [N] int64) from scikit-learn's bundled copy.

    Cached; the arrays are read-only, so callers must copy before changing them.
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    images, labels = d.images, d.target.astype(np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def split_indices(
    y: np.ndarray, seed: int = 0, test_fraction: float = 0.2
) -> tuple[np.ndarray, np.ndarray]:
    """A stratified (train, test) split of ``range(len(y))``, both sorted, fixed by ``seed``.

    Each class contributes ``round(test_fraction · n_class)`` test items, chosen by a
    permutation from ``numpy.random.default_rng(seed)`` drawn class by class in label order.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    rng = np.random.default_rng(seed)
    test = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        n_test = int(round(test_fraction * len(idx)))
        test.append(rng.permutation(idx)[:n_test])
    test_idx = np.sort(np.concatenate(test))
    train_idx = np.setdiff1d(np.arange(len(y)), test_idx)
    return train_idx, test_idx


def resize(x: Tensor, resolution: int) -> Tensor:
    """Bilinear resize of ``[N, C, H, W]`` images to ``resolution × resolution``."""
    if x.shape[-1] == resolution and x.shape[-2] == resolution:
        return x
    return F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False)


def load_digits_images(
    resolution: int = 8, split: str = "all", seed: int = 0, test_fraction: float = 0.2
) -> tuple[Tensor, Tensor]:
    """(x, y): images float32 ``[N, 1, R, R]`` in [−1, 1] and labels int64 ``[N]``.

    ``split`` is "all", "train" or "test"; ``resolution`` is 8 (native), 16 or 32.
    """
    if resolution not in RESOLUTIONS:
        raise ValueError(f"resolution must be one of {RESOLUTIONS}, got {resolution!r}")
    if split not in ("all", "train", "test"):
        raise ValueError(f"split must be 'all', 'train' or 'test', got {split!r}")
    images, labels = _raw()
    if split != "all":
        train_idx, test_idx = split_indices(labels, seed, test_fraction)
        keep = train_idx if split == "train" else test_idx
        images, labels = images[keep], labels[keep]
    x = torch.tensor(images, dtype=torch.float32)[:, None] * (2.0 / _MAX_PIXEL) - 1.0
    x = resize(x, resolution).clamp(-1.0, 1.0).contiguous()
    return x, torch.tensor(labels, dtype=torch.int64)


def to_uint8(x: Tensor) -> Tensor:
    """[−1, 1] images → uint8 0..255 with EDM's rounding ``(x·127.5 + 128).clip(0, 255)``."""
    return (x * 127.5 + 128).clip(0, 255).to(torch.uint8)


def from_uint8(x: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """uint8 0..255 → [−1, 1] floats, ``p/127.5 − 1`` (the inverse used by EDM's loaders)."""
    return x.to(dtype) / 127.5 - 1.0
