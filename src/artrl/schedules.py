"""σ-grids (timestep schedules) for deterministic PF-ODE sampling, EDM/VE conventions.

A *schedule* is a float64 array ``[σ_0 = σ_max, σ_1, …, σ_{K-1}, σ_K = 0]`` with ``K``
intervals (length ``K + 1``), strictly decreasing, finite, and with last entry exactly ``0.0``
(NVlabs/edm ``generate.py``: ``num_steps = K`` positive σ's followed by an appended 0;
docs/references.md §2.5).

The ART clock (arXiv 2601.18681 §2) is ``ψ: [0, T] → [0, T]`` with ``ψ(0) = 0``, ``ψ(T) = T`` and
noise level ``σ = T − ψ``; a uniform grid ``t_k = kT/K`` on the new clock induces the σ-grid
``σ_k = T − ψ(t_k)``. The clock speed ``θ = dψ/dt`` obeys the budget ``∫θ dt = T`` (Eq. 6).

Baselines: ``uniform``, ``edm`` (Karras et al. 2022, ρ-warped), ``geometric`` (DPM, log-SNR
uniform) and ``ays_gaussian`` (Align Your Steps' closed form for Gaussian data). Each has a
``convention``: ``"code"`` (K positive values ending at σ_min, then 0 appended, as in EDM code)
or ``"paper"`` (K + 1 values on ``i/K``, the last one replaced by exactly 0).

Run ``python -m artrl.schedules --help`` for the command line interface.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

SCHEDULE_FORMAT = "artrl-schedule/1"
CONVENTIONS = ("code", "paper")

#: what to do with a generated file that cannot be read (the text of :data:`artrl.io.REMAKE`:
#: this module imports no other artrl module, tests/test_layers.py keeps the two equal)
REMAKE = "delete it and rerun (the workflow remakes it)"


class ScheduleError(ValueError):
    """An invalid σ-grid or schedule file; the message starts with what was being checked.

    A known bad input: ``input_error = True`` makes :func:`artrl.io.run_cli` print it as one
    ``error: …`` line and exit with status 2 (as an :class:`artrl.io.InputError`, which this
    module may not import).
    """

    input_error = True


# ----------------------------------------------------------------------------------------------
# Validation


def validate(
    sigmas: Any,
    *,
    sigma_max: float | None = None,
    K: int | None = None,
    name: str = "schedule",
) -> np.ndarray:
    """Check that ``sigmas`` is a valid schedule and return it as a float64 array.

    Raises :class:`ScheduleError` (message starting with ``name``) if the grid is not 1-D,
    has fewer than 2 entries, is not finite, is not strictly decreasing, does not start at
    ``sigma_max`` (rtol 1e-12, when given), does not end at exactly 0, or has a length other
    than ``K + 1`` (when ``K`` is given).
    """
    try:
        s = np.array(sigmas, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ScheduleError(f"{name}: sigmas are not an array of numbers ({e})") from None
    if s.ndim != 1:
        raise ScheduleError(f"{name}: sigmas must be 1-D, got shape {s.shape}")
    if K is not None and s.shape[0] != K + 1:
        raise ScheduleError(f"{name}: expected K + 1 = {K + 1} sigmas for K = {K}, got {len(s)}")
    if s.shape[0] < 2:
        raise ScheduleError(f"{name}: need at least 2 sigmas (K >= 1), got {len(s)}")
    bad = np.flatnonzero(~np.isfinite(s))
    if bad.size:
        i = int(bad[0])
        raise ScheduleError(f"{name}: non-finite sigma {s[i]!r} at index {i}")
    up = np.flatnonzero(np.diff(s) >= 0)
    if up.size:
        i = int(up[0])
        raise ScheduleError(
            f"{name}: not strictly decreasing at index {i}: "
            f"sigma[{i}] = {s[i]!r} <= sigma[{i + 1}] = {s[i + 1]!r}"
        )
    if sigma_max is not None and abs(s[0] - sigma_max) > 1e-12 * abs(sigma_max):
        raise ScheduleError(f"{name}: first sigma {s[0]!r} != sigma_max {sigma_max!r}")
    if s[-1] != 0.0:
        raise ScheduleError(f"{name}: last sigma must be exactly 0.0, got {s[-1]!r}")
    return s


def _check_args(K: int, sigma_max: float, sigma_min: float = 0.0, convention: str = "code"):
    if isinstance(K, bool) or not isinstance(K, int | np.integer) or K < 1:
        raise ValueError(f"K must be an integer >= 1, got {K!r}")
    if not (math.isfinite(sigma_max) and sigma_max > 0):
        raise ValueError(f"sigma_max must be finite and > 0, got {sigma_max!r}")
    if not (math.isfinite(sigma_min) and 0 <= sigma_min < sigma_max):
        raise ValueError(f"need 0 <= sigma_min < sigma_max, got {sigma_min!r} ({sigma_max=})")
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")


def _positive_sigma_min(method: str, K: int, sigma_min: float) -> None:
    """In the code convention the K-th positive σ is σ_min, so it must be > 0 (for K >= 2)."""
    if K >= 2 and sigma_min <= 0:
        raise ValueError(
            f"{method}(convention='code') needs sigma_min > 0 (it is the last positive sigma "
            f"before the appended 0), got {sigma_min!r}; use convention='paper' for sigma_min = 0"
        )


def _finish(positive: np.ndarray) -> np.ndarray:
    """Append the final σ_K = 0 to K positive σ's."""
    return np.append(np.asarray(positive, dtype=np.float64), 0.0)


