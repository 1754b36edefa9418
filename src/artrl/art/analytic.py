"""The analytic ART schedule and the expected ART cost of a schedule.

* :func:`analytic_schedule` is the exact optimum of the ART objective (Eq. 9) when |Q| along a
  path depends on ψ alone (docs/references.md §2.3): θ* = c · q(ψ)^{-1/2} with
  q(ψ) = E|Q(x(ψ), ψ)| estimated from PF-ODE rollouts. Writing u(ψ) = ∫_0^ψ √q, the clock is
  u(ψ(t)) = u(T) t / T.
  The paper does not have this method; it costs a few hundred rollouts instead of an RL run.
  With ``proxy="heun"`` (docs/heun_proxy.md) the profile is r(ψ) = E|R̃(x(ψ), ψ)|, Heun's
  local-error coefficient, along the same rollouts, and θ* ∝ r^{-1/3}: u(ψ) = ∫_0^ψ r^{1/3}
  (:func:`heun_profile`, :func:`psi_grid_from_r`).
* :func:`art_cost` is the expected ART cost E Σ_k |Q(x_k, ψ_k)| θ_k² Δt of a schedule along its
  own Euler rollouts (the discretised objective of Eq. 9 without the multiplier term).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from artrl.art.dynamics import batch_norm, drift_and_q, drift_q_heun, euler_step
from artrl.device import generator, model_device
from artrl.io import read_npz, run_cli

if TYPE_CHECKING:
    from artrl.solvers import Denoiser

__all__ = [
    "analytic_schedule",
    "art_cost",
    "clock_from_profile",
    "heun_profile",
    "profile",
    "psi_grid_from_q",
    "psi_grid_from_r",
    "q_profile",
    "qr_profile",
]

PROXIES = ("euler", "heun")


def _check_proxy(proxy: str) -> None:
    if proxy not in PROXIES:
        raise ValueError(
            f"analytic proxy must be euler or heun (docs/heun_proxy.md), got {proxy!r}"
        )


def q_profile(
    D: Denoiser,
    sigmas: np.ndarray,
    prior: Callable[[int, torch.Generator], Tensor],
    n: int,
    *,
    T: float,
    labels: Callable[[int, torch.Generator], Tensor] | None = None,
    seed: int = 0,
    batch: int = 4096,
    jvp_mode: str = "auto",
    progress: bool = False,
) -> np.ndarray:
    """E|Q(x, ψ)| at ψ_j = T − σ_j along Heun PF-ODE trajectories over the fine grid ``sigmas``.

    The path x(ψ) does not depend on the clock θ (docs/references.md §2.3), so one set of accurate
    rollouts serves every schedule. Returns an array shaped like ``sigmas``.
    """
    return _profiles(
        D, sigmas, prior, n, T, labels, seed, batch, jvp_mode, heun=False, progress=progress
    )[0]


def qr_profile(
    D: Denoiser,
    sigmas: np.ndarray,
    prior: Callable[[int, torch.Generator], Tensor],
    n: int,
    *,
    T: float,
    labels: Callable[[int, torch.Generator], Tensor] | None = None,
    seed: int = 0,
    batch: int = 4096,
    jvp_mode: str = "auto",
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(E|Q|, E|R̃|) along the rollouts of :func:`q_profile` (the same q), R̃ being Heun's
    local-error coefficient (``drift_q_heun``, docs/heun_proxy.md): about 3x the cost of q."""
    return _profiles(
        D, sigmas, prior, n, T, labels, seed, batch, jvp_mode, heun=True, progress=progress
    )


