"""SFTConfig and LoraConfig of notebook 02's recipe on the hardware profile, LoRA on a model, and the trainer."""

from __future__ import annotations

import torch
from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
from transformers import PrinterCallback
from trl import SFTConfig, SFTTrainer

from helpers.hardware import HardwareProfile, keep_trainable_params_fp32
from helpers.models import keep_4bit_layout_trainable


def sft_settings(
    profile: HardwareProfile,
    output_dir: str,
    *,
    max_steps: int = 40,
    learning_rate: float = 1e-3,
    batch_size: int | None = None,
    gradient_accumulation_steps: int = 1,
    max_length: int = 384,
    warmup_steps: int | None = None,
    eval_steps: int | None = None,
    logging_steps: int = 5,
    save_steps: int | None = None,
    seed: int = 42,
    **overrides,
) -> dict:
    """The SFTConfig keyword arguments of notebook 02's recipe on this hardware profile (see make_sft_config).

    The defaults are 02's parameters cell, checked equal to it by tests/test_recipe.py: 40 steps, lr 1e-3 on a
    cosine schedule with 10% warmup, max_length 384, the profile's batch. The machine's fields come from
    `profile.sft_machine_fields()`.
    """
    batch_size = batch_size or profile.batch_size
    settings = dict(
        output_dir=output_dir,
        max_steps=max_steps,
        learning_rate=learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=max(1, max_steps // 10) if warmup_steps is None else warmup_steps,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=batch_size,
        gradient_accumulation_steps=gradient_accumulation_steps,
        **profile.sft_machine_fields(),
        max_length=max_length,
        completion_only_loss=True,
        eval_strategy="steps" if eval_steps else "no",
        eval_steps=eval_steps,
        logging_steps=logging_steps,
        save_strategy="steps" if save_steps else "no",
        save_steps=save_steps,
        report_to="none",
        seed=seed,
        include_num_input_tokens_seen="non_padding",
        disable_tqdm=False,
    )
    settings.update(overrides)
    return settings


def optimizer_name(args) -> str:
    """The optimizer a TrainingArguments/SFTConfig names, as plain text ("adamw_torch", "paged_adamw_8bit", ...)."""
    return getattr(args.optim, "value", str(args.optim))


def make_sft_config(profile: HardwareProfile, output_dir: str, *, verbose: bool = True, **options) -> SFTConfig:
    """An SFTConfig whose precision, optimizer and checkpointing follow the hardware profile.

    TRL turns bf16 on when neither bf16 nor fp16 is given; on a CPU that is ~12x slower, so both
    are always set here. Prompt tokens are masked (completion_only_loss=True). `options` are
    sft_settings' keywords (max_steps, learning_rate, batch_size, ...) or any SFTConfig field.
    """
    settings = sft_settings(profile, output_dir, **options)
    config = SFTConfig(**settings)
    batch_size = settings["per_device_train_batch_size"]
    gradient_accumulation_steps = settings["gradient_accumulation_steps"]
    learning_rate, max_length = settings["learning_rate"], settings["max_length"]
    if verbose:
        print(
            f"SFTConfig: bf16={config.bf16}, fp16={config.fp16} ({profile.precision} on {profile.device}), "
            f"batch {batch_size} x accumulation {gradient_accumulation_steps}, lr {learning_rate:g} cosine, "
            f"max_length {max_length}, optimizer {optimizer_name(config)}."
        )
    return config


def make_lora_config(
    r: int = 4,
    alpha: int | None = None,
    dropout: float = 0.0,
    target_modules: str | list[str] = "all-linear",
) -> LoraConfig:
    """Notebook 02's LoraConfig (rank 4 on every linear layer, no dropout); alpha defaults to 2 x r.

    Dropout defaults to 0: the course's runs are a few dozen steps, too short to overfit through the adapter,
    and with dropout 0 PEFT skips a dropped-out copy of every adapted layer's input (faster training on a CPU,
    same validation loss and task scores: benchmarks/recipe_quality.py and docs/performance.md). Long runs on
    small data may want 0.05-0.1 (notebook 05 shows how to tell).
    """
    return LoraConfig(
        r=r,
        lora_alpha=alpha if alpha is not None else 2 * r,
        lora_dropout=dropout,
        target_modules=target_modules,
        bias="none",
        task_type="CAUSAL_LM",
    )


def describe_trainable(model) -> dict[str, float]:
    """Trainable and total parameters as PEFT counts them (4-bit weights counted unpacked), printed in one line."""
    trainable, total = model.get_nb_trainable_parameters()
    share = 100 * trainable / total
    print(f"Trainable parameters: {trainable:,} of {total:,} ({share:.3f}%).")
    return {"trainable_params": trainable, "total_params": total, "trainable_percent": share}


def lora_breakdown(model) -> list[dict]:
    """Where a LoRA model's trainable parameters sit: one row per adapted module type.

    Each adapted linear layer of shape in x out gets A (r x in) and B (out x r): r * (in + out)
    parameters, however large the frozen matrix is. The rows add up to PEFT's trainable count.
    """
    rows: dict[str, dict] = {}
    for name, module in model.named_modules():
        if not (hasattr(module, "lora_A") and "default" in getattr(module, "lora_A", {})):
            continue
        kind = name.rsplit(".", 1)[-1]
        a, b = module.lora_A["default"].weight, module.lora_B["default"].weight
        base = module.get_base_layer()
        row = rows.setdefault(kind, {
            "module": kind, "shape": f"{base.in_features} -> {base.out_features}", "r": a.shape[0],
            "frozen_per_layer": base.in_features * base.out_features, "lora_per_layer": a.numel() + b.numel(),
            "layers": 0})
        row["layers"] += 1
    for row in rows.values():
        row["lora_total"] = row["lora_per_layer"] * row["layers"]
        row["lora_share_of_matrix"] = f"{100 * row['lora_per_layer'] / row['frozen_per_layer']:.2f}%"
    return list(rows.values())


def ensure_4bit_trainable(model) -> None:
    """Undo bitsandbytes' inference-only repacking of a CPU 4-bit model before it trains (see keep_4bit_layout_trainable)."""
    if getattr(model, "is_loaded_in_4bit", False):
        undone = keep_4bit_layout_trainable(model)
        if undone:
            print(f"Restored {undone} 4-bit layers to the trainable layout (bitsandbytes had repacked them for "
                  "CPU inference; training through that layout gets no gradients).")


def attach_lora(model, lora_config: LoraConfig, profile: HardwareProfile):
    """Prepare a 4-bit model for training (when it is one) and wrap it with LoRA adapters."""
    ensure_4bit_trainable(model)
    if getattr(model, "is_loaded_in_4bit", False):
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=profile.gradient_checkpointing
        )
    return get_peft_model(model, lora_config)


