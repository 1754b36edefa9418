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

from artrl.workflow import ConfigError, Workflow, check
from artrl.workflow.config import REP_RE, REPLICATE_SEED_STRIDE, TORCH_THREADS, rep_prefix

SCHEMA_PATH = "workflow/schemas/config.schema.yaml"
SCHEMA = yaml.safe_load((REPO / SCHEMA_PATH).read_text(encoding="utf-8"))


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
    "artrl.state_compare",
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


# ---------------------------------------------------------------------------------------------
# config replicate_score_model: replicate r >= 1 trains and reads its own score model

SHARED_MODEL = SHIPPED["datasets"]["digits"]["model"]["path"]  # results/models/digits/model.pt


def _digits_jobs(w, r):
    """The model file every kind of job of replicate ``r`` of digits reads: its Snakemake inputs
    and the model path inside its --dataset-config (ART-RL, q-profile, analytic schedule, GITS
    costs and the other methods, sampling shards)."""
    rep = rep_prefix(r)
    names = SHIPPED["datasets"]["digits"]["schedules"]
    art = next(n for n, s in names.items() if s["method"] == "art_rl")
    analytic = next(n for n, s in names.items() if s["method"] == "art_analytic")
    methods = [n for n, s in names.items() if s["method"] in ("gits", "ld3", "dmn")]
    assert {"gits", "ld3", "dmn"} <= {names[n]["method"] for n in methods}
    paths = {
        "art_train json": json.loads(w.art_train_json(_w(dataset="digits", name=art, rep=rep))),
        "q_profile json": json.loads(w.analytic_json(_w(dataset="digits", rep=rep))),
        "analytic json": json.loads(
            w.analytic_schedule_json(_w(dataset="digits", name=analytic, rep=rep))
        ),
        "sample json": json.loads(w.model_json(_w(dataset="digits", rep=rep))),
    }
    paths = {k: v["model"]["path"] for k, v in paths.items()}
    for n in methods:
        cell = _w(dataset="digits", name=n, K=5, rep=rep)
        paths[f"{n} json"] = json.loads(w.method_json(cell))["model"]["path"]
        (paths[f"{n} input"],) = w.method_inputs(cell)["model"]
    (paths["model_files"],) = w.model_files(_w(dataset="digits", rep=rep))
    return paths


def test_without_replicate_score_model_every_replicate_reads_the_shared_model():
    for cfg in (_config(replicates=3), _config(replicates=3, replicate_score_model=False)):
        w = Workflow(cfg)
        for r in range(3):
            assert set(_digits_jobs(w, r).values()) == {SHARED_MODEL}, r
        assert not w.score_model_replicated("digits")
        # nothing may request a replicate's model: train_score_model builds replicate 0's only
        assert w.regexes()["MODEL_REP_RE"] == w.model_rep_re() != ""  # "" is Snakemake's ".+"
        assert re.fullmatch(w.model_rep_re(), "") and not re.fullmatch(w.model_rep_re(), "rep1/")
        cell = _w(dataset="digits", solver="heun", name="edm", K=3, rep="rep1/")
        assert "replicate_score_model" not in json.loads(w.cell_meta(cell))
    # and the arguments are today's: byte for byte those of the shipped config's replicate 0
    one, three = Workflow(_config()), Workflow(_config(replicates=3))
    cell = _w(dataset="digits", name="gits_heun", K=5, rep="rep2/")
    assert three.method_json(cell) == one.method_json(_w(dataset="digits", name="gits_heun"))
    assert three.model_json(cell) == one.model_json(_w(dataset="digits"))


def test_replicate_score_model_gives_each_replicate_its_own_model():
    w = Workflow(_config(replicates=3, replicate_score_model=True))
    off = Workflow(_config(replicates=3))
    assert set(_digits_jobs(w, 2).values()) == {"results/rep2/models/digits/model.pt"}
    assert set(_digits_jobs(w, 1).values()) == {"results/rep1/models/digits/model.pt"}
    # replicate 0 keeps the configured path, its arguments byte for byte
    assert set(_digits_jobs(w, 0).values()) == {SHARED_MODEL}
    for name in ("gits_heun", "art_rl_k18"):
        cell = _w(dataset="digits", name=name, K=5, rep="")
        assert w.method_json(cell) == off.method_json(cell)
        assert w.art_train_json(cell) == off.art_train_json(cell)
        # the schedule's config digest (the --expect of its readers) is the same for all
        assert w.schedule_digest(cell) == off.schedule_digest(cell)
    # the path is what train_score_model writes for that replicate (its output pattern)
    images = (REPO / "workflow/rules/images.smk").read_text(encoding="utf-8")
    pattern = re.search(r'rule train_score_model:\n    output:\n        "([^"]+)"', images)[1]
    assert pattern == "results/{rep}models/{dataset}/model.pt"
    for r in range(3):
        want = pattern.format(rep=rep_prefix(r), dataset="digits")
        assert w.model_cfg("digits", r) == {**SHIPPED["datasets"]["digits"]["model"], "path": want}
    assert re.fullmatch(w.regexes()["MODEL_REP_RE"], "rep2/")
    # a Gaussian model has nothing to replicate, an EDM pickle is shared (true names only the
    # models the workflow trains); the FID features and reference stay shared
    assert w.model_files(_w(dataset="gauss1d", rep="rep2/")) == []
    gauss = _w(dataset="gauss1d", name="art_rl", rep="rep2/")
    assert w.art_train_json(gauss) == off.art_train_json(gauss)
    assert w.model_files(_w(dataset="cifar10", rep="rep2/")) == off.model_files(
        _w(dataset="cifar10", rep="rep2/")
    )
    assert w.replicate_score_model_datasets() == ["digits", "digits16"]
    fid = w.fid_cell_inputs(_w(dataset="digits", solver="heun", name="edm", K=3, rep="rep2/"))
    assert fid["features"] == "results/fid/digits/classifier.pt"
    assert fid["ref"] == "results/fid/digits/ref_stats.npz"
    # a list names the data sets: digits16 keeps its one model
    w = Workflow(_config(replicates=3, replicate_score_model=["digits"]))
    assert w.model_files(_w(dataset="digits16", rep="rep2/")) == [
        SHIPPED["datasets"]["digits16"]["model"]["path"]
    ]
    assert w.model_files(_w(dataset="digits", rep="rep2/")) == [
        "results/rep2/models/digits/model.pt"
    ]


