"""params of the rules: command-line arguments built from the config and the wildcards."""

import json
import os

from artrl.registry import METHODS, SOLVERS
from artrl.workflow.config import BASELINE_OPTIONS, PAPER_1D, PAPER_TABLE, ConfigError
from artrl.workflow.paths import fid_file, table_solver


def _without_flags(cfg):
    return {k: v for k, v in cfg.items() if k != "heun_profile"}


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


def art_out_dir(wildcards, output):
    return os.path.dirname(output.rollouts)


def gits_costs_args(wildcards, input):
    return ["--costs", input.costs] if "costs" in input.keys() else []


def theta_args(wildcards, input):
    args = ["--schedule", input.schedule]
    if "analytic" in input.keys():
        args += ["--analytic", input.analytic]
    return args


_CUDA = []


def _option(flag, input, key):
    """[flag, file] for the named input ``key`` of a rule (a file, or a list of one), [] when
    it is absent or empty; ``input`` is Snakemake's InputFiles or a dict."""
    p = input.get(key)
    p = [p] if isinstance(p, str) else list(p or [])
    return [flag, str(p[0])] if p else []


def cuda_available():
    """torch.cuda.is_available(), asked once per run (importing torch takes a second)."""
    if not _CUDA:
        import torch

        _CUDA.append(torch.cuda.is_available())
    return _CUDA[0]


