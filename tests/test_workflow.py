"""The Snakemake workflow: lint, DAG shape of the demo target, config validation."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    shutil.which("snakemake") is None
    and subprocess.run([sys.executable, "-c", "import snakemake"]).returncode != 0,
    reason="snakemake is not installed",
)


def _config(*datasets: str) -> dict:
    """The repository's config, optionally restricted to some datasets: then the schedules
    transferred from a dataset left out go too (and from the tables that list them), and the
    cross-data-set matrix unless all its datasets are kept."""
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    if not datasets:
        return cfg
    cfg["datasets"] = {k: v for k, v in cfg["datasets"].items() if k in datasets}
    for d in cfg["datasets"].values():
        gone = {
            n for n, s in d["schedules"].items()
            if s.get("source_dataset", datasets[0]) not in datasets
        }  # fmt: skip
        d["schedules"] = {n: s for n, s in d["schedules"].items() if n not in gone}
        for name, table in list(d.get("tables", {}).items()):
            table["schedules"] = [n for n in table["schedules"] if n not in gone]
            if not table["schedules"]:
                del d["tables"][name]
    cross = cfg.get("cross_dataset")
    if cross and any(tg["dataset"] not in datasets for tg in cross["targets"].values()):
        del cfg["cross_dataset"]
    return cfg


def _snakemake(args, *, cwd=REPO, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _dry_run(tmp_path: Path, cfg: dict, *targets: str) -> subprocess.CompletedProcess:
    cfg_file = tmp_path / "test_config.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False))
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return _snakemake(
        [
            "--snakefile",
            str(REPO / "Snakefile"),
            "--directory",
            str(work),
            "--configfile",
            str(cfg_file),
            "--workflow-profile",
            "none",
            "--cores",
            "1",
            "-n",
            *targets,
        ]
    )


def _job_counts(text: str) -> dict[str, int]:
    """Parse the 'Job stats' table Snakemake prints (job, count)."""
    i = text.index("Job stats:")
    counts: dict[str, int] = {}
    for line in text[i:].splitlines()[3:]:
        m = re.fullmatch(r"\s*(\S+)\s+(\d+)\s*", line)
        if not m:
            break
        counts[m.group(1)] = int(m.group(2))
    return counts


def test_lint_from_repo_root():
    r = _snakemake(["--lint"])
    assert r.returncode == 0, r.stdout + r.stderr


def _art_jobs(scheds: dict, Ks) -> set[tuple[str, int]]:
    """(art_rl schedule, K) of every ART-RL training: a table row at every K, plus the K each
    transfer resamples from."""
    jobs = set()
    for n, s in scheds.items():
        if s["method"] == "art_rl" and s.get("table", True):
            jobs |= {(n, k) for k in Ks}
        if s["method"] == "art_rl_transfer":
            jobs.add((s.get("source", "art_rl"), s["from_K"]))
    return jobs


@pytest.mark.parametrize("core_only", [False, True])
def test_demo_dry_run_default_config(tmp_path, core_only):
    """The gauss1d demo DAG: every schedule, or with core_only (make demo) the non-extra ones."""
    cfg = _config("gauss1d")
    cfg["core_only"] = core_only
    r = _dry_run(tmp_path, cfg, "demo")
    assert r.returncode == 0, r.stdout + r.stderr
    counts = _job_counts(r.stdout + r.stderr)
    d = cfg["datasets"]["gauss1d"]
    Ks = set(d["K"])
    scheds = {n: s for n, s in d["schedules"].items() if not (core_only and s.get("extra"))}
    assert core_only or len(scheds) > 12  # the comparison's rows are there
    rows = [n for n, s in scheds.items() if s.get("table", True)]
    n_baseline = sum(
        s["method"] in ("uniform", "edm", "geometric", "ays_gaussian") for s in scheds.values()
    )
    art_jobs = _art_jobs(scheds, Ks)
    assert counts["art_train"] == counts["art_distill"] == len(art_jobs)
    assert counts["w2_metrics"] == len(rows) * len(Ks)
    assert counts["baseline_schedule"] == n_baseline * len(Ks)
    for rule in ("w2_table", "w2_figure", "theta_figure", "demo", "schedule_costs"):
        assert counts[rule] == 1
    if core_only:  # the extra rows' training runs are left out
        assert {n for n, _ in art_jobs} == {"art_rl"}


def test_demo_dry_run_small_config(tmp_path):
    """One training job per K (plus the transfer's source K), one metrics job per (name, K)."""
    cfg = _config("gauss1d")
    cfg["core_only"] = True
    d = cfg["datasets"]["gauss1d"]
    d["K"] = [2, 5]
    d["art"] = {"iterations": 20}
    r = _dry_run(tmp_path, cfg, "demo")
    assert r.returncode == 0, r.stdout + r.stderr
    counts = _job_counts(r.stdout + r.stderr)
    assert counts["art_train"] == 3  # K = 2, 5 and the K = 100 source of the transfer row
    assert counts["art_distill"] == 3
    assert counts["transfer_schedule"] == 2
    assert counts["art_analytic_schedule"] == 2
    core = [n for n, s in d["schedules"].items() if not s.get("extra") and s.get("table", True)]
    assert counts["w2_metrics"] == len(core) * 2
    assert counts["total"] == sum(v for k, v in counts.items() if k != "total")


@pytest.mark.parametrize(
    "resource,allow_cpu", [("gpu=1", False), ("gres='gpu:a100:1'", False), ("gpu=1", True)]
)
def test_gpu_jobs_get_device_cuda(tmp_path, resource, allow_cpu):
    """A job given a GPU (gpu > 0, or a gres naming one) runs with --device cuda (which stops
    without CUDA), or --device auto when the config allows the CPU; others run on the cpu."""
    cfg = _config("gauss1d")
    cfg["datasets"]["gauss1d"]["K"] = [2]
    cfg["allow_cpu"] = allow_cpu
    r = _dry_run(tmp_path, cfg, "demo", "-p", "--set-resources", f"art_train:{resource}")
    assert r.returncode == 0, r.stdout + r.stderr
    cmds = [ln for ln in (r.stdout + r.stderr).splitlines() if "python -m artrl" in ln]
    train = [c for c in cmds if "artrl.art.train" in c]
    want = "--device auto" if allow_cpu else "--device cuda"
    assert train and all(want in c for c in train), train
    others = [c for c in cmds if "--device" in c and "artrl.art.train" not in c]
    assert all("--device cpu" in c for c in others), others


def _with(cfg: dict, path: tuple[str, ...], value) -> dict:
    cfg = copy.deepcopy(cfg)
    node = cfg
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return cfg


@pytest.mark.parametrize(
    ("path", "value", "bad_key"),
    [
        (("sead",), 1, "sead"),
        (("datasets", "gauss1d", "K_list"), [2], "K_list"),
        (("datasets", "gauss1d", "schedules", "edm", "rhoo"), 7.0, "rhoo"),
        (("datasets", "gauss1d", "w2", "mc_sample"), 10, "mc_sample"),
    ],
)
def test_misspelt_config_key_fails_naming_it(tmp_path, path, value, bad_key):
    r = _dry_run(tmp_path, _with(_config(), path, value), "demo")
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert "validating config" in out.lower()
    assert repr(bad_key) in out, out


def test_unknown_schedule_method_fails(tmp_path):
    """A method artrl.registry does not know: the key, the value and the registered names."""
    cfg = _with(_config(), ("datasets", "gauss1d", "schedules", "uniform", "method"), "unifrom")
    r = _dry_run(tmp_path, cfg, "demo")
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert "datasets/gauss1d/schedules/uniform/method: 'unifrom' is not a registered" in out, out
    assert "registered: uniform, edm, geometric, ays_gaussian, art_analytic" in out


def _tiny_gauss1d_config() -> dict:
    cfg = _config("gauss1d")
    g = cfg["datasets"]["gauss1d"]
    g["K"] = [2, 3]
    for s in g["schedules"].values():  # the transfers (variants included) resample K = 3
        if s["method"] == "art_rl_transfer":
            s["from_K"] = 3
    g["schedules"]["gits"]["settings"] = {"fine_steps": 40, "trajectories": 64}
    g["schedules"]["ld3"]["settings"] = {"iterations": 20, "samples": 64}
    g["art"].update(iterations=12, batch=8, critic_warmup=100, checkpoint_every=5, hidden=16)
    g["analytic"] = {"rollouts": 64, "fine_steps": 200}
    g["w2"] = {"mc_samples": 2000, "art_cost_samples": 500}
    return cfg


def _env() -> dict:
    import os

    # rules call `python -m artrl...`: this interpreter's environment first on PATH
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


@pytest.fixture(scope="module")
def tiny_gauss1d_run(tmp_path_factory) -> tuple[Path, Path, dict]:
    """The demo chain run to the end on a tiny config: (work directory, config file, config)."""
    root = tmp_path_factory.mktemp("tiny_gauss1d")
    cfg = _tiny_gauss1d_config()
    cfg_file = root / "tiny.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False))
    work = _run_workflow(root, cfg_file, "demo")
    return work, cfg_file, cfg


def _run_workflow(root: Path, cfg_file: Path, target: str) -> Path:
    """Run ``target`` of the workflow for real (2 cores) in ``root/work``; that folder."""
    work = root / "work"
    work.mkdir()
    r = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
         "--directory", str(work), "--configfile", str(cfg_file), "--workflow-profile", "none",
         "--cores", "2", "--show-failed-logs", target],
        cwd=REPO, capture_output=True, text=True, timeout=600, env=_env(),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-4000:]
    return work


