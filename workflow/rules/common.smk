# Config validation and helper functions shared by all rule modules (no rules in this file).

import json
import math
import os
import re

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

# artrl must be importable where snakemake itself runs (the Makefile runs it from the venv
# artrl is installed in; with --sdm conda, `pip install -e .` there too): artrl.registry is
# the one list of schedule methods and solvers (issue 15), with those of ARTRL_PLUGINS.
from artrl.io import config_digest
from artrl.registry import METHODS, PLUGINS_ENV, SOLVERS, lookup_method, method_names


def _registry_error(where, value, what, registered):
    m = lookup_method(value) if what == "schedule method" else None
    hint = f" ({value!r} is an alias of {m.name!r}: write {m.name})" if m else ""
    return WorkflowError(
        f"config: {where}: {value!r} is not a registered {what}{hint}; registered: "
        f"{', '.join(registered)} (artrl.registry; a plugin adds more: {PLUGINS_ENV})"
    )


def check_registry_names():
    """Every method and solver name of the config is one of artrl.registry (the schema only
    checks the name pattern, so that a plugin's names pass); run before validate()."""

    def sub(node, *keys):
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        return node if isinstance(node, dict) else {}

    solvers = []  # (where, value) of every solver name
    for dataset, d in sub(config, "datasets").items():
        at = f"datasets/{dataset}"
        solvers.append((f"{at}/solver", sub(d).get("solver")))
        solvers += [(f"{at}/solvers", s) for s in sub(d, "solvers")]
        for t, table in sub(d, "tables").items():
            solvers.append((f"{at}/tables/{t}/solver", sub(table).get("solver")))
        solvers.append((f"{at}/reference/solver", sub(d, "reference").get("solver")))
        for name, sch in sub(d, "schedules").items():
            where = f"{at}/schedules/{name}"
            method = sub(sch).get("method")
            if isinstance(method, str) and method not in METHODS:
                where = f"{where}/method"
                raise _registry_error(where, method, "schedule method", METHODS)
            solvers.append((f"{where}/solver", sub(sch).get("solver")))
            teacher = sub(sch, "settings").get("teacher_solver")
            solvers.append((f"{where}/settings/teacher_solver", teacher))
    for where, value in solvers:
        if isinstance(value, str) and value not in SOLVERS:
            raise _registry_error(where, value, "solver", SOLVERS)


check_registry_names()
validate(config, schema="../schemas/config.schema.yaml")


BASELINE_METHODS = method_names("baseline")
# how each method's schedule file is made: one rule per group (artrl.registry.RULES)
METHOD_GROUP = {name: m.kind for name, m in METHODS.items()}
# competing schedule methods, each a module python -m <cli> (artrl.registry: Method.cli)
SCHEDULE_METHODS = method_names("method")
# schedule keys that become command-line options of python -m artrl.schedules
BASELINE_OPTIONS = {
    "sigma_min": "--sigma-min",
    "rho": "--rho",
    "c": "--c",
    "convention": "--convention",
}
# the paper's 1-D setting (arXiv 2601.18681 §5.1), where its published W2 rows apply
PAPER_1D = {"std": 1.0, "dim": 1, "sigma_max": 3.0, "solver": "euler"}


# ---------------------------------------------------------------------------------------------
# Config access


def dataset_cfg(dataset):
    return config["datasets"][dataset]


def included(block, dataset=None):
    """False for a block marked `extra: true` when the run is core_only (make demo), and for
    the extra rows of an EDM data set unless gpu_extras (GPU-days of competing methods).
    """
    if not block.get("extra", False):
        return True
    if config.get("core_only", False):
        return False
    return dataset is None or not is_edm(dataset) or config.get("gpu_extras", False)


def is_edm(dataset):
    """An NVIDIA EDM network (a GPU job per network evaluation), not an embedded model."""
    return dataset_cfg(dataset)["model"]["type"] == "edm"


def datasets():
    """The datasets this run builds (core_only leaves out the `extra: true` ones)."""
    return [d for d, c in config["datasets"].items() if included(c)]


def schedule_cfg(dataset, name):
    return dataset_cfg(dataset)["schedules"][name]


def schedule_names(dataset, methods=None):
    """Schedule names of a dataset in config order, optionally only those with given methods."""
    return [
        name
        for name, s in dataset_cfg(dataset)["schedules"].items()
        if (methods is None or s["method"] in methods) and included(s, dataset)
    ]


def table_names(dataset, solver=None):
    """Schedule names shown in tables and figures (``table: false`` hides e.g. the K = 18
    training run that a resampled row is made from; a schedule made for one solver, e.g.
    ``gits_heun: {method: gits, solver: heun}``, only appears in that solver's table).
    """
    out = []
    for n in schedule_names(dataset):
        s = schedule_cfg(dataset, n)
        if not s.get("table", True):
            continue
        if solver is not None and s["method"] in SCHEDULE_METHODS and s.get("solver"):
            if s["solver"] != solver:
                continue
        out.append(n)
    return out


def schedule_label(dataset, name):
    return schedule_cfg(dataset, name).get("label", name)


def ks(dataset):
    """The step budgets K a dataset builds schedules (and trains ART-RL) for."""
    d = dataset_cfg(dataset)
    if "K" in d:
        return d["K"]
    return sorted({k for klist in d.get("solvers", {}).values() for k in klist})


def transfer_source(dataset, name):
    return schedule_cfg(dataset, name).get("source", "art_rl")


def w2_datasets():
    """Datasets with an analytic Gaussian model: evaluated by exact W2 (arXiv 2601.18681 §5.1)."""
    return [d for d in datasets() if dataset_cfg(d)["model"]["type"] == "gaussian"]


def image_datasets():
    """Datasets with an image score model (trained U-Net or EDM pickle): sampling and FID."""
    return [d for d in datasets() if dataset_cfg(d)["model"]["type"] in ("unet", "edm")]


def unet_datasets():
    """Image datasets whose score model the workflow trains (rule train_score_model)."""
    return [d for d in datasets() if dataset_cfg(d)["model"]["type"] == "unet"]


def fid_cfg(dataset):
    defaults = {"features": "digits", "samples": 5000, "shard_size": 2500, "batch": 250}
    return {**defaults, "blocks": 1, **dataset_cfg(dataset).get("fid", {})}


def digits_fid_datasets():
    """Image datasets measured with the digits classifier's features (FID classifier rules)."""
    return [d for d in image_datasets() if fid_cfg(d)["features"] == "digits"]