class Args:
    def art_train_json(self, wildcards):
        """--dataset-config of python -m artrl.art.train (shell-quote with {params.x:q})."""
        cfg = self.art_train_cfg(wildcards.dataset, wildcards.name, self.rep_index(wildcards))
        return json.dumps(cfg, sort_keys=True)

    def analytic_json(self, wildcards):
        """--dataset-config of the q-profile job (shell-quote with {params.x:q})."""
        cfg = self.analytic_cfg(wildcards.dataset, self.rep_index(wildcards))
        return json.dumps(_without_flags(cfg), sort_keys=True)

    def analytic_schedule_json(self, wildcards):
        """--dataset-config of one analytic schedule (its proxy included)."""
        r = self.rep_index(wildcards)
        cfg = self.analytic_schedule_cfg(wildcards.dataset, wildcards.name, r)
        return json.dumps(_without_flags(cfg), sort_keys=True)

    def profile_args(self, wildcards):
        """--heun-profile when an analytic schedule of the dataset needs r = E|R~| too."""
        return ["--heun-profile"] if self.needs_heun_profile(wildcards.dataset) else []

    def method_json(self, wildcards):
        cfg = self.method_cfg(wildcards.dataset, wildcards.name, self.rep_index(wildcards))
        return json.dumps(cfg, sort_keys=True)

    def method_args(self, wildcards):
        """Which module and solver of python -m artrl.methods (a list: use {params.x:q})."""
        w = wildcards
        return [
            "--solver",
            self.method_solver(w.dataset, w.name),
            "--dataset",
            w.dataset,
        ]

    def method_of(self, wildcards):
        return self.schedule_cfg(wildcards.dataset, wildcards.name)["method"]

    def method_module(self, wildcards):
        """X of python -m artrl.methods.X, a built-in method's module (by rule method_schedule)."""
        return METHODS[self.method_of(wildcards)].cli.removeprefix("artrl.methods.")

    def plugin_module(self, wildcards):
        """The module a plugin registered for its method (rule plugin_method_schedule)."""
        return METHODS[self.method_of(wildcards)].cli

    def baseline_args(self, wildcards):
        """Options of python -m artrl.schedules for one baseline (a list: use {params.x:q})."""
        s = self.schedule_cfg(wildcards.dataset, wildcards.name)
        args = [
            "--method",
            s["method"],
            "--sigma-max",
            str(self.dataset_cfg(wildcards.dataset)["sigma_max"]),
        ]
        for key, opt in BASELINE_OPTIONS.items():
            if key in s:
                args += [opt, str(s[key])]
        return args

    def torch_device(self, wildcards, resources):
        """--device of a job: "cuda" when the job was given a GPU (resources gpu > 0, or a gres
        naming a gpu; it stops where there is none), "auto" instead when config allow_cpu is set
        (tiny checks, test clusters with fake GPUs), else "cpu"."""
        try:
            gpus = int(resources.get("gpu", 0) or 0)
        except (TypeError, ValueError):
            gpus = 0
        gres = str(resources.get("gres", "") or "")
        if gpus > 0 or "gpu" in gres.lower():
            return "auto" if self.config.get("allow_cpu", False) else "cuda"
        return "cpu"

    def w2_model_std(self, wildcards):
        return self.dataset_cfg(wildcards.dataset)["model"].get("std", 1.0)

    def w2_solver(self, wildcards):
        return self.dataset_cfg(wildcards.dataset)["solver"]

    def w2_mc_samples(self, wildcards):
        return self.dataset_cfg(wildcards.dataset)["w2"]["mc_samples"]

    def w2_art_cost_samples(self, wildcards):
        return self.dataset_cfg(wildcards.dataset)["w2"]["art_cost_samples"]

    def labels_json(self, wildcards):
        d = wildcards.dataset
        return json.dumps(
            {n: self.schedule_label(d, n) for n in self.schedule_names(d)}, ensure_ascii=False
        )

    def paper_args(self, wildcards):
        """``--paper gauss1d`` when the dataset is the paper's 1-D setting, else nothing."""
        d = self.dataset_cfg(wildcards.dataset)
        m = d["model"]
        same = (
            m["type"] == "gaussian"
            and float(m.get("std", 1.0)) == PAPER_1D["std"]
            and m.get("dim", 1) == PAPER_1D["dim"]
            and float(d["sigma_max"]) == PAPER_1D["sigma_max"]
            and d["solver"] == PAPER_1D["solver"]
        )
        return ["--paper", "gauss1d"] if same else []

    def policy_args(self, wildcards, input):
        """--policy of python -m artrl.sample for an art_state schedule (issue 17), else none."""
        return _option("--policy", input, "policy")

    def classifier_option(self, wildcards, input):
        """--classifier of ``state-paths`` when the figure's input has one (digits features)."""
        return _option("--classifier", input, "classifier")

    def transfer_args(self, wildcards):
        """Options of python -m artrl.transfer (a list: use {params.x:q})."""
        s = self.schedule_cfg(wildcards.dataset, wildcards.name)
        args = [
            "--resample",
            s.get("resample", "psi"),
            "--dataset",
            wildcards.dataset,
            "--method-name",
            wildcards.name,
            "--config-digest",
            self.schedule_digest(wildcards),
            "--expect",
            self.transfer_expect(wildcards),
        ]
        if "rescale" in s:  # from a data set with another sigma_max (cross-data-set matrix)
            args += [
                "--sigma-max",
                str(self.dataset_cfg(wildcards.dataset)["sigma_max"]),
                "--rescale",
                s["rescale"],
            ]
            if "sigma_min" in s:
                args += ["--sigma-min", str(s["sigma_min"])]
        return args

    def model_json(self, wildcards):
        """--dataset-config of python -m artrl.sample: the replicate's model and sigma_max."""
        d = wildcards.dataset
        model = self.model_cfg(d, self.rep_index(wildcards))
        return json.dumps(
            {"model": model, "sigma_max": self.dataset_cfg(d)["sigma_max"]}, sort_keys=True
        )

    def score_data(self, wildcards):
        """--dataset of python -m artrl.models.train_score: the images (one for all resolutions)."""
        return self.dataset_cfg(wildcards.dataset)["data"]

    def score_model_args(self, wildcards):
        d = self.dataset_cfg(wildcards.dataset)
        return cli_options({"resolution": d.get("resolution", 8), **d.get("score_model", {})})

    def classifier_args(self, wildcards):
        d = self.dataset_cfg(wildcards.dataset)
        fid = self.fid_cfg(wildcards.dataset)
        return cli_options({"resolution": d.get("resolution", 8), **fid.get("classifier", {})})

    def cell_meta(self, wildcards):
        """Cell identity stored in each FID result (read by the tables)."""
        w = wildcards
        K = int(w.K)
        meta = {
            "dataset": w.dataset,
            "name": w.name,
            "method": self.schedule_cfg(w.dataset, w.name)["method"],
            "solver": w.solver,
            "K": K,
            "nfe": SOLVERS[w.solver].nfe(K),
            # the config_digest of the cell's schedule file (provenance column of the tables)
            "schedule_config_digest": self.schedule_digest(w),
            # the cell's seeds are 0 .. samples - 1 (checked against the shards)
            "samples": self.fid_cfg(w.dataset)["samples"],
        }
        if self.replicates() > 1:
            # replicate r: schedule seed rep_seed, sample seeds seed_offset + (0 .. samples - 1)
            r = self.rep_index(w)
            meta["replicate"] = r
            meta["replicate_seed"] = self.rep_seed(w)
            meta["seed_offset"] = r * meta["samples"]
            if self.score_model_replicated(w.dataset):
                # replicate r >= 1 sampled its own score model (config replicate_score_model)
                meta["replicate_score_model"] = True
        return json.dumps(meta, sort_keys=True)

    def replicate_args(self, wildcards):
        """--replicate R of python -m artrl.gauss1d when the run has several replicates."""
        return ["--replicate", str(self.rep_index(wildcards))] if self.replicates() > 1 else []

    def fid_entries(self, wildcards):
        """NAME=PATH arguments of python -m artrl.report_images (a list: use {params.x:q})."""
        d, tid = wildcards.dataset, table_solver(wildcards)
        solver = self.solver_of(d, tid)
        args = ["--solver", solver, "--fid"] + [
            f"{n}={fid_file(d, solver, n, K, r)}"
            for n, K in self.fid_cells(d, tid)
            for r in range(self.replicates())
        ]
        r = self.dataset_cfg(d).get("reference")
        if r:
            label = f"{self.schedule_label(d, r['schedule'])}, {r['solver']} K={r['K']} (floor)"
            args += [
                "--reference",
                f"{r['schedule']}={self.reference_file(d)}",
                "--reference-label",
                label,
            ]
        return args

    def fid_paper_args(self, wildcards):
        """The paper's published table for this one: config `paper: {table id: name}`, else the
        nearest published one for a trained U-Net (digits), else none."""
        d, tid = wildcards.dataset, table_solver(wildcards)
        paper = self.dataset_cfg(d).get("paper")
        if paper is not None:
            return ["--paper", paper.get(tid, "none")]
        if self.dataset_cfg(d)["model"]["type"] == "unet":
            return ["--paper", PAPER_TABLE.get(tid, "none")]
        return ["--paper", "none"]

    def dataset_resolution(self, wildcards):
        return self.dataset_cfg(wildcards.dataset).get("resolution", 8)

    def fid_batch(self, wildcards):
        return self.fid_cfg(wildcards.dataset)["batch"]

    def fid_features(self, wildcards):
        return self.fid_cfg(wildcards.dataset)["features"]

    def fid_feature_args(self, wildcards, input):
        """--classifier or --inception-path of python -m artrl.metrics.fid."""
        if self.fid_features(wildcards) != "inception":
            return ["--classifier", input.features]
        # the TorchScript loads only with a pinned sha256: the config's, else the lock file's
        pinned = self.fid_cfg(wildcards.dataset).get("inception_sha256", [])
        pinned = [pinned] if isinstance(pinned, str) else pinned
        return ["--inception-path", input.features] + [
            arg for digest in pinned for arg in ("--inception-sha256", digest)
        ]

    def fid_blocks(self, wildcards):
        return self.fid_cfg(wildcards.dataset)["blocks"]

    def sigma_k_args(self, wildcards):
        d, K = wildcards.dataset, wildcards.K
        return ["--schedule"] + [
            f"{n}=results/schedules/{d}/{n}/K{K}.json" for n in self.schedules_at(d, K)
        ]

    def sigma_figure_args(self, wildcards):
        return ["--schedule"] + [f"{n}={p}" for n, p in self.sigma_figure_pairs(wildcards.dataset)]

    def sample_grid_args(self, wildcards):
        return ["--shard"] + [f"{n}={p}" for n, p in self.sample_grid_pairs(wildcards.dataset)]

    def cross_cell_args(self, wildcards):
        """ROW|MADE_ON|TARGET=PATH arguments of python -m artrl.report_matrix."""
        return [f"{row}|{made_on}|{key}={f}" for row, made_on, key, f in self.cross_cells()]

    def cross_labels_json(self, wildcards):
        targets = self.cross_dataset_cfg()["targets"]
        return json.dumps({k: tg.get("label", k) for k, tg in targets.items()}, ensure_ascii=False)

    def cross_compare_json(self, wildcards):
        """{row label: label whose diagonal its ratios use} (rows with compare_to)."""
        rows = self.cross_dataset_cfg()["rows"]
        return json.dumps(
            {r["label"]: r["compare_to"] for r in rows if "compare_to" in r},
            ensure_ascii=False,
        )

    def download_url(self, wildcards):
        return self.downloads()[f"resources/{wildcards.path}"][0]

    def download_key(self, wildcards):
        return self.downloads()[f"resources/{wildcards.path}"][1]

    def gpu_request(self, wildcards, local_exec, cuda_available=cuda_available):
        """The `gpu` resource of a network job when no profile sets it: 1 on an EDM data set
        (its network needs a GPU: the job runs with --device cuda), 0 on the embedded ones. On
        a machine without CUDA, running locally (``local_exec``), an EDM job stops the whole
        run, before any job starts, with the way out (the gpu profile sets `gpu` itself and
        skips this check)."""
        if not self.is_edm(wildcards.dataset):
            return 0
        if not self.config.get("allow_cpu", False) and local_exec and not cuda_available():
            raise ConfigError(
                f"data set {wildcards.dataset!r} samples an NVIDIA EDM network, which needs a "
                "GPU, and this machine has none (torch.cuda.is_available() is False). Run it on "
                "a GPU node: `--workflow-profile workflow/profiles/gpu` on a GPU workstation, or "
                "`--profile workflow/profiles/slurm` to submit to a SLURM cluster. For a tiny "
                "check on the CPU only, add `--config allow_cpu=True` (README: GPU and cluster)."
            )
        return 1

    # ------------------------------------------------------------------ state-dependent (17)
    def state_problem_json(self, wildcards):
        """--problem-config of python -m artrl.state_compare: the problem's model and
        sigma_max, and the block's art and competitors settings."""
        block = self.state_cfg()
        p = block["problems"][wildcards.problem]
        cfg = {"model": p["model"], "sigma_max": p["sigma_max"], "art": block.get("art", {})}
        if "competitors" in block:
            cfg["competitors"] = block["competitors"]
        return json.dumps(cfg, sort_keys=True)

    def state_args(self, wildcards):
        """K, samples and solvers of python -m artrl.state_compare (a list: {params.x:q})."""
        block = self.state_cfg()
        return [
            "--K",
            *(str(k) for k in block["K"]),
            "--samples",
            str(block["samples"]),
            "--solvers",
            *block["solvers"],
            "--replicate",
            str(self.rep_index(wildcards)),
        ]

    def state_label(self, wildcards):
        """The problem's label (the table's title; its name when the config gives none)."""
        p = self.state_cfg()["problems"][wildcards.problem]
        return p.get("label", wildcards.problem)
