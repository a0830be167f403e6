"""Notebook 02's 4-bit QLoRA path on the CPU, in a file of its own (it does not read the core walk), so that a
test worker other than the walk's can take it."""

from __future__ import annotations

import json
import math

import pytest

from helpers.run_notebooks import course_notebooks, execute_notebook

pytestmark = pytest.mark.notebooks


def test_sft_notebook_runs_the_4bit_qlora_path_on_cpu(tmp_path):
    notebook = next(n for n in course_notebooks() if n.stem == "02_completion_only_sft")
    execute_notebook(notebook, tmp_path / "executed", {
        "ADAPTERS_DIR": str(tmp_path), "RUN_NAME": "qlora_cpu", "LOAD_IN_4BIT": True, "MAX_STEPS": 2,
        "BATCH_SIZE": 4, "N_VAL": 4, "N_PEEK": 0,
    })
    results = json.loads((tmp_path / "qlora_cpu" / "02_completion_only_sft_results.json").read_text())
    assert results["load_in_4bit"] is True
    assert results["steps"] == 2 and math.isfinite(results["train_loss"])