def test_tiny_gauss1d_chain_runs_end_to_end(tiny_gauss1d_run):
    """The whole demo chain on a tiny config: schedules → ART-RL → distill → W2 → table, figures."""
    import csv

    work, _, cfg = tiny_gauss1d_run
    g = cfg["datasets"]["gauss1d"]
    rows = list(csv.DictReader((work / "results/tables/gauss1d_w2.csv").open()))
    assert [row["name"] for row in rows] == [
        n for n, s in g["schedules"].items() if s.get("table", True)
    ]
    uni = next(row for row in rows if row["name"] == "uniform")
    assert abs(float(uni["w2_K2"]) - 0.465) < 0.001  # exact W2 of Uniform at K = 2
    # provenance on every row: the dataset's config digest, the seed, the code version
    for row in rows:
        assert re.fullmatch(r"[0-9a-f]{12}", row["config_digest"]), row
        assert row["seed"] == str(cfg["seed"])
        assert re.fullmatch(r"\d+\.\d+\.\d+\S*\+\S+", row["code_version"]), row
    md = (work / "results/tables/gauss1d_w2.md").read_text()
    assert f"config digest `{rows[0]['config_digest']}`" in md.rstrip().splitlines()[-1]
    for fig in ("gauss1d_w2.png", "gauss1d_theta.png"):
        assert (work / "results/figures" / fig).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # every ART-RL job left a benchmark record (wall time, memory) for the cost column: K = 2
    # and 3 of art_rl, and K = 3 of each σ-clock row (the paper's clock, Heun proxy, fixed
    # variance, time-only actor)
    assert len(list((work / "results/benchmarks/art_train/gauss1d").glob("*/K*.tsv"))) == 6
    by = {row["name"]: row for row in rows}
    assert float(by["uniform"]["cost_denoiser_evals"]) == 0  # a closed form
    assert float(by["uniform"]["cost_wall_s"]) > 0
    for name in ("art_rl", "art_rl_from100", "art_rl_heun_from100", "gits", "ld3"):
        assert float(by[name]["cost_denoiser_evals"]) > 0, name
    # a transfer costs its source's training (counted in full) plus the resampling
    costs = list(csv.DictReader((work / "results/costs/gauss1d_w2.csv").open()))
    c = {(row["name"], int(row["K"])): row for row in costs}
    assert float(c["art_rl_from100", 2]["wall_s"]) > float(c["art_rl", 3]["wall_s"])
    assert c["art_rl_from100", 2]["denoiser_evals"] == c["art_rl", 3]["denoiser_evals"]
    # the Heun-proxy run evaluates the model more per step than the Euler-proxy one
    assert int(c["art_rl_heun_from100", 2]["denoiser_evals"]) > int(
        c["art_rl_from100", 2]["denoiser_evals"]
    )
    assert "Cost to make (wall)" in md


