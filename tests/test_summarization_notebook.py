"""Notebook 05 on the CPU with the offline model, and the eval-only command on its adapter."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers.models import PROJECT_ROOT
from helpers.quiet import unexpected_stderr
from helpers.results import read_results
from helpers.run_notebooks import course_notebooks, execute_notebook

pytestmark = pytest.mark.notebooks
QUICK = {"DATA_SOURCE": "bundled", "N_TRAIN": 120, "N_VAL": 8, "N_TEST": 6, "MAX_STEPS": 12, "BATCH_SIZE": 4,
         "MAX_NEW_TOKENS": 64, "BERTSCORE_MODEL": "offline", "CHUNK_TOKENS": 200}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    adapters = tmp_path_factory.mktemp("adapters")
    notebook = next(n for n in course_notebooks() if n.stem == "05_summarization")
    executed = execute_notebook(notebook, tmp_path_factory.mktemp("executed"),
                                {"ADAPTERS_DIR": str(adapters), "RUN_NAME": "news", **QUICK})
    noise = unexpected_stderr(json.loads(executed.read_text(encoding="utf-8")))
    assert not noise, f"05 printed warnings a learner cannot act on (fix, or silence in helpers/quiet.py): {noise}"
    return adapters / "news", read_results(adapters / "news", "05_summarization")


def test_adapter_beats_the_base_model_on_rouge_l(run):
    _, results = run
    assert results["rougeL_adapter"] > results["rougeL_base"]
    # the headline's baseline is the fair one: the untouched model in its own chat template
    assert results["rougeL_base"] == results["scores"]["base, its chat template"]["rougeL"]
    assert results["rougeL_base_inst"] == results["scores"]["base, inst_summarize"]["rougeL"]
    assert results["eval_loss_after"] < results["eval_loss_before"]


def test_generated_length_moves_toward_the_reference(run):
    _, results = run
    base = results["scores"]["base, its chat template"]
    adapter = results["scores"]["adapter, inst_summarize"]
    reference = adapter["avg_reference_words"]
    assert abs(adapter["avg_generated_words"] - reference) < abs(base["avg_generated_words"] - reference)


def test_metrics_are_complete_and_labelled(run):
    _, results = run
    for scores in results["scores"].values():
        for key in ("rouge1", "rouge2", "rougeL", "rougeLsum", "bertscore_f1", "avg_generated_words",
                    "avg_reference_words"):
            assert isinstance(scores[key], float), key
        assert "MiniLM" in scores["bertscore_model"]
    assert results["data"] == "bundled-news_summaries"
    assert results["long_document"]["chunks"] > 1 and results["long_document"]["rounds"] >= 1


def test_eval_only_command_reproduces_the_notebook(run, tmp_path):
    run_dir, results = run
    output = tmp_path / "eval.json"
    finished = subprocess.run(
        [sys.executable, "-m", "helpers.evaluate_summaries", "--model", results["preset"], "--adapter", str(run_dir / "final"),
         "--n", str(QUICK["N_TEST"]), "--source", "bundled", "--max-new-tokens", str(QUICK["MAX_NEW_TOKENS"]),
         "--bertscore-model", "offline", "--output", str(output)],
        capture_output=True, text=True, cwd=PROJECT_ROOT,  # `-m helpers...` as typed in the project root
    )
    assert finished.returncode == 0, (f"the eval-only command exited {finished.returncode}:\n"
                                      f"{finished.stdout[-3000:]}\n{finished.stderr[-6000:]}")
    metrics = json.loads(output.read_text())
    assert metrics["predictions"] == results["adapter_summaries"]
    notebook_scores = results["scores"]["adapter, inst_summarize"]
    for key in ("rouge1", "rouge2", "rougeL", "bertscore_f1"):
        assert metrics[key] == pytest.approx(notebook_scores[key], abs=1e-6), key
