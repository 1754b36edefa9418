"""Config validation before any job: a malformed config fails at `snakemake -n` naming the key,
and the schema's defaults (filled by Snakemake's validate) go where the rules expect them."""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow/schemas/config.schema.yaml"

pytestmark = pytest.mark.skipif(
    shutil.which("snakemake") is None
    and subprocess.run([sys.executable, "-c", "import snakemake"]).returncode != 0,
    reason="snakemake is not installed",
)


def _config() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())


def _with(cfg: dict, path: tuple[str, ...], value) -> dict:
    """A copy of ``cfg`` with the key at ``path`` set to ``value`` (deleted for ``DELETE``,
    renamed, in place, for ``Rename(new)``)."""
    cfg = copy.deepcopy(cfg)
    node = cfg
    for key in path[:-1]:
        node = node[key]
    if value is DELETE:
        del node[path[-1]]
    elif isinstance(value, Rename):
        items = [(value.new if k == path[-1] else k, v) for k, v in node.items()]
        node.clear()
        node.update(items)
    else:
        node[path[-1]] = value
    return cfg


DELETE = object()


class Rename:
    """``_with``'s value that renames the key at the path (a dataset or schedule name)."""

    def __init__(self, new: str):
        self.new = new


def _dry_run(tmp_path: Path, cfg: dict) -> subprocess.CompletedProcess:
    cfg_file = tmp_path / "config.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False))
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
         "--directory", str(work), "--configfile", str(cfg_file), "--workflow-profile", "none",
         "--cores", "1", "-n", "all"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


