"""Notebooks opened alone, as on Colab or Kaggle: an empty folder, a kernel without the helpers package, no clone.

The setup cell clones the course (from a local copy of this working tree, through QLORA_COURSE_REPO),
puts it on sys.path, and the notebook rebuilds what it needs from earlier notebooks before its own lesson.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from helpers.models import PROJECT_ROOT, cache_dir
from helpers.results import read_results
from helpers.run_notebooks import course_notebooks, execute_notebook

pytestmark = pytest.mark.notebooks


@pytest.fixture(scope="module")
def course_remote(tmp_path_factory):
    """A git repository holding this working tree as it is now (committed or not), to clone from."""
    remote = tmp_path_factory.mktemp("remote") / "qlora-course"
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=PROJECT_ROOT,
                           capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, files):
        if (PROJECT_ROOT / name).is_file():
            (remote / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PROJECT_ROOT / name, remote / name)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    subprocess.run(["git", "init", "--quiet", "--initial-branch", "main"], cwd=remote, check=True)
    subprocess.run(["git", "add", "--all"], cwd=remote, check=True)
    subprocess.run([*git, "commit", "--quiet", "-m", "snapshot"], cwd=remote, check=True)
    return remote


def _run_alone(name: str, folder, remote, monkeypatch, parameters: dict | None = None):
    """Copy one notebook into an empty folder and execute it there, as a badge opens it in a fresh runtime."""
    monkeypatch.setenv("QLORA_COURSE_REPO", str(remote))
    monkeypatch.setenv("QLORA_COURSE_CACHE", str(cache_dir()))  # reuse the offline model copy made by `make setup`
    notebook = next(n for n in course_notebooks() if n.stem == name)
    shutil.copy(notebook, folder / notebook.name)
    probe = subprocess.run([sys.executable, "-c", "import helpers"], cwd=folder, capture_output=True)
    assert probe.returncode != 0, "the kernel's Python must not have the helpers package installed"
    executed = execute_notebook(folder / notebook.name, folder / "executed", parameters)
    return executed.read_text(encoding="utf-8"), folder / "qlora-course"


def test_notebook_03_alone_catches_up_and_finishes(tmp_path, course_remote, monkeypatch):
    text, clone = _run_alone("03_adapter_saving", tmp_path, course_remote, monkeypatch)
    assert (clone / "helpers" / "bootstrap.py").exists(), "the setup cell cloned the course next to the notebook"
    assert "Running 02_completion_only_sft now, headless" in text
    run_dir = clone / "adapters" / "python_style"
    sft = read_results(run_dir, "02_completion_only_sft")
    assert sft["steps"] == 16
    saving = read_results(run_dir, "03_adapter_saving")
    assert saving["reload_identical"] == saving["reload_checked"] > 0
    assert not (run_dir / "01_baseline_inference_results.json").exists(), "03 runs only what it needs"


def test_notebook_04_alone_catches_up_and_finishes(tmp_path, course_remote, monkeypatch):
    text, clone = _run_alone("04_merged_vs_adapter_inference", tmp_path, course_remote, monkeypatch)
    assert "Running 01_baseline_inference and 02_completion_only_sft now, headless" in text
    run_dir = clone / "adapters" / "python_style"
    for name in ("01_baseline_inference", "02_completion_only_sft", "04_merged_vs_adapter_inference"):
        assert (run_dir / f"{name}_results.json").exists(), name
    payoff = read_results(run_dir, "04_merged_vs_adapter_inference")
    assert payoff["style_adherence_after"] > payoff["style_adherence_before"]
    assert os.path.isdir(clone / "runs" / "catch-up")


def test_notebook_08_alone_exports_its_data_and_launches_from_the_clone(tmp_path, course_remote, monkeypatch):
    """08 needs no earlier notebook: it exports 02's data itself, and its launches run from the cloned course."""
    text, clone = _run_alone("08_scale_out", tmp_path, course_remote, monkeypatch,
                             {"MODEL": "tiny-random-qwen2", "MAX_STEPS": 2, "BATCH_SIZE": 2})
    assert "Running" not in text, "08 catches up on nothing"
    run_dir = clone / "adapters" / "python_style_cli"
    results = read_results(run_dir, "08_scale_out")
    assert results["config"] == str(clone / "configs" / "python_style.yaml"), "the clone's YAML, not another copy"
    assert results["one_process"]["steps"] == 2 and results["two_processes"] is None, "one process by default on a CPU"
    assert (run_dir / "one_process" / "adapter_model.safetensors").exists()
