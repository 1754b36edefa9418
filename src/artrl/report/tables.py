"""The tables: CSV (full precision, provenance on every row) and Markdown writing helpers shared
by the W2 table of the 1-D Gaussian benchmark (arXiv 2601.18681 Table 1) and the FID tables of
the image benchmarks (Tables 2–6 of its extended version, arXiv 2607.02137), with the paper's
published rows beside ours.

Replicates (issue 16). A cell measured once (every cell of the table has one replicate) is
written exactly as before. When the cells have R > 1 replicates (:mod:`artrl.report.records`
checks that every cell has the same ones), each numeric column ``<q>_<axis><x>`` (``fid_NFE5``,
``fid_ratio_NFE5``, ``w2_K5``, ``w2_mc_K5``, ``art_cost_K100``, ``art_cost_refined_K100``)
holds the mean over the replicates, followed by the statistic columns named like the seed-block
columns ``fid_min_NFE{n}`` / ``fid_max_NFE{n}``, the statistic between the quantity and the
axis:

* ``<q>_sd_<axis><x>``: the sample standard deviation over the replicates (ddof=1);
* ``<q>_lo_<axis><x>`` / ``<q>_hi_<axis><x>``: their minimum and maximum (not for the ratio,
  which has ``fid_ratio_sd_NFE{n}`` only);

and every row has ``n_replicates`` and ``replicate_seeds`` (the replicates' schedule-making
seeds, ``;``-joined in replicate order; ``sample_seeds`` of the FID table likewise lists each
replicate's seed range). A cell with several seed blocks enters with its mean over the blocks;
``fid_min_NFE{n}`` / ``fid_max_NFE{n}`` are then the extremes over every replicate's blocks. The
ART ratio is taken per replicate (the ART row's FID at replicate r ÷ the lowest non-ART FID at
replicate r), then averaged. Markdown cells read ``mean ± sd`` (each with the decimals of the
single-replicate table) under a note naming R and the seeds. The FID table bolds a column's
lowest mean only when its lead holds beyond the spread (second-lowest mean − lowest mean > the
sum of their sds, :func:`artrl.report.replicates.lead_holds`); otherwise it bolds none there and
marks with a trailing " ≈" every row whose mean − sd ≤ lowest mean + its sd.

FID estimator noise (issue 16). With R > 1 replicates and at least one seed-independent row
(registry kind "baseline": uniform, edm, dpm, ays), those rows differ between replicates only by
their disjoint sample seeds, so their spread is the noise of the FID estimator at the table's
image count. The Markdown then carries one more line under the notes (:func:`noise_note`): the
pooled sample std over the baseline rows per NFE, and the closest pair of schedule rows (the
smallest |mean difference| over every NFE column) with the images per cell that would separate
it at 2σ, FID's estimator variance taken to fall as 1/N. The CSV is unchanged.
"""

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
from artrl.report.records import (
    FidRecord,
    MetricRecord,
    _nfe_formula,
    _solver_name,
    check_replicates,
    is_art,
    is_baseline,
)
from artrl.report.replicates import (
    BOLD,
    TIE,
    column_marks,
    estimator_noise,
    images_to_separate,
    replicate_stats,
)


def _order(records: Sequence[MetricRecord], labels: dict[str, str]) -> list[str]:
    """Names in ``labels`` order (config order), then any others in first-seen order."""
    names = [n for n in labels if any(r.name == n for r in records)]
    for r in records:
        if r.name not in names:
            names.append(r.name)
    return names


# ----------------------------------------------------------------------------------------------
# Replicates


def _put(
    row: dict[str, Any],
    q: str,
    at: str,
    values: Sequence[Any],
    multi: bool,
    *,
    spread: bool = True,
) -> None:
    """Column ``{q}_{at}`` (``at`` e.g. ``K5`` or ``NFE9``): the one value (None: NaN), or with
    ``multi`` the mean over the replicates' ``values``, then ``{q}_sd_{at}`` and, with
    ``spread``, ``{q}_lo_{at}`` / ``{q}_hi_{at}``."""
    if not multi:
        v = values[0] if values else None
        row[f"{q}_{at}"] = math.nan if v is None else v
        return
    st = replicate_stats(values)
    row[f"{q}_{at}"] = st.mean
    row[f"{q}_sd_{at}"] = st.sd
    if spread:
        row[f"{q}_lo_{at}"] = st.lo
        row[f"{q}_hi_{at}"] = st.hi