def extra_tables(dataset):
    """Tables beyond one per solver: name -> {solver, K, schedules} (e.g. CIFAR-10's
    K = 18 schedule resampled to K' = 4..20, Table 5 of the extended paper, arXiv 2607.02137);
    core_only leaves out the ones marked `extra: true`."""
    return {
        t: c
        for t, c in dataset_cfg(dataset).get("tables", {}).items()
        if included(c, dataset)
    }


def table_ids(dataset):
    """Every FID table of a dataset: its solvers (heun first), then the extra tables."""
    solvers = sorted(dataset_cfg(dataset).get("solvers", {}), key=lambda s: s != "heun")
    return solvers + list(extra_tables(dataset))


def art_rl_name(dataset):
    """The first schedule with method art_rl (its largest-K schedule is plotted), or None."""
    names = schedule_names(dataset, ("art_rl",))
    return names[0] if names else None


def art_analytic_name(dataset):
    names = schedule_names(dataset, ("art_analytic",))
    return names[0] if names else None


def art_config_class():
    """artrl's ARTConfig (to check art blocks before any job), or None outside the artrl env."""
    try:
        from artrl.art.config import ARTConfig
    except ImportError:
        return None
    return ARTConfig


def check_config():
    """Cross-field checks the JSON schema cannot express; fail early naming the culprit."""
    group_of = {}
    ARTConfig = art_config_class()
    for dataset, d in config["datasets"].items():
        kind = d["model"]["type"]
        need = ("K", "solver") if kind == "gaussian" else ("solvers",)
        missing = [k for k in need if k not in d]
        if missing:
            raise ValueError(
                f"config: datasets/{dataset} ({kind} model) needs the key(s) {missing}"
            )
        unused = ("solvers", "reference") if kind == "gaussian" else ("K",)
        for key in unused:
            if key in d:
                hint = (
                    "K and solver"
                    if kind == "gaussian"
                    else "solvers: {solver: [K, ...]}"
                )
                raise ValueError(
                    f"config: datasets/{dataset}/{key} does not apply to a {kind} model "
                    f"(it uses {hint})"
                )
        clash = sorted(set(d.get("tables", {})) & set(d.get("solvers", {})))
        if clash:
            raise ValueError(
                f"config: datasets/{dataset}/tables: {clash} is also a solver of `solvers` "
                "(both would write the same table); rename the table or drop the solver"
            )
        ref = d.get("reference")
        if ref and ref["schedule"] not in d["schedules"]:
            raise ValueError(
                f"config: datasets/{dataset}/reference/schedule {ref['schedule']!r} is not a "
                f"schedule of this dataset (one of {sorted(d['schedules'])})"
            )
        fid = d.get("fid", {})
        if "samples" in fid and fid["samples"] // fid.get("blocks", 1) < 2:
            raise ValueError(
                f"config: datasets/{dataset}/fid: samples {fid['samples']} make blocks of "
                f"fewer than 2 images for blocks {fid.get('blocks', 1)}"
            )
        fixed = sorted({"K", "T", "seed"} & set(d.get("art", {})))
        if fixed:
            raise ValueError(
                f"config: datasets/{dataset}/art: {fixed} are set by the workflow (the K of "
                "each job, sigma_max and the global seed); remove them"
            )
        if ARTConfig is not None:
            try:
                ARTConfig.from_dict(
                    d.get("art", {}), where=f"config: datasets/{dataset}/art"
                )
            except (KeyError, TypeError, ValueError) as e:
                raise ValueError(e.args[0] if e.args else str(e)) from None
        for name, s in d["schedules"].items():
            for key, method in (("art", "art_rl"), ("analytic", "art_analytic")):
                if key in s and s["method"] != method:
                    raise ValueError(
                        f"config: datasets/{dataset}/schedules/{name}/{key} applies to "
                        f"method {method} only, not {s['method']}"
                    )
            if "art" in s and ARTConfig is not None:
                fixed = sorted({"K", "T", "seed"} & set(s["art"]))
                if fixed:
                    raise ValueError(
                        f"config: datasets/{dataset}/schedules/{name}/art: {fixed} are set "
                        "by the workflow; remove them"
                    )
                try:
                    ARTConfig.from_dict(
                        art_train_cfg(dataset, name)["art"],
                        where=f"config: datasets/{dataset}/schedules/{name}/art (merged)",
                    )
                except (KeyError, TypeError, ValueError) as e:
                    raise ValueError(e.args[0] if e.args else str(e)) from None
            group = METHOD_GROUP[s["method"]]
            if group_of.setdefault(name, (group, dataset))[0] != group:
                other = group_of[name]
                raise ValueError(
                    f"config: schedule name {name!r} is made by a {group} rule in dataset "
                    f"{dataset!r} but by a {other[0]} rule in dataset {other[1]!r}; "
                    "use different names (they share output paths)"
                )
            if s["method"] == "art_rl_transfer":
                src = transfer_source(dataset, name)
                src_ds = s.get("source_dataset", dataset)
                src_d = config["datasets"].get(src_ds)
                if src_d is None:
                    raise ValueError(
                        f"config: datasets/{dataset}/schedules/{name}/source_dataset: "
                        f"{src_ds!r} is not a dataset of this config"
                    )
                if src not in src_d["schedules"] or (src_ds, src) == (dataset, name):
                    raise ValueError(
                        f"config: datasets/{dataset}/schedules/{name}: source {src!r} is not "
                        f"another schedule of dataset {src_ds!r}"
                    )
                if src_d["sigma_max"] != d["sigma_max"] and "rescale" not in s:
                    raise ValueError(
                        f"config: datasets/{dataset}/schedules/{name}: sigma_max "
                        f"{d['sigma_max']} differs from {src_ds!r}'s {src_d['sigma_max']}; "
                        "set rescale: sigma_max or log_range (with sigma_min)"
                    )


