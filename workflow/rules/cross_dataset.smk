# The cross-data-set matrix (issue "methods"): schedules made on one data set (the 1-D
# Gaussian, digits 8x8, digits 16x16) evaluated on the others, from the W2 and FID cells the
# other rules write (config: cross_dataset).


rule cross_dataset_table:
    input:
        W.cross_cell_files,
    output:
        csv=report(
            CROSS_TABLE,
            caption="../report/cross_dataset.rst",
            category="Methods",
            labels={"type": "cross-data-set matrix (CSV)"},
        ),
        md=report(
            CROSS_TABLE.replace(".csv", ".md"),
            caption="../report/cross_dataset.rst",
            category="Methods",
            labels={"type": "cross-data-set matrix (Markdown)"},
        ),
    log:
        "results/logs/cross_dataset_table.log",
    localrule: True
    conda:
        "../../envs/artrl.yaml"
    params:
        cells=W.cross_cell_args,
        labels=W.cross_labels_json,
        compare=W.cross_compare_json,
        digest=W.cross_digest,
        seed=config["seed"],
    shell:
        "python -m artrl.report_matrix --cell {params.cells:q}"
        " --labels-json {params.labels:q} --compare-json {params.compare:q}"
        " --config-digest {params.digest:q}"
        " --seed {params.seed:q} --out {output.csv:q} > {log:q} 2>&1"