def _profiles(D, sigmas, prior, n, T, labels, seed, batch, jvp_mode, *, heun, progress=False):
    gen = generator(seed, model_device(D))  # on the network's device
    total = np.zeros(len(sigmas))
    total_r = np.zeros(len(sigmas))
    done = 0
    while done < n:
        b = min(batch, n - done)
        x = prior(b, gen).double()
        lab = labels(b, gen) if labels is not None else None
        bar = tqdm(
            sigmas,
            desc="q-profile" + (" (Heun)" if heun else ""),
            disable=not progress,
            mininterval=10,
        )
        for j, s in enumerate(bar):
            psi = torch.full((b,), T - float(s), dtype=torch.float64, device=x.device)
            if heun:  # the same F and Q (bit for bit) as drift_and_q, and R̃
                F, Q, Rt = drift_q_heun(D, x, psi, T, lab, mode=jvp_mode)
                total_r[j] += float(batch_norm(Rt).sum())
            else:
                F, Q = drift_and_q(D, x, psi, T, lab, mode=jvp_mode)
            total[j] += float(batch_norm(Q).sum())
            if j + 1 < len(sigmas):  # Heun step in ψ (dψ = σ_j − σ_{j+1}); Euler into σ = 0
                h = float(s - sigmas[j + 1])
                x_e = x + h * F
                if sigmas[j + 1] > 0:
                    psi_n = torch.full_like(psi, T - float(sigmas[j + 1]))
                    F2, _ = drift_and_q(D, x_e, psi_n, T, lab, mode=jvp_mode)
                    x = x + 0.5 * h * (F + F2)
                else:
                    x = x_e
        done += b
    return total / n, (total_r / n if heun else None)


def psi_grid_from_q(psi_fine: np.ndarray, q: np.ndarray, K: int, T: float) -> np.ndarray:
    """θ* ∝ q^{-1/2}: ψ_k = u^{-1}(u(end)·k/K) with u(ψ) = ∫_0^ψ √q (trapezoid on the fine
    grid), from ψ_0 = 0 to the fine grid's last point (``T`` when it reaches σ = 0)."""
    order = np.argsort(psi_fine)
    p, sq = np.asarray(psi_fine)[order], np.sqrt(np.maximum(np.asarray(q)[order], 1e-300))
    return _grid_from_density(p, sq, K, T)


def psi_grid_from_r(psi_fine: np.ndarray, r: np.ndarray, K: int, T: float) -> np.ndarray:
    """The Heun-proxy clock θ* ∝ r^{-1/3} (docs/heun_proxy.md): as :func:`psi_grid_from_q`
    with u(ψ) = ∫_0^ψ r^{1/3}, r = E|R̃|."""
    order = np.argsort(psi_fine)
    p, cr = np.asarray(psi_fine)[order], np.cbrt(np.maximum(np.asarray(r)[order], 1e-300))
    return _grid_from_density(p, cr, K, T)


def _grid_from_density(p: np.ndarray, sq: np.ndarray, K: int, T: float) -> np.ndarray:
    """ψ_k = u^{-1}(u(end)·k/K), u the trapezoid integral of the density ``sq`` over ``p``."""
    u = np.concatenate([[0.0], np.cumsum(0.5 * (sq[1:] + sq[:-1]) * np.diff(p))])
    psi = np.interp(np.linspace(0.0, u[-1], K + 1), u, p)
    psi[0] = 0.0
    psi[-1] = T if abs(p[-1] - T) <= 1e-12 * T else p[-1]
    return psi


