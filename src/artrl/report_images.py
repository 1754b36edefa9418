"""Tables and figures for the image benchmarks (arXiv 2601.18681 §5.2–5.3: FID against NFE;
Tables 2–6 of its extended version, arXiv 2607.02137, see docs/references.md §1.2).

Four subcommands, each called by one Snakemake rule:

* ``fid-table``: one row per schedule name, one column per NFE, from the per-cell FID JSONs of
  :mod:`artrl.metrics.fid`; a CSV (full precision, per-block min/max when there are several
  seed blocks, provenance on every row) and a Markdown file (2 decimals, best value per column
  in bold, the model's floor row, the ART/best-other FID ratios and, optionally, the paper's
  published rows as a separate table).
* ``fid-figure``: FID against NFE on log-log axes, one line per schedule, the floor as a
  dashed horizontal line.
* ``sigma-figure``: the σ-grids of several schedules (log σ_k against k/K or k), one panel per K.
* ``sample-grid``: a grid of the first n images of one sample shard per schedule.

Inputs are given as ``NAME=PATH`` (NAME = schedule name in the config); a bare ``PATH`` takes
the name of its parent folder. The shared helpers (provenance, Markdown rows, labels, atomic
PNG writes) come from :mod:`artrl.report`. Every output is written atomically. Run
``python -m artrl.report_images --help`` for the command line interface.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from artrl import registry
from artrl.cells import check_cell
from artrl.costs import fmt_evals, fmt_seconds, load_row_costs
from artrl.io import REMAKE, InputError, read_json, run_cli, write_text
from artrl.report import (
    PROVENANCE_COLUMNS,
    ReportError,
    _fmt,
    _labels,
    _md_row,
    _order,
    _pyplot,
    _save,
    _split_entry,
    line_style,
    provenance,
    provenance_footer,
)
from artrl.schedules import Schedule, ScheduleError

__all__ = [
    "PAPER_FID",
    "PaperTable",
    "FidRecord",
    "Shard",
    "load_fid",
    "load_fid_file",
    "fid_table",
    "fid_markdown",
    "write_fid_table",
    "fid_figure",
    "sigma_figure",
    "load_shard",
    "sample_grid",
    "main",
]

# ----------------------------------------------------------------------------------------------
# Published numbers (arXiv 2601.18681 §5.2–5.3; "EXT Table n" = Table n of the extended version,
# arXiv 2607.02137, docs/references.md §1.2; FID against NFE)


@dataclass(frozen=True)
class PaperTable:
    """One published FID table: rows are schedule name -> (paper's label, FID at ``nfe``)."""

    source: str
    dataset: str
    solver: str
    nfe: tuple[int, ...]
    rows: dict[str, tuple[str, tuple[float, ...]]]


PAPER_FID: dict[str, PaperTable] = {
    "cifar10-heun": PaperTable(
        source="EXT Table 2",
        dataset="CIFAR-10",
        solver="heun",
        nfe=(3, 5, 9, 13, 19, 35),
        rows={
            "uniform": ("Uniform", (280.29, 254.47, 213.13, 191.69, 168.87, 118.02)),
            "dpm": ("DPM", (465.83, 244.50, 52.29, 8.67, 2.76, 1.89)),
            "edm": ("EDM", (465.83, 305.15, 35.54, 6.79, 2.54, 1.85)),
            "art_rl": ("ART-RL", (152.86, 130.48, 32.13, 5.44, 2.45, 1.82)),
        },
    ),
    "cifar10-euler": PaperTable(
        source="EXT Table 3",
        dataset="CIFAR-10",
        solver="euler",
        nfe=(2, 3, 5, 7, 12, 30, 50, 80),
        rows={
            "uniform": (
                "Uniform",
                (280.50, 255.02, 214.60, 194.40, 162.14, 85.83, 53.40, 34.99),
            ),
            "dpm": ("DPM", (295.65, 125.67, 51.73, 27.07, 11.35, 3.95, 2.86, 2.41)),
            "edm": ("EDM", (295.65, 122.56, 49.10, 27.73, 11.91, 4.21, 3.01, 2.50)),
            "art_rl": ("ART-RL", (109.11, 86.84, 28.16, 23.88, 7.84, 3.46, 2.63, 2.28)),
        },
    ),
    "mnist-rk4": PaperTable(
        source="EXT Table 4",
        dataset="MNIST",
        solver="rk4",
        nfe=(5, 9, 17, 25, 37, 69),
        rows={
            "uniform": ("Uniform", (981.13, 953.74, 876.58, 783.65, 632.26, 290.46)),
            "dpm": ("DPM", (523.60, 334.44, 2.01, 1.97, 1.20, 1.12)),
            "edm": ("EDM", (523.60, 59.36, 2.66, 1.23, 1.14, 1.12)),
            "art_rl": ("ART-RL", (102.13, 3.62, 1.25, 1.09, 1.03, 0.98)),
        },
    ),
    "cifar10-resampled": PaperTable(
        source="EXT Table 5",
        dataset="CIFAR-10",
        solver="heun",
        nfe=(7, 11, 17, 23, 29, 39),
        rows={
            "dpm": ("DPM", (185.63, 10.31, 3.52, 2.19, 1.94, 1.88)),
            "edm": ("EDM", (85.80, 14.42, 3.11, 2.06, 1.88, 1.85)),
            "art_rl_resampled": ("ART-RL (K=18 → K′)", (33.73, 6.59, 2.57, 2.00, 1.84, 1.82)),
        },
    ),
    **{
        f"{key}-heun": PaperTable(
            source="EXT Table 6",
            dataset=name,
            solver="heun",
            nfe=(3, 5, 9, 13, 19, 35),
            rows={
                "dpm": ("DPM", dpm),
                "edm": ("EDM", edm_),
                "art_rl_cifar10": ("ART-RL (CIFAR-10 schedule)", art),
            },
        )
        for key, name, dpm, edm_, art in (
            (
                "afhqv2",
                "AFHQv2",
                (375.76, 321.59, 67.64, 9.77, 3.44, 2.15),
                (375.76, 266.02, 27.88, 7.56, 2.99, 2.11),
                (243.48, 194.79, 20.48, 6.12, 2.85, 2.07),
            ),
            (
                "ffhq",
                "FFHQ",
                (466.76, 340.51, 113.87, 15.94, 5.25, 2.66),
                (466.76, 344.76, 57.13, 15.87, 5.26, 2.73),
                (305.97, 240.38, 35.73, 11.08, 4.31, 2.57),
            ),
            (
                "imagenet64",
                "ImageNet-64",
                (437.42, 233.35, 60.48, 12.31, 4.46, 2.66),
                (437.42, 248.32, 35.32, 8.18, 3.68, 2.57),
                (147.21, 108.47, 29.49, 7.01, 3.62, 2.56),
            ),
        )
    },
}

MAX_SIGMA_PANELS = 4

# A solver's display name, its NFE formula (axis labels, table notes) and the NFE of a cell
# without one come from artrl.registry.SOLVERS (a plugin's solvers included).


def _solver_name(solver: str | None) -> str:
    s = registry.SOLVERS.get(solver or "")
    return s.label if s else solver or "?"


def _nfe_formula(solver: str | None, default: str = "") -> str:
    s = registry.SOLVERS.get(solver or "")
    return s.nfe_formula if s else default


def _nfe_axis_label(solver: str | None) -> str:
    conv = _nfe_formula(solver)
    return f"NFE ({_solver_name(solver)}: {conv})" if conv else "NFE"


def is_art(method: str | None) -> bool:
    """ART rows: methods of an ART kind in artrl.registry (art_rl, art_analytic,
    art_rl_transfer); a method the registry does not know counts when it starts with "art"."""
    if not method:
        return False
    m = registry.lookup_method(str(method))
    return m.is_art if m is not None else str(method).lower().startswith("art")


# ----------------------------------------------------------------------------------------------
# Reading FID results


@dataclass(frozen=True)
class FidRecord:
    """One (schedule, NFE) cell. ``fid`` is the mean over ``fid_blocks`` when there are several
    seed blocks (the file's ``"fid"`` otherwise)."""

    name: str
    nfe: int
    fid: float
    fid_blocks: tuple[float, ...]
    blocks: int
    n_images: int | None
    K: int | None
    solver: str | None
    method: str | None
    dataset: str | None
    path: str
    seed_min: int | None = None
    seed_max: int | None = None
    schedule_config_digest: str | None = None
    schedule_sha256: str | None = None  # of the schedule file the cell's images came from

    @property
    def sample_seeds(self) -> str | None:
        """The cell's seed block, e.g. ``"0-4999"`` (None when the file does not say)."""
        if self.seed_min is None or self.seed_max is None:
            return None
        return f"{self.seed_min}-{self.seed_max}"

    @property
    def fid_min(self) -> float:
        return min(self.fid_blocks) if self.fid_blocks else self.fid

    @property
    def fid_max(self) -> float:
        return max(self.fid_blocks) if self.fid_blocks else self.fid


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _pos_int(d: dict, key: str, p: str, *, required: bool) -> int | None:
    v = d.get(key)
    if v is None:
        if required:
            raise ReportError(f"{p}: missing key {key!r}")
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ReportError(f"{p}: {key!r} must be an integer >= 1, got {v!r}")
    return v


def _block_fids(d: dict, p: str) -> tuple[float, ...]:
    """``fid_blocks`` as a list of floats, or the dict of :func:`artrl.metrics.fid.fid_blocks`."""
    v = d.get("fid_blocks")
    if v is None:
        return ()
    if isinstance(v, dict):
        v = v.get("fids")
    if not isinstance(v, list) or not v or not all(_num(x) for x in v):
        raise ReportError(f"{p}: 'fid_blocks' must be a non-empty list of numbers")
    return tuple(float(x) for x in v)


def load_fid_file(
    entry: str, *, solver: str | None = None, dataset: str | None = None
) -> FidRecord:
    """Read one ``NAME=PATH`` / ``PATH`` FID JSON; ``solver``, if given, must match the file's.

    A file that names its cell (``name``, ``dataset``, ``K``: what ``python -m
    artrl.metrics.fid --meta`` records) must be the cell it is read for: the entry's NAME, the
    table's ``dataset`` and the K its file name says (:func:`artrl.cells.check_cell`).
    """
    name, path = _split_entry(entry)
    p = str(path)
    try:
        d = read_json(path)
    except (FileNotFoundError, ValueError) as e:
        raise ReportError(str(e)) from None
    except OSError as e:
        raise ReportError(f"{p}: cannot read ({e})") from None
    if not isinstance(d, dict):
        raise ReportError(f"{p}: expected a JSON object; {REMAKE}")
    expect = {"name": name} if "name" in d and "=" in entry else {}
    if dataset is not None and "dataset" in d:
        expect["dataset"] = dataset
    try:
        check_cell(p, d, expect)
    except InputError as e:
        raise ReportError(str(e)) from None
    if "fid" not in d:
        raise ReportError(f"{p}: missing key 'fid'")
    if not _num(d["fid"]):
        raise ReportError(f"{p}: 'fid' must be a number, got {d['fid']!r}")
    fsolver = d.get("solver")
    if fsolver is not None and not isinstance(fsolver, str):
        raise ReportError(f"{p}: 'solver' must be a string, got {fsolver!r}")
    if solver is not None and fsolver is not None and fsolver != solver:
        raise ReportError(f"{p}: solver {fsolver!r} but the table is for --solver {solver!r}")
    K = _pos_int(d, "K", p, required=False)
    nfe = _pos_int(d, "nfe", p, required=False)
    if nfe is None:
        s = fsolver or solver
        if K is None or s not in registry.SOLVERS:
            raise ReportError(f"{p}: missing key 'nfe' (and no 'K' with a known solver)")
        nfe = registry.SOLVERS[s].nfe(K)
    fb = _block_fids(d, p)
    blocks = _pos_int(d, "blocks", p, required=False)
    if blocks is None:
        blocks = len(fb) or 1
    if fb and len(fb) != blocks:
        raise ReportError(f"{p}: 'blocks' is {blocks} but 'fid_blocks' has {len(fb)} values")
    fid = float(np.mean(fb)) if blocks > 1 else float(d["fid"])
    method = d.get("method")
    dataset = d.get("dataset")
    seeds = []
    for key in ("seed_min", "seed_max"):
        v = d.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise ReportError(f"{p}: {key!r} must be an integer >= 0, got {v!r}")
        seeds.append(v)
    digest = d.get("schedule_config_digest")
    sha = d.get("schedule_sha256")
    return FidRecord(
        name=name,
        nfe=nfe,
        fid=fid,
        fid_blocks=fb,
        blocks=blocks,
        n_images=_pos_int(d, "n_images", p, required=False),
        K=K,
        solver=fsolver or solver,
        method=str(method) if method is not None else None,
        dataset=str(dataset) if dataset is not None else None,
        path=p,
        seed_min=seeds[0],
        seed_max=seeds[1],
        schedule_config_digest=str(digest) if digest is not None else None,
        schedule_sha256=str(sha) if sha is not None else None,
    )


def load_fid(
    entries: Sequence[str], *, solver: str | None = None, dataset: str | None = None
) -> list[FidRecord]:
    """Read ``NAME=PATH`` FID JSONs; two files for the same (name, NFE) are an error."""
    out: list[FidRecord] = []
    seen: dict[tuple[str, int], str] = {}
    for entry in entries:
        r = load_fid_file(entry, solver=solver, dataset=dataset)
        if (r.name, r.nfe) in seen:
            raise ReportError(
                f"{r.path}: schedule {r.name!r} at NFE {r.nfe} already read from "
                f"{seen[r.name, r.nfe]}"
            )
        seen[r.name, r.nfe] = r.path
        out.append(r)
    if not out:
        raise ReportError("no FID files given")
    return out


def _one(values: Sequence[Any]) -> Any:
    """The single distinct non-null value, ``";"``-joined distinct values, or None."""
    vals = sorted({v for v in values if v is not None}, key=str)
    if not vals:
        return None
    return vals[0] if len(vals) == 1 else ";".join(str(v) for v in vals)


def _row_method(rs: Sequence[FidRecord], name: str) -> str:
    return next((r.method for r in rs if r.method), name)


# ----------------------------------------------------------------------------------------------
# Table


def fid_table(
    records: Sequence[FidRecord],
    labels: dict[str, str] | None = None,
    prov: dict[str, Any] | None = None,
    *,
    reference: FidRecord | None = None,
    reference_label: str | None = None,
    costs: dict[str, dict[str, float]] | None = None,
) -> pd.DataFrame:
    """Wide table: one row per schedule name (``role`` "schedule") and, last, the reference
    (``role`` "reference"), with columns ``fid_NFE{n}`` for n ascending, ``fid_min_NFE{n}`` /
    ``fid_max_NFE{n}`` when some cell has several blocks, ``fid_ratio_NFE{n}`` (ART rows: FID ÷
    the lowest non-ART FID at that NFE), ``K_NFE{n}``, then n_images, blocks, method, dataset,
    solver, the schedule's config digest, the seed block of the images (``sample_seeds``, e.g.
    ``0-4999``), the cost of making one schedule (``costs``: ``cost_wall_s`` and
    ``cost_denoiser_evals`` per name, :func:`artrl.costs.row_costs`) and the provenance columns
    (``prov``; "unknown" where not given)."""
    labels = dict(labels or {})
    nfes = sorted({r.nfe for r in records} | ({reference.nfe} if reference else set()))
    multi = any(r.blocks > 1 for r in records) or bool(reference and reference.blocks > 1)
    by = {(r.name, r.nfe): r for r in records}
    best_other = _best_other(records)

    def row_for(name: str, rs: Sequence[FidRecord], label: str, role: str) -> dict[str, Any]:
        method = _row_method(rs, name)
        row: dict[str, Any] = {"name": name, "label": label, "role": role}
        mine = {r.nfe: r for r in rs}
        for n in nfes:
            r = mine.get(n)
            row[f"fid_NFE{n}"] = r.fid if r else math.nan
        if multi:
            for n in nfes:
                r = mine.get(n)
                row[f"fid_min_NFE{n}"] = r.fid_min if r else math.nan
                row[f"fid_max_NFE{n}"] = r.fid_max if r else math.nan
        for n in nfes:
            r = mine.get(n)
            ok = role == "schedule" and r is not None and is_art(method) and n in best_other
            row[f"fid_ratio_NFE{n}"] = r.fid / best_other[n][1] if ok else math.nan
        for n in nfes:
            r = mine.get(n)
            row[f"K_NFE{n}"] = r.K if r is not None else None
        row["n_images"] = _one([r.n_images for r in rs])
        row["blocks"] = _one([r.blocks for r in rs])
        row["method"] = method
        row["dataset"] = _one([r.dataset for r in rs])
        row["solver"] = _one([r.solver for r in rs])
        row["schedule_config_digest"] = _one([r.schedule_config_digest for r in rs])
        # the schedule files the cells' images came from, in column order (12 hex digits each)
        shas = [r.schedule_sha256[:12] for r in rs if r.schedule_sha256]
        row["schedule_sha256"] = ";".join(shas) if shas else None
        row["sample_seeds"] = _one([r.sample_seeds for r in rs])
        if costs is not None:
            nan = {"cost_wall_s": math.nan, "cost_denoiser_evals": math.nan}
            row.update(costs.get(name, nan) if role == "schedule" else nan)
        row.update(dict.fromkeys(PROVENANCE_COLUMNS, "unknown"))
        row.update(prov or {})
        return row

    rows = []
    for name in _order(records, labels):
        rs = [by[name, n] for n in nfes if (name, n) in by]
        rows.append(row_for(name, rs, labels.get(name, name), "schedule"))
    if reference is not None:
        rows.append(
            row_for(
                reference.name,
                [reference],
                reference_label or _default_reference_label(reference, labels),
                "reference",
            )
        )
    df = pd.DataFrame(rows)
    for n in nfes:
        df[f"K_NFE{n}"] = df[f"K_NFE{n}"].astype("Int64")
    return df


def _default_reference_label(ref: FidRecord, labels: dict[str, str]) -> str:
    k = f" K={ref.K}" if ref.K else ""
    return f"{labels.get(ref.name, ref.name)}, {_solver_name(ref.solver)}{k} (floor)"


def _best_other(records: Sequence[FidRecord]) -> dict[int, tuple[str, float]]:
    """NFE -> (name, FID) of the lowest finite FID among the non-ART rows."""
    method = {}
    for r in records:
        method.setdefault(r.name, _row_method([x for x in records if x.name == r.name], r.name))
    best: dict[int, tuple[str, float]] = {}
    for r in records:
        if is_art(method[r.name]) or not math.isfinite(r.fid):
            continue
        if r.nfe not in best or r.fid < best[r.nfe][1]:
            best[r.nfe] = (r.name, r.fid)
    return best


def _nfes(df: pd.DataFrame, prefix: str = "fid_NFE") -> list[int]:
    out = []
    for c in df.columns:
        rest = c[len(prefix) :] if c.startswith(prefix) else ""
        if rest.isdigit():
            out.append(int(rest))
    return sorted(out)


def _finite(v: Any) -> bool:
    try:
        return v is not None and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _cell(mean: Any, lo: Any = None, hi: Any = None, *, bold: bool = False) -> str:
    s = _fmt(mean, 2)
    if bold and _finite(mean):
        s = f"**{s}**"
    if _finite(lo) and _finite(hi) and (float(lo) != float(hi)):
        s += f" ({_fmt(lo, 2)}–{_fmt(hi, 2)})"
    return s


def _minima(table: Sequence[Sequence[Any]]) -> list[float]:
    """Per-column minimum over the finite values of ``table`` (rows × columns), else NaN."""
    out = []
    for col in zip(*table, strict=True) if table else []:
        vals = [float(v) for v in col if _finite(v)]
        out.append(min(vals) if vals else math.nan)
    return out


def paper_markdown(paper: PaperTable) -> list[str]:
    """The paper's published rows as a Markdown table (2 decimals, best per column in bold)."""
    lines = [
        f"## Published (paper, {paper.dataset}, not comparable in absolute value)",
        "",
        f"{paper.source} (Table {paper.source.split()[-1]} of the extended version of the ART "
        f"paper, arXiv 2607.02137): FID on {paper.dataset}, "
        f"{_solver_name(paper.solver)} sampler ({_nfe_formula(paper.solver, 'NFE')}). "
        "Absolute FIDs depend on the model, the data and the FID features; compare the "
        "ordering of the methods, not the numbers.",
        "",
    ]
    head = ["Method", *(f"NFE={n}" for n in paper.nfe)]
    lines += [_md_row(head), _md_row(["---"] + ["---:"] * len(paper.nfe))]
    mins = _minima([vals for _, vals in paper.rows.values()])
    for label, vals in paper.rows.values():
        cells = [_cell(v, bold=v == m) for v, m in zip(vals, mins, strict=True)]
        lines.append(_md_row([label, *cells]))
    return lines


def fid_markdown(
    df: pd.DataFrame,
    paper: PaperTable | None = None,
    *,
    solver: str | None = None,
    dataset: str | None = None,
    title: str | None = None,
    prov: dict[str, Any] | None = None,
) -> str:
    """Markdown: FID (2 decimals, "mean (min–max)" over seed blocks, best per column in bold),
    the reference as the model's floor, the ART ratio table, then the paper's rows if asked."""
    nfes_all = _nfes(df)
    sched = df[df["role"] == "schedule"]
    ref = df[df["role"] == "reference"]
    # columns: the NFEs some schedule row has (the reference's own NFE only if shared)
    nfes = [n for n in nfes_all if sched[f"fid_NFE{n}"].notna().any()] or nfes_all
    if dataset is None and len(df):
        dataset = _one([v for v in df["dataset"] if isinstance(v, str)])
    if solver is None and len(df):
        solver = _one([v for v in df["solver"] if isinstance(v, str)])
    what = ", ".join(
        x for x in (str(dataset) if dataset else "", f"{_solver_name(solver)} sampler") if x
    )
    lines = [f"# {title or f'FID against NFE: {what}'}", ""]

    def col(prefix: str, n: int, row: pd.Series) -> Any:
        key = f"{prefix}{n}"
        return row[key] if key in row.index else None

    n_images = _one([v for v in sched["n_images"] if _finite(v)]) if len(sched) else None
    blocks = _one([v for v in sched["blocks"] if _finite(v) and v > 1]) if len(sched) else None
    notes = [f"{_nfe_formula(solver, 'NFE')} ({_solver_name(solver)})"]
    if n_images is not None:
        notes.append(f"{n_images} images per cell")
    if blocks is not None:
        notes.append(f"mean (min–max) over {blocks} disjoint seed blocks")
    notes.append("lowest FID per column in bold")
    lines += ["FID, " + "; ".join(notes) + ".", ""]

    # K per NFE (all cells at an NFE share K with one solver)
    ks = {n: {int(v) for v in sched.get(f"K_NFE{n}", []) if _finite(v)} for n in nfes}
    head = ["Schedule"] + [
        f"NFE={n} (K={next(iter(ks[n]))})" if len(ks[n]) == 1 else f"NFE={n}" for n in nfes
    ]
    has_cost = "cost_wall_s" in df.columns
    if has_cost:
        head += COST_HEAD
    ncol = len(nfes) + (len(COST_HEAD) if has_cost else 0)
    lines += [_md_row(head), _md_row(["---"] + ["---:"] * ncol)]
    mins = _minima([[row[f"fid_NFE{n}"] for n in nfes] for _, row in sched.iterrows()])
    for _, row in sched.iterrows():
        cells = [
            _cell(
                row[f"fid_NFE{n}"],
                col("fid_min_NFE", n, row),
                col("fid_max_NFE", n, row),
                bold=_finite(m) and row[f"fid_NFE{n}"] == m,
            )
            for n, m in zip(nfes, mins, strict=True)
        ]
        if has_cost:
            cells += cost_cells(row)
        lines.append(_md_row([str(row["label"]), *cells]))
    for _, row in ref.iterrows():
        rn = next(n for n in nfes_all if _finite(row[f"fid_NFE{n}"]))
        v = _cell(row[f"fid_NFE{rn}"], col("fid_min_NFE", rn, row), col("fid_max_NFE", rn, row))
        lab = str(row["label"])
        lab = f"{lab}, NFE {rn}" if "floor" in lab.lower() else f"{lab}: model floor, NFE {rn}"
        tail = ["—"] * len(COST_HEAD) if has_cost else []
        lines.append(_md_row([f"*{lab}*", *([f"*{v}*"] * len(nfes)), *tail]))
    if len(ref):
        lines += [
            "",
            "The floor row is one measurement (at the NFE it names), repeated in every column.",
        ]
    if has_cost:
        lines += ["", COST_NOTE]

    # ART rows against the best non-ART schedule at each NFE
    art = sched[[is_art(m) for m in sched["method"]]] if len(sched) else sched
    other = sched.drop(index=art.index)
    if len(art) and len(other):
        lines += ["", "## FID ratio to the best other method", ""]
        lines += [
            "ART FID ÷ the lowest FID among the other schedules at the same NFE "
            "(below 1: the ART schedule is better).",
            "",
        ]
        lines += [_md_row(["Schedule", *(f"NFE={n}" for n in nfes)])]
        lines += [_md_row(["---"] + ["---:"] * len(nfes))]
        for _, row in art.iterrows():
            lines.append(
                _md_row([str(row["label"]), *(_fmt(row[f"fid_ratio_NFE{n}"], 2) for n in nfes)])
            )
        best = []
        for n in nfes:
            vals = other[f"fid_NFE{n}"]
            ok = vals[[_finite(v) for v in vals]]
            best.append(str(other.loc[ok.idxmin(), "label"]) if len(ok) else "—")
        lines.append(_md_row(["*best other*", *(f"*{b}*" for b in best)]))

    if paper is not None:
        lines += ["", *paper_markdown(paper)]
    lines += provenance_footer(prov)
    return "\n".join(lines) + "\n"


COST_HEAD = ["Cost (wall)", "Denoiser evals"]
COST_NOTE = (
    "Cost: wall time of the workflow jobs that made one schedule (Snakemake benchmarks, shared "
    "upstream jobs such as a q-profile, a GITS cost matrix or the K=18 ART-RL run counted in "
    "full) and the per-sample denoiser evaluations they made (a JVP counts as one), mean over "
    "this table's K; on the machine that ran the workflow."
)


def cost_cells(row: pd.Series) -> list[str]:
    """The two cost cells of a table row (artrl.costs formats)."""
    return [fmt_seconds(row["cost_wall_s"]), fmt_evals(row["cost_denoiser_evals"])]


def write_fid_table(
    records: Sequence[FidRecord],
    labels: dict[str, str] | None,
    *,
    out_csv: str | os.PathLike,
    out_md: str | os.PathLike,
    prov: dict[str, Any] | None = None,
    reference: FidRecord | None = None,
    reference_label: str | None = None,
    paper: PaperTable | None = None,
    solver: str | None = None,
    dataset: str | None = None,
    title: str | None = None,
    costs: dict[str, dict[str, float]] | None = None,
) -> pd.DataFrame:
    df = fid_table(
        records, labels, prov, reference=reference, reference_label=reference_label, costs=costs
    )
    write_text(out_csv, df.to_csv(index=False))
    md = fid_markdown(df, paper, solver=solver, dataset=dataset, title=title, prov=prov)
    write_text(out_md, md)
    return df


# ----------------------------------------------------------------------------------------------
# Figures


def fid_figure(
    records: Sequence[FidRecord],
    labels: dict[str, str] | None,
    out: str | os.PathLike,
    *,
    solver: str | None = None,
    reference: FidRecord | None = None,
    reference_label: str | None = None,
    title: str | None = None,
) -> Path:
    """FID against NFE, log-log, one line per schedule (min–max bars over seed blocks), the
    reference as a dashed horizontal line."""
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    plt = _pyplot()
    labels = dict(labels or {})
    solver = solver or _one([r.solver for r in records])
    fig, ax = plt.subplots(figsize=(6.0, 4.5))
    order = _order(records, labels)
    for i, name in enumerate(order):
        rs = sorted((r for r in records if r.name == name), key=lambda r: r.nfe)
        x = np.array([r.nfe for r in rs], dtype=float)
        y = np.array([r.fid for r in rs])
        kw = dict(markersize=4, linewidth=1.5, **line_style(i, len(order)))
        if any(r.blocks > 1 for r in rs):
            err = np.array([[r.fid - r.fid_min for r in rs], [r.fid_max - r.fid for r in rs]])
            ax.errorbar(x, y, yerr=err, capsize=2, label=labels.get(name, name), **kw)
        else:
            ax.plot(x, y, label=labels.get(name, name), **kw)
    if reference is not None:
        lab = reference_label or _default_reference_label(reference, labels)
        ax.axhline(
            reference.fid,
            color="0.3",
            linestyle="--",
            linewidth=1.2,
            label=f"{lab}, NFE {reference.nfe}: {reference.fid:.2f}",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(sorted({r.nfe for r in records}))
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(_nfe_axis_label(solver))
    ax.set_ylabel("FID (lower is better)")
    dataset = _one([r.dataset for r in records])
    ax.set_title(title or f"FID against NFE{f': {dataset}' if dataset else ''}")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(fig, out)


def load_schedules(entries: Sequence[str]) -> list[tuple[str, Schedule]]:
    """``NAME=PATH`` schedule JSONs; the same (name, K) twice is an error."""
    out: list[tuple[str, Schedule]] = []
    seen: dict[tuple[str, int], str] = {}
    for entry in entries:
        try:
            name, path = _split_entry(entry)
        except ReportError as e:
            raise ReportError(f"--schedule {e}") from None
        try:
            s = Schedule.load(path)
        except ScheduleError as e:
            raise ReportError(str(e)) from None
        if (name, s.K) in seen:
            raise ReportError(
                f"{path}: schedule {name!r} at K={s.K} already read from {seen[name, s.K]}"
            )
        seen[name, s.K] = str(path)
        out.append((name, s))
    if not out:
        raise ReportError("no schedule files given")
    return out


@dataclass(frozen=True)
class _Named:
    name: str


def sigma_figure(
    schedules: Sequence[tuple[str, Schedule]],
    labels: dict[str, str] | None,
    out: str | os.PathLike,
    *,
    x: str = "fraction",
    title: str | None = None,
) -> Path:
    """σ_k (log scale) against k/K (``x="fraction"``) or k (``"index"``), one line per schedule,
    one panel per K (at most 4). σ_K = 0 is left off the log axis."""
    if x not in ("fraction", "index"):
        raise ReportError(f"x must be 'fraction' or 'index', got {x!r}")
    labels = dict(labels or {})
    Ks = sorted({s.K for _, s in schedules})
    if len(Ks) > MAX_SIGMA_PANELS:
        raise ReportError(
            f"schedules at {len(Ks)} different K {Ks}; at most {MAX_SIGMA_PANELS} panels"
        )
    order = _order([_Named(n) for n, _ in schedules], labels)
    style = {n: line_style(i, len(order)) for i, n in enumerate(order)}
    plt = _pyplot()
    outside = len(Ks) == 1 and len(order) > 8  # many methods at one K: legend beside the axes
    size = (8.6, 4.4) if outside else (4.6 * len(Ks), 4.0)
    fig, axes = plt.subplots(1, len(Ks), figsize=size, squeeze=False, sharey=True)
    for ax, K in zip(axes[0], Ks, strict=True):
        here = {n: s for n, s in schedules if s.K == K}
        for name in (n for n in order if n in here):
            sig = here[name].sigmas[:-1] if here[name].sigmas[-1] == 0 else here[name].sigmas
            k = np.arange(len(sig), dtype=float)
            ax.plot(
                k / K if x == "fraction" else k,
                sig,
                markersize=3 if K > 40 else 4,
                linewidth=1.3,
                label=labels.get(name, name),
                **style[name],
            )
        ax.set_yscale("log")
        ax.set_title(f"K = {K}")
        ax.set_xlabel("k / K" if x == "fraction" else "step index k")
        ax.grid(True, which="both", alpha=0.3)
        if outside:
            ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        else:
            ax.legend(fontsize=7, frameon=False)
    axes[0][0].set_ylabel(r"$\sigma_k$ (log scale; $\sigma_K = 0$ not shown)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, out)


@dataclass(frozen=True)
class Shard:
    """The first images of one sample shard and, if the shard has ``meta``, its NFE."""

    name: str
    images: np.ndarray
    nfe: int | None
    path: str


def load_shard(entry: str, n: int | None = None) -> Shard:
    """Read ``NAME=PATH`` (npz: ``images`` uint8 [N, H, W, C] with C in {1, 3}, optional
    ``meta`` JSON string); keep the first ``n`` images."""
    try:
        name, path = _split_entry(entry)
    except ReportError as e:
        raise ReportError(f"--shard {e}") from None
    p = str(path)
    if not path.is_file():
        raise ReportError(f"{p}: shard file not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            if "images" not in z.files:
                raise ReportError(f"{p}: shard lacks key 'images' (has {sorted(z.files)})")
            images = z["images"]
            meta_text = str(z["meta"]) if "meta" in z.files else None
    except ReportError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
        raise ReportError(f"{p}: not a readable .npz shard ({e})") from None
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ReportError(
            f"{p}: 'images' must be uint8 [N, H, W, C] with C = 1 or 3, got "
            f"{images.dtype} {list(images.shape)}"
        )
    if len(images) == 0:
        raise ReportError(f"{p}: shard has no images")
    nfe = None
    if meta_text is not None:
        try:
            meta = json.loads(meta_text)
        except json.JSONDecodeError as e:
            raise ReportError(f"{p}: 'meta' is not valid JSON ({e})") from None
        v = meta.get("nfe") if isinstance(meta, dict) else None
        nfe = v if isinstance(v, int) and not isinstance(v, bool) else None
    return Shard(name=name, images=images[:n] if n else images, nfe=nfe, path=p)


def mosaic(images: np.ndarray, cols: int, pad: int = 1) -> np.ndarray:
    """Tile uint8 [N, H, W, C] images into one [rows·(H+pad)−pad, cols·(W+pad)−pad, C] image
    (gaps and unused cells white)."""
    N, H, W, C = images.shape
    rows = math.ceil(N / cols)
    out = np.full((rows * (H + pad) - pad, cols * (W + pad) - pad, C), 255, dtype=np.uint8)
    for i in range(N):
        r, c = divmod(i, cols)
        out[r * (H + pad) : r * (H + pad) + H, c * (W + pad) : c * (W + pad) + W] = images[i]
    return out


def sample_grid(
    shards: Sequence[Shard],
    labels: dict[str, str] | None,
    out: str | os.PathLike,
    *,
    n: int = 64,
    title: str | None = None,
    panels_per_row: int = 4,
) -> Path:
    """One panel per schedule: the first ``n`` images in a ⌈√n⌉-column grid (8 × 8 for 64),
    titled with the label and the NFE from the shard's ``meta``."""
    if n < 1:
        raise ReportError(f"--n must be >= 1, got {n}")
    if not shards:
        raise ReportError("no shard files given")
    labels = dict(labels or {})
    by = {s.name: s for s in shards}
    if len(by) != len(shards):
        dup = next(s.name for s in shards if sum(t.name == s.name for t in shards) > 1)
        raise ReportError(f"schedule {dup!r} given twice")
    order = _order(shards, labels)
    cols = math.ceil(math.sqrt(n))
    ncol = min(len(order), panels_per_row)
    nrow = math.ceil(len(order) / ncol)
    plt = _pyplot()
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.0 * ncol, 3.3 * nrow), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, name in zip(axes.flat, order, strict=False):
        s = by[name]
        m = mosaic(s.images[:n], cols)
        if m.shape[-1] == 1:
            ax.imshow(m[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        else:
            ax.imshow(m, interpolation="nearest")
        head = labels.get(name, name)
        ax.set_title(f"{head}\nNFE {s.nfe}" if s.nfe is not None else head, fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, out)


# ----------------------------------------------------------------------------------------------
# Command line


def _paper(name: str | None) -> PaperTable | None:
    return PAPER_FID[name] if name and name != "none" else None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m artrl.report_images",
        description="Tables and figures for the image benchmarks: FID against NFE (Tables "
        "2–6 of the extended paper, arXiv 2607.02137), σ-grids and sample grids. Inputs are "
        "NAME=PATH (NAME = schedule name in the config; a bare PATH takes its parent folder's "
        "name). Errors exit with code 2.",
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    fmt = argparse.ArgumentDefaultsHelpFormatter

    def labels_arg(q: argparse.ArgumentParser) -> None:
        q.add_argument(
            "--labels-json",
            default=None,
            help='JSON object {"name": "label", ...}; its order is the row/legend/panel order',
        )

    def fid_args(q: argparse.ArgumentParser) -> None:
        q.add_argument(
            "--fid",
            nargs="+",
            required=True,
            metavar="[NAME=]PATH",
            help="FID JSONs of python -m artrl.metrics.fid (keys fid, fid_blocks, blocks, "
            "n_images, nfe, K, solver, method), one per (schedule, NFE)",
        )
        labels_arg(q)
        q.add_argument(
            "--solver",
            choices=sorted(registry.SOLVERS),
            default=None,
            help="the sampler of every --fid file (checked against their 'solver'); sets the "
            "NFE convention shown (heun 2K−1, euler K, rk4 4K−3)",
        )
        q.add_argument(
            "--reference",
            default=None,
            metavar="[NAME=]PATH",
            help="FID JSON of the model's floor (e.g. EDM, Heun K=40), drawn/listed apart",
        )
        q.add_argument(
            "--reference-label",
            default=None,
            help="label of the reference; if unset, '<label>, <Solver> K=<K> (floor)'",
        )

    t = sub.add_parser("fid-table", help="CSV + Markdown FID table", formatter_class=fmt)
    fid_args(t)
    t.add_argument(
        "--paper",
        choices=[*sorted(PAPER_FID), "none"],
        default="none",
        help="append the paper's published FIDs as a separate table (EXT Table n = Table n of "
        "the extended paper, arXiv 2607.02137: cifar10-heun = EXT Table 2, cifar10-euler = "
        "EXT Table 3, mnist-rk4 = EXT Table 4, cifar10-resampled = EXT Table 5, "
        "{afhqv2,ffhq,imagenet64}-heun = EXT Table 6)",
    )
    t.add_argument(
        "--dataset",
        default=None,
        help="dataset named in the title; if unset, the files' 'dataset' key",
    )
    t.add_argument(
        "--title", default=None, help="Markdown title; if unset, from the dataset and solver"
    )
    t.add_argument(
        "--costs",
        type=Path,
        default=None,
        help="cost CSV of python -m artrl.costs: adds the cost of making each schedule",
    )
    t.add_argument("--config-digest", default=None, help="provenance: config digest")
    t.add_argument("--seed", type=int, default=None, help="provenance: seed")
    t.add_argument("--out-csv", required=True, type=Path)
    t.add_argument("--out-md", required=True, type=Path)

    f = sub.add_parser("fid-figure", help="FID against NFE (log-log)", formatter_class=fmt)
    fid_args(f)
    f.add_argument("--title", default=None)
    f.add_argument("--out", required=True, type=Path, help="PNG")

    s = sub.add_parser(
        "sigma-figure", help="σ-grids of several schedules, one panel per K", formatter_class=fmt
    )
    s.add_argument(
        "--schedule",
        nargs="+",
        required=True,
        metavar="[NAME=]PATH",
        help=f"schedule JSONs; files at different K give one panel per K (at most "
        f"{MAX_SIGMA_PANELS})",
    )
    labels_arg(s)
    s.add_argument(
        "--x",
        choices=("fraction", "index"),
        default="fraction",
        help="x axis: normalised step k/K or the step index k",
    )
    s.add_argument("--title", default=None)
    s.add_argument("--out", required=True, type=Path, help="PNG")

    g = sub.add_parser(
        "sample-grid", help="first n images of one shard per schedule", formatter_class=fmt
    )
    g.add_argument(
        "--shard",
        nargs="+",
        required=True,
        metavar="[NAME=]PATH",
        help="sample shard .npz files (images uint8 [N, H, W, C], C = 1 or 3; optional meta "
        "JSON with 'nfe'), one per schedule",
    )
    labels_arg(g)
    g.add_argument("--n", type=int, default=64, help="images per panel (⌈√n⌉ columns)")
    g.add_argument("--title", default=None)
    g.add_argument("--out", required=True, type=Path, help="PNG")
    return p


def main(argv: list[str] | None = None) -> Path:
    a = _parser().parse_args(argv)
    try:
        labels = _labels(a.labels_json)
        if a.cmd in ("fid-table", "fid-figure"):
            dataset = getattr(a, "dataset", None)
            records = load_fid(a.fid, solver=a.solver, dataset=dataset)
            ref = load_fid_file(a.reference, dataset=dataset) if a.reference else None
            if a.cmd == "fid-table":
                write_fid_table(
                    records,
                    labels,
                    out_csv=a.out_csv,
                    out_md=a.out_md,
                    prov=provenance(a.config_digest, a.seed),
                    reference=ref,
                    reference_label=a.reference_label,
                    paper=_paper(a.paper),
                    solver=a.solver,
                    dataset=a.dataset,
                    title=a.title,
                    costs=load_row_costs(a.costs, [r.name for r in records]),
                )
                return a.out_csv
            return fid_figure(
                records,
                labels,
                a.out,
                solver=a.solver,
                reference=ref,
                reference_label=a.reference_label,
                title=a.title,
            )
        if a.cmd == "sigma-figure":
            return sigma_figure(load_schedules(a.schedule), labels, a.out, x=a.x, title=a.title)
        if a.n < 1:
            raise ReportError(f"--n must be >= 1, got {a.n}")
        shards = [load_shard(e, a.n) for e in a.shard]
        return sample_grid(shards, labels, a.out, n=a.n, title=a.title)
    except (ReportError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
