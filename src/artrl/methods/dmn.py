"""DMN ("DM-NonUniform"): timesteps minimising a model-free bound on the global solver error.

Source: Xue, Liu, Chen, Zhang, Hu, Xie, Li, "Accelerating Diffusion Sampling with Optimized
Time Steps", CVPR 2024, arXiv 2402.17376 (docs/references.md §4.4); reference code
scxue/DM-NonUniform@95d4ac6 ``step_optim.py`` (``StepOptim.sel_lambdas_lof_obj``, the objective,
and ``StepOptim.get_ts_lambdas``, its minimisation).

**The objective was derived for multistep exponential-integrator solvers** (UniPC /
DPM-Solver++ in data prediction, orders up to 3): it is the sum over steps of the solver's
coefficients times an assumed data-prediction error ∝ σ_t²/α_t (``data_err_power = 2``; the
code's comment says σ/α "will be better" for pixel models: ``data_err_power = 1``). It uses
neither the network nor data, only the noise schedule. Used here with the Euler/Heun/RK4 solvers
of :mod:`artrl.solvers`, a DMN schedule is a transplanted schedule, not what DMN optimises; the
``--solver`` option is recorded but does not change the result.

EDM/VE in DMN's VP terms: α = 1/sqrt(1 + σ²), σ_VP = σ/sqrt(1 + σ²), so the half log-SNR is
λ = log(α/σ_VP) = −log σ. The grid is N intervals λ_0 = −log σ_max < … < λ_N = −log σ_min
(σ_min > 0: λ must be finite). Conventions: ``code`` — N = K − 1 intervals to σ_min, then a last
step to 0 (EDM ``generate.py``); ``paper`` — N = K intervals, the last node σ_min replaced by 0
(like :func:`artrl.schedules.geometric` with ``convention="paper"``).

Minimisation: DMN uses scipy ``trust-constr`` on the interior λ's under ordering constraints.
Here the interior λ's are an unconstrained softmax of N increments (N − 1 free logits, the first
fixed at 0) minimised with scipy ``Powell`` (the objective has |·| kinks, so a derivative-free
method is used), from DMN's ``unif`` (log-SNR-uniform, its recommendation for pixel models) or
``edm`` (ρ = 7) initialisation.

Run ``python -m artrl.methods.dmn --help`` for the command line interface.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
from scipy.optimize import minimize

from artrl.device import set_threads
from artrl.io import run_cli
from artrl.methods.common import (
    base_parser,
    check_grid_args,
    read_settings,
    save_schedule,
    to_float_list,
)

__all__ = ["DEFAULTS", "dmn_schedule", "objective", "objective_lambda", "sigmas_from_logits"]

DEFAULTS: dict[str, Any] = {
    "sigma_min": 0.002,  # λ_eps = −log sigma_min (the grid's last positive sigma)
    "convention": "paper",
    "init": "unif",  # unif (log-SNR uniform) | edm (rho-warped)
    "rho": 7.0,  # for init = edm
    "data_err_power": 2.0,  # data error ∝ σ_VP^p / α (DMN code: 2; its comment suggests 1)
    "trunc_num": None,  # DMN's truncNum: None = 3 if N <= 7 else 0
    "method": "Powell",  # scipy.optimize.minimize method
    "maxiter": 20000,
    "xtol": 1e-8,
    "ftol": 1e-12,
}


def _H(h: float) -> tuple[float, float, float]:
    """DMN's φ-functions: H0 = e^h − 1, H1 = e^h h − H0, H2 = e^h h² − 2 H1."""
    H0 = math.expm1(h)
    H1 = math.exp(h) * h - H0
    H2 = math.exp(h) * h * h - 2 * H1
    return H0, H1, H2


