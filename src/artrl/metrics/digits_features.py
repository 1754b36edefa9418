"""A small digit classifier whose penultimate layer is the feature space of the digits FID.

Inception features mean little for 8×8 grey digits, so the digits chain measures FID in the
feature space of a LeNet-like CNN trained on the train split of :mod:`artrl.data.digits`
(the "LeNet-FID" of Table 4 of the extended paper, arXiv 2607.02137, with this project's own
network).

* :class:`DigitsNet`: conv(3×3)×2 → max-pool → conv(3×3) → adaptive average pool to 2×2 →
  fully connected (``feat_dim`` units, tanh as in LeNet: the *features*) → 10 logits. Sized
  for 8×8 inputs; the adaptive pool makes it run unchanged at 16×16 and 32×32. (tanh rather
  than ReLU: a ReLU layer trained on 1.4k images leaves about half its units dead, and the
  feature covariance singular.)
* :func:`train_classifier` / :func:`save_classifier` / :func:`load_classifier`.
* :func:`digits_feature_extractor`: a callable mapping uint8 images to float64 features,
  usable by :mod:`artrl.metrics.fid` and as clean-fid's ``custom_feat_extractor``.
* :func:`compute_ref_stats`: reference (μ, Σ) over the *full* data set (both splits), from
  the data quantised to uint8 exactly as generated samples are.

Command line (``python -m artrl.metrics.digits_features --help``)::

    python -m artrl.metrics.digits_features train --resolution 8 --seed 0 --epochs 60 \\
        --out results/fid/digits/classifier.pt
    python -m artrl.metrics.digits_features ref-stats --classifier \\
        results/fid/digits/classifier.pt --resolution 8 --out results/fid/digits/ref_stats.npz

Training is deterministic on CPU for a fixed seed (global RNG state is forked and restored;
results can differ in the last bits across machines or thread counts: ``--threads``, default 1,
and the CPU kernels are recorded as ``numerics`` in the checkpoint's info, its report and the
reference statistics' meta).
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from artrl.device import DEVICE_HELP, device_arg, numerics_record, threads_arg
from artrl.io import atomic_write, file_sha256, run_cli, write_json
from artrl.metrics.common import (
    CliHelpFormatter,
    feature_stats,
    nhwc_uint8_to_nchw,
    save_ref_stats,
    torch_threads,
)

__all__ = [
    "CHECKPOINT_FORMAT",
    "DigitsNet",
    "DigitsFeatureExtractor",
    "train_classifier",
    "evaluate_accuracy",
    "save_classifier",
    "load_classifier",
    "digits_feature_extractor",
    "compute_ref_stats",
    "file_sha256",
    "main",
]

CHECKPOINT_FORMAT = "artrl.digits_classifier/1"


class DigitsNet(nn.Module):
    """LeNet-like classifier for 1-channel digit images in [−1, 1].

    ``embed(x)`` returns the penultimate (tanh) activations ``[N, feat_dim]``;
    ``forward(x)`` the 10 class logits.
    """

    def __init__(
        self, width: int = 32, feat_dim: int = 64, n_classes: int = 10, dropout: float = 0.2
    ):
        super().__init__()
        self.arch = {"width": width, "feat_dim": feat_dim, "n_classes": n_classes}
        self.body = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
        )
        self.fc = nn.Linear(2 * width * 4, feat_dim)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(feat_dim, n_classes)

    @property
    def feat_dim(self) -> int:
        """Dimension of the feature vector returned by :meth:`embed`."""
        return self.fc.out_features

    def embed(self, x: Tensor) -> Tensor:
        """Penultimate-layer features ``[N, feat_dim]`` of images ``[N, 1, H, W]`` in [−1, 1]."""
        return torch.tanh(self.fc(self.body(x)))

    def forward(self, x: Tensor) -> Tensor:
        """Class logits ``[N, n_classes]``."""
        return self.head(self.drop(self.embed(x)))


def _random_shift(x: Tensor, max_shift: int, gen: torch.Generator) -> Tensor:
    """Translate each image by an integer offset in [−max_shift, max_shift]², filling with −1."""
    if max_shift <= 0:
        return x
    n, _, h, w = x.shape
    p = max_shift
    padded = F.pad(x, (p, p, p, p), value=-1.0)
    dy = torch.randint(0, 2 * p + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * p + 1, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(h)[None, :]).to(x.device)  # [n, h]
    cols = (dx[:, None] + torch.arange(w)[None, :]).to(x.device)  # [n, w]
    idx_n = torch.arange(n, device=x.device)[:, None, None]
    out = padded[idx_n, 0, rows[:, :, None], cols[:, None, :]]
    return out[:, None]


@torch.no_grad()
def evaluate_accuracy(model: DigitsNet, x: Tensor, y: Tensor, batch_size: int = 1024) -> float:
    """Top-1 accuracy of ``model`` (in eval mode) on images ``x`` with labels ``y``."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for i in range(0, len(x), batch_size):
        logits = model(x[i : i + batch_size].to(device))
        correct += int((logits.argmax(1).cpu() == y[i : i + batch_size]).sum())
    model.train(was_training)
    return correct / max(len(x), 1)


