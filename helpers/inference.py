"""Batched greedy generation, adapter loading, clean merging, and adapter-vs-merged comparisons."""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

import torch
from transformers import GenerationConfig

from helpers.templates import format_record, get_template


def id_list(ids) -> list[int]:
    """A config's eos_token_id as a list: None, one id or several (GenerationConfig accepts all three)."""
    return [] if ids is None else [ids] if isinstance(ids, int) else list(ids)


def stop_token_ids(model, tokenizer) -> list[int]:
    """Every id that ends an answer: the model's generation config's EOS id(s) and the tokenizer's EOS.

    Qwen2.5-Instruct lists two (`<|im_end|>` and `<|endoftext|>`); passing only the tokenizer's would drop one.
    """
    listed = id_list(getattr(getattr(model, "generation_config", None), "eos_token_id", None))
    ids = listed + ([tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else [])
    return list(dict.fromkeys(int(token_id) for token_id in ids))


def greedy_generation_config(model, tokenizer, max_new_tokens: int = 128) -> GenerationConfig:
    """Plain greedy decoding, whatever the model's own generation config says.

    `generate()` fills every setting it is not given from `model.generation_config`: Qwen2.5-Instruct's carries
    sampling (temperature 0.7, top-p 0.8, top-k 20) and `repetition_penalty=1.1`, which pushes answers away from
    copying the prompt (function names, quoted spans). Here every setting that changes the next-token choice is
    set to its neutral value, and generation stops at every EOS id (see stop_token_ids).
    """
    return GenerationConfig(
        do_sample=False,  # take the most likely token; temperature, top-p and top-k are then not used
        num_beams=1,
        repetition_penalty=1.0,  # 1.0 = no penalty (Qwen2.5 ships 1.1)
        no_repeat_ngram_size=0,
        min_new_tokens=0,
        max_new_tokens=max_new_tokens,
        eos_token_id=stop_token_ids(model, tokenizer),
        pad_token_id=tokenizer.pad_token_id,
    )


def cut_at_stop(tokens: torch.Tensor, stop_ids: list[int]) -> tuple[torch.Tensor, bool]:
    """The generated tokens before the first stop id, and whether one was found."""
    hits = torch.isin(tokens, torch.tensor(stop_ids, device=tokens.device)).nonzero()
    return (tokens[: hits[0].item()], True) if len(hits) else (tokens, False)


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


@contextmanager
def left_padded_eval(model, tokenizer):
    """The model in eval mode and the tokenizer padding on the left, both restored afterwards.

    Left padding keeps every prompt's last token next to the first generated one.
    """
    saved_side, tokenizer.padding_side = tokenizer.padding_side, "left"
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        tokenizer.padding_side = saved_side
        model.train(was_training)


def generate_batch(
    model, tokenizer, prompts: list[str], generation_config: GenerationConfig
) -> list[tuple[str, bool, int]]:
    """One `generate` call for a batch of prompts (inside left_padded_eval), cut at the config's stop ids.

    Returns, per generated sequence in order (num_return_sequences of them per prompt): the decoded answer,
    whether it ended at a stop id rather than at max_new_tokens, and its new tokens (the stop token counted).
    Everything after the first stop id is padding of a sequence that finished early.
    """
    stop_ids = id_list(generation_config.eos_token_id)
    batch = tokenizer(prompts, return_tensors="pt", padding=True).to(model.device)
    with torch.inference_mode():
        output = model.generate(**batch, generation_config=generation_config)
    results = []
    for tokens in output[:, batch["input_ids"].shape[1] :]:
        answer_tokens, stopped = cut_at_stop(tokens, stop_ids)
        answer = tokenizer.decode(answer_tokens, skip_special_tokens=True).strip()
        results.append((answer, stopped, len(answer_tokens) + int(stopped)))
    return results


def generate_with_stats(
    model,
    tokenizer,
    prompts: list[str],
    max_new_tokens: int = 128,
    batch_size: int = 8,
) -> tuple[list[str], dict[str, float]]:
    """Greedy answers to prompts, in length-sorted left-padded batches, with time and token counts.

    Decoding is plain greedy whatever the model's generation config says (see greedy_generation_config).
    Sorting by length keeps padding per batch small. Answers come back in the order of `prompts`; the stats'
    `stopped` says, per answer, whether it ended at a stop token rather than at max_new_tokens.
    """
    if not prompts:
        return [], {"seconds": 0.0, "new_tokens": 0, "tokens_per_second": 0.0, "stopped": []}
    lengths = [len(tokenizer(prompt)["input_ids"]) for prompt in prompts]
    order = sorted(range(len(prompts)), key=lambda i: lengths[i], reverse=True)
    answers: list[str] = [""] * len(prompts)
    stopped_at: list[bool] = [False] * len(prompts)
    new_tokens = 0
    generation_config = greedy_generation_config(model, tokenizer, max_new_tokens)
    started = time.perf_counter()
    with left_padded_eval(model, tokenizer):
        for start in range(0, len(order), batch_size):
            indices = order[start : start + batch_size]
            generated = generate_batch(model, tokenizer, [prompts[i] for i in indices], generation_config)
            for index, (answer, stopped, count) in zip(indices, generated):
                answers[index], stopped_at[index] = answer, stopped
                new_tokens += count
    seconds = time.perf_counter() - started
    stats = {"seconds": round(seconds, 2), "new_tokens": new_tokens,
             "tokens_per_second": round(new_tokens / seconds, 1) if seconds else 0.0, "stopped": stopped_at}
    return answers, stats


def generate_answers(model, tokenizer, prompts: list[str], max_new_tokens: int = 128, batch_size: int = 8) -> list[str]:
    """Greedy answers to prompts, batched (see generate_with_stats)."""
    return generate_with_stats(model, tokenizer, prompts, max_new_tokens, batch_size)[0]


def generate_one_at_a_time(model, tokenizer, prompts: list[str], max_new_tokens: int = 128) -> list[str]:
    """The unbatched baseline: one generate() call per prompt (for speed comparisons)."""
    return [generate_answers(model, tokenizer, [prompt], max_new_tokens, batch_size=1)[0] for prompt in prompts]


def match_training_dtypes(base_model, prepared_in_training: bool):
    """Give a freshly loaded base the dtypes that training gave it, so a reloaded adapter answers as the trained model.

    On a 4-bit base, training called `prepare_model_for_kbit_training`, which casts every parameter that is not
    4-bit (embeddings, norms, Qwen's q/k/v biases) from fp16/bf16 to fp32. A base reloaded without that call keeps
    them in half precision, and on a GPU its logits, and so some greedy answers, differ. The same call here
    makes the two models compute alike. `prepared_in_training`: whether training prepared the base (02 saves it
    as `load_in_4bit`). A full-precision CPU base has nothing to cast.
    """
    if not prepared_in_training:
        return base_model
    from peft import prepare_model_for_kbit_training

    return prepare_model_for_kbit_training(base_model, use_gradient_checkpointing=False)


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


def left_padded_batch(tokenizer, prompts: list[str]):
    """Prompts tokenized into one left-padded batch, leaving the tokenizer's own padding side as it was."""
    saved_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        return tokenizer(prompts, return_tensors="pt", padding=True)
    finally:
        tokenizer.padding_side = saved_side


def logit_agreement(model_a, model_b, tokenizer, prompts: list[str]) -> dict:
    """Two models' next-token logits over the real tokens of prompts: the largest absolute difference, the share of
    positions whose top token agrees, how many positions were compared, how many top tokens flipped, and the widest
    gap, in model_b's logits, between its top token and model_a's at a flipped position (0.0 when none flipped)."""
    batch = left_padded_batch(tokenizer, prompts)
    mask = batch["attention_mask"].bool().cpu()
    with torch.inference_mode():
        logits_a = model_a(**batch.to(model_a.device)).logits.float().cpu()
        logits_b = model_b(**batch.to(model_b.device)).logits.float().cpu()
    top_a, top_b = logits_a.argmax(-1), logits_b.argmax(-1)
    same_top = (top_a == top_b)[mask]
    # Where the top tokens differ: how far model_a's choice was behind model_b's own in model_b's logits. A flip
    # caused by rounding happens only at a near-tie (the gap is at most twice the largest logit difference).
    gap = logits_b.gather(-1, top_b[..., None]) - logits_b.gather(-1, top_a[..., None])
    flipped_gaps = gap[..., 0][mask][~same_top]
    return {"max_logit_difference": (logits_a - logits_b).abs()[mask].max().item(),
            "top_token_agreement": float(same_top.float().mean()), "positions": int(mask.sum()),
            "flipped": int((~same_top).sum()),
            "widest_flipped_gap": float(flipped_gaps.max()) if len(flipped_gaps) else 0.0}


def max_logit_difference(model_a, model_b, tokenizer, prompts: list[str]) -> float:
    """Largest absolute difference between two models' next-token logits over the real tokens of prompts."""
    return logit_agreement(model_a, model_b, tokenizer, prompts)["max_logit_difference"]


def agreement(answers_a: list[str], answers_b: list[str]) -> float:
    """Share of prompts whose two answers are identical."""
    if len(answers_a) != len(answers_b) or not answers_a:
        raise ValueError("agreement needs two non-empty answer lists of the same length")
    return sum(a == b for a, b in zip(answers_a, answers_b)) / len(answers_a)


PROBE_PROMPTS = [
    "Write a Python function that returns the square of a number.",
    "Summarize: The council approved the new budget on Tuesday after a long debate about road repairs.",
]


def logits_are_finite(model, tokenizer, prompts: list[str] | None = None) -> bool:
    """Whether the model's logits on a small probe batch are all finite (no inf or NaN)."""
    batch = left_padded_batch(tokenizer, prompts or PROBE_PROMPTS).to(model.device)
    with torch.inference_mode():
        logits = model(**batch).logits
    return bool(torch.isfinite(logits[batch["attention_mask"].bool()]).all())


def guard_half_precision(model, tokenizer, prompts: list[str] | None = None, verbose: bool = True):
    """Return the model as it is, or in a wider dtype when its fp16 logits overflow on a probe batch.

    fp16 holds values up to 65504; some models (Qwen2-family among those reported) exceed that in their
    activations, and the logits become inf/NaN: every answer and score after that would be wrong. The fallback
    is bf16 where the GPU has it (compute capability 8+), else fp32, said in one line. A 4-bit model cannot
    change dtype: it stops with a clear error instead.
    """
    parameter = next(model.parameters())
    if parameter.dtype != torch.float16 or logits_are_finite(model, tokenizer, prompts):
        return model
    if getattr(model, "is_loaded_in_4bit", False) or getattr(model, "is_loaded_in_8bit", False):
        raise RuntimeError("fp16 compute overflows in this quantized model (non-finite logits on a probe batch): "
                           "load it with bnb_4bit_compute_dtype=torch.float32 (or bf16 on an Ampere or newer GPU).")
    wide = parameter.device.type == "cuda" and torch.cuda.get_device_capability(parameter.device)[0] >= 8
    fallback = torch.bfloat16 if wide else torch.float32
    if verbose:
        print(f"fp16 overflowed on a probe batch (non-finite logits): this model runs in "
              f"{str(fallback).removeprefix('torch.')} instead.")
    model = model.to(fallback)
    if not logits_are_finite(model, tokenizer, prompts):
        raise RuntimeError(f"The model's logits are not finite even in {fallback}: its weights are broken.")
    return model
