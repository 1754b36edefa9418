"""Fréchet distances (FID) of generated image shards against reference statistics.

The pipeline's own path, independent of clean-fid's resizing::

    load_shards(paths) -> uint8 [N, H, W, C] -> feature extractor -> float64 [N, D]
        -> feature_stats -> frechet_distance(mu, sigma, ref_mu, ref_sigma)

Statistics are float64 (``np.cov``, ``rowvar=False``, i.e. the ``n − 1`` normalisation of
EDM's ``fid.py``), and ``FID = ‖μ1 − μ2‖² + tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^{1/2})``.

Feature extractors (:func:`build_feature_extractor`, the extension point):

* ``digits``: penultimate features of the project's digit classifier
  (:mod:`artrl.metrics.digits_features`), for the digits data set.
* ``inception``: clean-fid's ``legacy_tensorflow`` Inception (NVIDIA's TorchScript port of
  the TF Inception graph, ``inception-2015-12-05.pt``, resizing inside the network), loaded
  from a *local* file given by ``--inception-path`` (config key ``fid.inception_path``);
  nothing is ever downloaded. Paired with EDM's ``fid-refs/*.npz`` (keys ``mu``, ``sigma``)
  this is the configuration closest to the paper's FIDs. A TorchScript file carries the code
  it runs, so it is loaded only when its sha256 is allowed: the digests given by
  ``--inception-sha256`` (config key ``fid.inception_sha256``), or else the one pinned for its
  path in the lock file (``--lock``, default ``resources/checksums.json``, written by the
  workflow's download rule); an unpinned file is refused, naming its digest.

To add an extractor, write a builder ``f(args: FeatureArgs) -> callable`` whose callable maps
uint8 ``[N, H, W, C]`` numpy images to float64 ``[N, D]`` features and has ``feat_dim`` and
``describe()`` attributes, and register it in :data:`FEATURE_BUILDERS`.

Reference statistics are npz files with keys ``mu`` and ``sigma`` (EDM's layout) and, when
written by :func:`save_ref_stats`, a ``meta_json`` string describing how they were made.

Run ``python -m artrl.metrics.fid --help`` for the command line interface. Its report's
``numerics`` (:func:`artrl.device.numerics_record`) names the threads (``--threads``, default
1) and CPU kernels the features were computed with.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import linalg

from artrl.cells import check_shards
from artrl.device import DEVICE_HELP, device_arg, numerics_record, threads_arg
from artrl.download import lock_key, read_lock
from artrl.io import read_npz, write_json
from artrl.metrics.common import (
    CliHelpFormatter,
    RefStats,
    feature_stats,
    load_ref_stats,
    nhwc_uint8_to_nchw,
    save_ref_stats,
    torch_threads,
)
from artrl.models import DEFAULT_LOCK

__all__ = [
    "INCEPTION_URL",
    "FEATURE_BUILDERS",
    "DEFAULT_LOCK",
    "FeatureArgs",
    "InceptionFeatureExtractor",
    "RefStats",
    "build_feature_extractor",
    "feature_stats",
    "fid_blocks",
    "fid_from_features",
    "frechet_distance",
    "inception_sha256_allowed",
    "load_ref_stats",
    "load_shards",
    "main",
    "save_ref_stats",
    "CliHelpFormatter",
    "torch_threads",
]

INCEPTION_URL = (
    "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/"
    "inception-2015-12-05.pt"
)


# --------------------------------------------------------------------------- statistics


def _sqrtm(a: np.ndarray) -> np.ndarray:
    """scipy's matrix square root, without its singular/ill-conditioned warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        with np.errstate(all="ignore"):
            return linalg.sqrtm(a)


