"""Summaries (helpers.summarization): clean-up, chunking and the map-reduce summarizer."""

from __future__ import annotations

import pytest

from helpers.summarization import clean_summary, split_into_chunks, split_sentences, summarize_long


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  Council approves park.\n Work starts in May. ", "Council approves park. Work starts in May."),
        ("Summary: [/INST] Council approves park.", "Council approves park."),
        ("[INST] Summarize ... Summary: [/INST] Rain floods roads.", "Rain floods roads."),
    ],
)
def test_clean_summary_keeps_only_the_summary(raw, clean):
    assert clean_summary(raw) == clean


def test_split_sentences():
    text = 'He said "It works." Then it rained. Profit rose 3.5% to $2 million! Was it 2024? Yes.'
    assert split_sentences(text) == ['He said "It works."', "Then it rained.", "Profit rose 3.5% to $2 million!",
                                     "Was it 2024?", "Yes."]


def test_chunks_respect_the_limit_keep_order_and_overlap(offline_tokenizer):
    sentences = [f"Sentence {i} tells a short fact about the city council and its plans." for i in range(30)]
    chunks = split_into_chunks(" ".join(sentences), offline_tokenizer, max_tokens=60, overlap_sentences=1)
    assert len(chunks) > 3
    for chunk in chunks:
        assert len(offline_tokenizer(chunk, add_special_tokens=False)["input_ids"]) <= 60
    covered = [s for chunk in chunks for s in split_sentences(chunk)]
    assert covered[0] == sentences[0] and covered[-1] == sentences[-1]
    assert set(covered) == set(sentences), "no sentence is lost"
    for first, second in zip(chunks, chunks[1:]):
        assert split_sentences(first)[-1] == split_sentences(second)[0], "consecutive chunks share a sentence"


def test_a_short_text_is_one_chunk_and_a_huge_sentence_is_cut(offline_tokenizer):
    assert split_into_chunks("One. Two.", offline_tokenizer, 50) == ["One. Two."]
    huge = "word " * 200
    chunks = split_into_chunks(huge, offline_tokenizer, 20)
    assert len(chunks) == 1 and len(offline_tokenizer(chunks[0], add_special_tokens=False)["input_ids"]) <= 20


def test_map_reduce_summarizes_chunks_then_their_summaries(tiny_model, tiny_tokenizer):
    article = " ".join(f"Fact number {i} is about the harbor and its boats." for i in range(40))
    result = summarize_long(tiny_model, tiny_tokenizer, article, chunk_tokens=80, max_new_tokens=8, max_rounds=2)
    assert result["rounds"], "a long article needs at least one map round"
    assert result["rounds"][0]["chunks"] == len(split_into_chunks(article, tiny_tokenizer, 80))
    assert isinstance(result["summary"], str)
