"""Benchmark: does a faster setting train as well? Notebook 02's recipe under variants, side by side, in one process.

    python -m benchmarks.recipe_quality [--steps 16] [--batch-size 8] [--n-test 16]

Each variant trains LoRA r=16 / alpha 32 on all linear layers of the offline model (lr 1e-3, cosine,
the same seed and the same python_style batches) and reports its validation loss before and after, style
adherence on the same held-out requests, tokens/s and wall time. Variants: fp32 and (where the CPU has it
natively) bf16 autocast, each with LoRA dropout 0.05 and 0.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from helpers.data import load_bundled
from helpers.hardware import detect_hardware
from helpers.inference import build_prompts, generate_answers
from helpers.metrics import style_adherence
from helpers.models import OFFLINE_PRESET, load_model_and_tokenizer
from helpers.templates import to_prompt_completion
from helpers.training import attach_lora, build_sft_trainer, make_lora_config, make_sft_config


def run_variant(label: str, *, bf16: bool, dropout: float, args, train, val, prompts) -> dict:
    profile = detect_hardware(verbose=False)
    model, tokenizer = load_model_and_tokenizer(OFFLINE_PRESET, profile, verbose=False)
    torch.manual_seed(0)
    model = attach_lora(model, make_lora_config(r=16, alpha=32, dropout=dropout), profile)
    config = make_sft_config(profile, f"/tmp/bench_recipe_{abs(hash(label))}", max_steps=args.steps,
                             batch_size=args.batch_size, learning_rate=1e-3, max_length=384, logging_steps=1000,
                             warmup_steps=max(1, args.steps // 10), verbose=False, bf16=bf16)
    trainer = build_sft_trainer(model, tokenizer, profile, config, train, val)
    before = trainer.evaluate()["eval_loss"]
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    after = trainer.evaluate()["eval_loss"]
    answers = generate_answers(trainer.model, tokenizer, prompts, max_new_tokens=96, batch_size=16)
    row = {"variant": label, "eval_loss_before": round(before, 3), "eval_loss_after": round(after, 3),
           "style_adherence": style_adherence(answers)["adherence"], "n_test": len(prompts),
           "train_seconds": round(seconds, 1),
           "tokens_per_second": round(trainer.state.num_input_tokens_seen / seconds, 1)}
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--n-test", type=int, default=16)
    args = parser.parse_args()
    _, tokenizer = load_model_and_tokenizer(OFFLINE_PRESET, detect_hardware(verbose=False), verbose=False)
    train = to_prompt_completion(load_bundled("python_style", "train"), "chatml", tokenizer, max_length=384,
                                 verbose=False)
    val = to_prompt_completion(load_bundled("python_style", "validation").shuffle(seed=0).select(range(8)),
                               "chatml", tokenizer, max_length=384, verbose=False)
    test = list(load_bundled("python_style", "test").shuffle(seed=0).select(range(args.n_test)))
    prompts = build_prompts(test, "chatml", tokenizer)
    feature = detect_hardware(cuda_available=False, verbose=False).cpu_bf16
    variants = [("fp32, dropout 0.05", False, 0.05), ("fp32, dropout 0", False, 0.0)]
    if feature:
        variants += [(f"bf16 ({feature}), dropout 0.05", True, 0.05), (f"bf16 ({feature}), dropout 0", True, 0.0)]
    rows = [run_variant(label, bf16=bf16, dropout=dropout, args=args, train=train, val=val, prompts=prompts)
            for label, bf16, dropout in variants]
    print(f"\n{'variant':<32} {'val loss':>16} {'style':>12} {'tokens/s':>9}")
    for row in rows:
        style = f"{100 * row['style_adherence']:.0f}% of {row['n_test']}"
        print(f"{row['variant']:<32} {row['eval_loss_before']:>7} -> {row['eval_loss_after']:<6} {style:>12} "
              f"{row['tokens_per_second']:>9}")


if __name__ == "__main__":
    main()
