# Schedules that need no training: baselines, the analytic ART optimum, and ART-RL transfers.
# Baselines and transfers take < 1 s: local rules (run by the main snakemake process, never
# submitted to a cluster).


rule baseline_schedule:
    output:
        "results/{rep}schedules/{dataset}/{name}/K{K}.json",
    log:
        "results/logs/{rep}baseline_schedule/{dataset}/{name}/K{K}.log",
    benchmark:
        SCHEDULE_BENCHMARK
    wildcard_constraints:
        name=BASELINE_RE,
    localrule: True
    conda:
        "../../envs/artrl.yaml"
    params:
        args=W.baseline_args,
        seed=W.rep_seed,
        digest=W.schedule_digest,
    shell:
        "python -m artrl.schedules {params.args:q} --K {wildcards.K:q}"
        " --dataset {wildcards.dataset:q} --seed {params.seed:q}"
        " --config-digest {params.digest:q} --out {output:q} > {log:q} 2>&1"


rule art_q_profile:
    input:
        W.model_files,
    output:
        "results/{rep}art/{dataset}/q_profile.npz",
    log:
        "results/logs/{rep}art_q_profile/{dataset}.log",
    benchmark:
        "results/benchmarks/{rep}art_q_profile/{dataset}.tsv"
    # its schedules (every K, two datasets) wait for it: run it before the sampling jobs
    priority: 5
    conda:
        "../../envs/artrl.yaml"
    threads: 1
    resources:
        gpu=gpu_request,
    params:
        dataset_config=W.analytic_json,
        heun=W.profile_args,
        seed=W.rep_seed,
        torch_threads=W.torch_threads("q_profile"),
        device=W.torch_device,
    shell:
        "python -m artrl.art.analytic"
        " --dataset-config {params.dataset_config:q} --dataset {wildcards.dataset:q}"
        " --seed {params.seed:q} --threads {params.torch_threads:q} --device {params.device:q}"
        " --save-profile {output:q}"
        " {params.heun:q} > {log:q} 2>&1"


rule art_analytic_schedule:
    input:
        "results/{rep}art/{dataset}/q_profile.npz",
    output:
        "results/{rep}schedules/{dataset}/{name}/K{K}.json",
    log:
        "results/logs/{rep}art_analytic_schedule/{dataset}/{name}/K{K}.log",
    benchmark:
        SCHEDULE_BENCHMARK
    wildcard_constraints:
        name=ANALYTIC_RE,
    localrule: True
    conda:
        "../../envs/artrl.yaml"
    params:
        dataset_config=W.analytic_schedule_json,
        seed=W.rep_seed,
        torch_threads=W.torch_threads("q_profile"),
        digest=W.schedule_digest,
    shell:
        "python -m artrl.art.analytic --dataset-config {params.dataset_config:q}"
        " --K {wildcards.K:q} --dataset {wildcards.dataset:q} --seed {params.seed:q}"
        " --threads {params.torch_threads:q}"
        " --profile {input:q} --config-digest {params.digest:q} --out {output:q} > {log:q} 2>&1"


rule transfer_schedule:
    input:
        W.transfer_input,
    output:
        "results/{rep}schedules/{dataset}/{name}/K{K}.json",
    log:
        "results/logs/{rep}transfer_schedule/{dataset}/{name}/K{K}.log",
    benchmark:
        SCHEDULE_BENCHMARK
    wildcard_constraints:
        name=TRANSFER_RE,
    localrule: True
    conda:
        "../../envs/artrl.yaml"
    params:
        args=W.transfer_args,
    shell:
        "python -m artrl.transfer --schedule {input:q} --K {wildcards.K:q} {params.args:q}"
        " --out {output:q} > {log:q} 2>&1"


rule gits_costs:
    input:
        W.model_files,
    output:
        "results/{rep}methods/{dataset}/{name}/gits_costs.npz",
    log:
        "results/logs/{rep}gits_costs/{dataset}/{name}.log",
    benchmark:
        "results/benchmarks/{rep}gits_costs/{dataset}/{name}.tsv"
    wildcard_constraints:
        name=PRECOMPUTE_RE,
    conda:
        "../../envs/artrl.yaml"
    resources:
        gpu=gpu_request,
    params:
        dataset_config=W.method_json,
        args=W.method_args,
        seed=W.rep_seed,
        torch_threads=W.torch_threads("methods"),
        device=W.torch_device,
    shell:
        "python -m artrl.methods.gits --dataset-config {params.dataset_config:q} {params.args:q}"
        " --seed {params.seed:q} --threads {params.torch_threads:q} --device {params.device:q}"
        " --no-progress --save-costs {output:q}"
        " > {log:q} 2>&1"