def _by_replicate(rs: Sequence[Any], attr: str) -> str | None:
    """Each replicate's ``attr`` (its distinct values ``/``-joined, ``?`` where none is
    known), ``;``-joined in replicate order; None when no record says."""
    parts = []
    for k in sorted({r.replicate for r in rs}):
        vals = sorted({str(getattr(r, attr)) for r in rs if r.replicate == k} - {"None"})
        parts.append("/".join(vals) if vals else "?")
    return ";".join(parts) if any(x != "?" for x in parts) else None


def _fmt2(v: Any) -> str:
    return _fmt(v, 2)


def _pm(mean: Any, sd: Any, fmt: Any) -> str:
    """``mean ± sd`` (``fmt`` each), the mean alone without a finite sd, — without a mean."""
    if not _finite(mean):
        return "—"
    return f"{fmt(mean)} ± {fmt(sd)}" if _finite(sd) else fmt(mean)


def marked(cell: str, mark: str) -> str:
    """A Markdown cell with its :func:`artrl.report.replicates.column_marks` mark: bold for a
    lead that holds, a trailing ≈ for a tie."""
    return f"**{cell}**" if mark == BOLD else f"{cell} ≈" if mark == TIE else cell


def _replicate_note(df: pd.DataFrame, sample_seeds: bool) -> str:
    """The note "mean ± sample std over R replicates (replicate seeds …; sample seeds …)" from
    the rows' ``n_replicates``, ``replicate_seeds`` and (with ``sample_seeds``) ``sample_seeds``
    columns."""
    R = _one([int(v) for v in df["n_replicates"] if _finite(v) and v > 1])

    def listed(col: str) -> str:
        vals = sorted({str(v) for v in df[col] if isinstance(v, str) and v}) if col in df else []
        return " or ".join(v.replace(";", ", ") for v in vals) if vals else "not recorded"

    seeds = [f"replicate seeds {listed('replicate_seeds')}"]
    if sample_seeds:
        seeds.append(f"sample seeds {listed('sample_seeds')}")
    return f"mean ± sample std over {R} replicates ({'; '.join(seeds)})"


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
    not given). With several replicates per cell: their means, ``_sd_`` / ``_lo_`` / ``_hi_``
    columns after each, ``n_replicates`` and ``replicate_seeds`` (module docstring)."""
    check_replicates(records)
    labels = dict(labels or {})
    Ks = sorted({r.K for r in records})
    Kmax = Ks[-1]
    multi = len({r.replicate for r in records}) > 1
    by: dict[tuple[str, int], list[MetricRecord]] = {}
    for r in sorted(records, key=lambda r: r.replicate):
        by.setdefault((r.name, r.K), []).append(r)
    rows = []
    for name in _order(records, labels):
        mine = [r for r in records if r.name == name]
        row: dict[str, Any] = {"name": name, "label": labels.get(name, name)}
        for k in Ks:
            _put(row, "w2", f"K{k}", [r.w2_exact for r in by.get((name, k), [])], multi)
        for k in Ks:
            _put(row, "w2_mc", f"K{k}", [r.w2_mc for r in by.get((name, k), [])], multi)
        top = by.get((name, Kmax), [])
        _put(row, "art_cost", f"K{Kmax}", [r.art_cost for r in top], multi)
        if any(r.art_cost_refined is not None for r in records):
            _put(row, "art_cost_refined", f"K{Kmax}", [r.art_cost_refined for r in top], multi)
        first = mine[0]
        row["method"] = first.method
        row["dataset"] = first.dataset
        row["solver"] = first.solver
        digests = sorted({r.schedule_config_digest or "" for r in mine} - {""})
        row["schedule_config_digest"] = ";".join(digests)
        # the schedule files the numbers came from, in K (then replicate) order (12 hex digits)
        shas = [r.schedule_sha256 for k in Ks for r in by.get((name, k), [])]
        row["schedule_sha256"] = ";".join(s[:12] for s in shas if s)
        if any(r.numerics for r in records):  # issue 16: the jobs' threads and CPU kernels
            row["numerics"] = _distinct([r.numerics for r in mine])
        if multi:
            row["n_replicates"] = len({r.replicate for r in mine})
            row["replicate_seeds"] = _by_replicate(mine, "replicate_seed")
        if costs is not None:
            row.update(costs.get(name, {"cost_wall_s": math.nan, "cost_denoiser_evals": math.nan}))
        row.update(dict.fromkeys(PROVENANCE_COLUMNS, "unknown"))
        row.update(prov or {})
        rows.append(row)
    return pd.DataFrame(rows)


def _distinct(values: Sequence[str | None]) -> str:
    """The distinct non-empty values, in first-seen order, joined by " | "."""
    return " | ".join(dict.fromkeys(v for v in values if v))


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
    """Markdown: exact W2 (3 decimals) with the paper's rows beside ours, then Monte-Carlo W2;
    ``mean ± sd`` cells when the table has several replicates."""
    Ks = _ks(df, "w2_K")
    multi = "n_replicates" in df.columns

    def val(row: pd.Series, col: str, fmt: Any) -> str:
        if not multi:
            return fmt(row[col])
        q, at = col.rsplit("_", 1)
        sd = f"{q}_sd_{at}"
        return _pm(row[col], row[sd] if sd in row.index else None, fmt)

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
    if multi and len(df):
        lines += [f"Each cell: {_replicate_note(df, sample_seeds=False)}.", ""]
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
        cells = [str(row["label"]), "ours", *(val(row, f"w2_K{k}", _fmt_w2) for k in Ks)]
        if cost_col:
            cells.append(val(row, cost_col, lambda v: _fmt(v, 4)))
        if ref_col:
            cells.append(val(row, ref_col, lambda v: _fmt(v, 4)))
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
            cells = [val(row, f"w2_mc_K{k}", _fmt_w2) for k in mc_Ks]
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
    (``prov``; "unknown" where not given). With several replicates per cell: their means,
    ``_sd_`` / ``_lo_`` / ``_hi_`` columns after each, the ratio per replicate then averaged,
    ``n_replicates`` and ``replicate_seeds`` (module docstring), and ``replicate_score_model``
    (whether every cell of the row sampled its replicate's own score model) when some file says
    so."""
    check_replicates(records)
    labels = dict(labels or {})
    nfes = sorted({r.nfe for r in records} | ({reference.nfe} if reference else set()))
    blocks = any(r.blocks > 1 for r in records) or bool(reference and reference.blocks > 1)
    multi = len({r.replicate for r in records}) > 1
    with_numerics = any(r.numerics for r in records) or bool(reference and reference.numerics)
    own_models = multi and any(r.replicate_score_model for r in records)
    by: dict[tuple[str, int], list[FidRecord]] = {}
    for r in sorted(records, key=lambda r: r.replicate):
        by.setdefault((r.name, r.nfe), []).append(r)
    best_other = _best_other(records)

    def row_for(name: str, rs: Sequence[FidRecord], label: str, role: str) -> dict[str, Any]:
        method = _row_method(rs, name)
        row: dict[str, Any] = {"name": name, "label": label, "role": role}
        mine: dict[int, list[FidRecord]] = {}
        for r in rs:
            mine.setdefault(r.nfe, []).append(r)
        for n in nfes:
            _put(row, "fid", f"NFE{n}", [r.fid for r in mine.get(n, [])], multi)
        if blocks:
            for n in nfes:
                cell = mine.get(n)
                row[f"fid_min_NFE{n}"] = min(r.fid_min for r in cell) if cell else math.nan
                row[f"fid_max_NFE{n}"] = max(r.fid_max for r in cell) if cell else math.nan
        art = role == "schedule" and is_art(method)
        for n in nfes:
            ratios = [
                r.fid / best_other[n, r.replicate][1]
                for r in mine.get(n, [])
                if art and (n, r.replicate) in best_other
            ]
            _put(row, "fid_ratio", f"NFE{n}", ratios, multi, spread=False)
        for n in nfes:
            cell = mine.get(n)
            row[f"K_NFE{n}"] = cell[0].K if cell else None
        row["n_images"] = _one([r.n_images for r in rs])
        row["blocks"] = _one([r.blocks for r in rs])
        if multi:
            row["n_replicates"] = len({r.replicate for r in rs})
        row["method"] = method
        row["dataset"] = _one([r.dataset for r in rs])
        row["solver"] = _one([r.solver for r in rs])
        row["schedule_config_digest"] = _one([r.schedule_config_digest for r in rs])
        # the schedule files the cells' images came from, in column (then replicate) order
        # (12 hex digits each)
        shas = [r.schedule_sha256[:12] for r in rs if r.schedule_sha256]
        row["schedule_sha256"] = ";".join(shas) if shas else None
        if with_numerics:  # issue 16: the sampling and feature jobs' threads and CPU kernels
            row["numerics"] = _distinct([r.numerics for r in rs])
        if multi:
            row["sample_seeds"] = _by_replicate(rs, "sample_seeds")
            row["replicate_seeds"] = _by_replicate(rs, "replicate_seed")
            if own_models:  # config replicate_score_model: a score model per replicate
                row["replicate_score_model"] = all(r.replicate_score_model for r in rs)
        else:
            row["sample_seeds"] = _one([r.sample_seeds for r in rs])
        if costs is not None:
            nan = {"cost_wall_s": math.nan, "cost_denoiser_evals": math.nan}
            row.update(costs.get(name, nan) if role == "schedule" else nan)
        row.update(dict.fromkeys(PROVENANCE_COLUMNS, "unknown"))
        row.update(prov or {})
        return row

    rows = []
    for name in _order(records, labels):
        rs = [r for n in nfes for r in by.get((name, n), [])]
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


