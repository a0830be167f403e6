"""The exercise solutions of chapters 06-10, executed with small budgets (see tests/test_solutions.py)."""

from __future__ import annotations

import pytest
from test_solutions import EARLY, _chapter, run_solution

from helpers.run_notebooks import solution_notebooks

LATER = [path for path in solution_notebooks() if path not in EARLY]


def test_every_solution_runs_in_one_of_the_two_files():
    assert sorted(EARLY + LATER) == solution_notebooks() and len(LATER) == 5


@pytest.mark.notebooks
@pytest.mark.parametrize("solution", LATER, ids=_chapter)
def test_solution_runs_and_meets_its_assertions(solution, tmp_path):
    run_solution(solution, tmp_path)
