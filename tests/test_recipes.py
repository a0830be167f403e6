"""The recipe experiment's parts: family subsets, fixed/broken counts, and one scored run on the tiny model."""

from __future__ import annotations

import re

import pytest

from helpers.data import load_bundled
from helpers.models import TINY_PRESET
from helpers.recipes import Recipe, compare_outcomes, family_subset, recipe_grid, run_recipe, score_answers


def test_family_subset_keeps_whole_families_with_a_fixed_choice():
    train = load_bundled("python_style", "train")
    subset = family_subset(train, 10)
    families = set(subset["family"])
    assert len(families) == 10
    assert len(subset) == sum(family in families for family in train["family"]), "families are kept whole"
    assert set(family_subset(train, 10)["family"]) == families, "the same seed picks the same families"
    assert family_subset(train, None) is train and family_subset(train, 1000) is train
    with pytest.raises(ValueError, match="at least 1"):
        family_subset(train, 0)


def test_compare_outcomes_counts_fixed_and_broken():
    base = ["pass", "fail", "error", "pass", "timeout"]
    tuned = ["fail", "pass", "pass", "pass", "timeout"]
    assert compare_outcomes(base, tuned) == {"fixed": 2, "broken": 1}
    with pytest.raises(ValueError):
        compare_outcomes(base, tuned[:2])


def test_score_answers_gives_both_numbers_with_n():
    test = list(load_bundled("python_style", "test").select(range(4)))
    answers = [record["output"] for record in test]
    # The third answer keeps the style but returns the wrong thing; the fourth works but has prose around it.
    answers[2] = re.sub(r"return .*", "return 0", answers[2])
    answers[3] = "Here you go:\n" + answers[3]
    scores = score_answers(answers, test)
    assert (scores["n"], scores["style_adherent"], scores["passed"]) == (4, 3, 3)
    assert scores["outcomes"][2] == "fail" and scores["outcomes"][3] == "pass"
    assert scores["style_text"].startswith("75.0% (3/4, 95% CI") and scores["pass_text"].startswith("75.0% (3/4")


def test_a_recipe_row_has_both_metrics_with_n_and_intervals(tmp_path):
    test = list(load_bundled("python_style", "test").select(range(4)))
    base = run_recipe(None, TINY_PRESET, test, output_dir=str(tmp_path), max_new_tokens=8)
    assert base["recipe"] == "untouched model" and base["n"] == 4 and len(base["outcomes"]) == 4
    row = run_recipe(Recipe("two steps", steps=2, r=4, families=3, batch_size=2), TINY_PRESET, test,
                     output_dir=str(tmp_path), n_val=2, max_new_tokens=8)
    assert row["train_families"] == 3 and row["train_records"] > 0 and row["r"] == 4
    assert row["trainable_params"] > 0 and row["eval_loss"] > 0 and row["eval_loss"] != row["eval_loss_before"]
    for key in ("style", "pass"):
        low, high = row[f"{key}_interval"]
        assert 0 <= low <= high <= 1 and "(" in row[f"{key}_text"] and "/4" in row[f"{key}_text"]
    assert row["passed"] == sum(outcome == "pass" for outcome in row["outcomes"])


def test_a_recipe_run_prints_no_raw_trainer_log_dicts(tmp_path, capsys):
    """disable_tqdm=True makes transformers print every log dict (PrinterCallback); the course never shows them."""
    test = list(load_bundled("python_style", "test").select(range(2)))
    run_recipe(Recipe("two steps", steps=2, r=4, families=3, batch_size=2), TINY_PRESET, test,
               output_dir=str(tmp_path), n_val=2, max_new_tokens=4)
    printed = capsys.readouterr().out.splitlines()
    assert not [line for line in printed if line.startswith(("{'loss'", "{'eval_loss'", "{'train_runtime'"))], printed

def test_the_grid_changes_the_learning_rate_rank_and_families_from_one_reference():
    reference, *others = recipe_grid(40)
    assert (reference.learning_rate, reference.steps, reference.r, reference.families) == (1e-3, 40, 16, None)
    changed = [{field for field in ("learning_rate", "r", "families") if getattr(r, field) != getattr(reference, field)}
               for r in others]
    assert changed == [{"learning_rate"}, {"r"}, {"learning_rate", "r"}, {"families"}]
    for recipe in others:  # a lower rate gets 3x the steps, and nothing else changes the budget
        assert recipe.steps == (120 if recipe.learning_rate == 2e-4 else 40) and recipe.batch_size == 4
    assert len({r.name for r in recipe_grid(40)}) == 5 and recipe_grid(10)[1].steps == 30