# (where, value, text the error must contain: the key's path or its name)
BAD_SCHEMA = {
    "wrong type (number)": (("datasets", "gauss1d", "sigma_max"), "three", "['sigma_max']"),
    "wrong type (list)": (("datasets", "gauss1d", "K"), 5, "['gauss1d']['K']"),
    "wrong type (seed)": (("seed",), "zero", "['seed']"),
    "unknown score_model key": (("datasets", "digits", "score_model", "step"), 10, "'step'"),
    "gauss1d K < 1": (("datasets", "gauss1d", "K"), [0, 2], "['gauss1d']['K'][0]"),
    "digits K < 1": (("datasets", "digits", "solvers", "heun"), [2, 0], "['heun'][1]"),
    "empty K list": (("datasets", "digits", "solvers", "rk4"), [], "['solvers']['rk4']"),
    "solver name not a name": (("datasets", "digits", "solvers", "rk-5"), [2], "'rk-5' does not"),
    "reference K < 1": (("datasets", "digits", "reference", "K"), 0, "['reference']['K']"),
    "no K on a W2 dataset": (("datasets", "gauss1d", "K"), DELETE, "'K' is a required property"),
    "unknown analytic proxy": (
        ("datasets", "digits", "schedules", "art_analytic_heun", "analytic"),
        {"proxy": "rk4"},
        "['analytic']['proxy']",
    ),
    "core_only not a boolean": (("core_only",), "yes", "['core_only']"),
    "log_range rescale without sigma_min": (
        ("datasets", "digits", "schedules", "art_rl_from_gauss1d_log", "sigma_min"),
        DELETE,
        "'sigma_min' is a required property",
    ),
    "unknown rescale": (
        ("datasets", "digits", "schedules", "art_rl_from_gauss1d", "rescale"),
        "linear",
        "['rescale']",
    ),
    "unknown cross_dataset key": (("cross_dataset", "target"), {}, "'target'"),
    "no solvers on an image dataset": (
        ("datasets", "digits", "solvers"),
        DELETE,
        "'solvers' is a required property",
    ),
}
# issue 14: every number in its range, every path and name without shell syntax or `..`
BAD_SCHEMA |= {
    "art.iterations -5": (
        ("datasets", "gauss1d", "art", "iterations"),
        -5,
        "['gauss1d']['art']['iterations']",
    ),
    "art.batch 0 on the paper's clock": (
        ("datasets", "gauss1d", "schedules", "art_rl_sigma_k100", "art", "batch"),
        0,
        "['art_rl_sigma_k100']['art']['batch']",
    ),
    "art.batch -1": (("datasets", "gauss1d", "art", "batch"), -1, "['art']['batch']"),
    "art learning rate 0": (("datasets", "gauss1d", "art", "lr_actor"), 0.0, "['art']['lr_actor']"),
    "art.td_lambda above 1": (("datasets", "gauss1d", "art", "td_lambda"), 1.5, "['td_lambda']"),
    "art.distill_frac 0": (("datasets", "digits16", "art", "distill_frac"), 0, "['distill_frac']"),
    "score model learning rate 0": (("datasets", "digits", "score_model", "lr"), 0, "['lr']"),
    "fid.samples 0": (("datasets", "digits", "fid", "samples"), 0, "['fid']['samples']"),
    "fid.shard_size 0": (("datasets", "digits", "fid", "shard_size"), 0, "['fid']['shard_size']"),
    "negative seed": (("seed",), -1, "['seed']"),
    "gits fine_steps 0": (
        ("datasets", "gauss1d", "schedules", "gits", "settings", "fine_steps"),
        0,
        "['gits']['settings']['fine_steps']",
    ),
    "ld3 learning rate 0": (
        ("datasets", "gauss1d", "schedules", "ld3", "settings"),
        {"lr": 0.0},
        "['ld3']['settings']['lr']",
    ),
    "analytic rollouts 0": (("datasets", "gauss1d", "analytic", "rollouts"), 0, "['rollouts']"),
    "model path with shell syntax": (
        ("datasets", "cifar10", "model", "path"),
        "resources/edm/x$(touch PWNED).pkl",
        "['cifar10']['model']['path']",
    ),
    "model path with ..": (
        ("datasets", "cifar10", "model", "path"),
        "resources/../../x.pkl",
        "['cifar10']['model']['path']",
    ),
    "fid ref with ..": (("datasets", "ffhq", "fid", "ref"), "../ref.npz", "['ffhq']['fid']['ref']"),
    "inception path with a space": (
        ("datasets", "cifar10", "fid", "inception_path"),
        "resources/fid/my inception.pt",
        "['fid']['inception_path']",
    ),
    "model path read as an option": (("datasets", "digits", "model", "path"), "-rf", "['path']"),
    "dataset name with a space": (("datasets", "gauss1d"), Rename("gauss 1d"), "'gauss 1d'"),
    "dataset name with ;": (("datasets", "digits"), Rename("d;touch PWNED"), "'d;touch PWNED'"),
    "schedule name with /": (
        ("datasets", "gauss1d", "schedules", "uniform"),
        Rename("uni/form"),
        "'uni/form'",
    ),
    "inception_url with a backtick": (
        ("datasets", "cifar10", "fid", "inception_url"),
        "https://example.org/`touch PWNED`.pt",
        "['fid']['inception_url']",
    ),
    "model url with $(": (
        ("datasets", "cifar10", "model", "url"),
        "https://example.org/$(touch PWNED).pkl",
        "['model']['url']",
    ),
    "inception_sha256 not a digest": (
        ("datasets", "cifar10", "fid", "inception_sha256"),
        ["abc"],
        "['fid']['inception_sha256']",
    ),
}
# cross-field checks of workflow/rules/common.smk (check_config)
BAD_CROSS = {
    "reference schedule": (
        ("datasets", "digits", "reference", "schedule"),
        "nope",
        "datasets/digits/reference/schedule 'nope'",
    ),
    "K on an image dataset": (("datasets", "digits", "K"), [2], "datasets/digits/K"),
    "unknown art key": (("datasets", "gauss1d", "art", "lr_actr"), 1e-3, "lr_actr"),
    "art key of wrong type": (("datasets", "gauss1d", "art", "batch"), "many", "'batch'"),
    "art key set by the workflow": (("datasets", "gauss1d", "art", "K"), 5, "['K']"),
    "too many FID blocks": (("datasets", "digits", "fid", "blocks"), 5000, "datasets/digits/fid"),
    "art override on a non-ART schedule": (
        ("datasets", "digits", "schedules", "edm", "art"),
        {"lam": 1.0},
        "schedules/edm/art applies to method art_rl only",
    ),
    "unknown key in a schedule's art": (
        ("datasets", "digits", "schedules", "art_rl_heun_k18", "art"),
        {"proxi": "heun"},
        "proxi",
    ),
    "bad value in a schedule's art": (
        ("datasets", "gauss1d", "schedules", "art_rl_time_k100", "art"),
        {"actor_inputs": "space"},
        "actor_inputs",
    ),
    "transfer across sigma_max without rescale": (
        ("datasets", "digits16", "schedules", "art_rl_from_gauss1d", "rescale"),
        DELETE,
        "differs from 'gauss1d''s 3.0; set rescale",
    ),
    "transfer from a schedule that does not exist": (
        ("datasets", "digits16", "schedules", "art_rl_from_digits", "source"),
        "art_rl_k81",
        "source 'art_rl_k81' is not another schedule of dataset 'digits'",
    ),
    "cross_dataset target not a dataset": (
        ("cross_dataset", "targets", "digits", "dataset"),
        "digits8",
        "cross_dataset/targets/digits/dataset: 'digits8'",
    ),
    "cross_dataset target table": (
        ("cross_dataset", "targets", "digits16", "table"),
        "euler",
        "'euler' is not a table of dataset 'digits16'",
    ),
    "cross_dataset unknown schedule": (
        ("cross_dataset", "rows", 0, "schedules", "digits"),
        "art_rl_nope",
        "cross_dataset/rows/0/schedules/digits: 'art_rl_nope'",
    ),
    "cross_dataset made_on": (
        ("cross_dataset", "rows", 0, "made_on"),
        "mnist",
        "cross_dataset/rows/0/made_on: 'mnist'",
    ),
    "cross_dataset compare_to": (
        ("cross_dataset", "rows", 3, "compare_to"),
        "ART-RX",
        "cross_dataset/rows/3/compare_to: 'ART-RX' is not the label of another row",
    ),
    "cross_dataset compare_to of one label": (
        ("cross_dataset", "rows", 0, "compare_to"),
        "ART-analytic",
        "cross_dataset/rows/1/compare_to: None differs from row 0's 'ART-analytic'",
    ),
    "table named like one of the solvers": (
        ("datasets", "digits", "solvers", "rk4"),
        [2],
        "datasets/digits/tables: ['rk4'] is also a solver",
    ),
}
# names that are not in artrl.registry (the schema checks their pattern only, so that a
# plugin's names pass): workflow/rules/common.smk names the key and the registered names
BAD_REGISTRY = {
    "unknown solver": (
        ("datasets", "digits", "solvers", "rk5"),
        [2],
        "datasets/digits/solvers: 'rk5' is not a registered solver; registered: euler, heun, rk4",
    ),
    "reference solver": (
        ("datasets", "digits", "reference", "solver"),
        "dpm2",
        "datasets/digits/reference/solver: 'dpm2' is not a registered solver",
    ),
    "a method's alias": (
        ("datasets", "gauss1d", "schedules", "dpm", "method"),
        "dpm",
        "'dpm' is not a registered schedule method ('dpm' is an alias of 'geometric'",
    ),
}
# `snakemake -n` itself, for some of the schema cases (the rest: the same validate() in process)
DRY_RUN = ["wrong type (number)", "digits K < 1", "art.iterations -5"]
DRY_RUN += list(BAD_CROSS) + list(BAD_REGISTRY)


