"""Known bad inputs, made as a careless or hostile user makes them: each ends in one clear
error (exit status != 0, no traceback, the file or key named with the fix) or in a correct
result, never in a wrong number with exit 0, and no file or config string runs code.

The checks at file level run the command lines directly; the cases that only the workflow
shows (a file copied into another slot, deleted intermediate files, a config string with
shell syntax) run Snakemake on a tiny EDM-format chain (two schedules, K = 2, 20 images).
The crafted ART-RL checkpoint is in tests/test_art_rl.py, the schema bounds in
tests/test_config_schema.py.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from artrl.io import REMAKE, run_cli, write_npz
from artrl.schedules import Schedule, baseline

REPO = Path(__file__).resolve().parents[1]


def _cli(module: str, *args: str) -> subprocess.CompletedProcess:
    """``python -m <module> args`` as the rules run it."""
    return subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=300
    )


def _clean_error(r: subprocess.CompletedProcess, *needles: str) -> str:
    """A failed run's message: one ``error:`` line naming ``needles``, no traceback."""
    assert r.returncode != 0, r.stdout + r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    assert "error: " in r.stderr, r.stderr
    for n in needles:
        assert n in r.stderr, (n, r.stderr)
    return r.stderr


def _schedule(path: Path, dataset: str, K: int, sigma_max: float, digest: str) -> Path:
    sig = baseline("edm", K, sigma_max=sigma_max, sigma_min=0.002)
    Schedule(sig, method="edm", dataset=dataset, K=K, config_digest=digest).save(path)
    return path


# ----------------------------------------------------------------------------------------------
# Nothing from a file or a config string runs code


def test_every_rule_shell_quotes_what_it_interpolates():
    """Every {input}, {output}, {log}, {params}, {wildcards} and {resources} reaches the shell
    quoted (Snakemake's :q); only {threads}, an integer Snakemake sets, goes bare."""
    bare = []
    for smk in sorted((REPO / "workflow/rules").glob("*.smk")):
        text = smk.read_text()
        for block in re.findall(r"^    shell:\n((?:        .*\n)+)", text, re.M):
            for field in re.findall(r"(?<!\{)\{([^{}]+)\}(?!\})", block):
                if field != "threads" and not field.endswith(":q"):
                    bare.append(f"{smk.name}: {{{field}}}")
    assert not bare, bare
    assert len(list((REPO / "workflow/rules").glob("*.smk"))) >= 6


def test_no_unpickling_in_the_package():
    """No torch.load without weights_only=True, no pickle.load, no allow_pickle=True in src/
    (the EDM loader unpickles only a file whose sha256 is pinned: its own unpickler)."""
    offenders = []
    for py in sorted((REPO / "src/artrl").rglob("*.py")):
        for i, line in enumerate(py.read_text().splitlines(), 1):
            code = line.split("#")[0]
            if "weights_only=False" in code or "allow_pickle=True" in code:
                offenders.append(f"{py.name}:{i}: {line.strip()}")
            if re.search(r"\btorch\.load\(", code) and "weights_only=True" not in code:
                offenders.append(f"{py.name}:{i}: {line.strip()}")
            if re.search(r"\bpickle\.loads?\(", code):
                offenders.append(f"{py.name}:{i}: {line.strip()}")
    assert not offenders, offenders


# ----------------------------------------------------------------------------------------------
# Every artifact is checked against the slot that reads it


def test_a_schedule_from_another_dataset_is_refused_by_its_reader(tmp_path):
    """A gauss1d schedule copied into a digits slot (the issue's 1.16-instead-of-0.82 cell)."""
    slot = tmp_path / "results/schedules/digits/edm/K5.json"
    slot.parent.mkdir(parents=True)
    _schedule(slot, "gauss1d", 5, 3.0, "aaaaaaaaaaaa")
    expect = {"dataset": "digits", "K": 5, "sigma_max": 80.0, "config_digest": "bbbbbbbbbbbb"}
    r = _cli(
        "artrl.gauss1d", "--schedule", str(slot), "--expect", json.dumps(expect),
        "--out", str(tmp_path / "m.json"),
    )  # fmt: skip
    err = _clean_error(r, str(slot), "'gauss1d'", "'digits'", "delete it")
    assert "sigma_max 3.0 where the slot expects 80.0" in err
    assert not (tmp_path / "m.json").exists()