def frechet_distance(
    mu1: Any, sigma1: Any, mu2: Any, sigma2: Any, eps: float = 1e-6, imag_atol: float = 1e-3
) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64.

    ``‖μ1 − μ2‖² + tr(Σ1) + tr(Σ2) − 2 tr((Σ1 Σ2)^{1/2})`` with ``scipy.linalg.sqrtm``.
    If the square root of the product is not finite (singular product), ``eps·I`` is added
    to both covariances and it is retried. Of a complex result the real part is used (as
    NVlabs/edm ``fid.py``), with a ``RuntimeWarning`` naming the largest imaginary part of the
    diagonal when it exceeds ``imag_atol``.
    """
    mu1 = np.atleast_1d(np.asarray(mu1, dtype=np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    if mu1.ndim != 1 or mu1.shape != mu2.shape:
        raise ValueError(f"mean vectors differ in shape: {list(mu1.shape)} vs {list(mu2.shape)}")
    d = mu1.shape[0]
    if sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(
            f"covariances must be [{d}, {d}], got {list(sigma1.shape)} and {list(sigma2.shape)}"
        )
    diff = mu1 - mu2
    covmean = _sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(d) * eps
        covmean = _sqrtm((sigma1 + offset) @ (sigma2 + offset))
        if not np.isfinite(covmean).all():
            raise ValueError(f"sqrtm(Σ1 Σ2) is not finite even with {eps} added to the diagonal")
    if np.iscomplexobj(covmean):
        # NVlabs/edm fid.py keeps the real part whatever the imaginary part is; so do we, and
        # say how large it was when it is not round-off
        worst = float(np.max(np.abs(np.diagonal(covmean).imag)))
        if worst > imag_atol:
            warnings.warn(
                f"sqrtm(Σ1 Σ2) has an imaginary part up to {worst:.3g} on its diagonal "
                f"(above {imag_atol:g}; trace of it {float(np.trace(covmean).imag):.3g}); "
                "the real part is used, as EDM does. The covariances are near singular: "
                "more samples make the FID trustworthy",
                RuntimeWarning,
                stacklevel=2,
            )
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def fid_from_features(f1: Any, f2: Any) -> float:
    """FID between two feature sets ``[N1, D]`` and ``[N2, D]``."""
    return frechet_distance(*feature_stats(f1), *feature_stats(f2))


def fid_blocks(feats_gen: Any, ref_mu: Any, ref_sigma: Any, blocks: int = 1) -> dict[str, Any]:
    """FIDs of ``blocks`` disjoint consecutive equal-size blocks of the generated features.

    Block ``b`` holds rows ``[b·m, (b+1)·m)`` with ``m = N // blocks`` (a remainder of
    ``N mod blocks`` rows at the end is left out, so all blocks have the same size and the
    same small-sample bias; EDM reports the minimum over three such 50k blocks). Returns
    ``{"fids", "mean", "min", "max", "blocks", "block_size", "ranges", "n_unused"}``.
    """
    f = np.asarray(feats_gen, dtype=np.float64)
    if f.ndim != 2:
        raise ValueError(f"features must be [N, D], got shape {list(f.shape)}")
    if int(blocks) != blocks or blocks < 1:
        raise ValueError(f"blocks must be a positive integer, got {blocks!r}")
    blocks = int(blocks)
    m = f.shape[0] // blocks
    if m < 2:
        raise ValueError(f"{f.shape[0]} feature vectors are too few for {blocks} blocks of >= 2")
    ranges = [(b * m, (b + 1) * m) for b in range(blocks)]
    fids = [frechet_distance(*feature_stats(f[a:z]), ref_mu, ref_sigma) for a, z in ranges]
    return {
        "fids": fids,
        "mean": float(np.mean(fids)),
        "min": float(np.min(fids)),
        "max": float(np.max(fids)),
        "blocks": blocks,
        "block_size": m,
        "ranges": [list(r) for r in ranges],
        "n_unused": int(f.shape[0] - blocks * m),
    }


# --------------------------------------------------------------------------- files


def load_shards(paths: Sequence[str | Path]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate sample shards into ``(images uint8 [N, H, W, C], seeds int64 [N])``.

    Each shard is an ``.npz`` with ``images`` (uint8 ``[n, H, W, C]``) and ``seeds`` (integer
    ``[n]``). The result is sorted by seed; a seed occurring twice (within or across shards)
    or inconsistent image shapes raise ``ValueError`` naming the files.
    """
    if len(paths) == 0:
        raise ValueError("no shard files given")
    all_images, all_seeds, owner = [], [], []
    shape = None
    first = None
    for i, p in enumerate(paths):
        p = Path(p)
        if not p.is_file():
            raise FileNotFoundError(f"{p}: shard file not found")
        images, seeds = read_npz(
            p, ("images", "seeds"), "shard (expected 'images' uint8 [N, H, W, C], 'seeds' [N])"
        )
        if images.dtype != np.uint8 or images.ndim != 4:
            raise ValueError(
                f"{p}: 'images' must be uint8 [N, H, W, C], got {images.dtype} {list(images.shape)}"
            )
        if images.shape[-1] not in (1, 3):
            raise ValueError(f"{p}: 'images' must have 1 or 3 channels, got {list(images.shape)}")
        if seeds.ndim != 1 or not np.issubdtype(seeds.dtype, np.integer):
            raise ValueError(
                f"{p}: 'seeds' must be an integer vector, got {seeds.dtype} {list(seeds.shape)}"
            )
        if len(seeds) != len(images):
            raise ValueError(f"{p}: {len(images)} images but {len(seeds)} seeds")
        if shape is None:
            shape, first = images.shape[1:], p
        elif images.shape[1:] != shape:
            raise ValueError(
                f"{p}: images are {list(images.shape[1:])} (H, W, C) but {first} has {list(shape)}"
            )
        all_images.append(images)
        all_seeds.append(seeds.astype(np.int64))
        owner.append(np.full(len(seeds), i, dtype=np.int64))
    images = np.concatenate(all_images)
    seeds = np.concatenate(all_seeds)
    owners = np.concatenate(owner)
    order = np.argsort(seeds, kind="stable")
    seeds, owners = seeds[order], owners[order]
    dup = np.flatnonzero(seeds[1:] == seeds[:-1])
    if dup.size:
        lines = []
        for j in dup[:5]:
            a, b = Path(paths[owners[j]]), Path(paths[owners[j + 1]])
            where = f"twice in {a}" if a == b else f"in {a} and {b}"
            lines.append(f"seed {int(seeds[j])} {where}")
        more = f" (and {dup.size - 5} more)" if dup.size > 5 else ""
        raise ValueError("duplicate seeds across shards: " + "; ".join(lines) + more)
    return images[order], seeds


