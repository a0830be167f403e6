"""The sandboxed runner: generated code runs in a locked-down child process, never in this one."""

from __future__ import annotations

import time

from helpers.sandbox import run_answer, run_answers

GOOD = 'def double(x: int) -> int:\n    """Return x doubled."""\n    return x * 2\n'
CHECKS = ["double(2) == 4", "double(-3) == -6"]


def test_a_correct_answer_passes_and_a_wrong_one_fails_naming_the_check():
    assert run_answer(GOOD, CHECKS).outcome == "pass"
    wrong = run_answer(GOOD.replace("x * 2", "x + 2"), CHECKS)
    assert wrong.outcome == "fail" and wrong.detail == "double(-3) == -6"


def test_code_that_raises_or_does_not_compile_is_an_error():
    assert run_answer("def double(x):\n    return x *\n", CHECKS).outcome == "error"
    result = run_answer("def double(x):\n    return 1 / 0\n", CHECKS)
    assert result.outcome == "error" and "ZeroDivisionError" in result.detail
    assert run_answer("", CHECKS).outcome == "error", "a missing function is an error, not a pass"


def test_an_infinite_loop_times_out():
    started = time.perf_counter()
    result = run_answer("def double(x):\n    while True:\n        pass\n", CHECKS, timeout=2)
    assert result.outcome == "timeout"
    assert time.perf_counter() - started < 10


def test_writing_a_file_is_refused_and_nothing_is_written(tmp_path):
    target = tmp_path / "written.txt"
    code = f"open({str(target)!r}, 'w').write('x')\n" + GOOD
    result = run_answer(code, CHECKS)
    assert result.outcome == "error" and "refused" in result.detail
    assert not target.exists()
    relative = run_answer("open('here.txt', 'w').write('x')\n" + GOOD, CHECKS)
    assert relative.outcome == "error"


def test_reading_files_and_the_environment_gets_nothing(tmp_path, monkeypatch):
    secret = tmp_path / "secret.txt"
    secret.write_text("hf_secret")
    assert run_answer(f"open({str(secret)!r}).read()\n" + GOOD, CHECKS).outcome == "error"
    monkeypatch.setenv("HF_TOKEN", "hf_FakeTokenForTheSandboxTest")
    leaked = run_answer("import os\nSEEN = os.environ.get('HF_TOKEN')\n" + GOOD, ["SEEN is None"])
    assert leaked.outcome == "pass", "the child starts with an empty environment"


def test_sockets_and_subprocesses_are_refused():
    socket_code = "import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=1)\n" + GOOD
    assert "refused" in run_answer(socket_code, CHECKS).detail
    process_code = "import subprocess\nsubprocess.run(['true'])\n" + GOOD
    assert "refused" in run_answer(process_code, CHECKS).detail
    assert "refused" in run_answer("import os\nos.system('true')\n" + GOOD, CHECKS).detail


def test_one_crash_does_not_affect_the_others_and_order_is_kept():
    jobs = [(GOOD, CHECKS), ("import os\nos._exit(139)\n", CHECKS), ("def double(x):\n    while True: pass\n", CHECKS),
            (GOOD.replace("x * 2", "x"), CHECKS), (GOOD, CHECKS)]
    outcomes = [result.outcome for result in run_answers(jobs, workers=3, timeout=2)]
    assert outcomes == ["pass", "error", "timeout", "fail", "pass"]


def test_a_hundred_answers_all_come_back():
    results = run_answers([(GOOD, CHECKS)] * 50 + [(GOOD.replace("x * 2", "x"), CHECKS)] * 50, workers=4)
    assert [result.outcome for result in results] == ["pass"] * 50 + ["fail"] * 50


def test_the_notebook_process_never_runs_the_code():
    import builtins

    assert run_answer("import builtins\nbuiltins.RAN_HERE = True\n" + GOOD, CHECKS).outcome == "pass"
    assert not hasattr(builtins, "RAN_HERE")


def test_every_python_style_reference_answer_passes_its_own_checks():
    from helpers.correctness import pass_rate
    from helpers.data import load_bundled

    for split in ("train", "validation", "test"):
        records = list(load_bundled("python_style", split))
        result = pass_rate([record["output"] for record in records], records)
        failing = [(r["family"], d) for r, o, d in zip(records, result["outcomes"], result["details"]) if o != "pass"]
        assert not failing, f"{split}: {failing[:3]}"
        assert all(len(record["checks"]) >= 1 for record in records)


def test_a_wrong_but_well_styled_answer_fails_its_checks():
    from helpers.correctness import pass_rate
    from helpers.data import load_bundled

    record = next(r for r in load_bundled("python_style", "train") if r["family"] == "dedupe")
    wrong = ('```python\ndef remove_duplicates(items: list) -> list:\n    """Return items without duplicates."""\n'
             '    return [item for item in items if item]\n```')
    result = pass_rate([wrong, record["output"]], [record, record])
    assert result["outcomes"] == ["fail", "pass"] and result["passed"] == 1 and result["n"] == 2


def test_a_function_under_another_name_is_checked_as_the_entry_point():
    """Most requests do not name the function: a single function under another name stands in for it."""
    from helpers.correctness import entry_point, pass_rate
    from helpers.data import load_bundled

    record = next(r for r in load_bundled("python_style", "test") if r["family"] == "area"
                  and "square" in r["instruction"])
    assert "square_area" not in record["instruction"] and entry_point(record) == "square_area"
    renamed = '```python\ndef area_of_square(side: float) -> float:\n    """Return the area."""\n    return side * side\n```'
    wrong = renamed.replace("side * side", "side + side")
    two = renamed.replace("\n```", "\ndef helper(x: int) -> int:\n    return x\n```")
    result = pass_rate([renamed, wrong, two, record["output"]], [record] * 4)
    assert result["outcomes"] == ["pass", "fail", "error", "pass"]
    assert result["details"][0] == "area_of_square() checked as square_area()"
    assert "(area_of_square() checked as square_area())" in result["details"][1]
    assert "defines area_of_square, helper()" in result["details"][2]
    # Records rebuilt from a results file carry the name itself (notebook 04 reads 01's).
    slim = {"instruction": record["instruction"], "checks": record["checks"], "entry_point": "square_area"}
    assert pass_rate([renamed], [slim])["outcomes"] == ["pass"]
    # Without an entry point the checks see only the answer's own names.
    assert run_answer("def area_of_square(side):\n    return side * side\n", ["square_area(2) == 4"]).outcome == "error"


def test_wilson_interval_matches_hand_computed_values():
    from helpers.correctness import format_rate, wilson_interval

    low, high = wilson_interval(10, 16)
    assert abs(low - 0.3857) < 1e-3 and abs(high - 0.8148) < 1e-3
    assert wilson_interval(0, 10)[0] == 0.0 and abs(wilson_interval(0, 10)[1] - 0.2775) < 1e-3
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert format_rate(10, 16) == "62.5% (10/16, 95% CI 38.6-81.5%)"
