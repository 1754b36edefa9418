# ART-RL: actor-critic training on the ART control problem, then distillation into a schedule.
# Each art_rl schedule trains in its own folder with its `art` overrides (variants, ablations).


rule art_train:
    input:
        W.model_files,
    output:
        rollouts="results/{rep}art/{dataset}/{name}/K{K}/rollouts.npz",
        train_log="results/{rep}art/{dataset}/{name}/K{K}/train_log.csv",
    log:
        "results/logs/{rep}art_train/{dataset}/{name}/K{K}.log",
    benchmark:
        "results/benchmarks/{rep}art_train/{dataset}/{name}/K{K}.tsv"
    wildcard_constraints:
        name=ART_RL_RE,
    conda:
        "../../envs/artrl.yaml"
    threads: 1
    resources:
        gpu=gpu_request,
    params:
        dataset_config=W.art_train_json,
        seed=W.rep_seed,
        torch_threads=W.torch_threads("art_train"),
        out_dir=W.art_out_dir,
        device=W.torch_device,
    shell:
        "python -m artrl.art.train --dataset-config {params.dataset_config:q}"
        " --K {wildcards.K:q} --seed {params.seed:q} --threads {params.torch_threads:q}"
        " --device {params.device:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule art_distill:
    input:
        "results/{rep}art/{dataset}/{name}/K{K}/rollouts.npz",
    output:
        "results/{rep}schedules/{dataset}/{name}/K{K}.json",
    log:
        "results/logs/{rep}art_distill/{dataset}/{name}/K{K}.log",
    benchmark:
        SCHEDULE_BENCHMARK
    wildcard_constraints:
        name=ART_RL_RE,
    conda:
        "../../envs/artrl.yaml"
    params:
        seed=W.rep_seed,
        digest=W.schedule_digest,
    shell:
        "python -m artrl.art.distill --rollouts {input:q} --dataset {wildcards.dataset:q}"
        " --seed {params.seed:q} --config-digest {params.digest:q} --out {output:q} > {log:q} 2>&1"


# the state-dependent sampler (issue 17): the source ART-RL run's distilled grid (the row's
# σ-figure and cost) and its actor as a policy file bound to that grid (its sha256)
rule art_state_schedule:
    input:
        W.art_state_input,
    output:
        schedule="results/{rep}schedules/{dataset}/{name}/K{K}.json",
        policy="results/{rep}schedules/{dataset}/{name}/K{K}.policy.json",
    log:
        "results/logs/{rep}art_state_schedule/{dataset}/{name}/K{K}.log",
    benchmark:
        SCHEDULE_BENCHMARK
    wildcard_constraints:
        name=ART_STATE_RE,
    conda:
        "../../envs/artrl.yaml"
    params:
        seed=W.rep_seed,
        digest=W.schedule_digest,
    shell:
        "python -m artrl.art.distill --rollouts {input:q} --dataset {wildcards.dataset:q}"
        " --seed {params.seed:q} --config-digest {params.digest:q} --method art_state"
        " --out {output.schedule:q} --policy-out {output.policy:q} > {log:q} 2>&1"


rule art_diagnostics:
    input:
        train_log="results/{rep}art/{dataset}/{name}/K{K}/train_log.csv",
        schedule="results/{rep}schedules/{dataset}/{name}/K{K}.json",
    output:
        "results/{rep}art/{dataset}/{name}/K{K}/diagnostics.png",
    log:
        "results/logs/{rep}art_diagnostics/{dataset}/{name}/K{K}.log",
    wildcard_constraints:
        name=ART_RL_RE,
    localrule: True
    conda:
        "../../envs/artrl.yaml"
    shell:
        "python -m artrl.report art-diagnostics --train-log {input.train_log:q}"
        " --schedule {input.schedule:q} --out {output:q} > {log:q} 2>&1"
