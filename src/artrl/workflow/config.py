"""Config access of the Snakemake workflow: pure functions of the config dict (the one that
``workflow/rules/common.smk`` validates), bound in :class:`artrl.workflow.Workflow`."""

import re

from artrl.registry import METHODS, SOLVERS, method_names


class ConfigError(ValueError):
    """A config the workflow cannot run (``common.smk`` shows it as a WorkflowError)."""


BASELINE_METHODS = method_names("baseline")
# how each method's schedule file is made: one rule per group (artrl.registry.RULES)
METHOD_GROUP = {name: m.kind for name, m in METHODS.items()}
# competing schedule methods, each a module python -m <cli> (artrl.registry: Method.cli)
SCHEDULE_METHODS = method_names("method")
# kind "method": a module artrl.methods.<name> (rule method_schedule), else a plugin's module
PACKAGE_METHODS = tuple(n for n in SCHEDULE_METHODS if METHODS[n].cli == f"artrl.methods.{n}")
# schedule keys that become command-line options of python -m artrl.schedules
BASELINE_OPTIONS = {
    "sigma_min": "--sigma-min",
    "rho": "--rho",
    "c": "--c",
    "convention": "--convention",
}
# the paper's 1-D setting (arXiv 2601.18681 §5.1), where its published W2 rows apply
PAPER_1D = {"std": 1.0, "dim": 1, "sigma_max": 3.0, "solver": "euler"}
# the K of the figure of every method's sigma-grid (issue "methods")
SIGMA_K = 5
# the published table shown beside a digits table (the nearest the paper has; see README)
PAPER_TABLE = {"heun": "cifar10-heun", "euler": "cifar10-euler", "rk4": "mnist-rk4"}
# Replicates (issue 16): replicate r of a cell makes its schedule with seed + r·STRIDE and samples
# the images of seeds r·samples … (r+1)·samples − 1. The stride keeps the sub-streams a job
# derives from its seed (ART-RL draws from seed + 1, + 2, + 3 and seed + 1 + 1,000,003·i) apart
# from those of every other replicate.
REPLICATE_SEED_STRIDE = 1_000_000
# the {rep} wildcard: "" for replicate 0 (results/schedules/...), "rep<r>/" for r >= 1
# (results/rep1/schedules/...), so that one replicate is today's file tree
REP_RE = r"(?:rep[1-9][0-9]*/)?"
# the score model the workflow trains for a unet data set (rule train_score_model); with config
# replicate_score_model, replicate r >= 1 trains its own at results/rep<r>/models/<d>/model.pt
TRAINED_MODEL_RE = r"results/models/([^/]+)/model\.pt"
# the intra-op torch threads of every job kind (config torch_threads overrides): the numerics of
# a job depend on them, so they are fixed by the config, never taken from --cores (issue 16).
# The defaults are the counts the jobs ran with on a 2-core machine before (train_score 2: its
# rule's threads; art_train, sample and fid 1: their --threads; q_profile and methods 2: torch's
# default, the machine's core count, there; so were the analytic schedules and W2).
TORCH_THREADS = {
    "train_score": 2,
    "art_train": 1,
    "q_profile": 2,
    "methods": 2,
    "sample": 1,
    "fid": 1,
    "state": 1,
    "w2": 2,
}


def rep_prefix(r):
    """The {rep} wildcard value of replicate ``r``."""
    return f"rep{r}/" if r else ""


def replicate_model_path(path, r):
    """The score-model file of replicate ``r`` of a model the workflow trains at ``path``
    (results/models/<d>/model.pt): ``rep<r>/`` inserted after results/, ``path`` itself for
    replicate 0."""
    return f"results/{rep_prefix(r)}{path.removeprefix('results/')}" if r else path


def alternatives(values):
    """A regex matching exactly one of ``values`` (a never-matching one if empty)."""
    values = sorted(set(values), key=len, reverse=True)
    return "|".join(re.escape(str(v)) for v in values) if values else "(?!x)x"