def check_cross_dataset():
    """The cross-data-set matrix block: every target a dataset and table of this config, every
    cell a schedule of that table."""
    block = config.get("cross_dataset")
    if block is None:
        return
    where = "config: cross_dataset"
    for key, tg in block["targets"].items():
        ds = tg["dataset"]
        if ds not in config["datasets"]:
            raise ValueError(
                f"{where}/targets/{key}/dataset: {ds!r} is not a dataset of this config; "
                "add it under datasets: or drop the cross_dataset: block"
            )
        tables = ["w2"] if ds in w2_datasets_all() else table_ids_all(ds)
        if tg["table"] not in tables:
            raise ValueError(
                f"{where}/targets/{key}/table: {tg['table']!r} is not a table of dataset "
                f"{ds!r} (one of {tables})"
            )
    labels = {row["label"] for row in block["rows"]}
    # label -> (compare_to, first row): rows of one label share one diagonal
    compare_of = {}
    for i, row in enumerate(block["rows"]):
        other = row.get("compare_to")
        if other is not None and (other not in labels or other == row["label"]):
            raise ValueError(
                f"{where}/rows/{i}/compare_to: {other!r} is not the label of another row "
                f"({sorted(labels - {row['label']})})"
            )
        first = compare_of.setdefault(row["label"], (other, i))
        if first[0] != other:
            raise ValueError(
                f"{where}/rows/{i}/compare_to: {other!r} differs from row {first[1]}'s "
                f"{first[0]!r}; rows labelled {row['label']!r} share one diagonal"
            )
        if row["made_on"] not in (*block["targets"], "none"):
            raise ValueError(
                f"{where}/rows/{i}/made_on: {row['made_on']!r} is not a key of targets "
                f"({sorted(block['targets'])}) nor none"
            )
        for key, name in row["schedules"].items():
            if key not in block["targets"]:
                raise ValueError(
                    f"{where}/rows/{i}/schedules: {key!r} is not a key of targets"
                )
            tg = block["targets"][key]
            if name not in config["datasets"][tg["dataset"]]["schedules"]:
                raise ValueError(
                    f"{where}/rows/{i}/schedules/{key}: {name!r} is not a schedule of "
                    f"dataset {tg['dataset']!r}"
                )


def w2_datasets_all():
    return [
        d for d, c in config["datasets"].items() if c["model"]["type"] == "gaussian"
    ]


def table_ids_all(dataset):
    """Every table id a dataset's config defines (core_only or not)."""
    d = dataset_cfg(dataset)
    return list(d.get("solvers", {})) + list(d.get("tables", {}))


# ---------------------------------------------------------------------------------------------
# Wildcard constraints (regexes of the names each rule may build)


def alternatives(values):
    """A regex matching exactly one of ``values`` (a never-matching one if empty)."""
    values = sorted(set(values), key=len, reverse=True)
    return "|".join(re.escape(str(v)) for v in values) if values else "(?!x)x"


def names_regex(methods):
    return alternatives(
        name for d in config["datasets"] for name in schedule_names(d, methods)
    )


DATASET_RE = alternatives(config["datasets"])
IMAGE_DATASET_RE = alternatives(image_datasets())
UNET_DATASET_RE = alternatives(unet_datasets())
DIGITS_FID_RE = alternatives(digits_fid_datasets())
# every solver of artrl.registry (the sampling and FID cells)
SOLVER_RE = alternatives(SOLVERS)
# table ids other than heun ({dataset}_{id}_fid.csv); heun is {dataset}_fid.csv
TABLE_RE = alternatives(
    [s for s in SOLVERS if s != "heun"]
    + [t for d in config["datasets"] for t in extra_tables(d)]
)
FIGURE_RE = alternatives(
    list(SOLVERS) + [t for d in config["datasets"] for t in extra_tables(d)]
)
W2_DATASET_RE = alternatives(w2_datasets())
# the table part of results/costs/{dataset}_{table}.csv: w2, fid (Heun) or {id}_fid
COST_TABLE_RE = f"w2|fid|(?:{TABLE_RE})_fid"
ALL_NAMES_RE = names_regex(None)
BASELINE_RE = names_regex(BASELINE_METHODS)
ANALYTIC_RE = names_regex(method_names("art_analytic"))
ART_RL_RE = names_regex(method_names("art_rl"))
TRANSFER_RE = names_regex(method_names("art_rl_transfer"))
# kind "method": a module artrl.methods.<name> (rule method_schedule), else a plugin's module
PACKAGE_METHODS = tuple(
    n for n in SCHEDULE_METHODS if METHODS[n].cli == f"artrl.methods.{n}"
)
METHOD_RE = names_regex(PACKAGE_METHODS)
PLUGIN_METHOD_RE = names_regex(
    tuple(n for n in SCHEDULE_METHODS if n not in PACKAGE_METHODS)
)
# methods whose module first writes a K-independent cost file (GITS, by rule gits_costs)
PRECOMPUTE_RE = names_regex(tuple(n for n, m in METHODS.items() if m.precompute))
# every rule that writes a schedule JSON benchmarks itself here (the tables' cost column)
SCHEDULE_BENCHMARK = "results/benchmarks/schedule/{dataset}/{name}/K{K}.tsv"


# ---------------------------------------------------------------------------------------------
# Provenance digests


def art_train_cfg(dataset, name=None):
    """The part of a dataset block ART-RL training depends on (so adding a schedule or changing
    a label does not retrain: params changes are a rerun trigger), with the `art` overrides of
    schedule ``name`` (a variant: Heun proxy, ablations) merged into the dataset's block.
    """
    d = dataset_cfg(dataset)
    out = {k: d[k] for k in ("model", "sigma_max", "solver", "art") if k in d}
    # the grid's ends (convention, sigma_min) are ART-analytic's: the scale-free clock uses them
    ends = {
        k: v
        for k, v in d.get("analytic", {}).items()
        if k in ("convention", "sigma_min")
    }
    if ends:
        out["analytic"] = ends
    over = schedule_cfg(dataset, name).get("art", {}) if name is not None else {}
    if over:
        out["art"] = {**out.get("art", {}), **over}
    return out


def analytic_cfg(dataset):
    """The part of a dataset block the q (and r) profile depends on; the profile carries the
    Heun error density r too when some analytic schedule of the dataset uses proxy heun.
    """
    d = dataset_cfg(dataset)
    out = {k: d[k] for k in ("model", "sigma_max", "solver", "analytic") if k in d}
    out["heun_profile"] = needs_heun_profile(dataset)
    return out


def analytic_proxy(dataset, name):
    """The error proxy of an analytic schedule: its own, else the dataset's, else euler."""
    own = schedule_cfg(dataset, name).get("analytic", {}).get("proxy")
    return own or dataset_cfg(dataset).get("analytic", {}).get("proxy", "euler")


def needs_heun_profile(dataset):
    return any(
        analytic_proxy(dataset, n) == "heun"
        for n in schedule_names(dataset, ("art_analytic",))
    )


