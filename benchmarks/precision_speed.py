"""Benchmark: SFT step time in fp32 against bf16 (TRL's default precision), in one process.

    python -m benchmarks.precision_speed [--steps 3] [--batch-size 8]

Both runs train the same LoRA adapter on the same python_style batches with the offline model, from fp32
weights. The only difference: bf16=False/fp16=False against neither flag given, where TRL turns bf16 on
(autocast). A CPU with native bf16 (AMX or AVX512-BF16) runs that in hardware; others emulate it. The first
step of each run is a warm-up and is not counted. Prints seconds per step, the ratio, which case this
machine is, and which precision the hardware profile picks.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch
from transformers import TrainerCallback
from trl import SFTConfig

from helpers.data import load_bundled
from helpers.hardware import detect_hardware
from helpers.models import OFFLINE_PRESET, load_model_and_tokenizer
from helpers.templates import to_prompt_completion
from helpers.training import attach_lora, build_sft_trainer, make_lora_config, sft_settings


class StepTimer(TrainerCallback):
    """Wall time of every optimizer step."""

    def __init__(self) -> None:
        self.durations: list[float] = []
        self._started = 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        self._started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.durations.append(time.perf_counter() - self._started)


def time_steps(settings: dict, label: str, steps: int, data, profile) -> float:
    """Seconds per step (warm-up step excluded) for one SFTConfig."""
    model, tokenizer = load_model_and_tokenizer(OFFLINE_PRESET, profile, verbose=False)
    torch.manual_seed(0)
    model = attach_lora(model, make_lora_config(r=16), profile)
    config = SFTConfig(**settings)
    timer = StepTimer()
    trainer = build_sft_trainer(model, tokenizer, profile, config, data, callbacks=[timer])
    trainer.train()
    per_step = sum(timer.durations[1:]) / len(timer.durations[1:])
    print(f"{label:<38} bf16={config.bf16!s:<5} fp16={config.fp16!s:<5} {per_step:6.2f} s/step "
          f"(steps: {', '.join(f'{d:.1f}' for d in timer.durations)})", flush=True)
    return per_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3, help="timed steps per run (plus one warm-up)")
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()

    profile = detect_hardware()
    _, tokenizer = load_model_and_tokenizer(OFFLINE_PRESET, profile, verbose=False)
    data = to_prompt_completion(load_bundled("python_style", "train"), "chatml", tokenizer, max_length=384,
                                verbose=False)
    common = dict(max_steps=args.steps + 1, batch_size=args.batch_size, logging_steps=1000, learning_rate=1e-3)
    fp32 = {**sft_settings(profile, "/tmp/bench_fp32", **common), "bf16": False, "fp16": False}
    trl_default = sft_settings(profile, "/tmp/bench_default", **common)
    del trl_default["bf16"], trl_default["fp16"]  # what a config that does not set them gets from TRL

    fp32_s = time_steps(fp32, "fp32 (bf16=False, fp16=False)", args.steps, data, profile)
    default_s = time_steps(trl_default, "TRL default precision (bf16)", args.steps, data, profile)
    feature = profile.cpu_bf16
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads",
        "device": profile.device,
        "cpu_native_bf16": feature,
        "batch_size": args.batch_size,
        "timed_steps": args.steps,
        "fp32_seconds_per_step": round(fp32_s, 2),
        "trl_default_bf16_seconds_per_step": round(default_s, 2),
        "fp32_over_bf16": round(fp32_s / default_s, 2),
        "profile_picks": profile.precision,
    }
    print(json.dumps(result, indent=2))
    if profile.device == "cpu":
        print(f"This CPU {'has native bf16 (' + feature + ')' if feature else 'has no native bf16 (it is emulated)'}.")
    if default_s < fp32_s:
        print(f"bf16 is {fp32_s / default_s:.2f}x faster per step than fp32 here; the profile picks {profile.precision}.")
    else:
        print(f"bf16 is {default_s / fp32_s:.2f}x slower per step than fp32 here; the profile picks {profile.precision}.")


if __name__ == "__main__":
    main()
