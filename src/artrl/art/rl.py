"""ART-RL: the time-discretized actor–critic of arXiv 2601.18681 §4 (Algorithm 1).

One iteration n (Algorithm 1), for a batch of B trajectories on the uniform t-grid t_k = kΔt:

* roll out the Gaussian policy θ_k ~ N(μ(features_k), λ / max(|Q_k|, ε))         (Eq. 11, Eq. 20)
  through the Euler discretisation of the ART dynamics x ← x + θFΔt, ψ ← ψ + θΔt   (Eq. 4)
  with ψ clipped to [0, T] in the state (App. C) but the *unclipped* budget Σθ_kΔt kept;
* TD terms  δ_k = V̂_{k+1} − V̂_k − γθ_kΔt − |Q_k|θ_k²Δt,  V̂ = NN_c + λt,
  V̂_K := (γ + λ)T (the terminal condition of Eq. 16)                                 (§4)
* critic step  ϑc ← ϑc + a Σ_k ∂NN_c(·_k) δ_k                                      (Eq. 22a)
  actor step   ϑa ← ϑa + a Σ_k ∂ log π(θ_k|·_k) δ_k                                (Eq. 22b)
  both as Adam steps on the surrogate losses whose gradients are exactly these sums;
* Lagrange step γ ← γ + a_γ (Σθ_kΔt − T)                                           (Eq. 23)

Deviations from the paper's bare hyperparameters are options of :class:`ARTConfig`, each
documented in docs/art_rl_design.md §3 with the measurements that motivated it.
"""

from __future__ import annotations

import json
import math
import re
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor, nn

from artrl.art.config import ARTConfig
from artrl.art.dynamics import batch_norm, drift_and_q, drift_q_heun, euler_step, noise_level
from artrl.io import InputError, sigterm_flag, torch_save
from artrl.solvers import CountingDenoiser

if TYPE_CHECKING:
    from artrl.solvers import Denoiser

__all__ = ["ARTConfig", "ARTTrainer", "CheckpointRefused", "MLP", "Rollout", "TrainingDiverged"]


class TrainingDiverged(RuntimeError):
    """A non-finite quantity appeared during ART-RL training."""


class CheckpointRefused(InputError):
    """An ART-RL checkpoint that is not a plain-tensor checkpoint of this format (an older
    format, a torn or foreign file, or one holding code): the one-line message names the file
    and says to delete it."""


# ---------------------------------------------------------------------- checkpoint encoding
# A checkpoint holds tensors, numbers and strings only, so ``torch.load(weights_only=True)``
# reads it and nothing in it can run code: numpy arrays travel as float64 tensors, the config
# and the history as JSON strings.


