# artrl: ART-RL timestep schedules for diffusion sampling (arXiv 2601.18681) as a Snakemake
# workflow. Run from the repository root, e.g. `make demo` or
#   snakemake --cores all --workflow-profile workflow/profiles/default demo
# Outputs go to results/ (logs in results/logs/, benchmarks in results/benchmarks/).

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

min_version("9.0")


# Snakemake's own message for a malformed config file names neither the file nor the line
try:
    with open("config.yaml", encoding="utf-8") as _config_text:
        yaml.safe_load(_config_text)
except FileNotFoundError:
    pass
except yaml.YAMLError as e:
    raise WorkflowError(f"config.yaml: not valid YAML: {e}") from None


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


# before the rules: Snakemake applies global constraints to the rules defined after them ({rep}
# may be empty, "" for replicate 0, which only its constraint allows)
wildcard_constraints:
    dataset=DATASET_RE,
    K=r"[1-9][0-9]*",
    rep=REP_RE,


include: "workflow/rules/schedules.smk"
include: "workflow/rules/art.smk"
include: "workflow/rules/gauss1d.smk"
include: "workflow/rules/images.smk"
include: "workflow/rules/edm.smk"
include: "workflow/rules/cross_dataset.smk"
include: "workflow/rules/state.smk"


rule all:
    default_target: True
    input:
        W.w2_targets(),
        W.image_targets(),
    localrule: True


rule demo:
    input:
        W.demo_targets(),
    localrule: True


rule compare:
    input:
        W.compare_targets(),
    localrule: True


rule demo_digits:
    input:
        W.demo_digits_targets(),
    localrule: True
