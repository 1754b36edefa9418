"""The tables: CSV (full precision, provenance on every row) and Markdown writing helpers shared
by the W2 table of the 1-D Gaussian benchmark (arXiv 2601.18681 Table 1) and the FID tables of
the image benchmarks (Tables 2–6 of its extended version, arXiv 2607.02137), with the paper's
published rows beside ours."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import pandas as pd

from artrl.costs import fmt_evals, fmt_seconds
from artrl.io import write_text
from artrl.report.common import PROVENANCE_COLUMNS, provenance_footer
from artrl.report.published import PAPER_K, PaperTable
from artrl.report.records import FidRecord, MetricRecord, _nfe_formula, _solver_name, is_art


def _order(records: Sequence[MetricRecord], labels: dict[str, str]) -> list[str]:
    """Names in ``labels`` order (config order), then any others in first-seen order."""
    names = [n for n in labels if any(r.name == n for r in records)]
    for r in records:
        if r.name not in names:
            names.append(r.name)
    return names


# ----------------------------------------------------------------------------------------------
# W2 table (1-D Gaussian)


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


def _one(values: Sequence[Any]) -> Any:
    """The single distinct non-null value, ``";"``-joined distinct values, or None."""
    vals = sorted({v for v in values if v is not None}, key=str)
    if not vals:
        return None
    return vals[0] if len(vals) == 1 else ";".join(str(v) for v in vals)


def _row_method(rs: Sequence[FidRecord], name: str) -> str:
    return next((r.method for r in rs if r.method), name)


# ----------------------------------------------------------------------------------------------
# FID table (image benchmarks)


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
