"""The cost of making each schedule (the cost column of the tables, rule schedule_costs)."""

from artrl.registry import METHODS
from artrl.workflow.paths import schedule_benchmark


class Costs:
    def schedule_jobs(self, dataset, name, K):
        """Benchmark files of every job that made schedule (dataset, name, K), the shared upstream
        ones (q-profile, GITS cost matrix, the ART-RL run a transfer resamples) included."""
        s = self.schedule_cfg(dataset, name)
        m = s["method"]
        own = [schedule_benchmark(dataset, name, K)]
        if m == "art_rl":
            return [f"results/benchmarks/art_train/{dataset}/{name}/K{K}.tsv"] + own
        if m == "art_analytic":
            return [f"results/benchmarks/art_q_profile/{dataset}.tsv"] + own
        if METHODS[m].precompute:
            return [f"results/benchmarks/gits_costs/{dataset}/{name}.tsv"] + own
        if m == "art_state":  # the ART-RL run whose actor it is
            return [f"results/benchmarks/art_train/{dataset}/{s['source']}/K{K}.tsv"] + own
        if m == "art_rl_transfer":
            src_ds = s.get("source_dataset", dataset)
            src = self.transfer_source(dataset, name)
            return self.schedule_jobs(src_ds, src, s.get("from_K", K)) + own
        return own

    def cost_cells(self, wildcards):
        """(name, K) of the schedules of one table: {dataset}_w2, {dataset}_fid or
        {dataset}_{id}_fid."""
        d, table = wildcards.dataset, wildcards.table
        if table == "w2":
            return [(n, K) for n in self.table_names(d) for K in self.ks(d)]
        tid = "heun" if table == "fid" else table.removesuffix("_fid")
        return self.fid_cells(d, tid)

    def cost_inputs(self, wildcards):
        d = wildcards.dataset
        cells = self.cost_cells(wildcards)
        return {
            "schedules": [f"results/schedules/{d}/{n}/K{K}.json" for n, K in cells],
            "benchmarks": sorted({b for n, K in cells for b in self.schedule_jobs(d, n, K)}),
        }

    def cost_entries(self, wildcards):
        """NAME:K:SCHEDULE:BENCH+BENCH... arguments of python -m artrl.costs."""
        d = wildcards.dataset
        return [
            f"{n}:{K}:results/schedules/{d}/{n}/K{K}.json:" + "+".join(self.schedule_jobs(d, n, K))
            for n, K in self.cost_cells(wildcards)
        ]

    def table_costs_file(self, wildcards):
        """The cost CSV of the table being built (rule schedule_costs)."""
        d = wildcards.dataset
        if "solver" not in wildcards.keys():  # w2 table or Heun FID table
            stem = "w2" if wildcards.dataset in self.w2_datasets() else "fid"
        else:
            stem = f"{wildcards.solver}_fid"
        return f"results/costs/{d}_{stem}.csv"
