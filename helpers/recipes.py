"""A recipe that keeps correctness: notebook 02's training under variants, scored on style and on pass rate.

Style adherence says whether an answer looks like the house style; pass rate says whether its code works
(its checks run in the sandbox). A fine-tune can raise the first and lower the second: it learns the form
and forgets some of what the base model knew. `run_recipe` trains one variant of 02's recipe (learning
rate, steps, rank, how many task families the training data covers) on a fresh model and scores it on the
same held-out requests as the base model, so rows of one process compare fairly.
"""

from __future__ import annotations

import gc
import random
import time
from dataclasses import asdict, dataclass

import torch
from datasets.utils import logging as datasets_logging

from helpers.correctness import format_rate, paired_comparison, pass_rate, wilson_interval
from helpers.display import progress_bars_off


@dataclass(frozen=True)
class Recipe:
    """One way to train 02's adapter: the defaults are 02's recipe (tests/test_recipe.py checks them against 02's
    cells); everything not named here is 02's setting too (all linear layers, cosine with 10% warmup)."""

    name: str
    learning_rate: float = 1e-3
    steps: int = 40
    r: int = 4
    families: int | None = None  # None: every training family; n: n of them (a fixed, seeded choice)
    batch_size: int | None = None  # None: the hardware profile's, as in 02
    gradient_accumulation: int = 1
    dropout: float = 0.0

    @property
    def alpha(self) -> int:
        return 2 * self.r  # alpha / r fixed, so only the capacity changes with the rank


def recipe_grid(steps: int = 40) -> list[Recipe]:
    """The recipes compared, one change at a time from lr 1e-3, `steps` steps of batch 4, r=16 on all linear layers
    and all 41 training families (02's recipe before it moved to rank 4).

    The changes: lr 2e-4 with 3x the steps (the rate usually recommended for LoRA, given the time to get
    there); rank 4 (02's recipe now); both; and training on 10 of the 41 families.
    """
    long = 3 * steps
    return [
        Recipe(f"lr 1e-3, {steps} steps, r=16", steps=steps, r=16, batch_size=4),
        Recipe(f"lr 2e-4, {long} steps, r=16", learning_rate=2e-4, steps=long, r=16, batch_size=4),
        Recipe(f"lr 1e-3, {steps} steps, r=4", steps=steps, r=4, batch_size=4),
        Recipe(f"lr 2e-4, {long} steps, r=4", learning_rate=2e-4, steps=long, r=4, batch_size=4),
        Recipe(f"lr 1e-3, {steps} steps, r=16, 10 families", steps=steps, r=16, families=10, batch_size=4),
    ]


def family_subset(records, n: int | None, seed: int = 0):
    """The records of n task families (chosen with a fixed seed), or all of them for None."""
    families = sorted(set(records["family"]))
    if n is None or n >= len(families):
        return records
    if n < 1:
        raise ValueError(f"families must be at least 1, not {n}")
    kept = set(random.Random(seed).sample(families, n))
    return records.filter(lambda record: record["family"] in kept)


def score_answers(answers: list[str], records: list[dict]) -> dict:
    """Style adherence and pass rate of answers to python_style requests, each with n and a 95% Wilson interval."""
    from helpers.metrics import check_python_style

    styled = sum(check_python_style(answer).adherent for answer in answers)
    correct = pass_rate(answers, records)
    return {
        "n": len(records),
        "style_adherent": styled,
        "style_adherence": styled / len(records) if records else 0.0,
        "style_interval": list(wilson_interval(styled, len(records))),
        "style_text": format_rate(styled, len(records)),
        "passed": correct["passed"],
        "pass_rate": correct["pass_rate"],
        "pass_interval": correct["interval"],
        "pass_text": correct["text"],
        "outcomes": correct["outcomes"],
        "answers": answers,
    }


