"""Every hardware rule, on simulated machines, and the SFTConfig that follows from it."""

from __future__ import annotations

import torch
from trl import SFTTrainer

from helpers.hardware import detect_hardware, keep_trainable_params_fp32
from helpers.models import TINY_PRESET, load_model_and_tokenizer
from helpers.training import attach_lora, build_sft_trainer, make_lora_config, make_sft_config, sft_settings


def simulate(capability=None, memory=15.0, load_in_4bit=None, cpu_bf16=None):
    if capability is None:
        return detect_hardware(load_in_4bit, cuda_available=False, cpu_bf16=cpu_bf16, verbose=False)
    return detect_hardware(load_in_4bit, cuda_available=True, capability=capability, gpu_name="sim",
                           gpu_memory_gb=memory, verbose=False)


def test_cpu_trains_fp32_on_a_full_precision_base():
    profile = simulate()
    assert (profile.device, profile.precision, profile.load_in_4bit) == ("cpu", "fp32", False)
    assert profile.torch_dtype == torch.float32
    assert not profile.gradient_checkpointing
    assert "fp32" in profile.reason and "no native bf16" in profile.reason


def test_a_cpu_with_native_bf16_trains_in_bf16_autocast_over_fp32_weights(tmp_path):
    for feature in ("AMX", "AVX512-BF16"):
        profile = simulate(cpu_bf16=feature)
        assert (profile.device, profile.precision, profile.load_in_4bit) == ("cpu", "bf16", False)
        assert feature in profile.reason
        assert profile.torch_dtype == torch.float32, "weights stay fp32 on a CPU: merges stay exact"
        assert profile.keep_trainable_fp32, "LoRA weights and AdamW state stay fp32"
        config = make_sft_config(profile, str(tmp_path), max_steps=1, verbose=False)
        assert config.bf16 is True and config.fp16 is False and config.use_cpu is True


def test_the_maintainers_simulation_of_a_cpu_without_bf16_reaches_every_process():
    """`PYTHONPATH=$PWD/scripts/cpu_without_bf16 make test` measures the fp32 path on a bf16 CPU (docs/maintaining.md).

    A process started with it, and a process that one starts, sees no native bf16 whatever this CPU has: torch's
    two probes are the simulation's (so the check means the same on a CPU that has no bf16 anyway).
    """
    import os
    import subprocess
    import sys

    from helpers.models import PROJECT_ROOT

    inner = ("import torch; from helpers.hardware import cpu_bf16_support, detect_hardware; "
             "print(cpu_bf16_support(), detect_hardware(cuda_available=False, verbose=False).precision, "
             "torch.cpu._is_amx_tile_supported.__module__, torch.cpu._is_avx512_bf16_supported.__module__)")
    outer = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {inner!r}], check=True)"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "scripts" / "cpu_without_bf16")}
    for code in (inner, outer):
        done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.split() == ["None", "fp32", "sitecustomize", "sitecustomize"], done.stdout


def test_the_cpu_feature_is_what_torch_reports(monkeypatch):
    from helpers import hardware

    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    assert hardware.cpu_bf16_support() == "AVX512-BF16"
    assert detect_hardware(cuda_available=False, verbose=False).precision == "bf16"
    assert detect_hardware(cuda_available=False, verbose=False).cpu_bf16 == "AVX512-BF16"  # kept for results files
    assert simulate(capability=(8, 0)).cpu_bf16 is None and simulate(cpu_bf16="AMX").cpu_bf16 == "AMX"
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert hardware.cpu_bf16_support() == "AMX"
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False, raising=False)
    assert hardware.cpu_bf16_support() is None
    assert detect_hardware(cuda_available=False, verbose=False).precision == "fp32"
    assert detect_hardware(cuda_available=False, verbose=False).cpu_bf16 is None


def test_cpu_can_force_4bit():
    assert simulate(load_in_4bit=True).load_in_4bit is True


def test_t4_gets_fp16_with_fp32_trainable_weights_and_4bit():
    profile = simulate(capability=(7, 5))
    assert (profile.device, profile.precision, profile.load_in_4bit) == ("cuda", "fp16", True)
    assert profile.keep_trainable_fp32
    assert profile.gradient_checkpointing


def test_ampere_and_later_get_bf16():
    for capability in ((8, 0), (8, 9), (9, 0)):
        profile = simulate(capability=capability, memory=80.0)
        assert profile.precision == "bf16"
        assert not profile.keep_trainable_fp32
        assert profile.batch_size == 16


def test_gpu_can_skip_4bit():
    assert simulate(capability=(8, 0), load_in_4bit=False).load_in_4bit is False


def test_detect_hardware_prints_one_line_of_why(capsys):
    detect_hardware(cuda_available=False)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "Why:" in out[0]


def test_sft_config_never_uses_trl_bf16_default_on_cpu(tmp_path):
    config = make_sft_config(simulate(), str(tmp_path), max_steps=1, verbose=False)
    assert config.bf16 is False and config.fp16 is False
    assert config.use_cpu is True
    assert config.optim == "adamw_torch"
    assert config.completion_only_loss is True


