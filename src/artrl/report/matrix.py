"""The cross-data-set matrix: a schedule made on one data set, evaluated on another.

The paper leaves open how much a schedule depends on the data set (arXiv 2601.18681 Tables 4–6
and Table 6 of its extended version, arXiv 2607.02137, reuse the CIFAR-10 grid on AFHQv2, FFHQ
and ImageNet-64). This table puts, for each method (ART-RL, ART-analytic), the data set a
schedule was *made on* against the data set it is *evaluated on*: the 1-D Gaussian (exact W2
against N(0, 1), Euler) and the digits at 8×8 and 16×16 (digits-FID, Heun). Every cell is a
metrics file the workflow already wrote (W2: :mod:`artrl.metrics.w2`, FID:
:mod:`artrl.metrics.fid`); this module only arranges them.

Each input is ``ROW|MADE_ON|TARGET=PATH``: ROW is the row's label (e.g. ``ART-RL`` or
``ART-RL (log range)``), MADE_ON the data set the schedule was made on (``none`` for a fixed
baseline), TARGET the evaluated data set. The metric (W2 or FID) and the budget (K, NFE) are
read from the file. A cell's *ratio* is its value over the value of the same ROW made on TARGET
itself at the same budget (the diagonal): the price of using another data set's schedule. A
row may take its diagonal from another row instead (``compare_to``, e.g. ``ART-RL (log
range)`` → ``ART-RL``: the same method transferred another way, with no diagonal of its own).

Outputs: a long CSV (one line per cell, provenance columns on each) and a Markdown file with,
per evaluated data set, rows = (method, made on) and columns = budgets, and a summary matrix
(made on × evaluated on) of the geometric-mean ratio over the budgets.

Run ``python -m artrl.report_matrix --help`` for the command line interface.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from artrl.io import write_text
from artrl.report.common import PROVENANCE_COLUMNS, ReportError, provenance_footer, read_object
from artrl.report.records import load_fid_file, load_metrics

COLUMNS = (
    "row",
    "made_on",
    "target",
    "metric",
    "solver",
    "K",
    "nfe",
    "value",
    "own",
    "ratio",
    "schedule",
    "path",
)


@dataclass(frozen=True)
class Cell:
    row: str
    made_on: str
    target: str
    metric: str  # "W2" or "FID"
    solver: str | None
    K: int
    nfe: int | None
    value: float
    schedule: str
    path: str

    @property
    def budget(self) -> int:
        """What the target's columns are indexed by: K for W2 tables, NFE for FID tables."""
        return self.K if self.metric == "W2" else int(self.nfe or self.K)


def _split(entry: str) -> tuple[str, str, str, Path]:
    if "=" not in entry:
        raise ReportError(f"{entry!r}: expected ROW|MADE_ON|TARGET=PATH")
    key, path = entry.rsplit("=", 1)
    parts = key.split("|")
    if len(parts) != 3 or not all(parts):
        raise ReportError(f"{entry!r}: expected ROW|MADE_ON|TARGET=PATH")
    return parts[0], parts[1], parts[2], Path(path)


def load_cell(entry: str) -> Cell:
    """One ``ROW|MADE_ON|TARGET=PATH`` entry; PATH is a W2 metrics JSON or an FID JSON."""
    row, made_on, target, path = _split(entry)
    p = str(path)
    d = read_object(path)
    schedule = path.parent.name  # results/{metrics,fid/<solver>}/<dataset>/<name>/K<K>.json
    if "w2_exact" in d:
        m = load_metrics([f"{schedule}={p}"])[0]
        return Cell(row, made_on, target, "W2", m.solver, m.K, None, m.w2_exact, schedule, p)
    if "fid" in d:
        r = load_fid_file(f"{schedule}={p}")
        if r.K is None:
            raise ReportError(f"{p}: missing key 'K'")
        return Cell(row, made_on, target, "FID", r.solver, r.K, r.nfe, r.fid, schedule, p)
    raise ReportError(f"{p}: neither a W2 metrics file ('w2_exact') nor an FID file ('fid')")


def load_cells(entries: Sequence[str]) -> list[Cell]:
    cells = [load_cell(e) for e in entries]
    if not cells:
        raise ReportError("no cells given")
    seen: dict[tuple[str, str, str, int], str] = {}
    for c in cells:
        key = (c.row, c.made_on, c.target, c.budget)
        if key in seen:
            raise ReportError(f"{c.path}: cell {key} already read from {seen[key]}")
        seen[key] = c.path
    for t in {c.target for c in cells}:
        metrics = {c.metric for c in cells if c.target == t}
        if len(metrics) > 1:
            raise ReportError(f"target {t!r} mixes metrics {sorted(metrics)}")
    return cells


