"""scripts/sft_course.py under torchrun: two CPU processes (gloo) train one adapter from the course's YAML."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from helpers.data import load_bundled
from helpers.models import TINY_PRESET, build_tiny_random_qwen2, load_tokenizer

ROOT = Path(__file__).resolve().parents[1]


def _cpu_config(tmp_path: Path) -> Path:
    """configs/python_style.yaml with only the values a 2-process CPU test needs changed, never the recipe."""
    from helpers.templates import to_prompt_completion

    tokenizer = load_tokenizer(TINY_PRESET)
    data = tmp_path / "data"
    for split, count in (("train", 16), ("validation", 4)):
        records = load_bundled("python_style", "train" if split == "train" else "validation").select(range(count))
        to_prompt_completion(records, "chatml", tokenizer, max_length=256, verbose=False).to_json(
            data / f"{split}.jsonl")
    config = yaml.safe_load((ROOT / "configs" / "python_style.yaml").read_text())
    config.update(
        model_name_or_path=str(build_tiny_random_qwen2()), dtype="float32", load_in_4bit=False, dataset_name=str(data),
        output_dir=str(tmp_path / "out"), max_steps=2, per_device_train_batch_size=2, per_device_eval_batch_size=2,
        max_length=256, warmup_steps=0, bf16=False, optim="adamw_torch", activation_checkpointing=False,
        eval_strategy="no", save_strategy="no", use_cpu=True, learning_rate=1e-2,
    )
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_two_cpu_processes_train_one_adapter(tmp_path):
    config = _cpu_config(tmp_path)
    run = _launch(config, "--ddp_backend", "gloo", processes=2)
    assert run.returncode == 0, run.stderr[-3000:]
    out = tmp_path / "out"
    summaries = [json.loads((out / f"run_summary_rank{rank}.json").read_text()) for rank in (0, 1)]
    assert [s["rank"] for s in summaries] == [0, 1] and {s["world_size"] for s in summaries} == {2}
    assert {s["distributed_type"] for s in summaries} == {"DistributedType.MULTI_CPU"}
    assert all(s["global_batch"] == 2 * s["per_device_batch"] == 4 for s in summaries)
    assert all(s["steps"] == 2 and s["loss_finite"] for s in summaries)
    assert [s["wrote_adapter"] for s in summaries] == [True, False], "rank 0 alone writes the adapter"
    # Each process gets its own half of every epoch: 16 examples, 8 each, in batches of 2.
    assert [(s["examples_per_epoch_this_process"], s["batches_per_epoch_this_process"]) for s in summaries] == [(8, 4)] * 2
    assert summaries[0]["first_example_this_process"] != summaries[1]["first_example_this_process"]
    assert all(s["train_seconds"] > 0 for s in summaries)

    # DDP is a bigger batch: one process with the global batch (4) logs the same losses, step by step.
    single = _launch(config, "--per_device_train_batch_size", "4", "--output_dir", str(tmp_path / "single"))
    assert single.returncode == 0, single.stderr[-3000:]
    alone = json.loads((tmp_path / "single" / "run_summary_rank0.json").read_text())
    assert alone["world_size"] == 1 and alone["global_batch"] == 4
    assert alone["losses"] == pytest.approx(summaries[0]["losses"], rel=1e-3), (alone["losses"], summaries[0]["losses"])

    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(build_tiny_random_qwen2()).eval()
    tokenizer = load_tokenizer(TINY_PRESET)
    batch = tokenizer(["def add(a: int, b: int) -> int:"], return_tensors="pt")
    with torch.inference_mode():
        before = base(**batch).logits
        adapted = PeftModel.from_pretrained(base, str(out)).eval()
        after = adapted(**batch).logits
    assert (after - before).abs().max() > 1e-4, "the trained adapter changes the outputs"


def _launch(config: Path, *extra: str, wait: bool = True, processes: int = 1):
    """scripts/sft_course.py on `config`, in one process or under torchrun with `processes` of them."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    launcher = [sys.executable] if processes == 1 else [
        str(Path(sys.executable).with_name("torchrun")), "--nproc_per_node", str(processes)]
    command = [*launcher, str(ROOT / "scripts" / "sft_course.py"), "--config", str(config), *extra]
    if wait:
        return subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)


def test_a_killed_run_resumes_from_its_last_complete_checkpoint_and_ends_as_an_uninterrupted_one(tmp_path):
    import signal
    import time

    from safetensors.torch import load_file

    from helpers.artifacts import latest_complete_checkpoint

    config = _cpu_config(tmp_path)
    steps = ["--max_steps", "30", "--save_strategy", "steps", "--save_steps", "1", "--save_total_limit", "3",
             "--use_cpu", "true", "--learning_rate", "1e-3"]
    whole = _launch(config, *steps, "--output_dir", str(tmp_path / "whole"))
    assert whole.returncode == 0, whole.stderr[-3000:]

    killed_dir = tmp_path / "killed"
    process = _launch(config, *steps, "--output_dir", str(killed_dir), wait=False)
    deadline = time.time() + 300
    while time.time() < deadline and latest_complete_checkpoint(killed_dir, verbose=False) is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    killed_at = latest_complete_checkpoint(killed_dir, verbose=False)
    assert killed_at is not None and process.returncode == -signal.SIGKILL
    killed_step = int(killed_at.name.split("-")[-1])
    assert killed_step < 30, "the kill came before the end of the run"
    # A checkpoint cut off while being written: a folder with the adapter but no trainer state.
    half = killed_dir / f"checkpoint-{killed_step + 100}"
    half.mkdir()
    (half / "adapter_model.safetensors").write_bytes(b"partial")

    resumed = _launch(config, *steps, "--output_dir", str(killed_dir), "--resume_from_checkpoint", "latest")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"Skipping checkpoint-{killed_step + 100}: half-written" in resumed.stdout
    summary = json.loads((killed_dir / "run_summary_rank0.json").read_text())
    assert summary["resumed_from"].endswith(f"checkpoint-{killed_step}")
    assert summary["steps"] == 30 == json.loads((tmp_path / "whole" / "run_summary_rank0.json").read_text())["steps"]
    a = load_file(tmp_path / "whole" / "adapter_model.safetensors")
    b = load_file(killed_dir / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    difference = max((a[k] - b[k]).abs().max().item() for k in a)
    assert difference <= 1e-5, f"resumed and uninterrupted adapters differ by {difference:.2e} (tolerance 1e-5)"
