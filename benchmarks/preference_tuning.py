"""Benchmark: do DPO and GRPO on the sandbox's verdicts make 02's model write working code? One process, side by side.

    python -m benchmarks.preference_tuning [--run-dir adapters/python_style] [--n-test 135] [--n-humaneval 164]
        [--n-requests 96] [--k 4] [--recipes NAME[@SEED] ...] [--seeds 42 ...] [--out FILE.json] [--baselines FILE.json]

Starts from notebook 02's adapter (its results file in --run-dir says where it is and which base it trained;
run `make run` or notebook 02 first). The SFT model answers --n-requests training requests --k times with
sampling (temperature 0.8, top-p 0.95, 128 new tokens), the sandbox judges every answer, and the verdicts give
DPO's pairs (helpers.preference.preference_pairs) and GRPO's prompts (the requests with mixed verdicts). Each
recipe in RECIPES trains from a fresh copy of the SFT model, once per seed. The untouched model, the SFT model
and every recipe answer the same held-out python_style requests (greedy, 128 new tokens) and the same
HumanEval problems (greedy, 256 new tokens), scored in the sandbox: style and pass rate with n and a 95% Wilson
interval, fixed/broken against SFT and against the untouched model with McNemar's exact p, and HumanEval pass@1.
Notebook 09 teaches the same steps on a smaller budget; this is where its defaults come from.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

RECIPES_HELP = "names from RECIPES, each with every --seeds or as NAME@SEED (default: all)"


@dataclass(frozen=True)
class PreferenceRecipe:
    """One DPO or GRPO run from the SFT model."""

    name: str
    method: str  # "dpo" or "grpo"
    learning_rate: float
    steps: int
    beta: float
    batch_size: int = 4  # DPO: pairs per step; GRPO: prompts per step
    num_generations: int = 4  # GRPO only
    loss_type: tuple[str, ...] = ("sigmoid",)  # DPO only: ("sigmoid", "sft") adds the chosen answers' NLL (RPO)


RECIPES = [
    PreferenceRecipe("dpo beta 0.1, lr 2e-4, 24 steps", "dpo", 2e-4, 24, 0.1),
    PreferenceRecipe("dpo beta 0.5, lr 2e-4, 24 steps", "dpo", 2e-4, 24, 0.5),
    PreferenceRecipe("dpo beta 0.1, lr 5e-4, 24 steps", "dpo", 5e-4, 24, 0.1),
    PreferenceRecipe("grpo lr 5e-5, 12 steps of 2x4", "grpo", 5e-5, 12, 0.0, batch_size=2),
    PreferenceRecipe("grpo lr 2e-4, 12 steps of 2x4", "grpo", 2e-4, 12, 0.0, batch_size=2),
    PreferenceRecipe("grpo lr 5e-5, 36 steps of 2x4", "grpo", 5e-5, 36, 0.0, batch_size=2),
    PreferenceRecipe("grpo lr 5e-5, 12 steps of 2x8", "grpo", 5e-5, 12, 0.0, batch_size=2, num_generations=8),
    PreferenceRecipe("dpo beta 0.5, lr 2e-4, 48 steps", "dpo", 2e-4, 48, 0.5),
    PreferenceRecipe("dpo beta 0.5, lr 2e-4, 36 steps", "dpo", 2e-4, 36, 0.5),
    PreferenceRecipe("dpo + sft loss, beta 0.5, lr 2e-4, 48 steps", "dpo", 2e-4, 48, 0.5, loss_type=("sigmoid", "sft")),
]


def select_runs(names: list[str] | None, seeds: list[int]) -> list[tuple[PreferenceRecipe, int]]:
    """(recipe, seed) pairs to train: each name with every seed, or `NAME@SEED` for that seed alone."""
    by_name = {recipe.name: recipe for recipe in RECIPES}
    if names is None:
        return [(recipe, seed) for recipe in RECIPES for seed in seeds]
    runs = []
    for name in names:
        base, _, seed = name.rpartition("@") if "@" in name else (name, "", "")
        if base not in by_name:
            raise SystemExit(f"Unknown recipe {base!r}; RECIPES has: " + "; ".join(by_name))
        runs += [(by_name[base], int(seed))] if seed else [(by_name[base], s) for s in seeds]
    return runs


def train_recipe(recipe: PreferenceRecipe, model, tokenizer, profile, pairs, grpo_prompts, output_dir: str, seed: int):
    """Train one recipe in place on `model` (a trainable PeftModel carrying the SFT adapter); returns seconds."""
    from trl import DPOConfig, DPOTrainer, GRPOConfig, GRPOTrainer

    from helpers.preference import fit_trainer_to_machine, sandbox_reward, style_reward
    from helpers.training import train_on_one_gpu

    common = dict(output_dir=output_dir, learning_rate=recipe.learning_rate, lr_scheduler_type="constant",
                  max_steps=recipe.steps, logging_steps=1, save_strategy="no", report_to="none", seed=seed,
                  disable_tqdm=True, **profile.sft_machine_fields())
    if recipe.method == "dpo":
        config = DPOConfig(beta=recipe.beta, loss_type=list(recipe.loss_type), per_device_train_batch_size=recipe.batch_size,
                           max_length=256, **common)
        trainer = DPOTrainer(model=model, args=train_on_one_gpu(config), train_dataset=pairs,
                             processing_class=tokenizer)
    else:
        config = GRPOConfig(beta=recipe.beta, num_generations=recipe.num_generations, max_completion_length=128,
                            temperature=0.8, top_p=0.95,
                            per_device_train_batch_size=recipe.batch_size * recipe.num_generations, **common)
        if len(grpo_prompts) < recipe.batch_size:
            raise SystemExit(f"{len(grpo_prompts)} mixed requests, fewer than one GRPO step's {recipe.batch_size} prompts")
        trainer = GRPOTrainer(model=model, reward_funcs=[sandbox_reward, style_reward], args=train_on_one_gpu(config),
                              train_dataset=grpo_prompts, processing_class=tokenizer)
    fit_trainer_to_machine(trainer, profile)
    result = trainer.train()
    return round(result.metrics["train_runtime"], 1), trainer.state.log_history


def adapter_digest(adapter: str) -> str:
    """sha256 of the adapter's weights: which SFT model a results file scored."""
    import hashlib

    return hashlib.sha256((Path(adapter) / "adapter_model.safetensors").read_bytes()).hexdigest()


