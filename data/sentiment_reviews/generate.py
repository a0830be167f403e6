"""Generate data/sentiment_reviews/{train,validation,test}.jsonl deterministically (SST-2 style).

Run from the project root: python data/sentiment_reviews/generate.py
Short review sentences with a binary label, like SST-2's `sentence` / `label`, but with the label as a
word ("positive" / "negative") so a generative model can answer it. The label is computed from how the
sentence is built, so it is correct by construction:
- one clause: the adjective's polarity, flipped by "not" ("was not great" -> negative);
- two clauses joined by "but": the clause after "but" decides ("dull, but the ending was superb" -> positive).
Negation and contrast are what make it more than keyword spotting for an untouched small model.
"""

from __future__ import annotations

import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 7

POSITIVE = ["superb", "moving", "funny", "gripping", "charming", "beautiful", "clever", "delightful",
            "brilliant", "heartfelt", "stunning", "memorable"]
NEGATIVE = ["dull", "clumsy", "boring", "predictable", "confusing", "tedious", "flat", "forgettable",
            "messy", "lifeless", "awkward", "shallow"]
ASPECTS = ["the acting", "the plot", "the soundtrack", "the dialogue", "the ending", "the pacing",
           "the camera work", "the script", "the cast", "the humor", "the story", "the direction"]
OPENERS = ["", "Honestly, ", "Overall, ", "To be fair, ", "In the end, "]


def clause(rng: random.Random) -> tuple[str, bool]:
    """'the plot was (not) ADJ' and whether it is positive."""
    positive = rng.random() < 0.5
    adjective = rng.choice(POSITIVE if positive else NEGATIVE)
    negated = rng.random() < 0.3
    verb = "was not" if negated else "was"
    return f"{rng.choice(ASPECTS)} {verb} {adjective}", positive != negated


def review(rng: random.Random) -> dict:
    first, first_positive = clause(rng)
    if rng.random() < 0.45:
        second, positive = clause(rng)
        while positive == first_positive:  # a contrast only means something when the halves disagree
            second, positive = clause(rng)
        text = f"{first}, but {second}"
    else:
        text, positive = first, first_positive
    opener = rng.choice(OPENERS)
    sentence = opener + (text[0].upper() + text[1:] if not opener else text) + "."
    return {"sentence": sentence, "label": "positive" if positive else "negative"}


def generate(sizes: dict[str, int] | None = None) -> dict[str, list[dict]]:
    """Unique, label-balanced sentences split into train / validation / test (no sentence in two splits)."""
    sizes = sizes or {"train": 240, "validation": 40, "test": 60}
    rng = random.Random(SEED)
    seen: set[str] = set()
    splits: dict[str, list[dict]] = {}
    for split, size in sizes.items():
        by_label: dict[str, list[dict]] = {"positive": [], "negative": []}
        while min(len(rows) for rows in by_label.values()) < size // 2:
            record = review(rng)
            if record["sentence"] in seen or len(by_label[record["label"]]) >= size // 2:
                continue
            seen.add(record["sentence"])
            by_label[record["label"]].append(record)
        records = by_label["positive"] + by_label["negative"]
        rng.shuffle(records)
        splits[split] = records
    return splits


def main() -> None:
    from helpers.data import write_splits

    write_splits(generate(), HERE)


if __name__ == "__main__":
    main()