def score_python_style(model, tokenizer, records: list[dict], *, max_new_tokens: int = 128,
                       batch_size: int = 16) -> dict:
    """Greedy answers to held-out requests, scored by score_answers."""
    from helpers.inference import build_prompts, generate_answers

    answers = generate_answers(model, tokenizer, build_prompts(records, "chatml", tokenizer),
                               max_new_tokens=max_new_tokens, batch_size=batch_size)
    return score_answers(answers, records)


def compare_outcomes(base: list[str], tuned: list[str]) -> dict[str, int]:
    """Requests the fine-tune fixed (base failed, tuned passes) and broke (base passed, tuned fails)."""
    counts = paired_comparison(base, tuned)  # raises on different lengths
    return {"fixed": counts["fixed"], "broken": counts["broken"]}


def run_recipe(recipe: Recipe | None, preset: str, test_records: list[dict], *, output_dir: str, n_val: int = 16,
               max_length: int = 384, max_new_tokens: int = 128, seed: int = 42,
               load_in_4bit: bool | None = None) -> dict:
    """Train one recipe on python_style from a fresh model (None: no training) and score it; return one row.

    load_in_4bit: as for detect_hardware (None: 4-bit on a GPU, full precision on a CPU, like notebook 02).
    n_val: validation examples for the loss before and after training; 0 skips both evaluations.
    """
    from helpers.data import load_bundled
    from helpers.hardware import detect_hardware
    from helpers.models import load_model_and_tokenizer
    from helpers.templates import to_prompt_completion
    from helpers.training import attach_lora, build_sft_trainer, make_lora_config, make_sft_config

    started = time.perf_counter()
    profile = detect_hardware(load_in_4bit=load_in_4bit, verbose=False)
    row: dict = {"recipe": "untouched model" if recipe is None else recipe.name, "preset": preset,
                 "precision": profile.precision, **({} if recipe is None else asdict(recipe))}
    with progress_bars_off(datasets_logging):
        model, tokenizer = load_model_and_tokenizer(preset, profile, verbose=False)
        if recipe is not None:
            train_records = family_subset(load_bundled("python_style", "train"), recipe.families)
            row["train_records"] = len(train_records)
            row["train_families"] = len(set(train_records["family"]))
            train = to_prompt_completion(train_records, "chatml", tokenizer, max_length=max_length, verbose=False)
            val = None  # n_val=0: no validation loss (scored on style and pass rate only)
            if n_val:
                val_records = load_bundled("python_style", "validation").shuffle(seed=0).select(range(n_val))
                val = to_prompt_completion(val_records, "chatml", tokenizer, max_length=max_length, verbose=False)
            torch.manual_seed(seed)
            model = attach_lora(model, make_lora_config(r=recipe.r, alpha=recipe.alpha, dropout=recipe.dropout),
                                profile)
            row["trainable_params"] = model.get_nb_trainable_parameters()[0]
            config = make_sft_config(
                profile, output_dir=f"{output_dir}/{recipe.name}", verbose=False, max_steps=recipe.steps,
                learning_rate=recipe.learning_rate, batch_size=recipe.batch_size,
                gradient_accumulation_steps=recipe.gradient_accumulation, max_length=max_length,
                logging_steps=max(1, recipe.steps // 10),
                warmup_steps=max(1, recipe.steps // 10), seed=seed, disable_tqdm=True)
            trainer = build_sft_trainer(model, tokenizer, profile, config, train, val)
            if val is not None:
                row["eval_loss_before"] = round(trainer.evaluate()["eval_loss"], 4)
            train_started = time.perf_counter()
            trainer.train()
            row["train_seconds"] = round(time.perf_counter() - train_started, 1)
            if val is not None:
                row["eval_loss"] = round(trainer.evaluate()["eval_loss"], 4)
            batch = config.per_device_train_batch_size
            row["batch_size"] = batch
            row["epochs"] = round(recipe.steps * batch * recipe.gradient_accumulation / len(train), 2)
            model = trainer.model
            del trainer
        row.update(score_python_style(model, tokenizer, test_records, max_new_tokens=max_new_tokens))
    row["seconds"] = round(time.perf_counter() - started, 1)
    del model
    gc.collect()
    return row
