"""The logic of the Snakemake workflow (issue 15): which files each rule reads and writes, its
command-line arguments, the provenance digests and the config checks, as pure functions of the
config dict bound in :class:`Workflow`, so that unit tests reach them without a Snakemake
process. ``workflow/rules/common.smk`` is the glue: ``W = Workflow(config)``, and the rules call
``W.<method>`` with their wildcards (any object with the attributes).

Modules: :mod:`.config` (access, constants, wildcard regexes), :mod:`.checks` (cross-field
checks), :mod:`.provenance` (digests), :mod:`.args` (params), :mod:`.paths` (file names and
input functions), :mod:`.costs` (the cost column), :mod:`.targets` (targets of the top rules).
"""

from artrl.workflow.args import Args, art_out_dir, cli_options, cuda_available, gits_costs_args
from artrl.workflow.args import theta_args as _theta_args
from artrl.workflow.checks import Checks
from artrl.workflow.config import ConfigAccess, ConfigError, alternatives
from artrl.workflow.costs import Costs
from artrl.workflow.paths import (
    CROSS_TABLE,
    LOCK_FILE,
    SCHEDULE_BENCHMARK,
    Inputs,
    fid_file,
    stale_table_check,
    table_stem,
)
from artrl.workflow.provenance import Provenance
from artrl.workflow.targets import Targets

__all__ = [
    "CROSS_TABLE",
    "LOCK_FILE",
    "SCHEDULE_BENCHMARK",
    "ConfigError",
    "Workflow",
    "alternatives",
    "check",
    "cli_options",
    "cuda_available",
    "fid_file",
    "stale_table_check",
    "table_stem",
]


class Workflow(ConfigAccess, Checks, Provenance, Args, Inputs, Costs, Targets):
    """The workflow's view of one config dict: ``Workflow(config).fid_cells("digits", "heun")``.

    Methods taking ``wildcards`` are the rules' input and params functions.
    """

    # functions of the wildcards (and input/output) alone, for the rules
    art_out_dir = staticmethod(art_out_dir)
    gits_costs_args = staticmethod(gits_costs_args)
    theta_args = staticmethod(_theta_args)


def check(config):
    """The cross-field checks of a config the schema validated: raises :class:`ConfigError`
    (the registry names are checked before the schema: ``Workflow(config).check_registry_names``).
    """
    w = Workflow(config)
    w.check_config()
    w.check_cross_dataset()