def test_a_schedule_for_another_K_is_refused_by_its_reader(tmp_path):
    """K7.json copied into the K5 slot (the issue's NFE-13 FID in the NFE-9 column)."""
    from artrl.schedules import ScheduleError, load_for_slot

    slot = _schedule(tmp_path / "K5.json", "digits", 7, 80.0, "cccccccccccc")
    expect = {"dataset": "digits", "K": 5, "sigma_max": 80.0, "config_digest": "cccccccccccc"}
    with pytest.raises(ScheduleError, match=r"K 7 where the slot expects 5.*delete it"):
        load_for_slot(slot, expect)
    # another method's schedule for the same data set and K: its config digest differs
    _schedule(slot, "digits", 5, 80.0, "dddddddddddd")
    with pytest.raises(ScheduleError, match="config_digest 'dddddddddddd' where the slot"):
        load_for_slot(slot, expect)
    _schedule(slot, "digits", 5, 80.0, "cccccccccccc")
    assert load_for_slot(slot, expect).K == 5  # the right file passes


def _shard(path: Path, *, method: str, digest: str, lo: int, hi: int, sha: str = "e" * 64):
    meta = {
        "schedule": f"results/schedules/x/{method}/K2.json", "schedule_sha256": sha,
        "method": method, "dataset": "x", "K": 2, "config_digest": digest, "solver": "heun",
        "nfe": 3, "seeds": [lo, hi],
    }  # fmt: skip
    n = hi - lo + 1
    images = np.zeros((n, 4, 4, 3), np.uint8)
    write_npz(path, images=images, seeds=np.arange(lo, hi + 1), meta=np.array(json.dumps(meta)))
    return path


CELL = {
    "dataset": "x", "name": "edm", "method": "edm", "solver": "heun", "K": 2, "nfe": 3,
    "schedule_config_digest": "ffffffffffff", "samples": 20,
}  # fmt: skip


def test_a_shard_of_another_schedule_is_refused_by_the_fid_cell(tmp_path):
    """Another schedule's shard copied into a cell (the issue's 57.98 under EDM's name)."""
    from artrl.cells import check_shards
    from artrl.io import InputError

    a = _shard(tmp_path / "seeds0-9.npz", method="edm", digest="ffffffffffff", lo=0, hi=9)
    b = _shard(tmp_path / "seeds10-19.npz", method="uniform", digest="999999999999", lo=10, hi=19)
    with pytest.raises(InputError, match=r"seeds10-19.npz: .*'999999999999'.*'uniform'"):
        check_shards([a, b], CELL)
    b = _shard(tmp_path / "seeds10-19.npz", method="edm", digest="ffffffffffff", lo=10, hi=19)
    assert check_shards([a, b], CELL) == {"schedule_sha256": "e" * 64}
    # a shard from another file of the same slot (an older schedule) is not mixed in
    b = _shard(tmp_path / "seeds10-19.npz", method="edm", digest="ffffffffffff", lo=10, hi=19,
               sha="1" * 64)  # fmt: skip
    with pytest.raises(InputError, match="different schedule files"):
        check_shards([a, b], CELL)
    # shards that miss seeds of the cell
    with pytest.raises(InputError, match="not the cell's seeds 0-19"):
        check_shards([a], CELL)


