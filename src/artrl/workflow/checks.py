"""Checks of the config the JSON schema cannot express (registry names, cross-field rules):
each raises :class:`ConfigError` naming the culprit, before any rule is built."""

from artrl.registry import METHODS, PLUGINS_ENV, SOLVERS, lookup_method
from artrl.workflow.config import METHOD_GROUP, ConfigError


def _registry_error(where, value, what, registered):
    m = lookup_method(value) if what == "schedule method" else None
    hint = f" ({value!r} is an alias of {m.name!r}: write {m.name})" if m else ""
    return ConfigError(
        f"config: {where}: {value!r} is not a registered {what}{hint}; registered: "
        f"{', '.join(registered)} (artrl.registry; a plugin adds more: {PLUGINS_ENV})"
    )


def art_config_class():
    """artrl's ARTConfig (to check art blocks before any job), or None outside the artrl env."""
    try:
        from artrl.art.config import ARTConfig
    except ImportError:
        return None
    return ARTConfig


class Checks:
    def check_registry_names(self):
        """Every method and solver name of the config is one of artrl.registry (the schema only
        checks the name pattern, so that a plugin's names pass); run before validate()."""

        def sub(node, *keys):
            for key in keys:
                node = node.get(key) if isinstance(node, dict) else None
            return node if isinstance(node, dict) else {}

        solvers = []  # (where, value) of every solver name
        for dataset, d in sub(self.config, "datasets").items():
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

    def check_replicate_score_model(self):
        """Every data set config replicate_score_model names is one whose score model the
        workflow trains (a replicate cannot retrain a downloaded EDM pickle nor a U-Net file
        made elsewhere); a gaussian one has nothing to replicate."""
        for dataset in self.replicate_score_model_datasets():
            d = self.config["datasets"].get(dataset)
            if d is None:
                raise ConfigError(
                    f"config: replicate_score_model: {dataset!r} is not a dataset of this config "
                    f"(one of {sorted(self.config['datasets'])})"
                )
            m = d["model"]
            if m["type"] == "gaussian" or self.trains_score_model(dataset):
                continue
            raise ConfigError(
                f"config: replicate_score_model names data set {dataset!r}, whose score model "
                f"(datasets/{dataset}/model: type {m['type']}, path {m.get('path')!r}) the "
                "workflow does not train (rule train_score_model makes "
                "results/models/<dataset>/model.pt of a unet data set), so its replicates "
                f"cannot each train their own; remove {dataset!r} from replicate_score_model "
                "(true replicates every model the workflow trains and shares the others)"
            )

    def check_state_dependent(self):
        """The state_dependent block (issue 17): problem names distinct from the data sets'
        (both name results/tables/<name>_*.csv) and an art block of the scale-free clock."""
        block = self.config.get("state_dependent")
        if not block:
            return
        clash = sorted(set(block["problems"]) & set(self.config["datasets"]))
        if clash:
            raise ConfigError(
                f"config: state_dependent/problems/{clash[0]} is also a data set name; both "
                "write results/tables/<name>_*.csv: rename the problem"
            )
        ARTConfig = art_config_class()
        if ARTConfig is None:  # outside the artrl env: the job checks its settings itself
            return
        try:
            cfg = ARTConfig.from_dict(block.get("art", {}), where="state_dependent.art")
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"config: {e.args[0] if e.args else e}") from None
        if cfg.clock != "log":
            raise ConfigError(
                "config: state_dependent/art/clock must be log: the state-dependent sampler "
                "runs the scale-free clock's actor (artrl.art.state_sampler)"
            )

    def check_art_state(self, dataset, name, ARTConfig):
        """An art_state schedule (issue 17): its source an art_rl schedule of the data set on
        the scale-free clock, and every table showing it sampled by Euler or Heun."""
        where = f"config: datasets/{dataset}/schedules/{name}"
        d = self.dataset_cfg(dataset)
        source = d["schedules"][name]["source"]
        src = d["schedules"].get(source)
        if src is None or src["method"] != "art_rl":
            raise ConfigError(
                f"{where}/source must name an art_rl schedule of {dataset!r} (its actor samples)"
            )
        if ARTConfig is not None:
            art = self.art_train_cfg(dataset, source).get("art", {})
            if ARTConfig.from_dict(art, where=where).clock != "log":
                raise ConfigError(
                    f"{where}/source: the state-dependent sampler runs the scale-free clock's "
                    "actor (artrl.art.state_sampler): its ART-RL run needs clock log"
                )
        tables = {s: {"solver": s, "schedules": self.table_names(dataset)} for s in d["solvers"]}
        for tid, t in {**tables, **d.get("tables", {})}.items():
            if name in t["schedules"] and t["solver"] not in ("euler", "heun"):
                raise ConfigError(
                    f"config: datasets/{dataset}/tables/{tid}: {name} (art_state) samples with "
                    f"a per-sample σ, which Euler and Heun have and {t['solver']} has not"
                )

    def check_config(self):
        """Cross-field checks the JSON schema cannot express; fail early naming the culprit."""
        self.check_replicate_score_model()
        self.check_state_dependent()
        group_of = {}
        ARTConfig = art_config_class()
        for dataset, d in self.config["datasets"].items():
            kind = d["model"]["type"]
            need = ("K", "solver") if kind == "gaussian" else ("solvers",)
            missing = [k for k in need if k not in d]
            if missing:
                raise ConfigError(
                    f"config: datasets/{dataset} ({kind} model) needs the key(s) {missing}"
                )
            unused = ("solvers", "reference") if kind == "gaussian" else ("K",)
            for key in unused:
                if key in d:
                    hint = "K and solver" if kind == "gaussian" else "solvers: {solver: [K, ...]}"
                    raise ConfigError(
                        f"config: datasets/{dataset}/{key} does not apply to a {kind} model "
                        f"(it uses {hint})"
                    )
            clash = sorted(set(d.get("tables", {})) & set(d.get("solvers", {})))
            if clash:
                raise ConfigError(
                    f"config: datasets/{dataset}/tables: {clash} is also a solver of `solvers` "
                    "(both would write the same table); rename the table or drop the solver"
                )
            ref = d.get("reference")
            if ref and ref["schedule"] not in d["schedules"]:
                raise ConfigError(
                    f"config: datasets/{dataset}/reference/schedule {ref['schedule']!r} is not a "
                    f"schedule of this dataset (one of {sorted(d['schedules'])})"
                )
            fid = d.get("fid", {})
            if "samples" in fid and fid["samples"] // fid.get("blocks", 1) < 2:
                raise ConfigError(
                    f"config: datasets/{dataset}/fid: samples {fid['samples']} make blocks of "
                    f"fewer than 2 images for blocks {fid.get('blocks', 1)}"
                )
            fixed = sorted({"K", "T", "seed"} & set(d.get("art", {})))
            if fixed:
                raise ConfigError(
                    f"config: datasets/{dataset}/art: {fixed} are set by the workflow (the K of "
                    "each job, sigma_max and the global seed); remove them"
                )
            if ARTConfig is not None:
                try:
                    ARTConfig.from_dict(d.get("art", {}), where=f"config: datasets/{dataset}/art")
                except (KeyError, TypeError, ValueError) as e:
                    raise ConfigError(e.args[0] if e.args else str(e)) from None
            for name, s in d["schedules"].items():
                for key, method in (("art", "art_rl"), ("analytic", "art_analytic")):
                    if key in s and s["method"] != method:
                        raise ConfigError(
                            f"config: datasets/{dataset}/schedules/{name}/{key} applies to "
                            f"method {method} only, not {s['method']}"
                        )
                if "art" in s and ARTConfig is not None:
                    fixed = sorted({"K", "T", "seed"} & set(s["art"]))
                    if fixed:
                        raise ConfigError(
                            f"config: datasets/{dataset}/schedules/{name}/art: {fixed} are set "
                            "by the workflow; remove them"
                        )
                    try:
                        ARTConfig.from_dict(
                            self.art_train_cfg(dataset, name)["art"],
                            where=f"config: datasets/{dataset}/schedules/{name}/art (merged)",
                        )
                    except (KeyError, TypeError, ValueError) as e:
                        raise ConfigError(e.args[0] if e.args else str(e)) from None
                group = METHOD_GROUP[s["method"]]
                if group_of.setdefault(name, (group, dataset))[0] != group:
                    other = group_of[name]
                    raise ConfigError(
                        f"config: schedule name {name!r} is made by a {group} rule in dataset "
                        f"{dataset!r} but by a {other[0]} rule in dataset {other[1]!r}; "
                        "use different names (they share output paths)"
                    )
                if s["method"] == "art_state":
                    self.check_art_state(dataset, name, ARTConfig)
                if s["method"] == "art_rl_transfer":
                    src = self.transfer_source(dataset, name)
                    src_ds = s.get("source_dataset", dataset)
                    src_d = self.config["datasets"].get(src_ds)
                    if src_d is None:
                        raise ConfigError(
                            f"config: datasets/{dataset}/schedules/{name}/source_dataset: "
                            f"{src_ds!r} is not a dataset of this config"
                        )
                    if src not in src_d["schedules"] or (src_ds, src) == (dataset, name):
                        raise ConfigError(
                            f"config: datasets/{dataset}/schedules/{name}: source {src!r} is not "
                            f"another schedule of dataset {src_ds!r}"
                        )
                    if src_d["sigma_max"] != d["sigma_max"] and "rescale" not in s:
                        raise ConfigError(
                            f"config: datasets/{dataset}/schedules/{name}: sigma_max "
                            f"{d['sigma_max']} differs from {src_ds!r}'s {src_d['sigma_max']}; "
                            "set rescale: sigma_max or log_range (with sigma_min)"
                        )

    def check_cross_dataset(self):
        """The cross-data-set matrix block: every target a dataset and table of this config, every
        cell a schedule of that table."""
        block = self.config.get("cross_dataset")
        if block is None:
            return
        where = "config: cross_dataset"
        for key, tg in block["targets"].items():
            ds = tg["dataset"]
            if ds not in self.config["datasets"]:
                raise ConfigError(
                    f"{where}/targets/{key}/dataset: {ds!r} is not a dataset of this config; "
                    "add it under datasets: or drop the cross_dataset: block"
                )
            tables = ["w2"] if ds in self.w2_datasets_all() else self.table_ids_all(ds)
            if tg["table"] not in tables:
                raise ConfigError(
                    f"{where}/targets/{key}/table: {tg['table']!r} is not a table of dataset "
                    f"{ds!r} (one of {tables})"
                )
        labels = {row["label"] for row in block["rows"]}
        # label -> (compare_to, first row): rows of one label share one diagonal
        compare_of = {}
        for i, row in enumerate(block["rows"]):
            other = row.get("compare_to")
            if other is not None and (other not in labels or other == row["label"]):
                raise ConfigError(
                    f"{where}/rows/{i}/compare_to: {other!r} is not the label of another row "
                    f"({sorted(labels - {row['label']})})"
                )
            first = compare_of.setdefault(row["label"], (other, i))
            if first[0] != other:
                raise ConfigError(
                    f"{where}/rows/{i}/compare_to: {other!r} differs from row {first[1]}'s "
                    f"{first[0]!r}; rows labelled {row['label']!r} share one diagonal"
                )
            if row["made_on"] not in (*block["targets"], "none"):
                raise ConfigError(
                    f"{where}/rows/{i}/made_on: {row['made_on']!r} is not a key of targets "
                    f"({sorted(block['targets'])}) nor none"
                )
            for key, name in row["schedules"].items():
                if key not in block["targets"]:
                    raise ConfigError(
                        f"{where}/rows/{i}/schedules: {key!r} is not a key of targets"
                    )
                tg = block["targets"][key]
                if name not in self.config["datasets"][tg["dataset"]]["schedules"]:
                    raise ConfigError(
                        f"{where}/rows/{i}/schedules/{key}: {name!r} is not a schedule of "
                        f"dataset {tg['dataset']!r}"
                    )
