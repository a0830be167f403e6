"""Notebook 07's bookkeeping (helpers.experiments): results files, and whole runs on the tiny model."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
from trl import SFTConfig

from helpers.boundary_loss import BoundaryWeightedSFTTrainer
from helpers.experiments import adapted_blocks, append_rows, read_rows, run_experiment, task_data
from helpers.hardware import detect_hardware
from helpers.models import TINY_PRESET, load_model_and_tokenizer, load_tokenizer


def test_results_rows_append_and_read_back(tmp_path):
    path = tmp_path / "runs" / "results.jsonl"
    append_rows(path, [{"experiment": "rank", "r": 4, "loss": 1.5}])
    append_rows(path, [{"experiment": "rank", "r": 8, "loss": 1.2}])
    assert read_rows(path) == [{"experiment": "rank", "r": 4, "loss": 1.5}, {"experiment": "rank", "r": 8, "loss": 1.2}]


def test_adapted_blocks_are_read_from_module_names():
    assert adapted_blocks(["q_proj", "v_proj"]) == "attention only"
    assert adapted_blocks(["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]) == \
        "attention + MLP"
    assert adapted_blocks(["up_proj"]) == "MLP only"


# --- A whole experiment run, on the tiny model --------------------------------------------------

ROW_FIELDS = {"experiment", "name", "method", "trainable_params", "total_params", "trainable_percent",
              "weights_mb", "adapter_mb", "peak_memory_mb", "tokens_per_second", "eval_loss_before", "eval_loss",
              "eval_curve", "sentiment_accuracy", "qa_exact_match", "qa_f1", "seconds"}
ATTENTION = ["q_proj", "k_proj", "v_proj", "o_proj"]


@pytest.fixture(scope="module")
def tiny_rows(tmp_path_factory):
    """Each method as notebook 07 loads it (base, LoRA, attention-only LoRA, QLoRA, full, boundary loss)."""
    folder = tmp_path_factory.mktemp("experiments")
    results = folder / "results.jsonl"
    profile = detect_hardware(load_in_4bit=False, verbose=False)
    four_bit = detect_hardware(load_in_4bit=True, verbose=False)
    data = task_data(load_tokenizer(TINY_PRESET), n_train_per_task=8, n_val_per_task=4, n_eval_per_task=4)

    def config(name: str, steps: int = 2, learning_rate: float = 1e-3) -> SFTConfig:
        return SFTConfig(output_dir=str(folder / name), max_length=384, completion_only_loss=True,
                         max_steps=max(steps, 1), per_device_train_batch_size=4, per_device_eval_batch_size=4,
                         learning_rate=learning_rate, lr_scheduler_type="cosine", warmup_steps=1,
                         **{**profile.sft_machine_fields(), "optim": "adamw_torch"}, eval_strategy="steps",
                         eval_steps=1, logging_steps=1, save_strategy="no", report_to="none",
                         include_num_input_tokens_seen="non_padding", disable_tqdm=True)

    def lora(r: int, targets="all-linear", on=profile):
        model, _ = load_model_and_tokenizer(TINY_PRESET, on, verbose=False)
        if on.load_in_4bit:
            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
        return get_peft_model(model, LoraConfig(r=r, lora_alpha=2 * r, target_modules=targets, task_type="CAUSAL_LM"))

    def untouched():
        return load_model_and_tokenizer(TINY_PRESET, profile, verbose=False)[0].requires_grad_(False)

    def full():
        return load_model_and_tokenizer(TINY_PRESET, profile, dtype=torch.float32, verbose=False)[0].requires_grad_(True)

    runs = {
        "base": (untouched, profile, config("base", steps=0), {}),
        "lora": (partial(lora, 8), profile, config("lora"), {}),
        "attention": (partial(lora, 8, ATTENTION), profile, config("attention"), {}),
        "qlora": (partial(lora, 8, on=four_bit), four_bit, config("qlora"), {}),
        "full": (full, profile, config("full"), {}),
        "boundary": (partial(lora, 8), profile, config("boundary"), {
            "trainer_class": BoundaryWeightedSFTTrainer, "boundary_weight": 3.0, "boundary_window": 2}),
    }
    methods = {"base": "base", "qlora": "qlora", "full": "full"}
    rows = {}
    for name, (load, on, run_config, extra) in runs.items():
        labels = {"experiment": "test", "name": name, "method": methods.get(name, "lora")}
        if name == "boundary":
            labels.update(boundary_weight=3.0, boundary_window=2)
        rows[name] = run_experiment(labels, load, on, run_config, data, results_file=results, **extra)
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
    assert (rows["attention"]["adapted"], rows["lora"]["adapted"]) == ("attention only", "attention + MLP")
    assert rows["attention"]["target_modules"] == sorted(ATTENTION) and rows["lora"]["r"] == 8


def test_a_4bit_base_holds_less_memory_than_a_full_precision_one(tiny_rows):
    rows, _ = tiny_rows
    assert rows["qlora"]["weights_mb"] < rows["lora"]["weights_mb"]
    # weights_mb is the base alone: a LoRA run holds the untouched model's weights, its adapter counted apart
    assert rows["lora"]["weights_mb"] == rows["base"]["weights_mb"] == rows["full"]["weights_mb"]
    assert rows["lora"]["adapter_mb"] == round(rows["lora"]["trainable_params"] * 4 / 2**20, 1) > 0
    assert rows["qlora"]["adapter_mb"] == rows["lora"]["adapter_mb"] and rows["base"]["adapter_mb"] == 0


def test_training_moves_the_validation_loss(tiny_rows):
    rows, _ = tiny_rows
    for name in ("lora", "qlora", "full", "boundary"):
        assert rows[name]["steps"] == 2
        assert rows[name]["eval_loss"] != rows[name]["eval_loss_before"], name
    assert rows["boundary"]["boundary_weight"] == 3.0
    # Fresh LoRA starts as the base model (B = 0) and evaluation uses TRL's plain loss: same starting point.
    assert rows["boundary"]["eval_loss_before"] == rows["lora"]["eval_loss_before"] == rows["base"]["eval_loss"]
    assert rows["boundary"]["eval_loss"] != rows["lora"]["eval_loss"]  # the weighted loss trained differently


def test_training_time_leaves_out_the_validation_passes(tiny_rows):
    """Two evaluations ran inside each trainer.train(): the Trainer's eval_runtime is taken off its train_runtime."""
    rows, _ = tiny_rows
    for name in ("lora", "qlora", "full", "boundary"):
        assert rows[name]["eval_seconds"] > 0 and rows[name]["train_seconds"] > 0, name
    assert rows["base"]["train_seconds"] == 0 and rows["base"]["tokens_per_second"] is None
