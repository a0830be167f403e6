"""Notebook 08 (scale-out), opened alone as on Colab or Kaggle, on the tiny model with its two-process cell on."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from conftest import TRACK_TOKEN, run_alone

from helpers.models import cache_dir
from helpers.quiet import unexpected_stderr
from helpers.results import read_results
from helpers.run_notebooks import NOTEBOOK_DIR

pytestmark = pytest.mark.notebooks


def test_scale_out_alone_trains_from_the_clones_yaml_with_one_and_two_processes_and_merges(tmp_path, course_remote,
                                                                                          monkeypatch):
    """08 in an empty folder (it needs no earlier notebook: it exports 02's data itself): `trl sft` from the cloned
    course's configs/python_style.yaml, then two CPU processes (the parameter the test turns on), then the
    adapter merged in this one process."""
    monkeypatch.setenv("QLORA_COURSE_REPO", str(course_remote))
    monkeypatch.setenv("QLORA_COURSE_CACHE", str(cache_dir()))
    monkeypatch.setenv("HF_TOKEN", TRACK_TOKEN)
    executed = run_alone("08_scale_out", tmp_path, {"MODEL": "tiny-random-qwen2", "MAX_STEPS": 2, "BATCH_SIZE": 2,
                                                    "TWO_PROCESSES": True})
    text = executed.read_text(encoding="utf-8")
    assert TRACK_TOKEN not in text, "a token must never reach a notebook's output"
    assert not unexpected_stderr(json.loads(text)), "fix the cause, or silence it narrowly in helpers/quiet.py"
    assert "Running" not in text, "08 catches up on nothing"
    clone = tmp_path / "qlora-course"
    run_dir = clone / "adapters" / "python_style_cli"
    r = read_results(run_dir, "08_scale_out")
    assert r["config"] == str(clone / "configs" / "python_style.yaml"), "the clone's YAML, not another copy"
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


def test_the_two_process_run_is_off_by_default_unless_two_gpus_are_visible():
    """The run above turns it on; by default a CPU (0 GPUs) or one GPU trains in one process only."""
    cells = nbformat.read(NOTEBOOK_DIR / "08_scale_out.ipynb", as_version=4).cells
    parameters = next(cell.source for cell in cells if "parameters" in cell.metadata.get("tags", []))
    assert "\nTWO_PROCESSES = None  #" in "\n" + parameters
    code = "\n".join(cell.source for cell in cells if cell.cell_type == "code")
    rule = "two_processes = TWO_PROCESSES if TWO_PROCESSES is not None else gpu_count >= 2"
    assert rule in code
    for gpus, expected in ((0, False), (1, False), (2, True)):
        assert eval(rule.split(" = ", 1)[1], {"TWO_PROCESSES": None, "gpu_count": gpus}) is expected
