"""GITS: a K-step schedule picked from a fine teacher grid by dynamic programming.

Source: Chen, Zhou, Wang, Shen, Lyu, "On the Trajectory Regularity of ODE-based Diffusion
Sampling" (GITS: Geometry-Inspired Time Scheduling), ICML 2024, arXiv 2405.11326; reference
code zju-pi/diff-sampler@68d5ce4 ``gits-main/gits_utils.py`` (``get_dp_list``: teacher
trajectories and cost matrix; ``dp``). Published settings and numbers: docs/references.md §4.2.

Recipe (as in ``get_dp_list``):

1. Draw N prior samples x_T (GITS: ``num_warmup`` = 256) and integrate them with the teacher
   solver on a fine grid σ^f_0 = σ_max > … > σ^f_M (GITS: iPNDM on 61 EDM ρ = 7 points; here
   Heun on ~100 by default), keeping the teacher state X_j at every fine node.
2. Cost C[i, j] (i < j): the error of ONE student step from the teacher state X_i at σ^f_i to
   σ^f_j against the teacher state X_j. GITS always takes an Euler step with the teacher's
   stored slope and measures L1/L2/"dev" deviation; here the step is one step of the student
   solver (Euler, Heun or RK4 of :mod:`artrl.solvers`, Euler into σ = 0) and the default metric
   is the mean squared distance per coordinate (``metric: sq``; ``l2`` is GITS's mean L2 norm).
3. Dynamic programming (``dp``): the path 0 = i_0 < i_1 < … < i_n = M minimising
   Σ_k coeff^(k−1) C[i_{k−1}, i_k] (the cost-to-go V is multiplied by ``coeff`` at each step
   towards the start; GITS uses coeff = 1.15, the default here is 1: the plain min-cost path).

Grid conventions: ``paper`` — the fine grid runs to σ = 0 and the path takes all K steps on it;
``code`` — the path takes K − 1 steps on the fine grid's positive nodes, ending at σ_min, and
the schedule appends a last step to 0 (EDM ``generate.py``).

Run ``python -m artrl.methods.gits --help`` for the command line interface.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from artrl.device import numerics_record, read_numerics, set_threads
from artrl.io import read_npz, run_cli
from artrl.methods.common import (
    EvalCounter,
    base_parser,
    check_grid_args,
    draw_start,
    read_settings,
    save_schedule,
    solver_step,
    to_float_list,
)

__all__ = [
    "DEFAULTS",
    "cost_matrix",
    "dp_path",
    "fine_grid",
    "gits_costs",
    "gits_schedule",
    "path_cost",
    "schedule_from_costs",
    "teacher_trajectory",
]

METRICS = ("sq", "l2")

DEFAULTS: dict[str, Any] = {
    "trajectories": 256,  # N teacher trajectories (GITS num_warmup)
    "teacher_solver": "heun",
    "fine_steps": 100,  # intervals of the fine grid (GITS: 60)
    "fine_grid": "edm",  # edm (rho-warped) | uniform (in sigma); ignored if fine_sigmas is set
    "rho": 7.0,
    "sigma_min": 0.0,  # end of the fine grid's formula (paper) or its last positive sigma (code)
    "convention": "paper",
    "fine_sigmas": None,  # explicit fine grid [sigma_max, ..., 0]
    "metric": "sq",
    "coeff": 1.0,  # GITS uses 1.15
    "batch": 8192,  # most rows per denoiser call when building the cost matrix
}


def fine_grid(
    T: float,
    steps: int,
    kind: str = "edm",
    sigma_min: float = 0.0,
    rho: float = 7.0,
    convention: str = "paper",
) -> np.ndarray:
    """The fine teacher grid [T, …, 0] (``steps`` intervals; ``code``: ``steps`` positive nodes
    ending at σ_min, then 0, as :func:`artrl.schedules.edm`)."""
    from artrl.schedules import edm, validate

    if kind == "edm":
        return edm(steps, T, sigma_min, rho=rho, convention=convention)
    if kind == "uniform":
        if convention == "code":
            s = np.append(np.linspace(T, sigma_min, steps), 0.0)
        else:
            s = np.linspace(T, sigma_min, steps + 1)
            s[-1] = 0.0
        s[0] = T
        return validate(s, sigma_max=T, K=steps, name="gits fine grid")
    raise ValueError(f"gits: fine_grid must be 'edm' or 'uniform', got {kind!r}")


@torch.no_grad()
def teacher_trajectory(
    D: Callable,
    nodes: Any,
    x: Tensor,
    solver: str = "heun",
    labels: Tensor | None = None,
    progress: bool = False,
) -> Tensor:
    """Teacher states at every node: a tensor [len(nodes), *x.shape], row 0 being ``x``.

    Each interval is one step of ``solver`` (identical to :func:`artrl.solvers.sample` on the
    same grid; Euler into σ = 0).
    """
    s = torch.as_tensor(np.asarray(nodes, dtype=np.float64), device=x.device)
    out = [x.to(torch.float64)]
    for i in tqdm(range(len(s) - 1), desc="gits teacher", disable=not progress, leave=False):
        out.append(solver_step(D, out[-1], s[i], s[i + 1], solver, labels))
    return torch.stack(out)


def _distance(a: Tensor, b: Tensor, metric: str) -> Tensor:
    """Per-sample distance over all non-batch dimensions."""
    diff = (a - b).reshape(a.shape[0], -1)
    if metric == "sq":
        return (diff**2).mean(dim=1)
    if metric == "l2":
        return diff.norm(dim=1)
    raise ValueError(f"gits: metric must be one of {METRICS}, got {metric!r}")


@torch.no_grad()
def cost_matrix(
    D: Callable,
    nodes: Any,
    traj: Tensor,
    solver: str = "euler",
    labels: Tensor | None = None,
    metric: str = "sq",
    batch: int = 8192,
    progress: bool = False,
) -> np.ndarray:
    """C[i, j] = mean over trajectories of dist(one ``solver`` step X_i: σ_i → σ_j, X_j).

    ``traj`` is the teacher's [M + 1, N, ...] tensor of :func:`teacher_trajectory` on the same
    ``nodes``. Entries with j <= i are +inf. The slope at (X_i, σ_i) is computed once per row;
    the targets σ_j of a row are batched (at most ``batch`` rows per denoiser call).
    """
    s_np = np.asarray(nodes, dtype=np.float64)
    M = len(s_np) - 1
    if traj.shape[0] != M + 1:
        raise ValueError(f"gits: traj has {traj.shape[0]} states for {M + 1} nodes")
    if metric not in METRICS:
        raise ValueError(f"gits: metric must be one of {METRICS}, got {metric!r}")
    s = torch.as_tensor(s_np, device=traj.device)
    N = traj.shape[1]
    C = np.full((M + 1, M + 1), np.inf)
    per_call = max(1, int(batch) // N)
    for i in tqdm(range(M), desc="gits cost matrix", disable=not progress, leave=False):
        x = traj[i]
        d = (x - D(x, s[i], labels)) / s[i]
        js = list(range(i + 1, M + 1))
        if s_np[M] == 0.0:  # the step into σ = 0 is Euler, whatever the solver
            x0 = solver_step(D, x, s[i], s[M], solver, labels, d=d)
            C[i, M] = float(_distance(x0, traj[M], metric).mean())
            js = js[:-1]
        for c in range(0, len(js), per_call):
            chunk = js[c : c + per_call]
            m = len(chunk)
            xr = x.repeat(m, *([1] * (x.ndim - 1)))
            dr = d.repeat(m, *([1] * (x.ndim - 1)))
            lr = None if labels is None else labels.repeat(m, *([1] * (labels.ndim - 1)))
            s_next = s[chunk].repeat_interleave(N)
            y = solver_step(D, xr, s[i], s_next, solver, lr, d=dr)
            target = traj[chunk].reshape(m * N, *x.shape[1:])
            dist = _distance(y, target, metric).reshape(m, N).mean(dim=1)
            C[i, chunk] = dist.cpu().numpy()
    return C


def dp_path(cost: Any, K: int, coeff: float = 1.0) -> np.ndarray:
    """Minimum-cost K-step path 0 = i_0 < … < i_K = M through an (M+1)×(M+1) cost matrix.

    Minimises Σ_{k=1..K} coeff^(k−1) C[i_{k−1}, i_k] (GITS ``dp``: V[j][k] = min_i C[j][i] +
    coeff·V[i][k−1]); only entries with j > i are used. Ties go to the smallest index, as in
    GITS's backtracking. Returns the K + 1 node indices.
    """
    C = np.asarray(cost, dtype=np.float64)
    if C.ndim != 2 or C.shape[0] != C.shape[1] or C.shape[0] < 2:
        raise ValueError(f"dp_path: cost must be a square matrix of side >= 2, got {C.shape}")
    M = C.shape[0] - 1
    if isinstance(K, bool) or not isinstance(K, int | np.integer) or not 1 <= K <= M:
        raise ValueError(f"dp_path: need 1 <= K <= {M} (the fine grid's intervals), got {K!r}")
    if not coeff > 0:
        raise ValueError(f"dp_path: coeff must be > 0, got {coeff!r}")
    upper = np.triu(np.ones((M + 1, M + 1), dtype=bool), k=1)
    if np.isnan(C[upper]).any():
        raise ValueError("dp_path: cost matrix has NaN entries above the diagonal")
    A = np.where(upper, C, np.inf)
    V = A[:, M].copy()  # V_1[i]: cost from i to M in one step
    choice = []
    for _ in range(2, K + 1):
        tot = A[:, :M] + coeff * V[None, :M]  # next node j < M
        j = np.argmin(tot, axis=1)
        choice.append(j)
        V = tot[np.arange(M + 1), j]
    path, i = [0], 0
    for j in reversed(choice):
        i = int(j[i])
        path.append(i)
    path.append(M)
    if not np.isfinite(path_cost(A, path, coeff)):
        raise ValueError("dp_path: no finite-cost path (inf costs above the diagonal)")
    return np.array(path, dtype=np.int64)


def path_cost(cost: Any, path: Any, coeff: float = 1.0) -> float:
    """Σ_k coeff^(k−1) C[i_{k−1}, i_k] of a path (the objective :func:`dp_path` minimises)."""
    C = np.asarray(cost, dtype=np.float64)
    p = [int(i) for i in path]
    return float(sum(coeff**k * C[p[k], p[k + 1]] for k in range(len(p) - 1)))


def gits_costs(
    D: Callable,
    x: Tensor,
    *,
    fine_sigmas: Any,
    solver: str = "euler",
    teacher_solver: str = "heun",
    labels: Tensor | None = None,
    convention: str = "paper",
    metric: str = "sq",
    batch: int = 8192,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """The DP nodes and their cost matrix: K-independent, so one serves every K.

    ``fine_sigmas`` is a full schedule [σ_max, …, 0]; the nodes are all of it (``paper``) or its
    positive part, ending at its last positive σ (``code``).
    """
    from artrl.schedules import validate

    fine = validate(fine_sigmas, name="gits fine_sigmas")
    if convention not in ("paper", "code"):
        raise ValueError(f"gits: convention must be 'paper' or 'code', got {convention!r}")
    if convention == "code" and len(fine) < 3:
        raise ValueError("gits: the code convention needs a fine grid with >= 2 positive sigmas")
    nodes = fine[:-1] if convention == "code" else fine
    traj = teacher_trajectory(D, nodes, x, teacher_solver, labels, progress=progress)
    C = cost_matrix(D, nodes, traj, solver, labels, metric=metric, batch=batch, progress=progress)
    return nodes, C


def schedule_from_costs(
    nodes: Any, cost: Any, K: int, *, convention: str = "paper", coeff: float = 1.0
) -> tuple[np.ndarray, dict[str, Any]]:
    """The K-step GITS schedule from :func:`gits_costs`' output, and diagnostics.

    ``paper``: K DP steps from the first node to the last (σ = 0); ``code``: K − 1 DP steps to
    the last node (σ_min), then 0 is appended.
    """
    from artrl.schedules import validate

    nodes = np.asarray(nodes, dtype=np.float64)
    T = float(nodes[0])
    sigma_min = float(nodes[-1]) if convention == "code" else 0.0
    n = check_grid_args(K, T, sigma_min, convention, "gits")
    if n > len(nodes) - 1:
        raise ValueError(
            f"gits: {n} steps need a fine grid with at least {n} intervals "
            f"({convention} convention), got {len(nodes) - 1}"
        )
    if n == 0:  # code convention, K = 1: [σ_max, 0]
        return np.array([T, 0.0]), {"path": [0], "path_cost": 0.0, "step_costs": []}
    C = np.asarray(cost, dtype=np.float64)
    path = dp_path(C, n, coeff)
    sig = nodes[path]
    if convention == "code":
        sig = np.append(sig, 0.0)
    info = {
        "path": [int(i) for i in path],
        "path_cost": path_cost(C, path, coeff),
        "step_costs": [float(C[path[k], path[k + 1]]) for k in range(n)],
    }
    return validate(sig, sigma_max=T, K=K, name="gits"), info


def gits_schedule(
    D: Callable,
    K: int,
    x: Tensor,
    *,
    fine_sigmas: Any,
    solver: str = "euler",
    teacher_solver: str = "heun",
    labels: Tensor | None = None,
    convention: str = "paper",
    metric: str = "sq",
    coeff: float = 1.0,
    batch: int = 8192,
    progress: bool = False,
) -> tuple[np.ndarray, dict[str, Any]]:
    """The GITS schedule [σ_max, …, 0] for ``solver`` from teacher trajectories started at ``x``
    (:func:`gits_costs` then :func:`schedule_from_costs`).

    ``fine_sigmas`` is a full schedule [σ_max, …, 0]. ``paper``: K DP steps on all of it;
    ``code``: K − 1 DP steps on its positive nodes (ending at its last positive σ), then 0.
    Returns the σ-grid and diagnostics (path indices, path cost, per-step costs).
    """
    fine = np.asarray(fine_sigmas, dtype=np.float64)
    sigma_min = float(fine[-2]) if convention == "code" and len(fine) >= 2 else 0.0
    n = check_grid_args(K, float(fine[0]), sigma_min, convention, "gits")
    n_nodes = len(fine) - (1 if convention == "code" else 0)
    if n > n_nodes - 1:
        raise ValueError(
            f"gits: {n} steps need a fine grid with at least {n} intervals "
            f"({convention} convention), got {n_nodes - 1}"
        )
    if n == 0:
        return schedule_from_costs(fine[:-1], None, K, convention=convention, coeff=coeff)
    nodes, C = gits_costs(
        D,
        x,
        fine_sigmas=fine,
        solver=solver,
        teacher_solver=teacher_solver,
        labels=labels,
        convention=convention,
        metric=metric,
        batch=batch,
        progress=progress,
    )
    return schedule_from_costs(nodes, C, K, convention=convention, coeff=coeff)


# ----------------------------------------------------------------------------------------------
# Command line

# settings the cost matrix depends on (coeff only enters the DP)
_COST_KEYS = ("trajectories", "teacher_solver", "metric", "convention")


def main(argv: list[str] | None = None):
    from artrl.io import load_dataset_config, write_npz
    from artrl.models import build
    from artrl.schedules import ScheduleError, validate

    p = base_parser(
        "python -m artrl.methods.gits",
        "GITS schedule (Chen et al. 2024): dynamic programming over a fine teacher grid with the "
        "cost of one student-solver step between teacher states (arXiv 2405.11326). The teacher "
        "trajectories and cost matrix are K-independent: --save-costs writes them once, --costs "
        "reuses them. Settings under the dataset entry's 'gits' key (defaults: "
        f"{DEFAULTS}).",
        "gits",
    )
    for act in p._actions:  # --K and --out become optional (--save-costs alone builds costs)
        if act.dest in ("K", "out"):
            act.required = False
            act.help += " (omit both with --save-costs only)"
    p.add_argument("--costs", default=None, help="read the cost-matrix npz instead of sampling")
    p.add_argument("--save-costs", default=None, help="write the cost-matrix npz here")
    a = p.parse_args(argv)
    set_threads(a.threads)
    if (a.K is None) != (a.out is None):
        p.error("--K and --out go together")
    if a.K is None and a.save_costs is None:
        p.error("give --K and --out, or --save-costs")
    dcfg = load_dataset_config(a.dataset_config)
    T = float(dcfg["sigma_max"])
    cfg = read_settings(dcfg.get("gits"), DEFAULTS, "gits", p)
    solver = a.solver or dcfg.get("solver", "heun")
    meta = {"T": T, "seed": a.seed, "solver": solver, **{k: cfg[k] for k in _COST_KEYS}}
    t0 = time.perf_counter()
    try:
        if cfg["fine_sigmas"] is not None:
            fine = validate(cfg["fine_sigmas"], sigma_max=T, name="gits.fine_sigmas")
        else:
            fine = fine_grid(
                T,
                int(cfg["fine_steps"]),
                cfg["fine_grid"],
                float(cfg["sigma_min"]),
                float(cfg["rho"]),
                cfg["convention"],
            )
        if a.K is not None:  # fail before the expensive part
            n_nodes = len(fine) - (1 if cfg["convention"] == "code" else 0)
            schedule_from_costs(
                fine[:n_nodes], np.zeros((n_nodes, n_nodes)), a.K, convention=cfg["convention"]
            )
        if a.costs:
            keys = (*meta, "fine_sigmas", "nodes", "cost", "denoiser_calls", "denoiser_evals")
            *arrays, num = read_npz(a.costs, keys, "GITS cost matrix (--save-costs)", ("numerics",))
            z = dict(zip(keys, arrays, strict=True))
            got = {k: z[k].item() for k in meta}
            if got != meta or not np.array_equal(z["fine_sigmas"], fine):
                p.error(f"{a.costs} was made with {got}, not {meta}; rebuild it")
            nodes, C = z["nodes"], z["cost"]
            calls, evals = int(z["denoiser_calls"]), int(z["denoiser_evals"])
            # the numerics that computed the costs (None: a file from before they were
            # recorded): the schedule is the same file whether the costs are reused or not
            numerics = read_numerics(num, a.costs)
        else:
            bundle = build(dcfg["model"], T, a.device)
            D = EvalCounter(bundle.D)
            x, labels = draw_start(bundle, int(cfg["trajectories"]), a.seed, a.device)
            nodes, C = gits_costs(
                D,
                x,
                fine_sigmas=fine,
                solver=solver,
                teacher_solver=cfg["teacher_solver"],
                labels=labels,
                convention=cfg["convention"],
                metric=cfg["metric"],
                batch=int(cfg["batch"]),
                progress=not a.no_progress,
            )
            calls, evals = D.calls, D.evals
            numerics = numerics_record()
        if a.save_costs:
            write_npz(
                a.save_costs,
                nodes=nodes,
                cost=C,
                fine_sigmas=fine,
                denoiser_calls=calls,
                denoiser_evals=evals,
                **meta,
                **({} if numerics is None else {"numerics": json.dumps(numerics)}),
            )
            print(
                f"GITS cost matrix ({len(nodes)} nodes, {calls} denoiser calls) -> {a.save_costs}"
            )
        if a.K is None:
            return a.save_costs
        sigmas, info = schedule_from_costs(
            nodes, C, a.K, convention=cfg["convention"], coeff=float(cfg["coeff"])
        )
    except (ValueError, ScheduleError) as e:
        p.error(str(e))
    wall = time.perf_counter() - t0
    extra = {
        "solver": solver,
        "settings": cfg,
        "fine_sigmas": to_float_list(fine),
        **info,
        "denoiser_calls": calls,
        "denoiser_evals": evals,
        "denoiser_count_note": "teacher trajectories + cost matrix, shared by every K",
        "numerics": numerics,  # of the cost matrix (artrl.device.numerics_record)
    }
    out = save_schedule(sigmas, "gits", a, extra)
    print(
        f"GITS K={a.K} solver={solver}: path {info['path']}, cost {info['path_cost']:.4g}, "
        f"{calls} denoiser calls ({evals} sample evaluations), {wall:.1f} s -> {out}"
    )
    return out


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