# --------------------------------------------------------------------------- extractors


@dataclass
class FeatureArgs:
    """What a feature-extractor builder may need (mirrors the CLI flags / config keys)."""

    classifier: str | None = None
    inception_path: str | None = None
    device: str = "cpu"
    batch_size: int = 256
    #: digests the Inception TorchScript may have (``--inception-sha256``); None: the lock's pin
    inception_sha256: Sequence[str] | None = None
    lock: str = DEFAULT_LOCK  # the lock file pinning downloaded files (``--lock``)


def inception_sha256_allowed(
    path: str | Path, sha256: Sequence[str] | str | None = None, lock: str | Path = DEFAULT_LOCK
) -> set[str] | None:
    """The sha256 digests the Inception TorchScript at ``path`` may have before it is loaded.

    ``sha256`` (a digest or several; config ``fid.inception_sha256``, CLI
    ``--inception-sha256``) allows files explicitly; otherwise the digest pinned for this path
    in ``lock`` (written by the workflow's download rule) is the only one allowed. None when
    nothing is given and nothing is pinned: the file is then refused (the policy of
    :func:`artrl.models.trusted_sha256` for EDM pickles).
    """
    if sha256 is not None:
        given = [sha256] if isinstance(sha256, str) else list(sha256)
        return {str(d).strip().lower() for d in given}
    lock = Path(lock)
    pinned = read_lock(lock).get(lock_key(path, lock)) if lock.exists() else None
    return None if pinned is None else {pinned.strip().lower()}


