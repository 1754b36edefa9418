# Config validation and helper functions shared by all rule modules (no rules in this file).

import json
import os
import re

from snakemake.utils import validate

try:
    from artrl.io import config_digest
except ImportError:  # snakemake runs outside the artrl env (e.g. with --sdm conda)
    import hashlib

    def config_digest(obj, length=12):
        """Same as artrl.io.config_digest: short sha256 of the canonical JSON of obj."""
        blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:length]


validate(config, schema="../schemas/config.schema.yaml")


BASELINE_METHODS = ("uniform", "edm", "geometric", "ays_gaussian")
# how each method's schedule file is made: one rule per group
METHOD_GROUP = {m: "baseline" for m in BASELINE_METHODS}
METHOD_GROUP.update(
    art_analytic="art_analytic", art_rl="art_rl", art_rl_transfer="art_rl_transfer"
)
# schedule keys that become command-line options of python -m artrl.schedules
BASELINE_OPTIONS = {
    "sigma_min": "--sigma-min",
    "rho": "--rho",
    "c": "--c",
    "convention": "--convention",
}
# the paper's 1-D setting (paper.md §4.1), where its published W2 rows apply
PAPER_1D = {"std": 1.0, "dim": 1, "sigma_max": 3.0, "solver": "euler"}


# ---------------------------------------------------------------------------------------------
# Config access


def dataset_cfg(dataset):
    return config["datasets"][dataset]


def schedule_cfg(dataset, name):
    return dataset_cfg(dataset)["schedules"][name]


def schedule_names(dataset, methods=None):
    """Schedule names of a dataset in config order, optionally only those with given methods."""
    return [
        name
        for name, s in dataset_cfg(dataset)["schedules"].items()
        if methods is None or s["method"] in methods
    ]


def schedule_label(dataset, name):
    return schedule_cfg(dataset, name).get("label", name)


def ks(dataset):
    return dataset_cfg(dataset)["K"]


def transfer_source(dataset, name):
    return schedule_cfg(dataset, name).get("source", "art_rl")


def w2_datasets():
    """Datasets with an analytic Gaussian model: evaluated by exact W2 (paper.md §4.1)."""
    return [
        d for d, c in config["datasets"].items() if c["model"]["type"] == "gaussian"
    ]


def art_rl_name(dataset):
    """The first schedule with method art_rl (its largest-K schedule is plotted), or None."""
    names = schedule_names(dataset, ("art_rl",))
    return names[0] if names else None


def art_analytic_name(dataset):
    names = schedule_names(dataset, ("art_analytic",))
    return names[0] if names else None


def check_config():
    """Cross-field checks the JSON schema cannot express; fail early naming the culprit."""
    group_of = {}
    for dataset, d in config["datasets"].items():
        for name, s in d["schedules"].items():
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
                if d["schedules"].get(src, {}).get("method") != "art_rl":
                    raise ValueError(
                        f"config: datasets/{dataset}/schedules/{name}: source {src!r} is not "
                        "a schedule with method art_rl in the same dataset"
                    )


check_config()


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
W2_DATASET_RE = alternatives(w2_datasets())
ALL_NAMES_RE = names_regex(None)
BASELINE_RE = names_regex(BASELINE_METHODS)
ANALYTIC_RE = names_regex(("art_analytic",))
ART_RL_RE = names_regex(("art_rl",))
TRANSFER_RE = names_regex(("art_rl_transfer",))


# ---------------------------------------------------------------------------------------------
# Provenance digests


def art_train_cfg(dataset):
    """The part of a dataset block ART-RL training depends on (so adding a schedule or changing
    a label does not retrain: params changes are a rerun trigger)."""
    d = dataset_cfg(dataset)
    return {k: d[k] for k in ("model", "sigma_max", "solver", "art")}


def analytic_cfg(dataset):
    """The part of a dataset block the analytic ART schedule depends on."""
    d = dataset_cfg(dataset)
    return {k: d[k] for k in ("model", "sigma_max", "solver", "analytic")}


def schedule_provenance(dataset, name):
    """The config that determines one schedule (labels excluded: they are presentation only)."""
    d = dataset_cfg(dataset)
    entry = {k: v for k, v in schedule_cfg(dataset, name).items() if k != "label"}
    method = entry["method"]
    if method == "art_rl":
        return {"schedule": entry, **art_train_cfg(dataset)}
    if method == "art_analytic":
        return {"schedule": entry, **analytic_cfg(dataset)}
    if method == "art_rl_transfer":
        source = schedule_provenance(dataset, transfer_source(dataset, name))
        return {"schedule": entry, "sigma_max": d["sigma_max"], "source": source}
    return {"schedule": entry, "sigma_max": d["sigma_max"]}


def schedule_digest(wildcards):
    return config_digest(schedule_provenance(wildcards.dataset, wildcards.name))


def dataset_digest(wildcards):
    return config_digest(
        {"dataset": dataset_cfg(wildcards.dataset), "seed": config["seed"]}
    )


# ---------------------------------------------------------------------------------------------
# Parameters


def art_train_json(wildcards):
    """--dataset-config of python -m artrl.art.train (shell-quote with {params.x:q})."""
    return json.dumps(art_train_cfg(wildcards.dataset), sort_keys=True)


def analytic_json(wildcards):
    """--dataset-config of python -m artrl.art.analytic (shell-quote with {params.x:q})."""
    return json.dumps(analytic_cfg(wildcards.dataset), sort_keys=True)


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


def art_out_dir(wildcards, output):
    return os.path.dirname(output.rollouts)


def w2_model_std(wildcards):
    return dataset_cfg(wildcards.dataset)["model"]["std"]


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
        and float(m["std"]) == PAPER_1D["std"]
        and m["dim"] == PAPER_1D["dim"]
        and float(d["sigma_max"]) == PAPER_1D["sigma_max"]
        and d["solver"] == PAPER_1D["solver"]
    )
    return ["--paper", "gauss1d"] if same else []


# ---------------------------------------------------------------------------------------------
# Inputs


def transfer_input(wildcards):
    s = schedule_cfg(wildcards.dataset, wildcards.name)
    src = transfer_source(wildcards.dataset, wildcards.name)
    return f"results/schedules/{wildcards.dataset}/{src}/K{s['from_K']}.json"


def w2_metric_files(wildcards):
    d = wildcards.dataset
    return [
        f"results/metrics/{d}/{name}/K{k}.json"
        for name in schedule_names(d)
        for k in ks(d)
    ]


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
    return out


def demo_targets():
    """The 1-D Gaussian slice (paper.md §4.1): gauss1d if configured, else every W2 dataset."""
    return w2_targets(["gauss1d"] if "gauss1d" in config["datasets"] else None)
