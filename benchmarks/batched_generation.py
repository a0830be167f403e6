"""Benchmark: batched (length-sorted, left-padded) against one-at-a-time greedy generation, in one process.

    python -m benchmarks.batched_generation [--prompts 16] [--batch-size 16] [--cache dynamic static]

Same model (the offline preset), same prompts, same greedy settings. Two prompt sets: notebook 01/04's
python_style requests (short prompts, up to 128 new tokens: decoding dominates) and notebook 05's news
articles (prompts of several hundred tokens, up to 64 new tokens: reading the prompt dominates, and that
work is the same batched or not). For each it prints both wall times, the ratio, and how many of the
batched answers are identical to the one-at-a-time answers. `--cache static` also times HF's static KV cache.
"""

from __future__ import annotations

import argparse
import json
import time

from helpers.data import load_bundled, load_news_summaries
from helpers.hardware import detect_hardware
from helpers.inference import build_prompts, generate_answers, generate_one_at_a_time
from helpers.models import OFFLINE_PRESET, load_model_and_tokenizer


def prompt_sets(tokenizer, n: int) -> dict[str, tuple[list[str], int]]:
    """Prompts and max_new_tokens of each set, as the notebooks generate them."""
    requests = list(load_bundled("python_style", "test").shuffle(seed=0).select(range(n)))
    articles, _ = load_news_summaries("test", source="bundled", limit=n)
    return {
        "python_style requests (01, 04)": (build_prompts(requests, "chatml", tokenizer), 128),
        "news articles (05)": (build_prompts([{"article": a} for a in articles["article"]], "chatml_summarize",
                                             tokenizer), 64),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--cache", nargs="+", default=["dynamic"], choices=["dynamic", "static"])
    args = parser.parse_args()

    model, tokenizer = load_model_and_tokenizer(OFFLINE_PRESET, detect_hardware(verbose=False), verbose=False)
    results = []
    for name, (prompts, max_new_tokens) in prompt_sets(tokenizer, args.prompts).items():
        started = time.perf_counter()
        single = generate_one_at_a_time(model, tokenizer, prompts, max_new_tokens)
        single_s = time.perf_counter() - started
        for cache in args.cache:
            model.generation_config.cache_implementation = None if cache == "dynamic" else cache
            started = time.perf_counter()
            batched = generate_answers(model, tokenizer, prompts, max_new_tokens, batch_size=args.batch_size)
            batched_s = time.perf_counter() - started
            row = {"prompts": name, "n": len(prompts), "max_new_tokens": max_new_tokens, "kv_cache": cache,
                   "batch_size": args.batch_size, "one_at_a_time_seconds": round(single_s, 1),
                   "batched_seconds": round(batched_s, 1), "ratio": round(single_s / batched_s, 1),
                   "identical_outputs": sum(a == b for a, b in zip(single, batched))}
            results.append(row)
            print(f"{name}, {cache} cache: one at a time {single_s:.1f} s, batched {batched_s:.1f} s: "
                  f"{single_s / batched_s:.1f}x; identical answers {row['identical_outputs']}/{len(prompts)}",
                  flush=True)
        model.generation_config.cache_implementation = None
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