@pytest.mark.parametrize("case", DRY_RUN)
def test_malformed_config_fails_dry_run_naming_the_key(tmp_path, case):
    path, value, expect = {**BAD_SCHEMA, **BAD_CROSS, **BAD_REGISTRY}[case]
    r = _dry_run(tmp_path, _with(_config(), path, value))
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert expect in out, out
    assert "Building DAG" not in out  # failed while reading the config, before any job


@pytest.mark.parametrize("case", list(BAD_SCHEMA))
def test_malformed_config_fails_validation_naming_the_key(case):
    from snakemake.exceptions import WorkflowError

    path, value, expect = BAD_SCHEMA[case]
    with pytest.raises(WorkflowError) as e:
        _validated(_with(_config(), path, value))
    assert expect in str(e.value)


def _validated(cfg: dict) -> dict:
    from snakemake.utils import validate

    validate(cfg, schema=str(SCHEMA))
    return cfg


def test_the_shipped_config_validates():
    _validated(_config())


@pytest.mark.parametrize(
    "path,value",
    [
        # absolute paths (a local copy; pytest's tmp_path) and the digests' two shapes
        (("datasets", "cifar10", "model", "path"), "/tmp/pytest-of-root/pytest-1/m0/edm-x_1.pkl"),
        (("datasets", "cifar10", "fid", "inception_sha256"), "ab" * 32),
        (("datasets", "cifar10", "fid", "inception_sha256"), ["ab" * 32, "CD" * 32]),
        # 0 where it means something: the log clock's automatic batch, no Monte-Carlo W2
        (("datasets", "gauss1d", "art", "batch"), 0),
        (("datasets", "gauss1d", "w2", "mc_samples"), 0),
        (("datasets", "gauss1d", "art", "td_lambda"), 0),
        (("datasets", "gauss1d", "art", "grad_clip"), 0),
    ],
)
def test_values_at_the_edge_of_their_range_are_kept(path, value):
    cfg = _validated(_with(_config(), path, value))
    node = cfg
    for key in path:
        node = node[key]
    assert node == value


