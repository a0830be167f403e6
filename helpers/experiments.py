"""Helpers for the experiments track: task metrics, a compute budget, and a boundary-weighted loss."""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from pathlib import Path

import torch

# --- Task metrics -------------------------------------------------------------------------------


def accuracy(predictions: list[str], labels: list[str]) -> float:
    """Share of predictions equal to their label (case and surrounding whitespace ignored)."""
    if len(predictions) != len(labels) or not labels:
        raise ValueError("accuracy needs equally many predictions and labels, at least one")
    return sum(p.strip().lower() == t.strip().lower() for p, t in zip(predictions, labels)) / len(labels)


def first_label(answer: str, choices: tuple[str, ...]) -> str:
    """The first of `choices` that appears in a free-text answer, or '' (counted wrong)."""
    words = re.findall(r"[a-z]+", answer.lower())
    for word in words:
        if word in choices:
            return word
    return ""


def normalize_answer(text: str) -> str:
    """SQuAD v1.1 normalization: lower case, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(char for char in text if char not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, ground_truths: list[str]) -> float:
    """SQuAD v1.1 exact match against the best of the ground truths (1.0 or 0.0)."""
    return max(float(normalize_answer(prediction) == normalize_answer(truth)) for truth in ground_truths)


def _f1(prediction: str, truth: str) -> float:
    prediction_tokens, truth_tokens = normalize_answer(prediction).split(), normalize_answer(truth).split()
    common = Counter(prediction_tokens) & Counter(truth_tokens)
    shared = sum(common.values())
    if shared == 0:
        return 0.0
    precision, recall = shared / len(prediction_tokens), shared / len(truth_tokens)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, ground_truths: list[str]) -> float:
    """SQuAD v1.1 token-overlap F1 against the best of the ground truths."""
    return max(_f1(prediction, truth) for truth in ground_truths)


def squad_scores(predictions: list[str], ground_truths: list[list[str]]) -> dict[str, float]:
    """Mean exact match and F1, in percent as the SQuAD script reports them."""
    if len(predictions) != len(ground_truths) or not predictions:
        raise ValueError("squad_scores needs equally many predictions and answer lists, at least one")
    n = len(predictions)
    return {
        "exact_match": 100 * sum(exact_match(p, t) for p, t in zip(predictions, ground_truths)) / n,
        "f1": 100 * sum(token_f1(p, t) for p, t in zip(predictions, ground_truths)) / n,
    }


# --- Compute budget -----------------------------------------------------------------------------

CHINCHILLA_TOKENS_PER_PARAMETER = 20


def compute_budget(parameters: int, training_tokens: int) -> dict[str, float]:
    """Chinchilla rule of thumb: ~20 training tokens per parameter, compute ~ 6 x parameters x tokens FLOPs.

    Returns the run's FLOPs, the compute-optimal token count for this model size, and how far the
    run is from it (tokens_ratio 1.0 = compute-optimal; fine-tuning runs are typically far below).
    """
    if parameters <= 0 or training_tokens < 0:
        raise ValueError("parameters must be positive and training_tokens non-negative")
    optimal_tokens = CHINCHILLA_TOKENS_PER_PARAMETER * parameters
    return {
        "parameters": parameters,
        "training_tokens": training_tokens,
        "flops": 6 * parameters * training_tokens,
        "optimal_tokens": optimal_tokens,
        "optimal_flops": 6 * parameters * optimal_tokens,
        "tokens_ratio": training_tokens / optimal_tokens,
    }


# --- Boundary-weighted loss ---------------------------------------------------------------------


def boundary_weights(labels: torch.Tensor, weight: float, window: int) -> torch.Tensor:
    """Per-token weights for shifted labels: `weight` on the first `window` trained tokens of each row, else 1.

    Ignored positions (-100) get weight 0.
    """
    trained = labels != -100
    position_in_completion = torch.cumsum(trained.long(), dim=1)  # 1 for the first trained token
    weights = torch.ones_like(labels, dtype=torch.float)
    weights[position_in_completion <= window] = weight
    return weights * trained.float()


def make_boundary_weighted_loss(weight: float = 2.0, window: int = 4):
    """A `compute_loss_func` for SFTTrainer: cross-entropy that weighs the first completion tokens more.

    The first tokens after the prompt boundary decide the answer's format; the weighted mean puts
    `weight` times the usual emphasis on the first `window` of them. weight=1 gives plain loss.
    """

    def loss_func(outputs, labels, num_items_in_batch=None):
        logits = outputs.logits[:, :-1, :].float()
        targets = labels[:, 1:].to(logits.device)
        per_token = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-100, reduction="none"
        ).view_as(targets)
        weights = boundary_weights(targets, weight, window)
        return (per_token * weights).sum() / weights.sum().clamp(min=1e-8)

    return loss_func


# --- Results files ------------------------------------------------------------------------------


def append_rows(path: str | Path, rows: list[dict]) -> None:
    """Append experiment rows to a JSONL results file (the plots are drawn from it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, default=str) + "\n")


def read_rows(path: str | Path) -> list[dict]:
    """All rows of a JSONL results file."""
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
