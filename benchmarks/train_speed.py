"""Benchmark: training tokens/s of the course's settings against variants, in one process, with the FLOP bound.

    python -m benchmarks.train_speed [--steps 4] [--rank 4] [--compile]

Every variant trains the same LoRA (rank `--rank`, 02's 4 by default; all linear layers) on the same
python_style examples with the offline model, from a fresh model, for one warm-up step and `--steps` timed steps. Tokens are the
non-padding prompt + completion tokens the trainer saw. On a CPU the course's LM head scores only the
completion positions (helpers.training.score_labelled_tokens_only); one variant scores every position,
as TRL does off Triton. The bound is what the machine's measured matmul rate, in the course's compute
precision, allows: about 4 FLOP per model parameter per token (forward, and the backward through the
frozen weights; LoRA's own work is small). Prints tokens/s per variant, its ratio to the course's
settings and its share of the bound.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch
import trl.trainer.utils as trl_utils
from transformers import TrainerCallback

from helpers.data import load_bundled
from helpers.hardware import detect_hardware
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


def tokens_per_second(label: str, data, profile, steps: int, *, rank: int = 4, dropout: float = 0.0,
                      batch_size: int = 4, every_position: bool = False, **config_overrides) -> dict:
    """Tokens/s over the steady steps of one variant (no warm-up, no recompilation) and its one-off seconds."""
    model, tokenizer = load_model_and_tokenizer(OFFLINE_PRESET, profile, verbose=False)
    torch.manual_seed(0)
    model = attach_lora(model, make_lora_config(r=rank, dropout=dropout), profile)
    config = make_sft_config(profile, f"/tmp/bench_speed_{abs(hash(label))}", max_steps=steps + 1,
                             batch_size=batch_size, learning_rate=1e-3, logging_steps=1000, max_length=384,
                             verbose=False, **config_overrides)
    timer = TokenTimer()
    trainer = build_sft_trainer(model, tokenizer, profile, config, data, callbacks=[timer])
    compact = trl_utils._use_triton
    if every_position:  # TRL's own rule off Triton: the LM head scores every position, prompt and padding too
        trl_utils._use_triton = getattr(compact, "original", compact)
    try:
        trainer.train()
    finally:
        trl_utils._use_triton = compact
    seconds = [s for s, _ in timer.steps]
    tokens = [after - before for (_, before), (_, after) in zip([(0.0, 0), *timer.steps], timer.steps)]
    steady = statistics.median(seconds[1:])
    # Steady steps: not the warm-up, not a recompilation (torch.compile compiles again for a new sequence length).
    kept = [i for i in range(1, len(seconds)) if seconds[i] < 3 * steady]
    rate = sum(tokens[i] for i in kept) / sum(seconds[i] for i in kept)
    # One-off costs (the first step's set-up; for torch.compile, every compilation) beyond steady steps.
    one_off = sum(max(0.0, s - steady) for s in seconds)
    print(f"{label:<44} {rate:7.1f} tokens/s  (steps: {', '.join(f'{s:.1f}' for s in seconds)} s)", flush=True)
    return {"tokens_per_second": rate, "seconds_per_step": steady, "one_off_seconds": one_off}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="timed steps per variant (plus one warm-up)")
    parser.add_argument("--rank", type=int, default=4, help="LoRA rank of every variant (notebook 02's: 4)")
    parser.add_argument("--compile", action="store_true",
                        help="also time torch.compile (about 7 minutes of compiling on a 2-core CPU)")
    args = parser.parse_args()

    profile = detect_hardware()
    model, tokenizer = load_model_and_tokenizer(OFFLINE_PRESET, profile, verbose=False)
    parameters = sum(p.numel() for p in model.parameters())
    del model
    data = to_prompt_completion(load_bundled("python_style", "train"), "chatml", tokenizer, max_length=384,
                                verbose=False)
    fp32_gflops = matmul_gflops(torch.float32)
    feature = profile.cpu_bf16
    # The bound uses the rate of the precision the course computes in (bf16 autocast where the CPU has it).
    compute_gflops = matmul_gflops(torch.bfloat16) if profile.precision == "bf16" else fp32_gflops
    bound = compute_gflops * 1e9 / (4 * parameters)
    print(f"Matmul rate fp32: {fp32_gflops:.0f} GFLOP/s, {profile.precision}: {compute_gflops:.0f} GFLOP/s; "
          f"{parameters / 1e6:.1f}M parameters; bound {bound:.0f} tokens/s at 4 FLOP per parameter per token "
          f"({profile.precision}).")

    course = f"course defaults ({profile.precision}, r={args.rank}, dropout 0, batch 4)"
    variants = {course: {}}
    if profile.device == "cpu" and profile.precision == "bf16":
        variants["fp32 (the rule without native bf16)"] = {"bf16": False}
    variants["LoRA dropout 0.05 (the earlier default)"] = {"dropout": 0.05}
    if profile.device == "cpu":
        variants["LM head on every position (TRL on a CPU)"] = {"every_position": True}
    if profile.device == "cpu" and profile.precision == "bf16":
        variants["fp32, dropout 0.05, every position (earlier)"] = {"bf16": False, "dropout": 0.05,
                                                                    "every_position": True}
    variants["batch 8"] = {"batch_size": 8}
    variants["packing (TRL bfd)"] = {"packing": True}
    if args.compile:
        variants["torch.compile"] = {"torch_compile": True}
    measured = {label: tokens_per_second(label, data, profile, args.steps, rank=args.rank, **options)
                for label, options in variants.items()}
    base = measured[course]
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads",
        "cpu_native_bf16": feature,
        "profile_precision": profile.precision,
        "fp32_matmul_gflops": round(fp32_gflops, 1),
        "compute_matmul_gflops": round(compute_gflops, 1),
        "bound_tokens_per_second": round(bound, 1),
        "variants": {label: {"tokens_per_second": round(m["tokens_per_second"], 1),
                             "vs_course": round(m["tokens_per_second"] / base["tokens_per_second"], 2),
                             "share_of_bound": round(m["tokens_per_second"] / bound, 2)}
                     for label, m in measured.items()},
    }
    if args.compile:
        compiled = measured["torch.compile"]
        saved = base["seconds_per_step"] - compiled["seconds_per_step"]
        compile_seconds = compiled["one_off_seconds"] - base["one_off_seconds"]
        result["compile"] = {"compile_seconds": round(compile_seconds, 1), "seconds_saved_per_step": round(saved, 2),
                             "break_even_steps": round(compile_seconds / saved) if saved > 0 else None}
        if saved > 0:
            print(f"torch.compile: {compile_seconds:.0f} s to compile, {saved:.2f} s saved per step: pays off after "
                  f"{compile_seconds / saved:.0f} steps of batch 4 here.")
        else:
            print(f"torch.compile: {compile_seconds:.0f} s to compile and no step got faster: it never pays off here.")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