rule method_schedule:
    input:
        unpack(W.method_inputs),
    output:
        "results/{rep}schedules/{dataset}/{name}/K{K}.json",
    log:
        "results/logs/{rep}method_schedule/{dataset}/{name}/K{K}.log",
    benchmark:
        SCHEDULE_BENCHMARK
    wildcard_constraints:
        name=METHOD_RE,
    conda:
        "../../envs/artrl.yaml"
    resources:
        gpu=gpu_request,
    params:
        module=W.method_module,
        dataset_config=W.method_json,
        args=W.method_args,
        costs=W.gits_costs_args,
        seed=W.rep_seed,
        torch_threads=W.torch_threads("methods"),
        digest=W.schedule_digest,
        device=W.torch_device,
    shell:
        "python -m artrl.methods.{params.module:q} --dataset-config {params.dataset_config:q}"
        " --K {wildcards.K:q} {params.args:q} {params.costs:q} --seed {params.seed:q}"
        " --config-digest {params.digest:q} --threads {params.torch_threads:q}"
        " --device {params.device:q} --no-progress --out {output:q} > {log:q} 2>&1"


# A method a plugin registered (artrl.registry, ARTRL_PLUGINS): its own module, with the
# command line of artrl.methods.common (method_schedule's template stays as it was, so that
# the schedules made by it are not rerun for a changed command).
rule plugin_method_schedule:
    input:
        unpack(W.method_inputs),
    output:
        "results/{rep}schedules/{dataset}/{name}/K{K}.json",
    log:
        "results/logs/{rep}method_schedule/{dataset}/{name}/K{K}.log",
    benchmark:
        SCHEDULE_BENCHMARK
    wildcard_constraints:
        name=PLUGIN_METHOD_RE,
    conda:
        "../../envs/artrl.yaml"
    resources:
        gpu=gpu_request,
    params:
        module=W.plugin_module,
        dataset_config=W.method_json,
        args=W.method_args,
        seed=W.rep_seed,
        torch_threads=W.torch_threads("methods"),
        digest=W.schedule_digest,
        device=W.torch_device,
    shell:
        "python -m {params.module:q} --dataset-config {params.dataset_config:q}"
        " --K {wildcards.K:q} {params.args:q} --seed {params.seed:q}"
        " --config-digest {params.digest:q} --threads {params.torch_threads:q}"
        " --device {params.device:q} --no-progress --out {output:q} > {log:q} 2>&1"


rule schedule_costs:
    input:
        unpack(W.cost_inputs),
    output:
        "results/costs/{dataset}_{table}.csv",
    log:
        "results/logs/schedule_costs/{dataset}_{table}.log",
    wildcard_constraints:
        table=COST_TABLE_RE,
    localrule: True
    conda:
        "../../envs/artrl.yaml"
    params:
        entries=W.cost_entries,
    shell:
        "python -m artrl.costs {params.entries:q} --out {output:q} > {log:q} 2>&1"


rule sigma_k_figure:
    input:
        W.sigma_k_files,
    output:
        report(
            "results/figures/{dataset}_sigmas_K{K}.png",
            caption="../report/sigma_k_figure.rst",
            category="Methods",
            labels={"dataset": "{dataset}", "type": "sigma grids at K={K}"},
        ),
    log:
        "results/logs/sigma_k_figure/{dataset}_K{K}.log",
    localrule: True
    conda:
        "../../envs/artrl.yaml"
    params:
        entries=W.sigma_k_args,
        labels=W.labels_json,
    shell:
        "python -m artrl.report_images sigma-figure {params.entries:q}"
        " --labels-json {params.labels:q} --title 'Every method at K={wildcards.K:q}'"
        " --out {output:q} > {log:q} 2>&1"
