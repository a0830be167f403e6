# One-command setup, run and test. Works on a fresh Linux machine with Python 3.11+.
#   make run   : set up, then execute the notebooks headless and print the results table
#                (make run FAST=1: notebooks 00-04 only, on a short workshop budget)
#   make test  : set up, then run the whole test suite
#   make lab   : set up, then open JupyterLab on the notebooks
#   make gpu-check : on a CUDA machine, the GPU code paths under the native and a forced T4 profile
# TORCH is what pip is asked for when torch is not importable yet (Colab and Kaggle already have it).
# The plain name gets the default build (CUDA on Linux, several GB); on a CPU-only machine
#   make setup TORCH="torch --index-url https://download.pytorch.org/whl/cpu"
# gets the CPU build instead. That line is not tested (this project's test machines cannot reach that
# index); see docs/setup.md, "Which torch".

PYTHON ?= python3
TORCH ?= torch
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test lab lint benchmark gpu-check clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-local.txt requirements-dev.txt requirements-export.txt requirements-offline.txt pyproject.toml
	@$(PYTHON) scripts/check_disk.py .
	@if [ ! -x $(BIN)/python ]; then \
		if $(PYTHON) -c "import torch" 2>/dev/null; then \
			echo "torch found in $(PYTHON): the venv will see it (--system-site-packages)"; \
			$(PYTHON) -m venv --system-site-packages $(VENV); \
		else \
			$(PYTHON) -m venv $(VENV); \
		fi; \
	fi
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -r requirements.txt -r requirements-local.txt -r requirements-dev.txt
	@$(BIN)/python -c "import llama_cpp" 2>/dev/null || echo "Building llama.cpp's runtime (llama-cpp-python) from source for notebook 10: several minutes, once (pip keeps the wheel)"
	CMAKE_ARGS="$$($(BIN)/python -c 'from helpers.export import llama_cpp_cmake_args; print(llama_cpp_cmake_args())')" \
		$(BIN)/python -m pip install -q -r requirements-export.txt
	$(BIN)/python -m pip install -q --no-deps -r requirements-offline.txt
	$(BIN)/python -m helpers.models provision
	touch $(STAMP)

run: setup
	$(BIN)/python -m helpers.run_notebooks $(if $(FAST),--fast)

# pytest exits 5 when it collects no test: that is a failure here, not a pass.
test: setup
	@$(BIN)/python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

lab: setup
	$(BIN)/jupyter lab notebooks/

lint: setup
	$(BIN)/ruff check helpers tests benchmarks notebooks data scripts

benchmark: setup
	$(BIN)/python -m benchmarks.precision_speed
	$(BIN)/python -m benchmarks.train_speed
	$(BIN)/python -m benchmarks.batched_generation

# The GPU code paths on any CUDA machine, no hub needed: a printed table (see benchmarks/gpu_check.py).
gpu-check: setup
	$(BIN)/python -m benchmarks.gpu_check --output gpu_check.json

clean:
	rm -rf runs .pytest_cache
