"""``python -m artrl.report``: the 1-D W2 tables and figures and the ART-RL diagnostics."""

from artrl.io import run_cli
from artrl.report.cli import report_main

if __name__ == "__main__":
    raise SystemExit(run_cli(report_main))