class InceptionFeatureExtractor:
    """clean-fid's ``legacy_tensorflow`` Inception features (2048-d) from a local TorchScript.

    Replicates ``cleanfid.features.build_feature_extractor(mode="legacy_tensorflow")``
    (``InceptionV3W(..., resize_inside=True)``) without its download: images become float32
    ``[N, 3, H, W]`` in [0, 255] at native size (grey images repeated to 3 channels, as PIL's
    ``convert("RGB")`` does), and ``model(x, return_features=True)`` resizes to 299 inside.
    Input: numpy uint8 ``[N, H, W, C]`` or torch uint8/float ``[N, C, H, W]``.
    """

    feat_dim = 2048

    def __init__(
        self,
        path: str | Path | None,
        device: str = "cpu",
        batch_size: int = 256,
        *,
        sha256_allowed: Sequence[str] | None = None,
        lock: str | Path = DEFAULT_LOCK,
    ):
        """``sha256_allowed``: the digests the file may have (None: the one pinned for ``path``
        in ``lock``); a file whose digest is not allowed, or not pinned, is refused with
        ``ValueError`` before it is loaded."""
        if path is None or not Path(path).is_file():
            where = "no path given" if path is None else f"{path}: file not found"
            raise FileNotFoundError(
                f"Inception TorchScript file missing ({where}). Set the config key "
                "fid.inception_path (CLI: --inception-path) to a local copy of "
                f"inception-2015-12-05.pt ({INCEPTION_URL}); nothing is downloaded."
            )
        self.path = Path(path)
        data = self.path.read_bytes()  # hashed and loaded from the same bytes
        digest = hashlib.sha256(data).hexdigest()
        self.sha256 = _check_inception_sha256(self.path, digest, sha256_allowed, Path(lock))
        self.device = torch.device(device)
        self.batch_size = int(batch_size)
        try:
            with warnings.catch_warnings():  # torch >= 2.9 marks TorchScript as deprecated
                warnings.simplefilter("ignore", FutureWarning)
                self.model = torch.jit.load(io.BytesIO(data), map_location=self.device).eval()
        except Exception as e:  # re-raised with the file name
            raise ValueError(f"{self.path}: not a loadable TorchScript Inception ({e})") from None

    def describe(self) -> dict[str, Any]:
        """Metadata for the FID report."""
        return {
            "features": "inception",
            "inception_path": str(self.path),
            "inception_sha256": self.sha256,
            "mode": "legacy_tensorflow",
        }

    @torch.no_grad()
    def __call__(self, images: Any) -> np.ndarray | torch.Tensor:
        """Features float64 ``[N, 2048]`` (numpy for numpy input, torch for torch input)."""
        if isinstance(images, np.ndarray):
            x = nhwc_uint8_to_nchw(images)
        else:
            x = images.detach().cpu()
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        out = []
        for i in range(0, len(x), self.batch_size):
            xb = x[i : i + self.batch_size].to(self.device, torch.float32)
            f = self.model(xb, return_features=True).reshape(len(xb), -1)
            out.append(f.to("cpu", torch.float64))
        feats = torch.cat(out) if out else torch.zeros(0, self.feat_dim, dtype=torch.float64)
        return feats.numpy() if isinstance(images, np.ndarray) else feats


def _check_inception_sha256(
    path: Path, digest: str, sha256: Sequence[str] | None, lock: Path
) -> str:
    """``digest`` (the file's sha256), if it is allowed (:func:`inception_sha256_allowed`);
    else ValueError naming the file, its digest and the fix."""
    allowed = inception_sha256_allowed(path, sha256, lock)
    allow = (
        f"allow it explicitly with the config key fid.inception_sha256: {digest} "
        f"(CLI: --inception-sha256 {digest})"
    )
    why = "loading a TorchScript file runs the code in it"
    if allowed is None:
        raise ValueError(
            f"{path}: refusing to load this Inception TorchScript ({why}): its sha256 {digest} "
            f"is not pinned in {lock}. Download it with the workflow's download rule (which "
            f"pins it), or, if this file is trusted, {allow}"
        )
    if digest not in allowed:
        source = (
            f"the one pinned in {lock}" if sha256 is None else "the allowed fid.inception_sha256"
        )
        raise ValueError(
            f"{path}: refusing to load this Inception TorchScript ({why}): its sha256 {digest} "
            f"is not {source} ({', '.join(sorted(allowed)) or 'none'}). If this file is "
            f"trusted, {allow}; if it should be the downloaded one, delete it and download it "
            "again"
        )
    return digest


