"""The core walk 00-04, executed once on the CPU with the offline model, as a badge opens each notebook on Colab or
Kaggle, and what its results must show.

The `walk` fixture (conftest.py) copies each notebook alone into an empty folder and runs it with a kernel that
lacks the helpers package: 00 clones the course, 04 catches up 01 and 02, 03 finds 02's results. Small budgets
keep it within a few minutes on a 2-core CPU; `make run` uses the notebooks' own defaults. Every test that reads
the walk is in this file, so that one test worker runs it once (pytest-xdist --dist loadfile).
"""

from __future__ import annotations

import json
import math

import nbformat
import pytest
from conftest import FAKE_TOKEN, QUICK

from helpers.hardware import detect_hardware
from helpers.results import read_results
from helpers.run_notebooks import course_notebooks

pytestmark = pytest.mark.notebooks


def test_notebooks_are_stored_clean_with_one_parameters_cell():
    from helpers.run_notebooks import solution_notebooks

    assert len(solution_notebooks()) == 10  # one per chapter, 01 to 10
    for notebook in [*course_notebooks(), *solution_notebooks()]:
        content = nbformat.read(notebook, as_version=4)
        code = [cell for cell in content.cells if cell.cell_type == "code"]
        assert all(not cell.outputs and cell.execution_count is None for cell in code), notebook.name
        tagged = [cell for cell in content.cells if "parameters" in cell.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{notebook.name} needs exactly one parameters cell"
        assert content.cells[0].cell_type == "markdown", f"{notebook.name} starts with prose"


def test_every_core_notebook_ran(walk):
    assert list(walk.executed) == list(QUICK)
    for name in QUICK:
        assert walk.executed[name].exists()
        assert (walk.run_dir / f"{name}_results.json").exists()


def test_setup_reports_hardware_and_the_offline_preset(walk):
    results = read_results(walk.run_dir, "00_setup")
    expected = detect_hardware(cuda_available=False, verbose=False).precision  # bf16 where the CPU has it natively
    assert results["hardware"]["device"] == "cpu" and results["hardware"]["precision"] == expected
    assert results["preset"] == "smollm2-135m-instruct"
    assert "Paris" in results["first_answer"]


def test_training_lowers_validation_loss(walk):
    results = read_results(walk.run_dir, "02_completion_only_sft")
    assert math.isfinite(results["eval_loss_after"])
    assert results["eval_loss_after"] < results["eval_loss_before"]
    assert results["steps"] == QUICK["02_completion_only_sft"]["MAX_STEPS"]
    assert 0 < results["trainable_percent"] < 10
    assert (walk.run_dir / "final" / "adapter_model.safetensors").exists()
    assert (walk.run_dir / "loss_curves.png").exists()


def test_style_adherence_beats_the_baseline(walk):
    baseline = read_results(walk.run_dir, "01_baseline_inference")
    payoff = read_results(walk.run_dir, "04_merged_vs_adapter_inference")
    assert payoff["style_adherence_before"] == baseline["style_adherence"]
    assert payoff["style_adherence_after"] > baseline["style_adherence"]
    assert payoff["style_adherence_after"] - baseline["style_adherence"] >= 0.3, payoff["style_scores_after"]


def test_style_and_pass_rate_are_reported_side_by_side_with_n_and_intervals(walk):
    baseline = read_results(walk.run_dir, "01_baseline_inference")
    results = read_results(walk.run_dir, "04_merged_vs_adapter_inference")
    before, after = results["pass_rate_before"], results["pass_rate_after"]
    assert before["n"] == after["n"] == results["n_test"] == len(baseline["checks"]) == QUICK["01_baseline_inference"]["N_TEST"]
    assert len(baseline["entry_points"]) == len(baseline["checks"]) and all(baseline["entry_points"])
    for rate in (before, after):
        low, high = rate["interval"]
        assert 0 <= low <= rate["pass_rate"] <= high <= 1
        assert f"{rate['passed']}/{rate['n']}" in rate["text"] and "95% CI" in rate["text"]
    assert set(after["outcomes"]) <= {"pass", "fail", "error", "timeout"} and len(after["outcomes"]) == after["n"]
    assert sum(outcome == "pass" for outcome in after["outcomes"]) == after["passed"]
    text = walk.text("04_merged_vs_adapter_inference")
    assert "Fine-tuning fixed" in text and "pass rate" in text
    assert (walk.run_dir / "style_vs_pass_rate.png").stat().st_size > 0
    # Section 7: 02's recipe at the other rank, trained and scored on the same requests.
    contrast, sft = results["contrast"], read_results(walk.run_dir, "02_completion_only_sft")
    assert contrast["r"] != sft["lora"]["r"] and contrast["steps"] == sft["max_steps"]
    assert contrast["batch_size"] == sft["batch_size"] and contrast["learning_rate"] == sft["learning_rate"]
    assert contrast["n"] == after["n"] and len(contrast["outcomes"]) == after["n"]
    assert f"/{after['n']}, 95% CI" in contrast["pass_text"] and f"/{after['n']}, 95% CI" in contrast["style_text"]
    assert (walk.run_dir / "recipes_style_vs_pass_rate.png").stat().st_size > 0


def test_merged_and_adapter_models_agree(walk):
    payoff = read_results(walk.run_dir, "04_merged_vs_adapter_inference")
    print(f"max logit difference adapter vs merged: {payoff['max_logit_difference']:.2e}")
    assert payoff["agreement"] >= 0.9
    assert payoff["max_logit_difference"] < 1e-2
    assert payoff["quantized_merge_max_logit_difference"] > payoff["max_logit_difference"]
    assert (walk.run_dir / "merged" / "model.safetensors").exists()


def test_adapter_reloads_to_the_same_answers_and_resumes(walk):
    saving = read_results(walk.run_dir, "03_adapter_saving")
    assert saving["reload_checked"] > 0 and saving["reload_identical"] == saving["reload_checked"]
    assert saving["resumed_to_step"] == saving["resumed_from_step"] + QUICK["03_adapter_saving"]["RESUME_EXTRA_STEPS"]
    assert saving["adapter_mb"] < 0.1 * saving["base_model_mb"]
    # Resumed from the halfway checkpoint, on 02's schedule: the learning rate at every step both runs logged
    # equals the uninterrupted run's.
    assert saving["resumed_from_step"] == QUICK["02_completion_only_sft"]["MAX_STEPS"] // 2
    rates = saving["resumed_learning_rates"]
    assert rates and all(step >= saving["resumed_from_step"] + 2 for step, _, _ in rates)
    assert all(resumed == pytest.approx(original, rel=1e-9) for _, resumed, original in rates)
    assert saving["schedule_kept"] is True and any(original > 0 for _, _, original in rates)


def test_executed_notebooks_print_no_warning_a_learner_cannot_act_on(walk):
    from helpers.quiet import unexpected_stderr

    noise = {name: unexpected_stderr(json.loads(walk.text(name))) for name in walk.executed}
    assert len(noise) == 5
    assert not any(noise.values()), f"fix the cause, or silence it narrowly in helpers/quiet.py: {noise}"


def test_executed_notebooks_never_show_the_token(walk):
    assert "hf_...6789" in walk.text("00_setup"), "notebook 00 reports the token, masked"
    for path in [*walk.executed.values(), *walk.run_dir.rglob("*.json")]:
        assert FAKE_TOKEN not in path.read_text(), path.name
        assert FAKE_TOKEN[3:-4] not in path.read_text(), path.name


def test_notebook_00_alone_clones_the_course(walk):
    assert (walk.clone / "helpers" / "bootstrap.py").exists(), "the setup cell cloned the course next to the notebook"
    assert read_results(walk.run_dir, "00_setup")["preset"] == "smollm2-135m-instruct"


def test_notebook_04_alone_catches_up_and_finishes(walk):
    assert "Running 01_baseline_inference and 02_completion_only_sft now, headless" in walk.text(
        "04_merged_vs_adapter_inference")
    for name in ("01_baseline_inference", "02_completion_only_sft", "04_merged_vs_adapter_inference"):
        assert (walk.run_dir / f"{name}_results.json").exists(), name
    assert read_results(walk.run_dir, "02_completion_only_sft")["steps"] == QUICK["02_completion_only_sft"]["MAX_STEPS"]
    payoff = read_results(walk.run_dir, "04_merged_vs_adapter_inference")
    assert payoff["style_adherence_after"] > payoff["style_adherence_before"]
    assert (walk.clone / "runs" / "catch-up").is_dir()


def test_notebook_03_alone_finds_what_04_rebuilt_and_finishes(walk):
    text = walk.text("03_adapter_saving")
    assert "Found the results of 02_completion_only_sft" in text and "Running" not in text
    saving = read_results(walk.run_dir, "03_adapter_saving")
    assert saving["reload_identical"] == saving["reload_checked"] > 0


# --- 09, opened after the walk in the same fresh runtime -----------------------------------------------------------


def test_dpo_and_grpo_notebook_trains_on_the_sandbox_verdicts_and_scores_four_models(walk, walk_09):
    from conftest import QUICK_09

    from helpers.quiet import unexpected_stderr

    text = walk_09.read_text(encoding="utf-8")
    assert FAKE_TOKEN not in text and FAKE_TOKEN[3:-4] not in text
    assert not unexpected_stderr(json.loads(text)), "fix the cause, or silence it narrowly in helpers/quiet.py"
    r = read_results(walk.run_dir, "09_dpo_and_grpo")
    n_requests, k = QUICK_09["N_REQUESTS"], QUICK_09["K"]
    assert (r["verdicts"]["requests"], r["verdicts"]["answers"]) == (n_requests, n_requests * k)
    assert r["sampling"]["answers"] == n_requests * k and r["sampling"]["stopped"] > 0, "answers end at <|im_end|>"
    assert 1 <= r["pairs"] <= 2 * r["verdicts"]["mixed_requests"], "pairs come only from mixed requests"
    payoff = read_results(walk.run_dir, "04_merged_vs_adapter_inference")
    assert r["sft_vs_untouched_04"]["n"] == payoff["n_test"], "section 1 restates 04's paired counts"
    gaps = r["reference_gap"]
    assert gaps["SFT model (02's adapter)"] < 0.1 * gaps["untouched base"], gaps
    assert [row for row in [r["dpo"]["last"]] if "rewards/margins" in row], "DPO logged its rewards"
    assert r["dpo"]["loss_type"] == ["sigmoid", "sft"], "09 trains DPO with the chosen answers' NLL added"
    assert len(r["grpo"]["sandbox_reward"]) == QUICK_09["GRPO_STEPS"]
    assert all(0.0 <= value <= 1.0 for value in r["grpo"]["sandbox_reward"] + r["grpo"]["frac_reward_zero_std"])
    assert set(r["scores"]) == {"untouched", "SFT (02)", "SFT + DPO", "SFT + GRPO"}
    for score in r["scores"].values():
        assert score["n"] == len(score["outcomes"]) == len(score["answers"]) == QUICK_09["N_TEST"]
        assert score["humaneval"]["n"] == len(score["humaneval"]["outcomes"]) == QUICK_09["N_HUMANEVAL"]
    # Section 6 lists the requests whose verdict moved against SFT: as many as the paired counts say
    from helpers.correctness import paired_comparison

    for name in ("SFT + DPO", "SFT + GRPO"):
        counts = paired_comparison(r["scores"]["SFT (02)"]["outcomes"], r["scores"][name]["outcomes"])
        moved = counts["fixed"] + counts["broken"]
        assert f"{name} against SFT (02): {moved} of {QUICK_09['N_TEST']} requests changed verdict" in text, name
    assert "McNemar exact p=" in text and "HumanEval" in text
    for picture in ("dpo_rewards.png", "grpo_rewards.png", "scoreboard_09.png"):
        assert (walk.run_dir / picture).stat().st_size > 10_000, picture


def test_gguf_export_notebook_answers_like_the_merged_model_and_stops(walk, walk_10):
    from conftest import QUICK_10

    from helpers.quiet import unexpected_stderr

    text = walk_10.read_text(encoding="utf-8")
    content = json.loads(text)
    assert FAKE_TOKEN not in text and FAKE_TOKEN[3:-4] not in text
    assert not unexpected_stderr(content), "fix the cause, or silence it narrowly in helpers/quiet.py"
    r = read_results(walk.run_dir, "10_gguf_export")
    n, limit = QUICK_10["N_TEST"], QUICK_10["MAX_NEW_TOKENS"]
    assert r["n_test"] == n
    assert set(r["llama_cpp"]) == {*QUICK_10["FORMATS"], "base f16 + LoRA"}
    for kind, meta in r["metadata"].items():
        assert (meta["architecture"], meta["eos_token"]) == ("llama", "<|im_end|>"), kind
    reference, reference_stopped = r["transformers"]["answers"], r["transformers"]["stopped_each"]
    assert any(reference_stopped), "the fine-tuned model ends answers at <|im_end|>: the stop is exercised"
    for kind, run in r["llama_cpp"].items():
        assert run["prompts_tokenized_differently"] == 0, f"{kind}: llama.cpp tokenizes the prompts as transformers"
        # The stop works: an answer either ends at <|im_end|> or runs to the limit (a quantized model may loop).
        for stopped, length in zip(run["stopped_each"], run["lengths"]):
            assert stopped or length == limit, (kind, stopped, length)
    # f16 and the LoRA route compute the merged model's function up to f16 rounding: a near-tie may flip one token
    # of at most one answer of the few scored here (each is up to 128 greedy steps; seen once in the walk's weakly trained model,
    # whose flipped answer then repeated itself to the limit), which still shares its beginning with transformers'.
    for kind in ("f16", "base f16 + LoRA"):
        run = r["llama_cpp"][kind]
        assert run["identical"] >= n - 1, (kind, run["identical"])
        for got, expected, stopped, ended in zip(run["answers"], reference, run["stopped_each"], reference_stopped):
            assert got[:20] == expected[:20], (kind, got, expected)
            if got == expected:
                assert stopped == ended, f"{kind}: an answer ends at <|im_end|> in llama.cpp where it does in transformers"
        assert run["against_transformers"]["broken"] + run["against_transformers"]["fixed"] <= n - run["identical"]
    assert r["round_trip"]["max_logit_difference"] < 0.25
    # f16 rounding moves each logit by a few hundredths: the top token may flip only where two tokens are that close
    # (one of 99 positions flipped once in CI, 2026-12-03); a flip across a wider gap would be a wrong tensor.
    trip = r["round_trip"]
    assert trip["flipped"] <= max(1, trip["positions"] // 50), trip
    assert trip["widest_flipped_gap"] < 0.15, trip
    assert r["modelfile_template_identical"] is True
    sizes = {kind: f["mb"] for kind, f in r["files"].items()}
    assert sizes["q4_k_m"] < 0.5 * sizes["f16"]
    assert r["metadata"]["q4_k_m"]["bits_per_weight"] < 8 < r["metadata"]["f16"]["bits_per_weight"] < 17
    kept = sorted(path.name for path in (walk.run_dir / "gguf").iterdir())
    assert kept == sorted(["Modelfile", r["files"]["q4_k_m"]["name"]]), "only what runs the model is kept"
    printed = "".join("".join(output.get("text", "")) for cell in content["cells"] for output in cell.get("outputs", []))
    assert "ollama create python-style -f Modelfile" in printed and "identical" in printed