class ConfigAccess:
    """Reading the config dict ``self.config`` (core_only, gpu_extras and the defaults)."""

    def __init__(self, config):
        self.config = config

    def dataset_cfg(self, dataset):
        return self.config["datasets"][dataset]

    def replicates(self):
        """How many replicates each stochastic cell has (config ``replicates``, default 1)."""
        return int(self.config.get("replicates", 1))

    def rep_index(self, wildcards):
        """The replicate of a job: its ``{rep}`` wildcard ("" -> 0, "rep2/" -> 2)."""
        rep = getattr(wildcards, "rep", "") or ""
        return int(rep[3:-1]) if rep else 0

    def rep_seed(self, wildcards):
        """The seed of the schedule-making and Monte-Carlo steps of a job's replicate."""
        return int(self.config["seed"]) + REPLICATE_SEED_STRIDE * self.rep_index(wildcards)

    def trains_score_model(self, dataset):
        """Whether the workflow trains the data set's score model: a unet whose path is
        results/models/<u>/model.pt of a unet data set u (rule train_score_model)."""
        m = self.dataset_cfg(dataset)["model"]
        hit = re.fullmatch(TRAINED_MODEL_RE, m.get("path", "")) if m["type"] == "unet" else None
        owner = self.config["datasets"].get(hit[1]) if hit else None
        return owner is not None and owner["model"]["type"] == "unet"

    def replicate_score_model_datasets(self):
        """The data sets config replicate_score_model names: false -> none, true -> every one
        whose score model the workflow trains, a list -> those (checks.py refuses one the
        workflow does not train; a gaussian one has nothing to replicate)."""
        value = self.config.get("replicate_score_model", False)
        if value is True:
            return [d for d in self.config["datasets"] if self.trains_score_model(d)]
        return list(value or [])

    def score_model_replicated(self, dataset):
        """Whether each replicate r >= 1 of ``dataset`` trains its own score model (R > 1)."""
        return (
            self.replicates() > 1
            and dataset in self.replicate_score_model_datasets()
            and self.trains_score_model(dataset)
        )

    def model_cfg(self, dataset, r=0):
        """The `model` block that the jobs of replicate ``r`` of ``dataset`` load (their inputs
        and --dataset-config): the config's, with replicate r's own file when the score model is
        replicated (replicate 0 keeps the configured path)."""
        m = self.dataset_cfg(dataset)["model"]
        if r and self.score_model_replicated(dataset):
            return {**m, "path": replicate_model_path(m["path"], r)}
        return m

    def model_rep_re(self):
        """The {rep} values rule train_score_model may build: replicate 0's ("") alone unless
        some data set's score model is replicated (an empty regex would be Snakemake's default
        ".+": "(?:)" matches the empty string only)."""
        replicated = any(self.score_model_replicated(d) for d in self.config["datasets"])
        return REP_RE if replicated else "(?:)"

    def torch_threads(self, kind):
        """The torch intra-op threads of a job kind (TORCH_THREADS, config torch_threads)."""
        return int({**TORCH_THREADS, **self.config.get("torch_threads", {})}[kind])

    def included(self, block, dataset=None):
        """False for a block marked `extra: true` when the run is core_only (make demo), and for
        the extra rows of an EDM data set unless gpu_extras (GPU-days of competing methods).
        """
        if not block.get("extra", False):
            return True
        if self.config.get("core_only", False):
            return False
        return dataset is None or not self.is_edm(dataset) or self.config.get("gpu_extras", False)

    def is_edm(self, dataset):
        """An NVIDIA EDM network (a GPU job per network evaluation), not an embedded model."""
        return self.dataset_cfg(dataset)["model"]["type"] == "edm"

    def datasets(self):
        """The datasets this run builds (core_only leaves out the `extra: true` ones)."""
        return [d for d, c in self.config["datasets"].items() if self.included(c)]

    def schedule_cfg(self, dataset, name):
        return self.dataset_cfg(dataset)["schedules"][name]

    def schedule_names(self, dataset, methods=None):
        """Schedule names of a dataset in config order, optionally only those with given methods."""
        return [
            name
            for name, s in self.dataset_cfg(dataset)["schedules"].items()
            if (methods is None or s["method"] in methods) and self.included(s, dataset)
        ]

    def table_names(self, dataset, solver=None):
        """Schedule names shown in tables and figures (``table: false`` hides e.g. the K = 18
        training run that a resampled row is made from; a schedule made for one solver, e.g.
        ``gits_heun: {method: gits, solver: heun}``, only appears in that solver's table).
        """
        out = []
        for n in self.schedule_names(dataset):
            s = self.schedule_cfg(dataset, n)
            if not s.get("table", True):
                continue
            if solver is not None and s["method"] in SCHEDULE_METHODS and s.get("solver"):
                if s["solver"] != solver:
                    continue
            out.append(n)
        return out

    def schedule_label(self, dataset, name):
        return self.schedule_cfg(dataset, name).get("label", name)

    def ks(self, dataset):
        """The step budgets K a dataset builds schedules (and trains ART-RL) for."""
        d = self.dataset_cfg(dataset)
        if "K" in d:
            return d["K"]
        return sorted({k for klist in d.get("solvers", {}).values() for k in klist})

    def transfer_source(self, dataset, name):
        return self.schedule_cfg(dataset, name).get("source", "art_rl")

    def w2_datasets(self):
        """Datasets with an analytic Gaussian model: evaluated by exact W2 (arXiv 2601.18681
        §5.1)."""
        return [d for d in self.datasets() if self.dataset_cfg(d)["model"]["type"] == "gaussian"]

    def image_datasets(self):
        """Datasets with an image score model (trained U-Net or EDM pickle): sampling and FID."""
        return [
            d for d in self.datasets() if self.dataset_cfg(d)["model"]["type"] in ("unet", "edm")
        ]

    def unet_datasets(self):
        """Image datasets whose score model the workflow trains (rule train_score_model)."""
        return [d for d in self.datasets() if self.dataset_cfg(d)["model"]["type"] == "unet"]

    def fid_cfg(self, dataset):
        defaults = {"features": "digits", "samples": 5000, "shard_size": 2500, "batch": 250}
        return {**defaults, "blocks": 1, **self.dataset_cfg(dataset).get("fid", {})}

    def digits_fid_datasets(self):
        """Image datasets measured with the digits classifier's features (FID classifier rules)."""
        return [d for d in self.image_datasets() if self.fid_cfg(d)["features"] == "digits"]

    def extra_tables(self, dataset):
        """Tables beyond one per solver: name -> {solver, K, schedules} (e.g. CIFAR-10's
        K = 18 schedule resampled to K' = 4..20, Table 5 of the extended paper, arXiv 2607.02137);
        core_only leaves out the ones marked `extra: true`."""
        return {
            t: c
            for t, c in self.dataset_cfg(dataset).get("tables", {}).items()
            if self.included(c, dataset)
        }

    def table_ids(self, dataset):
        """Every FID table of a dataset: its solvers (heun first), then the extra tables."""
        solvers = sorted(self.dataset_cfg(dataset).get("solvers", {}), key=lambda s: s != "heun")
        return solvers + list(self.extra_tables(dataset))

    def art_rl_name(self, dataset):
        """The first schedule with method art_rl (its largest-K schedule is plotted), or None."""
        names = self.schedule_names(dataset, ("art_rl",))
        return names[0] if names else None

    def art_analytic_name(self, dataset):
        names = self.schedule_names(dataset, ("art_analytic",))
        return names[0] if names else None

    def w2_datasets_all(self):
        return [d for d, c in self.config["datasets"].items() if c["model"]["type"] == "gaussian"]

    def table_ids_all(self, dataset):
        """Every table id a dataset's config defines (core_only or not)."""
        d = self.dataset_cfg(dataset)
        return list(d.get("solvers", {})) + list(d.get("tables", {}))

    def cross_dataset_cfg(self):
        """The cross_dataset block, or None (absent, or extra under core_only)."""
        block = self.config.get("cross_dataset")
        return block if block is not None and self.included(block) else None

    def names_regex(self, methods):
        return alternatives(
            name for d in self.config["datasets"] for name in self.schedule_names(d, methods)
        )

    def state_cfg(self):
        """The state_dependent block (issue 17), or None (absent, or extra under core_only)."""
        block = self.config.get("state_dependent")
        return block if block is not None and self.included(block) else None

    def state_problems(self):
        """The problems of the state-dependent comparison (none without its block)."""
        block = self.state_cfg()
        return list(block["problems"]) if block else []

    def regexes(self):
        """{name: regex} of the wildcard constraints the rules use (names a rule may build)."""
        config = self.config
        names = self.names_regex
        table_re = alternatives(
            [s for s in SOLVERS if s != "heun"]
            + [t for d in config["datasets"] for t in self.extra_tables(d)]
        )
        return {
            "DATASET_RE": alternatives(config["datasets"]),
            "REP_RE": REP_RE,
            # the {rep} of rule train_score_model (config replicate_score_model)
            "MODEL_REP_RE": self.model_rep_re(),
            "IMAGE_DATASET_RE": alternatives(self.image_datasets()),
            "UNET_DATASET_RE": alternatives(self.unet_datasets()),
            "DIGITS_FID_RE": alternatives(self.digits_fid_datasets()),
            # every solver of artrl.registry (the sampling and FID cells)
            "SOLVER_RE": alternatives(SOLVERS),
            # table ids other than heun ({dataset}_{id}_fid.csv); heun is {dataset}_fid.csv
            "TABLE_RE": table_re,
            "FIGURE_RE": alternatives(
                list(SOLVERS) + [t for d in config["datasets"] for t in self.extra_tables(d)]
            ),
            "W2_DATASET_RE": alternatives(self.w2_datasets()),
            # the table part of results/costs/{dataset}_{table}.csv: w2, fid (Heun) or {id}_fid
            "COST_TABLE_RE": f"w2|fid|(?:{table_re})_fid",
            "ALL_NAMES_RE": names(None),
            "BASELINE_RE": names(BASELINE_METHODS),
            "ANALYTIC_RE": names(method_names("art_analytic")),
            "ART_RL_RE": names(method_names("art_rl")),
            "TRANSFER_RE": names(method_names("art_rl_transfer")),
            "ART_STATE_RE": names(method_names("art_state")),
            "METHOD_RE": names(PACKAGE_METHODS),
            "PLUGIN_METHOD_RE": names(
                tuple(n for n in SCHEDULE_METHODS if n not in PACKAGE_METHODS)
            ),
            # methods whose module first writes a K-independent cost file (GITS, rule gits_costs)
            "PRECOMPUTE_RE": names(tuple(n for n, m in METHODS.items() if m.precompute)),
            "DOWNLOAD_RE": alternatives(p[len("resources/") :] for p in self.downloads()),
            "STATE_PROBLEM_RE": alternatives(self.state_problems()),
        }