def _code_u(K: int) -> np.ndarray:
    """u_i = i/(K−1), i = 0..K−1 (EDM code); ``[0]`` for K = 1."""
    return np.arange(K, dtype=np.float64) / max(K - 1, 1)


def _paper_u(K: int) -> np.ndarray:
    """u_i = i/K, i = 0..K."""
    return np.arange(K + 1, dtype=np.float64) / K


def _force_last_zero(s: np.ndarray) -> np.ndarray:
    s = np.array(s, dtype=np.float64)
    s[-1] = 0.0
    return s


# ----------------------------------------------------------------------------------------------
# Baseline schedules


def uniform(K: int, sigma_max: float) -> np.ndarray:
    """Uniform grid σ_k = σ_max (1 − k/K), k = 0..K (ψ(t) = t on the ART clock)."""
    _check_args(K, sigma_max)
    s = sigma_max * (1.0 - np.arange(K + 1, dtype=np.float64) / K)
    s[0], s[-1] = sigma_max, 0.0
    return validate(s, sigma_max=sigma_max, K=K, name="uniform")


def edm(
    K: int, sigma_max: float, sigma_min: float, rho: float = 7.0, convention: str = "code"
) -> np.ndarray:
    """EDM (Karras et al. 2022, Eq. 269 of their paper) ρ-warped grid.

    ``"code"`` (EDM ``generate.py``): K positive values
    σ_i = (σ_max^{1/ρ} + i/(K−1) (σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ, i = 0..K−1, then 0 appended.
    ``"paper"``: the same formula on i/K, i = 0..K, with σ_K forced to 0 (the paper's 1-D table
    uses σ_min = 0, so it is 0 anyway).
    """
    _check_args(K, sigma_max, sigma_min, convention)
    if not rho > 0:
        raise ValueError(f"rho must be > 0, got {rho!r}")
    a, b = sigma_max ** (1 / rho), sigma_min ** (1 / rho)
    if convention == "code":
        # bit-for-bit EDM generate.py: a float64 torch ramp, torch's pow, nothing forced
        _positive_sigma_min("edm", K, sigma_min)
        i = torch.arange(K, dtype=torch.float64, device="cpu")  # the grid is a NumPy array
        s = _finish(((a + i / max(K - 1, 1) * (b - a)) ** rho).numpy())
    else:
        s = _force_last_zero((a + _paper_u(K) * (b - a)) ** rho)
        s[0] = sigma_max
    return validate(s, sigma_max=sigma_max, K=K, name="edm")


