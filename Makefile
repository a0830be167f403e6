# One-command setup, run and test. Works on a fresh Linux machine with Python 3.11+.
#   make run   : set up, then execute the notebooks headless and print the results table
#   make test  : set up, then run the whole test suite
#   make lab   : set up, then open JupyterLab on the notebooks
# TORCH is what pip installs when torch is not importable yet (Colab and Kaggle already have it;
# on a CPU-only machine a CPU build such as TORCH=torch==2.13.0 saves gigabytes).

PYTHON ?= python3
TORCH ?= torch
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test lab lint benchmark clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt requirements-offline.txt pyproject.toml
	@if [ ! -x $(BIN)/python ]; then \
		if $(PYTHON) -c "import torch" 2>/dev/null; then \
			echo "torch found in $(PYTHON): the venv will see it (--system-site-packages)"; \
			$(PYTHON) -m venv --system-site-packages $(VENV); \
		else \
			$(PYTHON) -m venv $(VENV); \
		fi; \
	fi
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -r requirements.txt -r requirements-dev.txt
	$(BIN)/python -m pip install -q --no-deps -r requirements-offline.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	$(BIN)/python -m helpers.models provision
	touch $(STAMP)

run: setup
	$(BIN)/python -m helpers.run_notebooks

# pytest exits 5 when it collects no test: that is a failure here, not a pass.
test: setup
	@$(BIN)/python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

lab: setup
	$(BIN)/jupyter lab notebooks/

lint: setup
	$(BIN)/ruff check helpers tests benchmarks notebooks data

benchmark: setup
	$(BIN)/python benchmarks/precision_speed.py

clean:
	rm -rf runs .pytest_cache
