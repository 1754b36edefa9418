# Schedules that need no training: baselines, the analytic ART optimum, and ART-RL transfers.


rule baseline_schedule:
    output:
        "results/schedules/{dataset}/{name}/K{K}.json",
    log:
        "results/logs/baseline_schedule/{dataset}/{name}/K{K}.log",
    wildcard_constraints:
        name=BASELINE_RE,
    conda:
        "../../envs/artrl.yaml"
    params:
        args=baseline_args,
        seed=config["seed"],
        digest=schedule_digest,
    shell:
        "python -m artrl.schedules {params.args:q} --K {wildcards.K}"
        " --dataset {wildcards.dataset} --seed {params.seed}"
        " --config-digest {params.digest} --out {output} > {log} 2>&1"


rule art_analytic_schedule:
    output:
        "results/schedules/{dataset}/{name}/K{K}.json",
    log:
        "results/logs/art_analytic_schedule/{dataset}/{name}/K{K}.log",
    wildcard_constraints:
        name=ANALYTIC_RE,
    conda:
        "../../envs/artrl.yaml"
    params:
        dataset_config=analytic_json,
        seed=config["seed"],
        digest=schedule_digest,
    shell:
        "python -m artrl.art.analytic --dataset-config {params.dataset_config:q}"
        " --K {wildcards.K} --dataset {wildcards.dataset} --seed {params.seed}"
        " --config-digest {params.digest} --out {output} > {log} 2>&1"


rule transfer_schedule:
    input:
        transfer_input,
    output:
        "results/schedules/{dataset}/{name}/K{K}.json",
    log:
        "results/logs/transfer_schedule/{dataset}/{name}/K{K}.log",
    wildcard_constraints:
        name=TRANSFER_RE,
    conda:
        "../../envs/artrl.yaml"
    shell:
        "python -m artrl.transfer --schedule {input} --K {wildcards.K}"
        " --method-name {wildcards.name} --out {output} > {log} 2>&1"
