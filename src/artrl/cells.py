"""What the files between the image rules say they are, and the checks that they sit where
they are read.

A sampling shard (``python -m artrl.sample``) records which schedule file made it (the
sha256 of its bytes), for which data set, K and config digest, with which solver and NFE, and
its seed range. An FID cell (``python -m artrl.metrics.fid``) records its identity (data set,
schedule name, solver, K, NFE, the schedule's config digest). Each reader checks the file
against the slot it reads it for: a shard copied into another cell, or a cell into another
table row, stops the job with one message naming both sides and the fix, instead of putting
another cell's number in the table.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from artrl.io import REMAKE, InputError, read_npz

__all__ = [
    "read_shard_meta",
    "check_shards",
    "check_cell",
    "fid_cell_path",
]

#: shard metadata key → the FID cell's (``--meta``) key it must equal
SHARD_VS_CELL = {
    "dataset": "dataset",
    "solver": "solver",
    "K": "K",
    "nfe": "nfe",
    "config_digest": "schedule_config_digest",
}


def read_shard_meta(path: str | os.PathLike) -> tuple[dict[str, Any], np.ndarray]:
    """The ``meta`` JSON object and the ``seeds`` of a sampling shard."""
    raw, seeds = read_npz(path, ("meta", "seeds"), "sampling shard (python -m artrl.sample)")
    try:
        meta = json.loads(str(raw))
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: the shard's 'meta' is not JSON ({e}); {REMAKE}") from None
    if not isinstance(meta, dict) or "schedule_sha256" not in meta:
        raise InputError(
            f"{path}: the shard does not say which schedule file made it (written by an older "
            f"artrl, or not by python -m artrl.sample); {REMAKE}"
        )
    return meta, seeds


def _mismatch(have: dict, want: dict, pairs: dict[str, str]) -> list[str]:
    return [
        f"{k} {have.get(k)!r} where the cell expects {want[w]!r}"
        for k, w in pairs.items()
        if w in want and have.get(k) != want[w]
    ]


def check_shards(paths: Sequence[str | os.PathLike], cell: dict[str, Any]) -> dict[str, Any]:
    """Check each shard's metadata against the FID cell ``cell`` that reads it; return what the
    cell records about the files it used (``schedule_sha256``, the schedule file's digest).

    A shard's seeds must be the range its metadata names, and every shard must come from the
    same schedule file. With ``cell["samples"]`` the shards together must hold the seeds
    0 … samples − 1 exactly, or offset … offset + samples − 1 with ``cell["seed_offset"]``
    (replicate r of a cell: offset r·samples, issue 16).
    """
    digests: dict[str, str] = {}
    seeds = []
    numerics = []
    for path in paths:
        meta, s = read_shard_meta(path)
        seeds.append(s)
        if meta.get("numerics") is not None and meta["numerics"] not in numerics:
            numerics.append(meta["numerics"])
        bad = _mismatch(meta, cell, SHARD_VS_CELL)
        lo, hi = meta.get("seeds", [None, None])
        if lo is None or not np.array_equal(np.sort(s), np.arange(lo, hi + 1)):
            bad.append(f"its seeds are not the range {lo}-{hi} its metadata names")
        if bad:
            raise InputError(
                f"{path}: this sampling shard does not belong to the FID cell "
                f"{cell.get('dataset')}/{cell.get('solver')}/{cell.get('name')}/K{cell.get('K')}: "
                f"{'; '.join(bad)} (the shard says schedule {meta.get('schedule')!r}, "
                f"method {meta.get('method')!r}); {REMAKE}"
            )
        digests[str(path)] = meta["schedule_sha256"]
    if len(set(digests.values())) > 1:
        listing = ", ".join(f"{p}: {d[:12]}" for p, d in digests.items())
        raise InputError(
            f"the shards of one FID cell come from different schedule files ({listing}); "
            f"delete them and rerun (the workflow remakes them)"
        )
    n = cell.get("samples")
    if n is not None:
        offset = int(cell.get("seed_offset", 0))
        got = np.sort(np.concatenate([np.asarray(s) for s in seeds]))
        if not np.array_equal(got, np.arange(offset, offset + n)):
            raise InputError(
                f"the shards {[str(p) for p in paths]} hold {got.size} seeds "
                f"({got.min() if got.size else '-'}-{got.max() if got.size else '-'}), not the "
                f"cell's seeds {offset}-{offset + n - 1}; {REMAKE}"
            )
    used: dict[str, Any] = {"schedule_sha256": next(iter(digests.values()))}
    if numerics:  # the sampling jobs' torch threads and CPU kernels (artrl.device)
        used["sample_numerics"] = numerics[0] if len(numerics) == 1 else numerics
    return used


def fid_cell_path(dataset: str, solver: str, name: str, K: int) -> str:
    """Where the workflow keeps one FID cell (``workflow/rules/images.smk``, rule fid_cell)."""
    return f"results/fid/{dataset}/{solver}/{name}/K{K}.json"


def check_cell(path: str | os.PathLike, report: dict[str, Any], expect: dict[str, Any]) -> None:
    """Refuse an FID cell read for a table row it does not belong to.

    ``expect``: the row's name and the table's data set and solver. The cell's own K must be
    the K its path names (``…/{name}/K{K}.json``), so a cell copied into another K's slot is
    caught even though the table derives the column from the cell.
    """
    bad = [
        f"{k} {report.get(k)!r} where the table expects {v!r}"
        for k, v in expect.items()
        if report.get(k) != v
    ]
    p = Path(path)
    named = re.fullmatch(r"K(\d+)", p.stem)  # the workflow's …/K{K}.json (not a loose file)
    if "K" in report and named and int(named[1]) != report["K"]:
        bad.append(f"K {report['K']!r} where its file name says {p.stem[1:]!r}")
    if bad:
        raise InputError(
            f"{path}: this FID result does not belong in its table cell: {'; '.join(bad)}; {REMAKE}"
        )
