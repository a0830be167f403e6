"""Benchmark: which training recipe keeps the generated code correct? Style and pass rate, side by side, one process.

    python -m benchmarks.recipe_correctness [--n-test 135] [--recipes NAME ...] [--seeds 42 ...] [--out FILE.json]

The untouched model and each recipe answer the same held-out python_style requests (whole task families
the training data never shows; greedy, 128 new tokens). Each answer is scored on style adherence and on
pass rate (its checks, run in the sandbox), each with n and a 95% Wilson interval, and against the base:
how many requests the fine-tune fixed and how many it broke. The recipes vary one thing at a time from
the one notebook 02 used until 2026-11-25 (lr 1e-3, 40 steps of batch 4, r=16, all 41 training
families): the learning rate (2e-4 with 3x the steps), the rank (4: 02's recipe now), both, and the
number of training families (10). See helpers.recipes.recipe_grid.
"""

from __future__ import annotations

import argparse
import json

from helpers.data import load_bundled
from helpers.hardware import detect_hardware
from helpers.models import default_preset
from helpers.recipes import compare_outcomes, recipe_grid, run_recipe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-test", type=int, default=None, help="held-out requests (default: all 135)")
    parser.add_argument("--recipes", nargs="*", default=None, help="names of the recipes to run (default: all)")
    parser.add_argument("--steps", type=int, default=40, help="02's steps; the low-lr recipes train 3x as many")
    parser.add_argument("--seeds", type=int, nargs="*", default=[42],
                        help="training seeds (data order and LoRA init); each recipe trains once per seed")
    parser.add_argument("--model", default=None, help="preset or path (default: the hardware's default)")
    parser.add_argument("--out", default=None, help="write every row (answers included) to this JSON file")
    args = parser.parse_args()
    preset = args.model or default_preset(detect_hardware())
    test = load_bundled("python_style", "test")
    test = list(test if args.n_test is None else test.shuffle(seed=0).select(range(args.n_test)))
    recipes = [r for r in recipe_grid(args.steps) if args.recipes is None or r.name in args.recipes]
    rows = [run_recipe(None, preset, test, output_dir="/tmp/bench_recipe_correctness")]
    print(f"untouched: style {rows[0]['style_text']}, pass {rows[0]['pass_text']}", flush=True)
    for recipe, seed in ((recipe, seed) for recipe in recipes for seed in args.seeds):
        row = run_recipe(recipe, preset, test, output_dir="/tmp/bench_recipe_correctness", seed=seed)
        row.update(compare_outcomes(rows[0]["outcomes"], row["outcomes"]), seed=seed)
        rows.append(row)
        print(f"{recipe.name} (seed {seed}): val loss {row['eval_loss_before']} -> {row['eval_loss']}, style {row['style_text']}, "
              f"pass {row['pass_text']}, fixed {row['fixed']}, broke {row['broken']}, "
              f"{row['train_seconds']} s training", flush=True)
    print(f"\n{preset}, {rows[0]['precision']}, n={len(test)} held-out requests each")
    print(f"{'recipe':<40} {'seed':>4} {'val loss':>8} {'style':>30} {'pass rate':>30} {'fixed/broke':>11}")
    for row in rows:
        fixed = f"{row['fixed']}/{row['broken']}" if "fixed" in row else ""
        print(f"{row['recipe']:<40} {row.get('seed', ''):>4} {row.get('eval_loss', ''):>8} {row['style_text']:>30} {row['pass_text']:>30} "
              f"{fixed:>11}")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(rows, handle, indent=1)


if __name__ == "__main__":
    main()