def _json_default(o: object) -> object:
    """numpy scalars and arrays as Python numbers and lists (json.dumps' ``default``)."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def _to_json(obj: object) -> str:
    return json.dumps(obj, default=_json_default)


def _plain_config(cfg: object) -> dict:
    """A config (an ARTConfig, its ``asdict``, or the JSON of one) as JSON would give it back:
    tuples become lists, numpy scalars Python numbers; so two configs compare like with like."""
    if isinstance(cfg, str):
        return json.loads(cfg)
    if not isinstance(cfg, dict):
        cfg = asdict(cfg)
    return json.loads(_to_json(cfg))


def _array_to_tensor(a: np.ndarray) -> Tensor:
    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=torch.float64, device="cpu")


def _tensor_to_array(t: Tensor | np.ndarray) -> np.ndarray:
    if isinstance(t, Tensor):
        return np.asarray(t.detach().to("cpu", torch.float64).numpy())
    return np.asarray(t, dtype=np.float64)


def _refusal_reason(e: BaseException) -> str:
    """The short cause of a failed ``torch.load(weights_only=True)`` (torch's own message is
    many lines long and suggests turning the restriction off, which is never an option here)."""
    text = str(e)
    m = re.search(r"GLOBAL ([\w.]+)", text)
    if m:
        return f"it references {m.group(1)}, which a plain-tensor checkpoint never does"
    if text.startswith("Weights only load failed"):
        m = re.search(r"WeightsUnpickler error: ([^\n]*)", text)
        return m.group(1).strip() if m else "it holds objects other than tensors and numbers"
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return f"{type(e).__name__}: {first}" if first else type(e).__name__


class MLP(nn.Module):
    """``layers`` linear maps of width ``hidden`` with Softplus in between (paper App. C)."""

    def __init__(self, d_in: int, hidden: int = 128, layers: int = 3, out_bias: float = 0.0):
        super().__init__()
        dims = [d_in] + [hidden] * (layers - 1) + [1]
        mods: list[nn.Module] = []
        for i in range(layers):
            mods.append(nn.Linear(dims[i], dims[i + 1]))
            if i < layers - 1:
                mods.append(nn.Softplus())
        self.net = nn.Sequential(*mods)
        last = self.net[-1]
        with torch.no_grad():  # start from a constant output: θ ≡ theta_init, NN_c ≡ 0
            last.weight.mul_(0.01)
            last.bias.fill_(out_bias)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).squeeze(-1)


def feature_dim(kind: str, data_dim: int) -> int:
    if kind == "raw":
        return 2 + data_dim
    if kind == "summary":
        return 6
    raise ValueError(f"unknown ART feature set {kind!r}; use 'raw' or 'summary'")


def features(
    kind: str, t: float, x: Tensor, psi: Tensor, F: Tensor, qn: Tensor, T: float, x_scale: float
) -> Tensor:
    """Actor/critic inputs (arXiv 2601.18681 Eq. 20, App. C).

    "raw" is the paper's 1-D input (t, x, ψ), scaled to O(1): (t/T, ψ/T, x/σ_prior).
    "summary" is the low-dimensional vector for images (the paper does not publish its features;
    docs/references.md §2.7): (t/T, ψ/T, log s, log(|Q|/√d), ‖F‖/√d, ‖x‖/(√d σ_prior)).
    """
    B = x.shape[0]
    tt = torch.full((B,), t / T, dtype=x.dtype, device=x.device)
    if kind == "raw":
        return torch.cat([tt[:, None], (psi / T)[:, None], x.flatten(1) / x_scale], dim=1)
    sqrt_d = math.sqrt(x[0].numel())
    s = noise_level(psi, T)
    cols = [
        tt,
        psi / T,
        s.log(),
        (qn / sqrt_d).clamp_min(1e-12).log(),
        batch_norm(F) / sqrt_d,
        batch_norm(x) / (sqrt_d * x_scale),
    ]
    return torch.stack(cols, dim=1)


@dataclass
class Rollout:
    """One batch of trajectories of the randomized policy; every tensor is detached."""

    feats: Tensor  # [K, B, f] features at t_0..t_{K-1}
    theta: Tensor  # [K, B] executed controls θ_k
    mu: Tensor  # [K, B] actor means at rollout time
    var: Tensor  # [K, B] policy variances λ / max(|Q_k|, ε)
    qn: Tensor  # [K, B] |Q_k|
    budget: Tensor  # [B] Σ_k θ_k Δt (= ψ_K before clipping)
    psi_T: Tensor  # [B] ψ_K of the (clipped) state
    rn: Tensor | None = None  # [K, B] |R̃_k| (proxy "heun"; row K−1, an Euler step, is 0)


class ARTTrainer:
    """Algorithm 1 with checkpoints and resume.

    ``D`` is any denoiser with the common interface ``D(x, σ, labels)``; ``prior`` draws the
    initial states x_0 ~ p_T as ``prior(B, generator) -> Tensor``; ``labels`` (optional) draws
    class labels for conditional models as ``labels(B, generator) -> Tensor``.
    """

    def __init__(
        self,
        D: Denoiser,
        cfg: ARTConfig,
        prior: Callable[[int, torch.Generator], Tensor],
        *,
        data_shape: tuple[int, ...],
        prior_std: float,
        labels: Callable[[int, torch.Generator], Tensor] | None = None,
        device: str | torch.device = "cpu",
    ):
        # every denoiser call is counted (per-sample evaluations: the tables' cost column)
        self.D, self.cfg, self.prior, self.labels = CountingDenoiser(D), cfg, prior, labels
        self.device = torch.device(device)
        self.prior_std = float(prior_std)
        d_in = feature_dim(cfg.features, int(np.prod(data_shape)))
        cfg.check()  # again: the fields may have been set after construction
        bias = cfg.theta_init if cfg.actor_output == "linear" else math.log(cfg.theta_init)
        d_actor = 1 if cfg.actor_inputs == "time" else d_in
        self._build_nets(d_actor, d_in, actor_bias=bias)
        self.gamma_int = float(cfg.gamma0)  # the integral part, updated by Eq. 23
        self.gamma = float(cfg.gamma0)  # γ used in the rewards = integral + kp · error
        self.iteration = 0
        self.gen = torch.Generator(device=self.device).manual_seed(cfg.seed + 1)
        self.history: list[dict] = []
        K = cfg.K
        self.buffer_theta = np.zeros((0, K))  # executed θ of the last trajectories
        self.buffer_mu = np.zeros((0, K))  # actor means along the same trajectories

    def mean(self, feats: Tensor) -> Tensor:
        """The policy mean μ (Eq. 20): the actor's output, or its exponential."""
        if self.cfg.actor_inputs == "time":  # column 0 of every feature set is t/T
            feats = feats[..., :1]
        out = self.actor(feats.to(self.net_dtype)).double()
        if self.cfg.actor_output == "exp":  # θ in [1e-4, K]: at most the whole clock in one step
            return out.clamp(math.log(1e-4), math.log(self.cfg.K)).exp()
        return out

    # ------------------------------------------------------------------ warm start
    def init_clock(self) -> np.ndarray:
        """θ_k of the schedule the actor starts from: ψ_{k+1} − ψ_k = θ_k Δt, ψ = T − σ."""
        cfg = self.cfg
        if cfg.init_schedule == "edm":
            from artrl.schedules import edm

            sig = edm(cfg.K, cfg.T, cfg.init_sigma_min, rho=cfg.init_rho, convention="code")
            return -np.diff(sig) / cfg.dt
        if cfg.init_schedule == "uniform":
            return np.full(cfg.K, cfg.theta_init)
        raise ValueError(f"init_schedule must be uniform or edm, got {cfg.init_schedule!r}")

    def warm_start(self) -> float | None:
        """Fit the actor mean to :meth:`init_clock` on the states that clock visits.

        Behaviour cloning by least squares on log θ (``exp`` actor output only), from one
        batch of deterministic rollouts; the critic is left for ``critic_warmup``.
        Returns the final relative RMS error of the fit (None for the uniform start, which the
        actor's initialisation already is).
        """
        cfg = self.cfg
        if cfg.init_schedule == "uniform":
            return None
        if cfg.actor_output != "exp":  # EDM's clock spans ~4 decades: fitted on log θ
            raise ValueError("init_schedule other than uniform needs actor_output: exp")
        target = torch.as_tensor(self.init_clock(), dtype=torch.float64, device=self.device)
        gen = torch.Generator(device=self.device).manual_seed(cfg.seed + 2)
        B = max(cfg.batch, 16)
        z = self.rollout(B, clock=target, gen=gen).feats  # [K, B, f]
        y = target[:, None].expand(cfg.K, B)
        opt = torch.optim.Adam(self.actor.parameters(), lr=1e-2)
        for _ in range(cfg.init_steps):
            mu = self.mean(z)
            loss = (mu.log() - y.log()).pow(2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            rel = float(((self.mean(z) / y - 1) ** 2).mean().sqrt())
        return rel

    def variance(self, qn: Tensor) -> Tensor:
        """The policy variance: Eq. (11)'s λ / (|Q| ∨ ε), or the fixed one of the ablation."""
        cfg = self.cfg
        if cfg.variance == "fixed":
            return torch.full_like(qn, cfg.fixed_var if cfg.fixed_var > 0 else cfg.lam)
        return cfg.lam / qn.clamp_min(cfg.eps)

    # ------------------------------------------------------------------ rollout
    @torch.no_grad()
    def rollout(
        self, B: int, *, clock: Tensor | None = None, gen: torch.Generator | None = None
    ) -> Rollout:
        """B trajectories of the policy; with ``clock`` ([K]), of that fixed clock θ_k instead
        (no policy noise: the warm start's states). ``gen`` defaults to the training stream."""
        cfg, dt = self.cfg, self.cfg.dt
        gen = self.gen if gen is None else gen
        x = self.prior(B, gen).to(self.device, torch.float64)
        lab = self.labels(B, gen) if self.labels is not None else None
        psi = torch.zeros(B, dtype=torch.float64, device=self.device)
        budget = torch.zeros_like(psi)
        feats, thetas, mus, vars_, qns, rns = [], [], [], [], [], []
        heun = cfg.proxy == "heun"
        for k in range(cfg.K):
            if heun and k < cfg.K - 1:  # the last step is Euler: its cost needs Q alone
                F, Q, Rt = drift_q_heun(
                    self.D, x, psi, cfg.T, lab, s_floor=cfg.s_floor, mode=cfg.jvp_mode
                )
                rns.append(batch_norm(Rt))
            else:
                F, Q = drift_and_q(
                    self.D, x, psi, cfg.T, lab, s_floor=cfg.s_floor, mode=cfg.jvp_mode
                )
                if heun:
                    rns.append(torch.zeros(B, dtype=torch.float64, device=self.device))
            qn = batch_norm(Q)
            z = features(cfg.features, k * dt, x, psi, F, qn, cfg.T, self.prior_std)
            if clock is None:
                mu = self.mean(z)
                var = self.variance(qn)
                noise = torch.randn(B, generator=gen, dtype=torch.float64, device=self.device)
                theta = mu + var.sqrt() * noise
            else:
                theta = mu = clock[k].expand(B)
                var = torch.zeros_like(theta)
            x, psi = euler_step(x, psi, theta, F, dt)  # Eq. (4)
            budget = budget + theta * dt
            if cfg.clip_psi:
                psi = psi.clamp(0.0, cfg.T)  # App. C
            feats.append(z), thetas.append(theta), mus.append(mu), vars_.append(var)
            qns.append(qn)
        st = torch.stack
        rn = st(rns) if heun else None
        return Rollout(st(feats), st(thetas), st(mus), st(vars_), st(qns), budget, psi, rn)

    # ------------------------------------------------------------------ one update
    def _build_nets(self, d_actor: int, d_critic: int, *, actor_bias: float) -> None:
        """Actor and critic MLPs (seeded by cfg.seed) on the trainer's device, and their Adams."""
        cfg = self.cfg
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            self.actor = MLP(d_actor, cfg.hidden, cfg.layers, out_bias=actor_bias)
            self.critic = MLP(d_critic, cfg.hidden, cfg.layers, out_bias=0.0)
        self.net_dtype = getattr(torch, cfg.net_dtype)
        self.actor.to(self.device, self.net_dtype)
        self.critic.to(self.device, self.net_dtype)
        self.opt_actor = torch.optim.Adam(self.actor.parameters(), lr=cfg.lr_actor)
        self.opt_critic = torch.optim.Adam(self.critic.parameters(), lr=cfg.lr_critic)

    def _decay(self, final_frac: float) -> float:
        """Cosine decay from 1 at iteration 0 to ``final_frac`` at cfg.iterations."""
        n, N = self.iteration, max(1, self.cfg.iterations)
        return final_frac + (1 - final_frac) * 0.5 * (1 + math.cos(math.pi * min(n, N) / N))

    def _lr_factor(self) -> float:
        return self._decay(self.cfg.lr_final_frac)

    def update(self, ro: Rollout) -> dict:
        cfg, dt, K = self.cfg, self.cfg.dt, self.cfg.K
        B = ro.theta.shape[1]
        lrf = self._lr_factor()
        for opt, lr in ((self.opt_actor, cfg.lr_actor), (self.opt_critic, cfg.lr_critic)):
            for g in opt.param_groups:
                g["lr"] = lr * lrf
        t = torch.arange(K, dtype=torch.float64, device=self.device) * dt
        # Critic V̂_k = NN_c + λ t_k (Eq. 20); V̂_K := (γ + λ)T, the terminal condition.
        feats = ro.feats.to(self.net_dtype)
        nn_c = self.critic(feats).double()  # [K, B]
        v = nn_c + cfg.lam * t[:, None]
        v_next = torch.cat(
            [
                v[1:].detach(),
                torch.full((1, B), (self.gamma + cfg.lam) * cfg.T, dtype=v.dtype, device=v.device),
            ]
        )
        cost = ro.qn * ro.theta**2 * dt  # |Q_k| θ_k² Δt = (2/Δt) · Euler's ½|Q_k|h_k², h = θΔt
        if cfg.proxy == "heun":  # (2/Δt) · Heun's |R̃_k||h_k|³, but the last step is Euler
            cost = torch.cat([2 * ro.rn[:-1] * ro.theta[:-1].abs() ** 3 * dt**2, cost[-1:]])
        cost = cost * cfg.cost_scale
        delta = v_next - v.detach() - self.gamma * ro.theta * dt - cost  # δ_k (Eq. 22)
        if cfg.td_lambda > 0:  # A_k = Σ_{j≥k} td_lambda^{j−k} δ_j (TD(λ) forward view)
            adv = torch.zeros_like(delta)
            acc = torch.zeros(B, dtype=delta.dtype, device=delta.device)
            for k in range(K - 1, -1, -1):
                acc = delta[k] + cfg.td_lambda * acc
                adv[k] = acc
            delta = adv
        # Eq. 22a: ascent along Σ_k ∂NN_c δ_k  ⇔  descent on −Σ_k NN_c · stopgrad(δ_k).
        loss_c = -(nn_c * delta).sum(0).mean()
        self.opt_critic.zero_grad(set_to_none=True)
        loss_c.backward()
        self._clip(self.critic)
        self.opt_critic.step()
        warm = self.iteration < cfg.critic_warmup
        if not warm:
            # Eq. 22b: ∂ log π = (θ − μ) / var · ∂μ for the Gaussian N(μ, var) with var fixed.
            mu = self.mean(feats)
            logp = -0.5 * (ro.theta - mu) ** 2 / ro.var
            loss_a = -(logp * delta).sum(0).mean()
            self.opt_actor.zero_grad(set_to_none=True)
            loss_a.backward()
            self._clip(self.actor)
            self.opt_actor.step()
            # Eq. 23 on the batch mean of the unclipped budget Σθ_kΔt, plus an optional
            # proportional term (a PI controller damps the multiplier's oscillation).
            err = float(ro.budget.mean() - cfg.T)
            self.gamma_int += cfg.lr_gamma * lrf * err
            self.gamma = self.gamma_int + cfg.gamma_kp * err
        stats = {
            "iteration": self.iteration + 1,
            "gamma": self.gamma,
            "budget_mean": float(ro.budget.mean()),
            "budget_std": float(ro.budget.std()) if B > 1 else 0.0,
            "psi_T_mean": float(ro.psi_T.mean()),
            "art_cost": float(cost.sum(0).mean()),
            "td_rmse": float(delta.pow(2).mean().sqrt()),
            "theta0_mean": float(ro.mu[0].mean()),
            "thetaK_mean": float(ro.mu[-1].mean()),
        }
        bad = [k for k, val in stats.items() if not math.isfinite(val)]
        if bad or not torch.isfinite(ro.theta).all():
            raise TrainingDiverged(
                f"ART-RL diverged at iteration {self.iteration + 1}: non-finite "
                f"{bad or ['theta']} (gamma={self.gamma:.4g}). Lower lr_actor/lr_critic/lr_gamma "
                f"or set grad_clip; the last checkpoint is intact."
            )
        return stats

    def _clip(self, net: nn.Module) -> None:
        if self.cfg.grad_clip > 0:
            nn.utils.clip_grad_norm_(net.parameters(), self.cfg.grad_clip)

    def _remember(self, ro: Rollout) -> None:
        M = self.cfg.distill_trajectories
        self.buffer_theta = np.concatenate([self.buffer_theta, ro.theta.T.cpu().numpy()])[-M:]
        self.buffer_mu = np.concatenate([self.buffer_mu, ro.mu.T.cpu().numpy()])[-M:]

    def batch_size(self) -> int:
        """Trajectories per iteration."""
        return self.cfg.batch

    def step(self) -> dict:
        ro = self.rollout(self.batch_size())
        stats = self.update(ro)
        self._remember(ro)
        self.iteration += 1
        self.history.append(stats)
        return stats

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """The trainer's state as tensors, numbers and strings only (a checkpoint loads with
        ``torch.load(weights_only=True)``): arrays as float64 tensors, config and history as
        JSON strings; :meth:`load_state_dict` converts back."""
        return {
            "config": _to_json(asdict(self.cfg)),
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "opt_actor": self.opt_actor.state_dict(),
            "opt_critic": self.opt_critic.state_dict(),
            "gamma": self.gamma,
            "gamma_int": self.gamma_int,
            "iteration": self.iteration,
            "generator": self.gen.get_state(),
            "generator_device": self.gen.device.type,
            "history": _to_json(self.history),
            "buffer_theta": _array_to_tensor(self.buffer_theta),
            "buffer_mu": _array_to_tensor(self.buffer_mu),
            "denoiser_evals": self.D.evals,
        }

    # options that may change between a run and its resumption without changing the result
    RESUMABLE_CHANGES = ("checkpoint_every", "jvp_mode")

    def config_mismatch(self, sd: dict) -> list[str]:
        """Config fields of checkpoint ``sd`` that differ from this trainer's config."""
        mine = _plain_config(self.cfg)
        theirs = _plain_config(sd.get("config", {}))
        return [
            f"{k}: checkpoint {theirs.get(k)!r} != config {v!r}"
            for k, v in mine.items()
            if k not in self.RESUMABLE_CHANGES and theirs.get(k) != v
        ]

    def load_state_dict(self, sd: dict) -> None:
        bad = self.config_mismatch(sd)
        if bad:
            raise ValueError("checkpoint was trained with another config: " + "; ".join(bad))
        self.actor.load_state_dict(sd["actor"])
        self.critic.load_state_dict(sd["critic"])
        self.opt_actor.load_state_dict(sd["opt_actor"])
        self.opt_critic.load_state_dict(sd["opt_critic"])
        self.gamma = float(sd["gamma"])
        self.gamma_int = float(sd["gamma_int"])
        self.iteration = int(sd["iteration"])
        self._restore_generator(sd)
        history = sd["history"]
        self.history = list(json.loads(history) if isinstance(history, str) else history)
        self.buffer_theta = _tensor_to_array(sd["buffer_theta"])
        self.buffer_mu = _tensor_to_array(sd["buffer_mu"])
        self.D.evals = int(sd.get("denoiser_evals", 0))

    def _restore_generator(self, sd: dict) -> None:
        """The rollout generator's state, where the checkpoint's generator lived on a device of
        the same type. A CUDA generator's state cannot continue a CPU stream (or the reverse):
        the stream is then reseeded from (seed, iteration), with a notice, so a run moved between
        a GPU node and a CPU resumes, but not bit for bit."""
        saved = str(sd.get("generator_device", "cpu"))
        state = sd["generator"].to("cpu")  # get/set_state take a CPU ByteTensor on any device
        if saved == self.gen.device.type:
            try:
                self.gen.set_state(state)
                return
            except (RuntimeError, ValueError) as e:
                reason = f"its state does not fit this generator ({e})"
        else:
            reason = f"it was saved on {saved}, this run is on {self.gen.device.type}"
        seed = (self.cfg.seed + 1 + 1_000_003 * self.iteration) % (1 << 63)
        self.gen.manual_seed(seed)
        print(
            f"resume: the checkpoint's random stream cannot continue here ({reason}); "
            f"reseeded from (seed, iteration {self.iteration}): the run goes on, but its "
            "numbers will differ from an uninterrupted run",
            file=sys.stderr,
            flush=True,
        )

    def save_checkpoint(self, path: str | Path) -> None:
        # through artrl.io.torch_save: torch.save given the temporary file's (random) name
        # names the archive's root folder after it, so two identical runs wrote other bytes
        torch_save(path, self.state_dict())

    def _read_checkpoint(self, path: str | Path) -> dict:
        """The checkpoint at ``path``, read with ``weights_only=True`` (tensors, numbers and
        strings; nothing in the file runs). Anything else, an older checkpoint format with numpy
        arrays inside included, raises :class:`CheckpointRefused` naming the file."""
        try:
            # map to the CPU first: the nets and optimisers copy onto their own device on
            # load, and a generator's state must be a CPU tensor (a CUDA checkpoint resumes on a
            # CPU and the reverse)
            sd = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(sd, dict):
                raise ValueError(f"it holds a {type(sd).__name__}, not a dict")
            for key in ("config", "history"):
                if not isinstance(sd.get(key), str):
                    raise ValueError(f"its {key!r} is not a JSON string (an older format)")
                json.loads(sd[key])
        except Exception as e:  # a torn, foreign, old or crafted file: say which and what to do
            raise CheckpointRefused(
                f"{path}: refusing this ART-RL checkpoint: it is not a plain-tensor checkpoint "
                f"of this version ({_refusal_reason(e)}); it may be of an older format, torn, or "
                "contain code, which is never run. Delete it to restart training from scratch"
            ) from e
        return sd

    def load_checkpoint(self, path: str | Path) -> None:
        self.load_state_dict(self._read_checkpoint(path))

    # ------------------------------------------------------------------ loop
    def train(
        self,
        checkpoint: str | Path | None = None,
        *,
        stop_after: int | None = None,
        progress: bool = True,
        log: Callable[[str], None] = print,
    ) -> None:
        """Run to ``cfg.iterations``, resuming from ``checkpoint`` if it exists.

        A checkpoint is written every ``checkpoint_every`` iterations and at the end; SIGTERM
        (what SLURM sends at a time limit) writes one after the current iteration and exits.
        ``stop_after`` ends the run (with a checkpoint) after that many iterations in total.
        A checkpoint that cannot be read as plain tensors stops the run with
        :class:`CheckpointRefused` (naming the file, saying to delete it); one of another
        config is left for a fresh start.
        """
        cfg = self.cfg
        if checkpoint is not None and Path(checkpoint).exists():
            sd = self._read_checkpoint(checkpoint)
            bad = self.config_mismatch(sd)
            if bad:  # outputs are being rebuilt for a new config: never mix the two runs
                log(f"ignoring {checkpoint} (another config: {'; '.join(bad)}); starting afresh")
            else:
                self.load_state_dict(sd)
                log(f"resumed from {checkpoint} at iteration {self.iteration}")
        if self.iteration == 0 and cfg.init_schedule != "uniform":
            rel = self.warm_start()
            log(f"actor fitted to the {cfg.init_schedule} clock (relative RMS error {rel:.3g})")
        end = cfg.iterations if stop_after is None else min(cfg.iterations, stop_after)
        with sigterm_flag() as term:
            from tqdm.auto import tqdm

            bar = tqdm(total=end, initial=self.iteration, disable=not progress, mininterval=2)
            t0 = time.perf_counter()
            while self.iteration < end:
                st = self.step()
                bar.update(1)
                if self.iteration % 50 == 0:
                    bar.set_postfix(
                        gamma=f"{st['gamma']:.3f}",
                        budget=f"{st['budget_mean']:.3f}",
                        cost=f"{st['art_cost']:.4f}",
                    )
                done = self.iteration == end
                if checkpoint is not None and (
                    self.iteration % cfg.checkpoint_every == 0 or done or term["set"]
                ):
                    self.save_checkpoint(checkpoint)
                if term["set"]:
                    log(f"SIGTERM: checkpoint written at iteration {self.iteration}; exiting")
                    raise SystemExit(143)
            bar.close()
            log(f"{self.iteration} iterations, {time.perf_counter() - t0:.1f} s this run")