def geometric(K: int, sigma_max: float, sigma_min: float, convention: str = "code") -> np.ndarray:
    """Geometric ("DPM", uniform in log-SNR) grid σ_max (σ_min/σ_max)^u.

    ``"code"``: u = i/(K−1), i = 0..K−1, then 0 appended (K = 2 equals :func:`edm` code).
    ``"paper"``: u = i/K, i = 0..K−1, then 0 (σ_K = σ_min replaced by 0). σ_min must be > 0.
    """
    _check_args(K, sigma_max, sigma_min, convention)
    if not sigma_min > 0:
        raise ValueError(f"geometric needs sigma_min > 0 (log-SNR grid), got {sigma_min!r}")
    u = _code_u(K) if convention == "code" else _paper_u(K)[:-1]
    s = _finish(sigma_max * (sigma_min / sigma_max) ** u)
    s[0] = sigma_max
    return validate(s, sigma_max=sigma_max, K=K, name="geometric")


def ays_gaussian(
    K: int, sigma_max: float, sigma_min: float, c: float = 0.5, convention: str = "code"
) -> np.ndarray:
    """Align Your Steps' closed form for Gaussian data (the tangent law of Thm 3.1 of
    arXiv 2404.14507; docs/references.md §4.1).

    σ(u) = c tan((1 − u) atan(σ_max/c) + u atan(σ_min/c)), going from σ_max (u = 0) to σ_min
    (u = 1). ``"code"``: u = i/(K−1), i = 0..K−1, then 0 appended. ``"paper"``: u = i/K,
    i = 0..K, last forced to 0 (σ_min may be 0 here).
    """
    _check_args(K, sigma_max, sigma_min, convention)
    if not c > 0:
        raise ValueError(f"c must be > 0, got {c!r}")
    a, b = math.atan(sigma_max / c), math.atan(sigma_min / c)
    if convention == "code":
        _positive_sigma_min("ays_gaussian", K, sigma_min)
        u = _code_u(K)
        s = _finish(c * np.tan((1 - u) * a + u * b))
    else:
        u = _paper_u(K)
        s = _force_last_zero(c * np.tan((1 - u) * a + u * b))
    s[0] = sigma_max
    return validate(s, sigma_max=sigma_max, K=K, name="ays_gaussian")


#: the names :func:`baseline` implements: the kind "baseline" methods of artrl.registry and their
#: aliases (tests/test_registry.py keeps the two equal)
BASELINES = ("uniform", "edm", "geometric", "dpm", "ays_gaussian")


def baseline(
    method: str,
    K: int,
    *,
    sigma_max: float,
    sigma_min: float = 0.0,
    rho: float = 7.0,
    c: float = 0.5,
    convention: str = "code",
) -> np.ndarray:
    """Dispatch to a baseline schedule by name (``"dpm"`` is an alias of ``"geometric"``)."""
    if method == "uniform":
        return uniform(K, sigma_max)
    if method == "edm":
        return edm(K, sigma_max, sigma_min, rho=rho, convention=convention)
    if method in ("geometric", "dpm"):
        return geometric(K, sigma_max, sigma_min, convention=convention)
    if method == "ays_gaussian":
        return ays_gaussian(K, sigma_max, sigma_min, c=c, convention=convention)
    raise ValueError(f"unknown schedule method {method!r}; known: {', '.join(BASELINES)}")


# ----------------------------------------------------------------------------------------------
# The ART clock ψ (arXiv 2601.18681 §2): σ = T − ψ


def sigma_from_psi(psi: Any, T: float) -> np.ndarray:
    """σ = T − ψ (arXiv 2601.18681 §2)."""
    return T - np.asarray(psi, dtype=np.float64)


def psi_from_sigma(sigmas: Any, T: float) -> np.ndarray:
    """ψ = T − σ (arXiv 2601.18681 §2)."""
    return T - np.asarray(sigmas, dtype=np.float64)


