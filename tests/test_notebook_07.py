"""Notebook 07 (experiments), executed on the CPU with the offline model and a small budget."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_checked

from helpers.experiments import read_rows, task_score
from helpers.results import read_results

pytestmark = pytest.mark.notebooks


# Section 5 (QLoRA vs LoRA vs full) on the tiny model, as its COMPARE_MODEL comment offers: the offline model's 4-bit
# path is trained by tests/test_notebook_02_4bit.py already, and on a CPU it is the slowest cell here.
EXPERIMENTS_QUICK = {"MAX_STEPS": 3, "BATCH_SIZE": 4, "N_VAL_PER_TASK": 4, "N_EVAL_PER_TASK": 8,
                     "COMPARE_MODEL": "tiny-random-qwen2"}


@pytest.fixture(scope="module")
def experiments_run(tmp_path_factory):
    adapters = tmp_path_factory.mktemp("adapters07")
    notebook = run_checked("07_experiments", tmp_path_factory,
                    {"ADAPTERS_DIR": str(adapters), "RUN_NAME": "experiments", **EXPERIMENTS_QUICK})
    return adapters / "experiments", notebook


def test_experiment_results_file_is_complete(experiments_run):
    results_dir, _ = experiments_run
    rows = read_rows(results_dir / "results.jsonl")
    names = {(row["experiment"], row["name"]) for row in rows}
    assert names == {
        ("base", "untouched"), ("rank", "r=4"), ("rank", "r=16"),
        ("targets", "attention only, r=16"), ("targets", "attention + MLP, r=16"),
        ("method", "QLoRA (4-bit base)"), ("method", "LoRA (full-precision base)"),
        ("method", "full fine-tuning"), ("loss", "plain completion-only"), ("loss", "boundary x3, first 3"),
    }
    for row in rows:
        for field in ("trainable_params", "weights_mb", "peak_memory_mb", "eval_loss", "eval_curve",
                      "sentiment_accuracy", "qa_exact_match", "qa_f1", "tokens_seen"):
            assert field in row, (row["name"], field)
    summary = read_results(results_dir, "07_experiments")
    assert set(summary["plots"]) == {"rank", "targets", "method", "loss"}
    assert all(Path(path).stat().st_size > 10_000 for path in summary["plots"].values())
    assert any(line.startswith("Boundary-weighted loss") for line in summary["summary"])


def test_experiment_comparisons_hold(experiments_run):
    results_dir, _ = experiments_run
    rows = {(row["experiment"], row["name"]): row for row in read_rows(results_dir / "results.jsonl")}
    assert rows[("rank", "r=4")]["trainable_params"] * 4 == rows[("rank", "r=16")]["trainable_params"]
    assert (rows[("targets", "attention only, r=16")]["trainable_params"]
            < rows[("targets", "attention + MLP, r=16")]["trainable_params"])
    qlora, lora, full = (rows[("method", name)] for name in
                         ("QLoRA (4-bit base)", "LoRA (full-precision base)", "full fine-tuning"))
    assert qlora["weights_mb"] < lora["weights_mb"]
    assert full["trainable_params"] == full["total_params"] > lora["trainable_params"]
    base = rows[("base", "untouched")]
    assert task_score(rows[("rank", "r=16")]) > task_score(base)
