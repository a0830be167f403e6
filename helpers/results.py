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


def _percent(share: float) -> str:
    return f"{100 * share:.1f}%"


def key_numbers(notebook: str, r: dict) -> str:
    """The key numbers of one notebook's results, before -> after, in words a learner can act on."""
    if notebook.startswith("00"):
        hardware = r.get("hardware", {})
        return f"{hardware.get('device', '?')}, {hardware.get('precision', '?')}; first answer: {r.get('first_answer', '')[:40]!r}"
    if notebook.startswith("01"):
        correct = r.get("pass_rate", {})
        return f"untouched model: style {_percent(r['style_adherence'])}, pass rate {correct.get('text', '?')}"
    if notebook.startswith("02"):
        return (f"validation loss {r['eval_loss_before']:.3f} -> {r['eval_loss_after']:.3f}; "
                f"{r.get('tokens_per_second', 0):.0f} tokens/s; peak {r.get('peak_memory_mb', 0) / 1024:.1f} GB")
    if notebook.startswith("03"):
        return (f"adapter {r['adapter_mb']:.0f} MB vs checkpoint {r['checkpoint_mb']:.0f} MB; resumed step "
                f"{r['resumed_from_step']} -> {r['resumed_to_step']}; reloaded answers identical "
                f"{r['reload_identical']}/{r['reload_checked']}")
    if notebook.startswith("04"):
        n = r.get("n_test", 0)
        before, after = r.get("pass_rate_before", {}), r.get("pass_rate_after", {})
        return (f"style {_percent(r['style_adherence_before'])} -> {_percent(r['style_adherence_after'])} (n={n}); "
                f"pass rate {before.get('passed', '?')}/{n} -> {after.get('passed', '?')}/{n}; "
                f"merged = adapter on {_percent(r['agreement'])} of answers")
    if notebook.startswith("05"):
        return (f"ROUGE-L {r['rougeL_base']:.3f} -> {r['rougeL_adapter']:.3f} (n={r.get('n_test', '?')}); "
                f"validation loss {r['eval_loss_before']:.3f} -> {r['eval_loss_after']:.3f}")
    if notebook.startswith("06"):
        return (f"exact match {r['exact_match_base']:.1f}% -> {r['exact_match_best']:.1f}% "
                f"(n={r.get('n_compare', '?')}, best: {r.get('best', '?')})")
    if notebook.startswith("08"):
        one, two = r.get("one_process", {}), r.get("two_processes")
        line = (f"trl sft: {one.get('steps', '?')} steps, mean loss {one.get('first_loss', 0):.3f} (first half) -> "
                f"{one.get('last_loss', 0):.3f} (second half) in {one.get('wall_seconds', 0):.0f} s")
        if two:
            rank0 = two["ranks"][0]
            line += (f"; 2 processes: global batch {rank0['global_batch']}, "
                     f"{rank0['examples_per_epoch_this_process']} examples per process per epoch, {two['wall_seconds']:.0f} s")
        return line + f"; merged = adapter within {r.get('merge_max_logit_difference', float('nan')):.1e}"
    if notebook.startswith("09"):
        scores = r.get("scores", {})
        passes = ", ".join(f"{name} {s['passed']}/{s['n']}" for name, s in scores.items())
        humaneval = ", ".join(f"{name} {s['humaneval']['passed']}/{s['humaneval']['n']}" for name, s in scores.items())
        return (f"{r.get('pairs', '?')} DPO pairs from {r.get('verdicts', {}).get('mixed_requests', '?')} mixed requests; "
                f"pass rate: {passes}; HumanEval: {humaneval}")
    if notebook.startswith("10"):
        n = r.get("n_test", "?")
        runs = ", ".join(f"{kind} {run['identical']}/{n} identical, {run['stopped']}/{n} stopped"
                         for kind, run in r.get("llama_cpp", {}).items())
        trip = r.get("round_trip", {})
        return (f"llama.cpp against transformers: {runs or 'not run'}; round trip max |logit difference| "
                f"{trip.get('max_logit_difference', float('nan')):.3f}; Modelfile TEMPLATE = chat template: "
                f"{r.get('modelfile_template_identical')}")
    if notebook.startswith("07"):
        return f"{r.get('rows', '?')} runs in {Path(str(r.get('results_file', 'results.jsonl'))).name}; plots beside it"
    return ""


def recap(results_path: str | Path) -> str:
    """Print (and return) one notebook's key numbers from the results file it just wrote, with its minutes."""
    path = Path(results_path)
    notebook = path.name.removesuffix(RESULT_SUFFIX)
    results = json.loads(path.read_text(encoding="utf-8"))
    minutes = f", {results['seconds'] / 60:.1f} min" if isinstance(results.get("seconds"), (int, float)) else ""
    line = f"This run ({notebook}{minutes}): {key_numbers(notebook, results)}."
    print(line)
    return line


def summary_table(root: str | Path, notebooks: set[str] | None = None) -> str:
    """One row per notebook: minutes, its key numbers (before -> after) and the folder holding its results.

    notebooks: only these (the ones a run just executed), so results left by an earlier run do not show.
    """
    rows = []
    for run, notebook, results in collect_results(root):
        if notebooks is not None and notebook not in notebooks:
            continue
        try:
            headline = key_numbers(notebook, results)
        except (KeyError, TypeError, ValueError):  # a results file from an older version of the notebook
            headline = "(results file from another version: rerun the notebook)"
        minutes = f"{results['seconds'] / 60:.1f}" if isinstance(results.get("seconds"), (int, float)) else "?"
        rows.append((notebook, minutes, headline, f"{Path(root).name}/{run}/"))
    if not rows:
        return f"(no results under {root})"
    widths = [max(len(row[i]) for row in [*rows, ("notebook", "min", "", "")]) for i in range(2)]
    lines = [f"{'notebook':<{widths[0]}}  {'min':>{widths[1]}}  key numbers  [results in]"]
    lines += [f"{n:<{widths[0]}}  {m:>{widths[1]}}  {h}  [{where}]" for n, m, h, where in sorted(rows)]
    return "\n".join(lines)
