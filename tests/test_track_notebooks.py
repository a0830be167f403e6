"""Notebooks 06 (instruction tuning) and 07 (experiments), executed on the CPU with the offline model.

Small budgets keep both within a few minutes; the notebooks' own defaults (and GRID="full") are larger.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest

from helpers.experiments import read_rows, task_score
from helpers.quiet import unexpected_stderr
from helpers.results import read_results
from helpers.run_notebooks import execute_notebook

pytestmark = pytest.mark.notebooks
NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
FAKE_TOKEN = "hf_FakeTokenForTheTrackTests0123456789"


def _run(name: str, tmp_path_factory, parameters: dict) -> Path:
    executed = tmp_path_factory.mktemp(f"executed_{name[:2]}")
    saved = os.environ.get("HF_TOKEN")
    os.environ["HF_TOKEN"] = FAKE_TOKEN
    try:
        execute_notebook(NOTEBOOKS / f"{name}.ipynb", executed, parameters)
    finally:
        if saved is None:
            os.environ.pop("HF_TOKEN", None)
        else:
            os.environ["HF_TOKEN"] = saved
    text = (executed / f"{name}.ipynb").read_text(encoding="utf-8")
    assert FAKE_TOKEN not in text, "a token must never reach a notebook's output"
    noise = unexpected_stderr(json.loads(text))
    assert not noise, f"{name} printed warnings a learner cannot act on (fix, or silence in helpers/quiet.py): {noise}"
    return executed / f"{name}.ipynb"


@pytest.fixture(scope="module")
def instruction_run(tmp_path_factory):
    adapters = tmp_path_factory.mktemp("adapters06")
    notebook = _run("06_instruction_tuning", tmp_path_factory,
                    {"ADAPTERS_DIR": str(adapters), "MAX_STEPS": 20, "N_VAL_LOSS": 8})
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


EXPERIMENTS_QUICK = {"MAX_STEPS": 3, "BATCH_SIZE": 4, "N_VAL_PER_TASK": 4, "N_EVAL_PER_TASK": 8}


@pytest.fixture(scope="module")
def experiments_run(tmp_path_factory):
    adapters = tmp_path_factory.mktemp("adapters07")
    notebook = _run("07_experiments", tmp_path_factory,
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


def test_scale_out_trains_from_the_yaml_with_one_and_two_processes_and_merges_in_one(tmp_path_factory):
    """Notebook 08 on the tiny model: `trl sft` from configs/python_style.yaml, then two CPU processes (the
    parameter the test turns on), then the adapter merged in this one process."""
    adapters = tmp_path_factory.mktemp("adapters08")
    _run("08_scale_out", tmp_path_factory, {"ADAPTERS_DIR": str(adapters), "MODEL": "tiny-random-qwen2",
                                            "MAX_STEPS": 2, "BATCH_SIZE": 2, "TWO_PROCESSES": True})
    run_dir = adapters / "python_style_cli"
    r = read_results(run_dir, "08_scale_out")
    train_rows = r["train_rows"]
    assert train_rows > 300 and r["validation_rows"] == 24
    assert [line for line in (run_dir / "data" / "train.jsonl").read_text().splitlines() if line].__len__() == train_rows
    one = r["one_process"]
    assert Path(one["command"][0]).name == "trl" and one["command"][1:3] == ["sft", "--config"], "trl sft on a CPU"
    assert (one["steps"], one["per_device_batch"]) == (2, 2)
    assert (run_dir / "one_process" / "adapter_model.safetensors").exists()
    ranks = r["two_processes"]["ranks"]
    assert [s["rank"] for s in ranks] == [0, 1] and [s["wrote_adapter"] for s in ranks] == [True, False]
    assert all(s["global_batch"] == 2 * s["per_device_batch"] == 4 and s["steps"] == 2 for s in ranks)
    shares = [s["examples_per_epoch_this_process"] for s in ranks]
    assert shares[0] == shares[1] and train_rows <= sum(shares) < train_rows + 4, "each process gets half of an epoch"
    assert ranks[0]["first_example_this_process"] != ranks[1]["first_example_this_process"]
    assert (run_dir / "two_processes" / "adapter_model.safetensors").exists()
    assert r["merge_max_logit_difference"] < 1e-3, "the merged model answers as the adapter model"
    outcomes = {row["setup"]: row["outcome"] for row in r["rules"]}
    assert outcomes["8 x A100, FSDP + QLoRA, paged 8-bit AdamW"].startswith("stops:") and "`optim`" in outcomes[
        "8 x A100, FSDP + QLoRA, paged 8-bit AdamW"]
    assert [row["4-bit storage"] for row in r["rules"][1:3]] == ["float32", "bfloat16"]
