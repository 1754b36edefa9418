# The glue between the config and the rules (no rules in this file). The logic (config access,
# checks, paths, arguments, digests, targets) is the package artrl.workflow (issue 15), pure
# functions of the config dict that tests/test_workflow_logic.py checks without Snakemake; the
# rules call the methods of W = Workflow(config) with their wildcards.

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

# artrl must be importable where snakemake itself runs (the Makefile runs it from the venv
# artrl is installed in; with --sdm conda, `pip install -e .` there too): artrl.registry is
# the one list of schedule methods and solvers (issue 15), with those of ARTRL_PLUGINS.
from artrl.workflow import (
    CROSS_TABLE,
    LOCK_FILE,
    SCHEDULE_BENCHMARK,
    ConfigError,
    Workflow,
    cuda_available,
)

W = Workflow(config)

# every method and solver name is one of artrl.registry (the schema only checks the name
# pattern, so that a plugin's names pass): checked before validate()
try:
    W.check_registry_names()
except ConfigError as e:
    raise WorkflowError(str(e)) from None
validate(config, schema="../schemas/config.schema.yaml")
# the cross-field checks the JSON schema cannot express, before any rule is built
try:
    W.check_config()
    W.check_cross_dataset()
except ConfigError as e:
    raise WorkflowError(str(e)) from None


# Wildcard constraints (regexes of the names each rule may build; artrl.workflow.config)
_RE = W.regexes()
DATASET_RE = _RE["DATASET_RE"]
REP_RE = _RE["REP_RE"]
MODEL_REP_RE = _RE["MODEL_REP_RE"]
IMAGE_DATASET_RE = _RE["IMAGE_DATASET_RE"]
UNET_DATASET_RE = _RE["UNET_DATASET_RE"]
DIGITS_FID_RE = _RE["DIGITS_FID_RE"]
SOLVER_RE = _RE["SOLVER_RE"]
TABLE_RE = _RE["TABLE_RE"]
FIGURE_RE = _RE["FIGURE_RE"]
W2_DATASET_RE = _RE["W2_DATASET_RE"]
COST_TABLE_RE = _RE["COST_TABLE_RE"]
ALL_NAMES_RE = _RE["ALL_NAMES_RE"]
BASELINE_RE = _RE["BASELINE_RE"]
ANALYTIC_RE = _RE["ANALYTIC_RE"]
ART_RL_RE = _RE["ART_RL_RE"]
TRANSFER_RE = _RE["TRANSFER_RE"]
ART_STATE_RE = _RE["ART_STATE_RE"]
METHOD_RE = _RE["METHOD_RE"]
PLUGIN_METHOD_RE = _RE["PLUGIN_METHOD_RE"]
PRECOMPUTE_RE = _RE["PRECOMPUTE_RE"]
DOWNLOAD_RE = _RE["DOWNLOAD_RE"]
STATE_PROBLEM_RE = _RE["STATE_PROBLEM_RE"]


def gpu_request(wildcards):
    """The `gpu` resource of a network job (artrl.workflow: Workflow.gpu_request), which needs
    this Snakemake process: an EDM job on a machine without CUDA, running locally, stops the
    whole run here, before any job starts."""
    try:
        return W.gpu_request(wildcards, workflow.local_exec, cuda_available)
    except ConfigError as e:
        raise WorkflowError(str(e)) from None