def analytic_schedule_cfg(dataset, name):
    """--dataset-config of one analytic schedule: the profile's config and the schedule's
    proxy."""
    out = analytic_cfg(dataset)
    out["analytic"] = {
        **out.get("analytic", {}),
        "proxy": analytic_proxy(dataset, name),
    }
    return out


def schedule_provenance(dataset, name):
    """The config that determines one schedule (labels excluded: they are presentation only)."""
    d = dataset_cfg(dataset)
    entry = {k: v for k, v in schedule_cfg(dataset, name).items() if k != "label"}
    method = entry["method"]
    if method == "art_rl":
        return {"schedule": entry, **art_train_cfg(dataset, name)}
    if method == "art_analytic":
        return {"schedule": entry, **analytic_schedule_cfg(dataset, name)}
    if method in SCHEDULE_METHODS:
        return {
            "schedule": entry,
            "solver": method_solver(dataset, name),
            **method_cfg(dataset, name),
        }
    if method == "art_rl_transfer":
        src_dataset = entry.get("source_dataset", dataset)
        source = schedule_provenance(src_dataset, transfer_source(dataset, name))
        return {"schedule": entry, "sigma_max": d["sigma_max"], "source": source}
    return {"schedule": entry, "sigma_max": d["sigma_max"]}


def method_cfg(dataset, name):
    """--dataset-config of python -m artrl.methods.<method>: model, sigma_max, the solver and
    the schedule's settings under the method's key."""
    d = dataset_cfg(dataset)
    s = schedule_cfg(dataset, name)
    out = {k: d[k] for k in ("model", "sigma_max") if k in d}
    out[s["method"]] = s.get("settings", {})
    return out


def method_solver(dataset, name):
    """The solver a method's schedule is made for: its own, the dataset's, else Heun."""
    return schedule_cfg(dataset, name).get("solver") or dataset_cfg(dataset).get(
        "solver", "heun"
    )


def schedule_digest(wildcards):
    return config_digest(schedule_provenance(wildcards.dataset, wildcards.name))


def slot_expect(dataset, name, K):
    """What the schedule file at results/schedules/{dataset}/{name}/K{K}.json must say about
    itself (checked by every reader: artrl.schedules.check_slot)."""
    return json.dumps(
        {
            "dataset": dataset,
            "K": int(K),
            "sigma_max": float(dataset_cfg(dataset)["sigma_max"]),
            "config_digest": config_digest(schedule_provenance(dataset, name)),
        },
        sort_keys=True,
    )


def schedule_expect(wildcards):
    """--expect of a rule reading the schedule of its own (dataset, name, K) slot."""
    return slot_expect(wildcards.dataset, wildcards.name, wildcards.K)


def dataset_digest(wildcards):
    return config_digest(
        {"dataset": dataset_cfg(wildcards.dataset), "seed": config["seed"]}
    )


# ---------------------------------------------------------------------------------------------
# Parameters


def art_train_json(wildcards):
    """--dataset-config of python -m artrl.art.train (shell-quote with {params.x:q})."""
    return json.dumps(art_train_cfg(wildcards.dataset, wildcards.name), sort_keys=True)


def _without_flags(cfg):
    return {k: v for k, v in cfg.items() if k != "heun_profile"}


def analytic_json(wildcards):
    """--dataset-config of the q-profile job (shell-quote with {params.x:q})."""
    return json.dumps(_without_flags(analytic_cfg(wildcards.dataset)), sort_keys=True)


def analytic_schedule_json(wildcards):
    """--dataset-config of one analytic schedule (its proxy included)."""
    cfg = analytic_schedule_cfg(wildcards.dataset, wildcards.name)
    return json.dumps(_without_flags(cfg), sort_keys=True)


def profile_args(wildcards):
    """--heun-profile when an analytic schedule of the dataset needs r = E|R~| too."""
    return ["--heun-profile"] if needs_heun_profile(wildcards.dataset) else []


def method_json(wildcards):
    return json.dumps(method_cfg(wildcards.dataset, wildcards.name), sort_keys=True)


def method_args(wildcards):
    """Which module and solver of python -m artrl.methods (a list: use {params.x:q})."""
    w = wildcards
    return [
        "--solver",
        method_solver(w.dataset, w.name),
        "--dataset",
        w.dataset,
    ]


def method_inputs(wildcards):
    """The score model, and for GITS its K-independent cost matrix (rule gits_costs)."""
    out = {"model": model_files(wildcards)}
    if METHODS[method_of(wildcards)].precompute:
        out["costs"] = gits_costs_file(wildcards.dataset, wildcards.name)
    return out


def gits_costs_file(dataset, name):
    return f"results/methods/{dataset}/{name}/gits_costs.npz"


def gits_costs_args(wildcards, input):
    return ["--costs", input.costs] if "costs" in input.keys() else []


def method_of(wildcards):
    return schedule_cfg(wildcards.dataset, wildcards.name)["method"]


def method_module(wildcards):
    """X of python -m artrl.methods.X, a built-in method's module (by rule method_schedule)."""
    return METHODS[method_of(wildcards)].cli.removeprefix("artrl.methods.")


def plugin_module(wildcards):
    """The module a plugin registered for its method (rule plugin_method_schedule)."""
    return METHODS[method_of(wildcards)].cli


def baseline_args(wildcards):
    """Options of python -m artrl.schedules for one baseline (a list: use {params.x:q})."""
    s = schedule_cfg(wildcards.dataset, wildcards.name)
    args = [
        "--method",
        s["method"],
        "--sigma-max",
        str(dataset_cfg(wildcards.dataset)["sigma_max"]),
    ]
    for key, opt in BASELINE_OPTIONS.items():
        if key in s:
            args += [opt, str(s[key])]
    return args


def torch_device(wildcards, resources):
    """--device of a job: "cuda" when the job was given a GPU (resources gpu > 0, or a gres
    naming a gpu; it stops where there is none), "auto" instead when config allow_cpu is set
    (tiny checks, test clusters with fake GPUs), else "cpu"."""
    try:
        gpus = int(resources.get("gpu", 0) or 0)
    except (TypeError, ValueError):
        gpus = 0
    gres = str(resources.get("gres", "") or "")
    if gpus > 0 or "gpu" in gres.lower():
        return "auto" if config.get("allow_cpu", False) else "cuda"
    return "cpu"


