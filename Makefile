# Thin aliases over the project's Python entry points. `make book` and `make test` do everything.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Raw data: FER_DATA if set, else ../shared/data when it exists, else data/raw (see fer_study/core/paths.py).
FER_DATA ?= $(if $(wildcard ../shared/data/*.zip),$(abspath ../shared/data),$(CURDIR)/data/raw)
export FER_DATA
TIER ?= cpu

.PHONY: venv browser data test test-fast book run train sweep full-tier sync lint clean-book

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-nodeps.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

# Build (once) and validate the HDF5 caches of the base datasets.
data: venv
	$(PY) -m fer_study.data

# Debian's headless Chromium for the browser check of the built book (tests/test_notebooks_browser.py);
# where it cannot be installed (no apt-get, no root) that test is skipped and says why.
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; } \
		|| echo "chromium could not be installed: the browser check of the book will be skipped"

# Lint, then everything, the slow model tests included, on two workers.
# PYTEST_ARGS: extra pytest options (CI: --durations=20).
PYTEST_ARGS ?=
# Two workers (pytest-xdist), one per core; the tests sharing the smoke book run on one worker (tests/conftest.py).
test: venv browser
	$(VENV)/bin/ruff check fer_study tests
	$(PY) -m pytest -q -n 2 $(PYTEST_ARGS)

test-fast: venv
	$(PY) -m pytest -q -m "not slow"

# Execute every notebook with params/$(TIER)/ (committed runs are loaded, not retrained), then render.
book: venv data
	$(PY) -m fer_study.book build --tier $(TIER)

# One notebook: make run NB=01_dataset TIER=smoke
run: venv
	$(PY) -m fer_study.book run $(NB) --tier $(TIER)

# One training run: make train CONFIG=params/cpu/runs/vgg_cpu.yaml [ARGS=--resume]
train: venv
	$(PY) -m fer_study.train $(CONFIG) $(ARGS)

# Many runs at once, on an embedded local Ray (a cluster: ARGS='--address HOST:6379'; see the README):
# make sweep CONFIGS='params/cpu/runs/*.yaml' [ARGS='--seeds 0,1,2']
sweep: venv
	$(PY) -m fer_study.apps.sweep $(CONFIGS) $(ARGS)

# The full tier on a lent GPU machine, which has its own python3 with torch and no Ray or registry (so no venv
# prerequisite): the runs that fit in BUDGET seconds, packed into $(OUT) (python -m fer_study.apps.sweep.full_tier
# unpack writes them into results/runs/ here).
BUDGET ?= 450
full-tier:
	$(if $(wildcard $(PY)),$(PY),python3) -m fer_study.apps.sweep.full_tier run --time-budget $(BUDGET) \
		$(if $(OUT),--pack $(OUT)) $(ARGS)

sync: venv
	$(VENV)/bin/jupytext --sync notebooks/[0-9][0-9]_*.py

lint: venv
	$(VENV)/bin/ruff check fer_study tests

clean-book:
	rm -rf book/_build book/executed
