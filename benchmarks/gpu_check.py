"""The course's GPU code paths, checked on any CUDA machine with no hub: `make gpu-check`.

Part 1 takes the offline model (SmolLM2-135M-Instruct, from a PyPI package) through every GPU path of the
notebooks, under two hardware profiles:
- the machine's own (bf16 on Ampere and newer, a 4-bit NF4 base, paged 8-bit AdamW);
- a forced T4 profile (fp16 compute, a 4-bit NF4 base, fp32 adapters, paged 8-bit AdamW), as on Colab/Kaggle.
Each profile gets: a few SFT steps with finite loss; batched generation (against one prompt at a time);
reload equivalence (a fresh base prepared as in training, with the saved adapter, against the trained
model); a clean merge (an unquantized base with the adapter merged, against the same adapter unmerged);
and the fp16 guard (finite logits on a probe batch, or a fallback that is said).

Part 2 builds a model shaped like Qwen2.5-0.5B-Instruct from its published configuration, with random
weights, and measures peak GPU memory and step time at the course's batch and length settings, with a 4-bit
and a 16-bit base. The weights are random but the shapes are real: memory and time depend on the shapes.

`--dry-run` runs a small subset on the CPU (the tiny test model, a 2-layer shape model, short sequences):
`make test` runs it so that this script never rots. Its figures mean nothing about a GPU.

    python -m benchmarks.gpu_check [--dry-run] [--output gpu_check.json]
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from helpers.data import load_bundled
from helpers.hardware import HardwareProfile, detect_hardware
from helpers.inference import (
    agreement,
    build_prompts,
    generate_one_at_a_time,
    generate_with_stats,
    guard_half_precision,
    load_adapter,
    match_training_dtypes,
    max_logit_difference,
)
from helpers.models import OFFLINE_PRESET, TINY_PRESET, load_model_and_tokenizer
from helpers.scaling import QWEN25_05B_SHAPE
from helpers.templates import to_prompt_completion
from helpers.training import (
    attach_lora,
    build_sft_trainer,
    loss_history,
    make_lora_config,
    make_sft_config,
    optimizer_name,
)

# Tolerances, stated: the largest |logit difference| accepted between two models that should compute alike.
# Exactly alike (same dtypes, same order of operations) gives 0; merging W + BA into one weight rounds once more.
RELOAD_TOLERANCE = {"fp32": 1e-4, "half": 5e-2}
MERGE_TOLERANCE = {"fp32": 1e-3, "half": 2.5e-1}


@dataclass
class Check:
    profile: str
    check: str
    ok: bool
    detail: str
    numbers: dict = field(default_factory=dict)


def gpu_profiles(dry_run: bool) -> list[tuple[str, HardwareProfile]]:
    """The machine's own profile and a forced T4 profile (on a CPU, for the dry run: fp32 and a forced 4-bit base)."""
    if dry_run:
        return [("cpu", detect_hardware(load_in_4bit=False, cuda_available=False, verbose=False)),
                ("cpu, 4-bit base", detect_hardware(load_in_4bit=True, cuda_available=False, verbose=False))]
    native = detect_hardware(verbose=False)
    t4 = detect_hardware(load_in_4bit=True, cuda_available=True, capability=(7, 5),
                         gpu_name=f"{native.gpu_name} as a T4", gpu_memory_gb=15.0, verbose=False)
    return [(f"native ({native.precision})", native), ("forced T4 (fp16)", t4)]


def _tolerance(profile: HardwareProfile, table: dict) -> float:
    return table["fp32"] if profile.torch_dtype == torch.float32 and profile.precision == "fp32" else table["half"]


