"""Plots of notebook 07's experiments, drawn from the rows of its results file (helpers.experiments)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from helpers.experiments import latest_rows, task_score


def plot_experiments(rows: list[dict], folder: str | Path) -> dict[str, Path]:
    """Draw every experiment found in the rows (from the results file) and save one PNG per experiment."""
    import matplotlib.pyplot as plt

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows = latest_rows(rows)
    by_experiment: dict[str, list[dict]] = {}
    for row in rows:
        by_experiment.setdefault(row["experiment"], []).append(row)
    base = next(iter(by_experiment.get("base", [])), None)
    saved: dict[str, Path] = {}

    def save(figure, name: str) -> None:
        path = folder / f"{name}.png"
        figure.tight_layout()
        figure.savefig(path, dpi=110, bbox_inches="tight")
        saved[name] = path

    def base_line(axis) -> None:
        if base:
            axis.axhline(task_score(base), color="grey", linestyle="--", label="untouched model")

    if by_experiment.get("rank"):
        ranked = sorted(by_experiment["rank"], key=lambda row: row["r"])
        figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
        left.plot([row["r"] for row in ranked], [task_score(row) for row in ranked], marker="o", label="fine-tuned")
        base_line(left)
        left.set(xlabel="LoRA rank r (alpha = 2r)", ylabel="task score (mean of accuracy % and QA F1)",
                 title="Rank vs score", xticks=[row["r"] for row in ranked], ylim=(0, 100))
        left.legend()
        for row in ranked:
            right.scatter(row["peak_memory_mb"], task_score(row))
            right.annotate(f"r={row['r']}", (row["peak_memory_mb"], task_score(row)))
        right.set(xlabel=f"peak memory, MB ({ranked[0]['peak_memory_kind']})", ylabel="task score",
                  title="Memory vs score", ylim=(0, 100), xlim=(0, 1.15 * max(row["peak_memory_mb"] for row in ranked)))
        save(figure, "rank")
    if by_experiment.get("targets"):
        chosen = by_experiment["targets"]
        ranks = sorted({row["r"] for row in chosen})
        kinds = sorted({row["adapted"] for row in chosen})  # "attention + MLP", "attention only"
        figure, axes = plt.subplots(1, 3, figsize=(12, 3.8))
        width = 0.8 / len(kinds)
        for axis, key, label in ((axes[0], "trainable_params", "trainable parameters"),
                                 (axes[1], "eval_loss", "final validation loss"),
                                 (axes[2], None, "task score")):
            for k, kind in enumerate(kinds):
                found = {row["r"]: row for row in chosen if row["adapted"] == kind}
                xs = [i + (k - (len(kinds) - 1) / 2) * width for i, r in enumerate(ranks) if r in found]
                values = [task_score(found[r]) if key is None else found[r][key] for r in ranks if r in found]
                axis.bar(xs, values, width=width, label=kind)
            axis.set_xticks(range(len(ranks)), [f"r={r}" for r in ranks])
            axis.set_title(label)
        base_line(axes[2])
        axes[2].set_ylim(0, 115)
        axes[2].legend(fontsize=8, loc="upper right", ncol=3)
        save(figure, "targets")
    if by_experiment.get("method"):
        chosen = by_experiment["method"]
        figure, axes = plt.subplots(1, 3, figsize=(13, 3.8))
        for row in chosen:
            steps, losses = zip(*row["eval_curve"])
            axes[0].plot(steps, losses, marker="o", label=row["name"])
        axes[0].set(xlabel="step", ylabel="validation loss", title="Validation loss")
        axes[0].legend()
        names = [textwrap.fill(row["name"], 16) for row in chosen]
        axes[1].bar(names, [row["weights_mb"] for row in chosen], label="weights")
        axes[1].bar(names, [row["peak_memory_mb"] for row in chosen], alpha=0.5, label="peak during run")
        axes[1].set(ylabel="MB", title="Memory")
        axes[1].legend()
        axes[2].bar(names, [row["tokens_per_second"] or 0 for row in chosen], color="tab:green")
        axes[2].set(ylabel="tokens / s", title="Training speed")
        save(figure, "method")
    if by_experiment.get("loss"):
        chosen = by_experiment["loss"]
        figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
        for row in chosen:
            steps, losses = zip(*row["eval_curve"])
            left.plot(steps, losses, marker="o", label=row["name"])
        left.set(xlabel="step", ylabel="validation loss (plain cross-entropy)", title="Validation loss")
        left.legend()
        names = [textwrap.fill(row["name"], 16) for row in chosen]
        right.bar([f"{n}\nsentiment" for n in names], [100 * row["sentiment_accuracy"] for row in chosen])
        right.bar([f"{n}\nQA EM" for n in names], [row["qa_exact_match"] for row in chosen])
        right.set(ylabel="%", title="Task scores")
        right.tick_params(axis="x", labelsize=7)
        save(figure, "loss")
    plt.close("all")
    return saved
