"""Small results.json files beside each run's artifacts, and the summary table `make run` prints."""

from __future__ import annotations

import json
from pathlib import Path

RESULT_SUFFIX = "_results.json"


def write_results(run_dir: str | Path, notebook: str, results: dict) -> Path:
    """Save one notebook's results as <run_dir>/<notebook>_results.json and return the path."""
    path = Path(run_dir) / f"{notebook}{RESULT_SUFFIX}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    print(f"Results written to {path}")
    return path


def read_results(run_dir: str | Path, notebook: str) -> dict:
    """Load one notebook's results; a clear error says which notebook must run first."""
    path = Path(run_dir) / f"{notebook}{RESULT_SUFFIX}"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run the notebook {notebook} first.")
    return json.loads(path.read_text(encoding="utf-8"))


def collect_results(root: str | Path) -> list[tuple[str, str, dict]]:
    """Every (run name, notebook, results) found under root, sorted."""
    found = []
    for path in sorted(Path(root).glob(f"*/*{RESULT_SUFFIX}")):
        found.append((path.parent.name, path.name.removesuffix(RESULT_SUFFIX), json.loads(path.read_text())))
    return found


SUMMARY_KEYS = (
    "seconds", "style_adherence", "style_adherence_before", "style_adherence_after", "eval_loss_before",
    "eval_loss_after", "rougeL_base", "rougeL_adapter", "agreement", "max_logit_difference", "tokens_per_second",
    "peak_memory_mb", "exact_match_base", "exact_match_best", "rows",
)


def summary_table(root: str | Path) -> str:
    """A plain-text table of the headline numbers of every results file under root."""
    rows = []
    for run, notebook, results in collect_results(root):
        shown = ", ".join(
            f"{key}={results[key]:.3g}" if isinstance(results[key], float) else f"{key}={results[key]}"
            for key in SUMMARY_KEYS if key in results
        )
        rows.append(f"{run:<22} {notebook:<34} {shown}")
    return "\n".join(rows) if rows else f"(no results under {root})"
