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
    left_padded_eval,
    load_adapter,
    logit_agreement,
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


def test_generation_leaves_model_and_tokenizer_as_it_found_them_even_when_it_fails():
    model = torch.nn.Linear(2, 2).train()

    class Tokenizer:
        padding_side = "right"

    tokenizer = Tokenizer()
    with pytest.raises(RuntimeError, match="out of memory"):
        with left_padded_eval(model, tokenizer):
            assert tokenizer.padding_side == "left" and not model.training
            raise RuntimeError("out of memory")
    assert tokenizer.padding_side == "right" and model.training


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


class _FixedLogits(torch.nn.Module):
    """A stand-in model whose next-token logits are given: logits[b, t] at every position of the batch."""

    def __init__(self, logits):
        super().__init__()
        self.logits = logits
        self.device = torch.device("cpu")

    def forward(self, input_ids, attention_mask=None, **_):
        from types import SimpleNamespace

        return SimpleNamespace(logits=self.logits[:, : input_ids.shape[1]])


def test_logit_agreement_counts_flips_and_the_gap_they_crossed(offline_model_and_tokenizer):
    _, tokenizer = offline_model_and_tokenizer
    prompts = ["Name a colour.", "What is two plus two, written in words?"]
    batch = tokenizer(prompts, return_tensors="pt", padding=True)
    shape = (*batch["input_ids"].shape, 5)
    reference = torch.zeros(shape)
    reference[..., 0] = 2.0  # token 0 on top everywhere, token 1 close behind, others far
    reference[..., 1] = 1.95
    rounded = reference.clone()
    rounded[..., 1] += 0.01  # a small error, no flip
    rounded[1, -1, 1] = 2.04  # one flip, at the last position (real under left padding): a near-tie crossed
    r = logit_agreement(_FixedLogits(rounded), _FixedLogits(reference), tokenizer, prompts)
    assert r["positions"] == int(batch["attention_mask"].sum())
    assert r["flipped"] == 1 and r["top_token_agreement"] == pytest.approx(1 - 1 / r["positions"])
    assert r["widest_flipped_gap"] == pytest.approx(0.05, abs=1e-6), "the reference's own gap between the two tokens"
    assert r["max_logit_difference"] == pytest.approx(0.09, abs=1e-6)
    same = logit_agreement(_FixedLogits(reference), _FixedLogits(reference), tokenizer, prompts)
    assert (same["flipped"], same["widest_flipped_gap"], same["max_logit_difference"]) == (0, 0.0, 0.0)


def test_agreement_counts_identical_answers():
    assert agreement(["a", "b", "c", "d"], ["a", "x", "c", "d"]) == 0.75
    with pytest.raises(ValueError):
        agreement(["a"], [])


def _argmax_continuation(model, input_ids: torch.Tensor, steps: int) -> list[int]:
    """Plain greedy decoding written out: the most likely next token, `steps` times, no cache, no processors."""
    ids = input_ids.clone()
    with torch.inference_mode():
        for _ in range(steps):
            next_id = model(input_ids=ids).logits[0, -1].argmax()
            ids = torch.cat([ids, next_id.view(1, 1)], dim=1)
    return ids[0, input_ids.shape[1]:].tolist()


@pytest.fixture
def model_with_qwen_generation_defaults(offline_model_and_tokenizer):
    """The offline model, for one test, with a generation config laid out like Qwen2.5-Instruct's."""
    model, tokenizer = offline_model_and_tokenizer
    saved = model.generation_config
    yield model, tokenizer
    model.generation_config = saved


