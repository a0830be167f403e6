"""Run generated code against its checks in a separate, locked-down Python process.

A model's answer is untrusted code. `run_answer` never executes it in this process: it writes the code
and its checks into a fresh temporary folder and runs them with a child interpreter that is

- isolated (`python -I`: no user site-packages, no PYTHON* variables, the script's folder not on sys.path),
  in the temporary folder as working directory;
- started with an empty environment: the answer may read `os.environ`, but no token or other variable of
  this process is in it;
- limited by `resource` where the OS has it (CPU seconds, address space, no file bigger than 0 bytes,
  no child processes) and by a wall-clock timeout;
- watched by an audit hook (PEP 578) installed before the answer runs, which refuses opening files for
  writing; removing, renaming, truncating, linking or chmod-ing files and making or removing folders;
  opening files for reading outside the interpreter's import path (the standard library and
  site-packages); sockets and URL requests; subprocesses, `os.system`, exec, spawn and fork; changing the
  environment (`os.putenv`, `os.unsetenv`); loading C libraries through ctypes; and `sys.settrace` or
  `sys.setprofile`.

Each answer gets one of four outcomes: "pass" (every check held), "fail" (a check was false),
"error" (the code raised, did not compile or tried something refused) or "timeout".
`run_answers` runs many answers on a small pool of worker threads, each driving its own child process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

OUTCOMES = ("pass", "fail", "error", "timeout")

# The child's script: installs the audit hook, then runs the answer and each check in one namespace.
# It reports one JSON line on stdout; exit status 0 for pass, 1 for fail, 2 for error.
_HARNESS = r'''
import json, sys

def _report(outcome, detail=""):
    sys.__stdout__.write(json.dumps({"outcome": outcome, "detail": detail[:300]}) + "\n")
    sys.__stdout__.flush()

with open("answer.json", encoding="utf-8") as _file:
    _job = json.load(_file)

try:  # limits first, before any answer code exists in this process (no resource module on Windows)
    import resource
    for _name, _value in (("RLIMIT_CPU", _job["cpu_seconds"]), ("RLIMIT_AS", _job["memory_mb"] * 2**20),
                          ("RLIMIT_FSIZE", 0), ("RLIMIT_NPROC", 0), ("RLIMIT_CORE", 0)):
        if hasattr(resource, _name):
            try:
                resource.setrlimit(getattr(resource, _name), (_value, _value))
            except (ValueError, OSError):
                pass  # a limit the OS will not lower here: the timeout and the audit hook still hold
except ImportError:
    pass

import os as _os
_STDLIB = tuple(p for p in sys.path if p)
_REFUSED = {"socket.connect", "socket.bind", "socket.getaddrinfo", "socket.gethostbyname", "socket.__new__",
            "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
            "os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.putenv", "os.unsetenv",
            "os.truncate", "os.symlink", "os.link", "shutil.rmtree", "ctypes.dlopen",
            "urllib.Request", "sys.settrace", "sys.setprofile"}

class Refused(Exception):
    pass

def _hook(event, args):
    if event in _REFUSED or event.startswith("os.exec") or event.startswith("os.spawn"):
        raise Refused(f"refused in the sandbox: {event}")
    if event == "open":
        path, mode = args[0], args[1]
        writing = isinstance(mode, str) and any(flag in mode for flag in "wax+")
        if isinstance(mode, int):
            writing = bool(mode & (_os.O_WRONLY | _os.O_RDWR | _os.O_CREAT | _os.O_APPEND | _os.O_TRUNC))
        if writing:
            raise Refused(f"refused in the sandbox: writing {path!r}")
        if isinstance(path, (str, bytes)) and not str(_os.path.abspath(path if isinstance(path, str) else path.decode())).startswith(_STDLIB):
            raise Refused(f"refused in the sandbox: reading {path!r}")

_code, _checks, _entry = _job["code"], _job["checks"], _job["entry_point"]
del _job
sys.addaudithook(_hook)
_namespace = {"__name__": "answer"}
try:
    exec(compile(_code, "answer", "exec"), _namespace)
except BaseException as error:
    _report("error", f"{type(error).__name__}: {error}")
    sys.exit(2)
_alias = ""
if _entry and _entry not in _namespace:
    # The request did not always name the function: the checks call it by the reference's name, so a
    # single function the answer defines under another name stands in for it (as HumanEval's entry point).
    _defined = [n for n, v in _namespace.items() if type(v).__name__ == "function" and getattr(v, "__module__", "") == "answer"]
    if len(_defined) != 1:
        _report("error", f"NameError: the checks call {_entry}(), and the answer defines "
                         f"{', '.join(_defined) + '()' if _defined else 'no function'}")
        sys.exit(2)
    _namespace[_entry] = _namespace[_defined[0]]
    _alias = f"{_defined[0]}() checked as {_entry}()"
for _check in _checks:
    try:
        _held = eval(compile(_check, "check", "eval"), _namespace)
    except BaseException as error:
        _report("error", f"{_check}: {type(error).__name__}: {error}")
        sys.exit(2)
    if _held is not True:
        _report("fail", _check + (f" ({_alias})" if _alias else ""))
        sys.exit(1)
_report("pass", _alias)
sys.exit(0)
'''


@dataclass(frozen=True)
class SandboxResult:
    """What one answer did: its outcome and a short detail (the failing check or the error)."""

    outcome: str
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.outcome == "pass"


def run_answer(code: str, checks: list[str], *, entry_point: str | None = None, timeout: float = 5.0,
               memory_mb: int = 512) -> SandboxResult:
    """Run `code`, then evaluate each check (a Python expression that must be True), in a sandboxed child.

    entry_point: the function name the checks call. When the answer does not define it but defines exactly
    one function, that function is checked under this name (the detail says so); with several, the answer
    is an error. Without it, the checks see only the names the answer defines.
    """
    job = {"code": code, "checks": list(checks), "entry_point": entry_point, "cpu_seconds": max(1, int(timeout)),
           "memory_mb": memory_mb}
    with tempfile.TemporaryDirectory(prefix="sandbox_") as folder:
        Path(folder, "answer.json").write_text(json.dumps(job), encoding="utf-8")
        Path(folder, "harness.py").write_text(_HARNESS, encoding="utf-8")
        try:
            completed = subprocess.run(
                [sys.executable, "-I", "-B", "harness.py"], cwd=folder, env={}, stdin=subprocess.DEVNULL,
                capture_output=True, text=True, timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return SandboxResult("timeout", f"no result within {timeout:g} s")
    lines = [line for line in completed.stdout.splitlines() if line.startswith('{"outcome"')]
    if lines:
        report = json.loads(lines[-1])
        return SandboxResult(report["outcome"], report["detail"])
    if completed.returncode < 0:  # killed by a signal: the CPU limit (SIGXCPU/SIGKILL) or memory
        return SandboxResult("timeout" if completed.returncode in (-9, -24) else "error",
                             f"killed by signal {-completed.returncode}")
    return SandboxResult("error", (completed.stderr.strip().splitlines() or ["no output"])[-1][:300])


def run_answers(jobs: list[tuple], *, workers: int = 4, timeout: float = 5.0,
                memory_mb: int = 512) -> list[SandboxResult]:
    """run_answer for each (code, checks) or (code, checks, entry_point) job, `workers` at a time, in order."""

    def run(job: tuple) -> SandboxResult:
        code, checks, *entry = job
        return run_answer(code, checks, entry_point=entry[0] if entry else None, timeout=timeout,
                          memory_mb=memory_mb)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run, jobs))
