"""Notebook 06 (instruction tuning from JSONL), executed on the CPU with the offline model and a small budget."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from conftest import run_checked

from helpers.results import read_results

pytestmark = pytest.mark.notebooks


@pytest.fixture(scope="module")
def instruction_run(tmp_path_factory):
    adapters = tmp_path_factory.mktemp("adapters06")
    notebook = run_checked("06_instruction_tuning", tmp_path_factory,
                    {"ADAPTERS_DIR": str(adapters), "MAX_STEPS": 16, "N_VAL_LOSS": 8})
    return adapters / "instructions", notebook


def test_instruction_tuning_compares_both_target_choices(instruction_run):
    results = read_results(instruction_run[0], "06_instruction_tuning")
    qv, every = results["variants"]["q_proj + v_proj"], results["variants"]["all linear layers"]
    # SmolLM2-135M: 30 layers, q_proj 576->576, v_proj 576->192; LoRA adds r * (in + out) to each, r = 16.
    assert qv["trainable_params"] == 30 * 16 * ((576 + 576) + (576 + 192))
    assert qv["trainable_params"] < every["trainable_params"]
    assert qv["total_params"] < every["total_params"]  # the adapters count in the total too
    assert results["n_compare"] == 38
    for variant in (qv, every):
        assert variant["eval_loss"] < variant["eval_loss_before"]
        assert len(variant["answers"]) == 38
    best = results["variants"][results["best"]]
    # the headline's baseline is the fair one: the untouched model in its own chat template (both rows are kept)
    assert results["exact_match_base"] == results["base"]["exact_match"]
    assert len(results["base_answers"]) == len(results["base_alpaca_answers"]) == 38
    assert results["base_answers"] != results["base_alpaca_answers"]
    for base in (results["base"], results["base_alpaca"]):
        assert best["scores"]["exact_match"] > base["exact_match"] + 15
        assert best["scores"]["f1"] > base["f1"]


def test_instruction_adapter_is_saved_with_tokenizer_and_zipped(instruction_run):
    results = read_results(instruction_run[0], "06_instruction_tuning")
    final = Path(results["final_adapter"])
    assert (final / "adapter_model.safetensors").exists() and (final / "tokenizer.json").exists()
    with zipfile.ZipFile(results["zip"]) as archive:
        names = set(archive.namelist())
    assert {"adapter_model.safetensors", "adapter_config.json", "tokenizer.json"} <= names
    assert results["reloaded_identical"] == results["reloaded_checked"] == 4


def test_instruction_notebook_shows_the_bad_file_error(instruction_run):
    cells = json.loads(instruction_run[1].read_text(encoding="utf-8"))["cells"]
    printed = "".join("".join(output.get("text", "")) for cell in cells for output in cell.get("outputs", []))
    assert "3 problem(s) in" in printed
    assert "train.jsonl:2: field 'input' is missing" in printed
    assert "train.jsonl:3: field 'input' must be a string, got int" in printed
    assert "train.jsonl:4: field 'output' is empty" in printed
