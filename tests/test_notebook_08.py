"""Notebook 08 (scale-out), executed on the tiny model with its two-process cell on."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_checked

from helpers.results import read_results

pytestmark = pytest.mark.notebooks


def test_scale_out_trains_from_the_yaml_with_one_and_two_processes_and_merges_in_one(tmp_path_factory):
    """Notebook 08 on the tiny model: `trl sft` from configs/python_style.yaml, then two CPU processes (the
    parameter the test turns on), then the adapter merged in this one process."""
    adapters = tmp_path_factory.mktemp("adapters08")
    run_checked("08_scale_out", tmp_path_factory, {"ADAPTERS_DIR": str(adapters), "MODEL": "tiny-random-qwen2",
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
