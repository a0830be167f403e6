"""Shared fixtures: the offline model's tokenizer, the tiny model, CPU hardware profiles, and the core walk.

The core walk (00-04) is executed once per test session, as a learner opens it on Colab or Kaggle, and every
test that inspects it reads that one run (tests/test_core_walk.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    # Each test worker (and every kernel or process it starts) computes on cores / workers threads: two workers
    # of two threads each on 2 cores made every step several times slower, not twice as fast.
    threads = max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))

import pytest  # noqa: E402

from helpers.hardware import detect_hardware  # noqa: E402
from helpers.models import (  # noqa: E402
    OFFLINE_PRESET,
    PROJECT_ROOT,
    TINY_PRESET,
    cache_dir,
    load_model_and_tokenizer,
    load_tokenizer,
)
from helpers.quiet import unexpected_stderr  # noqa: E402
from helpers.run_notebooks import CATCH_UP, course_notebooks, execute_notebook  # noqa: E402


@pytest.fixture(autouse=True)
def _working_directory_is_restored(request):
    """A test that leaves the process in another folder breaks later tests' `python -m helpers...`: name it."""
    before = os.getcwd()
    yield
    try:
        after = os.getcwd()
    except FileNotFoundError:  # the folder it left us in is gone
        after = "(a deleted folder)"
    if after != before:
        os.chdir(before)
        pytest.fail(f"{request.node.nodeid} left the working directory at {after}, not {before}")


@pytest.fixture(scope="session")
def cpu_profile():
    """This machine's real CPU profile: for code that runs here (training, loading), never for a verdict."""
    return detect_hardware(cuda_available=False, verbose=False)


# The two CPU classes the course meets: a verdict that depends on the machine runs under both, simulated,
# so it passes or fails the same way on either class of machine.
CPU_CLASSES = {"cpu-fp32": None, "cpu-bf16": "AVX512-BF16"}


@pytest.fixture(params=list(CPU_CLASSES))
def simulated_cpu(request):
    """A CPU profile without native bf16, then one with it (AVX512-BF16), whatever this machine has."""
    return detect_hardware(cuda_available=False, cpu_bf16=CPU_CLASSES[request.param], verbose=False)


@pytest.fixture(scope="session")
def offline_tokenizer():
    """SmolLM2's tokenizer: pad is EOS (<|im_end|>)."""
    return load_tokenizer(OFFLINE_PRESET)


@pytest.fixture(scope="session")
def tiny_tokenizer():
    """The tiny model's tokenizer, laid out like Qwen2.5's: pad <|endoftext|>, EOS <|im_end|>."""
    return load_tokenizer(TINY_PRESET)


@pytest.fixture(params=["offline", "tiny"])
def tokenizer(request, offline_tokenizer, tiny_tokenizer):
    """Each test using it runs on both tokenizer layouts."""
    return offline_tokenizer if request.param == "offline" else tiny_tokenizer


@pytest.fixture
def tiny_model(cpu_profile):
    model, _ = load_model_and_tokenizer(TINY_PRESET, cpu_profile, verbose=False)
    return model


@pytest.fixture(scope="session")
def offline_model_and_tokenizer(cpu_profile):
    return load_model_and_tokenizer(OFFLINE_PRESET, cpu_profile, verbose=False)


# --- The core walk, opened as on Colab or Kaggle ----------------------------------------------------------------

RUN = "python_style"
# The walk's budgets: 01 and 02 run as the catch-up runs them (04 is opened first and rebuilds them).
QUICK = {
    "00_setup": {},
    "01_baseline_inference": CATCH_UP["01_baseline_inference"],
    "02_completion_only_sft": CATCH_UP["02_completion_only_sft"],
    "03_adapter_saving": {"RESUME_EXTRA_STEPS": 2},  # the first resumed step follows the checkpoint, not the config
    "04_merged_vs_adapter_inference": {"MAX_NEW_TOKENS": 96, "N_QUANTIZED_MERGE_CHECK": 2},
}
# 09 reads 01's, 02's and 04's results: opened after the walk, in the same fresh runtime.
QUICK_09 = {"N_REQUESTS": 16, "K": 4, "MAX_NEW_TOKENS": 96, "DPO_STEPS": 2, "GRPO_STEPS": 1, "GRPO_PROMPTS_PER_STEP": 2,
            "GRPO_NUM_GENERATIONS": 2, "N_TEST": 4, "N_HUMANEVAL": 2, "HUMANEVAL_MAX_NEW_TOKENS": 64}