def test_defaults_are_filled_per_model_type():
    cfg = _config()
    g, d = cfg["datasets"]["gauss1d"], cfg["datasets"]["digits"]
    for key in ("w2", "analytic", "art"):
        g.pop(key)
    for key in ("fid", "score_model", "resolution", "analytic"):
        d.pop(key)
    _validated(cfg)
    # W2 datasets: the Monte-Carlo and ART-cost sample counts the w2_metrics rule reads
    assert g["w2"] == {"mc_samples": 100000, "art_cost_samples": 100000}
    assert g["analytic"] == {"rollouts": 4096, "fine_steps": 2000} and g["art"] == {}
    # image datasets: every fid key the rules read (fid_cfg), the score model's options
    assert d["fid"] == {
        "features": "digits", "samples": 5000, "shard_size": 2500, "batch": 250, "blocks": 1,
        "classifier": {},
    }  # fmt: skip
    assert d["score_model"] == {} and d["resolution"] == 8
    # ... and nothing of one model type leaks into the other
    assert not {"fid", "score_model", "resolution", "solvers"} & set(g)
    assert "w2" not in d


def test_given_values_are_kept():
    cfg = _with(_config(), ("datasets", "digits", "fid"), {"samples": 100, "blocks": 2})
    d = _validated(cfg)["datasets"]["digits"]
    assert d["fid"]["samples"] == 100 and d["fid"]["blocks"] == 2
    assert d["fid"]["shard_size"] == 2500  # the rest from the defaults


def test_schema_options_are_command_line_flags():
    """score_model and fid.classifier keys are flags of the commands the rules call."""
    from artrl.metrics.digits_features import _parser as classifier_parser
    from artrl.models import train_score

    schema = yaml.safe_load(SCHEMA.read_text())
    props = schema["$defs"]["dataset"]["properties"]
    score_keys = set(props["score_model"]["properties"])
    classifier_keys = set(props["fid"]["properties"]["classifier"]["properties"])
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()) as buf, pytest.raises(SystemExit):
        train_score.main(["--help"])
    help_text = buf.getvalue()
    for key in score_keys:
        assert f"--{key.replace('_', '-')}" in help_text, key
    train = classifier_parser()._subparsers._group_actions[0].choices["train"]
    flags = {s for a in train._actions for s in a.option_strings}
    for key in classifier_keys:
        assert f"--{key.replace('_', '-')}" in flags, key