def reused_baselines(path: str, **expected) -> list[dict]:
    """The untouched and SFT rows of an earlier run of this benchmark, if it scored the same models on the same items
    on the same kind of hardware (bf16 kernels differ between CPU features and GPUs; AMX and AVX512-BF16 gave the
    same verdicts in docs/results.md's third run, a measurement, not a guarantee)."""
    earlier = json.loads(Path(path).read_text(encoding="utf-8"))
    rows = {row["model"]: row for row in earlier["rows"]}
    found = {"preset": earlier.get("preset"), "precision": earlier.get("precision"), "hardware": earlier.get("hardware"),
             "adapter_sha256": earlier.get("adapter_sha256"), "n_test": rows["SFT (02)"]["n"],
             "n_humaneval": rows["SFT (02)"]["humaneval_n"]}
    differing = [f"{key}: {found[key]} there, {value} here" for key, value in expected.items() if found[key] != value]
    if differing:
        raise SystemExit(f"{path} scored other models or items, so its rows cannot be reused: " + "; ".join(differing))
    print(f"Reusing the untouched and SFT rows of {path} (same preset, precision, hardware, adapter and items).", flush=True)
    return [{key: value for key, value in rows[name].items() if not key.startswith("vs_")
             and key != "humaneval_vs_untouched"} for name in ("untouched", "SFT (02)")]