def test_an_fid_cell_in_another_slot_is_refused_by_the_table(tmp_path):
    from artrl.report import ReportError
    from artrl.report_images import load_fid_file

    cell = tmp_path / "results/fid/x/heun/edm/K5.json"
    cell.parent.mkdir(parents=True)
    cell.write_text(json.dumps({"fid": 1.0, "name": "edm", "dataset": "x", "solver": "heun",
                                "K": 7, "nfe": 13}))  # fmt: skip
    with pytest.raises(ReportError, match="K 7 where its file name says '5'"):
        load_fid_file(f"edm={cell}", solver="heun", dataset="x")
    cell.write_text(json.dumps({"fid": 1.0, "name": "uniform", "dataset": "x", "K": 5}))
    with pytest.raises(ReportError, match="name 'uniform' where the table expects 'edm'"):
        load_fid_file(f"edm={cell}", solver="heun", dataset="x")
    cell.write_text(json.dumps({"fid": 1.0, "name": "edm", "dataset": "y", "K": 5}))
    with pytest.raises(ReportError, match="dataset 'y' where the table expects 'x'"):
        load_fid_file(f"edm={cell}", solver="heun", dataset="x")


# ----------------------------------------------------------------------------------------------
# Readable errors for torn and foreign files


def test_a_truncated_q_profile_names_the_file_and_the_fix(tmp_path):
    good = tmp_path / "good.npz"
    write_npz(good, T=np.float64(3.0), q=np.zeros(4))
    bad = tmp_path / "q_profile.npz"
    bad.write_bytes(good.read_bytes()[:40])
    cfg = {"sigma_max": 3.0, "model": {"type": "gaussian", "std": 1.0, "dim": 1}}
    r = _cli(
        "artrl.art.analytic", "--dataset-config", json.dumps(cfg), "--dataset", "g", "--K", "3",
        "--profile", str(bad), "--out", str(tmp_path / "s.json"),
    )  # fmt: skip
    _clean_error(r, str(bad), REMAKE)
    assert not (tmp_path / "s.json").exists()


def test_a_torn_schedule_json_names_the_file_and_the_fix(tmp_path):
    bad = tmp_path / "K3.json"
    bad.write_text('{"format": "artrl-schedule/1", "sig')
    r = _cli("artrl.gauss1d", "--schedule", str(bad), "--out", str(tmp_path / "m.json"))
    _clean_error(r, str(bad), "not valid JSON", REMAKE)


def test_an_empty_shard_names_the_file_and_the_fix(tmp_path, capsys):
    from artrl.metrics.fid import main as fid_main

    empty = tmp_path / "seeds0-9.npz"
    empty.write_bytes(b"")
    ref = tmp_path / "ref.npz"
    write_npz(ref, mu=np.zeros(2), sigma=np.eye(2))
    argv = ["--shards", str(empty), "--ref", str(ref), "--out", str(tmp_path / "f.json")]
    assert fid_main(argv) == 2
    err = capsys.readouterr().err
    assert str(empty) in err and REMAKE in err, err
    assert not (tmp_path / "f.json").exists()


def test_run_cli_turns_a_known_bad_input_into_one_line(capsys, monkeypatch):
    from artrl.io import InputError

    def boom(argv):
        raise InputError("x.npz: torn; delete it")

    monkeypatch.delenv("ARTRL_TRACEBACK", raising=False)
    assert run_cli(boom) == 2
    assert capsys.readouterr().err == "error: x.npz: torn; delete it\n"

    def bug(argv):
        raise KeyError("a bug keeps its traceback")

    with pytest.raises(KeyError):
        run_cli(bug)


# ----------------------------------------------------------------------------------------------
# The workflow: files in the wrong slot, deleted intermediates, hostile config strings

snakemake_missing = subprocess.run([sys.executable, "-c", "import snakemake"]).returncode != 0
needs_snakemake = pytest.mark.skipif(snakemake_missing, reason="snakemake is not installed")
TABLE = "results/tables/tiny_fid.csv"