def train_on_one_gpu(config: SFTConfig) -> SFTConfig:
    """Train on one GPU when several are visible to this one process (Kaggle's T4 x2 without the setup cell).

    transformers then counts every visible GPU (`n_gpu`), so Trainer would wrap the model in nn.DataParallel,
    which SFTTrainer refuses, and would multiply the batch by the GPU count. The model sits on GPU 0
    (device_map {"": 0}); Trainer itself sets n_gpu to 1 the same way for a model placed across devices.
    Under `accelerate launch` n_gpu is already 1 per process.
    """
    if config.n_gpu > 1:
        print(f"{config.n_gpu} GPUs visible to one process: training on GPU 0 only "
              "(a script under accelerate launch trains on all of them).")
        config._n_gpu = 1
    return config


def score_labelled_tokens_only() -> bool:
    """Make TRL's fused LM head score only the positions that carry a label on a CPU, as it does on a GPU.

    SFTTrainer (TRL 1.16) computes the loss with a fused LM head that projects hidden states onto the
    vocabulary in tiles. With Triton (CUDA, XPU) it first keeps only the positions whose label is not -100.
    Everywhere else it projects every position of the padded batch, prompt and padding included, so that a
    compiled graph keeps one shape (TRL's comment names Neuron). On a CPU in eager mode that only wastes
    work: with completion-only loss most positions are prompt or padding, and each one costs a
    `[tokens, 49k vocab]` tile forward and again backward. Scoring the labelled positions only gives the
    same loss and gradients (tested to float precision) and measured 1.65x faster training on notebook 07's
    data (benchmarks/train_speed.py prints the ratio on 02's).

    The switch is TRL's own predicate (`trl.trainer.utils._use_triton`, read only for that choice); it is
    widened to CPUs, and left alone while torch.compile traces (there one shape avoids recompiles).
    Returns whether the switch is on. Safe to call any number of times; a TRL without it is left alone.
    """
    try:
        import trl.trainer.utils as trl_utils
    except ImportError:
        return False
    original = getattr(trl_utils, "_use_triton", None)
    if original is None:  # another TRL: its own behaviour stands
        return False
    if getattr(original, "scores_labelled_only_on_cpu", False):
        return True

    def compact(device: torch.device) -> bool:
        if device.type == "cpu" and not torch.compiler.is_compiling():
            return True
        return original(device)

    compact.scores_labelled_only_on_cpu = True
    compact.original = original
    trl_utils._use_triton = compact
    return True


def build_sft_trainer(model, tokenizer, profile: HardwareProfile, config: SFTConfig, train_dataset, eval_dataset=None,
                      trainer_class: type[SFTTrainer] = SFTTrainer, **trainer_kwargs) -> SFTTrainer:
    """SFTTrainer (or a subclass) on prompt/completion data, with trainable weights kept fp32 where bf16 is not native.

    On a CPU the loss scores only the completion tokens (see score_labelled_tokens_only). With disable_tqdm=True
    transformers adds a PrinterCallback that prints every raw log dict; it is removed, so such a run stays quiet
    (its numbers stay in trainer.state.log_history).
    """
    ensure_4bit_trainable(model)
    score_labelled_tokens_only()
    trainer = trainer_class(
        model=model,
        args=train_on_one_gpu(config),
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        **trainer_kwargs,
    )
    if config.disable_tqdm:
        trainer.remove_callback(PrinterCallback)
    if profile.keep_trainable_fp32:
        cast = keep_trainable_params_fp32(trainer.model)
        if cast:
            print(f"Kept {cast} trainable tensors in fp32 (TRL had cast them to bf16 for the 4-bit model).")
    return trainer


def loss_history(trainer) -> dict[str, list[tuple[int, float]]]:
    """(step, loss) pairs for training and validation from the trainer's log."""
    train, evaluation = [], []
    for entry in trainer.state.log_history:
        if "loss" in entry:
            train.append((entry["step"], float(entry["loss"])))
        if "eval_loss" in entry:
            evaluation.append((entry["step"], float(entry["eval_loss"])))
    return {"train": train, "eval": evaluation}