def objective_lambda(
    lambdas: Any, data_err_power: float = 2.0, trunc_num: int | None = None
) -> float:
    """``StepOptim.sel_lambdas_lof_obj`` on a full λ-grid λ_0 < … < λ_N (λ = −log σ in EDM).

    A line-by-line port: the first and last steps are first-order terms |J_0 e_n|; steps 1 and
    N − 2 use the two second-order coefficients, the others the three third-order ones;
    coefficients of steps s >= ``trunc_num`` are summed per λ-node before the absolute value,
    earlier ones enter as a root sum of squares. ``trunc_num`` defaults to DMN's rule
    (3 for N <= 7, else 0). The data error is e_n = σ_VP,n^p / α_n.
    """
    lam = np.asarray(lambdas, dtype=np.float64)
    if lam.ndim != 1 or lam.shape[0] < 2:
        raise ValueError(f"dmn: need a 1-D λ-grid with >= 2 nodes, got shape {lam.shape}")
    N = len(lam) - 1
    if trunc_num is None:
        trunc_num = 3 if N <= 7 else 0
    hv = np.diff(lam)
    elv = np.exp(lam)
    alpha = 1.0 / np.sqrt(1.0 + np.exp(-2.0 * lam))
    sigma_vp = 1.0 / np.sqrt(1.0 + np.exp(2.0 * lam))
    err = sigma_vp**data_err_power / alpha
    res = 0.0
    c = np.zeros(N + 1)
    for s in range(N):
        if s in (0, N - 1):
            n = s
            res += abs((elv[n + 1] - elv[n]) * err[n])
        elif s in (1, N - 2):
            n = s - 1
            H0, H1, _ = _H(hv[n + 1])
            J0 = -elv[n + 1] * H1 / hv[n]
            J1 = elv[n + 1] * (H1 + hv[n] * H0) / hv[n]
            if s >= trunc_num:
                c[n] += err[n] * J0
                c[n + 1] += err[n + 1] * J1
            else:
                res += math.sqrt((err[n] * J0) ** 2 + (err[n + 1] * J1) ** 2)
        else:
            n = s - 2
            H0, H1, H2 = _H(hv[n + 2])
            a, b = hv[n], hv[n + 1]
            J0 = elv[n + 2] * (H2 + b * H1) / (a * (a + b))
            J1 = -elv[n + 2] * (H2 + (a + b) * H1) / (a * b)
            J2 = elv[n + 2] * (H2 + (2 * b + a) * H1 + b * (a + b) * H0) / (b * (a + b))
            if s >= trunc_num:
                c[n] += err[n] * J0
                c[n + 1] += err[n + 1] * J1
                c[n + 2] += err[n + 2] * J2
            else:
                res += math.sqrt(
                    (err[n] * J0) ** 2 + (err[n + 1] * J1) ** 2 + (err[n + 2] * J2) ** 2
                )
    return float(res + np.abs(c).sum())


def objective(sigmas: Any, data_err_power: float = 2.0, trunc_num: int | None = None) -> float:
    """DMN's error bound for a grid of positive σ's σ_max > … > σ_min > 0 (λ = −log σ).

    A full schedule ending at 0 is not accepted (λ = +∞ there); pass its positive part in the
    ``code`` convention, or the grid with σ_min in place of the final 0 in the ``paper`` one.
    """
    s = np.asarray(sigmas, dtype=np.float64)
    if s.ndim != 1 or s.shape[0] < 2:
        raise ValueError(f"dmn: need a 1-D σ-grid with >= 2 entries, got shape {s.shape}")
    if not (np.all(np.isfinite(s)) and np.all(s > 0)):
        raise ValueError(
            "dmn: the objective needs σ > 0 everywhere (λ = −log σ); drop the final 0 "
            "(code convention) or replace it by sigma_min (paper convention)"
        )
    if np.any(np.diff(s) >= 0):
        raise ValueError("dmn: σ-grid must be strictly decreasing")
    return objective_lambda(-np.log(s), data_err_power, trunc_num)


def sigmas_from_logits(w: Any, sigma_max: float, sigma_min: float) -> np.ndarray:
    """σ_max > … > σ_min from N − 1 logits: λ-increments ∝ softmax([0, w]) (N intervals)."""
    z = np.concatenate([[0.0], np.asarray(w, dtype=np.float64)])
    z = np.exp(z - z.max())
    frac = np.cumsum(z / z.sum())
    lo, hi = -math.log(sigma_max), -math.log(sigma_min)
    lam = np.concatenate([[lo], lo + frac[:-1] * (hi - lo), [hi]])
    s = np.exp(-lam)
    s[0], s[-1] = sigma_max, sigma_min
    return s


def _init_sigmas(N: int, sigma_max: float, sigma_min: float, init: str, rho: float):
    u = np.arange(N + 1) / N
    if init == "unif":
        return sigma_max * (sigma_min / sigma_max) ** u
    if init == "edm":
        a, b = sigma_max ** (1 / rho), sigma_min ** (1 / rho)
        return (a + u * (b - a)) ** rho
    raise ValueError(f"dmn: init must be 'unif' or 'edm', got {init!r}")


