"""Tables and figures of the benchmarks (arXiv 2601.18681 §5; Tables 1–6 of its extended version,
arXiv 2607.02137, docs/references.md §1.2).

Modules:

* :mod:`~artrl.report.published`: the paper's published numbers (data: ``published.json``);
* :mod:`~artrl.report.common`: the error type, provenance, ``NAME=PATH`` entries, labels;
* :mod:`~artrl.report.records`: reading W2 / FID metrics files, schedules and sample shards;
* :mod:`~artrl.report.tables`: CSV + Markdown tables (W2 of the 1-D Gaussian, FID of the
  image benchmarks) and the writing helpers they share;
* :mod:`~artrl.report.replicates`: the statistics over a cell's replicates (mean, sample std,
  range) and the rule that bolds a column's best only when its lead holds beyond the spread;
* :mod:`~artrl.report.figures`: the matplotlib figures;
* :mod:`~artrl.report.matrix`: the cross-data-set matrix;
* :mod:`~artrl.report.cli`: the command lines. ``python -m artrl.report`` has the subcommands
  ``w2-table``, ``w2-figure``, ``art-diagnostics`` and ``theta-figure``; the image reports and
  the matrix keep their own ``python -m artrl.report_images`` and ``python -m
  artrl.report_matrix`` (thin modules over this package). Every output is written atomically.
"""

from artrl.report.cli import report_main as main
from artrl.report.common import (
    PROVENANCE_COLUMNS,
    ReportError,
    code_version,
    git_describe,
    provenance,
    provenance_footer,
)
from artrl.report.figures import DPI, MARKERS, art_diagnostics, line_style, theta_figure, w2_figure
from artrl.report.published import PAPER_K, PAPER_TABLES, PAPER_THETA, PAPER_W2
from artrl.report.records import MetricRecord, load_metrics
from artrl.report.tables import w2_markdown, w2_table, write_w2_table

__all__ = [
    "PAPER_K",
    "PAPER_W2",
    "PAPER_TABLES",
    "PAPER_THETA",
    "DPI",
    "ReportError",
    "PROVENANCE_COLUMNS",
    "git_describe",
    "code_version",
    "provenance",
    "provenance_footer",
    "MetricRecord",
    "load_metrics",
    "w2_table",
    "w2_markdown",
    "write_w2_table",
    "MARKERS",
    "line_style",
    "w2_figure",
    "theta_figure",
    "art_diagnostics",
    "main",
]
