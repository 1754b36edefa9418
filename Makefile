# artrl: make install | demo | compare | test | lint | gpu-smoke
# The venv is created once; $(VENV)/.installed records that it is up to date with pyproject.toml.

VENV ?= .venv
PYTHON ?= python3
CORES ?= all
PROFILE ?= workflow/profiles/default
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# rules call `python -m artrl...`: put the venv first on PATH so that is the venv's python
RUN := PATH="$(abspath $(BIN)):$$PATH"

.PHONY: install demo demo-digits compare test lint gpu-smoke

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -e '.[fid,workflow,dev]'
	touch $@

# the core rows only (core_only: the `extra: true` comparison rows are left out): < 25 min
demo: install
	$(RUN) $(BIN)/snakemake --cores $(CORES) --workflow-profile $(PROFILE) demo --config core_only=True

# every method on the embedded data sets (issue "methods"): the same tables with all rows, each
# cell mean ± std over REPLICATES replicates (issue 16; the score model is shared), and the
# state-dependent comparison on 1-D mixtures (issue 17, docs/state_dependent.md)
REPLICATES ?= 3
compare: install
	$(RUN) $(BIN)/snakemake --cores $(CORES) --workflow-profile $(PROFILE) compare --config replicates=$(REPLICATES)

demo-digits: install
	$(RUN) $(BIN)/snakemake --cores $(CORES) --workflow-profile $(PROFILE) demo_digits --config core_only=True

# the test files run side by side, one file per worker (their module fixtures are built once);
# TEST_WORKERS=0 runs them in one process
TEST_WORKERS ?= auto
test: install
	$(RUN) $(BIN)/python -m pytest -q --durations=20 -n $(TEST_WORKERS) --dist loadfile

# a few minutes on one GPU: the EDM/ART-RL/sampling/FID path end to end on a random-weight
# network of CIFAR-10 size, timings and projected GPU-hours (python -m artrl.smoke --help)
gpu-smoke: install
	$(RUN) $(BIN)/python -m artrl.smoke --device cuda --out results/smoke

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(RUN) $(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/rules/*.smk
