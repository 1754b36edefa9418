# The image chain (digits offline; EDM models plug into the same rules): score model,
# FID feature extractor and reference statistics, sampling in shards of seeds, FID per cell,
# tables and figures.


# replicate r >= 1 trains its own (results/rep<r>/models/...) only under config
# replicate_score_model: MODEL_REP_RE is "" otherwise
rule train_score_model:
    output:
        "results/{rep}models/{dataset}/model.pt",
    log:
        "results/logs/{rep}train_score_model/{dataset}.log",
    benchmark:
        "results/benchmarks/{rep}train_score_model/{dataset}.tsv"
    wildcard_constraints:
        dataset=UNET_DATASET_RE,
        rep=MODEL_REP_RE,
    # every digits job waits for the model: start it first
    priority: 10
    conda:
        "../../envs/artrl.yaml"
    threads: 2
    params:
        data=W.score_data,
        args=W.score_model_args,
        seed=W.rep_seed,
        torch_threads=W.torch_threads("train_score"),
        device=W.torch_device,
    shell:
        "python -m artrl.models.train_score --dataset {params.data:q} {params.args:q}"
        " --seed {params.seed:q} --threads {params.torch_threads:q} --device {params.device:q}"
        " --out {output:q} > {log:q} 2>&1"


rule fid_classifier:
    output:
        "results/fid/{dataset}/classifier.pt",
    log:
        "results/logs/fid_classifier/{dataset}.log",
    wildcard_constraints:
        dataset=DIGITS_FID_RE,
    conda:
        "../../envs/artrl.yaml"
    params:
        args=W.classifier_args,
        seed=config["seed"],
        torch_threads=W.torch_threads("fid"),
    shell:
        "python -m artrl.metrics.digits_features train {params.args:q} --seed {params.seed:q}"
        " --threads {params.torch_threads:q} --no-progress --out {output:q} > {log:q} 2>&1"


rule fid_ref_stats:
    input:
        "results/fid/{dataset}/classifier.pt",
    output:
        "results/fid/{dataset}/ref_stats.npz",
    log:
        "results/logs/fid_ref_stats/{dataset}.log",
    wildcard_constraints:
        dataset=DIGITS_FID_RE,
    conda:
        "../../envs/artrl.yaml"
    params:
        resolution=W.dataset_resolution,
        torch_threads=W.torch_threads("fid"),
    shell:
        "python -m artrl.metrics.digits_features ref-stats --classifier {input:q}"
        " --resolution {params.resolution:q} --threads {params.torch_threads:q}"
        " --out {output:q} > {log:q} 2>&1"


rule sample_shard:
    input:
        schedule="results/{rep}schedules/{dataset}/{name}/K{K}.json",
        model=W.model_files,
        policy=W.policy_input,
    output:
        "results/{rep}samples/{dataset}/{solver}/{name}/K{K}/seeds{lo}-{hi}.npz",
    log:
        "results/logs/{rep}sample_shard/{dataset}/{solver}/{name}/K{K}/seeds{lo}-{hi}.log",
    wildcard_constraints:
        dataset=IMAGE_DATASET_RE,
        solver=SOLVER_RE,
        name=ALL_NAMES_RE,
        lo=r"\d+",
        hi=r"\d+",
    conda:
        "../../envs/artrl.yaml"
    resources:
        gpu=gpu_request,
    params:
        dataset_config=W.model_json,
        batch=W.fid_batch,
        torch_threads=W.torch_threads("sample"),
        device=W.torch_device,
        expect=W.schedule_expect,
        policy=W.policy_args,
    shell:
        "python -m artrl.sample --dataset-config {params.dataset_config:q}"
        " --schedule {input.schedule:q} {params.policy:q} --expect {params.expect:q}"
        " --solver {wildcards.solver:q}"
        " --seeds {wildcards.lo:q}-{wildcards.hi:q} --batch {params.batch:q} --no-progress"
        " --threads {params.torch_threads:q}"
        " --device {params.device:q} --out {output:q} > {log:q} 2>&1"


rule fid_cell:
    input:
        unpack(W.fid_cell_inputs),
    output:
        "results/{rep}fid/{dataset}/{solver}/{name}/K{K}.json",
    log:
        "results/logs/{rep}fid_cell/{dataset}/{solver}/{name}/K{K}.log",
    wildcard_constraints:
        dataset=IMAGE_DATASET_RE,
        solver=SOLVER_RE,
        name=ALL_NAMES_RE,
    conda:
        "../../envs/artrl.yaml"
    resources:
        gpu=gpu_request,
    params:
        features=W.fid_features,
        blocks=W.fid_blocks,
        meta=W.cell_meta,
        torch_threads=W.torch_threads("fid"),
        device=W.torch_device,
        feature_args=W.fid_feature_args,
    shell:
        "python -m artrl.metrics.fid --shards {input.shards:q} --ref {input.ref:q}"
        " --features {params.features:q} {params.feature_args:q}"
        " --blocks {params.blocks:q} --meta {params.meta:q} --threads {params.torch_threads:q}"
        " --device {params.device:q}"
        " --out {output:q} > {log:q} 2>&1"