def from_psi(psi: Any, T: float) -> np.ndarray:
    """Validated schedule σ_k = T − ψ_k from a clock ψ_0 = 0, …, ψ_K = T (the last
    step of the distillation, arXiv 2601.18681 §5).

    σ_K is set to exactly 0 when |ψ_K − T| <= 1e-9 T; otherwise the budget (Eq. 6) is violated
    and :class:`ScheduleError` is raised.
    """
    psi = np.asarray(psi, dtype=np.float64)
    if psi.ndim != 1 or psi.shape[0] < 2:
        raise ScheduleError(f"psi: must be 1-D with at least 2 entries, got shape {psi.shape}")
    if not abs(psi[-1] - T) <= 1e-9 * abs(T):
        raise ScheduleError(f"psi: psi_K = {psi[-1]!r} != T = {T!r} (budget Eq. 6 violated)")
    s = sigma_from_psi(psi, T)
    s[-1] = 0.0
    return validate(s, sigma_max=T, name="psi")


# ----------------------------------------------------------------------------------------------
# Resampling a schedule to another K (arXiv 2601.18681 §5.3.1; docs/references.md §2.6)


def resample_loglinear(sigmas: Any, K_new: int) -> np.ndarray:
    """Log-linear resampling of a K-schedule to K_new intervals (docs/references.md §2.6).

    A reconstruction: arXiv 2601.18681 §5.3.1 names the method but gives no recipe.

    r_k = log σ_k on the K positive σ's (k = 0..K−1) at u_k = k/(K−1); then
    σ'_j = exp(interp(j/(K_new−1); u, r)) for j = 0..K_new−1 and 0 is appended. The paper calls
    this "log-linear interpolation and extrapolation"; with this recipe both ends map onto
    u ∈ {0, 1}, so only interpolation occurs (the first and last positive σ are kept).

    ``K_new == K`` returns a copy of the input (exactly; exp∘log would round by ~1 ulp);
    ``K_new == 1`` returns ``[σ_max, 0]``. A K = 1 schedule has a single positive σ and cannot
    be resampled to K_new > 1 (ValueError).
    """
    s = validate(sigmas, name="resample_loglinear")
    K = len(s) - 1
    if isinstance(K_new, bool) or not isinstance(K_new, int | np.integer) or K_new < 1:
        raise ValueError(f"K_new must be an integer >= 1, got {K_new!r}")
    if K_new == K:
        return s.copy()
    if K_new == 1:
        return np.array([s[0], 0.0])
    if K == 1:
        raise ValueError("resample_loglinear: a K = 1 schedule has one positive sigma; need K >= 2")
    u = np.arange(K, dtype=np.float64) / (K - 1)
    r = np.log(s[:-1])
    u_new = np.arange(K_new, dtype=np.float64) / (K_new - 1)
    out = _finish(np.exp(np.interp(u_new, u, r)))
    out[0], out[-2] = s[0], s[-2]
    return validate(out, sigma_max=s[0], K=K_new, name="resample_loglinear")


def resample_psi(sigmas: Any, K_new: int, T: float | None = None) -> np.ndarray:
    """Evaluate the clock ψ(t) of a K-schedule on a uniform grid with K_new intervals.

    ψ_k = T − σ_k lives on t_k = kT/K (T = σ_0 by default); ψ is taken piecewise linear in t
    and evaluated at t'_j = jT/K_new, giving σ'_j = T − ψ(t'_j). This is the paper's
    "ART-RL (K=100 → K)" row. Since σ = T − ψ is affine, this equals linear interpolation of σ
    itself, which is what is computed (so ``K_new == K`` is exactly the identity); ``T`` only
    sets the clock's units and cancels.
    """
    s = validate(sigmas, name="resample_psi")
    K = len(s) - 1
    if isinstance(K_new, bool) or not isinstance(K_new, int | np.integer) or K_new < 1:
        raise ValueError(f"K_new must be an integer >= 1, got {K_new!r}")
    T = float(s[0]) if T is None else float(T)
    if not T > 0:
        raise ValueError(f"T must be > 0, got {T!r}")
    t = T * np.linspace(0.0, 1.0, K + 1)
    t_new = T * np.linspace(0.0, 1.0, K_new + 1)
    out = np.interp(t_new, t, s)
    out[0], out[-1] = s[0], 0.0
    return validate(out, sigma_max=s[0], K=K_new, name="resample_psi")


RESCALES = ("sigma_max", "log_range")