def _build_digits(args: FeatureArgs) -> Callable[[Any], Any]:
    from artrl.metrics.digits_features import digits_feature_extractor

    if not args.classifier:
        raise ValueError("--features digits needs --classifier PATH (a digits classifier .pt)")
    ext = digits_feature_extractor(args.classifier, args.device, args.batch_size)
    ext.describe = lambda: {  # type: ignore[attr-defined]
        "features": "digits",
        "classifier": str(args.classifier),
        "classifier_sha256": ext.sha256,
        "resolution": ext.resolution,
    }
    return ext


def _build_inception(args: FeatureArgs) -> Callable[[Any], Any]:
    return InceptionFeatureExtractor(
        args.inception_path,
        args.device,
        args.batch_size,
        sha256_allowed=args.inception_sha256,
        lock=args.lock,
    )


#: name -> builder(FeatureArgs) -> extractor; the extension point for new feature spaces.
FEATURE_BUILDERS: dict[str, Callable[[FeatureArgs], Callable[[Any], Any]]] = {
    "digits": _build_digits,
    "inception": _build_inception,
}


def build_feature_extractor(name: str, args: FeatureArgs | None = None, **kw: Any) -> Any:
    """Build the extractor registered as ``name`` (see :data:`FEATURE_BUILDERS`)."""
    if name not in FEATURE_BUILDERS:
        raise ValueError(f"unknown features {name!r}; choose from {sorted(FEATURE_BUILDERS)}")
    return FEATURE_BUILDERS[name](args if args is not None else FeatureArgs(**kw))


# --------------------------------------------------------------------------- CLI


def _check_ref_matches(ref_path: Path, meta: dict[str, Any], info: dict[str, Any]) -> None:
    """Refuse reference stats made with another feature network than the one in use."""
    if "features" in meta and meta["features"] != info["features"]:
        raise ValueError(
            f"{ref_path}: reference stats are for features {meta['features']!r}, "
            f"not {info['features']!r}"
        )
    sha = meta.get("classifier_sha256")
    if sha and info.get("classifier_sha256") and sha != info["classifier_sha256"]:
        raise ValueError(
            f"{ref_path}: reference stats were made with classifier {meta.get('classifier')} "
            f"(sha256 {sha[:12]}…), not {info.get('classifier')} "
            f"(sha256 {info['classifier_sha256'][:12]}…); recompute them"
        )


