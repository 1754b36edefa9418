"""What each schedule cost to make: the cost column of the tables (issue "methods", item 9).

One schedule's cost is

* ``wall_s``: the wall time of every workflow job that made it, read from Snakemake's
  ``benchmark:`` files (column ``s``), the shared upstream jobs included in full (the q-profile
  of ART-analytic, GITS's teacher trajectories and cost matrix, the ART-RL run that a resampled
  schedule comes from): the time to make that one schedule from scratch;
* ``denoiser_evals``: the per-sample denoiser evaluations recorded in the schedule file
  (``extra.denoiser_evals``, counted by :class:`artrl.solvers.CountingDenoiser`; a JVP counts as
  one evaluation); 0 for the closed-form baselines, which never call the model.

``python -m artrl.costs NAME:K:SCHEDULE:BENCH[+BENCH...] ... --out costs.csv`` writes one row
per schedule; :func:`row_costs` averages them per table row for the tables.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from artrl.io import run_cli, write_text
from artrl.schedules import Schedule, ScheduleError

__all__ = [
    "COLUMNS",
    "benchmark_seconds",
    "cost_table",
    "fmt_evals",
    "fmt_seconds",
    "load_row_costs",
    "main",
    "read_costs",
    "row_costs",
]

COLUMNS = ["name", "K", "wall_s", "denoiser_evals", "jobs"]


def benchmark_seconds(path: str | Path) -> float:
    """Wall seconds recorded in one Snakemake benchmark TSV (the sum over its repeats)."""
    try:
        with open(path, encoding="utf-8") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
    except OSError as e:
        raise ValueError(f"{path}: cannot read the benchmark file ({e})") from None
    if not rows or "s" not in rows[0]:
        raise ValueError(f"{path}: not a Snakemake benchmark file (no column 's')")
    try:
        return float(sum(float(r["s"]) for r in rows))
    except ValueError as e:
        raise ValueError(f"{path}: column 's' is not numeric ({e})") from None


def _parse_entry(entry: str) -> tuple[str, int, str, list[str]]:
    parts = entry.split(":", 3)
    if len(parts) != 4 or not parts[1].isdigit():
        raise ValueError(f"entry {entry!r}: expected NAME:K:SCHEDULE:BENCH[+BENCH...]")
    name, K, sched, benches = parts
    return name, int(K), sched, [b for b in benches.split("+") if b]


def cost_table(entries: Sequence[str]) -> pd.DataFrame:
    """One row per NAME:K:SCHEDULE:BENCH[+BENCH...] entry (columns :data:`COLUMNS`)."""
    rows = []
    for entry in entries:
        name, K, sched_path, benches = _parse_entry(entry)
        try:
            sched = Schedule.load(sched_path)
        except ScheduleError as e:
            raise ValueError(str(e)) from None
        evals = sched.extra.get("denoiser_evals", 0)
        rows.append(
            {
                "name": name,
                "K": K,
                "wall_s": sum(benchmark_seconds(b) for b in benches),
                "denoiser_evals": int(evals),
                "jobs": len(benches),
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def read_costs(path: str | Path) -> pd.DataFrame:
    """A cost CSV written by :func:`main`; a clear error naming the file otherwise."""
    try:
        df = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise ValueError(f"{path}: cannot read the cost table ({e})") from None
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: not an artrl cost table (missing columns {missing})")
    return df


def row_costs(df: pd.DataFrame, names: Sequence[str]) -> dict[str, dict[str, float]]:
    """Per table row: the mean over its K of the wall time and of the denoiser evaluations to
    make one schedule (NaN for a name without costs)."""
    out = {}
    for n in names:
        sub = df[df["name"] == n]
        if sub.empty:
            out[n] = {"cost_wall_s": math.nan, "cost_denoiser_evals": math.nan}
        else:
            out[n] = {
                "cost_wall_s": float(sub["wall_s"].mean()),
                "cost_denoiser_evals": float(sub["denoiser_evals"].mean()),
            }
    return out


def load_row_costs(
    path: str | Path | None, names: Sequence[str]
) -> dict[str, dict[str, float]] | None:
    """:func:`row_costs` of a cost CSV for the table rows ``names`` (None when no path)."""
    if path is None:
        return None
    return row_costs(read_costs(path), list(dict.fromkeys(names)))


def fmt_seconds(v: float) -> str:
    """A wall time for a Markdown cell: 0.4 s, 12 s, 3.4 min, 1.2 h."""
    if v is None or not math.isfinite(v):
        return "—"
    if v < 10:
        return f"{v:.1f} s"
    if v < 120:
        return f"{v:.0f} s"
    if v < 7200:
        return f"{v / 60:.1f} min"
    return f"{v / 3600:.1f} h"


def fmt_evals(v: float) -> str:
    """Denoiser evaluations for a Markdown cell: 0, 5.1k, 2.3M."""
    if v is None or not math.isfinite(v):
        return "—"
    if v < 1000:
        return f"{v:.0f}"
    if v < 1e6:
        return f"{v / 1e3:.1f}k"
    return f"{v / 1e6:.1f}M"


def main(argv: list[str] | None = None) -> Path:
    p = argparse.ArgumentParser(
        prog="python -m artrl.costs",
        description="Cost of making each schedule: wall time summed over the Snakemake benchmark "
        "files of the jobs that made it, and the denoiser evaluations its schedule file records.",
    )
    p.add_argument("entries", nargs="*", help="NAME:K:SCHEDULE:BENCH[+BENCH...]")
    p.add_argument("--out", required=True, help="CSV to write (atomically)")
    a = p.parse_args(argv)
    try:
        df = cost_table(a.entries)
    except ValueError as e:
        p.error(str(e))
    buf = io.StringIO()
    df.to_csv(buf, index=False)
    out = write_text(a.out, buf.getvalue())
    print(f"{len(df)} schedules -> {out}")
    return out


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