def _best_other(records: Sequence[FidRecord]) -> dict[tuple[int, int], tuple[str, float]]:
    """(NFE, replicate) -> (name, FID) of the lowest finite FID among the non-ART rows."""
    method = {}
    for r in records:
        method.setdefault(r.name, _row_method([x for x in records if x.name == r.name], r.name))
    best: dict[tuple[int, int], tuple[str, float]] = {}
    for r in records:
        if is_art(method[r.name]) or not math.isfinite(r.fid):
            continue
        key = (r.nfe, r.replicate)
        if key not in best or r.fid < best[key][1]:
            best[key] = (r.name, r.fid)
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
    the reference as the model's floor, the ART ratio table, then the paper's rows if asked.
    With several replicates: "mean ± sd" cells, the best bold only where its lead holds beyond
    the spread, "≈" for the rows tied with it otherwise (module docstring)."""
    nfes_all = _nfes(df)
    multi = "n_replicates" in df.columns
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
    if multi:
        if blocks is not None:
            notes.append(f"each replicate's FID the mean over {blocks} disjoint seed blocks")
        notes.append(_replicate_note(sched, sample_seeds=True))
        if "replicate_score_model" in sched and sched["replicate_score_model"].eq(True).all():
            notes.append("each replicate sampled its own score model")
        notes.append(
            "lowest mean FID per column in bold where its lead holds beyond the spread "
            "(second-lowest mean − lowest mean > the sum of their sds)"
        )
    else:
        if blocks is not None:
            notes.append(f"mean (min–max) over {blocks} disjoint seed blocks")
        notes.append("lowest FID per column in bold")
    lines += ["FID, " + "; ".join(notes) + ".", ""]
    noise = noise_note(sched, nfes, n_images) if multi else None
    if noise:
        lines += [noise, ""]

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
    # with replicates: per column, bold / ≈ / nothing per row (artrl.report.replicates)
    marks = {
        n: column_marks(list(sched[f"fid_NFE{n}"]), list(sched[f"fid_sd_NFE{n}"]))
        for n in (nfes if multi else [])
    }
    for i, (_, row) in enumerate(sched.iterrows()):
        if multi:
            cells = []
            for n in nfes:
                c = _pm(row[f"fid_NFE{n}"], row[f"fid_sd_NFE{n}"], _fmt2)
                mark = marks[n][i]
                cells.append(marked(c, mark))
        else:
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
        if multi:
            v = _pm(row[f"fid_NFE{rn}"], row[f"fid_sd_NFE{rn}"], _fmt2)
        else:
            v = _cell(row[f"fid_NFE{rn}"], col("fid_min_NFE", rn, row), col("fid_max_NFE", rn, row))
        lab = str(row["label"])
        lab = f"{lab}, NFE {rn}" if "floor" in lab.lower() else f"{lab}: model floor, NFE {rn}"
        tail = ["—"] * len(COST_HEAD) if has_cost else []
        lines.append(_md_row([f"*{lab}*", *([f"*{v}*"] * len(nfes)), *tail]))
    if any(TIE in m for m in marks.values()):
        lines += ["", TIE_NOTE]
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
        if multi:
            lines += [
                "ART FID ÷ the lowest FID among the other schedules at the same NFE, taken per "
                "replicate (each replicate's ART FID over that replicate's lowest other FID), "
                "then mean ± sample std over the replicates (below 1: the ART schedule is "
                "better). The best other row named below has the lowest mean FID.",
                "",
            ]
        else:
            lines += [
                "ART FID ÷ the lowest FID among the other schedules at the same NFE "
                "(below 1: the ART schedule is better).",
                "",
            ]
        lines += [_md_row(["Schedule", *(f"NFE={n}" for n in nfes)])]
        lines += [_md_row(["---"] + ["---:"] * len(nfes))]
        for _, row in art.iterrows():
            if multi:
                vals = [
                    _pm(row[f"fid_ratio_NFE{n}"], row[f"fid_ratio_sd_NFE{n}"], _fmt2) for n in nfes
                ]
            else:
                vals = [_fmt(row[f"fid_ratio_NFE{n}"], 2) for n in nfes]
            lines.append(_md_row([str(row["label"]), *vals]))
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


def noise_note(sched: pd.DataFrame, nfes: Sequence[int], n_images: Any) -> str | None:
    """The FID estimator noise line of a replicated table (module docstring), or None without a
    baseline row with a finite sd. ``sched``: the schedule rows (means ``fid_NFE{n}``, sample
    stds ``fid_sd_NFE{n}``); ``n_images``: the images per cell (the pair sentence needs one
    number). Values with 3 decimals (the table's 2, plus one)."""
    base = sched[[is_baseline(m) for m in sched["method"]]]
    noise = {n: estimator_noise(base[f"fid_sd_NFE{n}"]) for n in nfes}
    noise = {n: v for n, v in noise.items() if math.isfinite(v)}
    if not noise:
        return None
    N = int(float(n_images)) if _finite(n_images) else None
    at = f" at {N:,} images per cell" if N is not None else ""
    R = _one([int(v) for v in base["n_replicates"] if _finite(v) and v > 1])
    names = ", ".join(str(v) for v in base["label"])
    vals = ", ".join(f"NFE {n} {_fmt(v, 3)}" for n, v in noise.items())
    out = (
        f"FID estimator noise{at} (pooled sample std over the {R} replicates of the "
        f"seed-independent schedules: {names}): {vals}."
    )
    # the closest pair of rows: smallest |mean difference| over the NFEs with a noise (first
    # found on ties: NFE ascending, then table order). Rows with exactly equal means are
    # skipped: they sampled the same grid (EDM and DPM both give [σ_max, σ_min, 0] at K = 2)
    # with the same seeds, and no number of images would separate them.
    pair = None
    for n in noise:
        rows = [(str(r["label"]), float(r[f"fid_NFE{n}"])) for _, r in sched.iterrows()]
        rows = [x for x in rows if math.isfinite(x[1])]
        for i, (a, ma) in enumerate(rows):
            for b, mb in rows[i + 1 :]:
                if ma != mb and (pair is None or abs(ma - mb) < pair[0]):
                    pair = (abs(ma - mb), n, a, b)
    if pair is None or N is None:
        return out
    d, n, a, b = pair
    need = images_to_separate(N, noise[n], d)
    out += f" Closest pair: {a} vs {b} at NFE {n} ({_fmt(d, 3)} apart): "
    return out + (
        f"about {int(need):,} images per cell would separate them at 2σ of a difference of two "
        f"measurements ({N:,} · 8 · noise² / d², rounded up to a multiple of 1,000; FID's "
        "estimator variance taken to fall as 1/N)."
    )


COST_HEAD = ["Cost (wall)", "Denoiser evals"]


TIE_NOTE = (
    "≈: in that column no schedule leads beyond the spread (the second-lowest mean FID minus "
    "the lowest is not more than the sum of their sample stds), so none is bold; the rows "
    "marked are tied with the lowest mean (their mean − sd ≤ the lowest mean + its sd)."
)


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