def _snakemake(work: Path, cfg_file: Path, *args: str) -> subprocess.CompletedProcess:
    from test_workflow import _env

    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
         "--directory", str(work), "--configfile", str(cfg_file), "--workflow-profile", "none",
         "--cores", "2", *args],
        cwd=REPO, capture_output=True, text=True, timeout=600, env=_env(),
    )  # fmt: skip


@pytest.fixture(scope="module")
def tiny_chain(tmp_path_factory):
    """The EDM image chain, finished, on a test-made network: Uniform and EDM at K = 2, 20
    images in two shards. Returns (work, config file, pristine copy of results/)."""
    from edm_format import write_tiny_edm_pickle
    from test_workflow import _config
    from test_workflow_edm import TinyInception

    root = tmp_path_factory.mktemp("bad_inputs")
    pkl = write_tiny_edm_pickle(root / "tiny-edm.pkl", label_dim=10, resolution=8)
    inc = root / "tiny-inception.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # TorchScript is deprecated
        torch.jit.script(TinyInception()).save(str(inc))
    rng = np.random.default_rng(0)
    imgs = torch.as_tensor(rng.integers(0, 256, (64, 3, 8, 8)), dtype=torch.float32)
    feats = TinyInception()(imgs).double().numpy()
    ref = root / "ref.npz"
    np.savez(ref, mu=feats.mean(0), sigma=np.cov(feats, rowvar=False))
    cfg = _config("cifar10")
    c = cfg["datasets"].pop("cifar10")
    sha = hashlib.sha256(pkl.read_bytes()).hexdigest()
    c["model"] = {"type": "edm", "path": str(pkl), "sha256": [sha]}
    c["solvers"] = {"heun": [2]}
    c.pop("tables")
    c["schedules"] = {k: c["schedules"][k] for k in ("uniform", "edm")}
    c["fid"] = {
        "features": "inception", "inception_path": str(inc), "ref": str(ref),
        "inception_sha256": [hashlib.sha256(inc.read_bytes()).hexdigest()],
        "samples": 20, "shard_size": 10, "batch": 10, "blocks": 1,
    }  # fmt: skip
    cfg["datasets"]["tiny"] = c
    cfg["allow_cpu"] = True
    cfg_file = root / "tiny.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False))
    work = root / "work"
    work.mkdir()
    r = _snakemake(work, cfg_file, TABLE)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    pristine = root / "pristine"
    shutil.copytree(work / "results", pristine)  # copy2: the mtimes are kept
    return work, cfg_file, pristine


def _restore(work: Path, pristine: Path) -> None:
    shutil.rmtree(work / "results")
    shutil.copytree(pristine, work / "results")


def _fid_column(table: Path) -> list[str]:
    import csv

    return [row["fid_NFE3"] for row in csv.DictReader(table.open())]


@needs_snakemake
def test_a_copied_schedule_stops_its_sampling_jobs(tiny_chain):
    work, cfg_file, pristine = tiny_chain
    before = (work / TABLE).read_bytes()
    s = work / "results/schedules/tiny"
    shutil.copy(s / "uniform/K2.json", s / "edm/K2.json")  # newer: its shards are remade
    r = _snakemake(work, cfg_file, TABLE)
    assert r.returncode != 0
    # the first of the cell's sampling jobs that Snakemake starts stops the run
    logs = work / "results/logs/sample_shard/tiny/heun/edm/K2"
    log = "".join(f.read_text() for f in sorted(logs.glob("seeds*.log")))
    assert "does not belong in its slot" in log and "Traceback" not in log, log
    assert "delete it and rerun" in log
    assert (work / TABLE).read_bytes() == before  # no wrong number reached the table
    _restore(work, pristine)


@needs_snakemake
def test_a_copied_shard_stops_its_fid_job(tiny_chain):
    work, cfg_file, pristine = tiny_chain
    before = (work / TABLE).read_bytes()
    s = work / "results/samples/tiny/heun"
    shutil.copy(s / "uniform/K2/seeds0-9.npz", s / "edm/K2/seeds0-9.npz")
    r = _snakemake(work, cfg_file, TABLE)
    assert r.returncode != 0
    log = (work / "results/logs/fid_cell/tiny/heun/edm/K2.log").read_text()
    assert "does not belong to the FID cell" in log and "Traceback" not in log, log
    assert "'uniform'" in log
    assert (work / TABLE).read_bytes() == before
    _restore(work, pristine)


