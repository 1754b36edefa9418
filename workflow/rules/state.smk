# When does the state matter? (issue 17; docs/state_dependent.md): per 1-D mixture problem and
# replicate, ART-RL at each K, its distilled grid, ART-analytic, the state-dependent sampler and
# closed-form baselines (python -m artrl.state_compare); then the problem's table and figures
# over the replicates (python -m artrl.report.state). Config: state_dependent.


rule state_compare:
    output:
        compare="results/{rep}state/{problem}/compare.json",
        policies=directory("results/{rep}state/{problem}/policies"),
    log:
        "results/logs/{rep}state_compare/{problem}.log",
    benchmark:
        "results/benchmarks/{rep}state_compare/{problem}.tsv"
    wildcard_constraints:
        problem=STATE_PROBLEM_RE,
    conda:
        "../../envs/artrl.yaml"
    threads: 1
    params:
        problem_config=W.state_problem_json,
        args=W.state_args,
        seed=W.rep_seed,
        torch_threads=W.torch_threads("state"),
    shell:
        "python -m artrl.state_compare --problem-config {params.problem_config:q}"
        " --problem {wildcards.problem:q} {params.args:q} --seed {params.seed:q}"
        " --threads {params.torch_threads:q} --policy-dir {output.policies:q}"
        " --out {output.compare:q} > {log:q} 2>&1"


rule state_table:
    input:
        W.state_compare_files,
    output:
        csv=report(
            "results/tables/{problem}_state.csv",
            caption="../report/state.rst",
            category="State-dependent",
            labels={"problem": "{problem}", "type": "table (CSV)"},
        ),
        md=report(
            "results/tables/{problem}_state.md",
            caption="../report/state.rst",
            category="State-dependent",
            labels={"problem": "{problem}", "type": "table (Markdown)"},
        ),
        w2=report(
            "results/figures/{problem}_state_w2.png",
            caption="../report/state.rst",
            category="State-dependent",
            labels={"problem": "{problem}", "type": "W2 against K"},
        ),
        paths=report(
            "results/figures/{problem}_state_paths.png",
            caption="../report/state.rst",
            category="State-dependent",
            labels={"problem": "{problem}", "type": "per-sample clocks"},
        ),
    log:
        "results/logs/state_table/{problem}.log",
    wildcard_constraints:
        problem=STATE_PROBLEM_RE,
    localrule: True
    conda:
        "../../envs/artrl.yaml"
    params:
        label=W.state_label,
        digest=W.state_digest,
        seed=config["seed"],
    shell:
        "python -m artrl.report.state --compare {input:q} --label {params.label:q}"
        " --config-digest {params.digest:q}"
        " --seed {params.seed:q} --out-csv {output.csv:q} --out-md {output.md:q}"
        " --out-w2-figure {output.w2:q} --out-paths-figure {output.paths:q} > {log:q} 2>&1"
