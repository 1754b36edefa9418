"""``python -m artrl.report_images``: FID tables, FID against NFE, σ-grids and sample grids.

The code lives in :mod:`artrl.report` (:mod:`~artrl.report.tables`,
:mod:`~artrl.report.figures`, :mod:`~artrl.report.published`, :mod:`~artrl.report.cli`); this
module keeps the command line the workflow's rules call, and the old import names.
"""

from artrl.io import run_cli
from artrl.report.cli import images_main as main
from artrl.report.figures import fid_figure, sample_grid, sigma_figure
from artrl.report.published import PAPER_FID, PaperTable
from artrl.report.records import FidRecord, Shard, load_fid, load_fid_file, load_shard
from artrl.report.tables import fid_markdown, fid_table, write_fid_table

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

if __name__ == "__main__":
    raise SystemExit(run_cli(main))
