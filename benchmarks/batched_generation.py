"""Benchmark: batched (length-sorted, left-padded) against one-at-a-time summary generation, in one process.

    python -m benchmarks.batched_generation [--articles 16] [--batch-size 16] [--max-new-tokens 64]

Same model (the offline preset), same test articles, same greedy settings; prints both wall times,
the ratio, and whether the two produced identical summaries.
"""

from __future__ import annotations

import argparse
import json
import time

from helpers.data import load_news_summaries
from helpers.inference import build_prompts, generate_answers, generate_one_at_a_time
from helpers.models import OFFLINE_PRESET, load_model_and_tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    args = parser.parse_args()

    model, tokenizer = load_model_and_tokenizer(OFFLINE_PRESET)
    data, source = load_news_summaries("test", source="bundled", limit=args.articles)
    prompts = build_prompts([{"article": a} for a in data["article"]], "chatml_summarize", tokenizer)

    started = time.perf_counter()
    single = generate_one_at_a_time(model, tokenizer, prompts, args.max_new_tokens)
    single_s = time.perf_counter() - started
    started = time.perf_counter()
    batched = generate_answers(model, tokenizer, prompts, args.max_new_tokens, batch_size=args.batch_size)
    batched_s = time.perf_counter() - started
    result = {
        "articles": len(prompts), "data": source, "batch_size": args.batch_size,
        "max_new_tokens": args.max_new_tokens, "one_at_a_time_seconds": round(single_s, 1),
        "batched_seconds": round(batched_s, 1), "ratio": round(single_s / batched_s, 1),
        "identical_outputs": sum(a == b for a, b in zip(single, batched)),
    }
    print(json.dumps(result, indent=2))
    print(f"Batched generation is {single_s / batched_s:.1f}x faster than one prompt at a time here.")


if __name__ == "__main__":
    main()
