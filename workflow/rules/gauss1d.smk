# 1-D Gaussian benchmark (arXiv 2601.18681 §5.1): exact and Monte-Carlo W2 per (schedule, K), the
# W2 table (paper Table 1) and figures (W2 against K; learned clock speed, paper Fig. 1).


rule w2_metrics:
    input:
        "results/{rep}schedules/{dataset}/{name}/K{K}.json",
    output:
        "results/{rep}metrics/{dataset}/{name}/K{K}.json",
    log:
        "results/logs/{rep}w2_metrics/{dataset}/{name}/K{K}.log",
    wildcard_constraints:
        dataset=W2_DATASET_RE,
        name=ALL_NAMES_RE,
    conda:
        "../../envs/artrl.yaml"
    params:
        solver=W.w2_solver,
        std=W.w2_model_std,
        mc_samples=W.w2_mc_samples,
        art_cost_samples=W.w2_art_cost_samples,
        seed=W.rep_seed,
        replicate=W.replicate_args,
        torch_threads=W.torch_threads("w2"),
        expect=W.schedule_expect,
    shell:
        "python -m artrl.gauss1d --schedule {input:q} --expect {params.expect:q}"
        " --solver {params.solver:q}"
        " --std {params.std:q} --mc-samples {params.mc_samples:q} --seed {params.seed:q}"
        " --art-cost-samples {params.art_cost_samples:q} {params.replicate:q}"
        " --threads {params.torch_threads:q}"
        " --out {output:q} > {log:q} 2>&1"


rule w2_table:
    input:
        metrics=W.w2_metric_files,
        costs=W.table_costs_file,
    output:
        csv=report(
            "results/tables/{dataset}_w2.csv",
            caption="../report/w2_table.rst",
            category="1-D Gaussian",
            labels={"dataset": "{dataset}", "type": "table (CSV)"},
        ),
        md=report(
            "results/tables/{dataset}_w2.md",
            caption="../report/w2_table.rst",
            category="1-D Gaussian",
            labels={"dataset": "{dataset}", "type": "table (Markdown)"},
        ),
    log:
        "results/logs/w2_table/{dataset}.log",
    wildcard_constraints:
        dataset=W2_DATASET_RE,
    localrule: True
    conda:
        "../../envs/artrl.yaml"
    params:
        labels=W.labels_json,
        paper=W.paper_args,
        digest=W.dataset_digest,
        seed=config["seed"],
    shell:
        "python -m artrl.report w2-table --metrics {input.metrics:q}"
        " --labels-json {params.labels:q} {params.paper:q} --costs {input.costs:q}"
        " --config-digest {params.digest:q} --seed {params.seed:q}"
        " --out-csv {output.csv:q} --out-md {output.md:q} > {log:q} 2>&1"


rule w2_figure:
    input:
        W.w2_metric_files,
    output:
        report(
            "results/figures/{dataset}_w2.png",
            caption="../report/w2_figure.rst",
            category="1-D Gaussian",
            labels={"dataset": "{dataset}", "type": "figure (W2 vs K)"},
        ),
    log:
        "results/logs/w2_figure/{dataset}.log",
    wildcard_constraints:
        dataset=W2_DATASET_RE,
    localrule: True
    conda:
        "../../envs/artrl.yaml"
    params:
        labels=W.labels_json,
        paper=W.paper_args,
    shell:
        "python -m artrl.report w2-figure --metrics {input:q} --labels-json {params.labels:q}"
        " {params.paper:q} --out {output:q} > {log:q} 2>&1"


rule theta_figure:
    input:
        unpack(W.theta_inputs),
    output:
        report(
            "results/figures/{dataset}_theta.png",
            caption="../report/theta_figure.rst",
            category="1-D Gaussian",
            labels={"dataset": "{dataset}", "type": "figure (learned theta)"},
        ),
    log:
        "results/logs/theta_figure/{dataset}.log",
    wildcard_constraints:
        dataset=W2_DATASET_RE,
    localrule: True
    conda:
        "../../envs/artrl.yaml"
    params:
        args=W.theta_args,
    shell:
        "python -m artrl.report theta-figure {params.args:q} --out {output:q} > {log:q} 2>&1"