def gpu_request(wildcards):
    """The `gpu` resource of a network job when no profile sets it: 1 on an EDM data set (its
    network needs a GPU: the job runs with --device cuda), 0 on the embedded ones. On a machine
    without CUDA, running locally, an EDM job stops the whole run here, before any job starts,
    with the way out (the gpu profile sets `gpu` itself and skips this check)."""
    if not is_edm(wildcards.dataset):
        return 0
    if (
        not config.get("allow_cpu", False)
        and workflow.local_exec
        and not cuda_available()
    ):
        raise WorkflowError(
            f"data set {wildcards.dataset!r} samples an NVIDIA EDM network, which needs a GPU, "
            "and this machine has none (torch.cuda.is_available() is False). Run it on a GPU "
            "node: `--workflow-profile workflow/profiles/gpu` on a GPU workstation, or "
            "`--profile workflow/profiles/slurm` to submit to a SLURM cluster. For a tiny "
            "check on the CPU only, add `--config allow_cpu=True` (README: GPU and cluster)."
        )
    return 1


_CUDA = []


def cuda_available():
    """torch.cuda.is_available(), asked once per run (importing torch takes a second)."""
    if not _CUDA:
        import torch

        _CUDA.append(torch.cuda.is_available())
    return _CUDA[0]


def art_out_dir(wildcards, output):
    return os.path.dirname(output.rollouts)


def w2_model_std(wildcards):
    return dataset_cfg(wildcards.dataset)["model"].get("std", 1.0)


def w2_solver(wildcards):
    return dataset_cfg(wildcards.dataset)["solver"]


def w2_mc_samples(wildcards):
    return dataset_cfg(wildcards.dataset)["w2"]["mc_samples"]


def w2_art_cost_samples(wildcards):
    return dataset_cfg(wildcards.dataset)["w2"]["art_cost_samples"]


def labels_json(wildcards):
    d = wildcards.dataset
    return json.dumps(
        {n: schedule_label(d, n) for n in schedule_names(d)}, ensure_ascii=False
    )


def paper_args(wildcards):
    """``--paper gauss1d`` when the dataset is the paper's 1-D setting, else nothing."""
    d = dataset_cfg(wildcards.dataset)
    m = d["model"]
    same = (
        m["type"] == "gaussian"
        and float(m.get("std", 1.0)) == PAPER_1D["std"]
        and m.get("dim", 1) == PAPER_1D["dim"]
        and float(d["sigma_max"]) == PAPER_1D["sigma_max"]
        and d["solver"] == PAPER_1D["solver"]
    )
    return ["--paper", "gauss1d"] if same else []


# ---------------------------------------------------------------------------------------------
# Inputs


def transfer_slot(wildcards):
    """(dataset, name, K) of the schedule a transfer resamples."""
    s = schedule_cfg(wildcards.dataset, wildcards.name)
    src = transfer_source(wildcards.dataset, wildcards.name)
    src_dataset = s.get("source_dataset", wildcards.dataset)
    from_K = s.get(
        "from_K", wildcards.K
    )  # cross-data-set transfer: the same K by default
    return src_dataset, src, from_K


def transfer_input(wildcards):
    src_dataset, src, from_K = transfer_slot(wildcards)
    return f"results/schedules/{src_dataset}/{src}/K{from_K}.json"


def transfer_expect(wildcards):
    return slot_expect(*transfer_slot(wildcards))


def transfer_args(wildcards):
    """Options of python -m artrl.transfer (a list: use {params.x:q})."""
    s = schedule_cfg(wildcards.dataset, wildcards.name)
    args = [
        "--resample",
        s.get("resample", "psi"),
        "--dataset",
        wildcards.dataset,
        "--method-name",
        wildcards.name,
        "--config-digest",
        schedule_digest(wildcards),
        "--expect",
        transfer_expect(wildcards),
    ]
    if "rescale" in s:  # from a data set with another sigma_max (cross-data-set matrix)
        args += [
            "--sigma-max",
            str(dataset_cfg(wildcards.dataset)["sigma_max"]),
            "--rescale",
            s["rescale"],
        ]
        if "sigma_min" in s:
            args += ["--sigma-min", str(s["sigma_min"])]
    return args


def stale_table_check(table, cells):
    """Stop when ``table`` (a CSV) holds a number whose cell file was deleted since.

    ``cells``: (name, path, held) per input cell, ``held(row)`` true when the table row of
    ``name`` holds the cell's number. Snakemake does not remake a deleted intermediate file
    whose downstream output exists ("Nothing to be done"), so the table would silently outlive
    its inputs. A cell the table does not hold yet (a schedule or K added to the config) is
    not stale.
    """
    missing = [c for c in cells if not os.path.exists(c[1])]
    if not missing or not os.path.exists(table):
        return
    import csv

    with open(table, newline="", encoding="utf-8") as f:
        rows = {row.get("name"): row for row in csv.DictReader(f)}
    gone = [path for name, path, held in missing if name in rows and held(rows[name])]
    if gone:
        raise WorkflowError(
            f"{table} is stale: it holds numbers from {len(gone)} file(s) deleted since "
            f"({', '.join(gone[:3])}{', ...' if len(gone) > 3 else ''}), and Snakemake does "
            "not remake deleted intermediate files of an existing result. Delete "
            f"{os.path.splitext(table)[0]}.* and rerun: the missing files are remade, then "
            "the table."
        )


def _number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def w2_metric_files(wildcards):
    d = wildcards.dataset
    cells = [
        (name, f"results/metrics/{d}/{name}/K{k}.json", k)
        for name in table_names(d)
        for k in ks(d)
    ]
    stale_table_check(
        f"results/tables/{d}_w2.csv",
        [
            (n, p, lambda row, k=k: math.isfinite(_number(row.get(f"w2_K{k}"))))
            for n, p, k in cells
        ],
    )
    return [p for _, p, _ in cells]


def theta_inputs(wildcards):
    """The art_rl schedule (and the art_analytic one, if configured) at the largest K."""
    d = wildcards.dataset
    K = max(ks(d))
    out = {"schedule": f"results/schedules/{d}/{art_rl_name(d)}/K{K}.json"}
    if art_analytic_name(d):
        out["analytic"] = f"results/schedules/{d}/{art_analytic_name(d)}/K{K}.json"
    return out


def theta_args(wildcards, input):
    args = ["--schedule", input.schedule]
    if "analytic" in input.keys():
        args += ["--analytic", input.analytic]
    return args


# ---------------------------------------------------------------------------------------------
# Cost of making each schedule (the cost column of the tables)