def dmn_schedule(
    K: int,
    sigma_max: float,
    sigma_min: float = 0.002,
    *,
    convention: str = "paper",
    init: str = "unif",
    rho: float = 7.0,
    data_err_power: float = 2.0,
    trunc_num: int | None = None,
    method: str = "Powell",
    maxiter: int = 20000,
    xtol: float = 1e-8,
    ftol: float = 1e-12,
) -> tuple[np.ndarray, dict[str, Any]]:
    """The DMN schedule [σ_max, …, 0] and diagnostics (initial and final objective, scipy's
    status). See the module docstring for the conventions."""
    from artrl.schedules import validate

    if not sigma_min > 0:
        raise ValueError(f"dmn: sigma_min must be > 0 (λ = −log σ_min), got {sigma_min!r}")
    n = check_grid_args(K, sigma_max, sigma_min, convention, "dmn")
    if n == 0:  # code convention, K = 1
        return np.array([sigma_max, 0.0]), {"objective_init": None, "objective": None}
    s0 = _init_sigmas(n, sigma_max, sigma_min, init, rho)
    s0[0], s0[-1] = sigma_max, sigma_min
    f0 = objective(s0, data_err_power, trunc_num)
    info: dict[str, Any] = {"N": n, "objective_init": f0}
    if n >= 2:
        lam0 = -np.log(s0)
        w0 = np.log(np.diff(lam0) / (lam0[1] - lam0[0]))[1:]

        def f(w: np.ndarray) -> float:
            return objective(sigmas_from_logits(w, sigma_max, sigma_min), data_err_power, trunc_num)

        opts: dict[str, Any] = {"maxiter": int(maxiter)}
        if method == "Powell":
            opts.update(xtol=xtol, ftol=ftol)
        res = minimize(f, w0, method=method, options=opts)
        w = res.x if res.fun <= f0 else w0
        s = sigmas_from_logits(w, sigma_max, sigma_min)
        info.update(
            objective=float(min(res.fun, f0)),
            scipy_success=bool(res.success),
            scipy_message=str(res.message),
            scipy_nfev=int(res.nfev),
        )
    else:  # one interval: nothing to choose
        s = s0
        info["objective"] = f0
    if convention == "code":
        sig = np.append(s, 0.0)
    else:
        sig = s.copy()
        sig[-1] = 0.0
    info["sigmas_dmn"] = to_float_list(s)
    return validate(sig, sigma_max=sigma_max, K=K, name="dmn"), info


# ----------------------------------------------------------------------------------------------
# Command line


def main(argv: list[str] | None = None):
    from artrl.io import load_dataset_config

    p = base_parser(
        "python -m artrl.methods.dmn",
        "DMN schedule (Xue et al. 2024): minimise DMN's model-free error bound for multistep "
        "solvers over the log-SNR grid (arXiv 2402.17376). Uses neither the model nor data. "
        f"Settings under the dataset entry's 'dmn' key (defaults: {DEFAULTS}).",
        "dmn",
    )
    a = p.parse_args(argv)
    set_threads(a.threads)
    dcfg = load_dataset_config(a.dataset_config)
    T = float(dcfg["sigma_max"])
    cfg = read_settings(dcfg.get("dmn"), DEFAULTS, "dmn", p)
    solver = a.solver or dcfg.get("solver", "heun")
    tn = cfg["trunc_num"]
    if tn is not None and (isinstance(tn, bool) or not isinstance(tn, int) or tn < 0):
        p.error(f"dmn.trunc_num must be null or an integer >= 0, got {tn!r}")
    t0 = time.perf_counter()
    try:
        sigmas, info = dmn_schedule(
            a.K,
            T,
            float(cfg["sigma_min"]),
            convention=cfg["convention"],
            init=cfg["init"],
            rho=float(cfg["rho"]),
            data_err_power=float(cfg["data_err_power"]),
            trunc_num=tn,
            method=cfg["method"],
            maxiter=int(cfg["maxiter"]),
            xtol=float(cfg["xtol"]),
            ftol=float(cfg["ftol"]),
        )
    except ValueError as e:
        p.error(str(e))
    wall = time.perf_counter() - t0
    extra = {
        "solver": solver,
        "solver_note": "DMN's objective is for multistep solvers; the solver does not enter it",
        "settings": cfg,
        **info,
        "denoiser_calls": 0,
        "denoiser_evals": 0,
    }
    out = save_schedule(sigmas, "dmn", a, extra)
    print(
        f"DMN K={a.K}: objective {info.get('objective_init')} -> {info.get('objective')}, "
        f"0 denoiser calls, {wall:.2f} s -> {out}"
    )
    return out


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
