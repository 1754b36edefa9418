"""The command lines: ``python -m artrl.report`` (1-D W2 tables and figures, ART-RL
diagnostics), ``python -m artrl.report_images`` (FID tables, figures, sample grids) and
``python -m artrl.report_matrix`` (the cross-data-set matrix). Errors exit with code 2."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from artrl import registry
from artrl.costs import load_row_costs
from artrl.io import file_sha256, read_npz_all
from artrl.report.common import ReportError, _labels, provenance
from artrl.report.figures import (
    MAX_SIGMA_PANELS,
    StatePanel,
    art_diagnostics,
    fid_figure,
    sample_grid,
    sigma_figure,
    state_paths_figure,
    theta_figure,
    w2_figure,
)
from artrl.report.matrix import load_cells, write_matrix
from artrl.report.published import PAPER_FID, PAPER_TABLES, PAPER_THETA, PaperTable
from artrl.report.records import load_fid, load_fid_file, load_metrics, load_schedules, load_shard
from artrl.report.tables import write_fid_table, write_w2_table
from artrl.schedules import Schedule

# ----------------------------------------------------------------------------------------------
# python -m artrl.report


def _paper_w2(name: str | None) -> dict | None:
    return PAPER_TABLES[name] if name else None


def w2_parser() -> argparse.ArgumentParser:
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


def report_main(argv: list[str] | None = None) -> Path:
    a = w2_parser().parse_args(argv)
    try:
        if a.cmd == "w2-table":
            records = load_metrics(a.metrics)
            write_w2_table(
                records,
                _labels(a.labels_json),
                out_csv=a.out_csv,
                out_md=a.out_md,
                prov=provenance(a.config_digest, a.seed),
                paper=_paper_w2(a.paper),
                costs=load_row_costs(a.costs, [r.name for r in records]),
            )
            return a.out_csv
        if a.cmd == "w2-figure":
            records = load_metrics(a.metrics)
            return w2_figure(
                records, _labels(a.labels_json), a.out, paper=_paper_w2(a.paper), title=a.title
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


# ----------------------------------------------------------------------------------------------
# python -m artrl.report_images


def _paper_fid(name: str | None) -> PaperTable | None:
    return PAPER_FID[name] if name and name != "none" else None


def images_parser() -> argparse.ArgumentParser:
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

    sp = sub.add_parser(
        "state-paths",
        help="per-image σ-grids of state-dependent sampling shards (issue 17), one panel each",
        formatter_class=fmt,
    )
    sp.add_argument(
        "--shard",
        nargs="+",
        required=True,
        help="shards of python -m artrl.sample --policy (with per-image 'sigmas'), one per K",
    )
    sp.add_argument(
        "--schedule",
        nargs="+",
        required=True,
        help="the schedule written with each shard's policy (its distilled grid), in order",
    )
    sp.add_argument(
        "--classifier",
        default=None,
        help="digits classifier (python -m artrl.metrics.digits_features train): colour "
        "each image's grid by its predicted class",
    )
    sp.add_argument("--title", default=None)
    sp.add_argument("--out", required=True, type=Path, help="PNG")

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


def _state_panels(a: argparse.Namespace) -> list[StatePanel]:
    """The panels of ``state-paths``: each shard's per-image grids beside its schedule's."""
    if len(a.shard) != len(a.schedule):
        raise ReportError(f"{len(a.shard)} --shard but {len(a.schedule)} --schedule")
    classify = None
    if a.classifier:
        import torch

        from artrl.data.digits import from_uint8
        from artrl.metrics.digits_features import load_classifier, nhwc_uint8_to_nchw

        model, _ = load_classifier(a.classifier)

        def classify(images: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return model(from_uint8(nhwc_uint8_to_nchw(images))).argmax(1).numpy()

    panels = []
    for shard, path in zip(a.shard, a.schedule, strict=True):
        z = read_npz_all(shard, ("images", "sigmas", "meta"), "state-dependent sampling shard")
        meta = json.loads(str(z["meta"]))
        sched = Schedule.load(path)
        if meta.get("schedule_sha256") != file_sha256(path):
            raise ReportError(f"{shard} was not sampled with {path} (schedule sha256 differs)")
        title = f"K = {sched.K}, {meta['solver']} (NFE {meta['nfe']}), {len(z['sigmas'])} images"
        classes = None if classify is None else classify(z["images"])
        panels.append(StatePanel(title, z["sigmas"], sched.sigmas, classes))
    return panels


def images_main(argv: list[str] | None = None) -> Path:
    a = images_parser().parse_args(argv)
    try:
        if a.cmd == "state-paths":
            return state_paths_figure(_state_panels(a), a.out, title=a.title)
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
                    paper=_paper_fid(a.paper),
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


# ----------------------------------------------------------------------------------------------
# python -m artrl.report_matrix


def matrix_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m artrl.report_matrix",
        description="The cross-data-set matrix: schedules made on one data set evaluated on "
        "another, as a CSV (one line per cell) and a Markdown table.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--cell",
        nargs="+",
        required=True,
        metavar="ROW|MADE_ON|TARGET=PATH",
        help="one evaluated cell: a W2 metrics JSON or an FID JSON",
    )
    p.add_argument(
        "--labels-json",
        default="{}",
        help='display names of the data sets, e.g. {"digits": "digits 8×8"}',
    )
    p.add_argument(
        "--compare-json",
        default="{}",
        help='rows whose ratios use another row\'s diagonal, e.g. {"ART-RL (log range)": "ART-RL"}',
    )
    p.add_argument("--config-digest", default=None, help="provenance column")
    p.add_argument("--seed", default=None, help="provenance column")
    p.add_argument("--out", required=True, type=Path, help="CSV; the Markdown goes beside it")
    return p


def matrix_main(argv: list[str] | None = None) -> Path:
    a = matrix_parser().parse_args(argv)
    try:
        labels = json.loads(a.labels_json)
        if not isinstance(labels, dict):
            raise ReportError("--labels-json must be a JSON object")
        compare = json.loads(a.compare_json)
        if not isinstance(compare, dict):
            raise ReportError("--compare-json must be a JSON object")
        cells = load_cells(a.cell)
        write_matrix(
            cells,
            out_csv=a.out,
            out_md=a.out.with_suffix(".md"),
            target_labels=labels,
            prov=provenance(a.config_digest, a.seed),
            compare_to=compare,
        )
    except (ReportError, json.JSONDecodeError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"wrote {a.out} and {a.out.with_suffix('.md')} ({len(cells)} cells)")
    return a.out
