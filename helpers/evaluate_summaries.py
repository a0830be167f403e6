"""Evaluation without training: score a base model or a saved adapter on N test summaries.

    python -m helpers.evaluate_summaries --model smollm2-135m-instruct --adapter adapters/news_summaries/final \\
        --n 20 --output adapters/news_summaries/eval_adapter.json

Writes the metrics JSON (ROUGE, BERTScore, lengths, which data and models were used) and prints it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from helpers.data import load_news_summaries
from helpers.hardware import detect_hardware
from helpers.inference import load_adapter
from helpers.models import default_preset, load_model_and_tokenizer
from helpers.summarization import score_summaries, summarize


def evaluate_summarizer(
    model_name: str | None = None,
    adapter_dir: str | Path | None = None,
    n: int = 20,
    split: str = "test",
    source: str = "auto",
    template: str = "inst_summarize",
    max_new_tokens: int = 96,
    batch_size: int = 16,
    load_in_4bit: bool | None = None,
    bertscore_model: str = "auto",
    output: str | Path | None = None,
) -> dict:
    """Summarize the first n articles of a split with a base model (and adapter) and score them."""
    profile = detect_hardware(load_in_4bit=load_in_4bit)
    model_name = model_name or default_preset(profile)
    model, tokenizer = load_model_and_tokenizer(model_name, profile)
    if adapter_dir:
        model = load_adapter(model, adapter_dir)
    data, data_source = load_news_summaries(split, source=source, limit=n)
    predictions, generation = summarize(model, tokenizer, list(data["article"]), template, max_new_tokens, batch_size)
    metrics = {
        **score_summaries(predictions, list(data["summary"]), bertscore_model=bertscore_model),
        "model": model_name,
        "adapter": str(adapter_dir) if adapter_dir else None,
        "data": data_source,
        "split": split,
        "template": template,
        "max_new_tokens": max_new_tokens,
        "generation": generation,
        "predictions": predictions,
    }
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    return metrics


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="preset, hub id or path (default: from the hardware)")
    parser.add_argument("--adapter", default=None, help="a saved adapter folder; omit to score the base model")
    parser.add_argument("--n", type=int, default=20, help="how many test examples")
    parser.add_argument("--split", default="test")
    parser.add_argument("--source", default="auto", choices=["auto", "hub", "bundled"])
    parser.add_argument("--template", default="inst_summarize")
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--bertscore-model", default="auto", choices=["auto", "standard", "offline"])
    parser.add_argument("--output", default=None, help="where to write the metrics JSON")
    args = parser.parse_args(argv)
    metrics = evaluate_summarizer(
        args.model, args.adapter, args.n, args.split, args.source, args.template, args.max_new_tokens,
        args.batch_size, bertscore_model=args.bertscore_model, output=args.output,
    )
    shown = {k: v for k, v in metrics.items() if k not in ("predictions", "generation")}
    print(json.dumps(shown, indent=2))


if __name__ == "__main__":
    main()
