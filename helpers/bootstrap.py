"""The first cell of every notebook: find or fetch the course, install what the platform lacks, keep to one usable GPU.

Standard library only: it runs before anything else is installed. `python -m helpers.bootstrap sync` writes
SETUP_CELL into every notebook and the Colab/Kaggle badges into the README, both from COURSE_REPO; a test
checks that they match.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

# The one line a fork or a release changes: the public git address of this course (not fixed yet; the
# setup cell and the README's badges are generated from it by `python -m helpers.bootstrap sync`).
COURSE_REPO = "https://github.com/OWNER/qlora-course"
COURSE_REF = "main"

# Never installed by the setup cell: Colab and Kaggle ship their own CUDA torch and their own Jupyter stack,
# and replacing either can break the runtime.
NEVER_INSTALL = ("torch", "torchvision", "torchaudio", "ipykernel", "jupyterlab", "notebook", "jupyter-client",
                 "jupyter-server", "tornado", "papermill")
MIN_CAPABILITY = (7, 0)
DRIVE = Path("/content/drive")  # where Colab mounts Google Drive

SETUP_CELL = f'''\
# Setup: the same cell in every notebook (written by `python -m helpers.bootstrap sync`; change it there).
import os
import subprocess
import sys
from pathlib import Path

COURSE_REPO = os.environ.get("QLORA_COURSE_REPO", "{COURSE_REPO}")
COURSE_REF = os.environ.get("QLORA_COURSE_REF", "{COURSE_REF}")
course = next((p for p in [Path.cwd(), *Path.cwd().parents] if (p / "helpers" / "bootstrap.py").exists()), None)
if course is None:  # opened alone (Colab, Kaggle, an empty folder): fetch the course next to it
    home = "/content" if "COLAB_RELEASE_TAG" in os.environ else "/kaggle/working" if "KAGGLE_KERNEL_RUN_TYPE" in os.environ else "."
    course = Path(home).resolve() / "qlora-course"
    if not (course / "helpers" / "bootstrap.py").exists():
        clone = ["git", "clone", "--quiet", "--depth", "1", "--branch", COURSE_REF, COURSE_REPO, str(course)]
        if subprocess.run(clone, env={{**os.environ, "GIT_TERMINAL_PROMPT": "0"}}).returncode != 0:
            raise RuntimeError(f"Could not clone {{COURSE_REPO}} ({{COURSE_REF}}): check the address (or set QLORA_COURSE_REPO) and, on Kaggle, turn Internet on in the notebook settings.")
if str(course) not in sys.path:
    sys.path.insert(0, str(course))
from helpers.bootstrap import prepare_runtime

prepare_runtime(course)'''


SETUP_NOTE = (
    "**Setup.** The next cell is the same in every notebook. Run it first: it finds the course (on Colab or Kaggle "
    "it clones it next to this notebook), installs the taught libraries the runtime lacks (never torch), keeps "
    "training on one GPU and refuses one too old for current PyTorch. It prints one line per decision."
)


class UnsupportedGPUError(RuntimeError):
    """A GPU that current PyTorch builds and this course cannot use."""


def detect_platform() -> str:
    """'colab', 'kaggle' or 'local', from the variables each platform sets in its kernels."""
    if "COLAB_RELEASE_TAG" in os.environ or "google.colab" in sys.modules:
        return "colab"
    if "KAGGLE_KERNEL_RUN_TYPE" in os.environ:
        return "kaggle"
    return "local"


def _requirement_lines(requirements: Path) -> list[str]:
    lines = []
    for line in requirements.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return lines


def _satisfied(requirement: str) -> bool:
    match = re.match(r"^([A-Za-z0-9_.\-]+)\s*(==|>=)?\s*([^\s;]*)", requirement)
    name, operator, wanted = match.group(1), match.group(2), match.group(3)
    installed = installed_version(name)
    if installed is None:
        return False
    if operator == "==":
        return installed == wanted
    if operator == ">=":
        return _version_tuple(installed) >= _version_tuple(wanted)
    return True


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version.split("+")[0])[:3])


def requirement_name(line: str) -> str:
    """The package a requirements line names, lower case (`llama-cpp-python==0.3.36` -> `llama-cpp-python`)."""
    return re.split(r"[=<>!~ \[;]", line, maxsplit=1)[0].lower()


def missing_requirements(requirements: Path) -> list[str]:
    """The lines of a requirements file that the running Python does not satisfy (absent, or another pinned version)."""
    lines = _requirement_lines(requirements)
    refused = [line for line in lines if requirement_name(line) in NEVER_INSTALL]
    if refused:
        raise ValueError(f"{requirements} asks for {refused}: the setup cell never installs these.")
    return [line for line in lines if not _satisfied(line)]


def install_command(missing: list[str], constraints: Path) -> list[str]:
    """pip's command line for the missing requirements, with the installed torch held where it is."""
    return [sys.executable, "-m", "pip", "install", "--quiet", *missing, "--constraint", str(constraints)]


