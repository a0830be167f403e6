"""Notebooks opened alone, as on Colab or Kaggle: an empty folder, a kernel without the helpers package, no clone.

The setup cell clones the course (from a local copy of this working tree, through QLORA_COURSE_REPO),
puts it on sys.path, and the notebook rebuilds what it needs from earlier notebooks before its own lesson.
The core walk itself runs that way (the `walk` fixture in conftest.py): 00, then 04 before 01-03 ran, then 03.
"""

from __future__ import annotations

import os

import pytest
from conftest import QUICK, run_alone

from helpers.models import cache_dir
from helpers.results import read_results
from helpers.run_notebooks import catch_up

pytestmark = pytest.mark.notebooks
reads_the_walk = pytest.mark.xdist_group("walk")  # the worker that runs the core walk once


@reads_the_walk
def test_notebook_00_alone_clones_the_course(walk):
    assert (walk.clone / "helpers" / "bootstrap.py").exists(), "the setup cell cloned the course next to the notebook"
    assert read_results(walk.run_dir, "00_setup")["preset"] == "smollm2-135m-instruct"


@reads_the_walk
def test_notebook_04_alone_catches_up_and_finishes(walk):
    assert "Running 01_baseline_inference and 02_completion_only_sft now, headless" in walk.text(
        "04_merged_vs_adapter_inference")
    for name in ("01_baseline_inference", "02_completion_only_sft", "04_merged_vs_adapter_inference"):
        assert (walk.run_dir / f"{name}_results.json").exists(), name
    assert read_results(walk.run_dir, "02_completion_only_sft")["steps"] == QUICK["02_completion_only_sft"]["MAX_STEPS"]
    payoff = read_results(walk.run_dir, "04_merged_vs_adapter_inference")
    assert payoff["style_adherence_after"] > payoff["style_adherence_before"]
    assert os.path.isdir(walk.clone / "runs" / "catch-up")


@reads_the_walk
def test_notebook_03_alone_finds_what_04_rebuilt_and_finishes(walk):
    text = walk.text("03_adapter_saving")
    assert "Found the results of 02_completion_only_sft" in text and "Running" not in text
    saving = read_results(walk.run_dir, "03_adapter_saving")
    assert saving["reload_identical"] == saving["reload_checked"] > 0


def test_catch_up_runs_only_the_missing_notebooks_with_their_budget(tmp_path, monkeypatch, capsys):
    """What a notebook opened alone runs: only what it reads and is missing, each with the CATCH_UP budget."""
    from helpers import run_notebooks

    ran = []
    monkeypatch.setattr(run_notebooks, "execute_notebook",
                        lambda notebook, output, parameters: ran.append((notebook.stem, parameters)))
    run_dir = tmp_path / "python_style"
    run_dir.mkdir()
    assert catch_up(run_dir, ["02_completion_only_sft"]) == ["02_completion_only_sft"]
    assert ran == [("02_completion_only_sft", {"ADAPTERS_DIR": str(tmp_path), "RUN_NAME": "python_style",
                                               **run_notebooks.CATCH_UP["02_completion_only_sft"]})]
    (run_dir / "02_completion_only_sft_results.json").write_text("{}")
    ran.clear()
    assert catch_up(run_dir, ["01_baseline_inference", "02_completion_only_sft"]) == ["01_baseline_inference"]
    assert [name for name, _ in ran] == ["01_baseline_inference"], "03 or 04 runs only what it needs"
    ran.clear()
    (run_dir / "01_baseline_inference_results.json").write_text("{}")
    assert catch_up(run_dir, ["01_baseline_inference", "02_completion_only_sft"]) == [] and not ran
    assert "Found the results of 01_baseline_inference, 02_completion_only_sft" in capsys.readouterr().out


def test_notebook_08_alone_exports_its_data_and_launches_from_the_clone(tmp_path, course_remote, monkeypatch):
    """08 needs no earlier notebook: it exports 02's data itself, and its launches run from the cloned course."""
    monkeypatch.setenv("QLORA_COURSE_REPO", str(course_remote))
    monkeypatch.setenv("QLORA_COURSE_CACHE", str(cache_dir()))
    text = run_alone("08_scale_out", tmp_path, {"MODEL": "tiny-random-qwen2", "MAX_STEPS": 2, "BATCH_SIZE": 2}
                     ).read_text(encoding="utf-8")
    clone = tmp_path / "qlora-course"
    assert "Running" not in text, "08 catches up on nothing"
    run_dir = clone / "adapters" / "python_style_cli"
    results = read_results(run_dir, "08_scale_out")
    assert results["config"] == str(clone / "configs" / "python_style.yaml"), "the clone's YAML, not another copy"
    assert results["one_process"]["steps"] == 2 and results["two_processes"] is None, "one process by default on a CPU"
    assert (run_dir / "one_process" / "adapter_model.safetensors").exists()