def check_profile(label: str, profile: HardwareProfile, preset: str, workdir: Path, steps: int,
                  n_prompts: int, max_new_tokens: int) -> list[Check]:
    """Train, generate, reload, merge and guard under one profile; one Check per step."""
    checks: list[Check] = []
    run_dir = workdir / label.replace(" ", "_").replace("(", "").replace(")", "").replace(",", "")
    model, tokenizer = load_model_and_tokenizer(preset, profile, verbose=False)
    model = attach_lora(model, make_lora_config(r=4, alpha=8), profile)
    data = to_prompt_completion(load_bundled("python_style", "train").select(range(4 * steps * 2)), "chatml",
                                tokenizer, max_length=384, verbose=False)
    config = make_sft_config(profile, str(run_dir), verbose=False, max_steps=steps, learning_rate=1e-3,
                             batch_size=min(profile.batch_size, 4), max_length=384, logging_steps=1,
                             warmup_steps=1, disable_tqdm=True)
    trainer = build_sft_trainer(model, tokenizer, profile, config, data)
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    losses = [loss for _, loss in loss_history(trainer)["train"]]
    adapter_dtypes = sorted({str(p.dtype).removeprefix("torch.") for p in trainer.model.parameters() if p.requires_grad})
    optim = optimizer_name(trainer.args)
    checks.append(Check(label, "SFT steps", bool(losses) and all(math.isfinite(x) for x in losses),
                        f"{len(losses)} steps, loss {losses[0]:.3f} -> {losses[-1]:.3f}, {seconds:.1f} s; "
                        f"adapters {'/'.join(adapter_dtypes)}, {optim}",
                        {"losses": losses, "seconds": round(seconds, 2), "adapter_dtypes": adapter_dtypes, "optim": optim}))

    trained = trainer.model.eval()
    requests = [{"instruction": r["instruction"]} for r in load_bundled("python_style", "test").select(range(n_prompts))]
    prompts = build_prompts(requests, "chatml", tokenizer)
    batched, stats = generate_with_stats(trained, tokenizer, prompts, max_new_tokens, batch_size=n_prompts)
    single = generate_one_at_a_time(trained, tokenizer, prompts, max_new_tokens)
    same = agreement(batched, single)
    # Batched and unbatched answers can differ by a token in half precision (padding changes the rounding):
    # the share is reported, not required.
    checks.append(Check(label, "batched generation", len(batched) == n_prompts and stats["new_tokens"] > 0,
                        f"{stats['new_tokens']} new tokens, {stats['tokens_per_second']:.0f} tokens/s; "
                        f"{same:.0%} of {n_prompts} identical to one at a time",
                        {**stats, "identical_to_unbatched": same}))

    adapter_dir = run_dir / "adapter"
    trained.save_pretrained(adapter_dir)
    fresh, _ = load_model_and_tokenizer(preset, profile, verbose=False)
    reloaded = load_adapter(match_training_dtypes(fresh, prepared_in_training=profile.load_in_4bit), adapter_dir)
    difference = max_logit_difference(trained, reloaded, tokenizer, prompts)
    reloaded_answers = generate_with_stats(reloaded, tokenizer, prompts, max_new_tokens, batch_size=n_prompts)[0]
    tolerance = _tolerance(profile, RELOAD_TOLERANCE)
    checks.append(Check(label, "reload equivalence", difference <= tolerance,
                        f"max |logit diff| {difference:.2e} (tolerance {tolerance:g}); "
                        f"{agreement(batched, reloaded_answers):.0%} of answers identical",
                        {"max_logit_difference": difference, "tolerance": tolerance,
                         "identical_answers": agreement(batched, reloaded_answers)}))
    del trainer, trained, reloaded, fresh, model
    _free()

    # The clean merge: an unquantized base in the profile's dtype, the adapter merged into it, against the same
    # base with the adapter unmerged (the 4-bit question is notebook 04's section 4, not this check's).
    unmerged_base, _ = load_model_and_tokenizer(preset, profile, load_in_4bit=False, verbose=False)
    unmerged = load_adapter(unmerged_base, adapter_dir)
    merged_base, _ = load_model_and_tokenizer(preset, profile, load_in_4bit=False, verbose=False)
    merged = load_adapter(merged_base, adapter_dir).merge_and_unload().eval()
    difference = max_logit_difference(unmerged, merged, tokenizer, prompts)
    lora_left = sum("lora" in name for name, _ in merged.named_modules())
    tolerance = _tolerance(profile, MERGE_TOLERANCE)
    checks.append(Check(label, "clean merge", difference <= tolerance and lora_left == 0,
                        f"max |logit diff| {difference:.2e} against the unmerged adapter (tolerance {tolerance:g}), "
                        f"{lora_left} LoRA modules left",
                        {"max_logit_difference": difference, "tolerance": tolerance}))
    del unmerged, unmerged_base

    dtype_before = str(next(merged.parameters()).dtype).removeprefix("torch.")
    guarded = guard_half_precision(merged, tokenizer)
    dtype_after = str(next(guarded.parameters()).dtype).removeprefix("torch.")
    checks.append(Check(label, "fp16 guard", True,
                        f"{dtype_before}: finite logits" if dtype_before == dtype_after
                        else f"{dtype_before} overflowed, widened to {dtype_after}",
                        {"dtype_before": dtype_before, "dtype_after": dtype_after}))
    del merged, guarded, merged_base
    _free()
    return checks


