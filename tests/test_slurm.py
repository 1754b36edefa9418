"""The SLURM profile end to end: .ci/slurm_test on a throw-away one-node cluster.

Opt-in, because it installs apt packages and starts daemons (as root):
    ARTRL_SLURM_TEST=1 .venv/bin/python -m pytest tests/test_slurm.py
or run the script itself: .ci/slurm_test
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / ".ci" / "slurm_test"


@pytest.mark.slow
def test_tiny_workflow_through_slurm():
    if os.environ.get("ARTRL_SLURM_TEST") != "1":
        pytest.skip(
            "installs SLURM with apt-get and starts its daemons: "
            "run with ARTRL_SLURM_TEST=1 (as root), or run .ci/slurm_test"
        )
    env = dict(os.environ)
    env.setdefault("VENV", sys.prefix)  # the environment running pytest has artrl + snakemake
    r = subprocess.run(
        [str(SCRIPT)], cwd=REPO, capture_output=True, text=True, timeout=600, env=env
    )
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    skipped = [line for line in out.splitlines() if line.startswith("SKIP:")]
    if skipped:
        pytest.skip(skipped[0])
    assert "PASS:" in out, out[-6000:]
    assert "has been submitted with SLURM jobid" in out
    assert "JOB_GRES=gpu:1" in out
