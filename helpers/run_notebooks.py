"""Execute the course notebooks in order, headless (papermill), and print the results table.

`python -m helpers.run_notebooks` is what `make run` calls. Executed copies go to runs/executed/
(git-ignored); adapters and results files go to adapters/.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from helpers.environment import expected_minutes
from helpers.hardware import detect_hardware
from helpers.models import PROJECT_ROOT
from helpers.results import RESULT_SUFFIX, summary_table

NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"
# `make run FAST=1`: notebooks 00-04 only, on a workshop budget (04 scores 01's 12 requests and does not train
# section 7's second rank: its prose shows the measured comparison).
FAST = {
    "00_setup": {},
    "01_baseline_inference": {"N_TEST": 12, "MAX_NEW_TOKENS": 96},
    "02_completion_only_sft": {"MAX_STEPS": 12, "BATCH_SIZE": 8, "N_VAL": 8},  # its 3 peek answers are what 03 checks
    "03_adapter_saving": {"RESUME_EXTRA_STEPS": 1},
    "04_merged_vs_adapter_inference": {"MAX_NEW_TOKENS": 96, "N_QUANTIZED_MERGE_CHECK": 2, "TRAIN_CONTRAST": False},
}
# The short budget that rebuilds an earlier notebook's results when a notebook is opened alone: the workshop's.
CATCH_UP = {name: FAST[name] for name in ("01_baseline_inference", "02_completion_only_sft",
                                         "04_merged_vs_adapter_inference")}


def course_notebooks() -> list[Path]:
    """The numbered notebooks, in order."""
    return sorted(path for path in NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


def solution_notebooks() -> list[Path]:
    """The exercise solutions, one per chapter, in order."""
    return sorted(path for path in (NOTEBOOK_DIR / "solutions").glob("[0-9][0-9]_*_solutions.ipynb"))


def execute_notebook(notebook: Path, output_dir: Path, parameters: dict | None = None) -> Path:
    """Run one notebook top to bottom with papermill, from the notebooks folder; returns the executed copy.

    Where papermill is not installed (Colab and Kaggle, whose Jupyter stack the course leaves alone), nbclient
    runs it, with the parameters injected after the `parameters` cell as papermill would. papermill changes this
    process's working directory for the run and back: run one notebook at a time per process (not in threads).
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    executed = output_dir / notebook.name
    try:
        import papermill
    except ImportError:
        return _execute_with_nbclient(notebook, executed, parameters or {})
    papermill.execute_notebook(
        str(notebook),
        str(executed),
        parameters=parameters or {},
        cwd=str(notebook.parent),
        kernel_name="python3",
        progress_bar=False,
        log_output=False,
        kernel_manager_class=local_kernel_manager(),
    )
    return executed


def local_kernel_manager():
    """A kernel manager whose kernel talks over local IPC sockets instead of TCP ports.

    The kernel runs on this machine for this run only, so nothing needs a network port; over TCP without
    encryption ipykernel 7 prints a security warning at every start, which a learner cannot act on.
    """
    from jupyter_client.manager import AsyncKernelManager

    class LocalKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            kwargs.setdefault("transport", "ipc")
            # The sockets' path prefix: jupyter_client's default, "kernel-ipc" in the working folder, makes two
            # kernels started from one folder at once take the same socket ("Invalid Signature") and leaves
            # kernel-ipc-N files beside the notebooks. A folder of its own per kernel avoids both; it is
            # removed with the kernel's other resources when the kernel shuts down.
            folder = None
            if "ip" not in kwargs:
                folder = tempfile.mkdtemp(prefix="kernel-")
                kwargs["ip"] = os.path.join(folder, "ipc")
            super().__init__(**kwargs)
            self.socket_folder = folder

        async def _async_cleanup_resources(self, restart: bool = False) -> None:
            await super()._async_cleanup_resources(restart=restart)
            if not restart and self.socket_folder:
                shutil.rmtree(self.socket_folder, ignore_errors=True)

        cleanup_resources = _async_cleanup_resources

    return LocalKernelManager


