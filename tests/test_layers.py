"""One-way layers (issue 15): the import graph of src/artrl, read with ``ast``.

Every ``import artrl...`` / ``from artrl... import ...`` counts, at any depth (a function-local
import or one under ``if TYPE_CHECKING:`` too): a lower layer that names a higher one, even
lazily, depends on it. Nodes are modules (a package is its ``__init__``); ``from artrl.p import
m`` is an edge to the submodule ``artrl.p.m`` when that file exists, else to ``artrl.p``.

The rules:

* :mod:`artrl.schedules` imports no other artrl module;
* :mod:`artrl.solvers` takes the denoiser as a callable and imports only ``schedules`` and
  ``registry`` (the torch-free list of names, itself a leaf);
* ``artrl.models*`` import neither ``artrl.art*`` nor ``artrl.solvers``;
* ``artrl.metrics*`` import no ``artrl.art*``;
* :mod:`artrl.cells` imports ``artrl.io`` only;
* nothing below the ART-RL command line (``artrl.art.train``) imports it (it is a CLI);
* no import cycle among modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "artrl"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _resolve(name: str) -> str | None:
    """The known module a dotted name lies in (its longest known prefix), or None."""
    parts = name.split(".")
    while parts:
        cand = ".".join(parts)
        if cand in MODULES:
            return cand
        parts.pop()
    return None


def _imports(module: str) -> dict[str, list[int]]:
    """artrl modules that ``module`` imports (anywhere in its file) -> the lines that do."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"), filename=str(MODULES[module]))
    found: dict[str, list[int]] = {}

    def add(target: str | None, line: int) -> None:
        if target is not None and target != module and line not in found.get(target, []):
            found.setdefault(target, []).append(line)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "artrl":
                    add(_resolve(alias.name), node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the module's own package
                pkg = module if _is_package(module) else module.rpartition(".")[0]
                base = pkg.split(".")
                base = base[: len(base) - (node.level - 1)]
                src = ".".join([*base, node.module] if node.module else base)
            else:
                src = node.module or ""
            if src.split(".")[0] != "artrl":
                continue
            for alias in node.names:
                sub = f"{src}.{alias.name}"
                add(sub if sub in MODULES else _resolve(src), node.lineno)
    return found


GRAPH: dict[str, dict[str, list[int]]] = {m: _imports(m) for m in MODULES}


def _edges(src_pred, dst_pred) -> list[str]:
    """``a -> b (file:lines)`` for every edge from a module ``src_pred`` accepts to one
    ``dst_pred`` accepts."""
    return [
        f"{a} -> {b} ({MODULES[a].relative_to(SRC.parent)}:{','.join(map(str, sorted(lines)))})"
        for a, targets in sorted(GRAPH.items())
        if src_pred(a)
        for b, lines in sorted(targets.items())
        if dst_pred(b)
    ]


def _in(*prefixes: str):
    return lambda m: any(m == p or m.startswith(p + ".") for p in prefixes)


def _not_in(*names: str):
    return lambda m: m not in names


def test_graph_sees_the_package():
    # the walker finds the package and a known function-local import, so the rules below test
    # something
    assert {"artrl.schedules", "artrl.solvers", "artrl.io", "artrl.metrics.fid"} <= set(MODULES)
    assert "artrl.io" in GRAPH["artrl.sample"]
    assert "artrl.models" in GRAPH["artrl.sample"]  # a function-local import


def _any(m: str) -> bool:
    return True


RULES = [
    ("schedules imports no other artrl module", _in("artrl.schedules"), _any),
    (
        "solvers import only schedules and registry",
        _in("artrl.solvers"),
        _not_in("artrl.schedules", "artrl.registry"),
    ),
    ("registry imports no other artrl module", _in("artrl.registry"), _any),
    ("models import no art", _in("artrl.models"), _in("artrl.art")),
    ("models import no solvers", _in("artrl.models"), _in("artrl.solvers")),
    ("metrics import no art", _in("artrl.metrics"), _in("artrl.art")),
    ("cells imports io only", _in("artrl.cells"), _not_in("artrl.io")),
    (
        "only the top-level commands (the smoke check, the state comparison) import the "
        "ART-RL CLI artrl.art.train",
        _not_in("artrl.smoke", "artrl.state_compare"),
        _in("artrl.art.train"),
    ),
]


@pytest.mark.parametrize("rule, src, dst", [pytest.param(*r, id=r[0]) for r in RULES])
def test_layer_rule(rule, src, dst):
    bad = _edges(src, dst)
    assert not bad, f"{rule}; offending edges:\n  " + "\n  ".join(bad)


def _cycles() -> list[list[str]]:
    """Strongly connected components of size > 1 (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(GRAPH):
        if root in index:
            continue
        work = [(root, iter(sorted(GRAPH[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(GRAPH[w]))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_no_import_cycle():
    bad = []
    for comp in _cycles():
        members = set(comp)
        bad.append(
            "cycle among "
            + ", ".join(comp)
            + ":\n    "
            + "\n    ".join(_edges(lambda m, s=members: m in s, lambda m, s=members: m in s))
        )
    assert not bad, "import cycles; offending edges:\n  " + "\n  ".join(bad)


def test_schedules_is_a_known_bad_input_without_importing_io(capsys, monkeypatch):
    """What :mod:`artrl.schedules` keeps of :mod:`artrl.io` without importing it: the REMAKE
    text, and a :class:`ScheduleError` that :func:`artrl.io.run_cli` prints as one line."""
    from artrl import io, schedules

    assert schedules.REMAKE == io.REMAKE
    assert issubclass(schedules.ScheduleError, ValueError)
    assert io.is_input_error(schedules.ScheduleError("x"))
    assert not io.is_input_error(ValueError("x"))

    def bad(argv):
        raise schedules.ScheduleError("K3.json: torn; delete it")

    monkeypatch.delenv("ARTRL_TRACEBACK", raising=False)
    assert io.run_cli(bad) == 2
    assert capsys.readouterr().err == "error: K3.json: torn; delete it\n"