def train_classifier(
    resolution: int = 8,
    seed: int = 0,
    epochs: int = 60,
    batch_size: int = 64,
    lr: float = 3e-3,
    weight_decay: float = 1e-4,
    width: int = 32,
    feat_dim: int = 64,
    max_shift: int | None = None,
    data_seed: int = 0,
    test_fraction: float = 0.2,
    device: str | torch.device = "cpu",
    threads: int | None = 1,
    progress: bool = True,
    data: tuple[Tensor, Tensor, Tensor, Tensor] | None = None,
) -> tuple[DigitsNet, dict[str, Any]]:
    """Train :class:`DigitsNet` on the train split; return ``(model in eval mode, info)``.

    Adam with cosine learning-rate decay, cross-entropy, random ±``max_shift``-pixel
    translations (default ``resolution // 8``). ``data`` = ``(x_train, y_train, x_test,
    y_test)`` overrides :func:`artrl.data.digits.load_digits_images` (split by
    ``data_seed`` / ``test_fraction``). ``threads`` sets torch's CPU threads while training
    (restored afterwards; ``None`` leaves them): one thread is both the fastest for this tiny
    net on a shared machine and bit-reproducible. ``info`` holds the configuration, the final
    train and held-out test accuracies and the wall time.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if data is None:
        from artrl.data.digits import load_digits_images

        x_tr, y_tr = load_digits_images(resolution, "train", data_seed, test_fraction)
        x_te, y_te = load_digits_images(resolution, "test", data_seed, test_fraction)
    else:
        x_tr, y_tr, x_te, y_te = data
    if max_shift is None:
        max_shift = max(1, resolution // 8)
    device = torch.device(device)
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=[]), torch_threads(threads):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        model = DigitsNet(width=width, feat_dim=feat_dim).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
        steps_per_epoch = (len(x_tr) + batch_size - 1) // batch_size
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps_per_epoch)
        model.train()
        bar = tqdm(range(epochs), desc="digits classifier", disable=not progress, leave=False)
        loss_avg = float("nan")
        for _ in bar:
            perm = torch.randperm(len(x_tr), generator=gen)
            total = 0.0
            for i in range(0, len(x_tr), batch_size):
                idx = perm[i : i + batch_size]
                xb = _random_shift(x_tr[idx], max_shift, gen).to(device)
                loss = F.cross_entropy(model(xb), y_tr[idx].to(device))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                total += float(loss.detach()) * len(idx)
            loss_avg = total / len(x_tr)
            bar.set_postfix(loss=f"{loss_avg:.4f}")
        numerics = numerics_record()  # what the weights were computed with
    model.eval()
    info = {
        "resolution": resolution,
        "seed": seed,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "weight_decay": weight_decay,
        "max_shift": max_shift,
        "arch": dict(model.arch),
        "data_seed": data_seed,
        "test_fraction": test_fraction,
        "n_train": len(x_tr),
        "n_test": len(x_te),
        "final_train_loss": loss_avg,
        "train_accuracy": evaluate_accuracy(model, x_tr, y_tr),
        "test_accuracy": evaluate_accuracy(model, x_te, y_te),
        "train_seconds": time.perf_counter() - t0,
        "threads": threads,
        "numerics": numerics,
        "device": str(device),
        "torch": str(torch.__version__),
    }
    return model, info


def save_classifier(path: str | Path, model: DigitsNet, info: dict[str, Any]) -> Path:
    """Write the classifier checkpoint (state dict + arch + info) atomically to ``path``.

    The wall time (``train_seconds``) stays out of the file (the CLI's ``<out>.json`` has it):
    the same training writes the same bytes, so the checkpoint's sha256, which every reference
    statistics file and FID result records, does not change from run to run."""
    ckpt = {
        "format": CHECKPOINT_FORMAT,
        "arch": dict(model.arch),
        "resolution": int(info["resolution"]),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "info": {k: v for k, v in info.items() if k != "train_seconds"},
    }

    def _w(tmp: str) -> None:
        buf = io.BytesIO()
        torch.save(ckpt, buf)
        with open(tmp, "wb") as f:
            f.write(buf.getvalue())

    return atomic_write(path, _w)


def load_classifier(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[DigitsNet, dict[str, Any]]:
    """Load a checkpoint written by :func:`save_classifier`: ``(model in eval mode, ckpt)``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: digits classifier not found (train it with "
            f"`python -m artrl.metrics.digits_features train --out {path}`)"
        )
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # re-raised with the file name
        raise ValueError(f"{path}: not a readable torch checkpoint ({e})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a digits classifier checkpoint ({CHECKPOINT_FORMAT})")
    arch = ckpt["arch"]
    model = DigitsNet(width=arch["width"], feat_dim=arch["feat_dim"], n_classes=arch["n_classes"])
    model.load_state_dict(ckpt["state_dict"])
    model.to(device).eval()
    return model, ckpt


class DigitsFeatureExtractor:
    """Callable: images → float64 penultimate features ``[N, feat_dim]`` of a digit classifier.

    Accepted inputs (``N`` images of the classifier's resolution ``R × R``):

    * numpy ``uint8`` ``[N, H, W, C]`` (shard layout) → numpy float64 features;
    * torch ``uint8`` ``[N, C, H, W]`` → torch float64 features (on CPU);
    * torch floating ``[N, C, H, W]`` with values in [0, 255] (what clean-fid passes) →
      torch float64 features.

    ``C`` is 1 or 3; 3 channels are averaged to grey (exact for grey images stored as RGB).
    Pixels ``p`` become ``p/127.5 − 1`` (:func:`artrl.data.digits.from_uint8`, the inverse
    of the loader's ``to_uint8``). Images are processed in batches under ``torch.no_grad``.

    **As clean-fid's ``custom_feat_extractor``** (clean-fid calls ``model(batch)`` on float32
    ``[B, 3, H, W]`` in [0, 255] and then ``.detach().cpu().numpy()``)::

        from cleanfid import fid
        ext = digits_feature_extractor("results/fid/digits/classifier.pt", "cpu")
        fid.compute_fid(gen_png_dir, ref_png_dir, mode="legacy_tensorflow",
                        custom_feat_extractor=ext, device=torch.device("cpu"), num_workers=0)

    Use ``mode="legacy_tensorflow"``: its resizer is the identity, so images arrive at their
    native size; ``clean``/``legacy_pytorch`` resize to 299×299, which this extractor rejects
    (it checks the size). Only folder-vs-folder or generator-vs-folder comparisons make sense
    (clean-fid's precomputed statistics are Inception statistics). The pipeline itself
    (:mod:`artrl.metrics.fid`) does not use clean-fid.
    """

    def __init__(
        self,
        model: DigitsNet,
        resolution: int,
        device: str | torch.device = "cpu",
        batch_size: int = 1024,
        source: str | None = None,
    ):
        self.model = model.to(device).eval()
        self.resolution = int(resolution)
        self.device = torch.device(device)
        self.batch_size = int(batch_size)
        self.source = source
        self.feat_dim = model.feat_dim
        self.sha256: str | None = None

    def _to_unit_nchw(self, images: Any) -> Tensor:
        """Images in any accepted layout → float32 ``[N, 1, R, R]`` in [−1, 1] (CPU)."""
        from artrl.data.digits import from_uint8

        if isinstance(images, np.ndarray):
            t = nhwc_uint8_to_nchw(images)
        elif isinstance(images, Tensor):
            if images.ndim != 4:
                raise ValueError(f"torch images must be [N, C, H, W], got {list(images.shape)}")
            t = images.detach().cpu()
            if not (t.dtype == torch.uint8 or t.is_floating_point()):
                raise ValueError(f"torch images must be uint8 or float in [0, 255], got {t.dtype}")
        else:
            raise TypeError(f"images must be a numpy array or torch tensor, got {type(images)}")
        n, c, h, w = t.shape
        if c not in (1, 3):
            raise ValueError(
                f"images must have 1 or 3 channels, got {c} (shape {list(images.shape)}; numpy "
                "input is [N, H, W, C], torch input is [N, C, H, W])"
            )
        if (h, w) != (self.resolution, self.resolution):
            raise ValueError(
                f"images are {h}×{w} but the digits classifier{self._src()} was trained at "
                f"{self.resolution}×{self.resolution}; features at another size are not comparable"
                " (with clean-fid use mode='legacy_tensorflow', which does not resize)"
            )
        if c == 3:  # grey first, in pixel units (exact for equal channels)
            t = t.to(torch.float32).mean(dim=1, keepdim=True)
        if t.dtype == torch.uint8:
            return from_uint8(t)
        # the same arithmetic as from_uint8: p/127.5 − 1
        return t.to(torch.float32).clamp(0.0, 255.0) / 127.5 - 1.0

    def _src(self) -> str:
        return f" ({self.source})" if self.source else ""

    @torch.no_grad()
    def __call__(self, images: Any) -> np.ndarray | Tensor:
        """Features float64 ``[N, feat_dim]`` (numpy for numpy input, torch for torch input)."""
        x = self._to_unit_nchw(images)
        out = [
            self.model.embed(x[i : i + self.batch_size].to(self.device)).to("cpu", torch.float64)
            for i in range(0, len(x), self.batch_size)
        ]
        feats = torch.cat(out) if out else torch.zeros(0, self.feat_dim, dtype=torch.float64)
        return feats.numpy() if isinstance(images, np.ndarray) else feats


def digits_feature_extractor(
    classifier_path: str | Path, device: str | torch.device = "cpu", batch_size: int = 1024
) -> DigitsFeatureExtractor:
    """Load the classifier at ``classifier_path`` and wrap it as a feature extractor.

    See :class:`DigitsFeatureExtractor` for the accepted inputs and clean-fid use.
    """
    model, ckpt = load_classifier(classifier_path, device)
    ext = DigitsFeatureExtractor(
        model, ckpt["resolution"], device, batch_size, source=str(classifier_path)
    )
    ext.sha256 = file_sha256(classifier_path)
    return ext


def compute_ref_stats(
    classifier_path: str | Path,
    resolution: int | None = None,
    device: str | torch.device = "cpu",
    split: str = "all",
    data_seed: int = 0,
    test_fraction: float = 0.2,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Reference ``(mu, sigma, meta)`` of classifier features over a digits split.

    The default ``split="all"`` uses the full data set. The data are quantised with
    :func:`artrl.data.digits.to_uint8` first, so they go through the very path generated
    uint8 samples take. ``resolution`` defaults to (and must equal) the classifier's.
    """
    from artrl.data.digits import load_digits_images, to_uint8

    ext = digits_feature_extractor(classifier_path, device)
    if resolution is None:
        resolution = ext.resolution
    if resolution != ext.resolution:
        raise ValueError(
            f"--resolution {resolution} does not match the classifier {classifier_path}, "
            f"trained at {ext.resolution}"
        )
    x, _ = load_digits_images(resolution, split, data_seed, test_fraction)
    feats = ext(to_uint8(x))
    mu, sigma = feature_stats(feats.numpy())
    meta = {
        "features": "digits",
        "classifier": str(classifier_path),
        "classifier_sha256": ext.sha256,
        "resolution": resolution,
        "split": split,
        "data_seed": data_seed,
        "test_fraction": test_fraction,
        "n": len(x),
        "feat_dim": ext.feat_dim,
    }
    return mu, sigma, meta


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m artrl.metrics.digits_features",
        formatter_class=CliHelpFormatter,
        description="Digit classifier for the digits FID: train it, or compute reference "
        "feature statistics (mu, sigma) over the full digits data set.",
    )
    sub = p.add_subparsers(dest="cmd", required=True, metavar="{train,ref-stats}")
    t = sub.add_parser(
        "train",
        formatter_class=CliHelpFormatter,
        help="train the classifier on the train split",
        description="Train the LeNet-like digit classifier on the train split (deterministic "
        "on CPU for a fixed seed); write the checkpoint to OUT and a report with the held-out "
        "test accuracy to OUT.json.",
    )
    t.add_argument("--resolution", type=int, default=8, choices=(8, 16, 32), help="image size")
    t.add_argument("--seed", type=int, default=0, help="initialisation/shuffling seed")
    t.add_argument("--epochs", type=int, default=60, help="passes over the train split")
    t.add_argument("--batch-size", type=int, default=64, help="minibatch size")
    t.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate (cosine decay)")
    t.add_argument("--width", type=int, default=32, help="channels of the first conv layers")
    t.add_argument("--feat-dim", type=int, default=64, help="feature (penultimate) dimension")
    t.add_argument("--data-seed", type=int, default=0, help="train/test split seed")
    t.add_argument("--test-fraction", type=float, default=0.2, help="held-out fraction")
    t.add_argument("--device", type=device_arg, default="cpu", help=DEVICE_HELP)
    threads_arg(t)
    t.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    t.add_argument("--out", required=True, help="checkpoint path, e.g. .../classifier.pt")
    r = sub.add_parser(
        "ref-stats",
        formatter_class=CliHelpFormatter,
        help="reference feature statistics over the full data set",
        description="Feature mean and covariance (float64) of the classifier over the FULL "
        "digits data set (train and test), quantised to uint8 like generated samples; written "
        "as an npz with keys mu, sigma (EDM's reference layout) plus meta_json.",
    )
    r.add_argument("--classifier", required=True, help="checkpoint from the train command")
    r.add_argument(
        "--resolution", type=int, default=None, help="must match the classifier (default: its)"
    )
    r.add_argument("--split", default="all", choices=("all", "train", "test"), help="which images")
    r.add_argument("--data-seed", type=int, default=0, help="train/test split seed")
    r.add_argument("--test-fraction", type=float, default=0.2, help="held-out fraction")
    r.add_argument("--device", type=device_arg, default="cpu", help=DEVICE_HELP)
    threads_arg(r)
    r.add_argument("--out", required=True, help="output .npz")
    return p


def main(argv: list[str] | None = None) -> int:
    """Command line entry point (see ``--help``)."""
    args = _parser().parse_args(argv)
    try:
        if args.cmd == "train":
            model, info = train_classifier(
                resolution=args.resolution,
                seed=args.seed,
                epochs=args.epochs,
                batch_size=args.batch_size,
                lr=args.lr,
                width=args.width,
                feat_dim=args.feat_dim,
                data_seed=args.data_seed,
                test_fraction=args.test_fraction,
                device=args.device,
                threads=args.threads,
                progress=not args.no_progress,
            )
            out = Path(args.out)
            save_classifier(out, model, info)
            report = {"classifier": str(out), "sha256": file_sha256(out), **info}
            write_json(Path(f"{out}.json"), report)
            print(
                f"digits classifier ({args.resolution}x{args.resolution}, seed {args.seed}, "
                f"{args.epochs} epochs, {info['train_seconds']:.1f} s): "
                f"train accuracy {info['train_accuracy']:.4f}, "
                f"held-out test accuracy {info['test_accuracy']:.4f} "
                f"({info['n_test']} images) -> {out}"
            )
        else:
            with torch_threads(args.threads):
                mu, sigma, meta = compute_ref_stats(
                    args.classifier,
                    args.resolution,
                    args.device,
                    args.split,
                    args.data_seed,
                    args.test_fraction,
                )
                meta["numerics"] = numerics_record()  # of the feature extraction
            save_ref_stats(args.out, mu, sigma, **meta)
            print(
                f"reference stats of {meta['n']} digits ({meta['split']}), "
                f"{meta['feat_dim']} features -> {args.out}"
            )
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
