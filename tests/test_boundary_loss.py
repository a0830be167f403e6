"""The boundary-weighted loss (helpers.boundary_loss): weights, the weighted mean, plain loss in evaluation."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from helpers.boundary_loss import boundary_weights, make_boundary_weighted_loss


def test_boundary_weights_mark_the_first_completion_tokens():
    labels = torch.tensor([
        [-100, -100, 5, 6, 7, 8],
        [-100, 9, 10, -100, -100, -100],
    ])
    weights = boundary_weights(labels, weight=3.0, window=2)
    assert weights.tolist() == [
        [0, 0, 3, 3, 1, 1],
        [0, 3, 3, 0, 0, 0],
    ]


def _outputs(logits):
    return SimpleNamespace(logits=logits)


def test_weight_one_is_plain_completion_only_cross_entropy():
    torch.manual_seed(0)
    logits = torch.randn(2, 6, 11)
    labels = torch.tensor([[-100, -100, 1, 2, 3, 4], [-100, 5, 6, 7, -100, -100]])
    plain = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, 11), labels[:, 1:].reshape(-1), ignore_index=-100
    )
    loss = make_boundary_weighted_loss(weight=1.0, window=4)(_outputs(logits), labels)
    assert loss.item() == pytest.approx(plain.item(), rel=1e-6)


def test_boundary_loss_is_the_hand_weighted_mean():
    torch.manual_seed(1)
    logits = torch.randn(1, 5, 7)
    labels = torch.tensor([[-100, 1, 2, 3, 4]])
    per_token = torch.nn.functional.cross_entropy(logits[0, :-1], labels[0, 1:], reduction="none")
    # shifted targets [1, 2, 3, 4]: weights [2, 1, 1, 1] with window 1, weight 2
    expected = (2 * per_token[0] + per_token[1:].sum()) / 5
    loss = make_boundary_weighted_loss(weight=2.0, window=1)(_outputs(logits), labels)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert math.isfinite(loss.item())


def test_evaluation_without_gradients_sees_plain_loss():
    torch.manual_seed(2)
    logits = torch.randn(1, 5, 7)
    labels = torch.tensor([[-100, 1, 2, 3, 4]])
    weighted = make_boundary_weighted_loss(weight=5.0, window=2)
    plain = make_boundary_weighted_loss(weight=1.0)
    with torch.no_grad():
        assert weighted(_outputs(logits), labels).item() == pytest.approx(plain(_outputs(logits), labels).item())
    assert weighted(_outputs(logits), labels).item() != pytest.approx(plain(_outputs(logits), labels).item())
