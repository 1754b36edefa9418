"""artrl.registry, the one list of schedule methods and solvers (issue 15): what reads it, the
config schema kept equal to it, and a plugin (ARTRL_PLUGINS) adding a method and a solver that
the workflow's DAG and the FID tables then use."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import yaml
from test_workflow import _job_counts

from artrl import registry

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow/schemas/config.schema.yaml"

# ----------------------------------------------------------------------------------------------
# A plugin, written into a folder put on PYTHONPATH: a 3-stage solver (NFE 3K − 2) and a
# schedule method of kind "method" with its own command-line module

PLUGIN = '''
"""Toy plugin of tests/test_registry.py: the SSP-RK3 solver and the toy_steps method."""

from artrl.registry import register_method, register_solver

register_solver("ssp3", stages=3, label="SSP3", function="artrl_toy_plugin:ssp3")
register_method("toy_steps", cli="artrl_toy_method")


def ssp3(D, x, sigmas, labels=None, progress=False):
    """Shu-Osher SSP-RK3 on dx/dsigma = (x - D)/sigma; an Euler step into sigma = 0."""
    from artrl.solvers import _setup, to_d  # here: the registry imports this module torch-free

    x, s = _setup(x, sigmas)

    def f(y, sigma):
        return to_d(y, sigma, D(y, sigma, labels))

    for i in range(len(s) - 1):
        h = s[i + 1] - s[i]
        k1 = f(x, s[i])
        if s[i + 1] > 0:
            y1 = x + h * k1
            y2 = 0.75 * x + 0.25 * (y1 + h * f(y1, s[i + 1]))
            x = x / 3 + (2 / 3) * (y2 + h * f(y2, s[i] + 0.5 * h))
        else:
            x = x + h * k1
    return x
'''

METHOD_CLI = '''
"""toy_steps: EDM's rho-warped grid with its own rho (no model): python -m artrl_toy_method."""

from artrl.io import load_dataset_config
from artrl.methods.common import base_parser, read_settings, save_schedule
from artrl.schedules import edm

DEFAULTS = {"sigma_min": 0.002, "rho": 3.0}


def main(argv=None):
    p = base_parser("python -m artrl_toy_method", "toy rho-warped grid", "toy_steps")
    a = p.parse_args(argv)
    d = load_dataset_config(a.dataset_config)
    cfg = read_settings(d.get("toy_steps"), DEFAULTS, "toy_steps", p)
    sigmas = edm(a.K, float(d["sigma_max"]), cfg["sigma_min"], rho=cfg["rho"])
    return save_schedule(sigmas, "toy_steps", a, {"settings": cfg, "solver": a.solver})


if __name__ == "__main__":
    main()
