"""The setup cell every notebook starts with, the install set for Colab and Kaggle, GPU rules."""

from __future__ import annotations

import json
import re
import sys
from importlib import metadata
from pathlib import Path

import pytest

from helpers import bootstrap
from helpers.bootstrap import (
    SETUP_CELL,
    SETUP_NOTE,
    UnsupportedGPUError,
    check_capability,
    install_missing,
    missing_requirements,
    notebook_badges,
    pin_one_gpu,
    prepare_runtime,
    visible_gpus,
)
from helpers.hardware import detect_hardware
from helpers.models import PROJECT_ROOT
from helpers.run_notebooks import course_notebooks

REQUIREMENTS = PROJECT_ROOT / "requirements.txt"


def _cells(notebook: Path) -> list[dict]:
    return json.loads(notebook.read_text(encoding="utf-8"))["cells"]


def test_every_notebook_starts_with_the_same_setup_cell():
    from helpers.run_notebooks import solution_notebooks

    for notebook in [*course_notebooks(), *solution_notebooks()]:
        cells = _cells(notebook)
        code = [cell for cell in cells if cell["cell_type"] == "code"]
        assert "".join(code[0]["source"]) == SETUP_CELL, f"{notebook.name}: run `python -m helpers.bootstrap sync`"
        note = cells[cells.index(code[0]) - 1]
        assert note["cell_type"] == "markdown" and "".join(note["source"]) == SETUP_NOTE, notebook.name
        assert code[0]["metadata"].get("tags") == ["setup"]
        assert "parameters" in code[1]["metadata"].get("tags", []), f"{notebook.name}: parameters right after setup"
        assert bootstrap.COURSE_REPO in SETUP_CELL and f'"{bootstrap.COURSE_REF}"' in SETUP_CELL


def test_every_notebook_takes_adapters_dir_and_no_other_output_folder():
    for notebook in course_notebooks():
        parameters = next(c for c in _cells(notebook) if "parameters" in c["metadata"].get("tags", []))
        names = re.findall(r"^([A-Z_0-9]+) =", "".join(parameters["source"]), flags=re.M)
        assert "ADAPTERS_DIR" in names and "RUN_NAME" in names, notebook.name
        assert not [name for name in names if name.endswith("_DIR") and name != "ADAPTERS_DIR"], notebook.name


def test_readme_badges_come_from_the_one_url_constant():
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    for notebook in course_notebooks():
        assert notebook_badges(notebook.name) in readme, f"{notebook.name}: run `python -m helpers.bootstrap sync`"
    badge = notebook_badges("02_completion_only_sft.ipynb")
    path = f"{bootstrap.COURSE_REPO.removeprefix('https://github.com/')}/blob/{bootstrap.COURSE_REF}/notebooks/"
    assert f"https://colab.research.google.com/github/{path}02_completion_only_sft.ipynb" in badge
    assert f"https://kaggle.com/kernels/welcome?src=https://github.com/{path}02_completion_only_sft.ipynb" in badge


def test_the_colab_install_set_holds_no_torch_and_no_jupyter_tooling():
    names = {re.split(r"[=<>!~ \[;]", line, maxsplit=1)[0].lower()
             for line in bootstrap._requirement_lines(REQUIREMENTS)}
    assert {"transformers", "trl", "peft", "bitsandbytes", "datasets", "accelerate", "evaluate"} <= names
    assert not names & {"torch", "ipykernel", "jupyterlab", "papermill", "tornado", "jupyter-client"}
    assert missing_requirements(REQUIREMENTS) == [], "the test environment has every taught library at its pin"


def test_missing_requirements_finds_absent_and_other_versions(tmp_path):
    pytest_version = metadata.version("pytest")
    file = tmp_path / "requirements.txt"
    file.write_text(f"# comment\npytest=={pytest_version}\npytest>=1.0\ntransformers==0.0.1\n"
                    "surely-not-installed-package==1.0  # absent\n")
    assert missing_requirements(file) == ["transformers==0.0.1", "surely-not-installed-package==1.0"]
    file.write_text("trl==1.16.0\ntorch==2.13.0\n")
    with pytest.raises(ValueError, match="never installs"):
        missing_requirements(file)


def test_colab_installs_what_is_missing_with_torch_held(tmp_path, capsys):
    (tmp_path / "requirements.txt").write_text("transformers==0.0.1\npytest>=1.0\n")
    seen = {}

    def fake_pip(command, check):
        seen["command"] = command
        constraints = Path(command[command.index("--constraint") + 1])
        seen["constraints"] = constraints.read_text()

    assert install_missing(tmp_path, "colab", run=fake_pip) == ["transformers==0.0.1"]
    assert seen["command"][:4] == [sys.executable, "-m", "pip", "install"]
    assert "transformers==0.0.1" in seen["command"] and not any("torch" in part for part in seen["command"][:-1])
    assert seen["constraints"] == f"torch=={metadata.version('torch')}\n"
    assert "never torch" in capsys.readouterr().out