def test_sft_settings_follow_the_simulated_gpus(tmp_path):
    # SFTConfig itself refuses bf16 on a machine without a GPU, so the settings are checked before it.
    t4 = sft_settings(simulate(capability=(7, 5)), str(tmp_path))
    assert (t4["fp16"], t4["bf16"], t4["optim"], t4["use_cpu"]) == (True, False, "paged_adamw_8bit", False)
    assert t4["activation_checkpointing"] is True
    assert t4["per_device_train_batch_size"] == 8
    a100 = sft_settings(simulate(capability=(8, 0), memory=40.0), str(tmp_path))
    assert (a100["fp16"], a100["bf16"]) == (False, True)
    assert a100["per_device_train_batch_size"] == 16
    unquantized = sft_settings(simulate(capability=(8, 0), load_in_4bit=False), str(tmp_path))
    assert unquantized["optim"] == "adamw_torch"


def test_sft_config_accepts_the_t4_settings(tmp_path):
    config = make_sft_config(simulate(capability=(7, 5)), str(tmp_path), verbose=False)
    assert (config.fp16, config.bf16) == (True, False)


def test_keep_trainable_params_fp32_casts_only_trainable():
    layer = torch.nn.Linear(4, 4).to(torch.bfloat16)
    frozen = torch.nn.Linear(4, 4).to(torch.bfloat16)
    frozen.requires_grad_(False)
    model = torch.nn.Sequential(layer, frozen)
    assert keep_trainable_params_fp32(model) == 2
    assert layer.weight.dtype == torch.float32
    assert frozen.weight.dtype == torch.bfloat16


def _qlora_trainer_parts(tmp_path, cpu_profile):
    from datasets import Dataset

    quantized = detect_hardware(load_in_4bit=True, cuda_available=False, verbose=False)
    model, tokenizer = load_model_and_tokenizer(TINY_PRESET, quantized, verbose=False)
    model = attach_lora(model, make_lora_config(r=4), quantized)
    data = Dataset.from_list([{"prompt": "Say hi.", "completion": " Hi" + tokenizer.eos_token}] * 4)
    config = make_sft_config(cpu_profile, str(tmp_path), max_steps=1, verbose=False)
    return model, tokenizer, config, data


def test_trl_casts_qlora_adapters_to_bf16_and_the_t4_fix_undoes_it(tmp_path, cpu_profile):
    model, tokenizer, config, data = _qlora_trainer_parts(tmp_path, cpu_profile)
    plain = SFTTrainer(model=model, args=config, train_dataset=data, processing_class=tokenizer)
    trainable = {p.dtype for p in plain.model.parameters() if p.requires_grad}
    assert trainable == {torch.bfloat16}, "TRL no longer casts QLoRA adapters to bf16: revisit the fp16 fix"

    t4 = simulate(capability=(7, 5))
    fixed = build_sft_trainer(model, tokenizer, t4, config, data)
    assert {p.dtype for p in fixed.model.parameters() if p.requires_grad} == {torch.float32}


def test_bf16_hardware_keeps_trl_bf16_adapters(tmp_path, cpu_profile):
    model, tokenizer, config, data = _qlora_trainer_parts(tmp_path, cpu_profile)
    ampere = simulate(capability=(8, 0))
    trainer = build_sft_trainer(model, tokenizer, ampere, config, data)
    assert {p.dtype for p in trainer.model.parameters() if p.requires_grad} == {torch.bfloat16}


def test_compile_is_opt_in_and_reaches_the_sft_config(tmp_path, capsys):
    assert simulate().torch_compile is False
    assert make_sft_config(simulate(), str(tmp_path), max_steps=1, verbose=False).torch_compile is False
    profile = detect_hardware(cuda_available=False, cpu_bf16=None, compile=True)
    assert profile.torch_compile is True and "torch.compile on" in profile.reason
    assert "breaks even after about" in capsys.readouterr().out, "the switch states its break-even"
    assert make_sft_config(profile, str(tmp_path), max_steps=1, verbose=False).torch_compile is True


def test_lora_dropout_defaults_to_zero():
    assert make_lora_config().lora_dropout == 0.0
    assert make_lora_config(dropout=0.1).lora_dropout == 0.1


def test_the_profile_names_sft_config_fields_as_plain_attributes():
    """A notebook cell writes SFTConfig(bf16=profile.bf16, fp16=profile.fp16, optim=profile.optim, ...)."""
    t4, a100 = simulate(capability=(7, 5)), simulate(capability=(8, 0), memory=40.0)
    cpu_bf16 = detect_hardware(cuda_available=False, cpu_bf16="AVX512-BF16", verbose=False)
    cpu_plain = detect_hardware(cuda_available=False, cpu_bf16=None, verbose=False)
    assert (t4.bf16, t4.fp16, t4.optim) == (False, True, "paged_adamw_8bit")
    assert (a100.bf16, a100.fp16) == (True, False)
    assert (cpu_bf16.bf16, cpu_bf16.fp16, cpu_bf16.optim) == (True, False, "adamw_torch")
    assert (cpu_plain.bf16, cpu_plain.fp16) == (False, False)
    assert simulate(capability=(8, 0), load_in_4bit=False).optim == "adamw_torch"
    for profile in (t4, a100, cpu_bf16, cpu_plain):
        settings = sft_settings(profile, "/tmp/unused")
        assert (settings["bf16"], settings["fp16"], settings["optim"]) == (profile.bf16, profile.fp16, profile.optim)
