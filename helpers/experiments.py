"""The experiments track (notebook 07): the task data, one run per call, and its results file.

The notebook loads and configures each model itself; a run here trains, measures and scores it and writes one
row. Task metrics live in helpers.metrics, the boundary-weighted loss in helpers.boundary_loss, the plots in
helpers.plots."""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from datasets.utils import logging as datasets_logging
from trl import SFTConfig, SFTTrainer

from helpers.display import progress_bars_off
from helpers.hardware import HardwareProfile
from helpers.memory import MemoryTracker
from helpers.metrics import accuracy, first_label, squad_scores
from helpers.training import build_sft_trainer, loss_history, optimizer_name

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

ATTENTION_MODULES = {"q_proj", "k_proj", "v_proj", "o_proj"}
MLP_MODULES = {"gate_proj", "up_proj", "down_proj"}


@dataclass
class TaskData:
    """The mixed task data every run of a grid shares, so that runs differ only in what the experiment varies."""

    tokenizer: object
    train: object  # prompt/completion Dataset (multitask_dataset)
    validation: object
    n_eval_per_task: int = 24


def task_data(tokenizer, *, n_train_per_task: int | None = None, n_val_per_task: int = 12,
              n_eval_per_task: int = 24, max_length: int = 384) -> TaskData:
    """Both tasks' training and validation examples, each mixed; validation sorted by length.

    In length order each evaluation batch holds examples of similar length, so little padding is computed (short
    sentiment reviews and long QA passages are mixed otherwise); the order is the same for every run.
    """
    train = multitask_dataset(tokenizer, "train", n_train_per_task, max_length)
    validation = multitask_dataset(tokenizer, "validation", n_val_per_task, max_length)
    validation = validation.map(lambda example: {"_chars": len(example["prompt"]) + len(example["completion"])})
    return TaskData(tokenizer, train, validation.sort("_chars").remove_columns("_chars"), n_eval_per_task)


def adapted_blocks(target_modules) -> str:
    """Where LoRA sits, read from the adapted modules' names: "attention only", "MLP only" or "attention + MLP"."""
    names = set(target_modules)
    parts = [label for label, group in (("attention", ATTENTION_MODULES), ("MLP", MLP_MODULES)) if names & group]
    return " + ".join(parts) if len(parts) > 1 else f"{parts[0]} only" if parts else "other modules"


def _describe_model(model) -> dict:
    """What a loaded model is: the base's weight memory, the adapter's, trainable parameters, and the LoRA settings."""
    if hasattr(model, "get_nb_trainable_parameters"):  # PEFT counts packed 4-bit weights at their real size
        trainable, total = model.get_nb_trainable_parameters()
    else:
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        total = sum(p.numel() for p in model.parameters())
    # The base's weights and the adapter's apart: get_memory_footprint counts the LoRA matrices injected into the
    # base too, and "16-bit -> 4-bit" is a statement about the base.
    adapter_bytes = sum(p.numel() * p.element_size() for name, p in model.named_parameters() if "lora_" in name)
    row = {"weights_mb": round((model.get_memory_footprint() - adapter_bytes) / 2**20, 1),
           "adapter_mb": round(adapter_bytes / 2**20, 1), "trainable_params": trainable,
           "total_params": total, "trainable_percent": 100 * trainable / total}
    lora = getattr(model, "peft_config", {}).get("default")
    if lora is not None:  # PEFT expands "all-linear" to full module paths: keep the module names
        targets = sorted({name.rsplit(".", 1)[-1] for name in lora.target_modules})
        row.update(r=lora.r, alpha=lora.lora_alpha, target_modules=targets, adapted=adapted_blocks(targets))
    return row


