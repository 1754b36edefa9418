"""Unit tests of artrl.workflow (issue 15): the workflow's logic on config dicts, without a
Snakemake process (workflow/rules/common.smk is the glue that binds it)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from artrl.io import config_digest
from artrl.workflow import (
    ConfigError,
    Workflow,
    alternatives,
    cli_options,
    stale_table_check,
    table_stem,
)

REPO = Path(__file__).resolve().parents[1]
SHIPPED = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))


def _config(**top) -> dict:
    return {**copy.deepcopy(SHIPPED), **top}


def _w(**attrs):
    """Wildcards: any object with the attributes (Snakemake's also have keys())."""
    ns = SimpleNamespace(**attrs)
    ns.keys = lambda: list(attrs)
    return ns


# ---------------------------------------------------------------------------------------------
# Provenance


def test_a_label_does_not_change_the_schedule_digest_but_the_art_block_does():
    cfg = _config()
    before = Workflow(cfg).schedule_digest(_w(dataset="gauss1d", name="art_rl"))
    cfg["datasets"]["gauss1d"]["schedules"]["art_rl"]["label"] = "renamed"
    assert Workflow(cfg).schedule_digest(_w(dataset="gauss1d", name="art_rl")) == before
    cfg["datasets"]["gauss1d"]["schedules"]["art_rl"]["art"] = {"lam": 0.5}
    after = Workflow(cfg).schedule_digest(_w(dataset="gauss1d", name="art_rl"))
    assert after != before


def test_schedule_provenance_by_method():
    w = Workflow(_config())
    p = w.schedule_provenance("gauss1d", "art_rl")
    assert p["schedule"]["method"] == "art_rl" and "label" not in p["schedule"]
    assert p["model"] == SHIPPED["datasets"]["gauss1d"]["model"]
    p = w.schedule_provenance("gauss1d", "uniform")
    assert set(p) == {"schedule", "sigma_max"}
    # a transfer carries its source's provenance (retrained source: new digest)
    p = w.schedule_provenance("digits16", "art_rl_from_gauss1d")
    assert p["source"]["schedule"]["method"] == "art_rl"


def test_slot_expect_names_the_slot_and_its_digest():
    w = Workflow(_config())
    got = json.loads(w.slot_expect("gauss1d", "edm", "5"))
    assert got == {
        "dataset": "gauss1d",
        "K": 5,
        "sigma_max": float(SHIPPED["datasets"]["gauss1d"]["sigma_max"]),
        "config_digest": config_digest(w.schedule_provenance("gauss1d", "edm")),
    }
    assert w.schedule_expect(_w(dataset="gauss1d", name="edm", K="5")) == w.slot_expect(
        "gauss1d", "edm", 5
    )


# ---------------------------------------------------------------------------------------------
# Cells, shards, tables


def test_shard_ranges_cover_every_seed_once():
    cfg = _config()
    cfg["datasets"]["digits"]["fid"].update(samples=5000, shard_size=2000)
    assert Workflow(cfg).shard_ranges("digits") == [(0, 1999), (2000, 3999), (4000, 4999)]
    files = Workflow(cfg).shard_files(_w(dataset="digits", solver="heun", name="edm", K="3"))
    assert files[-1] == "results/samples/digits/heun/edm/K3/seeds4000-4999.npz"


def test_table_ids_heun_first_then_extra_tables_and_their_stems():
    w = Workflow(_config())
    assert w.table_ids("digits") == ["heun", "euler", "rk4", "transfer", "stateheun", "stateeuler"]
    assert table_stem("digits", "heun") == "digits_fid"
    assert table_stem("digits", "rk4") == "digits_rk4_fid"


def test_fid_cells_of_a_solver_table_and_of_an_extra_table():
    cfg = _config()
    d = cfg["datasets"]["digits"]
    w = Workflow(cfg)
    cells = w.fid_cells("digits", "heun")
    assert cells == [(n, K) for n in w.table_names("digits", "heun") for K in d["solvers"]["heun"]]
    rk4 = d["tables"]["rk4"]
    assert w.solver_of("digits", "rk4") == rk4["solver"]
    assert {n for n, _ in w.fid_cells("digits", "rk4")} <= set(rk4["schedules"])
    assert {K for _, K in w.fid_cells("digits", "rk4")} == set(rk4["K"])


def test_core_only_leaves_out_the_extra_blocks():
    full, core = Workflow(_config()), Workflow(_config(core_only=True))
    assert "digits16" in full.datasets() and "digits16" not in core.datasets()
    assert core.cross_dataset_cfg() is None
    assert "results/tables/gauss1d_w2.csv" in core.demo_targets()


def test_stale_table_check(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("name,w2_K5\nedm,0.1\nuniform,\n", encoding="utf-8")
    gone = str(tmp_path / "edm_K5.json")
    held = lambda row: row.get("w2_K5") not in (None, "")  # noqa: E731
    # a missing cell the table does not hold yet (a new schedule) is not stale
    stale_table_check(str(table), [("uniform", str(tmp_path / "u.json"), held)])
    with pytest.raises(ConfigError, match=r"t\.csv is stale: .*edm_K5\.json"):
        stale_table_check(str(table), [("edm", gone, held)])
    # no table yet: nothing to check
    stale_table_check(str(tmp_path / "none.csv"), [("edm", gone, held)])


def test_cost_cells_and_the_jobs_a_transfer_depends_on():
    w = Workflow(_config())
    cells = w.cost_cells(_w(dataset="gauss1d", table="w2"))
    assert cells == [(n, K) for n in w.table_names("gauss1d") for K in w.ks("gauss1d")]
    jobs = w.schedule_jobs("gauss1d", "art_rl_from100", 5)
    assert jobs[-1] == "results/benchmarks/schedule/gauss1d/art_rl_from100/K5.tsv"
    assert any(j.startswith("results/benchmarks/art_train/gauss1d/") for j in jobs[:-1])


# ---------------------------------------------------------------------------------------------
# Devices


def test_gpu_request_and_torch_device():
    w = Workflow(_config())
    edm, digits = _w(dataset="cifar10"), _w(dataset="digits")
    assert w.gpu_request(digits, local_exec=True, cuda_available=lambda: False) == 0
    assert w.gpu_request(edm, local_exec=True, cuda_available=lambda: True) == 1
    assert w.gpu_request(edm, local_exec=False, cuda_available=lambda: False) == 1
    with pytest.raises(ConfigError, match="needs a GPU.*workflow/profiles/gpu"):
        w.gpu_request(edm, local_exec=True, cuda_available=lambda: False)
    allow = Workflow(_config(allow_cpu=True))
    assert allow.gpu_request(edm, local_exec=True, cuda_available=lambda: False) == 1
    assert w.torch_device(edm, {"gpu": 1}) == "cuda"
    assert w.torch_device(edm, {"gres": "gpu:a100:1"}) == "cuda"
    assert w.torch_device(edm, {"gpu": "x"}) == "cpu"
    assert allow.torch_device(edm, {"gpu": 1}) == "auto"


# ---------------------------------------------------------------------------------------------
# Arguments and regexes


def test_cli_options_and_baseline_args():
    assert cli_options({"steps": 10, "no_attention": True, "off": False, "x": None}) == [
        "--steps",
        "10",
        "--no-attention",
    ]
    args = Workflow(_config()).baseline_args(_w(dataset="gauss1d", name="edm"))
    assert args[:2] == ["--method", "edm"] and "--sigma-max" in args


def test_regexes_match_exactly_the_names():
    assert alternatives([]) == "(?!x)x" and not re.fullmatch(alternatives([]), "x")
    res = Workflow(_config()).regexes()
    assert re.fullmatch(res["DATASET_RE"], "digits16")
    assert re.fullmatch(res["ART_RL_RE"], "art_rl_k18")
    assert not re.fullmatch(res["ART_RL_RE"], "edm")
    assert re.fullmatch(res["COST_TABLE_RE"], "rk4_fid")
    assert not re.fullmatch(res["TABLE_RE"], "heun")


# ---------------------------------------------------------------------------------------------
# Config checks (the same cases as tests/test_config_schema.py's snakemake -n ones)


def _raises(cfg, match):
    w = Workflow(cfg)
    with pytest.raises(ConfigError, match=match):
        w.check_registry_names()
        w.check_config()
        w.check_cross_dataset()


def test_the_shipped_config_passes_every_check():
    w = Workflow(_config())
    w.check_registry_names()
    w.check_config()
    w.check_cross_dataset()


def test_check_config_names_the_culprit():
    cfg = _config()
    cfg["datasets"]["digits"]["reference"]["schedule"] = "nope"
    _raises(cfg, re.escape("datasets/digits/reference/schedule 'nope'"))
    cfg = _config()
    cfg["datasets"]["digits"]["K"] = [2]
    _raises(cfg, "datasets/digits/K does not apply")
    cfg = _config()
    cfg["datasets"]["gauss1d"]["art"]["K"] = 5
    _raises(cfg, re.escape("['K'] are set by the workflow"))
    cfg = _config()
    cfg["datasets"]["digits"]["schedules"]["edm"]["art"] = {"lam": 1.0}
    _raises(cfg, "schedules/edm/art applies to method art_rl only")
    cfg = _config()
    del cfg["datasets"]["digits16"]["schedules"]["art_rl_from_gauss1d"]["rescale"]
    _raises(cfg, "differs from 'gauss1d''s 3.0; set rescale")


def test_check_cross_dataset_and_registry_names():
    cfg = _config()
    cfg["cross_dataset"]["rows"][0]["made_on"] = "mnist"
    _raises(cfg, "cross_dataset/rows/0/made_on: 'mnist'")
    cfg = _config()
    cfg["datasets"]["digits"]["solvers"]["rk5"] = [2]
    _raises(cfg, "datasets/digits/solvers: 'rk5' is not a registered solver")
    cfg = _config()
    cfg["datasets"]["gauss1d"]["schedules"]["dpm"]["method"] = "dpm"
    _raises(cfg, "'dpm' is an alias of 'geometric'")


# ---------------------------------------------------------------------------------------------
# The state-dependent sampler on digits (issue 17)


def test_art_state_reads_its_source_run_and_samples_with_its_policy():
    w = Workflow(_config())
    wc = _w(dataset="digits", name="art_state", K="5", rep="rep2/")
    assert w.art_state_input(wc) == "results/rep2/art/digits/art_rl_at_K/K5/rollouts.npz"
    assert w.policy_input(wc) == ["results/rep2/schedules/digits/art_state/K5.policy.json"]
    assert w.policy_input(_w(dataset="digits", name="edm", K="5", rep="")) == []
    # the digest follows the source run's config: retraining it makes a new policy
    p = w.schedule_provenance("digits", "art_state")
    assert p["source"] == w.schedule_provenance("digits", "art_rl_at_K")
    # its cost is the source run's training, then its own job
    jobs = w.schedule_jobs("digits", "art_state", 5)
    assert jobs[0] == "results/benchmarks/art_train/digits/art_rl_at_K/K5.tsv" and len(jobs) == 2
    # --policy for a sampling job with a policy input, nothing without (a list of one or a str)
    pol = "results/schedules/digits/art_state/K5.policy.json"
    assert w.policy_args(wc, {"policy": [pol]}) == ["--policy", pol]
    assert w.policy_args(wc, {"policy": pol}) == ["--policy", pol]
    assert w.policy_args(wc, {"policy": []}) == []
    assert "art_state" not in w.table_names("digits", "heun")  # only in the state tables
    assert re.fullmatch(w.regexes()["ART_STATE_RE"], "art_state")


def test_art_state_checks_name_the_culprit():
    cfg = _config()
    cfg["datasets"]["digits"]["schedules"]["art_state"]["source"] = "edm"
    _raises(cfg, "schedules/art_state/source must name an art_rl schedule")
    cfg = _config()
    cfg["datasets"]["digits"]["schedules"]["art_state"]["source"] = "art_rl_sigma_k18"
    _raises(cfg, "its ART-RL run needs clock log")
    cfg = _config()
    cfg["datasets"]["digits"]["tables"]["rk4"]["schedules"].append("art_state")
    _raises(cfg, "tables/rk4: art_state .* Euler and Heun have and rk4 has not")
