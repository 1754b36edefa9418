"""Replicates of a table cell (issue 16): the statistics a table reports over them and the rule
that decides whether a column's best value leads beyond the spread.

A cell (one schedule at one K or NFE) measured R times, each replicate with its own
schedule-making seed and its own sample seeds, is reported as the mean over the R values with
their sample standard deviation (``ddof=1``) and their range. Lower is better in every table
that uses these (W2, FID, FID ratio). Pure functions, no I/O.

The FID estimator's own noise: a schedule whose grid does not depend on the seed (a registry
kind "baseline") differs between replicates only by its disjoint sample seeds, so its
replicate spread is the noise of FID at the cell's image count (:func:`estimator_noise`), and
:func:`images_to_separate` says how many images per cell would resolve a given gap, FID's
estimator variance taken to fall as 1/N.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np

__all__ = [
    "Stats",
    "replicate_stats",
    "lead_holds",
    "column_marks",
    "estimator_noise",
    "images_to_separate",
    "BOLD",
    "TIE",
]

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


def estimator_noise(sds_by_row: Iterable[float | None]) -> float:
    """The pooled sample std of rows that each have the same number of replicates:
    sqrt(mean of the variances sd²) over the finite sds (equal weights, since every row has R
    replicates); NaN when none is finite."""
    sds = [float(s) for s in sds_by_row if s is not None and math.isfinite(float(s))]
    if not sds:
        return math.nan
    return math.sqrt(sum(s * s for s in sds) / len(sds))


def images_to_separate(
    n_images: float, noise: float, d: float, *, z: float = 2.0, step: int = 1000
) -> float:
    """Images per cell at which two single measurements whose means are ``d`` apart differ by
    ``z`` standard deviations of their difference, when one measurement at ``n_images`` images
    has std ``noise`` and the estimator's variance falls as 1/N: the difference's std at N
    images is sqrt(2)·noise·sqrt(n_images/N), so N = n_images·2z²·noise²/d² (with z = 2:
    n_images·8·noise²/d²), rounded up to a multiple of ``step`` (at least ``step``). ``d`` of
    0 gives infinity, a non-finite input NaN."""
    if not all(math.isfinite(float(v)) for v in (n_images, noise, d)):
        return math.nan
    if d == 0:
        return math.inf
    n = float(n_images) * 2.0 * z * z * float(noise) ** 2 / float(d) ** 2
    # the relative slack keeps an exact multiple (up to rounding error) where it is
    return float(max(1, math.ceil(n / step * (1 - 1e-12))) * step)
