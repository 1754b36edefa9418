"""The state-dependent comparison in the workflow (issue 17): config block, targets, job
arguments, inputs, checks and schema, as pure functions of the config (no Snakemake run)."""

from __future__ import annotations

import copy
import json

import pytest
from test_config_schema import _validated
from test_workflow import _dry_run, _job_counts
from test_workflow import pytestmark as needs_snakemake
from test_workflow_logic import REPO, SHIPPED, _config, _w
from test_workflow_replicates import _rules

from artrl.workflow import ConfigError, Workflow, check
from artrl.workflow.config import REPLICATE_SEED_STRIDE, TORCH_THREADS

PROBLEMS = ["gauss_control", "two_widths", "near_zero"]


def test_the_targets_are_in_compare_only():
    w = Workflow(_config())
    assert w.state_problems() == PROBLEMS
    want = {f"results/tables/{p}_state.{e}" for p in PROBLEMS for e in ("csv", "md")}
    want |= {f"results/figures/{p}_state_{f}.png" for p in PROBLEMS for f in ("w2", "paths")}
    assert want <= set(w.compare_targets())
    assert not want & set(w.demo_targets())
    core = Workflow(_config(core_only=True))
    assert core.state_problems() == [] and not want & set(core.compare_targets())
    assert Workflow(_without_block()).state_targets() == []


@needs_snakemake
def test_the_dry_run_has_a_job_per_problem_and_replicate(tmp_path):
    """The state targets of make compare with 3 replicates: one state_compare per problem and
    replicate, one state_table per problem and nothing else (the problems are analytic)."""
    cfg = _config(replicates=3)
    r = _dry_run(tmp_path, cfg, *Workflow(cfg).state_targets())
    assert r.returncode == 0, r.stdout + r.stderr
    counts = _job_counts(r.stdout + r.stderr)
    assert counts == {"state_compare": 9, "state_table": 3, "total": 12}


def _without_block():
    cfg = copy.deepcopy(SHIPPED)
    cfg.pop("state_dependent")
    return cfg


def test_the_jobs_arguments():
    w = Workflow(_config(replicates=3))
    j = json.loads(w.state_problem_json(_w(problem="two_widths", rep="rep2/")))
    assert j == {
        "art": {"jvp_mode": "reverse"},
        "model": {"type": "mixture", "weights": [0.5, 0.5], "means": [-2.0, 2.0],
                  "stds": [0.05, 1.0]},
        "sigma_max": 3.0,
        "competitors": {"gits": {"trajectories": 256, "fine_steps": 400, "teacher_solver": "heun"},
                        "ld3": {"samples": 256, "teacher_K": 64, "iterations": 300},
                        "dmn": {"sigma_min": 0.002}},
    }  # fmt: skip
    args = w.state_args(_w(problem="two_widths", rep="rep2/"))
    assert args == ["--K", "2", "3", "5", "10", "--samples", "20000", "--solvers", "euler",
                    "heun", "--replicate", "2"]  # fmt: skip
    assert w.rep_seed(_w(rep="rep2/")) == SHIPPED["seed"] + 2 * REPLICATE_SEED_STRIDE
    assert w.state_label(_w(problem="gauss_control")) == "N(0, 1) (control)"
    assert w.state_compare_files(_w(problem="near_zero")) == [
        "results/state/near_zero/compare.json",
        "results/rep1/state/near_zero/compare.json",
        "results/rep2/state/near_zero/compare.json",
    ]
    # the table's digest follows its problem and the block's settings, not the other problems
    d = w.state_digest(_w(problem="near_zero"))
    other = _config(replicates=3)
    other["state_dependent"]["problems"]["two_widths"]["sigma_max"] = 5.0
    assert Workflow(other).state_digest(_w(problem="near_zero")) == d
    other["state_dependent"]["samples"] = 100
    assert Workflow(other).state_digest(_w(problem="near_zero")) != d


def test_the_rules_are_thin_and_pass_the_configs_threads():
    rules = _rules()
    body = rules["state_compare"]
    assert "python -m artrl.state_compare" in body and "{rep}state/{problem}" in body
    assert 'torch_threads=W.torch_threads("state")' in body and TORCH_THREADS["state"] == 1
    assert "--seed {params.seed:q}" in body and "seed=W.rep_seed" in body
    assert "python -m artrl.report.state" in rules["state_table"]
    assert "W.state_compare_files" in rules["state_table"]
    assert 'include: "workflow/rules/state.smk"' in (REPO / "Snakefile").read_text()


def test_a_problem_named_like_a_data_set_is_refused():
    cfg = _config()
    cfg["state_dependent"]["problems"]["gauss1d"] = cfg["state_dependent"]["problems"]["two_widths"]
    with pytest.raises(ConfigError, match="state_dependent/problems/gauss1d is also a data set"):
        check(cfg)


@pytest.mark.parametrize(
    ("art", "match"),
    [({"clock": "sigma"}, "clock must be log"), ({"no_such_key": 1}, "no_such_key")],
)
def test_the_art_block_is_checked(art, match):
    cfg = _config()
    cfg["state_dependent"]["art"] = art
    with pytest.raises(ConfigError, match=match):
        check(cfg)


def test_the_schema_takes_the_shipped_block_and_refuses_bad_ones():
    from snakemake.exceptions import WorkflowError

    _validated(_config())
    for path, value in (
        (("problems", "two_widths", "model", "stds"), [0.0, 1.0]),
        (("solvers",), ["rk4"]),
        (("problems", "two_widths", "model", "kind"), "x"),
    ):
        cfg = _config()
        node = cfg["state_dependent"]
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        with pytest.raises(WorkflowError):
            _validated(cfg)