def _execute_with_nbclient(notebook: Path, executed: Path, parameters: dict) -> Path:
    import nbformat
    from nbclient import NotebookClient

    content = nbformat.read(notebook, as_version=4)
    index = next(i for i, cell in enumerate(content.cells) if "parameters" in cell.metadata.get("tags", []))
    injected = nbformat.v4.new_code_cell("\n".join(f"{name} = {value!r}" for name, value in parameters.items()))
    injected.metadata["tags"] = ["injected-parameters"]
    content.cells.insert(index + 1, injected)
    try:
        NotebookClient(content, kernel_name="python3", resources={"metadata": {"path": str(notebook.parent)}}).execute()
    finally:
        nbformat.write(content, executed)
    return executed


def catch_up(run_dir: str | Path, needed: list[str]) -> list[str]:
    """Run the earlier notebooks whose results are missing from run_dir, headless with the CATCH_UP budget.

    A notebook opened alone (a fresh Colab or Kaggle runtime) calls this for what it reads from earlier
    notebooks. Returns the notebooks it ran, in order; prints what it does and why.
    """
    run_dir = Path(run_dir).resolve()
    missing = [name for name in needed if not (run_dir / f"{name}{RESULT_SUFFIX}").exists()]
    if not missing:
        print(f"Found the results of {', '.join(needed)} in {run_dir}.")
        return []
    expected = expected_minutes(detect_hardware(verbose=False))
    print(f"Not found in {run_dir}: the results of {', '.join(missing)} (this notebook was opened alone).\n"
          f"Running {' and '.join(missing)} now, headless, with a short budget: "
          + "; ".join(f"{name[:2]}: {CATCH_UP[name]}" for name in missing)
          + ".\nExpected time of each with its defaults on this machine (the short budget does less): "
          + "; ".join(f"{name[:2]} {expected[name]}" for name in missing)
          + ". Run them yourself for the whole lesson.", flush=True)
    output_dir = PROJECT_ROOT / "runs" / "catch-up"
    for name in missing:
        started = time.perf_counter()
        execute_notebook(NOTEBOOK_DIR / f"{name}.ipynb", output_dir,
                         {"ADAPTERS_DIR": str(run_dir.parent), "RUN_NAME": run_dir.name, **CATCH_UP[name]})
        print(f"  {name}: done in {time.perf_counter() - started:.0f} s (executed copy in {output_dir}).", flush=True)
    return missing


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="notebook name prefixes to run, such as 00 02")
    parser.add_argument("--output", default=str(PROJECT_ROOT / "runs" / "executed"))
    parser.add_argument("--adapters", default=str(PROJECT_ROOT / "adapters"))
    parser.add_argument("--fast", action="store_true",
                        help="the workshop path: 00-04 only, with a short budget (see FAST)")
    args = parser.parse_args(argv)
    output_dir = Path(args.output)
    timings = []
    for notebook in course_notebooks():
        if args.only and not any(notebook.name.startswith(prefix) for prefix in args.only):
            continue
        if args.fast and notebook.stem not in FAST:
            continue
        budget = FAST[notebook.stem] if args.fast else {}
        print(f"Running {notebook.name} {budget or ''}...", flush=True)
        started = time.perf_counter()
        execute_notebook(notebook, output_dir, {"ADAPTERS_DIR": args.adapters, **budget})
        seconds = time.perf_counter() - started
        timings.append((notebook.name, seconds))
        print(f"  done in {seconds / 60:.1f} min", flush=True)
    total = sum(seconds for _, seconds in timings) / 60
    print(f"\n{len(timings)} notebooks in {total:.1f} min. Executed copies (with every output): {output_dir}\n")
    print(summary_table(args.adapters, {Path(name).stem for name, _ in timings}))


if __name__ == "__main__":
    main()