def run_experiment(labels: dict, load: Callable[[], torch.nn.Module], profile: HardwareProfile, config: SFTConfig,
                   data: TaskData, *, eval_loss_before: float | None = None,
                   trainer_class: type[SFTTrainer] = SFTTrainer, results_file: str | Path | None = None,
                   **trainer_kwargs) -> dict:
    """Load a model with `load()`, train it with `config` on `data` (when it has trainable weights), score it.

    `profile` is the hardware profile the model was loaded with (build_sft_trainer keeps adapters in fp32 by it).
    `labels` names the row ({"experiment": ..., "name": ..., "method": ...}). Peak memory covers loading and
    training. `eval_loss_before`: the untrained model's validation loss when it is known already (a fresh LoRA
    model is its base: lora_B starts at zero); otherwise it is measured. Training time excludes the validation
    passes (the Trainer logs each one's `eval_runtime`). Returns the row, appended to `results_file` when given.
    """
    started = time.perf_counter()
    row = {**labels, "precision": "bf16" if config.bf16 else "fp16" if config.fp16 else "fp32"}
    with progress_bars_off(datasets_logging), MemoryTracker() as memory:
        model = load()
        row.update(device=model.device.type, **_describe_model(model))
        trainer = build_sft_trainer(model, data.tokenizer, profile, config, data.train, data.validation,
                                    trainer_class=trainer_class, **trainer_kwargs)
        row["optim"] = optimizer_name(trainer.args)  # what the trainer really uses
        if eval_loss_before is None:
            eval_loss_before = trainer.evaluate()["eval_loss"]
        logged_before = len(trainer.state.log_history)
        steps = config.max_steps if row["trainable_params"] else 0
        train_runtime = trainer.train().metrics["train_runtime"] if steps else 0.0
    eval_seconds = sum(entry.get("eval_runtime", 0.0) for entry in trainer.state.log_history[logged_before:])
    train_seconds = train_runtime - eval_seconds
    if steps and train_seconds <= 0:
        raise RuntimeError(f"{labels.get('name')}: the Trainer logged {train_runtime:.4f} s of training and "
                           f"{eval_seconds:.4f} s of validation inside it; no training time is left to report.")
    history = loss_history(trainer)
    history["eval"].insert(0, (0, eval_loss_before))
    tokens = trainer.state.num_input_tokens_seen
    row.update(
        steps=steps,
        tokens_seen=int(tokens),
        train_seconds=round(train_seconds, 3),  # milliseconds: a tiny model's two steps take a few of them
        eval_seconds=round(eval_seconds, 3),
        tokens_per_second=round(tokens / train_seconds, 1) if steps else None,
        peak_memory_mb=memory.peak_mb,
        peak_memory_kind=memory.kind,
        eval_loss_before=round(eval_loss_before, 4),
        eval_loss=round(history["eval"][-1][1], 4),
        eval_curve=history["eval"],
        train_curve=history["train"],
    )
    row.update(score_tasks(trainer.model, data.tokenizer, data.n_eval_per_task))
    row["seconds"] = round(time.perf_counter() - started, 1)
    del trainer, model
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    print(
        f"[{row['experiment']}] {row['name']}: val loss {row['eval_loss_before']:.3f} -> {row['eval_loss']:.3f}, "
        f"sentiment {100 * row['sentiment_accuracy']:.0f}%, QA EM {row['qa_exact_match']:.0f} / F1 "
        f"{row['qa_f1']:.0f}, trainable {row['trainable_params']:,} ({row['trainable_percent']:.2f}%), "
        f"weights {row['weights_mb']:.0f} MB, peak +{row['peak_memory_mb']:.0f} MB, {row['seconds']:.0f} s"
    )
    if results_file:
        append_rows(results_file, [row])
    return row


def latest_rows(rows: list[dict]) -> list[dict]:
    """The last row written for each (experiment, name): a rerun replaces, it does not duplicate."""
    latest: dict[tuple[str, str], dict] = {}
    for row in rows:
        latest[(row["experiment"], row["name"])] = row
    return list(latest.values())


def task_score(row: dict) -> float:
    """One number per run for the plots: the mean of sentiment accuracy (%) and QA F1."""
    return (100 * row["sentiment_accuracy"] + row["qa_f1"]) / 2