rule fid_table_heun:
    input:
        unpack(W.fid_table_inputs),
        costs=W.table_costs_file,
    output:
        csv=report(
            "results/tables/{dataset}_fid.csv",
            caption="../report/fid_table.rst",
            category="Images",
            labels={"dataset": "{dataset}", "solver": "heun", "type": "table (CSV)"},
        ),
        md=report(
            "results/tables/{dataset}_fid.md",
            caption="../report/fid_table.rst",
            category="Images",
            labels={
                "dataset": "{dataset}",
                "solver": "heun",
                "type": "table (Markdown)",
            },
        ),
    log:
        "results/logs/fid_table/{dataset}_heun.log",
    wildcard_constraints:
        dataset=IMAGE_DATASET_RE,
    localrule: True
    conda:
        "../../envs/artrl.yaml"
    params:
        entries=W.fid_entries,
        labels=W.labels_json,
        paper=W.fid_paper_args,
        digest=W.dataset_digest,
        seed=config["seed"],
    shell:
        "python -m artrl.report_images fid-table {params.entries:q}"
        " --labels-json {params.labels:q} {params.paper:q} --dataset {wildcards.dataset:q}"
        " --costs {input.costs:q} --config-digest {params.digest:q} --seed {params.seed:q}"
        " --out-csv {output.csv:q} --out-md {output.md:q} > {log:q} 2>&1"


use rule fid_table_heun as fid_table with:
    output:
        csv=report(
            "results/tables/{dataset}_{solver}_fid.csv",
            caption="../report/fid_table.rst",
            category="Images",
            labels={
                "dataset": "{dataset}",
                "solver": "{solver}",
                "type": "table (CSV)",
            },
        ),
        md=report(
            "results/tables/{dataset}_{solver}_fid.md",
            caption="../report/fid_table.rst",
            category="Images",
            labels={
                "dataset": "{dataset}",
                "solver": "{solver}",
                "type": "table (Markdown)",
            },
        ),
    log:
        "results/logs/fid_table/{dataset}_{solver}.log",
    wildcard_constraints:
        dataset=IMAGE_DATASET_RE,
        solver=TABLE_RE,


rule fid_figure:
    input:
        unpack(W.fid_table_inputs),
    output:
        report(
            "results/figures/{dataset}_fid_{solver}.png",
            caption="../report/fid_figure.rst",
            category="Images",
            labels={
                "dataset": "{dataset}",
                "solver": "{solver}",
                "type": "FID vs NFE",
            },
        ),
    log:
        "results/logs/fid_figure/{dataset}_{solver}.log",
    wildcard_constraints:
        dataset=IMAGE_DATASET_RE,
        solver=FIGURE_RE,
    localrule: True
    conda:
        "../../envs/artrl.yaml"
    params:
        entries=W.fid_entries,
        labels=W.labels_json,
    shell:
        "python -m artrl.report_images fid-figure {params.entries:q}"
        " --labels-json {params.labels:q} --out {output:q} > {log:q} 2>&1"


# the state-dependent sampler's per-image grids (issue 17), one panel per K of the table
rule state_paths_figure:
    input:
        unpack(W.state_paths_inputs),
    output:
        report(
            "results/figures/{dataset}_{table}_paths.png",
            caption="../report/state_paths_figure.rst",
            category="Images",
            labels={
                "dataset": "{dataset}",
                "table": "{table}",
                "type": "per-image sigma grids",
            },
        ),
    log:
        "results/logs/state_paths_figure/{dataset}_{table}.log",
    wildcard_constraints:
        dataset=IMAGE_DATASET_RE,
        table=TABLE_RE,
    localrule: True
    conda:
        "../../envs/artrl.yaml"
    params:
        classifier=W.classifier_option,
    shell:
        "python -m artrl.report_images state-paths --shard {input.shards:q}"
        " --schedule {input.schedules:q} {params.classifier:q} --out {output:q} > {log:q} 2>&1"


rule sigma_figure:
    input:
        W.sigma_figure_files,
    output:
        report(
            "results/figures/{dataset}_sigmas.png",
            caption="../report/sigma_figure.rst",
            category="Images",
            labels={"dataset": "{dataset}", "type": "sigma grids"},
        ),
    log:
        "results/logs/sigma_figure/{dataset}.log",
    wildcard_constraints:
        dataset=IMAGE_DATASET_RE,
    localrule: True
    conda:
        "../../envs/artrl.yaml"
    params:
        entries=W.sigma_figure_args,
        labels=W.labels_json,
    shell:
        "python -m artrl.report_images sigma-figure {params.entries:q}"
        " --labels-json {params.labels:q} --out {output:q} > {log:q} 2>&1"


rule sample_grid:
    input:
        W.sample_grid_files,
    output:
        report(
            "results/figures/{dataset}_samples_nfe5.png",
            caption="../report/sample_grid.rst",
            category="Images",
            labels={"dataset": "{dataset}", "type": "samples at NFE 5"},
        ),
    log:
        "results/logs/sample_grid/{dataset}.log",
    wildcard_constraints:
        dataset=IMAGE_DATASET_RE,
    localrule: True
    conda:
        "../../envs/artrl.yaml"
    params:
        entries=W.sample_grid_args,
        labels=W.labels_json,
    shell:
        "python -m artrl.report_images sample-grid {params.entries:q}"
        " --labels-json {params.labels:q} --out {output:q} > {log:q} 2>&1"