def compute_fid_report(
    shards: Sequence[str | Path],
    ref: str | Path,
    features: str = "digits",
    blocks: int = 1,
    feature_args: FeatureArgs | None = None,
) -> dict[str, Any]:
    """Everything the CLI writes: FID of all shard images and per-block FIDs vs ``ref``."""
    t0 = time.perf_counter()
    ref_path = Path(ref)
    ref_stats = load_ref_stats(ref_path)
    images, seeds = load_shards(shards)
    ext = build_feature_extractor(features, feature_args or FeatureArgs())
    info = ext.describe()
    _check_ref_matches(ref_path, ref_stats.meta, info)
    feats = np.asarray(ext(images), dtype=np.float64)
    if feats.shape[1] != ref_stats.mu.shape[0]:
        raise ValueError(
            f"{ref_path}: reference stats have {ref_stats.mu.shape[0]} dimensions but the "
            f"{features} features have {feats.shape[1]}"
        )
    fid = frechet_distance(*feature_stats(feats), ref_stats.mu, ref_stats.sigma)
    fb = fid_blocks(feats, ref_stats.mu, ref_stats.sigma, blocks)
    return {
        "fid": fid,
        "fid_blocks": fb,
        "blocks": fb["blocks"],
        "n_images": int(len(images)),
        "image_shape": list(images.shape[1:]),
        "seed_min": int(seeds.min()),
        "seed_max": int(seeds.max()),
        "features": features,
        "feat_dim": int(feats.shape[1]),
        "feature_info": info,
        "ref": str(ref_path),
        "ref_meta": ref_stats.meta,
        "shards": [str(s) for s in shards],
        "seconds": time.perf_counter() - t0,
    }


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m artrl.metrics.fid",
        formatter_class=CliHelpFormatter,
        description="FID of generated sample shards (.npz with 'images' uint8 [N,H,W,C] and "
        "'seeds') against reference statistics (.npz with 'mu', 'sigma'). Features are "
        "computed at the images' native size (no clean-fid resize); nothing is downloaded.",
    )
    p.add_argument(
        "--shards",
        nargs="+",
        required=True,
        metavar="SHARD",
        help="sample shard .npz files (concatenated in seed order; seeds unique)",
    )
    p.add_argument("--ref", required=True, help="reference statistics .npz (keys mu, sigma)")
    p.add_argument(
        "--features",
        default="digits",
        choices=sorted(FEATURE_BUILDERS),
        help="feature extractor",
    )
    p.add_argument("--classifier", help="digits classifier checkpoint (for --features digits)")
    p.add_argument(
        "--inception-path",
        help="local inception-2015-12-05.pt TorchScript (for --features inception; "
        "config key fid.inception_path)",
    )
    p.add_argument(
        "--inception-sha256",
        action="append",
        metavar="DIGEST",
        help="allow the Inception TorchScript with this sha256 (repeatable; config key "
        "fid.inception_sha256); without it, only the digest pinned for --inception-path in "
        "--lock is allowed, and an unpinned file is refused",
    )
    p.add_argument(
        "--lock",
        default=DEFAULT_LOCK,
        help="lock file of pinned sha256 digests (written by the workflow's download rule)",
    )
    p.add_argument(
        "--blocks",
        type=int,
        default=1,
        help="also report FIDs of this many disjoint equal-size blocks (EDM: 3 × 50k)",
    )
    p.add_argument(
        "--device", type=device_arg, default="cpu", help=f"{DEVICE_HELP}, for the features"
    )
    p.add_argument("--batch-size", type=int, default=256, help="images per forward pass")
    threads_arg(p)
    p.add_argument(
        "--meta",
        default=None,
        help="JSON object whose keys are added to the report's top level (e.g. the cell's "
        '{"dataset", "name", "method", "solver", "K", "nfe"}); they may not shadow report keys',
    )
    p.add_argument("--out", required=True, help="output JSON report")
    return p


def _parse_meta(text: str | None) -> dict[str, Any]:
    """The ``--meta`` JSON object (``{}`` when not given)."""
    if text is None:
        return {}
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"--meta is not valid JSON ({e}): {text!r}") from None
    if not isinstance(meta, dict):
        raise ValueError(f"--meta must be a JSON object, got {text!r}")
    return meta


#: the --meta keys that name an FID cell of the workflow (then its shards are checked)
CELL_KEYS = {"dataset", "solver", "K"}


def main(argv: list[str] | None = None) -> int:
    """Command line entry point (see ``--help``)."""
    args = _parser().parse_args(argv)
    fargs = FeatureArgs(
        args.classifier,
        args.inception_path,
        args.device,
        args.batch_size,
        inception_sha256=args.inception_sha256,
        lock=args.lock,
    )
    try:
        meta = _parse_meta(args.meta)
        # a cell named by --meta (the workflow's fid_cell) reads only its own shards: each
        # shard's metadata must match it (artrl.cells), before any feature is computed
        used = check_shards(args.shards, meta) if CELL_KEYS <= set(meta) else {}
        with torch_threads(args.threads):
            report = compute_fid_report(args.shards, args.ref, args.features, args.blocks, fargs)
            report["numerics"] = numerics_record()  # of the feature extraction
        report.update(used)
        clash = sorted(set(meta) & set(report))
        if clash:
            raise ValueError(f"--meta keys {clash} would overwrite computed report keys")
        report.update(meta)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    write_json(args.out, report)
    fb = report["fid_blocks"]
    print(
        f"FID ({args.features}, {report['n_images']} images) = {report['fid']:.4f}; "
        f"{fb['blocks']} block(s) of {fb['block_size']}: mean {fb['mean']:.4f}, "
        f"min {fb['min']:.4f}, max {fb['max']:.4f} -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
