# ART-RL: actor-critic training on the ART control problem, then distillation into a schedule.
# Each art_rl schedule trains in its own folder with its `art` overrides (variants, ablations).


rule art_train:
    input:
        W.model_files,
    output:
        rollouts="results/art/{dataset}/{name}/K{K}/rollouts.npz",
        train_log="results/art/{dataset}/{name}/K{K}/train_log.csv",
    log:
        "results/logs/art_train/{dataset}/{name}/K{K}.log",
    benchmark:
        "results/benchmarks/art_train/{dataset}/{name}/K{K}.tsv"
    wildcard_constraints:
        name=ART_RL_RE,
    conda:
        "../../envs/artrl.yaml"
    threads: 1
    resources:
        gpu=gpu_request,
    params:
        dataset_config=W.art_train_json,
        seed=config["seed"],
        out_dir=W.art_out_dir,
        device=W.torch_device,
    shell:
        "python -m artrl.art.train --dataset-config {params.dataset_config:q}"
        " --K {wildcards.K:q} --seed {params.seed:q} --threads {threads}"
        " --device {params.device:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule art_distill:
    input:
        "results/art/{dataset}/{name}/K{K}/rollouts.npz",
    output:
        "results/schedules/{dataset}/{name}/K{K}.json",
    log:
        "results/logs/art_distill/{dataset}/{name}/K{K}.log",
    benchmark:
        SCHEDULE_BENCHMARK
    wildcard_constraints:
        name=ART_RL_RE,
    conda:
        "../../envs/artrl.yaml"
    params:
        seed=config["seed"],
        digest=W.schedule_digest,
    shell:
        "python -m artrl.art.distill --rollouts {input:q} --dataset {wildcards.dataset:q}"
        " --seed {params.seed:q} --config-digest {params.digest:q} --out {output:q} > {log:q} 2>&1"


rule art_diagnostics:
    input:
        train_log="results/art/{dataset}/{name}/K{K}/train_log.csv",
        schedule="results/schedules/{dataset}/{name}/K{K}.json",
    output:
        "results/art/{dataset}/{name}/K{K}/diagnostics.png",
    log:
        "results/logs/art_diagnostics/{dataset}/{name}/K{K}.log",
    wildcard_constraints:
        name=ART_RL_RE,
    localrule: True
    conda:
        "../../envs/artrl.yaml"
    shell:
        "python -m artrl.report art-diagnostics --train-log {input.train_log:q}"
        " --schedule {input.schedule:q} --out {output:q} > {log:q} 2>&1"
