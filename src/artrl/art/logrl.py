"""ART-RL on the scale-free clock (the default, ``clock: log``; docs/art_clock.md).

Algorithm 1 of arXiv 2601.18681 (§4) with three changes, each named in the
deviations table of docs/art_rl_design.md §1:

1. **The clock** (:mod:`artrl.art.clock`): the actor's Gaussian action a_k sets the fraction of
   the remaining clock coordinate that step k covers; the last learned step lands on the grid's
   end, so the budget of Eq. 6 holds on every trajectory by construction and the multiplier γ of
   Eqs. 9 and 23 is not needed (γ ≡ 0; the γθ term is a null Lagrangian at fixed ends, §2).
   The path the actor chooses is the same object as the paper's ψ(t); only its
   parameterisation changes, so the optimum of Eq. 9 is the same schedule.
2. **The environment and the step cost** (:mod:`artrl.art.paths`): the PF-ODE path does not
   depend on the clock, so the paths are integrated once, accurately, into a bank, and a
   rollout reads each path off it; each step is charged |Q| integrated along the path over
   the step, not |Q| at its start, which a long step from a region of small |Q| games
   (docs/art_clock.md §3). The trainer calls no network after the bank is built.
3. **Scale**: features are dimensionless (steps left, position in the clock coordinate,
   log(σ|Q|/|F|), the path's own scale), costs are divided by the first batch's mean cost,
   advantages are normalised per batch, the policy noise is ``action_std`` on a (decayed), and
   rollouts come in antithetic pairs; so one default setting fits every noise range and data
   scale. The critic is the baseline of Monte-Carlo returns (td_lambda = 1).

Everything else is Algorithm 1: rollouts of the Gaussian policy through the ART dynamics
(Eq. 4), the critic's TD errors
δ_k = V̂_{k+1} − V̂_k − c_k (Eq. 22a with the TD(λ) return) and the actor's policy-gradient step
on log π(a_k) δ_k (Eq. 22b); then distillation to a time-only grid (§5).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from artrl.art.clock import average_grids, base_logit, learned_steps
from artrl.art.paths import PathBank, fine_sigmas, path_bank
from artrl.art.rl import (
    ARTConfig,
    ARTTrainer,
    TrainingDiverged,
    _array_to_tensor,
    _tensor_to_array,
)
from artrl.solvers import CountingDenoiser

__all__ = ["LogClockTrainer", "LogRollout", "clock_features"]

N_FEATURES = 5
A_MAX = 8.0
BATCH_STEPS = 2560  # |μ| bound: the fraction stays within sigmoid(±8) of the base one


def clock_features(
    k: int, K_l: int, u: Tensor, sigma: Tensor, q: Tensor, f: Tensor, xn: Tensor, x_scale: float
) -> Tensor:
    """Dimensionless actor/critic inputs at step k (docs/art_clock.md §4):
    (n/K_l, 1/n, u, log(σ|Q|/|F|)/10, log(‖x‖/x_scale)/10), n = K_l − k steps left, u = r/r_0
    the part of the clock coordinate left. σ|Q|/|F| is the noise level relative to the data's
    own scale (c²/(c² + σ²) for Gaussian data of std c); ‖x‖ the path's own scale, which its
    cost is proportional to. The first three see time only (``actor_inputs: time``);
    ``x_scale`` is √d σ_prior."""
    n = K_l - k
    B = u.shape[0]
    ratio = (q * sigma / f.clamp_min(1e-300)).clamp_min(1e-30)
    cols = [
        torch.full((B,), n / K_l, dtype=u.dtype, device=u.device),
        torch.full((B,), 1.0 / n, dtype=u.dtype, device=u.device),
        u,
        ratio.log().clamp(-20.0, 5.0) / 10.0,
        (xn / x_scale).clamp_min(1e-30).log() / 10.0,
    ]
    return torch.stack(cols, dim=1)


class LogRollout:
    """One batch of trajectories on the scale-free clock; every tensor is detached."""

    def __init__(self, feats, a, mu, cost, plain, sigmas, mean_sigmas, std):
        self.feats = feats  # [K_l, B, 5]
        self.a = a  # [K_l, B] executed actions (0 on the forced last step)
        self.mu = mu  # [K_l, B] actor means
        self.cost = cost  # [K_l, B] trained step cost (|Q| integrated over the step)
        self.plain = plain  # [K_l, B] left-point cost |Q_k| θ_k² Δt (on the path)
        self.sigmas = sigmas  # [B, K_l + 1] executed grid
        self.mean_sigmas = mean_sigmas  # [B, K_l + 1] the actor means' grid along the path
        self.std = std  # the policy's std on a in these rollouts


class LogClockTrainer(ARTTrainer):
    """ART-RL on the scale-free clock; the checkpoint, resume and training loop are
    :class:`ARTTrainer`'s."""

    def __init__(
        self, D, cfg: ARTConfig, prior, *, data_shape, prior_std, labels=None, device="cpu"
    ):
        cfg.check()
        if cfg.clock != "log":
            raise ValueError("LogClockTrainer is the clock: log trainer")
        self.D, self.cfg, self.prior, self.labels = CountingDenoiser(D), cfg, prior, labels
        self.device = torch.device(device)
        self.prior_std = float(prior_std)
        self.K_l = learned_steps(cfg.K, cfg.convention)
        d_actor = 3 if cfg.actor_inputs == "time" else N_FEATURES
        self._build_nets(d_actor, N_FEATURES, actor_bias=0.0)  # a = 0: the base grid
        self.gamma = self.gamma_int = 0.0  # no multiplier: the budget holds by construction
        self.cost_scale_ref = 0.0  # the first batch's mean cost (set at the first update)
        self.iteration = 0
        self.gen = torch.Generator(device=self.device).manual_seed(cfg.seed + 1)
        self.history: list[dict] = []
        self.buffer_sigmas = np.zeros((0, cfg.K + 1))
        self.buffer_mean_sigmas = np.zeros((0, cfg.K + 1))
        self.buffer_theta = self.buffer_mu = np.zeros((0, cfg.K))  # clock: sigma's, unused
        self.x_scale = math.sqrt(float(np.prod(data_shape))) * self.prior_std
        self._bank: PathBank | None = None

    @property
    def bank(self) -> PathBank:
        """The PF-ODE paths (built at first use, from seed + 3: a resumed run rebuilds the
        same bank bit for bit)."""
        if self._bank is None:
            cfg = self.cfg
            fine = fine_sigmas(cfg.T, cfg.bank_points, cfg.convention, cfg.sigma_min)
            counted = CountingDenoiser(self.D.denoiser)
            self._bank = path_bank(
                counted, self.prior, cfg.bank_paths, fine, T=cfg.T, labels=self.labels,
                seed=cfg.seed + 3, s_floor=cfg.s_floor, jvp_mode=cfg.jvp_mode,
                device=self.device, heun=cfg.proxy == "heun",
            )  # fmt: skip
            # the bank is the run's only use of the network: its evaluations are the run's
            # cost (set, not added: a resumed run rebuilds the same bank)
            self.D.evals = counted.evals
        return self._bank

    def noise_std(self) -> float:
        """The policy's std on a: ``action_std``, decayed on the cosine of the learning rates
        to ``action_std · noise_final_frac``. The noise biases the mean it learns (the expected
        cost under noise is not the cost at the mean), so it shrinks as the policy settles."""
        return self.cfg.action_std * self._decay(self.cfg.noise_final_frac)

    def batch_size(self) -> int:
        """``batch``, or with ``batch: 0`` (the default) about ``BATCH_STEPS`` actions an
        iteration: 2560 / K_l trajectories, even, within [16, 128] (K ≤ 20: 128; K = 100: 26).
        The update's cost is ∝ trajectories × steps, and each step is an action to learn from."""
        if self.cfg.batch > 0:
            return self.cfg.batch
        b = int(round(BATCH_STEPS / self.K_l / 2)) * 2
        return min(128, max(16, b))

    # the actor's Gaussian over a; the grid's ends are fixed
    def mean(self, feats: Tensor) -> Tensor:
        if self.cfg.actor_inputs == "time":
            feats = feats[..., :3]
        return self.actor(feats.to(self.net_dtype)).double().clamp(-A_MAX, A_MAX)

    def _sigma(self, r: Tensor) -> Tensor:
        cfg = self.cfg
        return cfg.sigma_min * r.exp() if cfg.convention == "code" else r

    def _r0(self) -> float:
        cfg = self.cfg
        return math.log(cfg.T / cfg.sigma_min) if cfg.convention == "code" else cfg.T

    def _end(self) -> float:
        return self.cfg.sigma_min if self.cfg.convention == "code" else 0.0

    def warm_start(self):  # the base grid (a = 0) is the start; nothing to fit
        return None

    @torch.no_grad()
    def rollout(
        self,
        B: int,
        *,
        noise: bool = True,
        gen: torch.Generator | None = None,
        idx: Tensor | None = None,
    ):
        """B trajectories of the policy along paths drawn from the bank (antithetic pairs share
        a path and have opposite noise); ``noise=False``: the actor's means; ``idx`` ([B]):
        these paths of the bank instead of random ones (with ``noise=False``)."""
        cfg, K_l, bank = self.cfg, self.K_l, self.bank
        gen = self.gen if gen is None else gen
        std = self.noise_std()
        dev, f64 = self.device, torch.float64
        dt = cfg.T / cfg.K
        if idx is not None and (noise or idx.shape != (B,)):
            raise ValueError("rollout(idx=...) takes B path indices and noise=False")
        anti = cfg.antithetic and noise and B % 2 == 0
        half = B // 2 if anti else B
        if idx is None:
            idx = torch.randint(bank.n, (half,), generator=gen, device=dev)
        if anti:
            idx = torch.cat([idx, idx])
        r0 = self._r0()
        r = torch.full((B,), r0, dtype=f64, device=dev)
        rm = r.clone()
        sig = torch.full((B,), cfg.T, dtype=f64, device=dev)
        sigm = sig.clone()
        q, f, xn, C = bank.at(idx, sig)
        heun = cfg.proxy == "heun"
        if heun:
            _, CR = bank.heun_at(idx, sig)
        feats, acts, mus, costs, plains = [], [], [], [], []
        grid, mgrid = [sig], [sigm]
        for k in range(K_l):
            n = K_l - k
            z = clock_features(k, K_l, r / r0, sig, q, f, xn, self.x_scale)
            if n > 1:
                mu = self.mean(z)
                eps = torch.randn(half, generator=gen, dtype=f64, device=dev)
                if anti:
                    eps = torch.cat([eps, -eps])
                a = mu + std * eps if noise else mu
                base = base_logit(n)
                r_next = r * (1 - torch.sigmoid(a + base))
                rm = rm * (1 - torch.sigmoid(mu + base))
                sig_next, sigm = self._sigma(r_next), self._sigma(rm)
            else:  # the last learned step lands on the end of the grid
                mu = a = torch.zeros(B, dtype=f64, device=dev)
                r_next = torch.zeros_like(r)
                sig_next = sigm = torch.full_like(sig, self._end())
            q2, f2, xn2, C2 = bank.at(idx, sig_next)
            theta = (sig - sig_next) / dt  # the paper's clock speed on this step
            plain = q * theta**2 * dt  # |Q_k| θ_k² Δt (Eq. 22's charge)
            c = plain if cfg.cost_quadrature == "left" else theta * (C - C2)
            if heun:  # Heun's error density 2|R̃|θ³Δt² along the step (docs/heun_proxy.md);
                _, CR2 = bank.heun_at(idx, sig_next)  # a step into σ = 0 is Euler's
                into_zero = sig_next <= 0
                c = torch.where(into_zero, c, 2 * theta**2 * dt**2 * (CR - CR2))
                CR = CR2
            feats.append(z), acts.append(a), mus.append(mu), costs.append(c)
            plains.append(plain)
            grid.append(sig_next), mgrid.append(sigm)
            r, sig, q, f, xn, C = r_next, sig_next, q2, f2, xn2, C2
        st = torch.stack
        return LogRollout(
            st(feats), st(acts), st(mus), st(costs), st(plains), st(grid, 1), st(mgrid, 1), std
        )

    def update(self, ro: LogRollout) -> dict:
        cfg, K_l = self.cfg, self.K_l
        lrf = self._lr_factor()
        for opt, lr in ((self.opt_actor, cfg.lr_actor), (self.opt_critic, cfg.lr_critic)):
            for g in opt.param_groups:
                g["lr"] = lr * lrf
        if self.cost_scale_ref == 0.0:
            self.cost_scale_ref = float(ro.cost.sum(0).mean())
            if not (math.isfinite(self.cost_scale_ref) and self.cost_scale_ref > 0):
                raise TrainingDiverged(f"the first batch's ART cost is {self.cost_scale_ref}")
        c = ro.cost * cfg.cost_scale / self.cost_scale_ref  # [K_l, B]
        feats = ro.feats.to(self.net_dtype)
        v = self.critic(feats).double()  # V̂_k: the (normalised) cost-to-go, negated
        v_next = torch.cat([v[1:].detach(), torch.zeros_like(v[:1])])  # V̂ at the end: 0
        delta = v_next - v.detach() - c  # δ_k of Eq. 22 (γ ≡ 0)
        adv = torch.zeros_like(delta)
        acc = torch.zeros_like(delta[0])
        for k in range(K_l - 1, -1, -1):  # TD(λ): A_k = Σ_{j≥k} td_lambda^{j−k} δ_j
            acc = delta[k] + cfg.td_lambda * acc
            adv[k] = acc
        loss_c = -(v * adv).sum(0).mean()  # Eq. 22a with λ-returns
        self.opt_critic.zero_grad(set_to_none=True)
        loss_c.backward()
        self._clip(self.critic)
        self.opt_critic.step()
        warm = self.iteration < cfg.critic_warmup
        if not warm and K_l > 1:
            act = adv[:-1]  # the last learned step is forced
            act = (act - act.mean()) / act.std().clamp_min(1e-12)
            mu = self.mean(feats[:-1])
            logp = -0.5 * (ro.a[:-1] - mu) ** 2 / ro.std**2
            loss_a = -(logp * act).sum(0).mean()  # Eq. 22b
            self.opt_actor.zero_grad(set_to_none=True)
            loss_a.backward()
            self._clip(self.actor)
            self.opt_actor.step()
        total = ro.cost.sum(0)
        span = float(ro.sigmas[:, 0].mean() - ro.sigmas[:, -1].mean())  # exact by construction
        stats = {
            "iteration": self.iteration + 1,
            "gamma": 0.0,
            "budget_mean": span,
            "budget_std": 0.0,
            "psi_T_mean": span,
            "art_cost": float(total.mean()),
            "art_cost_plain": float(ro.plain.sum(0).mean()),
            "td_rmse": float(delta.pow(2).mean().sqrt()),
            "last_sigma_mean": float(ro.mean_sigmas[:, -2].mean()) if K_l > 1 else self._end(),
            "theta0_mean": float(ro.mu[0].mean()),
            "thetaK_mean": float(ro.mu[-1].mean()),
        }
        bad = [k for k, val in stats.items() if not math.isfinite(val)]
        if bad:
            raise TrainingDiverged(
                f"ART-RL diverged at iteration {self.iteration + 1}: non-finite {bad}; "
                "lower lr_actor/lr_critic; the last checkpoint is intact."
            )
        return stats

    def _remember(self, ro: LogRollout) -> None:
        """Keep the grids of the last ``distill_frac`` of the iterations (the settled policy)."""
        cfg = self.cfg
        first = min(cfg.iterations - 1, int((1.0 - cfg.distill_frac) * cfg.iterations))
        if self.iteration < first:  # at least the last iteration is kept
            return
        tail = [] if cfg.convention == "paper" else [np.zeros((ro.sigmas.shape[0], 1))]
        ex = np.concatenate([ro.sigmas.cpu().numpy(), *tail], axis=1)
        me = np.concatenate([ro.mean_sigmas.cpu().numpy(), *tail], axis=1)
        M = cfg.distill_trajectories
        self.buffer_sigmas = np.concatenate([self.buffer_sigmas, ex])[-M:]
        self.buffer_mean_sigmas = np.concatenate([self.buffer_mean_sigmas, me])[-M:]

    def distilled(self, source: str = "mean") -> tuple[np.ndarray, dict]:
        """The distilled σ-grid of the settled policy (mean grids, or the executed ones)."""
        grids = self.buffer_mean_sigmas if source == "mean" else self.buffer_sigmas
        return average_grids(grids, self.cfg.convention, self.cfg.sigma_min, self.cfg.T)

    @torch.no_grad()
    def bank_costs(self, sigmas: np.ndarray) -> dict:
        """Expected ART cost of a grid over every path of the bank: plain (|Q| at each step's
        start on the path) and refined (|Q| integrated along it), learned steps only."""
        cfg, bank = self.cfg, self.bank
        sig = torch.as_tensor(np.asarray(sigmas, dtype=np.float64), device=self.device)
        idx = torch.arange(bank.n, device=self.device)
        dt = cfg.T / cfg.K
        plain = refined = torch.zeros(bank.n, dtype=torch.float64, device=self.device)
        q, _, _, C = bank.at(idx, sig[0].expand(bank.n))
        for k in range(self.K_l):
            q2, _, _, C2 = bank.at(idx, sig[k + 1].expand(bank.n))
            theta = float(sig[k] - sig[k + 1]) / dt
            plain = plain + q * theta**2 * dt
            refined = refined + theta * (C - C2)
            q, C = q2, C2
        return {"plain": float(plain.mean()), "refined": float(refined.mean())}

    def bank_analytic(self) -> np.ndarray:
        """ART-analytic on the bank's paths: θ* ∝ E[|Q|]^(-1/2) (artrl.art.analytic) with
        E|Q| the mean over the bank, the same rollouts the RL run learned from."""
        from artrl.art.analytic import clock_from_profile

        cfg, bank = self.cfg, self.bank
        sig = (bank.z.exp() if bank.log else bank.z).flip(0).cpu().numpy()  # descending
        sig[0] = cfg.T
        q = bank.q.mean(0).flip(0).cpu().numpy()
        psi = clock_from_profile(sig, q, cfg.K, cfg.T, cfg.convention)
        out = cfg.T - psi
        out[-1] = 0.0
        return out

    def provenance(self, grid: np.ndarray) -> dict:
        """The expected ART costs (plain, refined) of ``grid`` and of ART-analytic's grid on
        the same paths: what a schedule records about how close the run came."""
        ref = self.bank_analytic()
        mine, theirs = self.bank_costs(grid), self.bank_costs(ref)
        return {
            "art_cost_plain": mine["plain"],
            "art_cost_refined": mine["refined"],
            "analytic_art_cost_plain": theirs["plain"],
            "analytic_art_cost_refined": theirs["refined"],
            "cost_paths": self.bank.n,
        }

    def state_dict(self) -> dict:
        sd = super().state_dict()
        sd["buffer_sigmas"] = _array_to_tensor(self.buffer_sigmas)  # plain tensors (rl.py)
        sd["buffer_mean_sigmas"] = _array_to_tensor(self.buffer_mean_sigmas)
        sd["cost_scale_ref"] = self.cost_scale_ref
        return sd

    def load_state_dict(self, sd: dict) -> None:
        super().load_state_dict(sd)
        self.buffer_sigmas = _tensor_to_array(sd["buffer_sigmas"])
        self.buffer_mean_sigmas = _tensor_to_array(sd["buffer_mean_sigmas"])
        self.cost_scale_ref = float(sd["cost_scale_ref"])
