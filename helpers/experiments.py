"""The experiments track (notebook 07): one run per call, its results file, its task scores, and the plots.

Task metrics live in helpers.metrics, the boundary-weighted loss in helpers.boundary_loss."""

from __future__ import annotations

import gc
import json
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from datasets.utils import logging as datasets_logging
from transformers import PrinterCallback

from helpers.boundary_loss import BoundaryWeightedSFTTrainer
from helpers.display import progress_bars_off
from helpers.metrics import accuracy, first_label, squad_scores

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


# --- Task data and scores -----------------------------------------------------------------------

# task -> (bundled data set, template, max new tokens for its answer)
TASKS: dict[str, tuple[str, str, int]] = {
    "sentiment": ("sentiment_reviews", "sentiment", 12),
    "qa": ("qa_passages", "extractive_qa", 24),
}
SENTIMENT_LABELS = ("positive", "negative")


def task_records(task: str, split: str, n: int | None = None, seed: int = 0) -> list[dict]:
    """The first n records (after a seeded shuffle) of a task's bundled split."""
    from helpers.data import load_bundled

    data = load_bundled(TASKS[task][0], split).shuffle(seed=seed)
    return list(data.select(range(min(n, len(data))))) if n else list(data)


def multitask_dataset(tokenizer, split: str, n_per_task: int | None = None, max_length: int = 384,
                      seed: int = 0):
    """Prompt/completion examples of every task, each under its own template, mixed in one shuffled data set."""
    from datasets import Dataset, concatenate_datasets

    from helpers.templates import to_prompt_completion

    parts = []
    for task, (_, template, _) in TASKS.items():
        records = Dataset.from_list(task_records(task, split, n_per_task, seed))
        parts.append(to_prompt_completion(records, template, tokenizer, max_length=max_length, verbose=False))
    return concatenate_datasets(parts).shuffle(seed=seed)


def clean_span(answer: str) -> str:
    """The first line of a generated answer: what a span-extraction answer should be."""
    return answer.strip().split("\n")[0].strip()


def score_tasks(model, tokenizer, n_per_task: int | None = None, split: str = "test", batch_size: int = 16) -> dict:
    """Sentiment accuracy and extractive-QA exact match / F1 of greedy answers on held-out records.

    Returns the scores (accuracy as a fraction, EM and F1 in percent as SQuAD reports them) and the answers.
    """
    from helpers.inference import build_prompts, generate_answers

    result: dict = {}
    reviews = task_records("sentiment", split, n_per_task)
    answers = generate_answers(model, tokenizer, build_prompts(reviews, "sentiment", tokenizer),
                               max_new_tokens=TASKS["sentiment"][2], batch_size=batch_size)
    result["sentiment_accuracy"] = accuracy([first_label(a, SENTIMENT_LABELS) for a in answers],
                                            [r["label"] for r in reviews])
    result["sentiment_answers"] = answers
    questions = task_records("qa", split, n_per_task)
    answers = generate_answers(model, tokenizer, build_prompts(questions, "extractive_qa", tokenizer),
                               max_new_tokens=TASKS["qa"][2], batch_size=batch_size)
    spans = [clean_span(a) for a in answers]
    scores = squad_scores(spans, [[q["answer"]] for q in questions])
    result["qa_exact_match"], result["qa_f1"] = scores["exact_match"], scores["f1"]
    result["qa_answers"] = spans
    return result


# --- One experiment run -------------------------------------------------------------------------


@dataclass
class RunSettings:
    """What every run of a grid shares, so that the runs differ only in what the experiment varies."""

    output_dir: str
    max_steps: int = 30
    batch_size: int = 8
    learning_rate: float = 1e-3
    full_learning_rate: float = 5e-5  # full fine-tuning moves every weight: a LoRA rate would wreck the model
    max_length: int = 384
    n_train_per_task: int | None = None
    n_val_per_task: int = 12
    n_eval_per_task: int = 24
    seed: int = 42
    # One optimizer for every run, so that speed and memory compare the methods and not the optimizers. Plain
    # AdamW everywhere: paged 8-bit AdamW (the QLoRA paper's, and notebook 02's on a GPU) would shrink only the
    # full fine-tuning run's optimizer state, which is the one difference it makes.
    optim: str = "adamw_torch"