def test_one_replicate_ignores_replicate_score_model():
    w, off = Workflow(_config(replicate_score_model=True)), Workflow(_config())
    assert not w.score_model_replicated("digits") and w.model_rep_re() == off.model_rep_re()
    assert _digits_jobs(w, 0) == _digits_jobs(off, 0)
    cell = _w(dataset="digits", solver="heun", name="edm", K=3, rep="")
    assert w.cell_meta(cell) == off.cell_meta(cell)


@pytest.mark.parametrize("seed", [0, 7])
def test_a_replicates_score_model_trains_with_the_replicates_seed(seed):
    body = _rules()["train_score_model"]
    assert "seed=W.rep_seed" in body and 'seed=config["seed"]' not in body
    assert "--seed {params.seed:q}" in body and "rep=MODEL_REP_RE" in body
    for part in ("output", "log", "benchmark"):
        assert "{rep}" in body.split(f"\n    {part}:\n")[1].split("\n")[0], part
    w = Workflow(_config(replicates=3, seed=seed, replicate_score_model=True))
    for r in range(3):
        want = seed + REPLICATE_SEED_STRIDE * r
        assert w.rep_seed(_w(dataset="digits", rep=rep_prefix(r))) == want


def test_the_fid_cells_record_a_replicated_score_model():
    w = Workflow(_config(replicates=2, replicate_score_model=True))
    for r in range(2):
        cell = _w(dataset="digits", solver="heun", name="edm", K=3, rep=rep_prefix(r))
        meta = json.loads(w.cell_meta(cell))
        assert meta["replicate_score_model"] is True and meta["replicate"] == r


@pytest.mark.parametrize(
    "value,dataset,path",
    [
        (["cifar10"], "cifar10", None),  # a downloaded EDM pickle
        (["digits"], "digits", "/data/digits/model.pt"),  # a U-Net made elsewhere
        (["nowhere"], "nowhere", None),  # not a data set of the config
    ],
)
def test_replicate_score_model_refuses_a_model_the_workflow_does_not_train(value, dataset, path):
    cfg = _config(replicates=2, replicate_score_model=value)
    if path is not None:
        cfg["datasets"]["digits"]["model"]["path"] = path
    with pytest.raises(ConfigError) as e:
        check(cfg)
    assert "replicate_score_model" in str(e.value) and repr(dataset) in str(e.value)


def test_replicate_score_model_true_replicates_only_the_models_the_workflow_trains():
    """true on the shipped config (EDM data sets too) passes, a Gaussian has nothing to
    replicate, and a U-Net no rule makes stays shared (a list naming it is refused)."""
    for value in (True, False, ["digits", "gauss1d"]):
        check(_config(replicates=2, replicate_score_model=value))
    w = Workflow(_config(replicates=2, replicate_score_model=["gauss1d"]))
    assert not w.score_model_replicated("gauss1d")
    assert not re.fullmatch(w.model_rep_re(), "rep1/")
    cfg = _config(replicates=2, replicate_score_model=True)
    cfg["datasets"]["digits"]["model"]["path"] = "results/models/nothing/model.pt"
    check(cfg)
    assert not Workflow(cfg).score_model_replicated("digits")
    assert "digits" not in Workflow(cfg).replicate_score_model_datasets()


def test_replicate_score_model_is_a_documented_schema_key_off_by_default():
    schema = SCHEMA["properties"]["replicate_score_model"]
    assert schema["default"] is False and "score model" in schema["description"]
    assert SHIPPED["replicate_score_model"] is False
    from snakemake.utils import validate

    for value in (True, ["digits"]):
        validate(_config(replicate_score_model=value), schema=str(REPO / SCHEMA_PATH))
    with pytest.raises(Exception, match="replicate_score_model"):
        validate(_config(replicate_score_model="yes"), schema=str(REPO / SCHEMA_PATH))