def rescale(
    sigmas: Any, sigma_max: float, *, mode: str = "sigma_max", sigma_min: float | None = None
) -> np.ndarray:
    """Move a σ-grid to another noise range, for a data set with another ``sigma_max`` (the
    cross-data-set matrix: the 1-D Gaussian's T = 3 against the images' T = 80).

    * ``sigma_max``: σ'_k = σ_k · σ_max'/σ_0, i.e. the ART clock ψ(t)/T as a function of t/T
      is kept (the schedule's shape in clock time; the last positive σ scales too);
    * ``log_range``: log σ of the K positive σ's mapped affinely from [log σ_{K−1}, log σ_0]
      onto [log ``sigma_min``, log σ_max'], then 0: the target's grid ends are kept (as every
      code-convention schedule of the target has them) and only the interior spacing in log σ
      moves. A K = 1 grid becomes ``[σ_max', 0]``.

    The result starts at exactly ``sigma_max`` and ends at exactly 0.
    """
    s = validate(sigmas, name="rescale")
    if not (math.isfinite(sigma_max) and sigma_max > 0):
        raise ValueError(f"sigma_max must be finite and > 0, got {sigma_max!r}")
    K = len(s) - 1
    if mode == "sigma_max":
        out = s * (sigma_max / s[0])
    elif mode == "log_range":
        if sigma_min is None or not (math.isfinite(sigma_min) and 0 < sigma_min < sigma_max):
            raise ValueError(
                f"rescale(mode='log_range') needs 0 < sigma_min < sigma_max, got {sigma_min!r}"
            )
        if K == 1:
            return np.array([float(sigma_max), 0.0])
        r = np.log(s[:-1])
        u = (r - r[-1]) / (r[0] - r[-1])  # 1 at σ_0, 0 at σ_{K−1}
        lo, hi = math.log(sigma_min), math.log(sigma_max)
        out = _finish(np.exp(lo + u * (hi - lo)))
        out[-2] = sigma_min
    else:
        raise ValueError(f"mode must be one of {RESCALES}, got {mode!r}")
    out[0], out[-1] = sigma_max, 0.0
    return validate(out, sigma_max=sigma_max, K=K, name="rescale")


# ----------------------------------------------------------------------------------------------
# Schedule objects and files


_REQUIRED = ("method", "dataset", "K", "sigmas")
_OPTIONAL = ("seed", "config_digest", "extra")


@dataclass(eq=False)
class Schedule:
    """A validated σ-grid with provenance; saved as JSON with ``"format": "artrl-schedule/1"``."""

    sigmas: np.ndarray
    method: str
    dataset: str
    K: int
    seed: int | None = None
    config_digest: str | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_fields(self, name=f"Schedule(method={self.method!r})")

    # -- clock views (arXiv 2601.18681 §2)
    @property
    def sigma_max(self) -> float:
        return float(self.sigmas[0])

    @property
    def psi(self) -> np.ndarray:
        """ψ_k = T − σ_k with T = σ_max (ψ_0 = 0, ψ_K = T)."""
        return psi_from_sigma(self.sigmas, self.sigma_max)

    @property
    def theta(self) -> np.ndarray:
        """Clock speed θ_k = (ψ_{k+1} − ψ_k)/Δt on t_k = kT/K, Δt = T/K (mean 1 by Eq. 6)."""
        return np.diff(self.psi) / (self.sigma_max / self.K)

    # -- serialisation
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": SCHEDULE_FORMAT,
            "method": self.method,
            "dataset": self.dataset,
            "K": self.K,
            "seed": self.seed,
            "config_digest": self.config_digest,
            "sigmas": [float(v) for v in self.sigmas],
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, d: Any, *, name: str = "schedule") -> Schedule:
        """Build from :meth:`to_dict` output; errors are ScheduleError prefixed with ``name``."""
        if not isinstance(d, dict):
            raise ScheduleError(f"{name}: expected a JSON object, got {type(d).__name__}")
        if "format" not in d:
            raise ScheduleError(f"{name}: missing key 'format' (expected {SCHEDULE_FORMAT!r})")
        if d["format"] != SCHEDULE_FORMAT:
            raise ScheduleError(
                f"{name}: wrong format {d['format']!r}, expected {SCHEDULE_FORMAT!r}"
            )
        for key in _REQUIRED:
            if key not in d:
                raise ScheduleError(f"{name}: missing key {key!r}")
        sig = d["sigmas"]
        if not isinstance(sig, list) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in sig
        ):
            raise ScheduleError(f"{name}: 'sigmas' must be a list of numbers")
        obj = cls.__new__(cls)
        obj.sigmas = np.array(sig, dtype=np.float64)
        obj.method, obj.dataset, obj.K = d["method"], d["dataset"], d["K"]
        obj.seed, obj.config_digest = d.get("seed"), d.get("config_digest")
        obj.extra = d.get("extra", {})
        _check_fields(obj, name=name)
        return obj

    def save(self, path: str | os.PathLike) -> Path:
        """Write atomically as JSON (floats round-trip exactly)."""
        return _write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> Schedule:
        """Read and validate a schedule file; every problem is a ScheduleError naming ``path``."""
        name = str(path)
        try:
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
        except FileNotFoundError:
            raise ScheduleError(f"{name}: file not found") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ScheduleError(f"{name}: not valid JSON ({e}); {REMAKE}") from None
        except OSError as e:
            raise ScheduleError(f"{name}: cannot read ({e})") from None
        return cls.from_dict(d, name=name)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Schedule):
            return NotImplemented
        return (
            np.array_equal(self.sigmas, other.sigmas)
            and self.sigmas.dtype == other.sigmas.dtype
            and (self.method, self.dataset, self.K, self.seed, self.config_digest, self.extra)
            == (other.method, other.dataset, other.K, other.seed, other.config_digest, other.extra)
        )