def install_missing(course: Path, platform: str, run=subprocess.run, requirements: str = "requirements.txt",
                    leave_out: tuple[str, ...] = (), env: dict[str, str] | None = None) -> list[str]:
    """On Colab and Kaggle, pip-install the taught libraries the runtime lacks; locally, say what is missing.

    `requirements` names another file of the course (notebook 10 installs requirements-export.txt this way),
    `leave_out` packages not to install from it, and `env` the environment pip runs in (None: this one).
    """
    missing = [line for line in missing_requirements(course / requirements)
               if requirement_name(line) not in leave_out]
    if not missing:
        return []
    if platform == "local":
        print(f"Missing or other versions: {', '.join(missing)}. Run `make setup` in {course} and restart the kernel.")
        return missing
    print(f"Installing what this {platform} runtime lacks (never torch or Jupyter): {', '.join(missing)}", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        constraints = Path(folder) / "constraints.txt"
        torch_version = installed_version("torch")
        constraints.write_text(f"torch=={torch_version}\n" if torch_version else "", encoding="utf-8")
        run(install_command(missing, constraints), check=True, **({"env": env} if env is not None else {}))
    already = [name for name in ("transformers", "trl", "peft", "bitsandbytes", "datasets", "accelerate")
               if name in sys.modules]
    if already:
        print(f"{', '.join(already)} were imported before the install: restart the runtime, then run this cell again.")
    return missing


def installed_version(name: str) -> str | None:
    """The installed version of a distribution, or None."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def visible_gpus(run=subprocess.run) -> list[dict]:
    """The GPUs nvidia-smi lists (index, name, compute capability), or [] where there is none or no nvidia-smi."""
    try:
        result = run(["nvidia-smi", "--query-gpu=index,name,compute_cap", "--format=csv,noheader"],
                     capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return []
    if result.returncode != 0:
        return []
    gpus = []
    for line in result.stdout.strip().splitlines():
        index, name, capability = (part.strip() for part in line.split(","))
        major, minor = capability.split(".")
        gpus.append({"index": int(index), "name": name, "capability": (int(major), int(minor))})
    return gpus


def check_capability(capability: tuple[int, int], name: str = "this GPU") -> None:
    """Refuse, in one sentence, a GPU below compute capability 7.0 (Kaggle's P100, the K80)."""
    if tuple(capability) < MIN_CAPABILITY:
        raise UnsupportedGPUError(
            f"{name} has compute capability {capability[0]}.{capability[1]}, below the 7.0 that current PyTorch "
            "builds and 4-bit training need: pick a T4 (Colab, or Kaggle's 'GPU T4 x2') or run on the CPU.")


def pin_one_gpu(gpus: list[dict], environ=os.environ) -> str | None:
    """On a machine with several GPUs and no distributed launcher, make only the first visible; returns what it set.

    A notebook is one process: with two GPUs visible the Trainer would wrap the model in nn.DataParallel,
    which SFTTrainer refuses (Kaggle's T4 x2). A script under `accelerate launch` uses both properly.
    """
    if len(gpus) < 2 or "CUDA_VISIBLE_DEVICES" in environ or "WORLD_SIZE" in environ:
        return None
    environ["CUDA_VISIBLE_DEVICES"] = str(gpus[0]["index"])
    # What a launch from the notebook (08) gives back to its processes: every GPU.
    environ["QLORA_COURSE_ALL_GPUS"] = ",".join(str(gpu["index"]) for gpu in gpus)
    return environ["CUDA_VISIBLE_DEVICES"]


def prepare_runtime(course: Path | str, *, run=subprocess.run) -> dict:
    """Everything the setup cell does once the course is on disk; prints one line per decision."""
    course = Path(course).resolve()
    platform = detect_platform()
    os.chdir(course / "notebooks")  # the notebooks' relative paths (../data, ../adapters) hold from here
    installed = install_missing(course, platform, run=run)
    gpus = visible_gpus(run=run)
    for gpu in gpus:
        check_capability(gpu["capability"], gpu["name"])
    pinned = pin_one_gpu(gpus)
    from helpers.quiet import quiet_known_noise  # after the installs: it imports datasets

    quiet_known_noise()
    if pinned is not None:
        if "torch" in sys.modules and getattr(sys.modules["torch"].cuda, "is_initialized", lambda: False)():
            print("CUDA was already started in this kernel: restart it and run this cell first.")
        print(f"{len(gpus)} GPUs found: this notebook trains on GPU {pinned} ({gpus[0]['name']}); "
              "a script under `accelerate launch` can use all of them.")
    where = ", ".join(f"{gpu['name']} (compute capability {gpu['capability'][0]}.{gpu['capability'][1]})"
                      for gpu in gpus) or "no GPU"
    print(f"Course at {course} ({platform}); working folder notebooks/; {where}.")
    return {"course": str(course), "platform": platform, "installed": installed, "gpus": gpus,
            "cuda_visible_devices": pinned}


def adapters_dir(path: str | Path) -> Path:
    """The ADAPTERS_DIR parameter as a folder, mounting Google Drive first when it points there on Colab."""
    path = Path(path)
    if path.is_relative_to(DRIVE) and detect_platform() == "colab" and not (DRIVE / "MyDrive").is_dir():
        from google.colab import drive  # type: ignore[import-not-found]

        drive.mount(str(DRIVE))
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- Keeping the notebooks and the README in step with the constants above --------------------------------


def notebook_badges(notebook: str) -> str:
    """Open-in-Colab and Open-in-Kaggle badges (Markdown) for one notebook, from COURSE_REPO and COURSE_REF."""
    path = f"{COURSE_REPO.removeprefix('https://github.com/').removesuffix('.git')}/blob/{COURSE_REF}/notebooks/{notebook}"
    colab = f"https://colab.research.google.com/github/{path}"
    kaggle = f"https://kaggle.com/kernels/welcome?src=https://github.com/{path}"
    return (f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab}) "
            f"[![Open in Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)]({kaggle})")


