"""File names of the workflow and the input functions of its rules (wildcards: any object with
the attributes; Snakemake passes its Wildcards)."""

import math
import os

from artrl.registry import METHODS
from artrl.workflow.config import ConfigError, rep_prefix

# every rule that writes a schedule JSON benchmarks itself here (the tables' cost column)
SCHEDULE_BENCHMARK = "results/benchmarks/{rep}schedule/{dataset}/{name}/K{K}.tsv"
# the cross-data-set matrix (rule cross_dataset_table)
CROSS_TABLE = "results/tables/cross_dataset.csv"
LOCK_FILE = "resources/checksums.json"


def schedule_benchmark(dataset, name, K, r=0):
    """The benchmark of making one schedule (replicate 0's is the tables' cost column)."""
    return SCHEDULE_BENCHMARK.format(rep=rep_prefix(r), dataset=dataset, name=name, K=K)


def gits_costs_file(dataset, name, r=0):
    return f"results/{rep_prefix(r)}methods/{dataset}/{name}/gits_costs.npz"


def fid_file(dataset, solver, name, K, r=0):
    return f"results/{rep_prefix(r)}fid/{dataset}/{solver}/{name}/K{K}.json"


def schedule_file(dataset, name, K, r=0):
    return f"results/{rep_prefix(r)}schedules/{dataset}/{name}/K{K}.json"


def policy_file(dataset, name, K, r=0):
    """The state-dependent policy written beside an art_state schedule (issue 17)."""
    return f"results/{rep_prefix(r)}schedules/{dataset}/{name}/K{K}.policy.json"


def metrics_file(dataset, name, K, r=0):
    return f"results/{rep_prefix(r)}metrics/{dataset}/{name}/K{K}.json"


def table_stem(dataset, tid):
    """results/tables/<stem>.csv of a table: {dataset}_fid for Heun, else {dataset}_{id}_fid."""
    return f"{dataset}_fid" if tid == "heun" else f"{dataset}_{tid}_fid"


def table_solver(wildcards):
    """The table id of a table or figure: its wildcard, or heun for {dataset}_fid.csv."""
    return getattr(wildcards, "solver", "heun")


def _number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def _k_held(row, K):
    """Whether an FID table row holds a number at K (its K_NFE<n> columns)."""
    return any(c.startswith("K_NFE") and _number(v) == float(K) for c, v in row.items())


def _rep_held(row, r):
    """Whether a table row averages replicate ``r`` (its n_replicates column; 1 without one)."""
    n = _number(row.get("n_replicates"))
    return r < (int(n) if math.isfinite(n) else 1)


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
        raise ConfigError(
            f"{table} is stale: it holds numbers from {len(gone)} file(s) deleted since "
            f"({', '.join(gone[:3])}{', ...' if len(gone) > 3 else ''}), and Snakemake does "
            "not remake deleted intermediate files of an existing result. Delete "
            f"{os.path.splitext(table)[0]}.* and rerun: the missing files are remade, then "
            "the table."
        )


def state_compare_file(problem, r=0):
    """One replicate's python -m artrl.state_compare output (issue 17)."""
    return f"results/{rep_prefix(r)}state/{problem}/compare.json"