def _caption_text(rst: Path) -> str:
    """The first sentence of a caption file (no Jinja), whitespace collapsed."""
    text = " ".join(rst.read_text().split())
    return text.split(". ")[0]


def test_report_of_tiny_run_has_every_table_and_figure(tiny_gauss1d_run):
    """`snakemake --report` on a finished run: every table and figure, with its caption."""
    import html

    work, cfg_file, _ = tiny_gauss1d_run
    out = work / "results/report.html"
    r = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
         "--directory", str(work), "--configfile", str(cfg_file), "--workflow-profile", "none",
         "--cores", "1", "--report", str(out), "demo"],
        cwd=REPO, capture_output=True, text=True, timeout=300, env=_env(),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-4000:]
    # the report embeds its data as JSON strings: undo their \n and \uXXXX escapes
    page = html.unescape(out.read_text()).replace("\\n", " ")
    page = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), page)
    page = " ".join(page.split())
    files = sorted((work / "results/figures").glob("*.png"))
    files += sorted((work / "results/tables").glob("*.csv"))
    files += sorted((work / "results/tables").glob("*.md"))
    assert len(files) == 4  # the demo's: W2 and theta figures, W2 table as CSV and Markdown
    for f in files:
        assert f.name in page, f"{f.name} is not in the report"
    for caption in ("w2_table", "w2_figure", "theta_figure"):
        text = _caption_text(REPO / "workflow/report" / f"{caption}.rst")
        assert text in page, f"caption {caption}.rst is not in the report"


