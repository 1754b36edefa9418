"""The paper's published numbers, shown beside ours (data: ``published.json`` next to this file).

* W2 of the 1-D Gaussian benchmark (arXiv 2601.18681 §5.1, Table 1, and Table 1 of its extended
  version, arXiv 2607.02137, docs/references.md §1.2; W2, Euler, T = 3, N(0, 1)):
  :data:`PAPER_K`, :data:`PAPER_W2`, :data:`PAPER_TABLES`;
* θ(t) read off the paper's Fig. 1 (ART-RL, K = 100): :data:`PAPER_THETA`;
* FID against NFE (arXiv 2601.18681 §5.2–5.3; "EXT Table n" = Table n of the extended version):
  :data:`PAPER_FID`, one :class:`PaperTable` per ``--paper`` key of ``python -m
  artrl.report_images fid-table``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DATA = Path(__file__).with_name("published.json")


@dataclass(frozen=True)
class PaperTable:
    """One published FID table: rows are schedule name -> (paper's label, FID at ``nfe``)."""

    source: str
    dataset: str
    solver: str
    nfe: tuple[int, ...]
    rows: dict[str, tuple[str, tuple[float, ...]]]


def _rows(d: dict[str, Any]) -> dict[str, tuple[str, tuple[float, ...]]]:
    return {name: (label, tuple(float(v) for v in values)) for name, (label, values) in d.items()}


_DATA: dict[str, Any] = json.loads(DATA.read_text(encoding="utf-8"))

PAPER_K: tuple[int, ...] = tuple(_DATA["w2"]["gauss1d"]["K"])

#: schedule name (as in config.yaml) -> (paper's row label, W2 at PAPER_K)
PAPER_W2: dict[str, tuple[str, tuple[float, ...]]] = _rows(_DATA["w2"]["gauss1d"]["rows"])

PAPER_TABLES = {"gauss1d": PAPER_W2}

#: θ(t) read off the paper's Fig. 1 (ART-RL, K = 100; arXiv 2601.18681 §5.1)
PAPER_THETA: tuple[tuple[float, float], ...] = tuple(
    (float(t), float(theta)) for t, theta in _DATA["theta"]
)

PAPER_FID: dict[str, PaperTable] = {
    key: PaperTable(
        source=t["source"],
        dataset=t["dataset"],
        solver=t["solver"],
        nfe=tuple(int(n) for n in t["nfe"]),
        rows=_rows(t["rows"]),
    )
    for key, t in _DATA["fid"].items()
}
