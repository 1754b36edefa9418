"""Reading the inputs of the reports: W2 metrics JSONs (:mod:`artrl.metrics.w2`), FID JSONs
(:mod:`artrl.metrics.fid`), schedule JSONs and sample shards; each malformed file is a
:class:`~artrl.report.common.ReportError` that names it.

Replicates (issue 16): a metrics or FID file may carry ``"replicate": r`` (an integer >= 0;
absent means 0) and ``"replicate_seed": s`` (the seed of that replicate's schedule-making
steps). A table reads several files of one cell (schedule, K or NFE) only when their
replicates differ, and every cell of one table must have the same replicates
(:func:`check_replicates`); the replicates of one FID cell must have disjoint sample seeds. An
FID file of a run whose replicates each trained their own score model (config
replicate_score_model) says ``"replicate_score_model": true``."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from artrl import registry
from artrl.cells import check_cell
from artrl.io import InputError
from artrl.report.common import ReportError, _opt_float, _split_entry, read_object
from artrl.schedules import Schedule, ScheduleError

# ----------------------------------------------------------------------------------------------
# The numerics a result was computed with (artrl.device.numerics_record), as a table cell


def _numerics_one(rec: Any) -> str:
    if isinstance(rec, list):
        return "/".join(_numerics_one(r) for r in rec)
    if not isinstance(rec, dict):
        return "?"
    s = f"{rec.get('cpu_capability') or '?'} ×{rec.get('torch_threads') or '?'}"
    if rec.get("onednn_max_cpu_isa"):
        s += f" oneDNN={rec['onednn_max_cpu_isa']}"
    if rec.get("aten_cpu_capability"):
        s += f" ATen={rec['aten_cpu_capability']}"
    return s


def numerics_summary(d: dict, parts: Sequence[tuple[str, str]]) -> str | None:
    """``"sample AVX512 ×1, fid AVX512 ×1, torch 2.14.1"``: the CPU dispatch level and torch
    threads of each job whose record ``d`` holds under the keys of ``parts`` ((key, label)),
    None when it holds none (files from before issue 16)."""
    found = [(label, d[key]) for key, label in parts if d.get(key) is not None]
    if not found:
        return None
    text = ", ".join(f"{label} {_numerics_one(rec)}".strip() for label, rec in found)
    versions = {
        r.get("torch")
        for _, rec in found
        for r in (rec if isinstance(rec, list) else [rec])
        if isinstance(r, dict) and r.get("torch")
    }
    return text + (f", torch {'/'.join(sorted(versions))}" if versions else "")


# ----------------------------------------------------------------------------------------------
# Reading metrics


@dataclass(frozen=True)
class MetricRecord:
    name: str
    K: int
    w2_exact: float
    w2_mc: float | None
    art_cost: float | None
    method: str | None
    dataset: str | None
    solver: str | None
    schedule_config_digest: str | None
    path: str
    art_cost_refined: float | None = None  # |Q| integrated along the path (artrl.art.cost)
    schedule_sha256: str | None = None  # of the schedule file the metrics were computed on
    numerics: str | None = None  # torch threads and CPU kernels of the job (numerics_summary)
    replicate: int = 0  # which replicate of the cell (issue 16)
    replicate_seed: int | None = None  # the seed of that replicate's schedule-making steps


def _replicate(d: dict, p: str) -> tuple[int, int | None]:
    """A file's ``replicate`` (0 when absent) and ``replicate_seed`` (None when absent)."""
    r = d.get("replicate", 0)
    if r is None:
        r = 0
    if isinstance(r, bool) or not isinstance(r, int) or r < 0:
        raise ReportError(f"{p}: 'replicate' must be an integer >= 0, got {r!r}")
    seed = d.get("replicate_seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ReportError(f"{p}: 'replicate_seed' must be an integer, got {seed!r}")
    return r, seed


def _at(axis: str, x: int) -> str:
    return f"K={x}" if axis == "K" else f"NFE {x}"


def _cell_name(name: str, axis: str, x: int, replicate: int) -> str:
    rep = f" (replicate {replicate})" if replicate else ""
    return f"schedule {name!r} at {_at(axis, x)}{rep}"


def check_replicates(records: Sequence[MetricRecord] | Sequence[FidRecord]) -> None:
    """Every cell (name, K or NFE) of one table must have the same set of replicates, so that
    the means over them are comparable; the replicates of one FID cell must have disjoint
    sample seeds (where the files say). A ReportError names the cell and the replicate missing,
    or both files."""
    if not records:
        return
    axis = "K" if isinstance(records[0], MetricRecord) else "nfe"
    cells: dict[tuple[str, int], dict[int, Any]] = {}
    for r in records:
        cells.setdefault((r.name, getattr(r, axis)), {})[r.replicate] = r
    want = sorted(set().union(*(set(c) for c in cells.values())))
    for (name, x), reps in cells.items():
        missing = [r for r in want if r not in reps]
        if missing:
            paths = ", ".join(reps[r].path for r in sorted(reps))
            raise ReportError(
                f"schedule {name!r} at {_at(axis, x)} has no replicate "
                f"{', '.join(map(str, missing))} (it has {sorted(reps)}, read from {paths}); "
                f"every cell of a table needs the same replicates ({want}) so that their means "
                f"are comparable"
            )
    if axis != "nfe":
        return
    for (name, x), reps in cells.items():
        rs = [reps[r] for r in sorted(reps)]
        for i, a in enumerate(rs):
            for b in rs[i + 1 :]:
                if None in (a.seed_min, a.seed_max, b.seed_min, b.seed_max):
                    continue
                if a.seed_min <= b.seed_max and b.seed_min <= a.seed_max:
                    raise ReportError(
                        f"{b.path}: replicate {b.replicate} of schedule {name!r} at NFE {x} "
                        f"has sample seeds {b.sample_seeds}, overlapping replicate "
                        f"{a.replicate}'s {a.sample_seeds} ({a.path}); replicates must use "
                        f"disjoint sample seeds"
                    )


def load_metrics(entries: Sequence[str]) -> list[MetricRecord]:
    """Read ``NAME=PATH`` / ``PATH`` metrics JSONs; the same (name, K, replicate) twice is an
    error, and so are cells with different replicates (:func:`check_replicates`)."""
    out: list[MetricRecord] = []
    seen: dict[tuple[str, int, int], str] = {}
    for entry in entries:
        name, path = _split_entry(entry)
        p = str(path)
        d = read_object(path)
        for key in ("K", "w2_exact"):
            if key not in d:
                raise ReportError(f"{p}: missing key {key!r}")
        K = d["K"]
        if isinstance(K, bool) or not isinstance(K, int) or K < 1:
            raise ReportError(f"{p}: 'K' must be an integer >= 1, got {K!r}")
        try:
            check_cell(p, d, {})  # its K is the K its file name says
        except InputError as e:
            raise ReportError(str(e)) from None
        w2 = _opt_float(d, "w2_exact", p)
        if w2 is None:
            raise ReportError(f"{p}: 'w2_exact' is null")
        rep, rep_seed = _replicate(d, p)
        if (name, K, rep) in seen:
            raise ReportError(
                f"{p}: {_cell_name(name, 'K', K, rep)} already read from {seen[name, K, rep]}"
            )
        seen[name, K, rep] = p
        out.append(
            MetricRecord(
                name=name,
                K=K,
                w2_exact=w2,
                w2_mc=_opt_float(d, "w2_mc", p),
                art_cost=_opt_float(d, "art_cost", p),
                art_cost_refined=_opt_float(d, "art_cost_refined", p),
                method=d.get("method"),
                dataset=d.get("dataset"),
                solver=d.get("solver"),
                schedule_config_digest=d.get("schedule_config_digest"),
                schedule_sha256=d.get("schedule_sha256"),
                numerics=numerics_summary(d, [("numerics", "")]),
                path=p,
                replicate=rep,
                replicate_seed=rep_seed,
            )
        )
    if not out:
        raise ReportError("no metrics files given")
    check_replicates(out)
    return out


# A solver's display name, its NFE formula (axis labels, table notes) and the NFE of a cell
# without one come from artrl.registry.SOLVERS (a plugin's solvers included).


def _solver_name(solver: str | None) -> str:
    s = registry.SOLVERS.get(solver or "")
    return s.label if s else solver or "?"


def _nfe_formula(solver: str | None, default: str = "") -> str:
    s = registry.SOLVERS.get(solver or "")
    return s.nfe_formula if s else default


def _nfe_axis_label(solver: str | None) -> str:
    conv = _nfe_formula(solver)
    return f"NFE ({_solver_name(solver)}: {conv})" if conv else "NFE"


def is_art(method: str | None) -> bool:
    """ART rows: methods of an ART kind in artrl.registry (art_rl, art_analytic,
    art_rl_transfer); a method the registry does not know counts when it starts with "art"."""
    if not method:
        return False
    m = registry.lookup_method(str(method))
    return m.is_art if m is not None else str(method).lower().startswith("art")


def is_baseline(method: str | None) -> bool:
    """Seed-independent schedules: methods of kind "baseline" in artrl.registry (uniform, edm,
    geometric alias dpm, ays_gaussian); a method the registry does not know is not one."""
    m = registry.lookup_method(str(method)) if method else None
    return m is not None and m.kind == "baseline"


# ----------------------------------------------------------------------------------------------
# Reading FID results


@dataclass(frozen=True)
class FidRecord:
    """One (schedule, NFE) cell, or one replicate of it. ``fid`` is the mean over ``fid_blocks``
    when there are several seed blocks (the file's ``"fid"`` otherwise)."""

    name: str
    nfe: int
    fid: float
    fid_blocks: tuple[float, ...]
    blocks: int
    n_images: int | None
    K: int | None
    solver: str | None
    method: str | None
    dataset: str | None
    path: str
    seed_min: int | None = None
    seed_max: int | None = None
    schedule_config_digest: str | None = None
    schedule_sha256: str | None = None  # of the schedule file the cell's images came from
    replicate: int = 0  # which replicate of the cell (issue 16)
    replicate_seed: int | None = None  # the seed of that replicate's schedule-making steps
    numerics: str | None = None  # sampling and feature jobs' threads and kernels (issue 16)
    replicate_score_model: bool = False  # each replicate sampled its own score model

    @property
    def sample_seeds(self) -> str | None:
        """The cell's seed block, e.g. ``"0-4999"`` (None when the file does not say)."""
        if self.seed_min is None or self.seed_max is None:
            return None
        return f"{self.seed_min}-{self.seed_max}"

    @property
    def fid_min(self) -> float:
        return min(self.fid_blocks) if self.fid_blocks else self.fid

    @property
    def fid_max(self) -> float:
        return max(self.fid_blocks) if self.fid_blocks else self.fid


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _pos_int(d: dict, key: str, p: str, *, required: bool) -> int | None:
    v = d.get(key)
    if v is None:
        if required:
            raise ReportError(f"{p}: missing key {key!r}")
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ReportError(f"{p}: {key!r} must be an integer >= 1, got {v!r}")
    return v


def _block_fids(d: dict, p: str) -> tuple[float, ...]:
    """``fid_blocks`` as a list of floats, or the dict of :func:`artrl.metrics.fid.fid_blocks`."""
    v = d.get("fid_blocks")
    if v is None:
        return ()
    if isinstance(v, dict):
        v = v.get("fids")
    if not isinstance(v, list) or not v or not all(_num(x) for x in v):
        raise ReportError(f"{p}: 'fid_blocks' must be a non-empty list of numbers")
    return tuple(float(x) for x in v)


def load_fid_file(
    entry: str, *, solver: str | None = None, dataset: str | None = None
) -> FidRecord:
    """Read one ``NAME=PATH`` / ``PATH`` FID JSON; ``solver``, if given, must match the file's.

    A file that names its cell (``name``, ``dataset``, ``K``: what ``python -m
    artrl.metrics.fid --meta`` records) must be the cell it is read for: the entry's NAME, the
    table's ``dataset`` and the K its file name says (:func:`artrl.cells.check_cell`).
    """
    name, path = _split_entry(entry)
    p = str(path)
    d = read_object(path)
    expect = {"name": name} if "name" in d and "=" in entry else {}
    if dataset is not None and "dataset" in d:
        expect["dataset"] = dataset
    try:
        check_cell(p, d, expect)
    except InputError as e:
        raise ReportError(str(e)) from None
    if "fid" not in d:
        raise ReportError(f"{p}: missing key 'fid'")
    if not _num(d["fid"]):
        raise ReportError(f"{p}: 'fid' must be a number, got {d['fid']!r}")
    fsolver = d.get("solver")
    if fsolver is not None and not isinstance(fsolver, str):
        raise ReportError(f"{p}: 'solver' must be a string, got {fsolver!r}")
    if solver is not None and fsolver is not None and fsolver != solver:
        raise ReportError(f"{p}: solver {fsolver!r} but the table is for --solver {solver!r}")
    K = _pos_int(d, "K", p, required=False)
    nfe = _pos_int(d, "nfe", p, required=False)
    if nfe is None:
        s = fsolver or solver
        if K is None or s not in registry.SOLVERS:
            raise ReportError(f"{p}: missing key 'nfe' (and no 'K' with a known solver)")
        nfe = registry.SOLVERS[s].nfe(K)
    fb = _block_fids(d, p)
    blocks = _pos_int(d, "blocks", p, required=False)
    if blocks is None:
        blocks = len(fb) or 1
    if fb and len(fb) != blocks:
        raise ReportError(f"{p}: 'blocks' is {blocks} but 'fid_blocks' has {len(fb)} values")
    fid = float(np.mean(fb)) if blocks > 1 else float(d["fid"])
    method = d.get("method")
    dataset = d.get("dataset")
    seeds = []
    for key in ("seed_min", "seed_max"):
        v = d.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise ReportError(f"{p}: {key!r} must be an integer >= 0, got {v!r}")
        seeds.append(v)
    digest = d.get("schedule_config_digest")
    sha = d.get("schedule_sha256")
    rep, rep_seed = _replicate(d, p)
    own_model = d.get("replicate_score_model", False)
    if not isinstance(own_model, bool):
        raise ReportError(f"{p}: 'replicate_score_model' must be true or false, got {own_model!r}")
    return FidRecord(
        name=name,
        nfe=nfe,
        fid=fid,
        fid_blocks=fb,
        blocks=blocks,
        n_images=_pos_int(d, "n_images", p, required=False),
        K=K,
        solver=fsolver or solver,
        method=str(method) if method is not None else None,
        dataset=str(dataset) if dataset is not None else None,
        path=p,
        seed_min=seeds[0],
        seed_max=seeds[1],
        schedule_config_digest=str(digest) if digest is not None else None,
        schedule_sha256=str(sha) if sha is not None else None,
        replicate=rep,
        replicate_seed=rep_seed,
        numerics=numerics_summary(d, [("sample_numerics", "sample"), ("numerics", "fid")]),
        replicate_score_model=own_model,
    )


def load_fid(
    entries: Sequence[str], *, solver: str | None = None, dataset: str | None = None
) -> list[FidRecord]:
    """Read ``NAME=PATH`` FID JSONs; two files for the same (name, NFE, replicate) are an error,
    and so are cells with different replicates or replicates sharing sample seeds
    (:func:`check_replicates`)."""
    out: list[FidRecord] = []
    seen: dict[tuple[str, int, int], str] = {}
    for entry in entries:
        r = load_fid_file(entry, solver=solver, dataset=dataset)
        key = (r.name, r.nfe, r.replicate)
        if key in seen:
            raise ReportError(
                f"{r.path}: {_cell_name(r.name, 'nfe', r.nfe, r.replicate)} already read from "
                f"{seen[key]}"
            )
        seen[key] = r.path
        out.append(r)
    if not out:
        raise ReportError("no FID files given")
    check_replicates(out)
    return out


def load_schedules(entries: Sequence[str]) -> list[tuple[str, Schedule]]:
    """``NAME=PATH`` schedule JSONs; the same (name, K) twice is an error."""
    out: list[tuple[str, Schedule]] = []
    seen: dict[tuple[str, int], str] = {}
    for entry in entries:
        try:
            name, path = _split_entry(entry)
        except ReportError as e:
            raise ReportError(f"--schedule {e}") from None
        try:
            s = Schedule.load(path)
        except ScheduleError as e:
            raise ReportError(str(e)) from None
        if (name, s.K) in seen:
            raise ReportError(
                f"{path}: schedule {name!r} at K={s.K} already read from {seen[name, s.K]}"
            )
        seen[name, s.K] = str(path)
        out.append((name, s))
    if not out:
        raise ReportError("no schedule files given")
    return out


@dataclass(frozen=True)
class Shard:
    """The first images of one sample shard and, if the shard has ``meta``, its NFE."""

    name: str
    images: np.ndarray
    nfe: int | None
    path: str


def load_shard(entry: str, n: int | None = None) -> Shard:
    """Read ``NAME=PATH`` (npz: ``images`` uint8 [N, H, W, C] with C in {1, 3}, optional
    ``meta`` JSON string); keep the first ``n`` images."""
    try:
        name, path = _split_entry(entry)
    except ReportError as e:
        raise ReportError(f"--shard {e}") from None
    p = str(path)
    if not path.is_file():
        raise ReportError(f"{p}: shard file not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            if "images" not in z.files:
                raise ReportError(f"{p}: shard lacks key 'images' (has {sorted(z.files)})")
            images = z["images"]
            meta_text = str(z["meta"]) if "meta" in z.files else None
    except ReportError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
        raise ReportError(f"{p}: not a readable .npz shard ({e})") from None
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ReportError(
            f"{p}: 'images' must be uint8 [N, H, W, C] with C = 1 or 3, got "
            f"{images.dtype} {list(images.shape)}"
        )
    if len(images) == 0:
        raise ReportError(f"{p}: shard has no images")
    nfe = None
    if meta_text is not None:
        try:
            meta = json.loads(meta_text)
        except json.JSONDecodeError as e:
            raise ReportError(f"{p}: 'meta' is not valid JSON ({e})") from None
        v = meta.get("nfe") if isinstance(meta, dict) else None
        nfe = v if isinstance(v, int) and not isinstance(v, bool) else None
    return Shard(name=name, images=images[:n] if n else images, nfe=nfe, path=p)
