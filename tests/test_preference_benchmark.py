"""benchmarks.preference_tuning's bookkeeping: which runs it trains and when an earlier run's rows may be reused."""

from __future__ import annotations

import json

import pytest

from benchmarks.preference_tuning import RECIPES, reused_baselines, select_runs

SAME = {"preset": "smollm2-135m-instruct", "precision": "bf16", "hardware": "CPU, bf16 feature AMX",
        "adapter_sha256": "ab" * 32, "n_test": 135, "n_humaneval": 164}


def earlier_run(tmp_path, **changes):
    header = {key: changes.get(key, SAME[key]) for key in ("preset", "precision", "hardware", "adapter_sha256")}
    rows = [{"model": name, "n": SAME["n_test"], "humaneval_n": SAME["n_humaneval"], "passed": passed,
             "outcomes": ["pass"] * passed, "vs_sft": {"text": "x"}, "vs_untouched": {"text": "y"},
             "humaneval_vs_untouched": {"text": "z"}}
            for name, passed in (("untouched", 29), ("SFT (02)", 39), (RECIPES[0].name, 40))]
    path = tmp_path / "earlier.json"
    path.write_text(json.dumps({**header, "rows": rows}), encoding="utf-8")
    return path


def test_recipe_names_are_unique_and_each_dpo_recipe_names_its_loss():
    names = [recipe.name for recipe in RECIPES]
    assert len(names) == len(set(names))
    for recipe in RECIPES:
        assert recipe.method in ("dpo", "grpo")
        assert ("sft loss" in recipe.name) == ("sft" in recipe.loss_type), recipe.name


def test_select_runs_takes_every_seed_or_the_one_named():
    name = RECIPES[-1].name
    assert select_runs([name], [42, 43]) == [(RECIPES[-1], 42), (RECIPES[-1], 43)]
    assert select_runs([f"{name}@7"], [42, 43]) == [(RECIPES[-1], 7)]
    assert len(select_runs(None, [1, 2])) == 2 * len(RECIPES)
    with pytest.raises(SystemExit, match="Unknown recipe 'dpo beta 9'"):
        select_runs(["dpo beta 9"], [42])


def test_baselines_are_reused_only_from_the_same_models_items_and_hardware(tmp_path):
    rows = reused_baselines(str(earlier_run(tmp_path)), **SAME)
    assert [row["model"] for row in rows] == ["untouched", "SFT (02)"]  # the earlier recipes are not carried over
    assert all(not key.startswith("vs_") and key != "humaneval_vs_untouched" for row in rows for key in row)
    assert rows[1]["passed"] == 39
    for key, other in (("hardware", "CPU, bf16 feature AVX512-BF16"), ("adapter_sha256", "cd" * 32),
                       ("precision", "fp32")):
        with pytest.raises(SystemExit, match=f"{key}: {other} there"):
            reused_baselines(str(earlier_run(tmp_path, **{key: other})), **SAME)
    with pytest.raises(SystemExit, match="n_test: 135 there, 40 here"):
        reused_baselines(str(earlier_run(tmp_path)), **{**SAME, "n_test": 40})
