"""The one list of schedule methods and ODE solvers (issue 15), read by the package and the
Snakemake workflow alike (``workflow/rules/common.smk`` imports it: artrl must be importable
where snakemake runs).

* :data:`SOLVERS`: name -> :class:`Solver` (stages per step, hence the NFE of K steps, the
  display name, and the ``module:function`` that implements it; :mod:`artrl.solvers` imports
  that function on first use).
* :data:`METHODS`: name -> :class:`Method` (its kind, hence the rule that makes its schedules,
  the command-line module of kind ``"method"``, whether it needs a precompute job first, and
  the aliases its command also accepts).

Plugins: ``ARTRL_PLUGINS="pkg.mod1,mod2"`` names modules imported at the end of this module's
import; each calls :func:`register_method` / :func:`register_solver`. The variable reaches the
workflow's jobs through their environment, so a plugin's names are known to every command.

Torch-free: importing this module (without plugins) must not import torch.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: the pattern of a method or solver name (the config schema's ``$defs`` ``method_name`` and
#: ``solver_name``): names go into output paths, wildcard regexes and command lines
NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
#: a Python module path (a kind "method" command line, python -m <cli>)
MODULE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
PLUGINS_ENV = "ARTRL_PLUGINS"

#: the rule of workflow/rules/*.smk that writes the schedule files of each kind
RULES: dict[str, str] = {
    "baseline": "baseline_schedule",  # python -m artrl.schedules --method NAME
    "art_analytic": "art_analytic_schedule",  # python -m artrl.art.analytic
    "art_rl": "art_distill",  # after art_train
    "art_rl_transfer": "transfer_schedule",  # python -m artrl.transfer
    # the state-dependent sampler (issue 17): an art_rl run's actor as a policy file, beside
    # the run's distilled grid (python -m artrl.art.distill --policy-out)
    "art_state": "art_state_schedule",
    "method": "method_schedule",  # python -m <cli>
}
KINDS = tuple(RULES)


@dataclass(frozen=True)
class Solver:
    """A deterministic PF-ODE solver: ``stages`` denoiser evaluations per step, except the
    last step into σ = 0, which is an Euler step (one evaluation): NFE = stages·K − (stages − 1).
    ``function`` is ``"module:attr"``, called as ``f(D, x, sigmas, labels=..., progress=...)``.
    """

    name: str
    stages: int
    label: str
    function: str

    def nfe(self, K: int, *, ends_at_zero: bool = True) -> int:
        """Denoiser evaluations of K steps; every step full (stages·K) on a grid ending > 0."""
        return self.stages * K - (self.stages - 1) * int(ends_at_zero)

    @property
    def nfe_formula(self) -> str:
        """``"NFE = K"``, ``"NFE = 2K − 1"``, ... (axis labels and table notes)."""
        n = self.stages
        return "NFE = K" if n == 1 else f"NFE = {n}K − {n - 1}"


@dataclass(frozen=True)
class Method:
    """A schedule method. ``kind`` says which rule makes its schedules (:data:`RULES`);
    ``cli`` (kind "method" only) is the module run as ``python -m <cli>`` with the command line
    of :mod:`artrl.methods.common`; ``precompute``: the module runs once per schedule with
    ``--save-costs`` (rule gits_costs) and each K reads that file (``--costs``); ``aliases``:
    other names its command accepts (not config names)."""

    name: str
    kind: str
    cli: str | None = None
    precompute: bool = False
    aliases: tuple[str, ...] = ()

    @property
    def rule(self) -> str:
        return RULES[self.kind]

    @property
    def is_art(self) -> bool:
        return self.kind.startswith("art")


SOLVERS: dict[str, Solver] = {}
METHODS: dict[str, Method] = {}
_builtins_done = False


def _check_name(name: str, what: str) -> None:
    if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
        raise ValueError(f"{what} name {name!r} must match {NAME_PATTERN}")


def register_solver(
    name: str, *, stages: int, function: str, label: str | None = None, replace: bool = False
) -> Solver:
    """Add a solver: ``stages`` evaluations per full step, ``function`` ``"module:attr"`` (the
    same entry again is a no-op; another one under a registered name needs ``replace``)."""
    _check_name(name, "solver")
    if isinstance(stages, bool) or not isinstance(stages, int) or stages < 1:
        raise ValueError(f"solver {name!r}: stages must be an integer >= 1, got {stages!r}")
    mod, _, attr = str(function).partition(":")
    if not (re.fullmatch(MODULE_PATTERN, mod) and attr.isidentifier()):
        raise ValueError(f"solver {name!r}: function must be 'module:attr', got {function!r}")
    solver = Solver(name=name, stages=stages, label=label or name, function=function)
    if SOLVERS.get(name, solver) != solver and not replace:
        raise ValueError(f"solver {name!r} is already registered (differently)")
    SOLVERS[name] = solver
    return solver


def register_method(
    name: str,
    *,
    kind: str = "method",
    cli: str | None = None,
    precompute: bool = False,
    aliases: tuple[str, ...] = (),
    replace: bool = False,
) -> Method:
    """Add a schedule method. A plugin adds kind "method" (``cli``: a module with the command
    line of :mod:`artrl.methods.common`); the other kinds are made by commands that know only
    the built-in names (e.g. ``python -m artrl.schedules --method``)."""
    _check_name(name, "method")
    if kind not in RULES:
        raise ValueError(f"method {name!r}: kind {kind!r} is not one of {', '.join(KINDS)}")
    if _builtins_done and kind != "method":
        raise ValueError(
            f"method {name!r}: kind {kind!r} is made by rule {RULES[kind]}, whose command "
            "knows only the built-in names; register kind 'method' with a cli module instead"
        )
    if kind == "method":
        if not isinstance(cli, str) or not re.fullmatch(MODULE_PATTERN, cli):
            raise ValueError(f"method {name!r}: kind 'method' needs cli, a module path")
    elif cli is not None or precompute:
        raise ValueError(f"method {name!r}: cli and precompute apply to kind 'method' only")
    if _builtins_done and precompute:
        raise ValueError(
            f"method {name!r}: precompute is rule gits_costs, which runs artrl.methods.gits only"
        )
    method = Method(name, kind, cli=cli, precompute=bool(precompute), aliases=tuple(aliases))
    if METHODS.get(name) == method:  # the same entry again (a plugin imported twice)
        return method
    for n in (name, *method.aliases):
        _check_name(n, "method")
        owner = lookup_method(n)
        if owner is not None and not (replace and owner.name == name):
            raise ValueError(f"method name {n!r} is already registered (by {owner.name!r})")
    METHODS[name] = method
    return method


def lookup_method(name: str) -> Method | None:
    """The method of a name or an alias, or None."""
    if name in METHODS:
        return METHODS[name]
    return next((m for m in METHODS.values() if name in m.aliases), None)


def method_names(*kinds: str) -> tuple[str, ...]:
    """Registered method names (of the given kinds; all without), in registration order."""
    return tuple(n for n, m in METHODS.items() if not kinds or m.kind in kinds)


def solver_function(name: str) -> Callable[..., Any]:
    """Import the implementation of a solver (KeyError for an unknown name)."""
    mod, _, attr = SOLVERS[name].function.partition(":")
    return getattr(importlib.import_module(mod), attr)


def load_plugins(spec: str | None = None) -> list[str]:
    """Import the modules of ``ARTRL_PLUGINS`` (comma-separated; or ``spec``) once each."""
    spec = os.environ.get(PLUGINS_ENV, "") if spec is None else spec
    names = [s.strip() for s in spec.split(",") if s.strip()]
    for mod in names:
        try:
            importlib.import_module(mod)
        except ImportError as e:
            raise ImportError(f"{PLUGINS_ENV}: cannot import plugin {mod!r}: {e}") from e
    return names


# ----------------------------------------------------------------------------------------------
# The built-in entries (docs/references.md §2.5 for the NFE; workflow/rules/*.smk for the rules)

register_solver("euler", stages=1, label="Euler", function="artrl.solvers:euler")
register_solver("heun", stages=2, label="Heun", function="artrl.solvers:heun")
register_solver("rk4", stages=4, label="RK4", function="artrl.solvers:rk4")

register_method("uniform", kind="baseline")
register_method("edm", kind="baseline")
register_method("geometric", kind="baseline", aliases=("dpm",))
register_method("ays_gaussian", kind="baseline")
register_method("art_analytic", kind="art_analytic")
register_method("art_rl", kind="art_rl")
register_method("art_rl_transfer", kind="art_rl_transfer")
register_method("art_state", kind="art_state")
register_method("gits", cli="artrl.methods.gits", precompute=True)
register_method("dmn", cli="artrl.methods.dmn")
register_method("ld3", cli="artrl.methods.ld3")

#: the names above (a plugin's are not among them): the config schema's examples
BUILTIN_SOLVERS = tuple(SOLVERS)
BUILTIN_METHODS = tuple(METHODS)
_builtins_done = True

load_plugins()
