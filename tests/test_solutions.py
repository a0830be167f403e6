"""The exercise solutions (notebooks/solutions/), executed with small budgets: each asserts its own expected outcome.

A solution that runs to the end has met every `assert` in it; the tests below add what the chapter promises:
every exercise in a chapter has its solution, under the same heading.
"""

from __future__ import annotations

import json
import re

import nbformat
import pytest

from helpers.quiet import unexpected_stderr
from helpers.run_notebooks import course_notebooks, execute_notebook, solution_notebooks

SMALL = {
    "01_baseline_inference": {"MAX_NEW_TOKENS": 24},
    "02_completion_only_sft": {"N_RECORDS": 4},
    "03_adapter_saving": {"N_RECORDS": 8, "MAX_STEPS": 4},
    "04_merged_vs_adapter_inference": {},
    "05_summarization": {"N_ARTICLES": 8, "N_VAL": 2, "MAX_STEPS": 16, "BATCH_SIZE": 2, "MAX_LENGTH": 256},
    "06_instruction_tuning": {},
    "07_experiments": {"MAX_STEPS": 4},
    "08_scale_out": {},
    "09_dpo_and_grpo": {"N_REQUESTS": 4, "K": 4, "MAX_NEW_TOKENS": 64, "GRPO_STEPS": 1},
    "10_gguf_export": {"N_REQUESTS": 2, "MAX_NEW_TOKENS": 32},
}
OUTPUT_PARAMETER = {"02_completion_only_sft": "OUTPUT_DIR", "03_adapter_saving": "OUTPUT_DIR",
                    "05_summarization": "OUTPUT_DIR", "04_merged_vs_adapter_inference": "OUTPUT_DIR",
                    "06_instruction_tuning": "OUTPUT_DIR", "07_experiments": "RESULTS_DIR",
                    "08_scale_out": "OUTPUT_DIR", "09_dpo_and_grpo": "OUTPUT_DIR",
                    "10_gguf_export": "OUTPUT_DIR"}


def _chapter(solution) -> str:
    return solution.name.removesuffix("_solutions.ipynb")


def _exercise_headings(path) -> list[str]:
    cells = nbformat.read(path, as_version=4).cells
    return [match.group(1) for cell in cells if cell.cell_type == "markdown"
            for match in re.finditer(r"^#+ Exercise (\d+\.\d+)", cell.source, flags=re.M)]


def test_every_chapter_has_exercises_and_each_has_its_solution():
    chapters = {path.stem: path for path in course_notebooks()}
    solutions = {_chapter(path): path for path in solution_notebooks()}
    assert sorted(solutions) == sorted(name for name in chapters if name[:2] != "00")
    for name, solution in solutions.items():
        asked = _exercise_headings(chapters[name])
        assert 2 <= len(asked) <= 3, f"{name}: two or three exercises"
        assert asked == _exercise_headings(solution), f"{name}: the solutions answer the chapter's exercises in order"
        cells = nbformat.read(chapters[name], as_version=4).cells
        for index, cell in enumerate(cells):  # each task is followed by an empty code cell to work in
            if cell.cell_type == "markdown" and re.search(r"^#+ Exercise \d+\.\d+", cell.source, flags=re.M):
                assert cells[index + 1].cell_type == "code" and not cells[index + 1].source.strip(), name
                assert f"solutions/{solution.name}" in cell.source, f"{name}: each exercise links its solution"


# The solutions of 01-05 run here, those of 06-10 in tests/test_solutions_later.py: two files, so that the two test
# workers can share them (pytest-xdist hands out whole files).
EARLY = [path for path in solution_notebooks() if path.name[:2] <= "05"]


def run_solution(solution, tmp_path) -> None:
    """Execute one solutions notebook with its small budget; it must finish, quietly, with every assert met."""
    name = _chapter(solution)
    parameters = dict(SMALL[name])
    if name in OUTPUT_PARAMETER:
        parameters[OUTPUT_PARAMETER[name]] = str(tmp_path / "out")
    executed = execute_notebook(solution, tmp_path / "executed", parameters)
    content = json.loads(executed.read_text(encoding="utf-8"))
    noise = unexpected_stderr(content)
    assert not noise, f"{name} solutions printed warnings a learner cannot act on: {noise}"
    errors = [output for cell in content["cells"] for output in cell.get("outputs", [])
              if output.get("output_type") == "error"]
    assert not errors


@pytest.mark.notebooks
@pytest.mark.parametrize("solution", EARLY, ids=_chapter)
def test_solution_runs_and_meets_its_assertions(solution, tmp_path):
    run_solution(solution, tmp_path)