def test_every_table_and_figure_is_in_the_report():
    """Every table/figure path a rule writes is wrapped in report(...) with a caption file."""
    rules = REPO / "workflow/rules"
    outputs, reported = set(), {}
    for smk in sorted(rules.glob("*.smk")):
        if smk.name == "common.smk":  # targets, not outputs
            continue
        text = smk.read_text()
        outputs |= set(re.findall(r'"(results/(?:figures|tables)/[^"]+)"', text))
        for path, caption in re.findall(r'report\(\s*"(results/[^"]+)",\s*caption="([^"]+)"', text):
            reported[path] = (rules / caption).resolve()
    assert outputs, "no table or figure outputs found"
    missing = sorted(outputs - set(reported))
    assert not missing, f"outputs not marked with report(...): {missing}"
    for path, caption in reported.items():
        assert caption.is_file(), f"{path}: caption {caption} does not exist"
    assert (REPO / "workflow/report/workflow.rst").is_file()


def test_digits_dry_run_job_counts(tmp_path):
    """make demo-digits (core_only): one ART-RL job, one sampling job per shard, one FID job
    per cell; the RK4 table has its own schedule list."""
    cfg = _config("digits")
    cfg["core_only"] = True
    d = cfg["datasets"]["digits"]
    d["fid"].update(samples=5000, shard_size=1000, batch=250)
    r = _dry_run(tmp_path, cfg, "demo_digits")
    assert r.returncode == 0, r.stdout + r.stderr
    counts = _job_counts(r.stdout + r.stderr)
    # ART-RL is trained once, at K = 18, and resampled to every other K (the paper's recipe)
    rows = [n for n, s in d["schedules"].items() if s.get("table", True) and not s.get("extra")]
    assert rows == ["uniform", "edm", "dpm", "art_rl_resampled", "art_analytic"]
    assert d["schedules"]["art_rl_resampled"]["from_K"] == 18
    rk4 = d["tables"]["rk4"]
    cells = len(rows) * sum(len(v) for v in d["solvers"].values()) + 1  # + floor
    cells += len(rk4["schedules"]) * len(rk4["K"])
    assert counts["art_train"] == counts["art_distill"] == 1
    ks = {k for klist in d["solvers"].values() for k in klist} | set(rk4["K"])
    assert counts["transfer_schedule"] == len(ks)
    assert counts["art_q_profile"] == 1  # the ART-analytic profile, shared by every K
    assert counts["fid_cell"] == cells
    assert counts["sample_shard"] == cells * 5
    assert counts["train_score_model"] == counts["fid_classifier"] == 1
    assert counts["fid_table_heun"] == 1 and counts["fid_table"] == 2  # euler, rk4
    assert counts["fid_figure"] == 3
    assert counts["schedule_costs"] == 3
    assert "gits_costs" not in counts and "method_schedule" not in counts