#: what a slot (the path a schedule is read from: dataset, name, K) may expect of its file
SLOT_KEYS = ("dataset", "K", "sigma_max", "config_digest")


def parse_expect(text: str | None) -> dict[str, Any]:
    """The ``--expect`` JSON object of a command line (``{}`` when not given), keys checked."""
    if text is None:
        return {}
    try:
        expect = json.loads(text)
    except json.JSONDecodeError as e:
        raise ScheduleError(f"--expect is not valid JSON ({e}): {text!r}") from None
    if not isinstance(expect, dict) or not set(expect) <= set(SLOT_KEYS):
        raise ScheduleError(f"--expect must be a JSON object with keys from {SLOT_KEYS}: {text!r}")
    return expect


def check_slot(sched: Schedule, expect: dict[str, Any], *, path: str | os.PathLike) -> None:
    """Refuse a schedule file that does not belong where it was read from.

    ``expect`` is what the workflow knows about the slot ``path``
    (``results/schedules/{dataset}/{name}/K{K}.json``): the data set, K, σ_max (= T, the
    start of every grid of that data set, arXiv 2601.18681 §2) and the digest of the config
    that makes the slot's schedule (which covers its method, settings and convention). A file
    copied from another data set, another K or another method differs in one of them; the
    error names both sides and the fix.
    """
    bad = []
    for key, want in expect.items():
        have = getattr(sched, key)
        if key == "sigma_max":
            same = abs(float(have) - float(want)) <= 1e-9 * abs(float(want))
            have, want = float(f"{float(have):.6g}"), float(want)  # as the config writes it
        else:
            same = have == want
        if not same:
            bad.append(f"{key} {have!r} where the slot expects {want!r}")
    if bad:
        raise ScheduleError(
            f"{path}: this schedule file does not belong in its slot: {'; '.join(bad)} "
            f"(the file says method {sched.method!r}, dataset {sched.dataset!r}, K {sched.K}); "
            f"{REMAKE}"
        )


def load_for_slot(path: str | os.PathLike, expect: dict[str, Any] | None = None) -> Schedule:
    """:meth:`Schedule.load` then :func:`check_slot` (when ``expect`` is given)."""
    sched = Schedule.load(path)
    if expect:
        check_slot(sched, expect, path=path)
    return sched


