"""Notebooks opened alone, as on Colab or Kaggle: an empty folder, a kernel without the helpers package, no clone.

The setup cell clones the course (from a local copy of this working tree, through QLORA_COURSE_REPO),
puts it on sys.path, and the notebook rebuilds what it needs from earlier notebooks before its own lesson.
The core walk itself runs that way, with its tests in tests/test_core_walk.py, and so does 08
(tests/test_notebook_08.py); here: what a notebook opened alone decides to run first.
"""

from __future__ import annotations

import pytest

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