def setup_cell_index(cells: list) -> int:
    """Where the setup cell sits: the first code cell."""
    return next(i for i, cell in enumerate(cells) if cell["cell_type"] == "code")


def sync(project_root: Path) -> list[str]:
    """Write SETUP_CELL into every notebook (the solutions too) and the badges into the README; returns the files changed."""
    import json

    changed = []
    notebooks = project_root / "notebooks"
    for path in sorted([*notebooks.glob("[0-9][0-9]_*.ipynb"), *notebooks.glob("solutions/[0-9][0-9]_*.ipynb")]):
        content = json.loads(path.read_text(encoding="utf-8"))
        cells = content["cells"]
        index = setup_cell_index(cells)
        if "parameters" in cells[index].get("metadata", {}).get("tags", []):
            cells.insert(index, {"cell_type": "code", "execution_count": None, "id": "setup",
                                 "metadata": {"tags": ["setup"]}, "outputs": [], "source": []})
        if cells[index - 1].get("id") != "setup-note":
            cells.insert(index, {"cell_type": "markdown", "id": "setup-note", "metadata": {}, "source": []})
            index += 1
        before = json.dumps(cells)
        cells[index - 1]["source"] = SETUP_NOTE.splitlines(keepends=True)
        cells[index]["source"], cells[index]["metadata"]["tags"] = SETUP_CELL.splitlines(keepends=True), ["setup"]
        if json.dumps(cells) != before:
            path.write_text(json.dumps(content, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
            changed.append(str(path))
    readme = project_root / "README.md"
    text = readme.read_text(encoding="utf-8")
    updated = re.sub(r"\[!\[Open in Colab\].*?open-in-kaggle\.svg\)\]\([^)]*\)",
                     lambda m: notebook_badges(re.search(r"notebooks/([\w.]+\.ipynb)", m.group(0)).group(1)), text)
    if updated != text:
        readme.write_text(updated, encoding="utf-8")
        changed.append(str(readme))
    return changed


def main(argv: list[str] | None = None) -> None:
    """`python -m helpers.bootstrap sync`: rewrite the setup cells and the README badges from this file."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("command", choices=["sync"])
    parser.parse_args(argv)
    changed = sync(Path(__file__).resolve().parent.parent)
    print("\n".join(changed) if changed else "Setup cells and badges are up to date.")


if __name__ == "__main__":
    main()
