"""Experiment helpers: the Chinchilla budget, the boundary-weighted loss, whole runs on the tiny model, plots."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from helpers.boundary_loss import boundary_weights, make_boundary_weighted_loss
from helpers.experiments import append_rows, compute_budget, read_rows


def test_compute_budget_known_values():
    # A 70B model: Chinchilla-optimal at 1.4T tokens, about 5.9e23 FLOPs (the paper's Chinchilla budget).
    budget = compute_budget(70_000_000_000, 1_400_000_000_000)
    assert budget["optimal_tokens"] == 1_400_000_000_000
    assert budget["tokens_ratio"] == pytest.approx(1.0)
    assert budget["flops"] == pytest.approx(5.88e23)
    # SmolLM2-135M fine-tuned on 100k tokens: 6 * 135e6 * 1e5 = 8.1e13 FLOPs; optimal 2.7B tokens.
    small = compute_budget(135_000_000, 100_000)
    assert small["flops"] == pytest.approx(8.1e13)
    assert small["optimal_tokens"] == 2_700_000_000
    assert small["tokens_ratio"] == pytest.approx(100_000 / 2.7e9)
    with pytest.raises(ValueError):
        compute_budget(0, 10)


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


def test_results_rows_append_and_read_back(tmp_path):
    path = tmp_path / "runs" / "results.jsonl"
    append_rows(path, [{"experiment": "rank", "r": 4, "loss": 1.5}])
    append_rows(path, [{"experiment": "rank", "r": 8, "loss": 1.2}])
    assert read_rows(path) == [{"experiment": "rank", "r": 4, "loss": 1.5}, {"experiment": "rank", "r": 8, "loss": 1.2}]


# --- A whole experiment run, on the tiny model --------------------------------------------------

ROW_FIELDS = {"experiment", "name", "method", "trainable_params", "total_params", "trainable_percent",
              "weights_mb", "peak_memory_mb", "tokens_per_second", "eval_loss_before", "eval_loss",
              "eval_curve", "sentiment_accuracy", "qa_exact_match", "qa_f1", "seconds"}


@pytest.fixture(scope="module")
def tiny_rows(tmp_path_factory):
    from helpers.experiments import RunSettings, run_experiment
    from helpers.models import TINY_PRESET

    folder = tmp_path_factory.mktemp("experiments")
    settings = RunSettings(output_dir=str(folder), max_steps=2, batch_size=4, n_train_per_task=8,
                           n_val_per_task=4, n_eval_per_task=4, learning_rate=1e-3)
    results = folder / "results.jsonl"
    runs = {
        "base": {"method": "base"},
        "lora": {"method": "lora", "r": 8},
        "attention": {"method": "lora", "r": 8, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]},
        "qlora": {"method": "qlora", "r": 8},
        "full": {"method": "full"},
        "boundary": {"method": "lora", "r": 8, "boundary_weight": 3.0, "boundary_window": 2},
    }
    rows = {name: run_experiment("test", name, TINY_PRESET, settings, results_file=results, **kwargs)
            for name, kwargs in runs.items()}
    return rows, results


def test_every_run_writes_a_complete_row(tiny_rows):
    rows, results = tiny_rows
    written = read_rows(results)
    assert [row["name"] for row in written] == list(rows)
    for row in written:
        assert ROW_FIELDS <= set(row), row["name"]
        assert 0 <= row["sentiment_accuracy"] <= 1 and 0 <= row["qa_f1"] <= 100
        assert len(row["sentiment_answers"]) == len(row["qa_answers"]) == 4
    assert {row["optim"] for row in written} == {"adamw_torch"}, "one optimizer for every method"


def test_trainable_parameters_follow_the_method(tiny_rows):
    rows, _ = tiny_rows
    assert rows["base"]["trainable_params"] == 0 and rows["base"]["steps"] == 0
    assert rows["full"]["trainable_params"] == rows["full"]["total_params"]
    assert 0 < rows["attention"]["trainable_params"] < rows["lora"]["trainable_params"] < rows["full"]["trainable_params"]
    assert rows["qlora"]["trainable_params"] == rows["lora"]["trainable_params"]


def test_a_4bit_base_holds_less_memory_than_a_full_precision_one(tiny_rows):
    rows, _ = tiny_rows
    assert rows["qlora"]["weights_mb"] < rows["lora"]["weights_mb"]


def test_training_moves_the_validation_loss(tiny_rows):
    rows, _ = tiny_rows
    for name in ("lora", "qlora", "full", "boundary"):
        assert rows[name]["steps"] == 2
        assert rows[name]["eval_loss"] != rows[name]["eval_loss_before"], name
    assert rows["boundary"]["boundary_weight"] == 3.0
    # Fresh LoRA starts as the base model (B = 0) and evaluation uses TRL's plain loss: same starting point.
    assert rows["boundary"]["eval_loss_before"] == rows["lora"]["eval_loss_before"]
    assert rows["boundary"]["eval_loss"] != rows["lora"]["eval_loss"]  # the weighted loss trained differently


def _row(experiment, name, score, **extra):
    return {"experiment": experiment, "name": name, "sentiment_accuracy": score / 100, "qa_f1": score,
            "qa_exact_match": score, "trainable_params": 1000, "eval_loss": 1.0, "peak_memory_mb": 500.0,
            "peak_memory_kind": "test", "weights_mb": 100.0, "tokens_per_second": 50.0,
            "eval_curve": [[0, 2.0], [5, 1.0]], **extra}


def test_plots_are_drawn_from_rows_and_a_rerun_replaces_its_row(tmp_path):
    from helpers.experiments import latest_rows, plot_experiments, task_score

    rows = [_row("base", "untouched", 40)]
    rows += [_row("rank", f"r={r}", 50 + r, r=r) for r in (4, 8, 16)]
    rows += [_row("targets", f"{kind}, r={r}", 60, r=r) for r in (4, 8, 16)
             for kind in ("attention only", "attention + MLP")]
    rows += [_row("method", name, 70) for name in ("QLoRA (4-bit base)", "LoRA (full-precision base)",
                                                      "full fine-tuning")]
    rows += [_row("loss", "plain completion-only", 70), _row("loss", "boundary x3, first 3", 72)]
    rows.append(_row("rank", "r=4", 90, r=4))  # a rerun of r=4
    latest = latest_rows(rows)
    assert len(latest) == len(rows) - 1
    assert task_score(next(row for row in latest if row["name"] == "r=4")) == 90
    saved = plot_experiments(rows, tmp_path)
    assert set(saved) == {"rank", "targets", "method", "loss"}
    assert all(path.stat().st_size > 10_000 for path in saved.values())
    assert plot_experiments([_row("base", "untouched", 40)], tmp_path / "only_base") == {}
