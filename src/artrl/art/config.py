"""The hyperparameters of ART-RL (Algorithm 1, arXiv 2601.18681 §4 and App. C): a plain
dataclass without torch, so that the workflow can check a config's ``art`` blocks when it parses the
config, before any job (and without the seconds torch takes to import)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

__all__ = ["ARTConfig", "BOUNDS", "LOG_CLOCK_DEFAULTS"]

# The one default setting of the scale-free clock (docs/art_clock.md): measured on the 1-D
# Gaussians of every noise range (benchmarks/art_rl_grid.py). A data set's art block sets only
# budget keys (iterations, batch) on top of these.
LOG_CLOCK_DEFAULTS = {
    "iterations": 600,
    "batch": 0,  # 0: 2560 / K_l trajectories an iteration, within [16, 128] (logrl)
    "action_std": 0.15,
    "noise_final_frac": 1 / 3,  # the noise biases the learned mean: shrink it as it settles
    "lr_actor": 3e-3,
    "lr_critic": 1e-3,
    "td_lambda": 1.0,  # Monte-Carlo returns: with λ < 1 the critic's bias stalled the actor
    "critic_warmup": 20,
    "grad_clip": 1.0,
    "lr_final_frac": 0.1,
    "checkpoint_every": 100,
}


# The range of every numeric option, as an interval ("[1, inf)": at least 1; "(0, inf)":
# positive; "(0, 1]"; ...), checked by ARTConfig.check and mirrored by the `art` block of
# workflow/schemas/config.schema.yaml ($defs/art; tests/test_art_config.py keeps the two equal).
# gamma0 (a Lagrange multiplier, of either sign) has none; every float must be finite.
BOUNDS = {
    "sigma_min": "(0, inf)",
    "action_std": "(0, inf)",
    "noise_final_frac": "(0, 1]",
    "bank_paths": "[1, inf)",
    "bank_points": "[1, inf)",
    "distill_frac": "(0, 1]",
    "K": "[1, inf)",
    "T": "(0, inf)",
    "iterations": "[1, inf)",
    "batch": "[0, inf)",  # 0: automatic (clock: log only; clock: sigma needs >= 1, see check)
    "lam": "(0, inf)",
    "eps": "(0, inf)",
    "lr_actor": "(0, inf)",
    "lr_critic": "(0, inf)",
    "lr_gamma": "[0, inf)",  # 0: γ moves by its proportional part alone (gamma_kp)
    "gamma_kp": "[0, inf)",
    "lr_final_frac": "[0, 1]",
    "hidden": "[1, inf)",
    "layers": "[1, inf)",
    "td_lambda": "[0, 1]",
    "critic_warmup": "[0, inf)",
    "grad_clip": "[0, inf)",  # 0: off
    "theta_init": "(0, inf)",
    "init_rho": "(0, inf)",
    "init_sigma_min": "(0, inf)",
    "init_steps": "[1, inf)",
    "fixed_var": "[0, inf)",  # 0: λ
    "s_floor": "(0, inf)",
    "cost_scale": "(0, inf)",
    "checkpoint_every": "[1, inf)",
    "distill_trajectories": "[1, inf)",
    "seed": "[0, inf)",
}


def _interval(text: str) -> tuple[float, bool, float, bool]:
    """``"(0, 1]"`` -> (low, low included, high, high included)."""
    lo, hi = (v.strip() for v in text[1:-1].split(","))
    return float(lo), text[0] == "[", float(hi), text[-1] == "]"


def in_range(value: float, text: str) -> bool:
    """Whether ``value`` lies in the interval ``text`` (NaN never does)."""
    lo, lo_in, hi, hi_in = _interval(text)
    above = value >= lo if lo_in else value > lo
    below = value <= hi if hi_in else value < hi
    return bool(above and below)


def describe(text: str) -> str:
    """``"[1, inf)"`` -> ``">= 1"``; ``"(0, 1]"`` -> ``"in (0, 1]"``."""
    lo, lo_in, hi, _ = _interval(text)
    if math.isinf(hi):
        return f"{'>=' if lo_in else '>'} {lo:g}"
    return f"in {text}"


@dataclass
class ARTConfig:
    """Hyperparameters of Algorithm 1. Defaults are the paper's (App. C) where it states one."""

    # "sigma": the paper's clock speed θ with the Lagrange multiplier γ (Eqs. 9, 23;
    # artrl.art.rl); "log": the scale-free clock (artrl.art.logrl, docs/art_clock.md), which
    # is what a config's art block gets unless it says clock: sigma (see from_dict)
    clock: str = "sigma"
    # where the grid ends (clock: log): "paper" σ_K = 0; "code" (EDM) σ_{K−1} = sigma_min, then
    # 0. make_trainer takes both from the dataset's analytic block, as ART-analytic does
    convention: str = "paper"
    sigma_min: float = 2e-3
    action_std: float = 0.3  # clock: log: the policy's std on the action a (a logit offset)
    noise_final_frac: float = 1.0  # clock: log: action_std decays (cosine) to this fraction
    # clock: log: "path": each step charged |Q| integrated along the PF-ODE path over the step
    # (artrl.art.paths); "left": |Q| at its start, the paper's δ_k (gamed by long steps,
    # docs/art_clock.md)
    cost_quadrature: str = "path"
    # clock: log: the PF-ODE paths the rollouts follow, integrated once on a fine σ-grid
    bank_paths: int = 512
    bank_points: int = 256
    antithetic: bool = True  # clock: log: rollouts in pairs, one start, opposite noise
    distill_frac: float = 0.25  # clock: log: distil from the last quarter of the iterations
    K: int = 100  # t-grid steps; Δt = T/K
    T: float = 3.0  # clock length = σ_max (docs/references.md §2.1)
    iterations: int = 5000  # N
    batch: int = 1  # trajectories per iteration (paper: one; not stated for images)
    lam: float = 0.1  # λ, policy variance scale (Eq. 11)
    eps: float = 1e-6  # ε, floor on |Q| in the variance
    lr_actor: float = 1e-4  # Adam step a_n for Eq. 22b
    lr_critic: float = 1e-4  # Adam step a_n for Eq. 22a
    lr_gamma: float = 1e-4  # Lagrange step for Eq. 23
    gamma_kp: float = 0.0  # proportional gain on the budget error (PI multiplier; 0 = Eq. 23)
    lr_final_frac: float = 1.0  # cosine decay of all three steps to this fraction (1 = constant)
    gamma0: float = 0.0  # γ_0
    hidden: int = 128  # MLP width (App. C)
    layers: int = 3  # MLP depth (App. C)
    td_lambda: float = 0.0  # 0: the one-step δ_k of Eq. 22; >0: λ-returns Σ_j td_lambda^(j−k) δ_j
    critic_warmup: int = 0  # critic-only iterations before the actor and γ move
    grad_clip: float = 0.0  # global-norm clip on each network's gradient (0 = off)
    features: str = "raw"  # "raw": (t/T, ψ/T, x/σ_prior); "summary": low-dim image features
    theta_init: float = 1.0  # the actor starts as the clock θ ≡ theta_init (Uniform schedule)
    # "uniform": start from θ ≡ theta_init; "edm": fit the actor's mean to EDM's ρ-grid clock
    # (σ_min = init_sigma_min, ρ = init_rho) on rollouts of that clock before Algorithm 1
    init_schedule: str = "uniform"
    init_rho: float = 7.0
    init_sigma_min: float = 2e-3
    init_steps: int = 300  # Adam steps of that fit
    actor_output: str = "linear"  # μ = NN (paper) or "exp": μ = exp(NN) > 0, for stiff clocks
    # ablations (docs/references.md §2.7): "adaptive" is Eq. 11's λ / max(|Q|, ε); "fixed" uses
    # the state-independent variance fixed_var (λ when fixed_var = 0)
    variance: str = "adaptive"
    fixed_var: float = 0.0
    # the actor's inputs: "state" (the features above) or "time" (t/T alone: a time-only
    # actor, i.e. a schedule; the critic keeps the state features)
    actor_inputs: str = "state"
    clip_psi: bool = True  # clip ψ to [0, T] in the state (App. C)
    s_floor: float = 1e-6  # floor on s = T − ψ inside F and Q
    jvp_mode: str = "auto"  # Q by forward-mode JVP, falling back to double backward
    # the running cost's error proxy: "euler" (the paper's |Q|θ²Δt) or "heun" (2|R̃|θ³Δt² on
    # all steps but the last, which stays Euler; docs/heun_proxy.md)
    proxy: str = "euler"
    # a constant factor on the running cost (the same optimum; it sets the cost's scale against
    # λ t and the budget term γθΔt, e.g. 1/(2Δt) puts the Heun proxy on its Δt-free scale)
    cost_scale: float = 1.0
    net_dtype: str = "float64"  # actor/critic precision (float64 is faster on CPU here)
    checkpoint_every: int = 100  # M
    distill_trajectories: int = 10000  # trajectories kept for distillation (the last ones)
    seed: int = 0

    @classmethod
    def from_dict(cls, d: dict, where: str = "art config") -> ARTConfig:
        """The config of a workflow ``art:`` block: the scale-free clock with
        :data:`LOG_CLOCK_DEFAULTS` unless the block says ``clock: sigma`` (then the dataclass
        defaults, the paper's). Unknown keys and wrongly typed values raise."""
        d = dict(d)
        if d.get("clock", "log") == "log":
            d = {"clock": "log", **LOG_CLOCK_DEFAULTS, **d}
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise KeyError(f"{where}: unknown key(s) {unknown}; known keys: {sorted(known)}")
        out = {}
        for k, v in d.items():
            typ = type(getattr(cls(), k))
            if typ is float and isinstance(v, int) and not isinstance(v, bool):
                v = float(v)
            if not isinstance(v, typ) or (typ is int and isinstance(v, bool)):
                raise TypeError(f"{where}: key {k!r} must be {typ.__name__}, got {v!r}")
            out[k] = v
        return cls(**out)

    # the allowed values of the string options (checked when a config is built)
    CHOICES = {
        "clock": ("log", "sigma"),
        "convention": ("paper", "code"),
        "cost_quadrature": ("path", "left"),
        "features": ("raw", "summary"),
        "init_schedule": ("uniform", "edm"),
        "actor_output": ("linear", "exp"),
        "variance": ("adaptive", "fixed"),
        "actor_inputs": ("state", "time"),
        "jvp_mode": ("auto", "forward", "reverse"),
        "proxy": ("euler", "heun"),  # docs/heun_proxy.md
        "net_dtype": ("float32", "float64"),
    }

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """A ValueError naming the option whose value is not one of its CHOICES or lies
        outside its :data:`BOUNDS` (and every float finite)."""
        for key, allowed in self.CHOICES.items():
            if getattr(self, key) not in allowed:
                raise ValueError(
                    f"{key} must be one of {list(allowed)}, got {getattr(self, key)!r}"
                )
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError(f"{f.name} must be a finite number, got {v!r}")
        for key, text in BOUNDS.items():
            v = getattr(self, key)
            if not in_range(v, text):
                raise ValueError(f"{key} must be {describe(text)}, got {v!r}")
        if self.clock == "sigma" and self.batch < 1:
            raise ValueError(
                f"batch must be >= 1 with clock: sigma (0, an automatic batch, is clock: log's "
                f"only), got {self.batch!r}"
            )

    @property
    def dt(self) -> float:
        return self.T / self.K
