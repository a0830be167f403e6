"""The padding collator for already-tokenized data."""

from __future__ import annotations

import pytest
import torch
from datasets import Dataset

from helpers.collators import IGNORE_INDEX, NoTrainedTokensError, PaddingCollator, drop_untrained_examples

EOS = 2  # in SmolLM2, pad == EOS == 2


def test_pads_to_the_longest_on_the_right_with_ignored_labels():
    collate = PaddingCollator(pad_token_id=EOS)
    batch = collate([
        {"input_ids": [5, 6, 7, EOS], "labels": [-100, -100, 7, EOS]},
        {"input_ids": [8, 9], "labels": [-100, EOS]},
    ])
    assert batch["input_ids"].tolist() == [[5, 6, 7, EOS], [8, 9, EOS, EOS]]
    assert batch["labels"].tolist() == [[-100, -100, 7, EOS], [-100, EOS, -100, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]


def test_real_eos_stays_trained_even_when_pad_equals_eos():
    collate = PaddingCollator(pad_token_id=EOS)
    batch = collate([{"input_ids": [5, EOS], "labels": [-100, EOS]}, {"input_ids": [5, 6, 7, EOS],
                                                                      "labels": [-100, 6, 7, EOS]}])
    assert batch["labels"][0, 1].item() == EOS, "masking by token id would have removed the real EOS"
    assert batch["attention_mask"][0].tolist() == [1, 1, 0, 0]


def test_pads_to_longest_not_to_max_length_and_honours_multiple_of():
    batch = PaddingCollator(pad_token_id=0)([{"input_ids": [1, 2, 3], "labels": [1, 2, 3]}])
    assert batch["input_ids"].shape == (1, 3)
    batch = PaddingCollator(pad_token_id=0, pad_to_multiple_of=8)([{"input_ids": [1, 2, 3], "labels": [1, 2, 3]}])
    assert batch["input_ids"].shape == (1, 8)
    assert batch["labels"][0, 3:].eq(IGNORE_INDEX).all()


def test_a_batch_with_no_trained_token_raises_a_clear_error():
    with pytest.raises(NoTrainedTokensError, match="no trained token"):
        PaddingCollator(pad_token_id=0)([{"input_ids": [1, 2], "labels": [-100, -100]}])


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError, match="differ in length"):
        PaddingCollator(pad_token_id=0)([{"input_ids": [1, 2], "labels": [-100]}])


def test_drop_untrained_examples_removes_only_fully_masked_ones():
    data = Dataset.from_list([
        {"input_ids": [1, 2], "labels": [-100, -100]},
        {"input_ids": [1, 2], "labels": [-100, 2]},
    ])
    kept = drop_untrained_examples(data)
    assert kept["labels"] == [[-100, 2]]


def test_collated_batch_gives_a_finite_loss(tiny_model):
    batch = PaddingCollator(pad_token_id=0)([
        {"input_ids": [10, 11, 12, 13], "labels": [-100, -100, 12, 13]},
        {"input_ids": [14, 15], "labels": [-100, 15]},
    ])
    loss = tiny_model(**batch).loss
    assert torch.isfinite(loss)