def schedule_benchmark(dataset, name, K):
    return SCHEDULE_BENCHMARK.format(dataset=dataset, name=name, K=K)


def schedule_jobs(dataset, name, K):
    """Benchmark files of every job that made schedule (dataset, name, K), the shared upstream
    ones (q-profile, GITS cost matrix, the ART-RL run a transfer resamples) included."""
    s = schedule_cfg(dataset, name)
    m = s["method"]
    own = [schedule_benchmark(dataset, name, K)]
    if m == "art_rl":
        return [f"results/benchmarks/art_train/{dataset}/{name}/K{K}.tsv"] + own
    if m == "art_analytic":
        return [f"results/benchmarks/art_q_profile/{dataset}.tsv"] + own
    if METHODS[m].precompute:
        return [f"results/benchmarks/gits_costs/{dataset}/{name}.tsv"] + own
    if m == "art_rl_transfer":
        src_ds = s.get("source_dataset", dataset)
        src = transfer_source(dataset, name)
        return schedule_jobs(src_ds, src, s.get("from_K", K)) + own
    return own


def cost_cells(wildcards):
    """(name, K) of the schedules of one table: {dataset}_w2, {dataset}_fid or
    {dataset}_{id}_fid."""
    d, table = wildcards.dataset, wildcards.table
    if table == "w2":
        return [(n, K) for n in table_names(d) for K in ks(d)]
    tid = "heun" if table == "fid" else table.removesuffix("_fid")
    return fid_cells(d, tid)


def cost_inputs(wildcards):
    d = wildcards.dataset
    cells = cost_cells(wildcards)
    return {
        "schedules": [f"results/schedules/{d}/{n}/K{K}.json" for n, K in cells],
        "benchmarks": sorted({b for n, K in cells for b in schedule_jobs(d, n, K)}),
    }


def cost_entries(wildcards):
    """NAME:K:SCHEDULE:BENCH+BENCH... arguments of python -m artrl.costs."""
    d = wildcards.dataset
    return [
        f"{n}:{K}:results/schedules/{d}/{n}/K{K}.json:"
        + "+".join(schedule_jobs(d, n, K))
        for n, K in cost_cells(wildcards)
    ]


def table_costs_file(wildcards):
    """The cost CSV of the table being built (rule schedule_costs)."""
    d = wildcards.dataset
    if "solver" not in wildcards.keys():  # w2 table or Heun FID table
        stem = "w2" if wildcards.dataset in w2_datasets() else "fid"
    else:
        stem = f"{wildcards.solver}_fid"
    return f"results/costs/{d}_{stem}.csv"


# ---------------------------------------------------------------------------------------------
# Targets


def w2_targets(datasets=None):
    """Table and figures of every Gaussian dataset (the theta figure needs an art_rl schedule)."""
    out = []
    for d in w2_datasets() if datasets is None else datasets:
        out += [
            f"results/tables/{d}_w2.csv",
            f"results/tables/{d}_w2.md",
            f"results/figures/{d}_w2.png",
        ]
        if art_rl_name(d):
            out.append(f"results/figures/{d}_theta.png")
        out += art_diagnostics_targets(d)
    return out


def art_diagnostics_targets(dataset):
    """The training figure of every ART-RL run the dataset's tables use (transfers' sources
    included), next to the run's files."""
    if dataset in w2_datasets():
        cells = [(n, K) for n in table_names(dataset) for K in ks(dataset)]
    else:
        cells = [c for tid in table_ids(dataset) for c in fid_cells(dataset, tid)]
    runs = set()
    prefix = "results/benchmarks/art_train/"
    for n, K in cells:
        for bench in schedule_jobs(dataset, n, K):
            if bench.startswith(prefix):
                run = bench[len(prefix) :].removesuffix(".tsv")
                runs.add(f"results/art/{run}/diagnostics.png")
    return sorted(runs)


def demo_targets():
    """The embedded default, offline on CPU: the 1-D Gaussian slice (arXiv 2601.18681 §5.1) and the
    digits image chain (score model, ART-RL, sampling, FID), ~20 min on 2 cores."""
    return (
        w2_targets(["gauss1d"] if "gauss1d" in config["datasets"] else None)
        + demo_digits_targets()
    )


# the K of the figure of every method's sigma-grid (issue "methods")
SIGMA_K = 5


def compare_targets():
    """The competing-methods comparison on the embedded data sets (issue "methods"): every
    schedule, the extra ones included, of the Gaussian and digits data sets, and the
    cross-data-set matrix; ~1.5 h on 2 cores.
    """
    out = w2_targets() + image_targets([d for d in unet_datasets()])
    for d in w2_datasets() + unet_datasets():
        if schedules_at(d, SIGMA_K):
            out.append(f"results/figures/{d}_sigmas_K{SIGMA_K}.png")
    if cross_dataset_cfg():
        out += [CROSS_TABLE, CROSS_TABLE.replace(".csv", ".md")]
    return out


# ---------------------------------------------------------------------------------------------
# The cross-data-set matrix (rule cross_dataset_table)

CROSS_TABLE = "results/tables/cross_dataset.csv"


def cross_dataset_cfg():
    """The cross_dataset block, or None (absent, or extra under core_only)."""
    block = config.get("cross_dataset")
    return block if block is not None and included(block) else None


def cross_cells():
    """(row label, made on, target key, metrics file) of every cell of the matrix."""
    block = cross_dataset_cfg()
    if block is None:
        raise ValueError(
            "config: cross_dataset is absent (or extra under core_only=True): no matrix to build"
        )
    out = []
    for row in block["rows"]:
        for key, name in row["schedules"].items():
            tg = block["targets"][key]
            d, tid = tg["dataset"], tg["table"]
            if tid == "w2":
                files = [f"results/metrics/{d}/{name}/K{K}.json" for K in ks(d)]
            else:
                solver = solver_of(d, tid)
                klist = extra_tables(d).get(tid, {}).get("K") or dataset_cfg(d)[
                    "solvers"
                ].get(tid, [])
                files = [fid_file(d, solver, name, K) for K in klist]
            out += [(row["label"], row["made_on"], key, f) for f in files]
    return out


def cross_cell_files(wildcards):
    return [f for *_, f in cross_cells()]


def cross_cell_args(wildcards):
    """ROW|MADE_ON|TARGET=PATH arguments of python -m artrl.report_matrix."""
    return [f"{row}|{made_on}|{key}={f}" for row, made_on, key, f in cross_cells()]


