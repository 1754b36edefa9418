"""Competing timestep-schedule methods, re-implemented on this package's solvers and models.

Each module makes one σ-schedule ``[σ_max, …, 0]`` for a dataset's score model and writes it as
an :class:`artrl.schedules.Schedule` JSON file, with a command line shaped like
``python -m artrl.art.analytic``'s (``--dataset-config --K --dataset --seed --config-digest
--device --solver --out``):

* :mod:`artrl.methods.gits` — GITS (Chen et al., ICML 2024, arXiv 2405.11326): dynamic
  programming over a fine teacher grid with a one-step cost matrix.
* :mod:`artrl.methods.dmn` — DMN / DM-NonUniform (Xue et al., CVPR 2024, arXiv 2402.17376): a
  model-free error bound over the λ = log-SNR grid, minimised with scipy.
* :mod:`artrl.methods.ld3` — LD3-style (Tong et al., ICLR 2025, arXiv 2405.15506): the timesteps
  learned by back-propagating through the solver against a high-NFE teacher.

AYS (Sabour et al., ICML 2024, arXiv 2404.14507) is the closed form
:func:`artrl.schedules.ays_gaussian`; its optimiser needs real data and has no public code, so
it has no module here. Papers, reference code and published numbers: docs/references.md §4.

Shared pieces (the step formulas, the counting wrapper, the command line) live in
:mod:`artrl.methods.common`.
"""

from artrl import registry

__all__ = ["METHODS"]


def __getattr__(name: str):
    """``METHODS``: the names of kind "method" in :data:`artrl.registry.METHODS`, read when
    asked (a plugin registered later is included)."""
    if name == "METHODS":
        return registry.method_names("method")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
