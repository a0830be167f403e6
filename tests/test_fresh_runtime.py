"""Notebooks opened alone, as on Colab or Kaggle: an empty folder, a kernel without the helpers package, no clone.

The setup cell clones the course (from a local copy of this working tree, through QLORA_COURSE_REPO),
puts it on sys.path, and the notebook rebuilds what it needs from earlier notebooks before its own lesson.
The core walk itself runs that way, with its tests in tests/test_core_walk.py; here: 08 alone, and what a
notebook opened alone decides to run first.
"""

from __future__ import annotations

import pytest
from conftest import run_alone

from helpers.models import cache_dir
from helpers.results import read_results
from helpers.run_notebooks import catch_up

pytestmark = pytest.mark.notebooks


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
