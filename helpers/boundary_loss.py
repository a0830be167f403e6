"""A boundary-weighted loss for SFT: the first completion tokens count more (notebook 07, section 4).

A subclass of SFTTrainer overriding compute_loss, the way TRL 1.x documents custom losses.
"""

from __future__ import annotations

import torch
from trl import SFTTrainer


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
    """Cross-entropy that weighs the first completion tokens more: f(outputs, labels) -> loss.

    BoundaryWeightedSFTTrainer uses it for training steps; it also fits SFTTrainer's (deprecated)
    `compute_loss_func` argument.

    The first tokens after the prompt boundary decide the answer's format; the weighted mean puts
    `weight` times the usual emphasis on the first `window` of them. weight=1 gives plain loss.
    Without gradients (the trainer's evaluation) it returns plain completion-only cross-entropy, so
    validation losses of weighted and plain runs stay comparable.
    """

    def loss_func(outputs, labels, num_items_in_batch=None):
        effective_weight = weight if torch.is_grad_enabled() else 1.0
        logits = outputs.logits[:, :-1, :].float()
        targets = labels[:, 1:].to(logits.device)
        per_token = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-100, reduction="none"
        ).view_as(targets)
        weights = boundary_weights(targets, effective_weight, window)
        return (per_token * weights).sum() / weights.sum().clamp(min=1e-8)

    return loss_func


class BoundaryWeightedSFTTrainer(SFTTrainer):
    """SFTTrainer whose training loss weighs the first completion tokens more (see make_boundary_weighted_loss).

    TRL 1.x deprecates `compute_loss_func` (and runs an extra forward pass for it); subclassing and
    overriding `compute_loss` is the documented way. Training steps use the weighted loss, one forward
    pass each; evaluation goes through TRL's own loss, so validation losses compare with plain runs.
    The loss is a weighted mean per micro-batch: with gradient accumulation > 1 each micro-batch counts
    equally rather than each token.
    """

    def __init__(self, *args, boundary_weight: float = 2.0, boundary_window: int = 4, **kwargs):
        super().__init__(*args, **kwargs)
        self.boundary_weight, self.boundary_window = boundary_weight, boundary_window
        self._boundary_loss = make_boundary_weighted_loss(boundary_weight, boundary_window)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if not model.training or self.boundary_weight == 1.0:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        outputs = model(**{key: value for key, value in inputs.items() if key != "labels"}, use_cache=False)
        loss = self._boundary_loss(outputs, inputs["labels"])
        return (loss, outputs) if return_outputs else loss
