"""Train an EDM-preconditioned U-Net score model (:mod:`artrl.models.unet`) on digits.

    python -m artrl.models.train_score --dataset digits --resolution 8 \\
        --out results/models/digits/model.pt [--steps N] [--threads 1] [--conditional]

Adam on EDM's loss over the train split (:func:`artrl.data.digits.load_digits_images`), with a
linear learning-rate warm-up and an exponential moving average (EMA) of the weights whose
half-life is given in thousands of training images (EDM's ``ema_halflife_kimg``, ramped up as
``min(halflife, ema_rampup · images seen)``). The EMA is what is saved as the model.

Every random draw comes from state that is checkpointed: the weight initialisation and dropout
use torch's global generator (seeded with ``--seed``), data shuffling and the (σ, n) draws of
the loss use two seeded ``torch.Generator`` objects. A resume checkpoint ``<out>.ckpt`` (model,
EMA, optimiser, step, shuffling order and position, generator states) is written every
``--checkpoint-every`` steps, on SIGTERM (then the process exits with status 143) and at the
end; a rerun resumes from it, so an interrupted and resumed run ends with the same weights as
an uninterrupted one (the same bytes of ``<out>``). Outputs: ``<out>``
(:func:`artrl.models.unet.save_model`) and ``<out>.json`` with the run's metadata (including its
wall time, which ``<out>`` leaves out), both written atomically. The metadata's ``numerics``
(:func:`artrl.device.numerics_record`: torch threads, CPU dispatch level, torch version) says
which numerics made the weights: ``--threads`` (default 1) changes their last bits.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from artrl.data.digits import N_CLASSES, load_digits_images
from artrl.device import DEVICE_HELP, device_arg, numerics_record, set_threads, threads_arg
from artrl.io import run_cli, sigterm_flag, torch_save, write_json
from artrl.models.unet import EDMLoss, EDMPrecond, parameter_count, save_model

__all__ = ["TrainConfig", "train", "main"]


@dataclass
class TrainConfig:
    """Everything that determines the trained weights (besides ``steps``)."""

    dataset: str = "digits"
    resolution: int = 8
    steps: int = 7000
    batch: int = 128
    lr: float = 2e-3
    warmup_steps: int = 200
    ema_halflife_kimg: float = 50.0
    ema_rampup: float = 0.1
    seed: int = 0
    split_seed: int = 0
    channels: int = 32
    num_blocks: int = 2
    dropout: float = 0.0
    attention: bool = True
    conditional: bool = False

    # fields that may differ between a checkpoint and the run that resumes it
    RESUMABLE = ("steps",)

    def model_kwargs(self) -> dict:
        return {
            "img_resolution": self.resolution,
            "img_channels": 1,
            "channels": self.channels,
            "num_blocks": self.num_blocks,
            "label_dim": N_CLASSES if self.conditional else 0,
            "dropout": self.dropout,
            "attention": self.attention,
        }


def _load_train_split(cfg: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    if cfg.dataset != "digits":
        raise ValueError(f"dataset {cfg.dataset!r} is not known; choose: digits")
    return load_digits_images(cfg.resolution, split="train", seed=cfg.split_seed)


class Trainer:
    """The training state (model, EMA, optimiser, generators, data order) and one step of it."""

    def __init__(self, cfg: TrainConfig, device: str | torch.device = "cpu"):
        self.cfg, self.device = cfg, torch.device(device)
        x, y = _load_train_split(cfg)
        self.x, self.y = x.to(self.device), y.to(self.device)
        torch.manual_seed(cfg.seed)  # weight init and dropout
        self.model = EDMPrecond(**cfg.model_kwargs()).to(self.device).train()
        self.ema = copy.deepcopy(self.model).eval().requires_grad_(False)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.loss_fn = EDMLoss()
        self.data_gen = torch.Generator(device="cpu").manual_seed(cfg.seed)  # data on the CPU
        self.noise_gen = torch.Generator(self.device).manual_seed(cfg.seed + 1)
        self.perm = torch.randperm(len(self.x), generator=self.data_gen)
        self.pos = 0
        self.step_count = 0
        self.loss_ema: float | None = None
        self.wall = 0.0

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        B = self.cfg.batch
        if self.pos + B > len(self.perm):  # new epoch; the incomplete tail is skipped
            self.perm = torch.randperm(len(self.x), generator=self.data_gen)
            self.pos = 0
        idx = self.perm[self.pos : self.pos + B].to(self.device)
        self.pos += B
        return self.x[idx], (self.y[idx] if self.cfg.conditional else None)

    def _update_ema(self) -> None:
        cfg = self.cfg
        nimg = (self.step_count + 1) * cfg.batch
        halflife = cfg.ema_halflife_kimg * 1000
        if cfg.ema_rampup > 0:
            halflife = min(halflife, nimg * cfg.ema_rampup)
        beta = 0.5 ** (cfg.batch / max(halflife, 1e-8))
        with torch.no_grad():
            for p_ema, p in zip(self.ema.parameters(), self.model.parameters(), strict=True):
                p_ema.lerp_(p, 1 - beta)
            for b_ema, b in zip(self.ema.buffers(), self.model.buffers(), strict=True):
                b_ema.copy_(b)

    def step(self) -> float:
        """One Adam step on one batch; returns the batch loss."""
        cfg = self.cfg
        lr = cfg.lr * min(1.0, (self.step_count + 1) / max(cfg.warmup_steps, 1))
        for group in self.opt.param_groups:
            group["lr"] = lr
        x, y = self._batch()
        loss = self.loss_fn(self.model, x, y, generator=self.noise_gen)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self._update_ema()
        self.step_count += 1
        value = float(loss.detach())
        self.loss_ema = value if self.loss_ema is None else 0.99 * self.loss_ema + 0.01 * value
        return value

    # ------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        return {
            "config": dataclasses.asdict(self.cfg),
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "opt": self.opt.state_dict(),
            "step": self.step_count,
            "perm": self.perm,
            "pos": self.pos,
            "data_gen": self.data_gen.get_state(),
            "noise_gen": self.noise_gen.get_state(),
            "torch_rng": torch.get_rng_state(),
            "loss_ema": self.loss_ema,
            "wall": self.wall,
        }

    def save_checkpoint(self, path: str | Path) -> None:
        torch_save(path, self.state_dict())

    def load_checkpoint(self, path: str | Path) -> None:
        try:
            sd = torch.load(path, map_location="cpu", weights_only=True)
            saved = sd["config"]
        except Exception as e:  # a torn or foreign file: say which and how to recover
            raise RuntimeError(f"{path}: cannot read training checkpoint ({e}); delete it") from e
        for key, value in dataclasses.asdict(self.cfg).items():
            if key not in TrainConfig.RESUMABLE and saved.get(key) != value:
                raise ValueError(
                    f"{path}: checkpoint was trained with {key}={saved.get(key)!r}, this run has "
                    f"{value!r}; delete the checkpoint to start afresh"
                )
        if sd["step"] > self.cfg.steps:
            raise ValueError(
                f"{path}: checkpoint is at step {sd['step']} > --steps {self.cfg.steps}"
            )
        self.model.load_state_dict(sd["model"])
        self.ema.load_state_dict(sd["ema"])
        self.opt.load_state_dict(sd["opt"])
        self.step_count, self.pos = int(sd["step"]), int(sd["pos"])
        self.perm = sd["perm"]
        self.data_gen.set_state(sd["data_gen"])
        try:
            self.noise_gen.set_state(sd["noise_gen"])
        except RuntimeError as e:  # a CUDA (Philox) state on a CPU generator, or the reverse
            raise RuntimeError(
                f"{path}: the checkpoint's noise generator comes from another kind of device "
                f"than {self.device} ({e}); resume on the device type it was written on, or "
                "delete it to start afresh"
            ) from e
        torch.set_rng_state(sd["torch_rng"])
        self.loss_ema, self.wall = sd["loss_ema"], float(sd["wall"])


def train(
    cfg: TrainConfig,
    out: str | Path,
    *,
    checkpoint_every: int = 500,
    device: str | torch.device = "cpu",
    progress: bool = True,
    stop_after: int | None = None,
    on_step: Callable[[int], None] | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """Train to ``cfg.steps`` (resuming from ``<out>.ckpt``), write ``<out>`` and ``<out>.json``.

    ``stop_after`` ends the run early after that many steps in total, with a checkpoint and no
    model (for tests); ``on_step(step)`` is called after every step. Returns the metadata.
    """
    out = Path(out)
    ckpt = out.with_name(out.name + ".ckpt")
    tr = Trainer(cfg, device)
    if ckpt.exists():
        tr.load_checkpoint(ckpt)
        log(f"resumed from {ckpt} at step {tr.step_count}")
    end = cfg.steps if stop_after is None else min(cfg.steps, stop_after)
    with sigterm_flag() as term:
        bar = tqdm(total=cfg.steps, initial=tr.step_count, disable=not progress, mininterval=1)
        t0 = time.perf_counter()
        while tr.step_count < end:
            loss = tr.step()
            bar.update(1)
            if tr.step_count % 10 == 0:
                bar.set_postfix(loss=f"{loss:.4f}", loss_ema=f"{tr.loss_ema:.4f}")
            if on_step is not None:
                on_step(tr.step_count)
            done = tr.step_count == end
            if done or term["set"] or tr.step_count % checkpoint_every == 0:
                tr.wall += time.perf_counter() - t0
                t0 = time.perf_counter()
                tr.save_checkpoint(ckpt)
            if term["set"]:
                bar.close()
                log(f"SIGTERM: checkpoint {ckpt} written at step {tr.step_count}; exiting")
                raise SystemExit(143)
        tr.wall += time.perf_counter() - t0
        bar.close()
    meta = {
        **dataclasses.asdict(cfg),
        "steps_done": tr.step_count,
        "kimg": tr.step_count * cfg.batch / 1000,
        "final_loss_ema": tr.loss_ema,
        "wall_seconds": round(tr.wall, 2),
        "parameter_count": parameter_count(tr.ema),
        "threads": torch.get_num_threads(),
        "numerics": numerics_record(),
        "device": str(tr.device),
        "torch": str(torch.__version__),
    }
    if tr.step_count < cfg.steps:
        log(f"stopped at step {tr.step_count} of {cfg.steps}; checkpoint {ckpt}")
        return meta
    # the model file is a function of the config alone (an interrupted and resumed run writes
    # the same bytes as an uninterrupted one): the wall time goes to <out>.json only
    save_model(out, tr.ema, {k: v for k, v in meta.items() if k != "wall_seconds"})
    write_json(out.with_name(out.name + ".json"), meta)
    log(f"{tr.step_count} steps, loss EMA {tr.loss_ema:.4f}, {tr.wall:.1f} s in total; wrote {out}")
    return meta


def main(argv: list[str] | None = None) -> None:
    d = TrainConfig()
    p = argparse.ArgumentParser(
        prog="python -m artrl.models.train_score",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--dataset", default=d.dataset, choices=["digits"])
    p.add_argument("--resolution", type=int, default=d.resolution, choices=[8, 16, 32])
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--batch", type=int, default=d.batch)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--warmup-steps", type=int, default=d.warmup_steps)
    p.add_argument("--ema-halflife-kimg", type=float, default=d.ema_halflife_kimg)
    p.add_argument("--ema-rampup", type=float, default=d.ema_rampup, help="0 = no ramp-up")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--channels", type=int, default=d.channels)
    p.add_argument("--num-blocks", type=int, default=d.num_blocks)
    p.add_argument("--dropout", type=float, default=d.dropout)
    p.add_argument("--no-attention", action="store_true")
    p.add_argument("--conditional", action="store_true", help="class-conditional model")
    p.add_argument("--out", default="results/models/digits/model.pt")
    p.add_argument("--checkpoint-every", type=int, default=500)
    p.add_argument("--device", type=device_arg, default="cpu", help=DEVICE_HELP)
    threads_arg(p)
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    set_threads(a.threads)
    cfg = TrainConfig(
        dataset=a.dataset,
        resolution=a.resolution,
        steps=a.steps,
        batch=a.batch,
        lr=a.lr,
        warmup_steps=a.warmup_steps,
        ema_halflife_kimg=a.ema_halflife_kimg,
        ema_rampup=a.ema_rampup,
        seed=a.seed,
        channels=a.channels,
        num_blocks=a.num_blocks,
        dropout=a.dropout,
        attention=not a.no_attention,
        conditional=a.conditional,
    )
    log = lambda msg: print(msg, file=sys.stderr)  # noqa: E731
    train(
        cfg,
        a.out,
        checkpoint_every=a.checkpoint_every,
        device=a.device,
        progress=not a.no_progress,
        log=log,
    )


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