# 10 reads 01's, 02's and 04's results (04's merged folder): opened after the walk too.
QUICK_10 = {"N_TEST": 4, "MAX_NEW_TOKENS": 128, "ROUND_TRIP_PROMPTS": 2,  # 128: every answer can end
            "FORMATS": ["f16", "q4_k_m"]}
FAKE_TOKEN = "hf_FakeTokenForTheNotebookTests0123456789"


@pytest.fixture(scope="session")
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


def run_alone(name: str, folder: Path, parameters: dict | None = None) -> Path:
    """Copy one notebook into a folder without the course and execute it there, as a badge opens it in a fresh
    runtime (the caller sets QLORA_COURSE_REPO); returns the executed copy."""
    notebook = next(n for n in course_notebooks() if n.stem == name)
    shutil.copy(notebook, folder / notebook.name)
    probe = subprocess.run([sys.executable, "-c", "import helpers"], cwd=folder, capture_output=True)
    assert probe.returncode != 0, "the kernel's Python must not have the helpers package installed"
    return execute_notebook(folder / notebook.name, folder / "executed", parameters)


@dataclass
class Walk:
    """The executed core walk: the cloned course, its run folder, and each notebook's executed copy."""

    clone: Path
    run_dir: Path
    executed: dict[str, Path]

    def text(self, name: str) -> str:
        return self.executed[name].read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def walk(tmp_path_factory, course_remote) -> Walk:
    """00-04 once, as on Colab: each notebook copied alone into an empty folder, with a (fake) token present.

    00 clones the course; 04, opened before 01-03 ran, catches up 01 and 02 headless with the CATCH_UP budget
    (which QUICK copies); 03 then finds 02's results. Every kernel inherits the token; no notebook may show it.
    """
    folder = tmp_path_factory.mktemp("fresh_runtime")
    with fresh_runtime_environment(course_remote):
        executed = {name: run_alone(name, folder, QUICK[name])
                    for name in ("00_setup", "04_merged_vs_adapter_inference", "03_adapter_saving")}
    clone = folder / "qlora-course"
    for name in ("01_baseline_inference", "02_completion_only_sft"):
        executed[name] = clone / "runs" / "catch-up" / f"{name}.ipynb"
    return Walk(clone=clone, run_dir=clone / "adapters" / RUN, executed=dict(sorted(executed.items())))


@contextmanager
def fresh_runtime_environment(course_remote: Path):
    """The variables a Colab runtime would have (a token; here also where to clone from), undone afterwards."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_TOKEN", FAKE_TOKEN)
        patch.setenv("QLORA_COURSE_REPO", str(course_remote))
        patch.setenv("QLORA_COURSE_CACHE", str(cache_dir()))  # the offline model copy `make setup` made
        yield


@pytest.fixture(scope="session")
def walk_09(walk, course_remote) -> Path:
    """09 opened after the walk in the same fresh runtime: it finds 01's, 02's and 04's results there."""
    with fresh_runtime_environment(course_remote):
        return run_alone("09_dpo_and_grpo", walk.clone.parent, QUICK_09)


@pytest.fixture(scope="session")
def walk_10(walk, course_remote) -> Path:
    """10 opened after the walk in the same fresh runtime: it exports 04's merged folder."""
    with fresh_runtime_environment(course_remote):
        return run_alone("10_gguf_export", walk.clone.parent, QUICK_10)


# --- The later notebooks, each run once by its own test file ----------------------------------------------------

TRACK_TOKEN = "hf_FakeTokenForTheTrackTests0123456789"


def run_checked(name: str, tmp_path_factory, parameters: dict) -> Path:
    """Execute one course notebook from notebooks/ with a (fake) token present; it must show neither the token
    nor a warning a learner cannot act on. Returns the executed copy."""
    executed = tmp_path_factory.mktemp(f"executed_{name[:2]}")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_TOKEN", TRACK_TOKEN)
        execute_notebook(PROJECT_ROOT / "notebooks" / f"{name}.ipynb", executed, parameters)
    text = (executed / f"{name}.ipynb").read_text(encoding="utf-8")
    assert TRACK_TOKEN not in text, "a token must never reach a notebook's output"
    noise = unexpected_stderr(json.loads(text))
    assert not noise, f"{name} printed warnings a learner cannot act on (fix, or silence in helpers/quiet.py): {noise}"
    return executed / f"{name}.ipynb"