def cross_labels_json(wildcards):
    targets = cross_dataset_cfg()["targets"]
    return json.dumps(
        {k: tg.get("label", k) for k, tg in targets.items()}, ensure_ascii=False
    )


def cross_compare_json(wildcards):
    """{row label: label whose diagonal its ratios use} (rows with compare_to)."""
    rows = cross_dataset_cfg()["rows"]
    return json.dumps(
        {r["label"]: r["compare_to"] for r in rows if "compare_to" in r},
        ensure_ascii=False,
    )


def cross_digest(wildcards):
    return config_digest({"cross_dataset": cross_dataset_cfg(), "seed": config["seed"]})


def demo_digits_targets():
    """The digits image chain alone (never the EDM data sets, which need a GPU)."""
    return image_targets(["digits"]) if "digits" in config["datasets"] else []


# ---------------------------------------------------------------------------------------------
# Image datasets: score model, sampling shards, FID (rules in images.smk)

# the published table shown beside a digits table (the nearest the paper has; see README)
PAPER_TABLE = {"heun": "cifar10-heun", "euler": "cifar10-euler", "rk4": "mnist-rk4"}


def table_stem(dataset, tid):
    """results/tables/<stem>.csv of a table: {dataset}_fid for Heun, else {dataset}_{id}_fid."""
    return f"{dataset}_fid" if tid == "heun" else f"{dataset}_{tid}_fid"


def model_files(wildcards):
    """The score-model file a dataset's denoiser is loaded from (none for analytic models)."""
    m = dataset_cfg(wildcards.dataset)["model"]
    return [m["path"]] if "path" in m else []


def model_json(wildcards):
    """--dataset-config of python -m artrl.sample: the model and sigma_max."""
    d = dataset_cfg(wildcards.dataset)
    return json.dumps(
        {"model": d["model"], "sigma_max": d["sigma_max"]}, sort_keys=True
    )


def cli_options(options):
    """A config mapping as command-line flags: {steps: 10, no_attention: true} -> [...]."""
    args = []
    for key, value in options.items():
        flag = f"--{key.replace('_', '-')}"
        if value is True:
            args.append(flag)
        elif value is not False and value is not None:
            args += [flag, str(value)]
    return args


def score_data(wildcards):
    """--dataset of python -m artrl.models.train_score: the images (one for all resolutions)."""
    return dataset_cfg(wildcards.dataset)["data"]


def score_model_args(wildcards):
    d = dataset_cfg(wildcards.dataset)
    return cli_options(
        {"resolution": d.get("resolution", 8), **d.get("score_model", {})}
    )


def classifier_args(wildcards):
    d = dataset_cfg(wildcards.dataset)
    fid = fid_cfg(wildcards.dataset)
    return cli_options(
        {"resolution": d.get("resolution", 8), **fid.get("classifier", {})}
    )


def shard_ranges(dataset):
    """Inclusive seed ranges (lo, hi) of the sampling shards of one cell."""
    f = fid_cfg(dataset)
    n, size = f["samples"], f["shard_size"]
    return [(lo, min(lo + size, n) - 1) for lo in range(0, n, size)]


def shard_files(wildcards):
    w = wildcards
    return [
        f"results/samples/{w.dataset}/{w.solver}/{w.name}/K{w.K}/seeds{lo}-{hi}.npz"
        for lo, hi in shard_ranges(w.dataset)
    ]


def cell_meta(wildcards):
    """Cell identity stored in each FID result (read by the tables)."""
    w = wildcards
    K = int(w.K)
    meta = {
        "dataset": w.dataset,
        "name": w.name,
        "method": schedule_cfg(w.dataset, w.name)["method"],
        "solver": w.solver,
        "K": K,
        "nfe": SOLVERS[w.solver].nfe(K),
        # the config_digest of the cell's schedule file (provenance column of the tables)
        "schedule_config_digest": schedule_digest(w),
        # the cell's seeds are 0 .. samples - 1 (checked against the shards)
        "samples": fid_cfg(w.dataset)["samples"],
    }
    return json.dumps(meta, sort_keys=True)


def fid_cells(dataset, tid):
    """(name, K) of every FID cell of one table (the reference row excluded)."""
    extra = extra_tables(dataset).get(tid)
    if extra is not None:
        names = [
            n for n in extra["schedules"] if included(schedule_cfg(dataset, n), dataset)
        ]
        return [(name, K) for name in names for K in extra["K"]]
    ks_ = dataset_cfg(dataset)["solvers"][tid]
    return [(name, K) for name in table_names(dataset, tid) for K in ks_]


def solver_of(dataset, tid):
    """The solver a table's cells are sampled with."""
    extra = extra_tables(dataset).get(tid)
    return extra["solver"] if extra is not None else tid


def fid_file(dataset, solver, name, K):
    return f"results/fid/{dataset}/{solver}/{name}/K{K}.json"


def reference_file(dataset):
    r = dataset_cfg(dataset).get("reference")
    return fid_file(dataset, r["solver"], r["schedule"], r["K"]) if r else None


def table_solver(wildcards):
    """The table id of a table or figure: its wildcard, or heun for {dataset}_fid.csv."""
    return getattr(wildcards, "solver", "heun")


def _k_held(row, K):
    """Whether an FID table row holds a number at K (its K_NFE<n> columns)."""
    return any(c.startswith("K_NFE") and _number(v) == float(K) for c, v in row.items())


def fid_table_inputs(wildcards):
    d, tid = wildcards.dataset, table_solver(wildcards)
    solver = solver_of(d, tid)
    cells = fid_cells(d, tid)
    stale_table_check(
        f"results/tables/{table_stem(d, tid)}.csv",
        [
            (n, fid_file(d, solver, n, K), lambda row, K=K: _k_held(row, K))
            for n, K in cells
        ],
    )
    out = {"cells": [fid_file(d, solver, n, K) for n, K in cells]}
    if reference_file(d):
        out["reference"] = reference_file(d)
    return out


def fid_entries(wildcards):
    """NAME=PATH arguments of python -m artrl.report_images (a list: use {params.x:q})."""
    d, tid = wildcards.dataset, table_solver(wildcards)
    solver = solver_of(d, tid)
    args = ["--solver", solver, "--fid"] + [
        f"{n}={fid_file(d, solver, n, K)}" for n, K in fid_cells(d, tid)
    ]
    r = dataset_cfg(d).get("reference")
    if r:
        label = f"{schedule_label(d, r['schedule'])}, {r['solver']} K={r['K']} (floor)"
        args += [
            "--reference",
            f"{r['schedule']}={reference_file(d)}",
            "--reference-label",
            label,
        ]
    return args


