"""Where a workflow run's time goes: job-seconds per rule from a Snakemake log.

Reads the log a run writes (``.snakemake/log/*.snakemake.log``, or the captured output of
``snakemake``), pairs each job's start (``[timestamp]`` then ``rule NAME:`` ... ``jobid: N``) with
its ``Finished jobid: N``, and prints per rule the number of jobs, their summed wall seconds, the
share of the summed total, and the run's wall time (first start to last finish). With 2 cores,
summed job-seconds can exceed the wall time (jobs overlap).

    .venv/bin/python benchmarks/workflow_time.py .snakemake/log/<latest>.snakemake.log
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from datetime import datetime

STAMP = re.compile(r"^\[(\w{3} \w{3}\s+\d+ \d\d:\d\d:\d\d \d{4})\]$")
RULE = re.compile(r"^(?:local)?rule (\w+):$")
JOBID = re.compile(r"^\s+jobid: (\d+)$")
DONE = re.compile(r"^Finished jobid: (\d+) \(Rule: (\w+)\)$")


def parse(lines: list[str]) -> dict[str, list[float]]:
    """Rule -> durations (s) of its finished jobs."""
    now = None
    pending_rule = None
    started: dict[str, tuple[str, datetime]] = {}
    out: dict[str, list[float]] = defaultdict(list)
    first = last = None
    for line in lines:
        line = line.rstrip("\n")
        if m := STAMP.match(line):
            now = datetime.strptime(" ".join(m.group(1).split()), "%a %b %d %H:%M:%S %Y")
            first = first or now
            last = now
        elif m := RULE.match(line):
            pending_rule = m.group(1)
        elif (m := JOBID.match(line)) and pending_rule and now:
            started[m.group(1)] = (pending_rule, now)
            pending_rule = None
        elif (m := DONE.match(line)) and m.group(1) in started and now:
            rule, t0 = started.pop(m.group(1))
            out[rule].append((now - t0).total_seconds())
    out["__wall__"] = [(last - first).total_seconds()] if first and last else [0.0]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("log", help="a Snakemake log")
    a = p.parse_args()
    with open(a.log, encoding="utf-8", errors="replace") as f:
        per = parse(f.readlines())
    wall = per.pop("__wall__")[0]
    total = sum(sum(v) for v in per.values()) or 1.0
    print(f"{'rule':28s} {'jobs':>5s} {'job-s':>9s} {'share':>6s}")
    for rule, d in sorted(per.items(), key=lambda kv: -sum(kv[1])):
        print(f"{rule:28s} {len(d):5d} {sum(d):9.0f} {sum(d) / total:6.1%}")
    print(f"{'all':28s} {sum(len(v) for v in per.values()):5d} {total:9.0f}   wall {wall:.0f} s")


if __name__ == "__main__":
    main()
