"""A padding collator for data that is already tokenized with labels."""

from __future__ import annotations

from dataclasses import dataclass

import torch

IGNORE_INDEX = -100


class NoTrainedTokensError(ValueError):
    """A batch in which every label is -100: its loss would be 0/0 = NaN."""


def drop_untrained_examples(dataset):
    """Remove examples whose labels are all -100 (they train nothing and can make a batch's loss NaN)."""
    return dataset.filter(lambda example: any(label != IGNORE_INDEX for label in example["labels"]))


@dataclass
class PaddingCollator:
    """Pad input_ids, labels and attention_mask to the longest example in the batch (not to max_length).

    Padding goes on the right for training; labels are padded with -100 and the attention mask is
    built from each example's length, never from the pad token id (which may equal EOS, and EOS
    must stay trained). A batch with no trained token raises NoTrainedTokensError: filter such
    examples out first with drop_untrained_examples.
    """

    pad_token_id: int
    pad_to_multiple_of: int | None = None

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        longest = max(len(example["input_ids"]) for example in examples)
        if self.pad_to_multiple_of:
            longest = -(-longest // self.pad_to_multiple_of) * self.pad_to_multiple_of
        input_ids, labels, attention_mask = [], [], []
        for example in examples:
            ids, example_labels = list(example["input_ids"]), list(example["labels"])
            if len(ids) != len(example_labels):
                raise ValueError(f"input_ids ({len(ids)}) and labels ({len(example_labels)}) differ in length")
            padding = longest - len(ids)
            input_ids.append(ids + [self.pad_token_id] * padding)
            labels.append(example_labels + [IGNORE_INDEX] * padding)
            attention_mask.append([1] * len(ids) + [0] * padding)
        batch = {
            "input_ids": torch.tensor(input_ids, dtype=torch.long),
            "labels": torch.tensor(labels, dtype=torch.long),
            "attention_mask": torch.tensor(attention_mask, dtype=torch.long),
        }
        if not (batch["labels"] != IGNORE_INDEX).any():
            raise NoTrainedTokensError(
                f"This batch of {len(examples)} examples has no trained token (every label is -100), so its loss "
                "would be NaN. Remove such examples first with drop_untrained_examples(dataset)."
            )
        return batch
