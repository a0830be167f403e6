"""Summaries: generation with a template, clean-up, scoring base vs adapter, and map-reduce for long articles."""

from __future__ import annotations

import re

from helpers.inference import build_prompts, generate_with_stats
from helpers.metrics import average_words, bertscore, rouge

SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')\]]))\s+(?=[A-Z0-9\"'(\[])")
ECHO_MARKERS = ("[/INST]", "Summary:", "Target:")


def clean_summary(text: str) -> str:
    """Keep only the generated summary: drop a template echo before it and collapse whitespace.

    Generation already stops at EOS and decodes only new tokens; a model that repeats the prompt
    format ("Summary: [/INST] ...") still gets only the text after the last marker.
    """
    for marker in ECHO_MARKERS:
        if marker in text:
            text = text.rsplit(marker, 1)[1]
    return " ".join(text.split())


def summarize(model, tokenizer, articles: list[str], template: str = "inst_summarize", max_new_tokens: int = 96,
              batch_size: int = 16) -> tuple[list[str], dict]:
    """Cleaned summaries of articles (batched, greedy) and the generation stats."""
    prompts = build_prompts([{"article": article} for article in articles], template, tokenizer)
    raw, stats = generate_with_stats(model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size)
    return [clean_summary(text) for text in raw], stats


def score_summaries(predictions: list[str], references: list[str], bertscore_model: str = "auto") -> dict:
    """ROUGE-1/2/L/Lsum, BERTScore and average lengths for one set of summaries."""
    predictions, references = list(predictions), list(references)  # a datasets Column is not a list
    return {
        **rouge(predictions, references),
        **bertscore(predictions, references, model=bertscore_model),
        "avg_generated_words": average_words(predictions),
        "avg_reference_words": average_words(references),
        "n": len(predictions),
    }


def split_sentences(text: str) -> list[str]:
    """Sentences of a text, split after . ! ? followed by a capitalized word."""
    return [sentence.strip() for sentence in SENTENCE_END.split(text.strip()) if sentence.strip()]


def split_into_chunks(text: str, tokenizer, max_tokens: int, overlap_sentences: int = 1) -> list[str]:
    """Split text into chunks of at most max_tokens tokens on sentence boundaries.

    Consecutive chunks share `overlap_sentences` sentences so no fact is cut from its context.
    A single sentence longer than max_tokens becomes a chunk of its own (cut to max_tokens).
    """
    if max_tokens < 1:
        raise ValueError("max_tokens must be positive")
    sentences = split_sentences(text)
    lengths = [len(tokenizer(s, add_special_tokens=False)["input_ids"]) for s in sentences]
    chunks: list[str] = []
    start = 0
    while start < len(sentences):
        end, used = start, 0
        while end < len(sentences) and (end == start or used + lengths[end] + 1 <= max_tokens):
            used += lengths[end] + (1 if end > start else 0)
            end += 1
        chunk = " ".join(sentences[start:end])
        if lengths[start] > max_tokens and end == start + 1:
            ids = tokenizer(chunk, add_special_tokens=False)["input_ids"][:max_tokens]
            chunk = tokenizer.decode(ids)
        chunks.append(chunk)
        if end >= len(sentences):
            break
        start = max(end - overlap_sentences, start + 1)
    return chunks


def summarize_long(model, tokenizer, article: str, chunk_tokens: int = 384, template: str = "inst_summarize",
                   max_new_tokens: int = 96, max_rounds: int = 4) -> dict:
    """Map-reduce: summarize each chunk, join the summaries, and repeat until the text fits one chunk.

    Returns the final summary and every round's chunk summaries, so a notebook can show the tree.
    """
    rounds = []
    text = article
    for _ in range(max_rounds):
        chunks = split_into_chunks(text, tokenizer, chunk_tokens)
        if len(chunks) == 1:
            break
        summaries, _ = summarize(model, tokenizer, chunks, template, max_new_tokens)
        rounds.append({"chunks": len(chunks), "summaries": summaries})
        text = " ".join(summaries)
    final, _ = summarize(model, tokenizer, [text], template, max_new_tokens)
    return {"summary": final[0], "rounds": rounds}
