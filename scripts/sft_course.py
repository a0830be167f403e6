"""Notebook 02's training as a script for one or many processes, built from TRL's own parts.

    python scripts/sft_course.py --config configs/python_style.yaml
    accelerate launch --multi_gpu --num_processes 2 scripts/sft_course.py --config configs/python_style.yaml  # 2 GPUs
    torchrun --nproc_per_node 2 scripts/sft_course.py --config CONFIG --use_cpu true --ddp_backend gloo   # CPU test

It reads the same YAML as TRL's `trl sft` command (TrlParser with ScriptArguments, SFTConfig and ModelConfig;
get_quantization_config and get_peft_config build the 4-bit and LoRA configs), checks it first with
`helpers.launch` (a misspelt key is named there, not in accelerate's usage text), and adds what `trl sft` cannot
express:
- on fp16 GPUs (T4), TRL casts the LoRA weights of a 4-bit model to bf16 and the fp16 loss scaler then fails
  (TRL issue 4901): the trainable weights go back to fp32 after the trainer is built;
- the multi-process loading rules of `helpers.launch.model_load_settings`, checked before the model loads: under
  DDP each process loads its 4-bit copy onto its own GPU (device_map {"": local rank}; TRL passes None there, which
  bitsandbytes resolves to the same GPU; never "auto"); under FSDP + QLoRA (configs/accelerate/fsdp_qlora.yaml)
  the 4-bit storage dtype equals the model dtype, CPU-RAM-efficient loading is on, no paged 8-bit optimizer;
- `--resume_from_checkpoint latest`: the newest *complete* checkpoint (a killed run can leave a half-written one);
- a `run_summary_rank{N}.json` per process (rank, world size, batches, steps, time, final loss, its share of the
  data, whether it wrote the adapter), so a launch can be checked afterwards.
Merging the adapter is left out on purpose: it is done afterwards, in one process (notebook 08, section 5).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # helpers/, as the notebooks' setup cell does


def main(argv: list[str] | None = None) -> dict:
    from accelerate import PartialState
    from accelerate.utils.environment import parse_flag_from_env
    from datasets import load_dataset
    from trl import (
        ModelConfig,
        ScriptArguments,
        SFTConfig,
        SFTTrainer,
        TrlParser,
        get_peft_config,
        get_quantization_config,
    )

    from helpers.artifacts import latest_complete_checkpoint
    from helpers.hardware import keep_trainable_params_fp32
    from helpers.launch import model_load_settings, validate_sft_config

    argv = list(sys.argv[1:] if argv is None else argv)
    if "--config" in argv:
        validate_sft_config(argv[argv.index("--config") + 1])
    parser = TrlParser((ScriptArguments, SFTConfig, ModelConfig))
    script_args, training_args, model_args = parser.parse_args_and_config(argv)

    state = PartialState()
    loading = model_load_settings(  # the multi-process rules, each with its reason, in helpers/launch.py
        state.distributed_type.value, local_process_index=state.local_process_index,
        load_in_4bit=model_args.load_in_4bit, dtype=model_args.dtype,
        bnb_4bit_quant_storage=model_args.bnb_4bit_quant_storage, optim=training_args.optim,
        fp16=training_args.fp16, cpu_ram_efficient_loading=parse_flag_from_env("FSDP_CPU_RAM_EFFICIENT_LOADING"))
    model_args.bnb_4bit_quant_storage = loading["bnb_4bit_quant_storage"]
    quantization_config = get_quantization_config(model_args)
    training_args.model_init_kwargs = {"dtype": model_args.dtype, "quantization_config": quantization_config,
                                       "device_map": loading["device_map"]}
    dataset = load_dataset(script_args.dataset_name)
    trainer = SFTTrainer(
        model=model_args.model_name_or_path,
        args=training_args,
        train_dataset=dataset[script_args.dataset_train_split],
        eval_dataset=dataset[script_args.dataset_test_split] if training_args.eval_strategy != "no" else None,
        peft_config=get_peft_config(model_args),
    )
    if training_args.fp16:
        keep_trainable_params_fp32(trainer.model)  # TRL issue 4901: fp32 adapters under the fp16 loss scaler
    resume = training_args.resume_from_checkpoint
    if resume == "latest":  # the newest complete checkpoint; a half-written one (a killed run) is skipped, and said
        found = latest_complete_checkpoint(training_args.output_dir)
        resume = str(found) if found else None
        state.print(f"Resuming from {resume}." if resume else "No complete checkpoint: training from the start.")
    result = trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(training_args.output_dir)  # the Trainer writes on the main process only

    # This process's share of the data: accelerate gives each process its own batches of every epoch.
    tokenizer = trainer.processing_class
    batches = list(trainer.get_train_dataloader())
    first = batches[0]["input_ids"][0][batches[0]["attention_mask"][0].bool()] if batches else []

    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    summary = {
        "rank": state.process_index,
        "world_size": state.num_processes,
        "distributed_type": str(state.distributed_type),
        "per_device_batch": training_args.per_device_train_batch_size,
        "global_batch": training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps
        * state.num_processes,
        "steps": trainer.state.global_step,
        "train_seconds": round(result.metrics.get("train_runtime", float("nan")), 1),
        "dataset_examples": len(trainer.train_dataset),
        "examples_per_epoch_this_process": sum(len(batch["input_ids"]) for batch in batches),
        "batches_per_epoch_this_process": len(batches),
        "first_example_this_process": tokenizer.decode(first[-40:]) if len(first) else "",
        "resumed_from": resume,
        "final_loss": losses[-1] if losses else float("nan"),
        "losses": losses,
        "loss_finite": bool(losses) and all(math.isfinite(loss) for loss in losses),
        "wrote_adapter": trainer.is_world_process_zero(),
    }
    folder = Path(training_args.output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"run_summary_rank{state.process_index}.json").write_text(json.dumps(summary, indent=2))
    state.print(f"Trained {summary['steps']} steps on {summary['world_size']} process(es), global batch "
                f"{summary['global_batch']}; adapter in {folder}.")
    return summary


if __name__ == "__main__":
    main()
