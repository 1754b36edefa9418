# Schedules that need no training: baselines, the analytic ART optimum, and ART-RL transfers.
# Baselines and transfers take < 1 s: local rules (run by the main snakemake process, never
# submitted to a cluster).


rule baseline_schedule:
    output:
        "results/schedules/{dataset}/{name}/K{K}.json",
    log:
        "results/logs/baseline_schedule/{dataset}/{name}/K{K}.log",
    wildcard_constraints:
        name=BASELINE_RE,
    localrule: True
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


rule art_q_profile:
    input:
        model_files,
    output:
        "results/art/{dataset}/q_profile.npz",
    log:
        "results/logs/art_q_profile/{dataset}.log",
    benchmark:
        "results/benchmarks/art_q_profile/{dataset}.tsv"
    # its schedules (every K, two datasets) wait for it: run it before the sampling jobs
    priority: 5
    conda:
        "../../envs/artrl.yaml"
    threads: 1
    params:
        dataset_config=analytic_json,
        seed=config["seed"],
        device=torch_device,
    shell:
        "python -m artrl.art.analytic"
        " --dataset-config {params.dataset_config:q} --dataset {wildcards.dataset}"
        " --seed {params.seed} --device {params.device} --save-profile {output} > {log} 2>&1"


rule art_analytic_schedule:
    input:
        "results/art/{dataset}/q_profile.npz",
    output:
        "results/schedules/{dataset}/{name}/K{K}.json",
    log:
        "results/logs/art_analytic_schedule/{dataset}/{name}/K{K}.log",
    wildcard_constraints:
        name=ANALYTIC_RE,
    localrule: True
    conda:
        "../../envs/artrl.yaml"
    params:
        dataset_config=analytic_json,
        seed=config["seed"],
        digest=schedule_digest,
    shell:
        "python -m artrl.art.analytic --dataset-config {params.dataset_config:q}"
        " --K {wildcards.K} --dataset {wildcards.dataset} --seed {params.seed}"
        " --profile {input} --config-digest {params.digest} --out {output} > {log} 2>&1"


rule transfer_schedule:
    input:
        transfer_input,
    output:
        "results/schedules/{dataset}/{name}/K{K}.json",
    log:
        "results/logs/transfer_schedule/{dataset}/{name}/K{K}.log",
    wildcard_constraints:
        name=TRANSFER_RE,
    localrule: True
    conda:
        "../../envs/artrl.yaml"
    params:
        args=transfer_args,
    shell:
        "python -m artrl.transfer --schedule {input} --K {wildcards.K} {params.args:q}"
        " --out {output} > {log} 2>&1"


rule method_schedule:
    input:
        model_files,
    output:
        "results/schedules/{dataset}/{name}/K{K}.json",
    log:
        "results/logs/method_schedule/{dataset}/{name}/K{K}.log",
    benchmark:
        "results/benchmarks/method_schedule/{dataset}/{name}/K{K}.tsv"
    wildcard_constraints:
        name=METHOD_RE,
    conda:
        "../../envs/artrl.yaml"
    params:
        module=method_module,
        dataset_config=method_json,
        args=method_args,
        seed=config["seed"],
        digest=schedule_digest,
        device=torch_device,
    shell:
        "python -m artrl.methods.{params.module} --dataset-config {params.dataset_config:q}"
        " --K {wildcards.K} {params.args:q} --seed {params.seed} --config-digest {params.digest}"
        " --device {params.device} --no-progress --out {output} > {log} 2>&1"
