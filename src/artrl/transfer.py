"""Reuse a learned schedule at another K by resampling its ART clock (paper "K=100 → K" row).

The K-interval schedule's clock ψ_k = T − σ_k on t_k = kT/K is taken piecewise linear in t and
evaluated on the uniform grid with ``--K`` intervals (:func:`artrl.schedules.resample_psi`).
The result keeps the source's dataset, seed and config digest and records where it came from
in ``extra`` (``from``, ``from_K``, ``from_method``).

Run ``python -m artrl.transfer --help`` for the command line interface.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from artrl.schedules import Schedule, ScheduleError, resample_psi


def transfer(src: Schedule, K: int, *, method: str, source: str | None = None) -> Schedule:
    """The schedule ``src`` resampled to ``K`` intervals on its ψ-clock, named ``method``."""
    sigmas = resample_psi(src.sigmas, K)
    extra = {"from": source, "from_K": src.K, "from_method": src.method}
    return Schedule(
        sigmas,
        method=method,
        dataset=src.dataset,
        K=K,
        seed=src.seed,
        config_digest=src.config_digest,
        extra=extra,
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m artrl.transfer",
        description=(
            "Resample a schedule JSON to K intervals by evaluating its ART clock "
            "psi(t) = T - sigma on the uniform t-grid with K intervals (piecewise-linear "
            "interpolation), e.g. to reuse the K = 100 ART-RL schedule at K = 2..50."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--schedule", required=True, type=Path, help="source schedule JSON")
    p.add_argument("--K", type=int, required=True, help="number of intervals of the output")
    p.add_argument(
        "--method-name",
        default="art_rl_transfer",
        help="'method' stored in the output schedule",
    )
    p.add_argument("--out", required=True, type=Path, help="output JSON (written atomically)")
    return p


def main(argv: list[str] | None = None) -> Path:
    parser = _parser()
    a = parser.parse_args(argv)
    if a.K < 1:
        parser.error(f"--K must be >= 1, got {a.K}")
    try:
        src = Schedule.load(a.schedule)
        out = transfer(src, a.K, method=a.method_name, source=str(a.schedule))
    except (ScheduleError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    return out.save(a.out)


if __name__ == "__main__":
    main()