def main() -> None:
    import torch
    from datasets import Dataset
    from peft import PeftModel, prepare_model_for_kbit_training
    from transformers import GenerationConfig

    from helpers.correctness import entry_point, paired_comparison
    from helpers.data import load_bundled
    from helpers.hardware import detect_hardware
    from helpers.humaneval import load_problems, score_humaneval
    from helpers.inference import build_prompts, stop_token_ids
    from helpers.models import PROJECT_ROOT, load_model_and_tokenizer
    from helpers.preference import judge, preference_pairs, sample_answers, verdict_summary
    from helpers.recipes import score_python_style
    from helpers.results import read_results
    from helpers.training import ensure_4bit_trainable

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", default=str(PROJECT_ROOT / "adapters" / "python_style"),
                        help="the run folder holding notebook 02's results")
    parser.add_argument("--n-test", type=int, default=135, help="held-out python_style requests (all: 135)")
    parser.add_argument("--n-humaneval", type=int, default=164, help="HumanEval problems (all: 164)")
    parser.add_argument("--n-requests", type=int, default=96, help="training requests sampled K times each")
    parser.add_argument("--k", type=int, default=4, help="sampled answers per training request")
    parser.add_argument("--recipes", nargs="*", default=None, help=RECIPES_HELP)
    parser.add_argument("--seeds", type=int, nargs="*", default=[42])
    parser.add_argument("--out", default=None, help="write every row (outcomes included) to this JSON file")
    parser.add_argument("--baselines", default=None,
                        help="an earlier --out file: reuse its untouched and SFT rows instead of scoring them again "
                             "(refused unless its preset, precision, adapter digest and sizes match this run)")
    args = parser.parse_args()

    started = time.perf_counter()
    sft = read_results(args.run_dir, "02_completion_only_sft")
    preset, adapter = sft["preset"], sft["final_adapter"]
    profile = detect_hardware(load_in_4bit=sft["load_in_4bit"], verbose=False)
    test = list(load_bundled("python_style", "test").shuffle(seed=0).select(range(args.n_test)))
    problems = load_problems(limit=args.n_humaneval)

    def load(trainable: bool | None):
        """None: the untouched base; False/True: with 02's adapter, frozen or trainable."""
        model, tokenizer = load_model_and_tokenizer(preset, profile, verbose=False)
        if trainable is None:
            return model.eval(), tokenizer
        if trainable and profile.load_in_4bit:  # a GPU: the 4-bit base prepared as 02 and notebook 09 prepare it
            ensure_4bit_trainable(model)
            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=profile.gradient_checkpointing)
        return PeftModel.from_pretrained(model, adapter, is_trainable=trainable), tokenizer

    def score(name: str, model, tokenizer, extra: dict | None = None) -> dict:
        began = time.perf_counter()
        task = score_python_style(model.eval(), tokenizer, test, max_new_tokens=128, batch_size=16)
        humaneval = score_humaneval(model, tokenizer, problems, max_new_tokens=256, batch_size=16)
        row = {"model": name, **(extra or {}), "n": task["n"], "style_adherent": task["style_adherent"],
               "style_text": task["style_text"], "passed": task["passed"], "pass_text": task["pass_text"],
               "outcomes": task["outcomes"], "answers": task["answers"], "humaneval_passed": humaneval["passed"],
               "humaneval_n": humaneval["n"], "humaneval_text": humaneval["text"],
               "humaneval_outcomes": humaneval["outcomes"], "humaneval_answers": humaneval["answers"],
               "score_seconds": round(time.perf_counter() - began, 1)}
        print(f"{name}: style {row['style_text']}, pass {row['pass_text']}, HumanEval {row['humaneval_text']} "
              f"({row['score_seconds']:.0f} s scoring)", flush=True)
        return row

    digest = adapter_digest(adapter)
    hardware = profile.gpu_name if profile.device == "cuda" else f"CPU, bf16 feature {profile.cpu_bf16}"
    if args.baselines:
        rows = reused_baselines(args.baselines, preset=preset, precision=profile.precision, hardware=hardware,
                                adapter_sha256=digest,
                                n_test=len(test), n_humaneval=len(problems))
        sft_model, tokenizer = load(False)
    else:
        untouched, tokenizer = load(None)
        rows = [score("untouched", untouched, tokenizer)]
        del untouched
        sft_model, _ = load(False)
        rows.append(score("SFT (02)", sft_model, tokenizer))

    train_records = list(load_bundled("python_style", "train").shuffle(seed=0).select(range(args.n_requests)))
    sampling = GenerationConfig(do_sample=True, temperature=0.8, top_p=0.95, top_k=0, repetition_penalty=1.0,
                                max_new_tokens=128, eos_token_id=stop_token_ids(sft_model, tokenizer),
                                pad_token_id=tokenizer.pad_token_id)
    samples, sampling_stats = sample_answers(sft_model, tokenizer, build_prompts(train_records, "chatml", tokenizer),
                                             args.k, sampling, batch_size=16)
    groups = judge(train_records, samples)
    summary = verdict_summary(groups)
    pairs = preference_pairs(groups)
    if not pairs:
        raise SystemExit(f"No mixed request among {args.n_requests} x {args.k} samples: nothing to train on. "
                         "Raise --n-requests or --k.")
    print(f"Sampling: {sampling_stats}; verdicts: {summary}; {len(pairs)} pairs", flush=True)
    del sft_model
    pair_data = Dataset.from_list([{key: pair[key] for key in ("prompt", "chosen", "rejected")} for pair in pairs])
    grpo_data = Dataset.from_list([{"prompt": [{"role": "user", "content": g.record["instruction"]}],
                                    "checks": g.record["checks"], "entry_point": entry_point(g.record)}
                                   for g in groups if g.mixed])

    for recipe, seed in select_runs(args.recipes, args.seeds):
        torch.manual_seed(seed)
        model, _ = load(True)
        seconds, log = train_recipe(recipe, model, tokenizer, profile, pair_data, grpo_data,
                                    f"/tmp/bench_preference/{recipe.method}", seed)
        rows.append(score(recipe.name, model, tokenizer, {**asdict(recipe), "seed": seed, "train_seconds": seconds,
                                                          "last_log": [r for r in log if "loss" in r][-1:]}))
        del model

    sft_row, base_row = rows[1], rows[0]
    for row in rows:
        for against, label in ((sft_row, "vs_sft"), (base_row, "vs_untouched")):
            if row is not against:
                row[label] = paired_comparison(against["outcomes"], row["outcomes"])
        if row is not base_row:
            row["humaneval_vs_untouched"] = paired_comparison(base_row["humaneval_outcomes"], row["humaneval_outcomes"])
    print(f"\n{preset}, {profile.precision}, n={len(test)} held-out requests, {len(problems)} HumanEval problems; "
          f"{summary['requests']} training requests x {summary['k']} samples: {summary['mixed_requests']} mixed, "
          f"{len(pairs)} pairs, {len(grpo_data)} GRPO prompts; {(time.perf_counter() - started) / 60:.0f} min in all\n")
    print(f"| model | training ({profile.device}) | style | pass rate | vs SFT | vs untouched | HumanEval pass@1 | HumanEval vs untouched |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        seed = f" (seed {row['seed']})" if "seed" in row else ""
        print(f"| {row['model']}{seed} | "
              f"{str(row['train_seconds']) + ' s' if 'train_seconds' in row else ''} | {row['style_text']} | "
              f"{row['pass_text']} | {row.get('vs_sft', {}).get('text', '')} | "
              f"{row.get('vs_untouched', {}).get('text', '')} | {row['humaneval_text']} | "
              f"{row.get('humaneval_vs_untouched', {}).get('text', '')} |")
    if args.out:
        Path(args.out).write_text(json.dumps({"preset": preset, "precision": profile.precision, "hardware": hardware,
                                              "adapter": str(adapter),
                                              "adapter_sha256": digest, "sampling": sampling_stats,
                                              "verdicts": summary, "pairs": len(pairs), "rows": rows}, indent=1),
                                  encoding="utf-8")


if __name__ == "__main__":
    main()