@needs_snakemake
def test_a_table_whose_cell_was_deleted_is_stale_then_rebuilt(tiny_chain):
    """Snakemake alone says "Nothing to be done" here: the table outlives its inputs."""
    work, cfg_file, pristine = tiny_chain
    before = _fid_column(work / TABLE)
    (work / "results/samples/tiny/heun/edm/K2/seeds0-9.npz").unlink()
    (work / "results/fid/tiny/heun/edm/K2.json").unlink()
    r = _snakemake(work, cfg_file, TABLE)
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert f"{TABLE} is stale" in out and "tiny/heun/edm/K2.json" in out, out[-3000:]
    for f in (work / "results/tables").glob("tiny_fid.*"):  # the fix the message names
        f.unlink()
    r = _snakemake(work, cfg_file, TABLE)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert _fid_column(work / TABLE) == before  # remade: the same numbers (fixed seeds)
    _restore(work, pristine)


@needs_snakemake
def test_config_strings_with_shell_syntax_are_refused_before_any_job(tmp_path):
    """Model path, reference statistics and Inception path with `$(...)`, `;` and a backtick:
    the schema refuses each before a rule runs (and every rule quotes its paths anyway)."""
    from test_workflow import _config

    cfg = _config("cifar10")
    c = cfg["datasets"]["cifar10"]
    c["model"]["path"] = "resources/edm/x$(touch PWNED).pkl"
    c["fid"]["ref"] = "resources/fid/ref.npz; touch PWNED"
    c["fid"]["inception_path"] = "resources/fid/`touch PWNED`.pt"
    cfg_file = tmp_path / "hostile.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False))
    work = tmp_path / "work"
    work.mkdir()
    r = _snakemake(work, cfg_file, "results/tables/cifar10_fid.csv")
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert "path" in out and "PWNED" in out, out[-3000:]
    assert not list(tmp_path.rglob("PWNED")) and not (REPO / "PWNED").exists()
    assert not (work / "results").exists() and not (work / "resources").exists()


@needs_snakemake
def test_a_yaml_error_names_the_file_and_the_line(tmp_path):
    text = (REPO / "config.yaml").read_text().splitlines()
    text[4] += " ["  # an unclosed flow sequence on line 5
    (tmp_path / "config.yaml").write_text("\n".join(text) + "\n")
    r = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
         "--directory", str(tmp_path), "--workflow-profile", "none", "--cores", "1", "-n"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert "config.yaml: not valid YAML" in out and "line 5" in out, out[-2000:]


def test_a_replicates_cell_reads_its_own_offset_seeds(tmp_path):
    """Replicate r of a cell (issue 16) holds the seeds offset … offset + samples − 1."""
    from artrl.cells import check_shards
    from artrl.io import InputError

    cell = {**CELL, "seed_offset": 40}
    a = _shard(tmp_path / "seeds40-49.npz", method="edm", digest="ffffffffffff", lo=40, hi=49)
    b = _shard(tmp_path / "seeds50-59.npz", method="edm", digest="ffffffffffff", lo=50, hi=59)
    assert check_shards([a, b], cell) == {"schedule_sha256": "e" * 64}
    # replicate 0's shards are not this replicate's
    c = _shard(tmp_path / "seeds0-9.npz", method="edm", digest="ffffffffffff", lo=0, hi=9)
    d = _shard(tmp_path / "seeds10-19.npz", method="edm", digest="ffffffffffff", lo=10, hi=19)
    with pytest.raises(InputError, match="not the cell's seeds 40-59"):
        check_shards([c, d], cell)