def matrix_table(
    cells: Sequence[Cell],
    prov: dict[str, Any] | None = None,
    compare_to: dict[str, str] | None = None,
) -> pd.DataFrame:
    """The long table: one line per cell with the diagonal value (``own``) and the ratio.
    ``compare_to`` maps a row label to the label whose diagonal its cells are divided by (by
    default its own)."""
    compare = dict(compare_to or {})
    labels = {c.row for c in cells}
    for row, other in compare.items():
        if row not in labels or other not in labels:
            missing = row if row not in labels else other
            raise ReportError(f"compare_to {row!r} -> {other!r}: no cells of row {missing!r}")
    own = {(c.row, c.target, c.budget): c.value for c in cells if c.made_on == c.target}
    rows = []
    for c in cells:
        o = own.get((compare.get(c.row, c.row), c.target, c.budget), math.nan)
        ratio = c.value / o if (o == o and o > 0) else math.nan
        rows.append(
            {
                "row": c.row,
                "made_on": c.made_on,
                "target": c.target,
                "metric": c.metric,
                "solver": c.solver,
                "K": c.K,
                "nfe": c.nfe,
                "value": c.value,
                "own": o,
                "ratio": ratio,
                "schedule": c.schedule,
                "path": c.path,
                **dict.fromkeys(PROVENANCE_COLUMNS, "unknown"),
                **(prov or {}),
            }
        )
    return pd.DataFrame(rows, columns=[*COLUMNS, *PROVENANCE_COLUMNS])


def _fmt(v: float, metric: str) -> str:
    if not math.isfinite(v):
        return "—"
    if metric == "W2" and 0 < abs(v) < 5e-4:
        return f"{v:.1e}"
    return f"{v:.3f}" if metric == "W2" else f"{v:.2f}"


def _geo_mean(values: Sequence[float]) -> float:
    vs = [v for v in values if math.isfinite(v) and v > 0]
    return math.exp(sum(math.log(v) for v in vs) / len(vs)) if vs else math.nan


def _order(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(values))


def matrix_markdown(
    df: pd.DataFrame,
    target_labels: dict[str, str] | None = None,
    prov: dict[str, Any] | None = None,
    compare_to: dict[str, str] | None = None,
) -> str:
    """Per evaluated data set: rows (method, made on), columns budgets, value (× ratio to the
    diagonal); then the summary matrix of geometric-mean ratios."""
    names = dict(target_labels or {})
    compare = dict(compare_to or {})
    targets = _order(df["target"])
    lines = [
        "# Cross-data-set matrix",
        "",
        "A schedule made on one data set (rows: method, *made on*) evaluated on another. "
        "In brackets: the ratio to the same method made on the evaluated data set itself "
        "(1 = no loss from transfer; lower is better for both W2 and FID).",
    ]
    for t in targets:
        sub = df[df["target"] == t]
        metric = sub["metric"].iloc[0]
        solver = sub["solver"].dropna().iloc[0] if sub["solver"].notna().any() else "?"
        axis = "K" if metric == "W2" else "NFE"
        budgets = sorted({int(b) for b in (sub["K"] if metric == "W2" else sub["nfe"])})
        lines += ["", f"## Evaluated on {names.get(t, t)} ({metric}, {solver})", ""]
        lines.append("| method | made on | " + " | ".join(f"{axis} {b}" for b in budgets) + " |")
        lines.append("|---|---|" + "---|" * len(budgets))
        for (row, made_on), g in sub.groupby(["row", "made_on"], sort=False):
            by = {int(r["K"] if metric == "W2" else r["nfe"]): r for _, r in g.iterrows()}
            cells = []
            for b in budgets:
                r = by.get(b)
                if r is None:
                    cells.append("")
                    continue
                text = _fmt(float(r["value"]), metric)
                if (made_on != t or row in compare) and math.isfinite(float(r["ratio"])):
                    text += f" (×{float(r['ratio']):.2f})"
                cells.append(text)
            made = "—" if made_on == "none" else names.get(made_on, made_on)
            lines.append(f"| {row} | {made} | " + " | ".join(cells) + " |")
    # summary: geometric-mean ratio over the budgets, per method; made on x evaluated on
    lines += [
        "",
        "## Summary: geometric-mean ratio to the diagonal over the budgets",
        "",
        "| method | made on | " + " | ".join(names.get(t, t) for t in targets) + " |",
        "|---|---|" + "---|" * len(targets),
    ]
    for (row, made_on), g in df.groupby(["row", "made_on"], sort=False):
        if made_on == "none":
            continue
        cells = []
        for t in targets:
            gt = g[g["target"] == t]
            if gt.empty:
                cells.append("")
            elif made_on == t and row not in compare:
                cells.append("1")
            else:
                m = _geo_mean([float(v) for v in gt["ratio"]])
                cells.append(f"{m:.2f}" if math.isfinite(m) else "—")
        lines.append(f"| {row} | {names.get(made_on, made_on)} | " + " | ".join(cells) + " |")
    lines += provenance_footer(prov)
    return "\n".join(lines) + "\n"


def write_matrix(
    cells: Sequence[Cell],
    *,
    out_csv: str | Path,
    out_md: str | Path,
    target_labels: dict[str, str] | None = None,
    prov: dict[str, Any] | None = None,
    compare_to: dict[str, str] | None = None,
) -> pd.DataFrame:
    df = matrix_table(cells, prov, compare_to)
    write_text(out_csv, df.to_csv(index=False))
    write_text(out_md, matrix_markdown(df, target_labels, prov, compare_to))
    return df
