"""Reuse a learned schedule at another K, or on another data set (arXiv 2601.18681 §5.3).

Two resampling rules (``--resample``):

* ``psi`` (default): the K-interval schedule's clock ψ_k = T − σ_k on t_k = kT/K is taken
  piecewise linear in t and evaluated on the uniform grid with ``--K`` intervals
  (:func:`artrl.schedules.resample_psi`): the paper's 1-D "K=100 → K" row;
* ``loglinear``: log σ interpolated over the positive σ's
  (:func:`artrl.schedules.resample_loglinear`): the paper's "K = 18 schedule resampled to
  K′ = 4 … 20" (arXiv 2601.18681 §5.3.1, Table 3; Table 5 of the extended version, arXiv
  2607.02137; docs/references.md §2.6).

At the same K both are the identity, so ``--dataset OTHER`` with the source's K is the paper's
cross-data-set transfer (the CIFAR-10 grid reused unchanged on AFHQv2, FFHQ, ImageNet-64).
A data set with another noise range (the 1-D Gaussian's σ_max = 3 against the images' 80)
takes ``--sigma-max`` and ``--rescale`` (:func:`artrl.schedules.rescale`, after resampling):
``sigma_max`` keeps the clock ψ(t)/T in clock time, ``log_range`` keeps the target's grid ends
(``--sigma-min``) and moves the interior spacing in log σ. The result keeps the source's seed
and config digest and records where it came from in
``extra`` (``from``, ``from_K``, ``from_method``, ``from_dataset``, ``resample``).

Run ``python -m artrl.transfer --help`` for the command line interface.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from artrl.io import run_cli
from artrl.schedules import (
    RESCALES,
    Schedule,
    ScheduleError,
    load_for_slot,
    parse_expect,
    resample_loglinear,
    resample_psi,
    rescale,
)

RESAMPLERS = {"psi": resample_psi, "loglinear": resample_loglinear}


def transfer(
    src: Schedule,
    K: int,
    *,
    method: str,
    source: str | None = None,
    resample: str = "psi",
    dataset: str | None = None,
    sigma_max: float | None = None,
    rescale_mode: str = "sigma_max",
    sigma_min: float | None = None,
    config_digest: str | None = None,
) -> Schedule:
    """The schedule ``src`` resampled to ``K`` intervals (``resample``: psi | loglinear), named
    ``method``, optionally relabelled for another ``dataset`` (cross-data-set transfer) and
    moved to another ``sigma_max`` (``rescale_mode``: sigma_max | log_range, the latter onto
    [``sigma_min``, ``sigma_max``]). ``config_digest``: the digest of the config that makes the
    new schedule's slot (default: the source's); the source's is kept as ``from_config_digest``.
    """
    if resample not in RESAMPLERS:
        raise ValueError(f"resample must be one of {sorted(RESAMPLERS)}, got {resample!r}")
    sigmas = RESAMPLERS[resample](src.sigmas, K)
    extra = {"from": source, "from_K": src.K, "from_method": src.method, "resample": resample}
    if config_digest is not None:
        extra["from_config_digest"] = src.config_digest
    if dataset is not None and dataset != src.dataset:
        extra["from_dataset"] = src.dataset
    if sigma_max is not None and sigma_max != sigmas[0]:
        sigmas = rescale(sigmas, sigma_max, mode=rescale_mode, sigma_min=sigma_min)
        extra.update(from_sigma_max=float(src.sigmas[0]), rescale=rescale_mode)
        if rescale_mode == "log_range":
            extra["sigma_min"] = sigma_min
    if "denoiser_evals" in src.extra:  # resampling is free: the source's cost is the cost
        extra["denoiser_evals"] = src.extra["denoiser_evals"]
    return Schedule(
        sigmas,
        method=method,
        dataset=dataset or src.dataset,
        K=K,
        seed=src.seed,
        config_digest=src.config_digest if config_digest is None else config_digest,
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
    p.add_argument(
        "--resample",
        choices=sorted(RESAMPLERS),
        default="psi",
        help="psi: the clock psi(t) on the new t-grid; loglinear: log sigma interpolation",
    )
    p.add_argument("--dataset", default=None, help="relabel for another data set (transfer)")
    p.add_argument(
        "--sigma-max",
        type=float,
        default=None,
        help="the target's sigma_max, if it is not the source's (then --rescale applies)",
    )
    p.add_argument(
        "--rescale",
        choices=RESCALES,
        default="sigma_max",
        help="sigma_max: sigma * sigma_max'/sigma_0 (the clock psi/T in t/T kept); log_range: "
        "log sigma of the positive sigmas mapped onto [--sigma-min, --sigma-max]",
    )
    p.add_argument(
        "--sigma-min", type=float, default=None, help="log_range: the target's last positive sigma"
    )
    p.add_argument(
        "--config-digest",
        default=None,
        help="config digest stored in the output (default: the source's)",
    )
    p.add_argument(
        "--expect",
        default=None,
        help="JSON object: what the source schedule's slot expects of it (dataset, K, "
        "sigma_max, config_digest); a file that differs is refused",
    )
    p.add_argument("--out", required=True, type=Path, help="output JSON (written atomically)")
    return p


def main(argv: list[str] | None = None) -> Path:
    parser = _parser()
    a = parser.parse_args(argv)
    if a.K < 1:
        parser.error(f"--K must be >= 1, got {a.K}")
    try:
        src = load_for_slot(a.schedule, parse_expect(a.expect))
        out = transfer(
            src,
            a.K,
            method=a.method_name,
            source=str(a.schedule),
            resample=a.resample,
            dataset=a.dataset,
            sigma_max=a.sigma_max,
            rescale_mode=a.rescale,
            sigma_min=a.sigma_min,
            config_digest=a.config_digest,
        )
    except (ScheduleError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    return out.save(a.out)


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