def test_notebook_10_installs_its_own_file_with_the_build_environment_and_can_leave_the_runtime_out(tmp_path):
    (tmp_path / "requirements-export.txt").write_text("llama-cpp-python==0.0.1\nsentencepiece==0.0.1\n")
    seen = {}

    def fake_pip(command, check, env):
        seen["command"], seen["env"] = command, env

    environment = {"CMAKE_ARGS": "-DCMAKE_C_FLAGS=-mno-amx-int8"}
    assert install_missing(tmp_path, "kaggle", run=fake_pip, requirements="requirements-export.txt",
                           env=environment) == ["llama-cpp-python==0.0.1", "sentencepiece==0.0.1"]
    assert seen["env"] is environment and "llama-cpp-python==0.0.1" in seen["command"]
    assert install_missing(tmp_path, "kaggle", run=fake_pip, requirements="requirements-export.txt",
                           leave_out=("llama-cpp-python",), env=environment) == ["sentencepiece==0.0.1"]
    assert "llama-cpp-python==0.0.1" not in seen["command"]


def test_a_local_kernel_is_told_what_is_missing_and_nothing_is_installed(tmp_path, capsys):
    (tmp_path / "requirements.txt").write_text("transformers==0.0.1\n")

    def refuse(*args, **kwargs):
        raise AssertionError("nothing may be installed locally")

    assert install_missing(tmp_path, "local", run=refuse) == ["transformers==0.0.1"]
    assert "make setup" in capsys.readouterr().out


class _FakeNvidiaSmi:
    def __init__(self, stdout: str, returncode: int = 0):
        self.stdout, self.returncode = stdout, returncode

    def __call__(self, command, **kwargs):
        assert command[0] == "nvidia-smi"
        return self


def test_two_gpus_train_on_the_first_only():
    gpus = visible_gpus(run=_FakeNvidiaSmi("0, Tesla T4, 7.5\n1, Tesla T4, 7.5\n"))
    assert gpus == [{"index": 0, "name": "Tesla T4", "capability": (7, 5)},
                    {"index": 1, "name": "Tesla T4", "capability": (7, 5)}]
    environ: dict = {}
    assert pin_one_gpu(gpus, environ) == "0"
    assert environ == {"CUDA_VISIBLE_DEVICES": "0", "QLORA_COURSE_ALL_GPUS": "0,1"}, "a launch from 08 gets both back"
    assert pin_one_gpu(gpus[:1], {}) is None
    assert pin_one_gpu(gpus, {"WORLD_SIZE": "2"}) is None, "under accelerate launch every process keeps its GPU"
    assert pin_one_gpu(gpus, {"CUDA_VISIBLE_DEVICES": "1"}) is None, "a choice already made is kept"
    assert visible_gpus(run=_FakeNvidiaSmi("", returncode=9)) == []


def test_a_gpu_below_compute_capability_7_is_refused_in_one_sentence():
    with pytest.raises(UnsupportedGPUError) as caught:
        check_capability((6, 0), "Tesla P100-PCIE-16GB")
    message = str(caught.value)
    assert "6.0" in message and "P100" in message and "\n" not in message and message.count(". ") == 0
    with pytest.raises(UnsupportedGPUError):
        detect_hardware(cuda_available=True, capability=(6, 0), gpu_name="Tesla P100", gpu_memory_gb=16.0,
                        verbose=False)
    check_capability((7, 5))  # a T4 passes


def test_prepare_runtime_refuses_a_p100_and_pins_one_of_two_t4s(tmp_path, monkeypatch):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "requirements.txt").write_text("")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("QLORA_COURSE_ALL_GPUS", raising=False)
    with pytest.raises(UnsupportedGPUError):
        prepare_runtime(tmp_path, run=_FakeNvidiaSmi("0, Tesla P100-PCIE-16GB, 6.0\n"))
    state = prepare_runtime(tmp_path, run=_FakeNvidiaSmi("0, Tesla T4, 7.5\n1, Tesla T4, 7.5\n"))
    assert state["cuda_visible_devices"] == "0" and Path.cwd() == tmp_path / "notebooks"


def test_a_drive_folder_on_colab_mounts_drive_first(tmp_path, monkeypatch):
    import types

    mounted = []
    drive = types.SimpleNamespace(mount=lambda where: (mounted.append(where), (Path(where) / "MyDrive").mkdir()))
    colab = types.ModuleType("google.colab")
    colab.drive = drive
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setattr(bootstrap, "DRIVE", tmp_path / "drive")
    (tmp_path / "drive").mkdir()
    monkeypatch.setenv("COLAB_RELEASE_TAG", "simulated")
    folder = bootstrap.adapters_dir(tmp_path / "drive" / "MyDrive" / "qlora-course" / "adapters")
    assert mounted == [str(tmp_path / "drive")] and folder.is_dir()
    bootstrap.adapters_dir(tmp_path / "drive" / "MyDrive" / "other")
    assert len(mounted) == 1, "mounted once"
    monkeypatch.delenv("COLAB_RELEASE_TAG")
    monkeypatch.delitem(sys.modules, "google.colab")
    assert bootstrap.adapters_dir(tmp_path / "local").is_dir() and len(mounted) == 1


# --- Running a notebook where papermill is not installed (Colab, Kaggle) --------------------------
