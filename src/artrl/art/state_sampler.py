"""State-dependent ART sampling (issue 17; arXiv 2601.18681 §6, open question 3).

ART-RL learns a policy that sees the sample's state, μ(t, x, ψ) (Eq. 20), and the paper
distils it into one time-only schedule (§5). Here the policy itself samples: every sample
follows its own clock, the step of sample i at step k being the actor's *mean* (no policy
noise) at that sample's state, all samples in one batched network call per stage
(:func:`artrl.solvers.euler_step` / :func:`artrl.solvers.heun_step` with a [B] σ).

The actor is the scale-free clock's (:mod:`artrl.art.logrl`, docs/art_clock.md): at learned
step k of K_l, with n = K_l − k steps left, its action a sets the fraction of the remaining
clock coordinate r the step covers, r_{k+1} = r_k (1 − sigmoid(a + logit(1/n))), and the last
learned step lands on the grid's end, so every sample's clock spans the same total budget T
(Eq. 6) by construction. Its inputs are :func:`artrl.art.logrl.clock_features` of the sample's
state: steps left, the part of r left, log(σ|Q|/|F|) and log‖x‖. F = (D − x)/σ (Eq. 5) comes
from the step's own denoiser evaluation; Q (Eq. 8) needs one Jacobian–vector product of the
denoiser per learned step but the last (the same JVP ART-RL trains with). So at equal NFE the
state-dependent sampler does K_l − 1 JVPs more network work than a time-only grid, and one
actor call (a 3-layer MLP on 5 numbers per sample) per learned step: :class:`SamplerCost`.

A policy travels between jobs as a JSON file (:func:`save_policy`, :func:`load_policy`,
format ``artrl-state-policy/1``): the actor's weights as exact float64 lists, its clock
(K, T, convention, σ_min, x_scale) and the provenance of a schedule file.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from artrl.art.clock import base_logit, learned_steps
from artrl.art.dynamics import batch_norm, flow_jvp
from artrl.art.logrl import A_MAX, N_FEATURES, clock_features
from artrl.art.rl import MLP
from artrl.io import InputError, write_text
from artrl.solvers import PER_SAMPLE_STEPS

if TYPE_CHECKING:
    from artrl.art.logrl import LogClockTrainer
    from artrl.solvers import Denoiser

__all__ = [
    "FORMAT",
    "StatePolicy",
    "SamplerCost",
    "sample_state",
    "policy_document",
    "policy_from_document",
    "save_policy",
    "write_doc",
    "load_policy",
]

FORMAT = "artrl-state-policy/1"


@dataclass(frozen=True)
class Clock:
    """The clock a policy steps on (:mod:`artrl.art.clock`)."""

    K: int
    T: float
    convention: str
    sigma_min: float
    x_scale: float  # √d σ_prior, the ‖x‖ feature's scale
    actor_inputs: str  # "state" (all 5 features) or "time" (the first 3)
    jvp_mode: str = "auto"


class StatePolicy:
    """The actor mean of a log-clock ART-RL run as a per-sample step rule."""

    def __init__(self, actor: MLP, clock: Clock):
        if clock.actor_inputs not in ("state", "time"):
            raise ValueError(f"actor_inputs must be state or time, got {clock.actor_inputs!r}")
        self.actor = actor.eval()
        self.clock = clock
        self.K_l = learned_steps(clock.K, clock.convention)
        self.dtype = next(actor.parameters()).dtype

    @classmethod
    def from_trainer(cls, tr: LogClockTrainer) -> StatePolicy:
        cfg = tr.cfg
        clock = Clock(
            K=int(cfg.K),
            T=float(cfg.T),
            convention=cfg.convention,
            sigma_min=float(cfg.sigma_min),
            x_scale=float(tr.x_scale),
            actor_inputs=cfg.actor_inputs,
            jvp_mode=cfg.jvp_mode,
        )
        return cls(tr.actor, clock)

    # the clock coordinate (artrl.art.clock.r_of / sigma_of, in torch)
    def r0(self) -> float:
        c = self.clock
        return math.log(c.T / c.sigma_min) if c.convention == "code" else c.T

    def sigma_of(self, r: Tensor) -> Tensor:
        c = self.clock
        return c.sigma_min * r.exp() if c.convention == "code" else r

    def end(self) -> float:
        """Where the last learned step lands: σ_min (code) or 0 (paper)."""
        return self.clock.sigma_min if self.clock.convention == "code" else 0.0

    @torch.no_grad()
    def mean(self, z: Tensor) -> Tensor:
        """The actor's mean action a (clamped as in training, :class:`LogClockTrainer`), for
        z of shape [B, f]. Each row goes through its own 1-row product (``torch.bmm``), so a
        sample's clock does not depend on which samples share its batch: ``nn.Linear`` folds
        the batch into one matrix product whose kernel, and so its rounding, depends on B."""
        if self.clock.actor_inputs == "time":
            z = z[..., :3]
        if next(self.actor.parameters()).device != z.device:  # a CPU-loaded policy on a GPU
            self.actor.to(z.device)
        h = z.to(self.dtype)
        for m in self.actor.net:
            if isinstance(m, torch.nn.Linear):
                w = m.weight.t().expand(h.shape[0], -1, -1)
                h = torch.bmm(h.unsqueeze(1), w).squeeze(1) + m.bias
            else:
                h = m(h)
        return h.squeeze(-1).double().clamp(-A_MAX, A_MAX)


@dataclass
class SamplerCost:
    """Work per sample of one state-dependent sampling run (the inference cost of issue 17)."""

    nfe: int  # denoiser evaluations per sample (as the time-only grid of the same K)
    jvps: int  # Jacobian–vector products of the denoiser per sample (Q of the features)
    actor_calls: int  # actor evaluations per sample


def sample_state(
    D: Denoiser,
    x: Tensor,
    policy: StatePolicy,
    solver: str = "heun",
    labels: Tensor | None = None,
) -> tuple[Tensor, Tensor, SamplerCost]:
    """Sample from x at σ = T, each row on the clock the policy's mean chooses at its state.

    Returns (x_0, the per-sample grids [B, K + 1], the work per sample). Rows are independent:
    given its grid, each row is the scalar-grid solver's bit for bit; one row sampled alone
    chooses the same σ to 1e-14 relative, the last-ulp difference between torch's vectorised
    and scalar sigmoid/softplus/exp (tests/test_art_state_sampler.py).
    """
    if solver not in PER_SAMPLE_STEPS:
        raise ValueError(
            f"the state-dependent sampler runs {sorted(PER_SAMPLE_STEPS)}, not {solver!r}"
        )
    step = PER_SAMPLE_STEPS[solver]
    c, K_l = policy.clock, policy.K_l
    x = torch.as_tensor(x).to(torch.float64)
    B, dev = x.shape[0], x.device
    r0 = policy.r0()
    r = torch.full((B,), r0, dtype=torch.float64, device=dev)
    sigma = torch.full((B,), c.T, dtype=torch.float64, device=dev)
    grid = [sigma]
    nfe = jvps = actor_calls = 0
    for k in range(K_l):
        n = K_l - k
        with torch.no_grad():
            denoised = D(x, sigma, labels)
        nfe += 1
        if n > 1:
            F = (denoised - x) / sigma.reshape((B,) + (1,) * (x.ndim - 1))  # Eq. (5)
            q = batch_norm(flow_jvp(D, x, sigma, F, labels, mode=c.jvp_mode)) / sigma  # |Q|
            jvps += 1
            z = clock_features(k, K_l, r / r0, sigma, q, batch_norm(F), batch_norm(x), c.x_scale)
            a = policy.mean(z)
            actor_calls += 1
            r = r * (1 - torch.sigmoid(a + base_logit(n)))
            sigma_next = policy.sigma_of(r)
        else:  # the last learned step lands on the grid's end
            r = torch.zeros_like(r)
            sigma_next = torch.full_like(sigma, policy.end())
        x = step(D, x, sigma, sigma_next, labels, denoised=denoised)
        nfe += int(solver == "heun" and bool((sigma_next > 0).any()))
        sigma = sigma_next
        grid.append(sigma)
    if c.convention == "code":  # EDM's fixed last step σ_min → 0 (Euler)
        x = step(D, x, sigma, torch.zeros_like(sigma), labels)
        nfe += 1
        grid.append(torch.zeros_like(sigma))
    return x, torch.stack(grid, 1), SamplerCost(nfe, jvps, actor_calls)


# ---------------------------------------------------------------------------------------------
# The policy file


def policy_document(policy: StatePolicy, provenance: dict[str, Any]) -> dict[str, Any]:
    """``policy`` as a JSON-able document: format, provenance, clock, actor weights (float64)."""
    actor = policy.actor
    linears = [m for m in actor.net if isinstance(m, torch.nn.Linear)]
    return {
        "format": FORMAT,
        "provenance": provenance,
        "clock": asdict(policy.clock),
        "actor": {
            "d_in": int(linears[0].in_features),
            "hidden": int(linears[0].out_features),
            "layers": len(linears),
            "dtype": str(policy.dtype).removeprefix("torch."),
            "state_dict": {
                k: v.detach().to("cpu", torch.float64).tolist()
                for k, v in actor.state_dict().items()
            },
        },
    }


def save_policy(path: str | Path, policy: StatePolicy, provenance: dict[str, Any]) -> Path:
    """Write ``policy`` as JSON (atomically): :func:`policy_document`."""
    return write_doc(path, policy_document(policy, provenance))


def write_doc(path: str | Path, doc: dict[str, Any]) -> Path:
    """Write a :func:`policy_document` (atomically, keys sorted)."""
    return write_text(Path(path), json.dumps(doc, sort_keys=True) + "\n")


def load_policy(path: str | Path) -> tuple[StatePolicy, dict[str, Any]]:
    """(policy, provenance) from a :func:`save_policy` file; a file of another format or with
    missing or malformed entries is refused with an :class:`artrl.io.InputError` naming it."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: not a readable state-policy JSON file ({e})") from None
    return policy_from_document(doc, str(path))


def policy_from_document(doc: Any, where: str) -> tuple[StatePolicy, dict[str, Any]]:
    """(policy, provenance) from a :func:`policy_document`; ``where`` names its file in the
    :class:`artrl.io.InputError` for another format or a missing or malformed entry."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InputError(f"{where}: not a state-policy file (format {FORMAT!r} expected)")
    try:
        clock = Clock(**doc["clock"])
        a = doc["actor"]
        d_in = 3 if clock.actor_inputs == "time" else N_FEATURES
        if int(a["d_in"]) != d_in:
            raise ValueError(f"actor input width {a['d_in']} != {d_in} for {clock.actor_inputs}")
        dtype = getattr(torch, a["dtype"])
        actor = MLP(d_in, int(a["hidden"]), int(a["layers"])).to(dtype)  # before the weights
        sd = {k: torch.tensor(np.asarray(v, dtype=np.float64)) for k, v in a["state_dict"].items()}
        actor.load_state_dict(sd)
        policy = StatePolicy(actor, clock)
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as e:
        msg = f"{where}: malformed state-policy file ({type(e).__name__}: {e})"
        raise InputError(msg) from None
    return policy, dict(doc.get("provenance", {}))