def test_digits_comparison_dry_run(tmp_path):
    """make compare on digits: every method in the Heun and Euler tables (GITS and LD3 made
    for each solver, one GITS cost matrix per solver), the ART-RL variants trained once at
    K = 18, ART-RL trained at every K, and the figure of every method's grid at K = 5."""
    cfg = _config("digits")
    d = cfg["datasets"]["digits"]
    r = _dry_run(tmp_path, cfg, "compare")
    assert r.returncode == 0, r.stdout + r.stderr
    counts = _job_counts(r.stdout + r.stderr)
    heun = [
        n for n, s in d["schedules"].items()
        if s.get("table", True) and s.get("solver", "heun") == "heun"
    ]  # fmt: skip
    assert len(heun) == 15 and {"gits_heun", "ld3_heun", "dmn", "ays"} <= set(heun)
    rk4 = d["tables"]["rk4"]
    n_heun, n_euler = len(d["solvers"]["heun"]), len(d["solvers"]["euler"])
    cells = len(heun) * (n_heun + n_euler) + len(rk4["schedules"]) * len(rk4["K"]) + 1
    # the state tables (issue 17): their other rows are cells of the solver tables; art_state
    # adds its own, one policy and grid per K from art_rl_at_K's run at that K
    state = [d["tables"][t] for t in ("stateheun", "stateeuler")]
    assert all(t["schedules"][-2:] == ["art_rl_at_K", "art_state"] for t in state)
    cells += sum(len(t["K"]) for t in state)
    assert counts["fid_cell"] == counts["sample_shard"] == cells  # one 5000-image shard each
    assert counts["art_state_schedule"] == len({k for t in state for k in t["K"]})
    ks = {k for klist in d["solvers"].values() for k in klist}
    # art_rl_k18, the σ-clock row and the three variants at K = 18; art_rl_at_K at every K
    assert counts["art_train"] == 5 + len(ks)
    assert counts["gits_costs"] == 2  # heun, euler: shared by every K
    assert counts["method_schedule"] == 2 * (n_heun + n_euler) + len(ks)  # GITS, LD3; DMN
    assert counts["art_q_profile"] == 1  # one profile with q and r for both analytic rows
    assert counts["sigma_k_figure"] == 1