def _check_fields(s: Schedule, *, name: str) -> None:
    """Type-check the fields of ``s`` and validate its grid in place."""
    if not isinstance(s.method, str):
        raise ScheduleError(f"{name}: 'method' must be a string, got {s.method!r}")
    if not isinstance(s.dataset, str):
        raise ScheduleError(f"{name}: 'dataset' must be a string, got {s.dataset!r}")
    if isinstance(s.K, bool) or not isinstance(s.K, int | np.integer) or s.K < 1:
        raise ScheduleError(f"{name}: 'K' must be an integer >= 1, got {s.K!r}")
    s.K = int(s.K)
    if s.seed is not None:
        if isinstance(s.seed, bool) or not isinstance(s.seed, int | np.integer):
            raise ScheduleError(f"{name}: 'seed' must be an integer or null, got {s.seed!r}")
        s.seed = int(s.seed)
    if s.config_digest is not None and not isinstance(s.config_digest, str):
        raise ScheduleError(
            f"{name}: 'config_digest' must be a string or null, got {s.config_digest!r}"
        )
    if not isinstance(s.extra, dict):
        raise ScheduleError(f"{name}: 'extra' must be an object, got {s.extra!r}")
    s.sigmas = validate(s.sigmas, K=s.K, name=name)


def _write_json(path: str | os.PathLike, obj: Any) -> Path:
    """:func:`artrl.io.write_json` (same bytes; a temporary file in the same directory renamed
    into place), here because this module imports no other artrl module."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(obj, indent=2, sort_keys=False) + "\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


# ----------------------------------------------------------------------------------------------
# Command line


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m artrl.schedules",
        description=(
            "Write one baseline sigma-schedule [sigma_max, ..., 0] (K intervals, K + 1 values) "
            f"as a JSON file in the {SCHEDULE_FORMAT!r} format."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--method", required=True, choices=BASELINES, help="schedule family")
    p.add_argument("--K", type=int, required=True, help="number of intervals (NFE: Euler K)")
    p.add_argument("--sigma-max", type=float, required=True, help="sigma_0 = T")
    p.add_argument("--sigma-min", type=float, default=0.0, help="last positive sigma (code)")
    p.add_argument("--rho", type=float, default=7.0, help="EDM warp exponent")
    p.add_argument("--c", type=float, default=0.5, help="AYS Gaussian-data scale")
    p.add_argument(
        "--convention",
        choices=CONVENTIONS,
        default="code",
        help="'code': K positive sigmas ending at sigma_min then 0 (EDM generate.py); "
        "'paper': K+1 values on i/K with the last set to 0",
    )
    p.add_argument("--dataset", default="unspecified", help="dataset tag stored as provenance")
    p.add_argument("--seed", type=int, default=None, help="seed stored as provenance")
    p.add_argument("--config-digest", default=None, help="config digest stored as provenance")
    p.add_argument("--out", required=True, type=Path, help="output JSON path (written atomically)")
    return p


def main(argv: list[str] | None = None) -> Path:
    parser = _parser()
    a = parser.parse_args(argv)
    try:
        sigmas = baseline(
            a.method,
            a.K,
            sigma_max=a.sigma_max,
            sigma_min=a.sigma_min,
            rho=a.rho,
            c=a.c,
            convention=a.convention,
        )
    except ValueError as e:
        parser.error(str(e))
    extra = {"sigma_min": a.sigma_min, "convention": a.convention}
    if a.method == "edm":
        extra["rho"] = a.rho
    if a.method == "ays_gaussian":
        extra["c"] = a.c
    sched = Schedule(
        sigmas,
        method=a.method,
        dataset=a.dataset,
        K=a.K,
        seed=a.seed,
        config_digest=a.config_digest,
        extra=extra,
    )
    return sched.save(a.out)


def _run_cli(argv: list[str] | None = None) -> int:
    """:func:`artrl.io.run_cli` for :func:`main`: a :class:`ScheduleError` or a missing file
    is one ``error: …`` line and exit status 2 (``ARTRL_TRACEBACK=1`` shows the traceback)."""
    try:
        main(argv)
    except (ScheduleError, FileNotFoundError) as e:
        if os.environ.get("ARTRL_TRACEBACK"):
            raise
        print(f"error: {e}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(_run_cli())