def fid_paper_args(wildcards):
    """The paper's published table for this one: config `paper: {table id: name}`, else the
    nearest published one for a trained U-Net (digits), else none."""
    d, tid = wildcards.dataset, table_solver(wildcards)
    paper = dataset_cfg(d).get("paper")
    if paper is not None:
        return ["--paper", paper.get(tid, "none")]
    if dataset_cfg(d)["model"]["type"] == "unet":
        return ["--paper", PAPER_TABLE.get(tid, "none")]
    return ["--paper", "none"]


def dataset_resolution(wildcards):
    return dataset_cfg(wildcards.dataset).get("resolution", 8)


def fid_batch(wildcards):
    return fid_cfg(wildcards.dataset)["batch"]


def fid_features(wildcards):
    return fid_cfg(wildcards.dataset)["features"]


def fid_cell_inputs(wildcards):
    """Shards, reference statistics and the feature network of one FID cell."""
    d = wildcards.dataset
    f = fid_cfg(d)
    out = {"shards": shard_files(wildcards)}
    if f["features"] == "inception":
        out["ref"] = f["ref"]
        out["features"] = f["inception_path"]
    else:
        out["ref"] = f"results/fid/{d}/ref_stats.npz"
        out["features"] = f"results/fid/{d}/classifier.pt"
    return out


def fid_feature_args(wildcards, input):
    """--classifier or --inception-path of python -m artrl.metrics.fid."""
    if fid_features(wildcards) != "inception":
        return ["--classifier", input.features]
    # the TorchScript loads only with a pinned sha256: the config's, else the lock file's
    pinned = fid_cfg(wildcards.dataset).get("inception_sha256", [])
    pinned = [pinned] if isinstance(pinned, str) else pinned
    return ["--inception-path", input.features] + [
        arg for digest in pinned for arg in ("--inception-sha256", digest)
    ]


def fid_blocks(wildcards):
    return fid_cfg(wildcards.dataset)["blocks"]


def sigma_figure_pairs(dataset):
    """(name, schedule file) at up to four Heun step budgets (the solver of the paper's tables),
    skipping Uniform, whose grid says nothing new."""
    solvers = dataset_cfg(dataset)["solvers"]
    solver = "heun" if "heun" in solvers else next(iter(solvers))
    klist = sorted(solvers[solver])
    chosen = [
        klist[i]
        for i in sorted({0, len(klist) // 3, 2 * len(klist) // 3, len(klist) - 1})
    ]
    return [
        (name, f"results/schedules/{dataset}/{name}/K{K}.json")
        for K in chosen
        for name in table_names(dataset, solver)
        if schedule_cfg(dataset, name)["method"] != "uniform"
    ]


def sample_grid_pairs(dataset):
    """(name, first shard) of every method at NFE 5: Heun K = 3, else Euler K = 5."""
    solvers = dataset_cfg(dataset)["solvers"]
    solver, K = ("heun", 3) if 3 in solvers.get("heun", []) else ("euler", 5)
    lo, hi = shard_ranges(dataset)[0]
    return [
        (name, f"results/samples/{dataset}/{solver}/{name}/K{K}/seeds{lo}-{hi}.npz")
        for name in table_names(dataset, solver)
    ]


def schedules_at(dataset, K):
    """Every table schedule of a dataset that is built at K (all solvers), for the figure of
    all methods' grids at one K; Uniform included."""
    K = int(K)
    if dataset in w2_datasets():
        return table_names(dataset) if K in ks(dataset) else []
    cells = {c for tid in table_ids(dataset) for c in fid_cells(dataset, tid)}
    return [n for n in table_names(dataset) if (n, K) in cells]


def sigma_k_files(wildcards):
    d = wildcards.dataset
    return [
        f"results/schedules/{d}/{n}/K{wildcards.K}.json"
        for n in schedules_at(d, wildcards.K)
    ]


def sigma_k_args(wildcards):
    d, K = wildcards.dataset, wildcards.K
    return ["--schedule"] + [
        f"{n}=results/schedules/{d}/{n}/K{K}.json" for n in schedules_at(d, K)
    ]


def sigma_figure_files(wildcards):
    return [path for _, path in sigma_figure_pairs(wildcards.dataset)]


def sigma_figure_args(wildcards):
    return ["--schedule"] + [
        f"{n}={p}" for n, p in sigma_figure_pairs(wildcards.dataset)
    ]


def sample_grid_files(wildcards):
    return [path for _, path in sample_grid_pairs(wildcards.dataset)]


def sample_grid_args(wildcards):
    return ["--shard"] + [f"{n}={p}" for n, p in sample_grid_pairs(wildcards.dataset)]


def image_targets(datasets=None):
    out = []
    for d in image_datasets() if datasets is None else datasets:
        for tid in table_ids(d):
            table = f"results/tables/{table_stem(d, tid)}"
            out += [
                f"{table}.csv",
                f"{table}.md",
                f"results/figures/{d}_fid_{tid}.png",
            ]
        out += [
            f"results/figures/{d}_sigmas.png",
            f"results/figures/{d}_samples_nfe5.png",
        ]
        out += art_diagnostics_targets(d)
    return out


# ---------------------------------------------------------------------------------------------
# Downloads (rule in edm.smk)

LOCK_FILE = "resources/checksums.json"


def downloads():
    """{path under resources/: (url, config key)} of every file the config says to download."""
    out = {}
    for d, c in config["datasets"].items():
        m = c["model"]
        if m.get("url"):
            out[m["path"]] = (m["url"], f"datasets.{d}.model.path")
        fid = c.get("fid", {})
        for path_key, url_key in (
            ("inception_path", "inception_url"),
            ("ref", "ref_url"),
        ):
            if fid.get(url_key):
                out[fid[path_key]] = (fid[url_key], f"datasets.{d}.fid.{path_key}")
    return {p: v for p, v in out.items() if p.startswith("resources/")}


def download_url(wildcards):
    return downloads()[f"resources/{wildcards.path}"][0]


def download_key(wildcards):
    return downloads()[f"resources/{wildcards.path}"][1]


DOWNLOAD_RE = alternatives(p[len("resources/") :] for p in downloads())


# every helper above is defined: check the config before any rule is built
check_config()
check_cross_dataset()