def _time_evaluations(trainer) -> list[float]:
    """Make the trainer add the wall time of each of its evaluations to the returned one-item list."""
    spent = [0.0]
    evaluate = trainer.evaluate

    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return evaluate(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - started

    trainer.evaluate = timed
    return spent


# The validation loss of each untrained base, shared by the runs of one process (see run_experiment).
_EVAL_BEFORE: dict[tuple, float] = {}


def run_experiment(
    experiment: str,
    name: str,
    preset: str,
    settings: RunSettings,
    *,
    method: str = "lora",
    r: int = 16,
    alpha: int | None = None,
    target_modules: str | list[str] = "all-linear",
    boundary_weight: float = 1.0,
    boundary_window: int = 4,
    results_file: str | Path | None = None,
) -> dict:
    """Load a fresh model, train it one way on the mixed task data, measure it, score it; return one row.

    method: "lora" (full-precision base), "qlora" (4-bit NF4 base), "full" (every weight trains, no adapter)
    or "base" (no training: the untouched model's validation loss and task scores).
    The row has the settings, trainable parameters, weight memory, peak memory during load and training,
    tokens per second, the validation-loss curve, the final validation loss and the task scores.
    It is appended to `results_file` when given.
    """
    from helpers.hardware import detect_hardware
    from helpers.models import load_model_and_tokenizer
    from helpers.training import (
        MemoryTracker,
        attach_lora,
        build_sft_trainer,
        describe_trainable,
        loss_history,
        make_lora_config,
        make_sft_config,
        optimizer_name,
    )

    if method not in {"lora", "qlora", "full", "base"}:
        raise ValueError(f"method must be lora, qlora, full or base, not {method!r}")
    started = time.perf_counter()
    profile = detect_hardware(load_in_4bit=method == "qlora", verbose=False)
    alpha = alpha or 2 * r
    row: dict = {"experiment": experiment, "name": name, "preset": preset, "method": method,
                 "device": profile.device, "precision": profile.precision}
    if method in {"lora", "qlora"}:
        row.update(r=r, alpha=alpha, target_modules=target_modules)
    if boundary_weight != 1.0:
        row.update(boundary_weight=boundary_weight, boundary_window=boundary_window)
    steps = 0 if method == "base" else settings.max_steps
    # A dozen data-preparation bars per run would bury the results.
    with progress_bars_off(datasets_logging), MemoryTracker() as memory:
        # Full fine-tuning keeps fp32 master weights (mixed precision computes in 16-bit on a GPU).
        model, tokenizer = load_model_and_tokenizer(
            preset, profile, dtype=torch.float32 if method == "full" else None, verbose=False)
        row["weights_mb"] = round(model.get_memory_footprint() / 2**20, 1)
        if method in {"lora", "qlora"}:
            model = attach_lora(model, make_lora_config(r=r, alpha=alpha, target_modules=target_modules), profile)
            row.update(describe_trainable(model))
        else:
            for parameter in model.parameters():
                parameter.requires_grad_(method == "full")
            total = sum(p.numel() for p in model.parameters())
            trainable = total if method == "full" else 0
            row.update(trainable_params=trainable, total_params=total, trainable_percent=100 * trainable / total)
        train = multitask_dataset(tokenizer, "train", settings.n_train_per_task, settings.max_length)
        val = multitask_dataset(tokenizer, "validation", settings.n_val_per_task, settings.max_length)
        # Validation in length order: each eval batch holds examples of similar length, so little padding is
        # computed (short sentiment reviews and long QA passages are mixed otherwise). Same order for every run.
        val = val.map(lambda example: {"_chars": len(example["prompt"]) + len(example["completion"])})
        val = val.sort("_chars").remove_columns("_chars")
        config = make_sft_config(
            profile,
            output_dir=str(Path(settings.output_dir) / row["name"]),
            verbose=False,
            max_steps=max(steps, 1),
            learning_rate=settings.full_learning_rate if method == "full" else settings.learning_rate,
            batch_size=settings.batch_size,
            max_length=settings.max_length,
            eval_steps=max(1, settings.max_steps // 2),  # halfway and at the end: on a CPU each costs ~10 s
            logging_steps=max(1, settings.max_steps // 10),
            warmup_steps=max(1, settings.max_steps // 10),
            seed=settings.seed,
            disable_tqdm=True,
            optim=settings.optim,  # the same for every method (see RunSettings.optim)
        )
        extra = {}
        if boundary_weight != 1.0:
            extra = {"trainer_class": BoundaryWeightedSFTTrainer, "boundary_weight": boundary_weight,
                     "boundary_window": boundary_window}
        trainer = build_sft_trainer(model, tokenizer, profile, config, train, val, **extra)
        trainer.remove_callback(PrinterCallback)  # one summary line per run instead of every log dict
        row["optim"] = optimizer_name(trainer.args)  # what the trainer really uses
        # Before training every LoRA run of a grid is its base model (lora_B starts at zero): measure once per base.
        base_key = (preset, method == "qlora", str(next(model.parameters()).dtype), profile.precision,
                    settings.n_val_per_task, settings.max_length, settings.batch_size)
        if base_key not in _EVAL_BEFORE:
            _EVAL_BEFORE[base_key] = trainer.evaluate()["eval_loss"]
        eval_before = _EVAL_BEFORE[base_key]
        eval_seconds = _time_evaluations(trainer)
        train_started = time.perf_counter()
        if steps:
            trainer.train()
        # Training speed without the validation passes that ran in between.
        train_seconds = time.perf_counter() - train_started - eval_seconds[0]
    history = loss_history(trainer)
    history["eval"].insert(0, (0, eval_before))
    tokens = trainer.state.num_input_tokens_seen
    row.update(
        steps=steps,
        tokens_seen=int(tokens),
        train_seconds=round(train_seconds, 1),
        eval_seconds=round(eval_seconds[0], 1),
        tokens_per_second=round(tokens / train_seconds, 1) if steps else None,
        peak_memory_mb=memory.peak_mb,
        peak_memory_kind=memory.kind,
        eval_loss_before=round(eval_before, 4),
        eval_loss=round(history["eval"][-1][1], 4),
        eval_curve=history["eval"],
        train_curve=history["train"],
    )
    row.update(score_tasks(trainer.model, tokenizer, settings.n_eval_per_task))
    row["seconds"] = round(time.perf_counter() - started, 1)
    del trainer, model
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    print(
        f"[{experiment}] {name}: val loss {row['eval_loss_before']:.3f} -> {row['eval_loss']:.3f}, "
        f"sentiment {100 * row['sentiment_accuracy']:.0f}%, QA EM {row['qa_exact_match']:.0f} / F1 "
        f"{row['qa_f1']:.0f}, trainable {row['trainable_params']:,} ({row['trainable_percent']:.2f}%), "
        f"weights {row['weights_mb']:.0f} MB, peak +{row['peak_memory_mb']:.0f} MB, {row['seconds']:.0f} s"
    )
    if results_file:
        append_rows(results_file, [row])
    return row


# --- Plots, drawn from the results file ---------------------------------------------------------


def latest_rows(rows: list[dict]) -> list[dict]:
    """The last row written for each (experiment, name): a rerun replaces, it does not duplicate."""
    latest: dict[tuple[str, str], dict] = {}
    for row in rows:
        latest[(row["experiment"], row["name"])] = row
    return list(latest.values())


def task_score(row: dict) -> float:
    """One number per run for the plots: the mean of sentiment accuracy (%) and QA F1."""
    return (100 * row["sentiment_accuracy"] + row["qa_f1"]) / 2


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
        kinds = sorted({row["name"].split(",")[0] for row in chosen})  # "attention + MLP", "attention only"
        figure, axes = plt.subplots(1, 3, figsize=(12, 3.8))
        width = 0.8 / len(kinds)
        for axis, key, label in ((axes[0], "trainable_params", "trainable parameters"),
                                 (axes[1], "eval_loss", "final validation loss"),
                                 (axes[2], None, "task score")):
            for k, kind in enumerate(kinds):
                found = {row["r"]: row for row in chosen if row["name"].split(",")[0] == kind}
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
