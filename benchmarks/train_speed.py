"""Benchmark: training tokens/s of the course's settings against variants, in one process, with the FLOP bound.

    python -m benchmarks.train_speed [--steps 4] [--compile]

Every variant trains the same LoRA r=16 (all linear layers) on the same python_style examples with the
offline model, from a fresh model, for one warm-up step and `--steps` timed steps. Tokens are the
non-padding prompt + completion tokens the trainer saw. The bound is what the machine's measured matmul
rate allows: about 4 FLOP per model parameter per token (forward, and the backward through the frozen
weights; LoRA's own work is small). Prints tokens/s per variant, its ratio to the course's settings and
its share of the bound.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch
from transformers import TrainerCallback

from helpers.data import load_bundled
from helpers.hardware import cpu_bf16_support, detect_hardware
from helpers.models import OFFLINE_PRESET, load_model_and_tokenizer
from helpers.templates import to_prompt_completion
from helpers.training import attach_lora, build_sft_trainer, make_lora_config, make_sft_config


class TokenTimer(TrainerCallback):
    """Wall time and tokens seen at every optimizer step."""

    def __init__(self) -> None:
        self.steps: list[tuple[float, int]] = []
        self._started = 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        self._started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.steps.append((time.perf_counter() - self._started, int(state.num_input_tokens_seen)))


def matmul_gflops(dtype: torch.dtype, size: int = 1024, repeats: int = 20) -> float:
    """Measured dense matmul rate of this machine in GFLOP/s."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    for _ in range(3):
        a @ b
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - started) / 1e9


def tokens_per_second(label: str, data, profile, steps: int, *, dropout: float = 0.05, batch_size: int = 4,
                      **config_overrides) -> float:
    """Non-padding tokens per second over the timed steps (warm-up step excluded) of one variant."""
    model, tokenizer = load_model_and_tokenizer(OFFLINE_PRESET, profile, verbose=False)
    torch.manual_seed(0)
    model = attach_lora(model, make_lora_config(r=16, dropout=dropout), profile)
    config = make_sft_config(profile, f"/tmp/bench_speed_{abs(hash(label))}", max_steps=steps + 1,
                             batch_size=batch_size, learning_rate=1e-3, logging_steps=1000, max_length=384,
                             verbose=False, **config_overrides)
    timer = TokenTimer()
    build_sft_trainer(model, tokenizer, profile, config, data, callbacks=[timer]).train()
    timed = timer.steps[1:]
    tokens = timer.steps[-1][1] - timer.steps[0][1]
    rate = tokens / sum(seconds for seconds, _ in timed)
    print(f"{label:<44} {rate:7.1f} tokens/s  (steps: {', '.join(f'{s:.1f}' for s, _ in timer.steps)} s)", flush=True)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="timed steps per variant (plus one warm-up)")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (about 90 s to compile)")
    args = parser.parse_args()

    profile = detect_hardware()
    model, tokenizer = load_model_and_tokenizer(OFFLINE_PRESET, profile, verbose=False)
    parameters = sum(p.numel() for p in model.parameters())
    del model
    data = to_prompt_completion(load_bundled("python_style", "train"), "chatml", tokenizer, max_length=384,
                                verbose=False)
    fp32_gflops = matmul_gflops(torch.float32)
    feature = cpu_bf16_support() if profile.device == "cpu" else None
    bound = fp32_gflops * 1e9 / (4 * parameters)
    print(f"Matmul rate fp32: {fp32_gflops:.0f} GFLOP/s; {parameters / 1e6:.1f}M parameters; "
          f"bound {bound:.0f} tokens/s at 4 FLOP per parameter per token.")

    variants = {
        "course settings (dropout 0.05, batch 4)": {},
        "LoRA dropout 0": {"dropout": 0.0},
        "batch 8": {"batch_size": 8},
        "packing (TRL bfd)": {"packing": True},
    }
    if profile.device == "cpu" and feature:
        variants[f"bf16 autocast ({feature})"] = {"bf16": True}
        variants[f"bf16 autocast ({feature}), dropout 0"] = {"bf16": True, "dropout": 0.0}
    if args.compile:
        variants["torch.compile, dropout 0"] = {"dropout": 0.0, "torch_compile": True}
    rates = {label: tokens_per_second(label, data, profile, args.steps, **options)
             for label, options in variants.items()}
    course = rates["course settings (dropout 0.05, batch 4)"]
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads",
        "cpu_native_bf16": feature,
        "fp32_matmul_gflops": round(fp32_gflops, 1),
        "bound_tokens_per_second": round(bound, 1),
        "variants": {label: {"tokens_per_second": round(rate, 1), "vs_course": round(rate / course, 2),
                             "share_of_bound": round(rate / bound, 2)} for label, rate in rates.items()},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
