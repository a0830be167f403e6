"""ROUGE and BERTScore helpers, summary clean-up, chunking and the map-reduce summarizer."""

from __future__ import annotations

import pytest

from helpers.metrics import average_words, bertscore, rouge
from helpers.summarization import clean_summary, split_into_chunks, split_sentences, summarize_long

PREDICTIONS = ["the cat sat on the mat", "rain floods the northern roads"]
REFERENCES = ["a cat sat on a mat", "rain floods northern roads on tuesday"]


def test_rouge_matches_hand_computed_values():
    scores = rouge(PREDICTIONS, REFERENCES, backend="rouge_score")
    # ROUGE-1: 4 of 6 unigrams shared (F 0.667); 4 shared, P 4/5, R 4/6 with stemming (F 0.727).
    assert scores["rouge1"] == pytest.approx((2 / 3 + 8 / 11) / 2)
    # ROUGE-2: 2 of 5 bigrams (F 0.4); 2 shared, P 2/4, R 2/5 (F 0.444).
    assert scores["rouge2"] == pytest.approx((0.4 + 4 / 9) / 2)
    assert scores["rougeL"] == pytest.approx(scores["rouge1"])
    assert scores["rouge_backend"] == "rouge_score"


def test_rouge_auto_uses_rouge_score_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert rouge(PREDICTIONS, REFERENCES)["rouge_backend"] == "rouge_score"
    with pytest.raises(ValueError):
        rouge(["a"], [])


def test_offline_bertscore_is_labelled_and_sane():
    same = bertscore(REFERENCES, REFERENCES, model="offline")
    different = bertscore(PREDICTIONS, ["stock markets closed higher", "the orchestra played Mozart"],
                          model="offline")
    close = bertscore(PREDICTIONS, REFERENCES, model="offline")
    assert same["bertscore_f1"] == pytest.approx(1.0, abs=1e-5)
    assert different["bertscore_f1"] < close["bertscore_f1"] < same["bertscore_f1"]
    assert "MiniLM" in close["bertscore_model"] and "not comparable" in close["bertscore_model"]


def test_empty_summaries_score_zero_in_bertscore():
    full = bertscore(PREDICTIONS, REFERENCES, model="offline")
    with_empty = bertscore([PREDICTIONS[0], ""], REFERENCES, model="offline")
    alone = bertscore([PREDICTIONS[0]], [REFERENCES[0]], model="offline")
    assert with_empty["bertscore_f1"] == pytest.approx(alone["bertscore_f1"] / 2, abs=1e-6)
    assert with_empty["bertscore_f1"] < full["bertscore_f1"]


def test_average_words():
    assert average_words(["a b c", "d"]) == 2.0


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
