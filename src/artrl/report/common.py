"""Shared pieces of the report package: the error type, provenance (config digest, seed, code
version: on every table row and under every Markdown table), ``NAME=PATH`` entries and the
``--labels-json`` option."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import artrl
from artrl.io import REMAKE, InputError, read_json


class ReportError(InputError):
    """A malformed input file or argument; the message names it."""


# ----------------------------------------------------------------------------------------------
# Provenance


#: the provenance columns of every table row (CSV), in this order
PROVENANCE_COLUMNS = ("config_digest", "seed", "code_version")


def _git(args: Sequence[str], where: Path) -> str | None:
    try:
        r = subprocess.run(["git", *args], cwd=where, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    out = r.stdout.strip()
    return out if r.returncode == 0 and out else None


def git_describe(where: str | os.PathLike | None = None) -> str | None:
    """``git describe --always --dirty`` of the checkout this package is in (or ``where``);
    None when there is no git, or the package is not a tracked file of a checkout (e.g. it was
    installed into a virtual environment that happens to lie inside some repository)."""
    pkg = Path(where) if where is not None else Path(__file__).resolve().parents[1]
    if where is None and _git(["ls-files", "--error-unmatch", "__init__.py"], pkg) is None:
        return None
    return _git(["describe", "--always", "--dirty"], pkg)


def code_version(where: str | os.PathLike | None = None) -> str:
    """The package version plus the git description of its checkout, e.g. ``0.1.0+e85bdbd-dirty``
    (``0.1.0+unknown`` outside a git checkout)."""
    return f"{artrl.__version__}+{git_describe(where) or 'unknown'}"


def provenance(config_digest: str | None, seed: int | str | None) -> dict[str, Any]:
    """The provenance columns of a table: config digest, seed and code version."""
    return {
        "config_digest": config_digest if config_digest else "unknown",
        "seed": seed if seed is not None else "unknown",
        "code_version": code_version(),
    }


def provenance_footer(prov: dict[str, Any] | None) -> list[str]:
    """Markdown lines that close a table file: what produced it (every CSV row carries it)."""
    if not prov:
        return []
    parts = [f"{k.replace('_', ' ')} `{v}`" for k, v in prov.items()]
    return ["", "---", "", "Provenance: " + "; ".join(parts) + "."]


def _split_entry(entry: str) -> tuple[str, Path]:
    if "=" in entry:
        name, path = entry.split("=", 1)
        if not name:
            raise ReportError(f"{entry!r}: empty schedule name before '='")
        return name, Path(path)
    path = Path(entry)
    return path.parent.name, path


def read_object(path: str | os.PathLike) -> dict[str, Any]:
    """A JSON object file (a metrics or FID result); a missing, unreadable, torn or non-object
    file is a ReportError naming it."""
    try:
        d = read_json(path)
    except (FileNotFoundError, ValueError) as e:
        raise ReportError(str(e)) from None
    except OSError as e:
        raise ReportError(f"{path}: cannot read ({e})") from None
    if not isinstance(d, dict):
        raise ReportError(f"{path}: expected a JSON object; {REMAKE}")
    return d


def _opt_float(d: dict, key: str, path: str) -> float | None:
    v = d.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ReportError(f"{path}: {key!r} must be a number or null, got {v!r}")
    return float(v)


# ----------------------------------------------------------------------------------------------
# --labels-json


def _labels(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    try:
        d = json.loads(text)
    except json.JSONDecodeError as e:
        raise ReportError(f"--labels-json: not valid JSON ({e})") from None
    if not isinstance(d, dict) or not all(isinstance(v, str) for v in d.values()):
        raise ReportError("--labels-json: expected a JSON object of name -> label strings")
    return d
