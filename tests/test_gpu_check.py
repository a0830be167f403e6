"""make gpu-check's script, in its CPU dry run: every check of every profile runs and passes."""

from __future__ import annotations

import json

from benchmarks import gpu_check
from helpers.hardware import detect_hardware


def test_gpu_check_dry_run_runs_every_check_on_both_profiles(tmp_path, capsys):
    output = tmp_path / "gpu_check.json"
    assert gpu_check.main(["--dry-run", "--output", str(output)]) == 0
    checks = json.loads(output.read_text())["checks"]
    per_profile = ["SFT steps", "batched generation", "reload equivalence", "clean merge", "fp16 guard"]
    for profile in ("cpu", "cpu, 4-bit base"):
        assert [c["check"] for c in checks if c["profile"] == profile][:5] == per_profile
    assert all(c["ok"] for c in checks)
    reload = [c for c in checks if c["check"] == "reload equivalence"]
    assert all(c["numbers"]["max_logit_difference"] <= c["numbers"]["tolerance"] for c in reload)
    shape_runs = [c for c in checks if c["check"].startswith("shape run")]
    assert len(shape_runs) == 2 and shape_runs[0]["numbers"]["weights_mb"] < shape_runs[1]["numbers"]["weights_mb"]
    table = capsys.readouterr().out
    assert "profile" in table and "clean merge" in table and "CPU dry run" in table


def test_the_forced_t4_profile_is_what_colab_and_kaggle_give():
    """The GPU run's second profile, built on any CUDA machine: fp16 compute, 4-bit base, fp32 adapters, paged AdamW."""
    t4 = detect_hardware(load_in_4bit=True, cuda_available=True, capability=(7, 5), gpu_name="H200 as a T4",
                         gpu_memory_gb=15.0, verbose=False)
    assert (t4.precision, t4.load_in_4bit, t4.keep_trainable_fp32, t4.optim) == ("fp16", True, True, "paged_adamw_8bit")
    assert t4.batch_size == 8 and t4.gradient_checkpointing


def test_the_shape_model_is_qwen25_05b():
    from transformers import Qwen2Config, Qwen2ForCausalLM

    with __import__("torch").device("meta"):
        model = Qwen2ForCausalLM(Qwen2Config(**gpu_check.QWEN25_05B_SHAPE))
    assert round(sum(p.numel() for p in model.parameters()) / 1e6) == 494  # tied embeddings counted once
