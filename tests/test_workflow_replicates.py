"""Replicates and fixed numerics in the workflow (issue 16), as pure functions of the config
(artrl.workflow) and as text of the rules: replicate seeds and sample seeds are disjoint and
reach the provenance, tables read every replicate, and every rule that trains or samples runs
with the config's thread count, never the machine's."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from test_workflow_logic import REPO, SHIPPED, _config, _w

from artrl.workflow import Workflow
from artrl.workflow.config import REP_RE, REPLICATE_SEED_STRIDE, TORCH_THREADS, rep_prefix

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text(encoding="utf-8"))


def test_the_shipped_config_has_one_replicate_and_replicate_zero_is_todays_tree():
    w = Workflow(_config())
    assert w.replicates() == 1
    assert rep_prefix(0) == "" and w.rep_index(_w(dataset="digits")) == 0
    assert w.rep_seed(_w(rep="")) == SHIPPED["seed"]
    cell = _w(dataset="digits", solver="heun", name="edm", K=3, rep="")
    assert w.shard_files(cell)[0].startswith("results/samples/digits/heun/edm/K3/seeds0-")
    assert "replicate" not in json.loads(w.cell_meta(cell))


def test_rep_wildcard_regex_matches_only_replicate_prefixes():
    assert re.fullmatch(REP_RE, "") and re.fullmatch(REP_RE, "rep1/")
    assert re.fullmatch(REP_RE, "rep12/")
    for bad in ("rep0/", "rep1", "rep/", "repx/", "rep1/rep2/", "schedules/"):
        assert not re.fullmatch(REP_RE, bad), bad


def test_replicate_seeds_are_disjoint_and_their_sub_streams_never_meet():
    w = Workflow(_config(replicates=3, seed=7))
    seeds = [w.rep_seed(_w(rep=rep_prefix(r))) for r in range(3)]
    assert seeds == [7, 7 + REPLICATE_SEED_STRIDE, 7 + 2 * REPLICATE_SEED_STRIDE]
    # ART-RL draws from seed + 1, + 2, + 3 and seed + 1 + 1,000,003·i (artrl.art.rl, logrl)
    streams = [
        {s + c for c in range(4)} | {s + 1 + 1_000_003 * i for i in range(200)} for s in seeds
    ]
    for a in range(3):
        for b in range(a + 1, 3):
            assert not streams[a] & streams[b]


def test_replicate_sample_seeds_are_disjoint_and_recorded_in_the_cell():
    cfg = _config(replicates=3)
    w = Workflow(cfg)
    n = w.fid_cfg("digits")["samples"]
    covered = []
    for r in range(3):
        cell = _w(dataset="digits", solver="heun", name="art_analytic", K=3, rep=rep_prefix(r))
        ranges = w.shard_ranges("digits", r)
        seeds = [s for lo, hi in ranges for s in range(lo, hi + 1)]
        assert seeds == list(range(r * n, (r + 1) * n))
        covered += seeds
        meta = json.loads(w.cell_meta(cell))
        assert meta["replicate"] == r and meta["seed_offset"] == r * n
        assert meta["replicate_seed"] == cfg["seed"] + r * REPLICATE_SEED_STRIDE
        prefix = f"results/{rep_prefix(r)}samples/digits/heun/art_analytic/K3/"
        assert all(p.startswith(prefix) for p in w.shard_files(cell))
    assert len(covered) == len(set(covered)) == 3 * n


def test_tables_and_figures_read_every_replicate():
    w = Workflow(_config(replicates=3))
    cells = w.fid_table_inputs(_w(dataset="digits"))["cells"]
    one = Workflow(_config()).fid_table_inputs(_w(dataset="digits"))["cells"]
    assert len(cells) == 3 * len(one)
    assert sum(c.startswith("results/rep2/fid/digits/heun/") for c in cells) == len(one)
    entries = w.fid_entries(_w(dataset="digits"))
    first = one[0].split("/")[-2]  # a schedule name, repeated once per replicate
    assert sum(e.startswith(f"{first}=") and e.endswith("/K2.json") for e in entries) == 3
    metrics = w.w2_metric_files(_w(dataset="gauss1d"))
    assert len(metrics) == 3 * len(Workflow(_config()).w2_metric_files(_w(dataset="gauss1d")))
    assert w.replicate_args(_w(rep="rep2/")) == ["--replicate", "2"]
    assert Workflow(_config()).replicate_args(_w(rep="")) == []


def test_a_transfer_and_gits_read_their_own_replicates_inputs():
    w = Workflow(_config(replicates=2))
    names = SHIPPED["datasets"]["gauss1d"]["schedules"]
    xfer = next(n for n, s in names.items() if s["method"] == "art_rl_transfer")
    assert w.transfer_input(_w(dataset="gauss1d", name=xfer, K=5, rep="rep1/")).startswith(
        "results/rep1/schedules/"
    )
    gits = next(n for n, s in names.items() if s["method"] == "gits")
    got = w.method_inputs(_w(dataset="gauss1d", name=gits, K=5, rep="rep1/"))
    assert got["costs"].startswith("results/rep1/methods/")


def test_torch_threads_default_override_and_schema_agree():
    assert Workflow(_config()).torch_threads("train_score") == TORCH_THREADS["train_score"]
    w = Workflow(_config(torch_threads={"sample": 4}))
    assert w.torch_threads("sample") == 4 and w.torch_threads("fid") == TORCH_THREADS["fid"]
    schema = SCHEMA["properties"]["torch_threads"]
    assert set(schema["properties"]) == set(TORCH_THREADS)
    assert schema["additionalProperties"] is False


# ---------------------------------------------------------------------------------------------
# Every rule that runs torch numerics passes the config's thread count (the rule text)

# the modules whose bytes depend on torch's intra-op threads: they train, sample, make a
# schedule from network evaluations or compute features and reductions
TORCH_MODULES = (
    "artrl.models.train_score",
    "artrl.art.train",
    "artrl.art.analytic",
    "artrl.methods.",
    "artrl.sample",
    "artrl.metrics.fid",
    "artrl.metrics.digits_features",
    "artrl.gauss1d",
    "{params.module",  # a method module (built in, or a plugin's)
)


def _rules():
    """{rule name: its text} of every rule of workflow/rules/*.smk."""
    out = {}
    for path in sorted((REPO / "workflow/rules").glob("*.smk")):
        parts = re.split(r"^(?:use )?rule (\w+)", path.read_text(encoding="utf-8"), flags=re.M)
        out.update({name: body for name, body in zip(parts[1::2], parts[2::2], strict=True)})
    return out


def test_every_rule_that_trains_or_samples_runs_with_the_configs_threads():
    rules = _rules()
    numeric = {
        name: body
        for name, body in rules.items()
        if "shell:" in body and any(f"python -m {m}" in body for m in TORCH_MODULES)
    }
    assert {"train_score_model", "art_train", "sample_shard", "fid_cell", "method_schedule"} <= set(
        numeric
    )
    for name, body in numeric.items():
        assert "--threads {params.torch_threads:q}" in body, name
        kind = re.search(r'torch_threads=W\.torch_threads\("(\w+)"\)', body)
        assert kind and kind[1] in TORCH_THREADS, name
        # Snakemake's {threads} follows --cores: it must not reach the command
        assert "{threads}" not in body, name


def test_every_stochastic_schedule_rule_takes_its_replicates_seed():
    rules = _rules()
    per_replicate = {
        name: body
        for name, body in rules.items()
        if "{rep}" in body.split("\n    output:")[-1].split("\n    log:")[0]
        and "--seed {params.seed" in body
    }
    assert {"art_train", "art_q_profile", "method_schedule", "gits_costs", "w2_metrics"} <= set(
        per_replicate
    )
    for name, body in per_replicate.items():
        assert "seed=W.rep_seed" in body and 'seed=config["seed"]' not in body, name


@pytest.mark.parametrize("r", [0, 1, 3])
def test_rep_prefix_round_trips_through_rep_index(r):
    assert Workflow(_config(replicates=4)).rep_index(_w(rep=rep_prefix(r))) == r
