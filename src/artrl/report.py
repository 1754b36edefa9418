"""Tables and figures for the 1-D Gaussian benchmark (arXiv 2601.18681 §5.1, Table 1, Fig. 1).

Three subcommands, each called by one Snakemake rule:

* ``w2-table``: one row per schedule name, one column per K, from the per-(schedule, K) metrics
  JSONs of :mod:`artrl.metrics.w2`; a CSV (full precision, exact and Monte-Carlo W2, ART cost
  at the largest K, provenance on every row) and a Markdown file (3 decimals, with the paper's
  published rows beside ours).
* ``w2-figure``: W2 against K on log-log axes, one line per schedule.
* ``theta-figure``: the learned clock speed θ(t) of an ART-RL schedule (mean and IQR band of
  the executed controls), the analytic optimum's θ_k = (ψ_{k+1} − ψ_k)/Δt, and the points read
  off the paper's Fig. 1.

A metrics file's schedule *name* is given as ``NAME=PATH``; a bare ``PATH`` takes the name of
its parent folder (``results/metrics/{dataset}/{name}/K{K}.json``). Every output is written
atomically. Run ``python -m artrl.report --help`` for the command line interface.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import artrl
from artrl.cells import check_cell
from artrl.costs import fmt_evals, fmt_seconds, load_row_costs
from artrl.io import InputError, atomic_write, read_json, run_cli, write_text
from artrl.schedules import Schedule, ScheduleError

# ----------------------------------------------------------------------------------------------
# Published numbers (arXiv 2601.18681 §5.1, Table 1, and Table 1 of its extended version, arXiv
# 2607.02137, docs/references.md §1.2; W2, Euler, T = 3, N(0, 1))

PAPER_K: tuple[int, ...] = (2, 5, 10, 20, 50, 100)

#: schedule name (as in config.yaml) -> (paper's row label, W2 at PAPER_K)
PAPER_W2: dict[str, tuple[str, tuple[float, ...]]] = {
    "uniform": ("Uniform", (0.468, 0.215, 0.114, 0.060, 0.027, 0.016)),
    "edm_t": ("EDM-T (ρ=3)", (0.414, 0.195, 0.105, 0.056, 0.025, 0.015)),
    "edm": ("EDM (ρ=7)", (0.664, 0.319, 0.177, 0.094, 0.041, 0.023)),
    "dpm": ("DPM", (0.670, 0.401, 0.211, 0.113, 0.049, 0.027)),
    "art_rl": ("ART-RL", (0.345, 0.149, 0.079, 0.042, 0.020, 0.013)),
}

PAPER_TABLES = {"gauss1d": PAPER_W2}

#: θ(t) read off the paper's Fig. 1 (ART-RL, K = 100; arXiv 2601.18681 §5.1)
PAPER_THETA: tuple[tuple[float, float], ...] = (
    (0.0, 3.2),
    (0.42, 2.0),
    (0.85, 1.0),
    (1.5, 0.6),
    (2.0, 0.48),
    (3.0, 0.38),
)

DPI = 150


class ReportError(InputError):
    """A malformed input file or argument; the message names it."""


# ----------------------------------------------------------------------------------------------
# Provenance


#: the provenance columns of every table row (CSV), in this order
PROVENANCE_COLUMNS = ("config_digest", "seed", "code_version")


def _git(args: Sequence[str], where: Path) -> str | None:
    try:
        r = subprocess.run(["git", *args], cwd=where, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    out = r.stdout.strip()
    return out if r.returncode == 0 and out else None


def git_describe(where: str | os.PathLike | None = None) -> str | None:
    """``git describe --always --dirty`` of the checkout this package is in (or ``where``);
    None when there is no git, or the package is not a tracked file of a checkout (e.g. it was
    installed into a virtual environment that happens to lie inside some repository)."""
    pkg = Path(where) if where is not None else Path(__file__).resolve().parent
    if where is None and _git(["ls-files", "--error-unmatch", "__init__.py"], pkg) is None:
        return None
    return _git(["describe", "--always", "--dirty"], pkg)


def code_version(where: str | os.PathLike | None = None) -> str:
    """The package version plus the git description of its checkout, e.g. ``0.1.0+e85bdbd-dirty``
    (``0.1.0+unknown`` outside a git checkout)."""
    return f"{artrl.__version__}+{git_describe(where) or 'unknown'}"


def provenance(config_digest: str | None, seed: int | str | None) -> dict[str, Any]:
    """The provenance columns of a table: config digest, seed and code version."""
    return {
        "config_digest": config_digest if config_digest else "unknown",
        "seed": seed if seed is not None else "unknown",
        "code_version": code_version(),
    }


def provenance_footer(prov: dict[str, Any] | None) -> list[str]:
    """Markdown lines that close a table file: what produced it (every CSV row carries it)."""
    if not prov:
        return []
    parts = [f"{k.replace('_', ' ')} `{v}`" for k, v in prov.items()]
    return ["", "---", "", "Provenance: " + "; ".join(parts) + "."]


# ----------------------------------------------------------------------------------------------
# Reading metrics


@dataclass(frozen=True)
class MetricRecord:
    name: str
    K: int
    w2_exact: float
    w2_mc: float | None
    art_cost: float | None
    method: str | None
    dataset: str | None
    solver: str | None
    schedule_config_digest: str | None
    path: str
    art_cost_refined: float | None = None  # |Q| integrated along the path (artrl.art.cost)
    schedule_sha256: str | None = None  # of the schedule file the metrics were computed on


def _split_entry(entry: str) -> tuple[str, Path]:
    if "=" in entry:
        name, path = entry.split("=", 1)
        if not name:
            raise ReportError(f"{entry!r}: empty schedule name before '='")
        return name, Path(path)
    path = Path(entry)
    return path.parent.name, path


def _opt_float(d: dict, key: str, path: str) -> float | None:
    v = d.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ReportError(f"{path}: {key!r} must be a number or null, got {v!r}")
    return float(v)


def load_metrics(entries: Sequence[str]) -> list[MetricRecord]:
    """Read ``NAME=PATH`` / ``PATH`` metrics JSONs; duplicates of (name, K) are an error."""
    out: list[MetricRecord] = []
    seen: dict[tuple[str, int], str] = {}
    for entry in entries:
        name, path = _split_entry(entry)
        p = str(path)
        try:
            d = read_json(path)
        except (FileNotFoundError, ValueError) as e:
            raise ReportError(str(e)) from None
        if not isinstance(d, dict):
            raise ReportError(f"{p}: expected a JSON object")
        for key in ("K", "w2_exact"):
            if key not in d:
                raise ReportError(f"{p}: missing key {key!r}")
        K = d["K"]
        if isinstance(K, bool) or not isinstance(K, int) or K < 1:
            raise ReportError(f"{p}: 'K' must be an integer >= 1, got {K!r}")
        try:
            check_cell(p, d, {})  # its K is the K its file name says
        except InputError as e:
            raise ReportError(str(e)) from None
        w2 = _opt_float(d, "w2_exact", p)
        if w2 is None:
            raise ReportError(f"{p}: 'w2_exact' is null")
        if (name, K) in seen:
            raise ReportError(f"{p}: schedule {name!r} at K={K} already read from {seen[name, K]}")
        seen[name, K] = p
        out.append(
            MetricRecord(
                name=name,
                K=K,
                w2_exact=w2,
                w2_mc=_opt_float(d, "w2_mc", p),
                art_cost=_opt_float(d, "art_cost", p),
                art_cost_refined=_opt_float(d, "art_cost_refined", p),
                method=d.get("method"),
                dataset=d.get("dataset"),
                solver=d.get("solver"),
                schedule_config_digest=d.get("schedule_config_digest"),
                schedule_sha256=d.get("schedule_sha256"),
                path=p,
            )
        )
    if not out:
        raise ReportError("no metrics files given")
    return out


def _order(records: Sequence[MetricRecord], labels: dict[str, str]) -> list[str]:
    """Names in ``labels`` order (config order), then any others in first-seen order."""
    names = [n for n in labels if any(r.name == n for r in records)]
    for r in records:
        if r.name not in names:
            names.append(r.name)
    return names


# ----------------------------------------------------------------------------------------------
# Table


def w2_table(
    records: Sequence[MetricRecord],
    labels: dict[str, str] | None = None,
    prov: dict[str, Any] | None = None,
    costs: dict[str, dict[str, float]] | None = None,
) -> pd.DataFrame:
    """Wide table: one row per schedule name, columns ``w2_K{k}``, ``w2_mc_K{k}``,
    ``art_cost_K{Kmax}``, then dataset/solver/method/digests, the cost of making one schedule
    (``costs``: ``cost_wall_s``, ``cost_denoiser_evals`` per name, :func:`artrl.costs.row_costs`)
    and the provenance columns (:data:`PROVENANCE_COLUMNS`: ``prov``'s values, "unknown" where
    not given)."""
    labels = dict(labels or {})
    Ks = sorted({r.K for r in records})
    Kmax = Ks[-1]
    by = {(r.name, r.K): r for r in records}
    rows = []
    for name in _order(records, labels):
        mine = [r for r in records if r.name == name]
        row: dict[str, Any] = {"name": name, "label": labels.get(name, name)}
        for k in Ks:
            r = by.get((name, k))
            row[f"w2_K{k}"] = r.w2_exact if r else math.nan
        for k in Ks:
            r = by.get((name, k))
            row[f"w2_mc_K{k}"] = r.w2_mc if r and r.w2_mc is not None else math.nan
        top = by.get((name, Kmax))
        row[f"art_cost_K{Kmax}"] = top.art_cost if top and top.art_cost is not None else math.nan
        if any(r.art_cost_refined is not None for r in records):
            refined = top.art_cost_refined if top else None
            row[f"art_cost_refined_K{Kmax}"] = math.nan if refined is None else refined
        first = mine[0]
        row["method"] = first.method
        row["dataset"] = first.dataset
        row["solver"] = first.solver
        digests = sorted({r.schedule_config_digest or "" for r in mine} - {""})
        row["schedule_config_digest"] = ";".join(digests)
        # the schedule files the numbers came from, in K order (12 hex digits each)
        shas = [by[name, k].schedule_sha256 for k in Ks if (name, k) in by]
        row["schedule_sha256"] = ";".join(s[:12] for s in shas if s)
        if costs is not None:
            row.update(costs.get(name, {"cost_wall_s": math.nan, "cost_denoiser_evals": math.nan}))
        row.update(dict.fromkeys(PROVENANCE_COLUMNS, "unknown"))
        row.update(prov or {})
        rows.append(row)
    return pd.DataFrame(rows)


def _ks(df: pd.DataFrame, prefix: str) -> list[int]:
    out = []
    for c in df.columns:
        rest = c[len(prefix) :] if c.startswith(prefix) else ""
        if rest.isdigit():
            out.append(int(rest))
    return sorted(out)


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    return f"{float(v):.{digits}f}"


def _fmt_w2(v: Any) -> str:
    """A W2 cell: 3 decimals (the paper's), or 2 significant digits below 0.001 (a Heun
    sampler's W2 at large K), never a misleading 0.000."""
    if v is not None and isinstance(v, float) and math.isfinite(v) and 0 < abs(v) < 5e-4:
        return f"{v:.1e}"
    return _fmt(v)


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def w2_markdown(
    df: pd.DataFrame,
    paper: dict[str, tuple[str, tuple[float, ...]]] | None = None,
    *,
    title: str = "W2 to the data distribution against K",
    prov: dict[str, Any] | None = None,
) -> str:
    """Markdown: exact W2 (3 decimals) with the paper's rows beside ours, then Monte-Carlo W2."""
    Ks = _ks(df, "w2_K")
    cost_cols = [c for c in df.columns if c.startswith("art_cost_K")]
    cost_col = cost_cols[0] if cost_cols else None
    ref_cols = [c for c in df.columns if c.startswith("art_cost_refined_K")]
    ref_col = ref_cols[0] if ref_cols else None
    paper = paper or {}
    head = ["Schedule", "Source", *(f"K={k}" for k in Ks)]
    if cost_col:
        head.append(f"ART cost (K={cost_col.removeprefix('art_cost_K')})")
    if ref_col:
        head.append(f"refined ART cost (K={ref_col.removeprefix('art_cost_refined_K')})")
    make_cost = "cost_wall_s" in df.columns
    if make_cost:
        head += ["Cost to make (wall)", "Denoiser evals"]
    lines = [f"# {title}", ""]
    meta = []
    if len(df):
        for key in ("dataset", "solver"):
            vals = sorted({str(v) for v in df[key] if v is not None and v == v})
            if vals:
                meta.append(f"{key} {', '.join(vals)}")
    if meta:
        lines += ["Exact W2 (" + "; ".join(meta) + ").", ""]
    if paper:
        lines += [
            "Rows marked *paper* are the published values (arXiv 2601.18681 v1 Table 1 and the "
            "extended version's Table 1, Monte-Carlo W2).",
            "",
        ]
    lines += [_md_row(head), _md_row(["---"] * 2 + ["---:"] * (len(head) - 2))]

    def paper_row(name: str) -> list[str]:
        plabel, vals = paper[name]
        pv = dict(zip(PAPER_K, vals, strict=True))
        cells = [plabel, "paper", *(_fmt(pv.get(k)) for k in Ks)]
        dashes = ["—"] * (bool(cost_col) + bool(ref_col) + 2 * make_cost)
        return cells + dashes

    shown = set()
    for _, row in df.iterrows():
        cells = [str(row["label"]), "ours", *(_fmt_w2(row[f"w2_K{k}"]) for k in Ks)]
        if cost_col:
            cells.append(_fmt(row[cost_col], 4))
        if ref_col:
            cells.append(_fmt(row[ref_col], 4))
        if make_cost:
            cells += [fmt_seconds(row["cost_wall_s"]), fmt_evals(row["cost_denoiser_evals"])]
        lines.append(_md_row(cells))
        if row["name"] in paper:
            lines.append(_md_row(paper_row(row["name"])))
            shown.add(row["name"])
    for name in paper:
        if name not in shown:
            lines.append(_md_row(paper_row(name)))

    if make_cost:
        lines += [
            "",
            "Cost to make: wall time of the workflow jobs that made one schedule (Snakemake "
            "benchmarks; shared upstream jobs such as a q-profile, a GITS cost matrix or the "
            "K=100 ART-RL run counted in full) and their denoiser evaluations per sample (a JVP "
            "counts as one), mean over K, on the machine that ran the workflow.",
        ]

    mc_Ks = _ks(df, "w2_mc_K")
    if mc_Ks and df[[f"w2_mc_K{k}" for k in mc_Ks]].notna().to_numpy().any():
        lines += ["", "Monte-Carlo W2 (samples pushed through the solver):", ""]
        head = ["Schedule", *(f"K={k}" for k in mc_Ks)]
        lines += [_md_row(head), _md_row(["---"] + ["---:"] * len(mc_Ks))]
        for _, row in df.iterrows():
            cells = [_fmt_w2(row[f"w2_mc_K{k}"]) for k in mc_Ks]
            lines.append(_md_row([str(row["label"]), *cells]))
    lines += provenance_footer(prov)
    return "\n".join(lines) + "\n"


def write_w2_table(
    records: Sequence[MetricRecord],
    labels: dict[str, str] | None,
    *,
    out_csv: str | os.PathLike,
    out_md: str | os.PathLike,
    prov: dict[str, Any] | None = None,
    paper: dict[str, tuple[str, tuple[float, ...]]] | None = None,
    costs: dict[str, dict[str, float]] | None = None,
) -> pd.DataFrame:
    df = w2_table(records, labels, prov, costs)
    write_text(out_csv, df.to_csv(index=False))
    write_text(out_md, w2_markdown(df, paper, prov=prov))
    return df


# ----------------------------------------------------------------------------------------------
# Figures


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


MARKERS = "osD^v<>ph*"


def line_style(i: int, n: int) -> dict[str, Any]:
    """Colour, marker and dash of the i-th of n lines: matplotlib's 10 default colours up to 10
    lines, else tab20 with alternating dashes, so that up to 20 methods stay distinguishable."""
    import matplotlib

    marker = MARKERS[i % len(MARKERS)]
    if n <= 10:
        return {"color": f"C{i}", "marker": marker, "linestyle": "-"}
    color = matplotlib.colormaps["tab20"](i % 20)
    return {"color": color, "marker": marker, "linestyle": "-" if i % 2 == 0 else "--"}


def _save(fig, path: str | os.PathLike) -> Path:
    def _w(tmp: str) -> None:
        fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight")

    try:
        return atomic_write(path, _w)
    finally:
        _pyplot().close(fig)


def w2_figure(
    records: Sequence[MetricRecord],
    labels: dict[str, str] | None,
    out: str | os.PathLike,
    *,
    paper: dict[str, tuple[str, tuple[float, ...]]] | None = None,
    title: str | None = None,
) -> Path:
    """W2 (exact) against K, log-log, one line per schedule; paper values as hollow markers."""
    plt = _pyplot()
    labels = dict(labels or {})
    fig, ax = plt.subplots(figsize=(6.0, 4.5))
    drew_paper = False
    order = _order(records, labels)
    for i, name in enumerate(order):
        rs = sorted((r for r in records if r.name == name), key=lambda r: r.K)
        style = line_style(i, len(order))
        (line,) = ax.plot(
            [r.K for r in rs],
            [r.w2_exact for r in rs],
            markersize=4,
            linewidth=1.5,
            label=labels.get(name, name),
            **style,
        )
        if paper and name in paper:
            ax.plot(
                PAPER_K,
                paper[name][1],
                linestyle="none",
                marker=style["marker"],
                markersize=7,
                markerfacecolor="none",
                markeredgecolor=line.get_color(),
                alpha=0.8,
            )
            drew_paper = True
    if drew_paper:
        ax.plot([], [], "ko", markerfacecolor="none", label="paper (Table 1)")
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(sorted({r.K for r in records} | (set(PAPER_K) if drew_paper else set())))
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("K (Euler steps = NFE)")
    ax.set_ylabel(r"$W_2$ to $\mathcal{N}(0, 1)$")
    ax.set_title(title or r"1-D Gaussian: $W_2$ against K")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    return _save(fig, out)


def _theta_extra(sched: Schedule, key: str) -> np.ndarray | None:
    v = sched.extra.get(key)
    if v is None:
        return None
    a = np.asarray(v, dtype=np.float64)
    if a.shape != (sched.K,):
        raise ReportError(f"schedule extra {key!r} must have length K = {sched.K}, got {a.shape}")
    return a


def _step_t(T: float, K: int) -> np.ndarray:
    return T * np.arange(K + 1) / K


def _step_y(v: np.ndarray) -> np.ndarray:
    """Values on the K intervals, the last repeated so that a 'post' step reaches t = T."""
    v = np.asarray(v, dtype=np.float64)
    return np.append(v, v[-1])


def theta_figure(
    schedule: str | os.PathLike,
    out: str | os.PathLike,
    *,
    analytic: str | os.PathLike | None = None,
    paper_points: Sequence[tuple[float, float]] | None = PAPER_THETA,
    title: str | None = None,
) -> Path:
    """θ(t) of a learned schedule (extra theta_mean/q25/q75, else its distilled clock speed)."""
    try:
        s = Schedule.load(schedule)
        a = Schedule.load(analytic) if analytic is not None else None
    except ScheduleError as e:
        raise ReportError(str(e)) from None
    T = s.sigma_max
    t = _step_t(T, s.K)
    mean = _theta_extra(s, "theta_mean")
    q25, q75 = _theta_extra(s, "theta_q25"), _theta_extra(s, "theta_q75")

    # θ_k is the clock speed on [t_k, t_{k+1}): drawn as a step function over [0, T]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.5))
    learned = dict(where="post", color="C0", linewidth=1.8)
    if mean is not None:
        if q25 is not None and q75 is not None:
            ax.fill_between(
                t, _step_y(q25), _step_y(q75), step="post", alpha=0.25, color="C0", label="IQR"
            )
        ax.step(t, _step_y(mean), label=f"ART-RL θ (mean, K={s.K})", **learned)
    else:
        ax.step(t, _step_y(s.theta), label=f"ART-RL θ (distilled, K={s.K})", **learned)
    if a is not None:
        ax.step(
            _step_t(a.sigma_max, a.K),
            _step_y(a.theta),
            where="post",
            color="C1",
            linestyle="--",
            linewidth=1.5,
            label=f"analytic optimum θ* (K={a.K})",
        )
    if paper_points:
        pt = np.asarray(paper_points, dtype=np.float64)
        ax.plot(
            pt[:, 0],
            pt[:, 1],
            linestyle="none",
            marker="o",
            markersize=6,
            markerfacecolor="none",
            markeredgecolor="k",
            label="paper Fig. 1 (read off)",
        )
    ax.axhline(1.0, color="0.6", linewidth=0.8, linestyle=":", label="uniform (θ = 1)")
    ax.set_xlim(0.0, T)
    ax.set_ylim(bottom=0.0)
    ax.set_xlabel("t (ART clock time)")
    ax.set_ylabel(r"clock speed $\theta(t) = d\psi/dt$")
    ax.set_title(title or "1-D Gaussian: learned clock speed")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    return _save(fig, out)


def art_diagnostics(train_log: str | Path, schedule: str | Path, out: str | Path) -> Path:
    """One ART-RL run's training, over iterations: the expected ART cost of its rollouts
    (refined and plain) against ART-analytic's on the same paths (from the schedule's
    provenance, when recorded); the last positive σ of the actor means' grid (scale-free clock:
    the budget holds by construction) or the budget Σθ_kΔt and γ (the paper's clock); the
    critic's TD error."""
    log = pd.read_csv(train_log)
    s = Schedule.load(schedule)
    ex = s.extra or {}
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13.0, 3.8))
    it = log["iteration"]
    ax = axes[0]
    ax.plot(it, log["art_cost"], lw=0.8, label="rollouts (charged)")
    if "art_cost_plain" in log:
        ax.plot(it, log["art_cost_plain"], lw=0.8, label="rollouts, plain (left point)")
    for key, style, label in (
        ("analytic_art_cost_refined", "--", "ART-analytic, refined"),
        ("analytic_art_cost_plain", ":", "ART-analytic, plain"),
        ("art_cost_refined", "-.", "distilled grid, refined"),
    ):
        if key in ex:
            ax.axhline(ex[key], color="k", ls=style, lw=0.9, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_title("expected ART cost")
    ax.legend(fontsize=7, frameon=False)
    ax = axes[1]
    if "last_sigma_mean" in log:
        ax.plot(it, log["last_sigma_mean"], lw=0.8, label="σ before the grid's end (actor means)")
        ax.set_yscale("log")
        ax.set_title("the grid's end is exact by construction")
    else:
        ax.plot(it, log["budget_mean"], lw=0.8, label="budget Σθ_kΔt")
        ax.axhline(s.sigma_max, color="k", ls="--", lw=0.9, label="T")
        ax2 = ax.twinx()
        ax2.plot(it, log["gamma"], lw=0.8, color="C3", label="γ")
        ax2.set_ylabel("γ", color="C3")
        ax.set_title("budget and multiplier γ")
    ax.set_xlabel("iteration")
    ax.legend(fontsize=7, frameon=False)
    ax = axes[2]
    ax.plot(it, log["td_rmse"], lw=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_title("critic: RMS TD error")
    for a in axes:
        a.grid(True, alpha=0.3)
    fig.suptitle(f"ART-RL {s.dataset} {s.method} K={s.K}", fontsize=10)
    fig.tight_layout()
    return _save(fig, out)


# ----------------------------------------------------------------------------------------------
# Command line


def _labels(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    try:
        d = json.loads(text)
    except json.JSONDecodeError as e:
        raise ReportError(f"--labels-json: not valid JSON ({e})") from None
    if not isinstance(d, dict) or not all(isinstance(v, str) for v in d.values()):
        raise ReportError("--labels-json: expected a JSON object of name -> label strings")
    return d


def _paper(name: str | None) -> dict | None:
    return PAPER_TABLES[name] if name else None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m artrl.report",
        description="Tables and figures for the 1-D Gaussian W2 benchmark (paper Table 1, Fig. 1).",
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    fmt = argparse.ArgumentDefaultsHelpFormatter

    def metrics_args(q: argparse.ArgumentParser) -> None:
        q.add_argument(
            "--metrics",
            nargs="+",
            required=True,
            metavar="[NAME=]PATH",
            help="metrics JSONs of python -m artrl.metrics.w2; NAME defaults to the parent folder",
        )
        q.add_argument(
            "--labels-json",
            default=None,
            help='JSON object {"name": "label", ...}; its order is the row/legend order',
        )
        q.add_argument(
            "--paper",
            choices=sorted(PAPER_TABLES),
            default=None,
            help="add the paper's published W2 rows (matched by schedule name)",
        )

    t = sub.add_parser("w2-table", help="CSV + Markdown W2 table", formatter_class=fmt)
    metrics_args(t)
    t.add_argument("--out-csv", required=True, type=Path)
    t.add_argument("--out-md", required=True, type=Path)
    t.add_argument(
        "--costs",
        type=Path,
        default=None,
        help="cost CSV of python -m artrl.costs: adds the cost of making each schedule",
    )
    t.add_argument("--config-digest", default=None, help="provenance: config digest")
    t.add_argument("--seed", type=int, default=None, help="provenance: seed")

    f = sub.add_parser("w2-figure", help="W2 against K (log-log)", formatter_class=fmt)
    metrics_args(f)
    f.add_argument("--title", default=None)
    f.add_argument("--out", required=True, type=Path)

    g = sub.add_parser(
        "art-diagnostics", help="one ART-RL run's training curves", formatter_class=fmt
    )
    g.add_argument("--train-log", required=True, type=Path, help="train_log.csv of the run")
    g.add_argument("--schedule", required=True, type=Path, help="its distilled schedule JSON")
    g.add_argument("--out", required=True, type=Path)

    h = sub.add_parser("theta-figure", help="learned θ(t) vs analytic optimum", formatter_class=fmt)
    h.add_argument("--schedule", required=True, type=Path, help="ART-RL schedule JSON")
    h.add_argument("--analytic", type=Path, default=None, help="ART-analytic schedule JSON")
    h.add_argument("--no-paper", action="store_true", help="omit the paper's read-off points")
    h.add_argument("--title", default=None)
    h.add_argument("--out", required=True, type=Path)
    return p


def main(argv: list[str] | None = None) -> Path:
    a = _parser().parse_args(argv)
    try:
        if a.cmd == "w2-table":
            records = load_metrics(a.metrics)
            write_w2_table(
                records,
                _labels(a.labels_json),
                out_csv=a.out_csv,
                out_md=a.out_md,
                prov=provenance(a.config_digest, a.seed),
                paper=_paper(a.paper),
                costs=load_row_costs(a.costs, [r.name for r in records]),
            )
            return a.out_csv
        if a.cmd == "w2-figure":
            records = load_metrics(a.metrics)
            return w2_figure(
                records, _labels(a.labels_json), a.out, paper=_paper(a.paper), title=a.title
            )
        if a.cmd == "art-diagnostics":
            return art_diagnostics(a.train_log, a.schedule, a.out)
        return theta_figure(
            a.schedule,
            a.out,
            analytic=a.analytic,
            paper_points=None if a.no_paper else PAPER_THETA,
            title=a.title,
        )
    except (ReportError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