class Inputs:
    def state_compare_files(self, wildcards):
        """Every replicate's comparison file of a problem (rule state_table)."""
        return [state_compare_file(wildcards.problem, r) for r in range(self.replicates())]

    def model_files(self, wildcards):
        """The score-model file a dataset's denoiser is loaded from (none for analytic models):
        that of the job's replicate (:meth:`model_cfg`)."""
        m = self.model_cfg(wildcards.dataset, self.rep_index(wildcards))
        return [m["path"]] if "path" in m else []

    def method_inputs(self, wildcards):
        """The score model, and for GITS its K-independent cost matrix (rule gits_costs)."""
        out = {"model": self.model_files(wildcards)}
        if METHODS[self.method_of(wildcards)].precompute:
            r = self.rep_index(wildcards)
            out["costs"] = gits_costs_file(wildcards.dataset, wildcards.name, r)
        return out

    def art_state_input(self, wildcards):
        """The rollouts of the ART-RL run (same K and replicate) whose actor an art_state
        schedule is (rule art_state_schedule)."""
        src = self.schedule_cfg(wildcards.dataset, wildcards.name)["source"]
        return f"results/{wildcards.rep}art/{wildcards.dataset}/{src}/K{wildcards.K}/rollouts.npz"

    def policy_input(self, wildcards):
        """A sampling shard's policy file: an art_state schedule's, none for a grid."""
        if self.schedule_cfg(wildcards.dataset, wildcards.name)["method"] != "art_state":
            return []
        r = self.rep_index(wildcards)
        return [policy_file(wildcards.dataset, wildcards.name, wildcards.K, r)]

    def transfer_input(self, wildcards):
        """The source schedule of a transfer, of the same replicate."""
        src_dataset, src, from_K = self.transfer_slot(wildcards)
        return schedule_file(src_dataset, src, from_K, self.rep_index(wildcards))

    def w2_metric_files(self, wildcards):
        """Every replicate's metrics file of every (schedule, K) of the W2 table."""
        d = wildcards.dataset
        cells = [
            (name, metrics_file(d, name, k, r), k, r)
            for name in self.table_names(d)
            for k in self.ks(d)
            for r in range(self.replicates())
        ]
        stale_table_check(
            f"results/tables/{d}_w2.csv",
            [
                (
                    n,
                    p,
                    lambda row, k=k, r=r: (
                        math.isfinite(_number(row.get(f"w2_K{k}"))) and _rep_held(row, r)
                    ),
                )
                for n, p, k, r in cells
            ],
        )
        return [p for _, p, _, _ in cells]

    def theta_inputs(self, wildcards):
        """The art_rl schedule (and the art_analytic one, if configured) at the largest K."""
        d = wildcards.dataset
        K = max(self.ks(d))
        out = {"schedule": f"results/schedules/{d}/{self.art_rl_name(d)}/K{K}.json"}
        if self.art_analytic_name(d):
            out["analytic"] = f"results/schedules/{d}/{self.art_analytic_name(d)}/K{K}.json"
        return out

    def reference_file(self, dataset):
        r = self.dataset_cfg(dataset).get("reference")
        return fid_file(dataset, r["solver"], r["schedule"], r["K"]) if r else None

    def shard_ranges(self, dataset, r=0):
        """Inclusive seed ranges (lo, hi) of the sampling shards of one cell of replicate ``r``:
        its seeds are r·samples … (r+1)·samples − 1 (disjoint between replicates)."""
        f = self.fid_cfg(dataset)
        n, size = f["samples"], f["shard_size"]
        return [(r * n + lo, r * n + min(lo + size, n) - 1) for lo in range(0, n, size)]

    def shard_files(self, wildcards):
        w = wildcards
        r = self.rep_index(w)
        return [
            f"results/{rep_prefix(r)}samples/{w.dataset}/{w.solver}/{w.name}/K{w.K}/"
            f"seeds{lo}-{hi}.npz"
            for lo, hi in self.shard_ranges(w.dataset, r)
        ]

    def fid_cells(self, dataset, tid):
        """(name, K) of every FID cell of one table (the reference row excluded)."""
        extra = self.extra_tables(dataset).get(tid)
        if extra is not None:
            names = [
                n
                for n in extra["schedules"]
                if self.included(self.schedule_cfg(dataset, n), dataset)
            ]
            return [(name, K) for name in names for K in extra["K"]]
        return [
            (name, K)
            for name in self.table_names(dataset, tid)
            for K in self.table_ks(dataset, tid)
        ]

    def state_tables(self, dataset):
        """(table id, its first art_state schedule) of the tables with a state-dependent row."""
        out = []
        for tid in self.table_ids(dataset):
            names = dict.fromkeys(n for n, _ in self.fid_cells(dataset, tid))
            state = [n for n in names if self.schedule_cfg(dataset, n)["method"] == "art_state"]
            if state:
                out.append((tid, state[0]))
        return out

    def table_ks(self, dataset, tid):
        """The K of one table's columns."""
        extra = self.extra_tables(dataset).get(tid)
        return extra["K"] if extra is not None else self.dataset_cfg(dataset)["solvers"][tid]

    def state_paths_inputs(self, wildcards):
        """Replicate 0's state-dependent shards (the first of each K) and schedules of one
        table, and the digits classifier that colours each image by class (rule
        state_paths_figure)."""
        d, tid = wildcards.dataset, wildcards.table
        name = dict(self.state_tables(d))[tid]
        solver = self.solver_of(d, tid)
        lo, hi = self.shard_ranges(d)[0]
        ks_ = self.table_ks(d, tid)
        out = {
            "shards": [f"results/samples/{d}/{solver}/{name}/K{K}/seeds{lo}-{hi}.npz" for K in ks_],
            "schedules": [schedule_file(d, name, K) for K in ks_],
        }
        if d in self.digits_fid_datasets():
            out["classifier"] = f"results/fid/{d}/classifier.pt"
        return out

    def solver_of(self, dataset, tid):
        """The solver a table's cells are sampled with."""
        extra = self.extra_tables(dataset).get(tid)
        return extra["solver"] if extra is not None else tid

    def fid_table_inputs(self, wildcards):
        d, tid = wildcards.dataset, table_solver(wildcards)
        solver = self.solver_of(d, tid)
        reps = range(self.replicates())
        cells = [
            (n, fid_file(d, solver, n, K, r), K, r) for n, K in self.fid_cells(d, tid) for r in reps
        ]
        stale_table_check(
            f"results/tables/{table_stem(d, tid)}.csv",
            [
                (n, path, lambda row, K=K, r=r: _k_held(row, K) and _rep_held(row, r))
                for n, path, K, r in cells
            ],
        )
        out = {"cells": [path for _, path, _, _ in cells]}
        if self.reference_file(d):
            out["reference"] = self.reference_file(d)
        return out

    def fid_cell_inputs(self, wildcards):
        """Shards, reference statistics and the feature network of one FID cell."""
        d = wildcards.dataset
        f = self.fid_cfg(d)
        out = {"shards": self.shard_files(wildcards)}
        if f["features"] == "inception":
            out["ref"] = f["ref"]
            out["features"] = f["inception_path"]
        else:
            out["ref"] = f"results/fid/{d}/ref_stats.npz"
            out["features"] = f"results/fid/{d}/classifier.pt"
        return out

    def sigma_figure_pairs(self, dataset):
        """(name, schedule file) at up to four Heun step budgets (the solver of the paper's tables),
        skipping Uniform, whose grid says nothing new."""
        solvers = self.dataset_cfg(dataset)["solvers"]
        solver = "heun" if "heun" in solvers else next(iter(solvers))
        klist = sorted(solvers[solver])
        chosen = [
            klist[i] for i in sorted({0, len(klist) // 3, 2 * len(klist) // 3, len(klist) - 1})
        ]
        return [
            (name, f"results/schedules/{dataset}/{name}/K{K}.json")
            for K in chosen
            for name in self.table_names(dataset, solver)
            if self.schedule_cfg(dataset, name)["method"] != "uniform"
        ]

    def sample_grid_pairs(self, dataset):
        """(name, first shard) of every method at NFE 5: Heun K = 3, else Euler K = 5."""
        solvers = self.dataset_cfg(dataset)["solvers"]
        solver, K = ("heun", 3) if 3 in solvers.get("heun", []) else ("euler", 5)
        lo, hi = self.shard_ranges(dataset)[0]
        return [
            (name, f"results/samples/{dataset}/{solver}/{name}/K{K}/seeds{lo}-{hi}.npz")
            for name in self.table_names(dataset, solver)
        ]

    def schedules_at(self, dataset, K):
        """Every table schedule of a dataset that is built at K (all solvers), for the figure of
        all methods' grids at one K; Uniform included."""
        K = int(K)
        if dataset in self.w2_datasets():
            return self.table_names(dataset) if K in self.ks(dataset) else []
        cells = {c for tid in self.table_ids(dataset) for c in self.fid_cells(dataset, tid)}
        return [n for n in self.table_names(dataset) if (n, K) in cells]

    def sigma_k_files(self, wildcards):
        d = wildcards.dataset
        return [
            f"results/schedules/{d}/{n}/K{wildcards.K}.json"
            for n in self.schedules_at(d, wildcards.K)
        ]

    def sigma_figure_files(self, wildcards):
        return [path for _, path in self.sigma_figure_pairs(wildcards.dataset)]

    def sample_grid_files(self, wildcards):
        return [path for _, path in self.sample_grid_pairs(wildcards.dataset)]

    def cross_cells(self):
        """(row label, made on, target key, metrics file) of every cell of the matrix."""
        block = self.cross_dataset_cfg()
        if block is None:
            raise ConfigError(
                "config: cross_dataset is absent (or extra under core_only=True): no matrix to "
                "build"
            )
        out = []
        for row in block["rows"]:
            for key, name in row["schedules"].items():
                tg = block["targets"][key]
                d, tid = tg["dataset"], tg["table"]
                if tid == "w2":
                    files = [f"results/metrics/{d}/{name}/K{K}.json" for K in self.ks(d)]
                else:
                    solver = self.solver_of(d, tid)
                    klist = self.extra_tables(d).get(tid, {}).get("K") or self.dataset_cfg(d)[
                        "solvers"
                    ].get(tid, [])
                    files = [fid_file(d, solver, name, K) for K in klist]
                out += [(row["label"], row["made_on"], key, f) for f in files]
        return out

    def cross_cell_files(self, wildcards):
        return [f for *_, f in self.cross_cells()]

    def downloads(self):
        """{path under resources/: (url, config key)} of every file the config says to download."""
        out = {}
        for d, c in self.config["datasets"].items():
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
