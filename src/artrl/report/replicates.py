"""Replicates of a table cell (issue 16): the statistics a table reports over them and the rule
that decides whether a column's best value leads beyond the spread.

A cell (one schedule at one K or NFE) measured R times, each replicate with its own
schedule-making seed and its own sample seeds, is reported as the mean over the R values with
their sample standard deviation (``ddof=1``) and their range. Lower is better in every table
that uses these (W2, FID, FID ratio). Pure functions, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np

__all__ = ["Stats", "replicate_stats", "lead_holds", "column_marks", "BOLD", "TIE"]

#: :func:`column_marks` values: the best of a column whose lead holds, a tie with the best
BOLD, TIE = "bold", "tie"


class Stats(NamedTuple):
    """Mean, sample std (ddof=1; NaN for fewer than two values), min, max and count of the
    finite values of one cell's replicates."""

    mean: float
    sd: float
    lo: float
    hi: float
    n: int


def replicate_stats(values: Iterable[float | None]) -> Stats:
    """:class:`Stats` of the finite values among ``values`` (None and NaN are left out; none
    left: every statistic NaN, ``n`` 0). One value is its own mean, exactly."""
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not vals:
        return Stats(math.nan, math.nan, math.nan, math.nan, 0)
    if len(vals) == 1:
        return Stats(vals[0], math.nan, vals[0], vals[0], 1)
    a = np.asarray(vals, dtype=np.float64)
    return Stats(float(a.mean()), float(a.std(ddof=1)), float(a.min()), float(a.max()), len(vals))


def _sd(s: Stats | tuple[float, float]) -> float:
    sd = float(s[1])
    return sd if math.isfinite(sd) else 0.0


def lead_holds(best: Stats | tuple[float, float], second: Stats | tuple[float, float]) -> bool:
    """Whether the lowest mean ``best`` leads the second-lowest ``second`` beyond their spread:
    (second mean − best mean) > (best sd + second sd). ``(mean, sd)`` pairs work too; an
    unknown (NaN) sd counts as 0."""
    return float(second[0]) - float(best[0]) > _sd(best) + _sd(second)


def column_marks(means: Sequence[float], sds: Sequence[float]) -> list[str]:
    """Per row of one column (lower is better): :data:`BOLD` for the lowest mean when its lead
    over the second-lowest holds (:func:`lead_holds`), or a column alone; otherwise no row is
    bold and every row whose mean − sd ≤ best mean + best sd (the best itself included) is
    :data:`TIE`; ``""`` for the others and for rows without a finite mean."""
    rows = [
        (float(m), float(s) if s is not None and math.isfinite(float(s)) else 0.0, i)
        for i, (m, s) in enumerate(zip(means, sds, strict=True))
        if m is not None and math.isfinite(float(m))
    ]
    out = [""] * len(means)
    if not rows:
        return out
    rows.sort()
    best = rows[0]
    if len(rows) == 1 or lead_holds(best[:2], rows[1][:2]):
        out[best[2]] = BOLD
        return out
    for m, s, i in rows:
        if m - s <= best[0] + best[1]:
            out[i] = TIE
    return out