def test_greedy_is_greedy_and_stops_at_every_eos_whatever_the_models_generation_config(
        model_with_qwen_generation_defaults):
    """Qwen2.5-Instruct's generation config samples, penalises repetition (1.1) and lists two EOS ids."""
    from transformers import GenerationConfig

    from helpers.inference import greedy_generation_config, stop_token_ids

    model, tokenizer = model_with_qwen_generation_defaults
    prompt = build_prompts([REQUESTS[1]], "chatml", tokenizer)[0]
    inputs = tokenizer(prompt, return_tensors="pt")
    reference = _argmax_continuation(model, inputs["input_ids"], 16)
    # A second EOS id that plain greedy decoding reaches at its 6th token, and that the tokenizer does not know.
    second_eos = next(t for t in reference[5:] if t not in reference[:5] and t != tokenizer.eos_token_id)
    stop_at = reference.index(second_eos)
    model.generation_config = GenerationConfig(
        do_sample=True, temperature=0.7, top_p=0.8, top_k=20, repetition_penalty=1.1,
        eos_token_id=[tokenizer.eos_token_id, second_eos], pad_token_id=tokenizer.pad_token_id)
    assert stop_token_ids(model, tokenizer) == [tokenizer.eos_token_id, second_eos]

    # What the old call did: do_sample=False with one eos_token_id keeps the penalty and drops the second EOS id.
    torch.manual_seed(0)
    with torch.inference_mode():
        old = model.generate(**inputs, max_new_tokens=16, do_sample=False, eos_token_id=tokenizer.eos_token_id,
                             pad_token_id=tokenizer.pad_token_id)[0, inputs["input_ids"].shape[1]:].tolist()
    assert old != reference[: len(old)], "the inherited repetition penalty must change this model's greedy answer"

    with torch.inference_mode():
        new = model.generate(**inputs, generation_config=greedy_generation_config(model, tokenizer, 16))
    new = new[0, inputs["input_ids"].shape[1]:].tolist()
    assert new == reference[: stop_at + 1], "greedy up to and including the second EOS id, then stop"
    answer = generate_with_stats(model, tokenizer, [prompt], max_new_tokens=16)[0][0]
    assert answer == tokenizer.decode(reference[:stop_at], skip_special_tokens=True).strip()


def test_fp16_guard_keeps_a_healthy_model_and_widens_one_that_overflows(tiny_tokenizer, cpu_profile, capsys):
    from helpers.inference import guard_half_precision, logits_are_finite

    model, _ = load_model_and_tokenizer(TINY_PRESET, cpu_profile, verbose=False)
    healthy = model.half().eval()
    assert guard_half_precision(healthy, tiny_tokenizer) is healthy
    assert next(healthy.parameters()).dtype == torch.float16 and capsys.readouterr().out == ""

    # Activations past fp16's 65504 from finite weights (the largest is about 70): the first layer's MLP, scaled
    # up 1000x, overflows in fp16 and not in fp32.
    with torch.no_grad():
        for layer in (healthy.model.layers[0].mlp.gate_proj, healthy.model.layers[0].mlp.up_proj,
                      healthy.model.layers[0].mlp.down_proj):
            layer.weight.mul_(1000)
    assert all(torch.isfinite(p).all() for p in healthy.parameters())
    assert not logits_are_finite(healthy, tiny_tokenizer)
    guarded = guard_half_precision(healthy, tiny_tokenizer)
    assert next(guarded.parameters()).dtype == torch.float32
    assert logits_are_finite(guarded, tiny_tokenizer)
    assert "fp16 overflowed on a probe batch" in capsys.readouterr().out


def test_a_reloaded_adapter_matches_the_trained_model_only_on_a_base_prepared_as_in_training(tmp_path, cpu_profile):
    """The GPU case simulated on a CPU: a half-precision base that training cast to fp32 (norms, embeddings, biases)."""
    from peft import prepare_model_for_kbit_training

    from helpers.inference import match_training_dtypes

    def half_base():
        model, tokenizer = load_model_and_tokenizer(TINY_PRESET, cpu_profile, verbose=False)
        return model.to(torch.bfloat16).eval(), tokenizer

    trained, tokenizer = half_base()
    trained = prepare_model_for_kbit_training(trained, use_gradient_checkpointing=False)
    torch.manual_seed(0)
    trained = get_peft_model(trained, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear",
                                                 init_lora_weights=False)).eval()
    trained.save_pretrained(tmp_path / "adapter")
    prompts = [REQUESTS[1]["instruction"], REQUESTS[2]["instruction"]]

    plain = load_adapter(half_base()[0], tmp_path / "adapter")
    assert max_logit_difference(trained, plain, tokenizer, prompts) > 1e-3, "half-precision norms change the logits"
    prepared = load_adapter(match_training_dtypes(half_base()[0], prepared_in_training=True), tmp_path / "adapter")
    assert max_logit_difference(trained, prepared, tokenizer, prompts) == 0.0
    untouched = half_base()[0]
    assert match_training_dtypes(untouched, prepared_in_training=False) is untouched
    assert next(untouched.parameters()).dtype == torch.bfloat16
