"""Targets of the rules all, demo, compare and demo_digits."""

from artrl.workflow.config import SIGMA_K
from artrl.workflow.paths import CROSS_TABLE, table_stem


class Targets:
    def w2_targets(self, datasets=None):
        """Table and figures of every Gaussian dataset (the theta figure needs an art_rl
        schedule)."""
        out = []
        for d in self.w2_datasets() if datasets is None else datasets:
            out += [
                f"results/tables/{d}_w2.csv",
                f"results/tables/{d}_w2.md",
                f"results/figures/{d}_w2.png",
            ]
            if self.art_rl_name(d):
                out.append(f"results/figures/{d}_theta.png")
            out += self.art_diagnostics_targets(d)
        return out

    def art_diagnostics_targets(self, dataset):
        """The training figure of every ART-RL run the dataset's tables use (transfers' sources
        included), next to the run's files."""
        if dataset in self.w2_datasets():
            cells = [(n, K) for n in self.table_names(dataset) for K in self.ks(dataset)]
        else:
            cells = [c for tid in self.table_ids(dataset) for c in self.fid_cells(dataset, tid)]
        runs = set()
        prefix = "results/benchmarks/art_train/"
        for n, K in cells:
            for bench in self.schedule_jobs(dataset, n, K):
                if bench.startswith(prefix):
                    run = bench[len(prefix) :].removesuffix(".tsv")
                    runs.add(f"results/art/{run}/diagnostics.png")
        return sorted(runs)

    def demo_targets(self):
        """The embedded default, offline on CPU: the 1-D Gaussian slice (arXiv 2601.18681 §5.1)
        and the digits image chain (score model, ART-RL, sampling, FID), ~20 min on 2 cores."""
        return (
            self.w2_targets(["gauss1d"] if "gauss1d" in self.config["datasets"] else None)
            + self.demo_digits_targets()
        )

    def compare_targets(self):
        """The competing-methods comparison on the embedded data sets (issue "methods"): every
        schedule, the extra ones included, of the Gaussian and digits data sets, the
        cross-data-set matrix and the state-dependent comparison (issue 17); ~1.5 h on 2 cores
        with one replicate.
        """
        out = self.w2_targets() + self.image_targets([d for d in self.unet_datasets()])
        for d in self.w2_datasets() + self.unet_datasets():
            if self.schedules_at(d, SIGMA_K):
                out.append(f"results/figures/{d}_sigmas_K{SIGMA_K}.png")
        if self.cross_dataset_cfg():
            out += [CROSS_TABLE, CROSS_TABLE.replace(".csv", ".md")]
        return out + self.state_targets()

    def state_targets(self):
        """The state-dependent comparison (issue 17): a table and two figures per problem."""
        out = []
        for p in self.state_problems():
            out += [
                f"results/tables/{p}_state.csv",
                f"results/tables/{p}_state.md",
                f"results/figures/{p}_state_w2.png",
                f"results/figures/{p}_state_paths.png",
            ]
        return out

    def demo_digits_targets(self):
        """The digits image chain alone (never the EDM data sets, which need a GPU)."""
        return self.image_targets(["digits"]) if "digits" in self.config["datasets"] else []

    def image_targets(self, datasets=None):
        out = []
        for d in self.image_datasets() if datasets is None else datasets:
            for tid in self.table_ids(d):
                table = f"results/tables/{table_stem(d, tid)}"
                out += [
                    f"{table}.csv",
                    f"{table}.md",
                    f"results/figures/{d}_fid_{tid}.png",
                ]
            out += [f"results/figures/{d}_{tid}_paths.png" for tid, _ in self.state_tables(d)]
            out += [
                f"results/figures/{d}_sigmas.png",
                f"results/figures/{d}_samples_nfe5.png",
            ]
            out += self.art_diagnostics_targets(d)
        return out
