"""Presets, the offline model copy, 4-bit loading and the hub error."""

from __future__ import annotations

import json

import pytest
import torch

from helpers.hardware import detect_hardware
from helpers.inference import build_prompts, generate_answers
from helpers.models import (
    GPU_PRESET,
    OFFLINE_PRESET,
    TINY_PRESET,
    HubUnreachableError,
    build_tiny_random_qwen2,
    default_preset,
    load_model_and_tokenizer,
    provision_offline_model,
)


def test_offline_model_copy_is_a_plain_model():
    path = provision_offline_model(verbose=False)
    config = json.loads((path / "config.json").read_text())
    assert "quantization_config" not in config, "the GGUF quantizer must be gone or the model cannot train or save"
    assert config["model_type"] == "llama"
    assert (path / "model.safetensors").stat().st_size > 400 * 2**20


def test_offline_tokenizer_has_a_finite_length_and_pad_equal_to_eos(offline_tokenizer):
    assert offline_tokenizer.model_max_length == 2048
    assert offline_tokenizer.pad_token == offline_tokenizer.eos_token == "<|im_end|>"


def test_tiny_tokenizer_is_laid_out_like_qwen(tiny_tokenizer):
    assert tiny_tokenizer.eos_token == "<|im_end|>"
    assert tiny_tokenizer.pad_token == "<|endoftext|>"
    assert tiny_tokenizer.pad_token_id != tiny_tokenizer.eos_token_id


def test_tiny_model_is_small_and_matches_its_tokenizer(tiny_model, tiny_tokenizer):
    assert tiny_model.config.num_hidden_layers == 2
    assert tiny_model.config.vocab_size == len(tiny_tokenizer)
    assert sum(p.numel() for p in tiny_model.parameters()) < 5_000_000


def test_offline_model_answers_a_simple_instruction(offline_model_and_tokenizer):
    model, tokenizer = offline_model_and_tokenizer
    prompts = build_prompts([{"instruction": "What is the capital of France? Answer in one sentence."}], "chatml",
                            tokenizer)
    answer = generate_answers(model, tokenizer, prompts, max_new_tokens=20)[0]
    assert "Paris" in answer


def test_local_path_loads(cpu_profile):
    model, tokenizer = load_model_and_tokenizer(str(build_tiny_random_qwen2()), cpu_profile, verbose=False)
    assert model.config.model_type == "qwen2"


def test_4bit_load_works_on_cpu_and_is_smaller(cpu_profile):
    full, _ = load_model_and_tokenizer(OFFLINE_PRESET, cpu_profile, verbose=False)
    quantized, _ = load_model_and_tokenizer(OFFLINE_PRESET, cpu_profile, load_in_4bit=True, verbose=False)
    assert getattr(quantized, "is_loaded_in_4bit", False)
    assert quantized.get_memory_footprint() < 0.5 * full.get_memory_footprint()
    assert quantized.config.quantization_config.bnb_4bit_quant_type == "nf4"
    assert quantized.config.quantization_config.bnb_4bit_use_double_quant is True


def test_unreachable_hub_gives_one_clear_line(cpu_profile, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubUnreachableError) as caught:
        load_model_and_tokenizer(GPU_PRESET, cpu_profile, verbose=False)
    message = str(caught.value)
    assert "Qwen" in message or GPU_PRESET in message
    assert OFFLINE_PRESET in message
    assert "\n" not in message


def test_default_preset_follows_hardware_and_environment(monkeypatch):
    monkeypatch.delenv("QLORA_COURSE_MODEL", raising=False)
    cpu = detect_hardware(cuda_available=False, verbose=False)
    t4 = detect_hardware(cuda_available=True, capability=(7, 5), gpu_name="T4", gpu_memory_gb=15.0, verbose=False)
    assert default_preset(cpu) == OFFLINE_PRESET
    assert default_preset(t4) == GPU_PRESET
    monkeypatch.setenv("QLORA_COURSE_MODEL", TINY_PRESET)
    assert default_preset(cpu) == TINY_PRESET


def test_full_precision_load_dtype_follows_the_profile(cpu_profile):
    model, _ = load_model_and_tokenizer(TINY_PRESET, cpu_profile, verbose=False)
    assert next(model.parameters()).dtype == torch.float32