def _free() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def shape_model_dir(workdir: Path, shape: dict, dtype: torch.dtype) -> Path:
    """Save a random model with the given shapes (and the offline tokenizer's special ids) to load like any other."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    target = workdir / f"shape_{shape['num_hidden_layers']}layers"
    if (target / "config.json").exists():
        return target
    from helpers.models import load_tokenizer

    tokenizer = load_tokenizer(OFFLINE_PRESET)  # only its special ids are used: the batches are random token ids
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(**shape, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                                         pad_token_id=tokenizer.pad_token_id)).to(dtype)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    del model
    _free()
    return target


def measure_shape(label: str, profile: HardwareProfile, model_dir: Path, four_bit: bool, batch_size: int,
                  seq_length: int, steps: int, workdir: Path) -> Check:
    """Peak memory and step time of LoRA training on full-length random token batches, as the course trains."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM

    from helpers.models import quantization_config

    _free()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
        start_mb = torch.cuda.memory_allocated() / 2**20
    kwargs = {"dtype": profile.torch_dtype}
    if four_bit:
        kwargs["quantization_config"] = quantization_config(profile)
    if profile.device == "cuda":
        kwargs["device_map"] = {"": 0}
    model = AutoModelForCausalLM.from_pretrained(model_dir, **kwargs)
    # A packed 4-bit tensor holds two weights per element.
    parameters = sum(p.numel() * (2 if type(p).__name__ == "Params4bit" else 1) for p in model.parameters())
    weights_mb = model.get_memory_footprint() / 2**20
    model = attach_lora(model, make_lora_config(r=4, alpha=8), profile)
    vocab = model.config.vocab_size
    generator = torch.Generator().manual_seed(0)
    rows = [{"input_ids": torch.randint(0, vocab, (seq_length,), generator=generator).tolist()}
            for _ in range(batch_size * (steps + 1))]
    config = make_sft_config(profile, str(workdir / f"shape_run_{four_bit}"), verbose=False, max_steps=steps + 1,
                             batch_size=batch_size, max_length=seq_length, logging_steps=1, learning_rate=1e-4,
                             completion_only_loss=None, disable_tqdm=True)
    step_times: list[float] = []

    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            step_times.append(time.perf_counter() - self.started)

    from helpers.models import load_tokenizer

    trainer = build_sft_trainer(model, load_tokenizer(str(model_dir)), profile, config, Dataset.from_list(rows),
                                callbacks=[StepTimer()])
    trainer.train()
    losses = [loss for _, loss in loss_history(trainer)["train"]]
    steady = step_times[1:] or step_times  # the first step pays for kernel selection and allocation
    step_s = sum(steady) / len(steady)
    peak_mb = (torch.cuda.max_memory_allocated() / 2**20 - start_mb) if torch.cuda.is_available() else float("nan")
    base = "4-bit NF4" if four_bit else str(profile.torch_dtype).removeprefix("torch.")
    del trainer, model
    _free()
    ok = bool(losses) and all(math.isfinite(x) for x in losses)
    return Check(label, f"shape run, {base} base",
                 ok, f"{parameters / 1e6:.0f}M parameters, weights {weights_mb:.0f} MB, peak {peak_mb:.0f} MB, "
                 f"{step_s:.2f} s/step (batch {batch_size} x {seq_length} tokens, {len(steady)} steps timed)",
                 {"parameters": parameters, "weights_mb": round(weights_mb, 1), "peak_memory_mb": round(peak_mb, 1),
                  "seconds_per_step": round(step_s, 3), "batch_size": batch_size, "seq_length": seq_length,
                  "losses": losses})


