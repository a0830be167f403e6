"""Notebook 07's plots (helpers.plots), drawn from results rows."""

from __future__ import annotations

from helpers.experiments import latest_rows, task_score
from helpers.plots import plot_experiments


def _row(experiment, name, score, **extra):
    return {"experiment": experiment, "name": name, "sentiment_accuracy": score / 100, "qa_f1": score,
            "qa_exact_match": score, "trainable_params": 1000, "eval_loss": 1.0, "peak_memory_mb": 500.0,
            "peak_memory_kind": "test", "weights_mb": 100.0, "tokens_per_second": 50.0,
            "eval_curve": [[0, 2.0], [5, 1.0]], **extra}


def test_plots_are_drawn_from_rows_and_a_rerun_replaces_its_row(tmp_path):
    rows = [_row("base", "untouched", 40)]
    rows += [_row("rank", f"r={r}", 50 + r, r=r) for r in (4, 8, 16)]
    rows += [_row("targets", f"{kind}, r={r}", 60, r=r, adapted=kind) for r in (4, 8, 16)
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
