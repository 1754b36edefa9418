"""``python -m artrl.report_matrix``: the cross-data-set matrix (made on × evaluated on).

The code lives in :mod:`artrl.report.matrix` (command line: :mod:`artrl.report.cli`); this
module keeps the command line the workflow's rules call, and the old import names.
"""

from artrl.io import run_cli
from artrl.report.cli import matrix_main as main
from artrl.report.matrix import Cell, load_cell, load_cells, matrix_markdown, matrix_table

__all__ = ["Cell", "load_cell", "load_cells", "matrix_table", "matrix_markdown", "main"]

if __name__ == "__main__":
    raise SystemExit(run_cli(main))
