"""Batched generation, adapters that change outputs, and merged models that match their adapters."""

from __future__ import annotations

import pytest
import torch
from peft import LoraConfig, get_peft_model

from helpers.inference import (
    agreement,
    build_prompts,
    generate_one_at_a_time,
    generate_with_stats,
    load_adapter,
    max_logit_difference,
    merge_adapter_cleanly,
)
from helpers.models import TINY_PRESET, load_model_and_tokenizer

REQUESTS = [
    {"instruction": "Name a colour."},
    {"instruction": "Write a Python function that returns the square of a number, with type hints."},
    {"instruction": "What is two plus two?"},
    {"instruction": "Give me three words that rhyme with cat, separated by commas, and nothing else."},
]


def test_batched_left_padded_generation_matches_one_at_a_time(offline_model_and_tokenizer):
    model, tokenizer = offline_model_and_tokenizer
    prompts = build_prompts(REQUESTS, "chatml", tokenizer)
    batched, stats = generate_with_stats(model, tokenizer, prompts, max_new_tokens=24, batch_size=4)
    single = generate_one_at_a_time(model, tokenizer, prompts, max_new_tokens=24)
    assert batched == single
    assert stats["new_tokens"] > 0 and stats["seconds"] > 0
    assert tokenizer.padding_side == "right", "generation must restore the tokenizer's padding side"


def test_generation_stops_at_eos_and_drops_special_tokens(offline_model_and_tokenizer):
    model, tokenizer = offline_model_and_tokenizer
    prompts = build_prompts([{"instruction": "Reply with the single word: yes"}], "chatml", tokenizer)
    answer, stats = generate_with_stats(model, tokenizer, prompts, max_new_tokens=40)
    assert "<|im_end|>" not in answer[0] and "<|im_start|>" not in answer[0]
    assert stats["new_tokens"] < 40, "the instruct model should stop on its own"


@pytest.fixture
def saved_adapter(tmp_path, cpu_profile):
    """A LoRA adapter on the tiny model with non-zero B, so it really changes the outputs."""
    base, tokenizer = load_model_and_tokenizer(TINY_PRESET, cpu_profile, verbose=False)
    torch.manual_seed(1)
    config = LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", init_lora_weights=False,
                        task_type="CAUSAL_LM")
    model = get_peft_model(base, config)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.2)
    model.save_pretrained(tmp_path / "adapter")
    return tmp_path / "adapter", tokenizer


def test_the_adapter_changes_the_outputs(saved_adapter, cpu_profile):
    adapter_dir, tokenizer = saved_adapter
    base, _ = load_model_and_tokenizer(TINY_PRESET, cpu_profile, verbose=False)
    fresh_base, _ = load_model_and_tokenizer(TINY_PRESET, cpu_profile, verbose=False)
    adapted = load_adapter(fresh_base, adapter_dir)
    prompts = build_prompts(REQUESTS[:2], "chatml", tokenizer)
    assert max_logit_difference(base, adapted, tokenizer, prompts) > 1e-2


def test_clean_merge_matches_the_adapter_model(saved_adapter, cpu_profile, tmp_path):
    adapter_dir, tokenizer = saved_adapter
    base, _ = load_model_and_tokenizer(TINY_PRESET, cpu_profile, verbose=False)
    adapted = load_adapter(base, adapter_dir)
    merged, _ = merge_adapter_cleanly(TINY_PRESET, adapter_dir, tmp_path / "merged", cpu_profile)
    assert not any("lora" in name for name, _ in merged.named_parameters())
    assert (tmp_path / "merged" / "model.safetensors").exists()
    prompts = build_prompts(REQUESTS, "chatml", tokenizer)
    assert max_logit_difference(adapted, merged, tokenizer, prompts) < 1e-4
    answers_adapter, _ = generate_with_stats(adapted, tokenizer, prompts, max_new_tokens=12)
    answers_merged, _ = generate_with_stats(merged, tokenizer, prompts, max_new_tokens=12)
    assert agreement(answers_adapter, answers_merged) == 1.0


def test_agreement_counts_identical_answers():
    assert agreement(["a", "b", "c", "d"], ["a", "x", "c", "d"]) == 0.75
    with pytest.raises(ValueError):
        agreement(["a"], [])
