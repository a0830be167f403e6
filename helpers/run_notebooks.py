"""Execute the course notebooks in order, headless (papermill), and print the results table.

`python -m helpers.run_notebooks` is what `make run` calls. Executed copies go to runs/executed/
(git-ignored); adapters and results files go to adapters/.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from helpers.models import PROJECT_ROOT
from helpers.results import summary_table

NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"


def course_notebooks() -> list[Path]:
    """The numbered notebooks, in order."""
    return sorted(path for path in NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


def execute_notebook(notebook: Path, output_dir: Path, parameters: dict | None = None) -> Path:
    """Run one notebook top to bottom with papermill, from the notebooks folder; returns the executed copy."""
    import papermill

    output_dir.mkdir(parents=True, exist_ok=True)
    executed = output_dir / notebook.name
    papermill.execute_notebook(
        str(notebook),
        str(executed),
        parameters=parameters or {},
        cwd=str(notebook.parent),
        kernel_name="python3",
        progress_bar=False,
        log_output=False,
    )
    return executed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="notebook name prefixes to run, such as 00 02")
    parser.add_argument("--output", default=str(PROJECT_ROOT / "runs" / "executed"))
    parser.add_argument("--adapters", default=str(PROJECT_ROOT / "adapters"))
    args = parser.parse_args(argv)
    output_dir = Path(args.output)
    timings = []
    for notebook in course_notebooks():
        if args.only and not any(notebook.name.startswith(prefix) for prefix in args.only):
            continue
        print(f"Running {notebook.name} ...", flush=True)
        started = time.perf_counter()
        execute_notebook(notebook, output_dir, {"ADAPTERS_DIR": args.adapters})
        seconds = time.perf_counter() - started
        timings.append((notebook.name, seconds))
        print(f"  done in {seconds / 60:.1f} min", flush=True)
    print(f"\nExecuted notebooks: {output_dir}\nAdapters and results: {args.adapters}\n")
    for name, seconds in timings:
        print(f"{name:<40} {seconds / 60:6.1f} min")
    print("\nResults:\n" + summary_table(args.adapters))


if __name__ == "__main__":
    main()