def print_table(checks: list[Check]) -> None:
    widths = [max(len(c.profile) for c in checks), max(len(c.check) for c in checks), 4]
    header = f"{'profile':<{widths[0]}}  {'check':<{widths[1]}}  {'ok':<4}  detail"
    print(header)
    print("-" * len(header))
    for c in checks:
        print(f"{c.profile:<{widths[0]}}  {c.check:<{widths[1]}}  {'yes' if c.ok else 'NO':<4}  {c.detail}")


def run(dry_run: bool, workdir: Path) -> list[Check]:
    """All checks; on a CPU only with dry_run (the GPU paths need CUDA)."""
    if not dry_run and not torch.cuda.is_available():
        raise SystemExit("gpu_check needs a CUDA GPU (torch.cuda.is_available() is False). "
                         "On a CPU, --dry-run checks that the script itself works.")
    preset = TINY_PRESET if dry_run else OFFLINE_PRESET
    checks: list[Check] = []
    for label, profile in gpu_profiles(dry_run):
        print(f"--- {label}: {profile.reason}", flush=True)
        checks += check_profile(label, profile, preset, workdir, steps=2 if dry_run else 3,
                                n_prompts=2 if dry_run else 8, max_new_tokens=8 if dry_run else 64)
    shape = {**QWEN25_05B_SHAPE, "num_hidden_layers": 2, "vocab_size": 4096} if dry_run else QWEN25_05B_SHAPE
    for label, profile in gpu_profiles(dry_run):
        # On a T4 the course trains batch 8 x 384 tokens (02's MAX_LENGTH); 16 on a GPU with 40 GB or more.
        batch, length = (2, 32) if dry_run else (profile.batch_size, 384)
        model_dir = shape_model_dir(workdir, shape, profile.torch_dtype if profile.device == "cuda" else torch.float32)
        for four_bit in (True, False):
            print(f"--- {label}: shape model, {'4-bit' if four_bit else '16-bit'} base", flush=True)
            checks.append(measure_shape(label, profile, model_dir, four_bit, batch, length,
                                        steps=2 if dry_run else 5, workdir=workdir))
        if dry_run:
            break
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="a small CPU subset (what make test runs)")
    parser.add_argument("--output", type=Path, help="write the checks as JSON here")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as folder:
        checks = run(args.dry_run, Path(folder))
    where = "CPU dry run (figures say nothing about a GPU)" if args.dry_run else torch.cuda.get_device_name(0)
    print(f"\ngpu_check on {where}, torch {torch.__version__}, {time.strftime('%Y-%m-%d')}, "
          f"{time.perf_counter() - started:.0f} s. Shape runs: random weights, Qwen2.5-0.5B's real shapes.")
    print_table(checks)
    if args.output:
        args.output.write_text(json.dumps({"device": where, "torch": torch.__version__,
                                           "checks": [vars(c) for c in checks]}, indent=2))
    failed = [c for c in checks if not c.ok]
    if failed:
        print(f"\n{len(failed)} check(s) failed: " + "; ".join(f"{c.profile} / {c.check}" for c in failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