def profile(
    D: Denoiser,
    T: float,
    prior: Callable[[int, torch.Generator], Tensor],
    *,
    fine_sigmas: np.ndarray,
    n: int = 4096,
    labels=None,
    seed: int = 0,
    jvp_mode: str = "auto",
    convention: str = "paper",
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(σ_j, q_j = E|Q|) tabulated once per model: every K's schedule is read off it.

    ``convention="code"`` leaves out σ = 0 (the last step of an EDM grid goes there whatever
    the clock, and |Q| ~ 1/σ), ``"paper"`` keeps the whole fine grid.
    """
    tab = _table(fine_sigmas, T, convention)
    q = q_profile(
        D, tab, prior, n, T=T, labels=labels, seed=seed, jvp_mode=jvp_mode, progress=progress
    )
    return tab, q


def heun_profile(
    D: Denoiser,
    T: float,
    prior: Callable[[int, torch.Generator], Tensor],
    *,
    fine_sigmas: np.ndarray,
    n: int = 4096,
    labels=None,
    seed: int = 0,
    jvp_mode: str = "auto",
    convention: str = "paper",
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(σ_j, q_j = E|Q|, r_j = E|R̃|): :func:`profile` plus Heun's error density r
    (:func:`qr_profile`, about 3x the cost), for ``proxy="heun"``."""
    tab = _table(fine_sigmas, T, convention)
    q, r = qr_profile(
        D, tab, prior, n, T=T, labels=labels, seed=seed, jvp_mode=jvp_mode, progress=progress
    )
    return tab, q, r


def _table(fine_sigmas: np.ndarray, T: float, convention: str) -> np.ndarray:
    """The σ_j a profile is tabulated at: the fine grid, without σ = 0 in the code convention."""
    fine = np.asarray(fine_sigmas, dtype=np.float64)
    if fine[0] != T or fine[-1] != 0.0:
        raise ValueError("analytic: the fine grid must run from σ_max = T down to 0")
    if convention not in ("paper", "code"):
        raise ValueError(f"convention must be paper or code, got {convention!r}")
    return fine[:-1] if convention == "code" else fine


def clock_from_profile(
    sigmas: np.ndarray,
    q: np.ndarray,
    K: int,
    T: float,
    convention: str = "paper",
    proxy: str = "euler",
) -> np.ndarray:
    """The optimal clock ψ_k (k = 0..K) for q tabulated at ``sigmas`` (see :func:`profile`).

    ``"paper"``: the K intervals cover σ ∈ [T, 0]. ``"code"`` (EDM's convention for images):
    K − 1 intervals of the optimal clock cover [T, σ_min], σ_min being the last tabulated σ,
    then one step to 0. ``proxy="heun"``: ``q`` is Heun's error density r = E|R̃| (see
    :func:`heun_profile`) and θ* ∝ r^{-1/3} (docs/heun_proxy.md); "euler": θ* ∝ q^{-1/2}.
    """
    _check_proxy(proxy)
    grid = psi_grid_from_r if proxy == "heun" else psi_grid_from_q
    sigmas = np.asarray(sigmas, dtype=np.float64)
    if convention == "code":
        if K < 2:
            raise ValueError("the code convention needs K >= 2")
        return np.append(grid(T - sigmas, q, K - 1, T), T)
    if convention != "paper":
        raise ValueError(f"convention must be paper or code, got {convention!r}")
    return grid(T - sigmas, q, K, T)


def analytic_schedule(
    D: Denoiser,
    K: int,
    T: float,
    prior: Callable[[int, torch.Generator], Tensor],
    *,
    fine_sigmas: np.ndarray,
    n: int = 4096,
    labels=None,
    seed: int = 0,
    jvp_mode: str = "auto",
    convention: str = "paper",
    proxy: str = "euler",
) -> tuple[np.ndarray, dict]:
    """ART-analytic: the clock ψ_k (k = 0..K) of θ* ∝ E[|Q|]^{-1/2} (``proxy="euler"``) or
    θ* ∝ E[|R̃|]^{-1/3} (``"heun"``, docs/heun_proxy.md), and diagnostics (:func:`profile` or
    :func:`heun_profile`, then :func:`clock_from_profile`)."""
    _check_proxy(proxy)
    if convention == "code" and K < 2:
        raise ValueError("the code convention needs K >= 2")
    fine = np.asarray(fine_sigmas, dtype=np.float64)
    kw = dict(
        fine_sigmas=fine,
        n=n,
        labels=labels,
        seed=seed,
        jvp_mode=jvp_mode,
        convention=convention,
    )
    if proxy == "heun":
        tab, q, r = heun_profile(D, T, prior, **kw)
        psi = clock_from_profile(tab, r, K, T, convention, proxy="heun")
        return psi, _info(fine, q, n, convention, r=r)
    tab, q = profile(D, T, prior, **kw)
    psi = clock_from_profile(tab, q, K, T, convention)
    return psi, _info(fine, q, n, convention)


def _info(
    fine: np.ndarray, q: np.ndarray, n: int, convention: str, r: np.ndarray | None = None
) -> dict:
    """The diagnostics stored in a schedule's ``extra``: the profile it was read off. A Heun-proxy
    schedule (``r`` given) also records ``proxy: heun`` and r; no ``proxy`` key means euler (so
    Euler-proxy schedules are byte-identical to those made before the Heun proxy existed)."""
    out = {
        "fine_sigmas": np.asarray(fine).tolist(),
        "q": np.asarray(q).tolist(),
        "rollouts": n,
        "convention": convention,
    }
    if r is not None:
        out["proxy"] = "heun"
        out["r"] = np.asarray(r).tolist()
    return out


@torch.no_grad()
def art_cost(
    D: Denoiser,
    sigmas: np.ndarray,
    prior: Callable[[int, torch.Generator], Tensor],
    n: int,
    *,
    labels=None,
    seed: int = 0,
    batch: int = 100_000,
    jvp_mode: str = "auto",
) -> float:
    """E Σ_k |Q(x_k, ψ_k)| θ_k² Δt along the schedule's own Euler rollouts (uniform t-grid)."""
    sigmas = np.asarray(sigmas, dtype=np.float64)
    T, K = float(sigmas[0]), len(sigmas) - 1
    dt = T / K
    theta = (sigmas[:-1] - sigmas[1:]) / dt
    gen = generator(seed, model_device(D))  # on the network's device
    total, done = 0.0, 0
    while done < n:
        b = min(batch, n - done)
        x = prior(b, gen).double()
        lab = labels(b, gen) if labels is not None else None
        psi = torch.zeros(b, dtype=torch.float64, device=x.device)
        for k in range(K):
            F, Q = drift_and_q(D, x, psi, T, lab, mode=jvp_mode)
            th = torch.full_like(psi, theta[k])
            total += float((batch_norm(Q) * th**2 * dt).sum())
            x, psi = euler_step(x, psi, th, F, dt)
        done += b
    return total / n


def fine_grid(T: float, steps: int, kind: str = "uniform", sigma_min: float = 2e-3) -> np.ndarray:
    """The fine σ-grid on which q(ψ) is tabulated: uniform in σ, or EDM ρ=7 down to σ_min then 0."""
    if kind == "uniform":
        return np.linspace(T, 0.0, steps + 1)
    if kind == "edm":
        from artrl.schedules import edm

        fine = edm(steps, T, sigma_min, rho=7.0, convention="code")
        fine[0] = T  # EDM's pow may land 1 ulp off T (e.g. T = 3); the fine grid starts at T
        return fine
    raise ValueError(f"analytic.fine_grid must be 'uniform' or 'edm', got {kind!r}")


#: the ``analytic:`` block's defaults, the config schema's (tests/test_art_analytic.py checks
#: that the two agree; before, a direct CLI call used 1,000 fine steps, the workflow 2,000)
ANALYTIC_DEFAULTS = {
    "rollouts": 4096,
    "fine_steps": 2000,
    "fine_grid": "uniform",
    "sigma_min": 2e-3,
    "convention": "paper",
    "proxy": "euler",
}


def check_settings(dcfg: dict, K: int | None = None) -> str | None:
    """What is wrong with a dataset entry's ``sigma_max`` and ``analytic`` block, or with
    ``K`` (the ranges of workflow/schemas/config.schema.yaml), or None: checked before the
    command writes anything."""
    T = dcfg.get("sigma_max")
    if isinstance(T, bool) or not isinstance(T, int | float) or not math.isfinite(T) or T <= 0:
        return f"sigma_max must be a number > 0, got {T!r}"
    acfg = dcfg.get("analytic", {})
    if not isinstance(acfg, dict):
        return f"analytic must be a mapping, got {acfg!r}"

    def number(key: str, integer: bool = False) -> bool:
        v = acfg[key]
        ok = isinstance(v, int) if integer else isinstance(v, int | float)
        return ok and not isinstance(v, bool) and math.isfinite(v)

    for key, low in (("rollouts", 1), ("fine_steps", 2)):
        if key in acfg and not (number(key, integer=True) and acfg[key] >= low):
            return f"analytic.{key} must be an integer >= {low}, got {acfg[key]!r}"
    if "sigma_min" in acfg and not (number("sigma_min") and 0 < acfg["sigma_min"] < T):
        return f"analytic.sigma_min must be in (0, sigma_max = {T}), got {acfg['sigma_min']!r}"
    for key, allowed in (
        ("fine_grid", ("uniform", "edm")),
        ("convention", ("paper", "code")),
        ("proxy", PROXIES),
    ):
        if key in acfg and acfg[key] not in allowed:
            return f"analytic.{key} must be one of {list(allowed)}, got {acfg[key]!r}"
    convention = acfg.get("convention", "paper")
    low = 2 if convention == "code" else 1  # code: K − 1 steps to sigma_min, then 0
    if K is not None and K < low:
        return f"--K must be >= {low} (analytic.convention {convention}), got {K}"
    return None


def main(argv: list[str] | None = None):
    import argparse

    from artrl.device import (
        DEVICE_HELP,
        device_arg,
        numerics_record,
        read_numerics,
        set_threads,
        threads_arg,
    )
    from artrl.io import load_dataset_config, write_npz
    from artrl.models import build
    from artrl.schedules import Schedule, from_psi
    from artrl.solvers import CountingDenoiser

    p = argparse.ArgumentParser(
        prog="python -m artrl.art.analytic",
        description="ART-analytic schedule: θ* ∝ E[|Q|]^(-1/2) from PF-ODE rollouts "
        "(docs/references.md §2.3), or with the Heun error proxy θ* ∝ E[|R~|]^(-1/3) "
        "(docs/heun_proxy.md). The profile is K-independent: --save-profile writes it once, "
        "--profile reuses it.",
    )
    p.add_argument("--dataset-config", required=True, help="JSON string or file: the dataset entry")
    p.add_argument("--K", type=int, default=None, help="steps (omit with --save-profile only)")
    p.add_argument("--dataset", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--config-digest", default=None)
    p.add_argument("--device", type=device_arg, default="cpu", help=DEVICE_HELP)
    threads_arg(p)
    p.add_argument("--profile", default=None, help="read the q-profile npz instead of rolling out")
    p.add_argument("--save-profile", default=None, help="write the q-profile npz here")
    p.add_argument(
        "--heun-profile",
        action="store_true",
        help="also compute Heun's error density r = E|R~| (about 3x the cost of q) and save it "
        "in the --save-profile npz (done anyway when the proxy is heun)",
    )
    p.add_argument(
        "--proxy",
        choices=PROXIES,
        default=None,
        help="error proxy: euler (θ ∝ q^(-1/2)) or heun (θ ∝ r^(-1/3)); default: the dataset "
        "config's analytic.proxy, else euler",
    )
    p.add_argument("--out", default=None, help="schedule JSON (needs --K)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar over the noise levels")
    a = p.parse_args(argv)
    set_threads(a.threads)
    if (a.K is None) != (a.out is None):
        p.error("--K and --out go together")
    if a.K is None and a.save_profile is None:
        p.error("give --K and --out, or --save-profile")
    dcfg = load_dataset_config(a.dataset_config)
    problem = check_settings(dcfg, a.K)  # before anything is written (--save-profile, --out)
    if problem:
        p.error(problem)
    T = float(dcfg["sigma_max"])
    acfg = {**ANALYTIC_DEFAULTS, **dcfg.get("analytic", {})}
    n = int(acfg["rollouts"])
    proxy = a.proxy or acfg["proxy"]
    if proxy not in PROXIES:
        p.error(f"analytic.proxy must be euler or heun, got {proxy!r}")
    if a.heun_profile and not a.save_profile:
        p.error("--heun-profile goes with --save-profile")
    convention = acfg["convention"]
    fine = fine_grid(T, int(acfg["fine_steps"]), acfg["fine_grid"], float(acfg["sigma_min"]))
    meta = {"T": T, "rollouts": n, "convention": convention, "seed": a.seed}
    if a.profile:
        keys = (*meta, "fine_sigmas", "sigmas", "q")
        *arrays, r, ev, num = read_npz(
            a.profile,
            keys,
            "ART q-profile (--save-profile)",
            ("r", "denoiser_evals", "numerics"),
        )
        z = dict(zip(keys, arrays, strict=True))
        got = {k: z[k].item() for k in meta}
        if got != meta or not np.array_equal(z["fine_sigmas"], fine):
            raise SystemExit(
                f"error: {a.profile} was made with {got}, not {meta}; delete it and rerun"
            )
        tab, q = z["sigmas"], z["q"]
        evals = int(ev) if ev is not None else None
        # the numerics the profile was computed with (None: a profile from before they were
        # recorded), so the schedule is the same file whether the profile is reused or not
        numerics = read_numerics(num, a.profile)
        if r is None and (proxy == "heun" or a.heun_profile):
            raise SystemExit(
                f"error: {a.profile} has no Heun profile r (it was saved without "
                f"--heun-profile), which the heun proxy needs; rebuild it with "
                f"--save-profile {a.profile} --heun-profile"
            )
    else:
        bundle = build(dcfg["model"], T, a.device)
        D = CountingDenoiser(bundle.D)  # the cost column: per-sample evaluations (JVP = 1)
        kw = dict(
            fine_sigmas=fine,
            n=n,
            labels=bundle.labels,
            seed=a.seed,
            convention=convention,
            progress=not a.no_progress,
        )
        if proxy == "heun" or a.heun_profile:
            tab, q, r = heun_profile(D, T, bundle.prior, **kw)
        else:
            tab, q = profile(D, T, bundle.prior, **kw)
            r = None
        evals = D.evals
        numerics = numerics_record()
    if a.save_profile:
        extra = {"denoiser_evals": np.int64(evals)}
        if numerics is not None:  # JSON, as a string array (no pickles)
            extra["numerics"] = np.str_(json.dumps(numerics))
        if r is not None:
            extra["r"] = r
        write_npz(a.save_profile, sigmas=tab, q=q, fine_sigmas=fine, **meta, **extra)
        what = "q-profile" if r is None else "q- and r-profile (Heun)"
        print(f"{what} from {n} rollouts on {len(fine)} noise levels -> {a.save_profile}")
    if a.K is None:
        return a.save_profile
    if proxy == "heun":
        psi = clock_from_profile(tab, r, a.K, T, convention, proxy="heun")
    else:
        psi = clock_from_profile(tab, q, a.K, T, convention)
    sched = Schedule(
        sigmas=from_psi(psi, T),
        method="art_analytic",
        dataset=a.dataset,
        K=a.K,
        seed=a.seed,
        config_digest=a.config_digest,
        extra={
            **_info(fine, q, n, convention, r=r if proxy == "heun" else None),
            # what the profile cost (r included when it was computed: the job paid for it)
            **({} if evals is None else {"denoiser_evals": evals}),
            "numerics": numerics,  # of the q-profile (artrl.device.numerics_record)
        },
    )
    out = sched.save(a.out)
    what = "ART-analytic" if proxy == "euler" else "ART-analytic (Heun proxy)"
    print(f"{what} K={a.K} from {n} rollouts -> {out}")
    return out


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
