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