@pytest.mark.parametrize("target", ["demo", "demo-digits", "compare"])
def test_makefile_targets_parse(tmp_path, target):
    """The Makefile's snakemake command lines as written (``make -n``), run as dry runs: e.g.
    a --config placed before the target would swallow it as a config entry."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    # -o: treat the venv stamp as up to date (print the recipe, never install)
    r = subprocess.run(
        [make, "-n", "-o", ".venv/.installed", target], cwd=REPO, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    line = next(ln for ln in r.stdout.splitlines() if "snakemake" in ln)
    args = line.split("snakemake", 1)[1].split()
    cfg = _config("gauss1d")  # a quick DAG: the digits part of the targets is then empty
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False))
    (tmp_path / "w").mkdir()
    extra = ["--configfile", str(cfg_file), "--directory", str(tmp_path / "w"), "-n"]
    r = _snakemake([*args, *extra], cwd=REPO)
    assert r.returncode == 0, r.stdout + r.stderr


def _tiny_cross_config() -> dict:
    """Two analytic problems with different noise ranges (T = 3 and T = 80) and the
    cross-data-set matrix between them: the rescale conventions run through the real rules."""

    def gauss(T, schedules):
        return {
            "model": {"type": "gaussian", "std": 1.0, "dim": 1}, "sigma_max": T,
            "solver": "euler", "K": [2, 3], "schedules": schedules,
            "analytic": {"rollouts": 64, "fine_steps": 200},
            "w2": {"mc_samples": 0, "art_cost_samples": 0},
        }  # fmt: skip

    analytic = {"method": "art_analytic", "label": "ART-analytic"}
    xfer = {"method": "art_rl_transfer", "source": "art_analytic"}
    return {
        "seed": 0,
        "datasets": {
            "g3": gauss(3.0, {
                "uniform": {"method": "uniform"},
                "art_analytic": analytic,
                "an_from_g80": {**xfer, "source_dataset": "g80", "rescale": "sigma_max"},
            }),
            "g80": gauss(80.0, {
                "edm": {"method": "edm", "rho": 7.0, "sigma_min": 0.002, "convention": "code"},
                "art_analytic": analytic,
                "an_from_g3": {**xfer, "source_dataset": "g3", "rescale": "log_range",
                               "sigma_min": 0.002},
            }),
        },
        "cross_dataset": {
            "targets": {
                "g3": {"dataset": "g3", "table": "w2", "label": "T = 3"},
                "g80": {"dataset": "g80", "table": "w2", "label": "T = 80"},
            },
            "rows": [
                {"label": "ART-analytic", "made_on": "g3",
                 "schedules": {"g3": "art_analytic", "g80": "an_from_g3"}},
                {"label": "ART-analytic", "made_on": "g80",
                 "schedules": {"g3": "an_from_g80", "g80": "art_analytic"}},
                {"label": "EDM", "made_on": "none", "schedules": {"g80": "edm"}},
            ],
        },
    }  # fmt: skip


def test_tiny_cross_dataset_matrix_runs_end_to_end(tmp_path):
    """The matrix on two Gaussian problems: each transfer is the source grid moved by its
    rescale convention, and the table's values and ratios are the W2 files' values."""
    import csv

    import numpy as np

    from artrl.schedules import Schedule, rescale

    cfg_file = tmp_path / "cross.yaml"
    cfg_file.write_text(yaml.safe_dump(_tiny_cross_config(), allow_unicode=True))
    res = _run_workflow(tmp_path, cfg_file, "results/tables/cross_dataset.csv") / "results"
    for K in (2, 3):
        g3 = Schedule.load(res / f"schedules/g3/art_analytic/K{K}.json")
        g80 = Schedule.load(res / f"schedules/g80/art_analytic/K{K}.json")
        moved_up = Schedule.load(res / f"schedules/g80/an_from_g3/K{K}.json")
        moved_down = Schedule.load(res / f"schedules/g3/an_from_g80/K{K}.json")
        np.testing.assert_array_equal(
            moved_up.sigmas, rescale(g3.sigmas, 80.0, mode="log_range", sigma_min=0.002)
        )
        np.testing.assert_array_equal(moved_down.sigmas, rescale(g80.sigmas, 3.0))
        assert moved_up.extra["from_dataset"] == "g3" and moved_up.extra["rescale"] == "log_range"
    rows = list(csv.DictReader((res / "tables/cross_dataset.csv").open()))
    assert len(rows) == 2 * 2 * 2 + 2  # two ART rows on both targets at K = 2, 3; EDM on g80
    for row in rows:
        d = "g3" if row["target"] == "g3" else "g80"
        w2 = json.loads((res / f"metrics/{d}/{row['schedule']}/K{row['K']}.json").read_text())
        assert float(row["value"]) == w2["w2_exact"]
        if row["row"] == "ART-analytic":
            own = json.loads((res / f"metrics/{d}/art_analytic/K{row['K']}.json").read_text())
            assert float(row["ratio"]) == pytest.approx(w2["w2_exact"] / own["w2_exact"])
    md = (res / "tables/cross_dataset.md").read_text()
    assert "## Evaluated on T = 80 (W2, euler)" in md and "## Summary" in md


def test_cross_dataset_matrix_dry_run(tmp_path):
    """The matrix of the repository's config: one W2 job per Gaussian cell, one sampling and
    one FID job per image cell, a second score model and classifier for digits 16×16, and one
    ART-RL run per data set a transferred ART-RL schedule comes from (nothing retrained)."""
    cfg = _config()
    cross = cfg["cross_dataset"]
    r = _dry_run(tmp_path, cfg, "results/tables/cross_dataset.csv")
    assert r.returncode == 0, r.stdout + r.stderr
    counts = _job_counts(r.stdout + r.stderr)
    w2_cells, fid_cells = set(), set()
    for row in cross["rows"]:
        for key, name in row["schedules"].items():
            tg = cross["targets"][key]
            d = cfg["datasets"][tg["dataset"]]
            if tg["table"] == "w2":
                w2_cells |= {(tg["dataset"], name, K) for K in d["K"]}
            else:
                klist = (
                    d.get("tables", {}).get(tg["table"], {}).get("K") or d["solvers"][tg["table"]]
                )
                fid_cells |= {(tg["dataset"], name, K) for K in klist}
    assert counts["w2_metrics"] == len(w2_cells) == 6 * 4
    # nine rows on digits (NFE 5, 9, 13, 19) and on digits16 (NFE 5, 9, 13)
    assert counts["fid_cell"] == counts["sample_shard"] == len(fid_cells) == 9 * 4 + 9 * 3
    assert counts["train_score_model"] == counts["fid_classifier"] == 2  # digits, digits16
    # ART-RL: gauss1d at K = 100, digits and digits16 at K = 18; no other training
    assert counts["art_train"] == 3
    assert counts["art_q_profile"] == 3  # gauss1d, digits, digits16
    assert counts["cross_dataset_table"] == 1
    assert "method_schedule" not in counts and "gits_costs" not in counts
