"""Batched greedy generation, adapter loading, clean merging, and adapter-vs-merged comparisons."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from helpers.templates import format_record, get_template


def build_prompts(records: list[dict], template: str, tokenizer) -> list[str]:
    """The prompt part of each record under a template: what the model sees at inference."""
    template = get_template(template)
    prompts = []
    for record in records:
        filled = {**record}
        for field in template.required_fields:
            filled.setdefault(field, "")
        prompts.append(format_record(filled, template, tokenizer)["prompt"])
    return prompts


def generate_with_stats(
    model,
    tokenizer,
    prompts: list[str],
    max_new_tokens: int = 128,
    batch_size: int = 8,
) -> tuple[list[str], dict[str, float]]:
    """Greedy answers to prompts, in length-sorted left-padded batches, with time and token counts.

    Left padding keeps every prompt's last token next to the first generated one; sorting by
    length keeps padding per batch small. Answers come back in the order of `prompts`.
    """
    if not prompts:
        return [], {"seconds": 0.0, "new_tokens": 0, "tokens_per_second": 0.0}
    lengths = [len(tokenizer(prompt)["input_ids"]) for prompt in prompts]
    order = sorted(range(len(prompts)), key=lambda i: lengths[i], reverse=True)
    answers: list[str] = [""] * len(prompts)
    new_tokens = 0
    saved_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    was_training = model.training
    model.eval()
    started = time.perf_counter()
    try:
        for start in range(0, len(order), batch_size):
            indices = order[start : start + batch_size]
            batch = tokenizer([prompts[i] for i in indices], return_tensors="pt", padding=True).to(model.device)
            with torch.inference_mode():
                output = model.generate(
                    **batch,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    pad_token_id=tokenizer.pad_token_id,
                    eos_token_id=tokenizer.eos_token_id,
                )
            generated = output[:, batch["input_ids"].shape[1] :]
            for index, tokens in zip(indices, generated):
                # Everything after the first EOS is padding of a sequence that finished early.
                stop = (tokens == tokenizer.eos_token_id).nonzero()
                answer_tokens = tokens[: stop[0].item()] if len(stop) else tokens
                new_tokens += len(answer_tokens) + (1 if len(stop) else 0)
                answers[index] = tokenizer.decode(answer_tokens, skip_special_tokens=True).strip()
    finally:
        tokenizer.padding_side = saved_side
        model.train(was_training)
    seconds = time.perf_counter() - started
    stats = {"seconds": round(seconds, 2), "new_tokens": new_tokens,
             "tokens_per_second": round(new_tokens / seconds, 1) if seconds else 0.0}
    return answers, stats


def generate_answers(model, tokenizer, prompts: list[str], max_new_tokens: int = 128, batch_size: int = 8) -> list[str]:
    """Greedy answers to prompts, batched (see generate_with_stats)."""
    return generate_with_stats(model, tokenizer, prompts, max_new_tokens, batch_size)[0]


def generate_one_at_a_time(model, tokenizer, prompts: list[str], max_new_tokens: int = 128) -> list[str]:
    """The unbatched baseline: one generate() call per prompt (for speed comparisons)."""
    return [generate_answers(model, tokenizer, [prompt], max_new_tokens, batch_size=1)[0] for prompt in prompts]


def load_adapter(base_model, adapter_dir: str | Path):
    """Put a saved LoRA adapter on a freshly loaded base model, ready for inference."""
    from peft import PeftModel

    model = PeftModel.from_pretrained(base_model, str(adapter_dir))
    model.eval()
    return model


def merge_adapter_cleanly(base_name: str, adapter_dir: str | Path, output_dir: str | Path, profile,
                          dtype: torch.dtype | None = None):
    """Merge the adapter into an unquantized copy of the base and save it; returns (merged model, tokenizer).

    Merging into a 4-bit base would round the merged weights back to 4 bits; reloading the base in
    full precision (fp16/bf16 on a GPU, fp32 on a CPU) avoids that.
    """
    from helpers.models import load_model_and_tokenizer

    base, tokenizer = load_model_and_tokenizer(base_name, profile, load_in_4bit=False, dtype=dtype, verbose=False)
    merged = load_adapter(base, adapter_dir).merge_and_unload()
    merged.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    return merged, tokenizer


def max_logit_difference(model_a, model_b, tokenizer, prompts: list[str]) -> float:
    """Largest absolute difference between two models' next-token logits over the real tokens of prompts."""
    saved_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        batch = tokenizer(prompts, return_tensors="pt", padding=True)
    finally:
        tokenizer.padding_side = saved_side
    mask = batch["attention_mask"].bool()
    with torch.inference_mode():
        logits_a = model_a(**batch.to(model_a.device)).logits.float().cpu()
        logits_b = model_b(**batch.to(model_b.device)).logits.float().cpu()
    return (logits_a - logits_b).abs()[mask].max().item()


def agreement(answers_a: list[str], answers_b: list[str]) -> float:
    """Share of prompts whose two answers are identical."""
    if len(answers_a) != len(answers_b) or not answers_a:
        raise ValueError("agreement needs two non-empty answer lists of the same length")
    return sum(a == b for a, b in zip(answers_a, answers_b)) / len(answers_a)
