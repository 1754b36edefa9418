"""Distillation of a learned ART-RL policy into a time-only schedule (arXiv 2601.18681 §5, App. C).

Per-trajectory rescaling so that Σ_k θ_k Δt = T, the mean over the last trajectories at each k,
ψ by cumulative sum, σ_k = T − ψ_k. ``python -m artrl.art.distill`` turns the rollouts file
written by ``python -m artrl.art.train`` into a schedule JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from artrl.art.clock import average_grids
from artrl.io import file_sha256, read_npz_all, run_cli
from artrl.schedules import Schedule, ScheduleError, from_psi, validate

__all__ = ["distill", "main"]


def distill(
    theta: np.ndarray, T: float, *, min_budget_frac: float = 0.05
) -> tuple[np.ndarray, dict]:
    """The distilled clock ψ_0 = 0, …, ψ_K = T from executed controls (arXiv 2601.18681 §5,
    App. C).

    ``theta`` is [M, K]: the executed θ_k of the last M trajectories. Trajectories whose budget
    Σθ_kΔt is below ``min_budget_frac``·T cannot be rescaled meaningfully (the ratio T / budget
    explodes or flips sign) and are dropped; how many is reported. Returns (ψ, info).
    """
    theta = np.asarray(theta, dtype=np.float64)
    if theta.ndim != 2 or theta.shape[0] == 0:
        raise ValueError(f"distill: need a non-empty [trajectories, K] array, got {theta.shape}")
    M, K = theta.shape
    dt = T / K
    budget = theta.sum(axis=1) * dt
    keep = budget > min_budget_frac * T
    if not keep.any():
        raise ValueError("distill: no trajectory has a positive budget; training did not converge")
    rescaled = theta[keep] * (T / budget[keep])[:, None]  # step 2: Σ_k θ_k Δt = T per trajectory
    theta_bar = rescaled.mean(axis=0)  # step 3
    psi = np.concatenate([[0.0], np.cumsum(theta_bar) * dt])  # step 4
    psi[-1] = T  # equal to T up to rounding (≤ 1e-12): make it exact
    info = {
        "trajectories": int(M),
        "dropped": int((~keep).sum()),
        "theta_mean": theta_bar.tolist(),
        "theta_q25": np.quantile(rescaled, 0.25, axis=0).tolist(),
        "theta_q75": np.quantile(rescaled, 0.75, axis=0).tolist(),
        "budget_mean": float(budget.mean()),
        "budget_std": float(budget.std()),
    }
    return psi, info


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m artrl.art.distill",
        description="Distill ART-RL rollouts (rollouts.npz from artrl.art.train) into a "
        "time-only schedule JSON (arXiv 2601.18681 §5, App. C).",
    )
    p.add_argument("--rollouts", required=True, help="rollouts.npz written by artrl.art.train")
    p.add_argument("--dataset", required=True)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--config-digest", default=None)
    p.add_argument("--method", default="art_rl", help="method name stored in the schedule")
    p.add_argument(
        "--source",
        choices=["executed", "mean"],
        default=None,
        help="average the executed controls θ_k (paper) or the actor means μ_k; default: "
        "executed for clock: sigma, mean (the settled policy's grids) for clock: log",
    )
    p.add_argument("--out", required=True, help="schedule JSON to write")
    p.add_argument(
        "--policy-out",
        default=None,
        help="also write the run's actor as a state-dependent policy JSON (issue 17; clock: "
        "log runs), its provenance the schedule's and the schedule file's sha256",
    )
    return p


def main(argv: list[str] | None = None) -> Path:
    a = _parser().parse_args(argv)
    z = read_npz_all(a.rollouts, ("T", "K"), "ART-RL rollouts file (python -m artrl.art.train)")
    a.source = a.source or ("mean" if "sigmas" in z else "executed")
    try:
        T, K = float(z["T"]), int(z["K"])
        log_clock = "sigmas" in z  # clock: log (artrl.art.logrl)
        if log_clock:
            grids = z["sigmas" if a.source == "mean" else "sigmas_executed"]
            convention, sigma_min = str(z["convention"]), float(z["sigma_min"])
        else:
            theta = z["theta" if a.source == "executed" else "mu"]
    except (OSError, KeyError, ValueError) as e:
        raise SystemExit(f"error: {a.rollouts}: not an artrl rollouts file ({e})") from None
    try:
        if log_clock:  # every grid ends where it must: average in the clock coordinate
            sigmas, info = average_grids(grids, convention, sigma_min, T)
            sigmas = validate(sigmas, sigma_max=T, K=K, name=str(a.rollouts))
            info["clock"] = "log"
            info["dropped"] = 0  # no budget to rescale: every grid is kept
            for key in ("art_cost_plain", "art_cost_refined", "analytic_art_cost_plain",
                        "analytic_art_cost_refined", "cost_paths"):  # fmt: skip
                if key in z:
                    info[key] = z[key].item()
        else:
            psi, info = distill(theta, T)
            sigmas = from_psi(psi, T)
    except (ValueError, ScheduleError) as e:
        raise SystemExit(
            f"error: {a.rollouts}: the mean clock speed is not positive at every step, so it "
            f"gives no valid schedule ({e}). ART-RL has not converged: raise "
            "datasets.<name>.art.iterations or check train_log.csv next to the rollouts."
        ) from None
    info["source"] = a.source
    if "denoiser_evals" in z:  # the training run's cost (the tables' cost column)
        info["denoiser_evals"] = int(z["denoiser_evals"])
    if "numerics" in z:  # the training run's numerics (artrl.device.numerics_record)
        try:
            info["numerics"] = json.loads(str(z["numerics"]))
        except json.JSONDecodeError as e:
            raise SystemExit(f"error: {a.rollouts}: its 'numerics' is not JSON ({e})") from None
    info["rollouts"] = str(a.rollouts)
    sched = Schedule(
        sigmas=sigmas,
        method=a.method,
        dataset=a.dataset,
        K=K,
        seed=a.seed,
        config_digest=a.config_digest,
        extra=info,
    )
    policy = None if a.policy_out is None else _policy_doc(z, a.rollouts, K)
    out = sched.save(a.out)
    print(f"distilled {info['trajectories']} trajectories ({info['dropped']} dropped) -> {out}")
    if policy is not None:
        # bound to the grid written with it: the sampler checks the schedule file's digest
        prov = {k: getattr(sched, k) for k in ("method", "dataset", "K", "seed", "config_digest")}
        policy["provenance"] = {**prov, "schedule": str(out), "schedule_sha256": file_sha256(out)}
        from artrl.art.state_sampler import write_doc

        print(f"state-dependent policy -> {write_doc(a.policy_out, policy)}")
    return out


def _policy_doc(z: dict, rollouts: str, K: int) -> dict:
    """The policy document a clock: log run stored in its rollouts file, checked."""
    from artrl.art.state_sampler import policy_from_document  # torch: only with --policy-out

    if "policy" not in z:
        raise SystemExit(
            f"error: {rollouts}: no 'policy' in this rollouts file. Only an ART-RL run on the "
            "scale-free clock (clock: log) written by this version of python -m artrl.art.train "
            "stores its actor; rerun the training."
        )
    try:
        doc = json.loads(str(z["policy"]))
    except json.JSONDecodeError as e:
        raise SystemExit(f"error: {rollouts}: its 'policy' is not JSON ({e})") from None
    policy, _ = policy_from_document(doc, f"{rollouts} (policy)")
    if policy.clock.K != K:
        raise SystemExit(f"error: {rollouts}: its policy has K={policy.clock.K}, the run K={K}")
    return doc


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
