"""The state-dependent comparison's table and figures (issue 17): one problem, every replicate.

Input: the replicates' ``python -m artrl.state_compare`` files of one problem. Output:

* a CSV in long form, one row per (schedule row, solver, K): the quantile W2's mean, sample
  std, min and max over the replicates, the expected ART cost's mean and std, and for
  ``art_state`` the per-replicate difference to the distilled ART-RL grid (mean and std of
  W2(state) − W2(ART-RL), paired by replicate: the same training run made both);
* on the ``art_state`` rows also the best competitor of the column (lowest mean W2 among
  :data:`COMPETITOR_ROWS`) and its W2;
* a Markdown table per solver (rows × K, ``mean ± sd``; bold only where the lead holds beyond
  the spread, ≈ for the rows tied with the best, :func:`artrl.report.replicates.column_marks`),
  and the state-dependent sampler against the best competitor,
  the ART-cost table, the paired differences and the per-mode last noise level before 0;
* a figure of W2 against K (one panel per solver, ± sample std bars) and a figure of the
  state-dependent clocks of a few samples coloured by the mode they end in.

Run ``python -m artrl.report.state --help`` for the command line interface.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from artrl.io import atomic_write, read_json, run_cli, write_text
from artrl.report.common import ReportError, provenance, provenance_footer
from artrl.report.figures import _pyplot, _save, line_style
from artrl.report.replicates import column_marks, lead_holds, replicate_stats
from artrl.report.tables import _pm, marked

__all__ = [
    "LABELS",
    "load_replicates",
    "state_table",
    "state_markdown",
    "w2_figure",
    "paths_figure",
]

LABELS = {
    "art_rl": "ART-RL (distilled, time-only)",
    "art_analytic": "ART-analytic (time-only)",
    "art_state": "ART-RL state-dependent",
    "gits": "GITS (for the solver)",
    "ld3": "LD3-style (L2, for the solver)",
    "dmn": "DMN (multistep bound)",
    "edm": "EDM (ρ=7)",
    "dpm": "DPM",
    "uniform": "Uniform",
}
SOLVER_LABELS = {"euler": "Euler (NFE = K)", "heun": "Heun (NFE = 2K − 1)"}
#: the rows that are neither ART-RL nor ART-analytic: the best of them (lowest mean W2 in a
#: column) is "the best competitor" the state-dependent sampler is set against
COMPETITOR_ROWS = ("gits", "ld3", "dmn", "edm", "dpm", "uniform")


def load_replicates(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    """The replicate files of one problem, checked to agree (problem, config, K, solvers) and
    to be distinct replicates."""
    docs = [read_json(p) for p in paths]
    if not docs:
        raise ReportError("no state-comparison files given")
    first = docs[0]
    keys = ("problem", "config_digest", "samples", "solvers", "sigma_max")
    for p, d in zip(paths, docs, strict=True):
        for k in keys:
            if d.get(k) != first.get(k):
                raise ReportError(
                    f"{p}: {k} {d.get(k)!r} differs from {paths[0]}'s {first.get(k)!r}"
                )
        if [r["K"] for r in d["results"]] != [r["K"] for r in first["results"]]:
            raise ReportError(f"{p}: its K differ from {paths[0]}'s")
    reps = [d["replicate"] for d in docs]
    if len(set(reps)) != len(reps):
        raise ReportError(f"replicate indices repeat: {reps}")
    return docs


def _rows(docs: list[dict]) -> list[str]:
    return [r for r in LABELS if r in docs[0]["results"][0]["w2"]]


def state_table(docs: list[dict]) -> pd.DataFrame:
    """The long-form table of the module docstring."""
    out = []
    for i, K in enumerate(r["K"] for r in docs[0]["results"]):
        res = [d["results"][i] for d in docs]
        for solver in docs[0]["solvers"]:
            column: dict[str, dict] = {}  # this (K, solver)'s records by row
            for row in _rows(docs):
                w = [r["w2"][row][solver] for r in res]
                st = replicate_stats(w)
                c = replicate_stats([r["art_cost"].get(row) for r in res])
                rec = {
                    "problem": docs[0]["problem"],
                    "row": row,
                    "label": LABELS[row],
                    "solver": solver,
                    "K": K,
                    "w2": st.mean,
                    "w2_sd": st.sd,
                    "w2_lo": st.lo,
                    "w2_hi": st.hi,
                    "art_cost": c.mean,
                    "art_cost_sd": c.sd,
                    "n_replicates": st.n,
                    "seeds": " ".join(str(d["seed"]) for d in docs),
                }
                if row == "art_state":
                    diff = replicate_stats(
                        [r["w2"]["art_state"][solver] - r["w2"]["art_rl"][solver] for r in res]
                    )
                    rec |= {"delta_vs_art_rl": diff.mean, "delta_vs_art_rl_sd": diff.sd}
                    last = _last_sigma_by_mode(res, solver)
                    rec |= {f"last_sigma_mode{j}": v for j, v in enumerate(last)}
                column[row] = rec
            rivals = [rec for row, rec in column.items() if row in COMPETITOR_ROWS]
            if rivals and "art_state" in column:
                best = min(rivals, key=lambda r: r["w2"])
                column["art_state"] |= {
                    "best_competitor": best["row"],
                    "best_competitor_w2": best["w2"],
                    "best_competitor_w2_sd": best["w2_sd"],
                }
            out += column.values()
    return pd.DataFrame(out)


def versus(a: float, a_sd: float, b: float, b_sd: float) -> str:
    """``lower`` or ``higher`` where the means of a and b differ by more than their summed
    sample stds (the tables' bold rule), else ``tied``; ``no spread`` for one replicate."""
    if np.isnan(a_sd):
        return "no spread (one replicate)"
    if lead_holds((a, a_sd), (b, b_sd)):
        return "lower"
    if lead_holds((b, b_sd), (a, a_sd)):
        return "higher"
    return "tied"


def _last_sigma_by_mode(res: list[dict], solver: str) -> list[float]:
    """Mean over replicates of each mode's mean σ_{K−1} (the last noise level before 0)."""
    n = len(res[0]["state"][solver]["by_mode"])
    out = []
    for j in range(n):
        vals = [
            m["sigma_mean"][-2]
            for r in res
            for m in r["state"][solver]["by_mode"]
            if m["mode"] == j and m.get("samples", 0) > 0
        ]
        out.append(float(np.mean(vals)) if vals else math.nan)
    return out


def _fmt(v: float, sd: float, digits: int = 4) -> str:
    """``mean ± sd`` with ``digits`` decimals (:func:`artrl.report.tables._pm`)."""
    return _pm(v, sd, lambda u: f"{u:.{digits}f}")


def state_markdown(
    df: pd.DataFrame, docs: list[dict], prov: dict | None = None, label: str | None = None
) -> str:
    """The Markdown of the module docstring; ``label`` (config) heads it beside the problem."""
    d0 = docs[0]
    R = len(docs)
    Ks = sorted(df["K"].unique())
    name = f"{d0['problem']} ({label})" if label else d0["problem"]
    lines = [
        f"# When does the state matter? {name}: {d0['mixture']}",
        "",
        f"Quantile W2 to the data (n = {d0['samples']:,} stratified prior points, the same for "
        f"every row; σ_max = {d0['sigma_max']:g}), mean ± sample std over {R} replicate(s) "
        f"(ART-RL seeds {', '.join(str(d['seed']) for d in docs)}); the closed-form rows have "
        "no seed, so their spread is 0.",
    ]
    for solver in d0["solvers"]:
        sub = df[df["solver"] == solver]
        lines += ["", f"## {SOLVER_LABELS.get(solver, solver)}", ""]
        lines += ["| Schedule | " + " | ".join(f"K={k}" for k in Ks) + " |"]
        lines += ["|---" * (len(Ks) + 1) + "|"]
        marks = {}
        for k in Ks:
            col = sub[sub["K"] == k]
            m = column_marks(list(col["w2"]), list(col["w2_sd"]))
            marks |= {(r, k): mk for r, mk in zip(col["row"], m, strict=True)}
        for row in _rows(docs):
            cells = []
            for k in Ks:
                r = sub[(sub["row"] == row) & (sub["K"] == k)].iloc[0]
                cells.append(marked(_fmt(r["w2"], r["w2_sd"]), marks[(row, k)]))
            lines.append(f"| {LABELS[row]} | " + " | ".join(cells) + " |")
        st = sub[sub["row"] == "art_state"].set_index("K")
        lines += [
            "",
            "State-dependent minus distilled ART-RL, paired by replicate (negative: the state "
            "helps): "
            + "; ".join(
                f"K={k} {_fmt(st.loc[k, 'delta_vs_art_rl'], st.loc[k, 'delta_vs_art_rl_sd'])}"
                for k in Ks
            )
            + ".",
        ]
        if "best_competitor" in st.columns:
            lines.append(
                "Best competitor (lowest mean W2 of "
                + ", ".join(LABELS[r].split(" (")[0] for r in COMPETITOR_ROWS if r in _rows(docs))
                + "), and the state-dependent sampler against it (lower/higher beyond the summed "
                "spreads, else tied): "
                + "; ".join(
                    f"K={k} {LABELS[st.loc[k, 'best_competitor']].split(' (')[0]} "
                    f"{_fmt(st.loc[k, 'best_competitor_w2'], st.loc[k, 'best_competitor_w2_sd'])}, "
                    + versus(
                        st.loc[k, "w2"],
                        st.loc[k, "w2_sd"],
                        st.loc[k, "best_competitor_w2"],
                        st.loc[k, "best_competitor_w2_sd"],
                    )  # fmt: skip
                    for k in Ks
                )
                + "."
            )
        modes = sorted(c for c in st.columns if c.startswith("last_sigma_mode"))
        if len(modes) > 1:
            lines.append(
                "Last noise level before 0 of the state-dependent clocks, mean by the mode a "
                "sample ends in: "
                + "; ".join(
                    f"K={k} "
                    + ", ".join(f"mode {j} {st.loc[k, c]:.3g}" for j, c in enumerate(modes))
                    for k in Ks
                )
                + "."
            )
    lines += [
        "",
        "## Expected ART cost on the training paths (Euler; |Q| integrated along each step)",
        "",
        "| Schedule | " + " | ".join(f"K={k}" for k in Ks) + " |",
        "|---" * (len(Ks) + 1) + "|",
    ]
    sub = df[df["solver"] == d0["solvers"][0]]
    for row in _rows(docs):
        cells = [
            _fmt(*sub[(sub["row"] == row) & (sub["K"] == k)][["art_cost", "art_cost_sd"]].iloc[0])
            for k in Ks
        ]
        lines.append(f"| {LABELS[row]} | " + " | ".join(cells) + " |")
    r0 = docs[0]["results"][-1]["state"][d0["solvers"][-1]]
    head = replicate_stats([100.0 * d["results"][0]["headroom"]["gain"] for d in docs])
    lines += [
        "",
        f"Headroom of the state: with many steps, a clock per path (θ ∝ |Q|^(-1/2) along it) "
        f"would lower the ART cost of the best time-only clock (θ ∝ E|Q|^(-1/2)) on these paths "
        f"by {_fmt(head.mean, head.sd, 1)} % (E[(∫√|Q_i| dσ)²] against (∫√E|Q| dσ)²; 0 when "
        "every path's |Q| has the same shape, as for one Gaussian).",
        "",
        f"Inference work per sample at K={Ks[-1]} ({d0['solvers'][-1]}): {r0['nfe']} denoiser "
        f"evaluations (as the time-only grids), {r0['jvps']} Jacobian–vector products (|Q| of "
        f"the actor's features) and {r0['actor_calls']} actor calls.",
        "",
        "Bold: the column's lowest mean leads the second beyond their summed sample stds; ≈: no "
        "lead holds and the row is tied with the lowest mean.",
    ]
    lines += provenance_footer(prov)
    return "\n".join(lines) + "\n"


def w2_figure(df: pd.DataFrame, docs: list[dict], out: str | Path) -> Path:
    plt = _pyplot()
    from matplotlib.ticker import NullFormatter

    solvers = docs[0]["solvers"]
    fig, axes = plt.subplots(1, len(solvers), figsize=(5.2 * len(solvers), 4), squeeze=False)
    rows = _rows(docs)
    for ax, solver in zip(axes[0], solvers, strict=True):
        for i, row in enumerate(rows):
            s = df[(df["solver"] == solver) & (df["row"] == row)].sort_values("K")
            sd = np.nan_to_num(s["w2_sd"].to_numpy(), nan=0.0)
            ax.errorbar(
                s["K"], s["w2"], yerr=sd, capsize=2, label=LABELS[row], **line_style(i, len(rows))
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(sorted(df["K"].unique()), [str(k) for k in sorted(df["K"].unique())])
        ax.set_xlabel("K (steps)")
        ax.set_ylabel("W2 to the data (quantiles)")
        ax.set_title(f"{docs[0]['problem']}: {SOLVER_LABELS.get(solver, solver)}")
        ax.grid(alpha=0.3, which="both")
    # below the panels: with the competing rows there are too many lines for a legend inside
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(
        handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3, fontsize=7,
        title=f"± sample std, {len(docs)} replicate(s)", title_fontsize=7,
    )  # fmt: skip
    return _save(fig, out)


def paths_figure(docs: list[dict], out: str | Path) -> Path:
    """σ_k of a few samples' state-dependent clocks (replicate 0, the largest K, the last
    solver) coloured by the mode they end in, with the distilled ART-RL grid dashed."""
    plt = _pyplot()
    d0 = docs[0]
    res = d0["results"][-1]
    solver = d0["solvers"][-1]
    p = res["state"][solver]["paths"]
    K = res["K"]
    fig, ax = plt.subplots(figsize=(6, 4))
    k = np.arange(K)  # σ_K = 0 is left off the log axis
    for sig, mode in zip(p["sigmas"], p["mode"], strict=True):
        ax.plot(k, np.asarray(sig)[:K], color=f"C{mode}", alpha=0.6, lw=1, marker=".")
    ax.plot(k, np.asarray(res["grids"]["art_rl"])[:K], "k--", lw=1.5, label="ART-RL distilled")
    for j in sorted(set(p["mode"])):
        ax.plot([], [], color=f"C{j}", label=f"state-dependent, ends in mode {j}")
    ax.set_yscale("log")
    ax.set_xlabel("step k")
    ax.set_ylabel("σ_k")
    ax.set_title(f"{d0['problem']}, K={K} ({solver}): per-sample clocks")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")
    return _save(fig, out)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m artrl.report.state",
        description="Table (CSV, Markdown) and figures of the state-dependent comparison of one "
        "problem from its replicates' python -m artrl.state_compare files (issue 17).",
    )
    p.add_argument("--compare", nargs="+", required=True, help="compare.json of each replicate")
    p.add_argument("--label", default=None, help="the problem's label (the Markdown title)")
    p.add_argument("--config-digest", default=None, help="provenance")
    p.add_argument("--seed", default=None, help="provenance")
    p.add_argument("--out-csv", required=True, type=Path)
    p.add_argument("--out-md", required=True, type=Path)
    p.add_argument("--out-w2-figure", required=True, type=Path)
    p.add_argument("--out-paths-figure", required=True, type=Path)
    return p


def main(argv: list[str] | None = None) -> int:
    a = _parser().parse_args(argv)
    docs = load_replicates(a.compare)
    df = state_table(docs)
    prov = provenance(a.config_digest, a.seed)
    atomic_write(a.out_csv, lambda tmp: df.assign(**prov).to_csv(tmp, index=False))
    write_text(a.out_md, state_markdown(df, docs, prov, a.label))
    w2_figure(df, docs, a.out_w2_figure)
    paths_figure(docs, a.out_paths_figure)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