'''


def _write_plugin(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "artrl_toy_plugin.py").write_text(textwrap.dedent(PLUGIN))
    (root / "artrl_toy_method.py").write_text(textwrap.dedent(METHOD_CLI))
    return root


def _plugin_env(root: Path) -> dict[str, str]:
    """This interpreter's environment with the plugin on: ARTRL_PLUGINS and PYTHONPATH, and the
    venv first on PATH (rules call `python -m ...`)."""
    env = dict(os.environ)
    env[registry.PLUGINS_ENV] = "artrl_toy_plugin"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH")) if p)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return env


@pytest.fixture
def restore_registry():
    """Undo what a test registers (and forget the plugin modules it imported)."""
    solvers, methods = dict(registry.SOLVERS), dict(registry.METHODS)
    yield
    for table, saved in ((registry.SOLVERS, solvers), (registry.METHODS, methods)):
        table.clear()
        table.update(saved)
    for mod in ("artrl_toy_plugin", "artrl_toy_method"):
        sys.modules.pop(mod, None)


@pytest.fixture
def plugin(tmp_path, monkeypatch, restore_registry) -> Path:
    """The toy plugin loaded in this process (as ARTRL_PLUGINS loads it)."""
    root = _write_plugin(tmp_path / "plugin")
    monkeypatch.syspath_prepend(str(root))
    assert registry.load_plugins("artrl_toy_plugin") == ["artrl_toy_plugin"]
    return root


# ----------------------------------------------------------------------------------------------
# The registry itself and the modules that read it


def test_import_is_torch_free():
    env = {k: v for k, v in os.environ.items() if k != registry.PLUGINS_ENV}
    code = "import artrl.registry, sys; assert 'torch' not in sys.modules"
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


NFE = {  # (NFE of K steps, as written in the tables)
    "euler": (lambda K: K, "NFE = K"),
    "heun": (lambda K: 2 * K - 1, "NFE = 2K − 1"),
    "rk4": (lambda K: 4 * K - 3, "NFE = 4K − 3"),
}


@pytest.mark.parametrize("name", list(NFE))
def test_builtin_solvers_nfe(name):
    from artrl import solvers

    s, (nfe, formula) = registry.SOLVERS[name], NFE[name]
    for K in (1, 2, 5, 18):
        assert s.nfe(K) == nfe(K) == solvers.nfe(name, K)
        full = solvers.nfe(name, K, ends_at_zero=False)
        assert s.nfe(K, ends_at_zero=False) == s.stages * K == full
    assert s.nfe_formula == formula


def test_solvers_module_reads_the_registry():
    from artrl import solvers

    assert list(solvers.SOLVERS) == list(registry.SOLVERS) == ["euler", "heun", "rk4"]
    assert solvers.SOLVERS["heun"] is solvers.heun and "rk5" not in solvers.SOLVERS
    with pytest.raises(ValueError, match="unknown solver 'rk5'"):
        solvers.nfe("rk5", 3)


def test_baselines_agree_with_the_registry():
    from artrl.schedules import BASELINES

    baselines = [registry.METHODS[n] for n in registry.method_names("baseline")]
    assert set(BASELINES) == {n for m in baselines for n in (m.name, *m.aliases)}
    assert registry.lookup_method("dpm").name == "geometric"


def test_methods_package_reads_the_registry():
    import artrl.methods

    assert artrl.methods.METHODS == registry.method_names("method") == ("gits", "dmn", "ld3")
    for name in artrl.methods.METHODS:
        m = registry.METHODS[name]
        assert m.cli == f"artrl.methods.{name}" and importlib.util.find_spec(m.cli) is not None
        assert m.rule == "method_schedule" and m.precompute == (name == "gits")
    assert {registry.METHODS[n].kind for n in registry.METHODS} == set(registry.KINDS)


def test_schema_names_equal_the_registry():
    """The schema checks the name pattern (a plugin's names pass; common.smk checks them against
    the registry) and lists the built-in names; every method and solver field uses them."""
    schema = yaml.safe_load(SCHEMA.read_text())
    defs = schema["$defs"]
    assert defs["method_name"]["pattern"] == defs["solver_name"]["pattern"] == registry.NAME_PATTERN
    assert tuple(defs["method_name"]["examples"]) == registry.BUILTIN_METHODS
    assert tuple(defs["solver_name"]["examples"]) == registry.BUILTIN_SOLVERS
    ds = defs["dataset"]["properties"]
    solver_ref, method_ref = {"$ref": "#/$defs/solver_name"}, {"$ref": "#/$defs/method_name"}
    fields = [
        ds["solver"],
        ds["solvers"]["propertyNames"],
        ds["tables"]["additionalProperties"]["properties"]["solver"],
        ds["reference"]["properties"]["solver"],
        defs["schedule"]["properties"]["solver"],
        defs["gits_settings"]["properties"]["teacher_solver"],
        defs["ld3_settings"]["properties"]["teacher_solver"],
    ]
    for field in fields:
        assert field["$ref"] == solver_ref["$ref"] and "enum" not in field
    assert defs["schedule"]["properties"]["method"]["$ref"] == method_ref["$ref"]
    # no solver list left anywhere (the error proxies euler/heun are not solvers)
    text = SCHEMA.read_text()
    assert not re.search(r"enum: \[euler, heun, rk4\]", text)


def test_register_checks_its_arguments(restore_registry):
    with pytest.raises(ValueError, match="must match"):
        registry.register_method("Toy-Method", cli="x")
    with pytest.raises(ValueError, match="kind 'method' needs cli"):
        registry.register_method("toy")
    with pytest.raises(ValueError, match="knows only the built-in names"):
        registry.register_method("toy", kind="baseline")
    with pytest.raises(ValueError, match="precompute is rule gits_costs"):
        registry.register_method("toy", cli="toy_cli", precompute=True)
    with pytest.raises(ValueError, match="'dpm' is already registered"):
        registry.register_method("dpm", cli="toy_cli")
    with pytest.raises(ValueError, match="stages"):
        registry.register_solver("toy", stages=0, function="m:f")
    with pytest.raises(ValueError, match="module:attr"):
        registry.register_solver("toy", stages=2, function="m.f")
    with pytest.raises(ValueError, match="already registered"):
        registry.register_solver("heun", stages=3, function="m:f")
    m = registry.register_method("toy", cli="toy_cli")
    assert registry.register_method("toy", cli="toy_cli") == m  # the same entry again: no-op
    assert m.kind == "method" and m.rule == "method_schedule" and not m.is_art


def test_unknown_plugin_module_names_the_variable():
    with pytest.raises(ImportError, match="ARTRL_PLUGINS: cannot import plugin 'no_such_plug'"):
        registry.load_plugins("no_such_plug")


# ----------------------------------------------------------------------------------------------
# A plugin: its solver samples with its NFE, its names reach the FID table


def test_plugin_solver_samples_with_its_nfe(plugin):
    import torch

    from artrl import solvers

    assert "ssp3" in solvers.SOLVERS and registry.SOLVERS["ssp3"].nfe_formula == "NFE = 3K − 2"
    D = solvers.CountingDenoiser(lambda x, s, labels=None: 0.5 * x)
    x = torch.ones(4, 2, dtype=torch.float64)
    for K in (1, 2, 5):
        D.reset()
        solvers.sample(D, x, [3.0 * (1 - k / K) for k in range(K + 1)], solver="ssp3")
        assert D.calls == solvers.nfe("ssp3", K) == 3 * K - 2


def _fid_json(root: Path, name: str, method: str, K: int, fid: float, solver: str) -> str:
    """One FID cell without 'nfe': the table computes it from K and the solver."""
    p = root / name / f"K{K}.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    cell = {"fid": fid, "K": K, "solver": solver, "method": method, "dataset": "digits"}
    p.write_text(json.dumps(cell))
    return f"{name}={p}"


def test_plugin_names_reach_the_fid_table(plugin, tmp_path):
    from artrl import report_images

    fids = {"uniform": (90.0, 40.0), "toy": (60.0, 20.0), "art_rl": (30.0, 30.0)}
    methods = {"uniform": "uniform", "toy": "toy_steps", "art_rl": "art_rl"}
    entries = [
        _fid_json(tmp_path / "fid", name, methods[name], K, fid, "ssp3")
        for name, pair in fids.items()
        for K, fid in zip((2, 3), pair, strict=True)
    ]
    csv, md = tmp_path / "t.csv", tmp_path / "t.md"
    report_images.main(
        ["fid-table", "--fid", *entries, "--solver", "ssp3", "--labels-json",
         json.dumps({"toy": "Toy steps"}), "--out-csv", str(csv), "--out-md", str(md)]
    )  # fmt: skip
    df = pd.read_csv(csv).set_index("name")
    # NFE = 3K − 2 (the plugin's stages): K = 2, 3 -> NFE 4, 7
    assert [c for c in df.columns if re.fullmatch(r"fid_NFE\d+", c)] == ["fid_NFE4", "fid_NFE7"]
    assert df.loc["toy", "fid_NFE4"] == 60.0 and df.loc["toy", "method"] == "toy_steps"
    assert df.loc["toy", "solver"] == "ssp3" and df.loc["toy", "label"] == "Toy steps"
    # the toy method is of kind "method", not ART: the ART row's ratio is to its best FID
    assert pd.isna(df.loc["toy", "fid_ratio_NFE4"])
    assert df.loc["art_rl", "fid_ratio_NFE7"] == pytest.approx(30.0 / 20.0)
    text = md.read_text()
    assert "NFE = 3K − 2 (SSP3)" in text and "Toy steps" in text


# ----------------------------------------------------------------------------------------------
# A plugin in the workflow: one dry run of a tiny config that uses its method and its solver

needs_snakemake = pytest.mark.skipif(
    shutil.which("snakemake") is None and importlib.util.find_spec("snakemake") is None,
    reason="snakemake is not installed",
)


def _tiny_plugin_config() -> dict:
    return {
        "seed": 0,
        "datasets": {
            "digits": {
                "model": {"type": "unet", "path": "results/models/digits/model.pt"},
                "sigma_max": 80.0,
                "solvers": {"heun": [2, 3], "ssp3": [2, 3]},
                "fid": {"samples": 100, "shard_size": 100, "batch": 50},
                "schedules": {
                    "uniform": {"method": "uniform", "label": "Uniform"},
                    "toy": {"method": "toy_steps", "settings": {"rho": 2.0}, "label": "Toy"},
                },
            }
        },
    }


@pytest.fixture(scope="module")
def plugin_dry_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path, dict]:
    root = tmp_path_factory.mktemp("registry_plugin")
    _write_plugin(root / "plugin")
    cfg_file = root / "config.yaml"
    cfg_file.write_text(yaml.safe_dump(_tiny_plugin_config(), sort_keys=False))
    work = root / "work"
    work.mkdir()
    env = _plugin_env(root / "plugin")
    r = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
         "--directory", str(work), "--configfile", str(cfg_file), "--workflow-profile", "none",
         "--cores", "1", "-n", "-p", "all"],
        cwd=REPO, capture_output=True, text=True, timeout=180, env=env,
    )  # fmt: skip
    return r, work, env


def _commands(text: str, start: str) -> list[str]:
    """The shell commands `snakemake -n -p` printed that start with ``start``."""
    lines = (ln.strip().removeprefix("Shell command:").strip() for ln in text.splitlines())
    return [ln for ln in lines if ln.startswith(start)]


@needs_snakemake
def test_plugin_method_in_the_dry_run(plugin_dry_run):
    r, work, env = plugin_dry_run
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    counts = _job_counts(out)
    # toy at every K of the config (2, 3), by the plugin's module; no built-in method rule
    assert counts["plugin_method_schedule"] == 2
    assert "method_schedule" not in counts and "gits_costs" not in counts
    cmds = _commands(out, "python -m artrl_toy_method ")
    assert len(cmds) == 2 and all('"toy_steps": {"rho": 2.0}' in c for c in cmds)
    # the command as the workflow runs it makes a schedule (the plugin's module, its settings)
    cmd = next(c for c in cmds if "--K 2 " in c)
    for path in re.findall(r"(results/\S+\.(?:json|log))", cmd):
        (work / path).parent.mkdir(parents=True, exist_ok=True)
    run = subprocess.run(["bash", "-c", cmd], cwd=work, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr + (work / "results/logs").joinpath(
        "method_schedule/digits/toy/K2.log").read_text()  # fmt: skip
    sched = json.loads((work / "results/schedules/digits/toy/K2.json").read_text())
    assert sched["method"] == "toy_steps" and len(sched["sigmas"]) == 3
    assert sched["extra"]["settings"]["rho"] == 2.0


@needs_snakemake
def test_plugin_solver_in_the_dry_run(plugin_dry_run):
    r, _, _ = plugin_dry_run
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    counts = _job_counts(out)
    # cells: (heun, ssp3) x K (2, 3) x two schedules, one 100-image shard each
    assert counts["fid_cell"] == counts["sample_shard"] == 2 * 2 * 2
    assert counts["fid_table_heun"] == 1 and counts["fid_table"] == 1  # ssp3
    sample = _commands(out, "python -m artrl.sample ")
    assert sum("--solver ssp3" in c for c in sample) == 4
    # the NFE of each cell is the registry's formula: 3K − 2 for ssp3
    metas = [json.loads(m) for m in re.findall(r"--meta '(\{[^']*\})'", out)]
    ssp3 = {(m["name"], m["K"]): m["nfe"] for m in metas if m["solver"] == "ssp3"}
    assert ssp3 == {("uniform", 2): 4, ("uniform", 3): 7, ("toy", 2): 4, ("toy", 3): 7}
    assert "results/tables/digits_ssp3_fid.csv" in out
    table = _commands(out, "python -m artrl.report_images fid-table ")
    assert any("--solver ssp3" in c for c in table)
