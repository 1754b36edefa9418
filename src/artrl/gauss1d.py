"""The metrics file of one schedule of the 1-D Gaussian benchmark (rule ``w2_metrics``): the
W2 of :mod:`artrl.metrics.w2` beside the expected ART cost of :mod:`artrl.art`.

A command above both: :mod:`artrl.metrics` imports no :mod:`artrl.art` (tests/test_layers.py),
so the W2 command line takes the ART cost as a function and this module passes it in. Same
options and output as ``python -m artrl.metrics.w2``, which refuses ``--art-cost-samples``.

Run ``python -m artrl.gauss1d --help`` for the command line interface.
"""

from __future__ import annotations

from pathlib import Path

from artrl.art.analytic import art_cost
from artrl.art.cost import art_costs
from artrl.io import run_cli
from artrl.metrics import w2
from artrl.models import build
from artrl.schedules import Schedule

REFINED_SAMPLES = 4000  # rollouts of the refined ART cost (at most)


def gaussian_art_costs(sched: Schedule, std: float, samples: int, seed: int) -> tuple[float, float]:
    """The plain (paper Eq. 9, ``samples`` Euler rollouts) and refined expected ART cost of
    ``sched`` on 1-D data N(0, std²) (:data:`artrl.metrics.w2.ArtCosts`)."""
    bundle = build({"type": "gaussian", "std": std, "dim": 1}, sched.sigma_max)
    plain = art_cost(bundle.D, sched.sigmas, bundle.prior, samples, seed=seed)
    # |Q| integrated along the PF-ODE path over each step (artrl.art.cost, m = 8): the
    # cost a grid cannot game; fewer rollouts (the same seed for every schedule)
    n_ref = min(samples, REFINED_SAMPLES)
    refined = art_costs(
        bundle.D, sched.sigmas, bundle.prior, n_ref, m=8, seed=seed, jvp_mode="reverse"
    )["refined"]
    return plain, refined


def main(argv: list[str] | None = None) -> Path:
    return w2.main(argv, art_costs=gaussian_art_costs, prog="python -m artrl.gauss1d")


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
