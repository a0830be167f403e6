"""The headless runner: which notebooks `make run` and `make run FAST=1` execute, with which parameters."""

from __future__ import annotations

from helpers import run_notebooks


def _record_runs(monkeypatch, tmp_path, argv):
    calls = []
    monkeypatch.setattr(run_notebooks, "execute_notebook",
                        lambda notebook, output_dir, parameters: calls.append((notebook.stem, parameters)))
    monkeypatch.setattr(run_notebooks, "summary_table", lambda adapters: "")
    run_notebooks.main([*argv, "--output", str(tmp_path / "executed"), "--adapters", str(tmp_path / "adapters")])
    return calls


def test_make_run_executes_every_notebook_with_its_own_defaults(monkeypatch, tmp_path):
    calls = _record_runs(monkeypatch, tmp_path, [])
    assert [name for name, _ in calls] == [path.stem for path in run_notebooks.course_notebooks()]
    assert all(parameters == {"ADAPTERS_DIR": str(tmp_path / "adapters")} for _, parameters in calls)


def test_fast_runs_the_core_walk_on_the_short_budget(monkeypatch, tmp_path):
    calls = dict(_record_runs(monkeypatch, tmp_path, ["--fast"]))
    assert list(calls) == ["00_setup", "01_baseline_inference", "02_completion_only_sft", "03_adapter_saving",
                           "04_merged_vs_adapter_inference"]
    assert calls["02_completion_only_sft"]["MAX_STEPS"] < 40 and calls["01_baseline_inference"]["N_TEST"] < 24
    assert all(parameters["ADAPTERS_DIR"] == str(tmp_path / "adapters") for parameters in calls.values())


def test_fast_budgets_name_real_parameters():
    import nbformat

    for name, budget in run_notebooks.FAST.items():
        notebook = nbformat.read(run_notebooks.NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
        cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
        for parameter in budget:
            assert f"\n{parameter} = " in "\n" + cell.source, (name, parameter)


def test_papermill_reads_every_parameter_of_every_notebook(caplog):
    """papermill skips a parameter line it cannot parse (two '=' on it, one in a comment) with a warning."""
    import ast
    import logging

    import nbformat
    from papermill.translators import PythonTranslator

    for path in run_notebooks.course_notebooks():
        cell = next(c for c in nbformat.read(path, as_version=4).cells if "parameters" in c.metadata.get("tags", []))
        assigned = [node.targets[0].id for node in ast.parse(cell.source).body if isinstance(node, ast.Assign)]
        with caplog.at_level(logging.WARNING, logger="papermill"):
            caplog.clear()
            parsed = [parameter.name for parameter in PythonTranslator.inspect(cell)]
        assert not caplog.records, f"{path.name}: {caplog.records[0].getMessage()}"
        assert parsed == assigned, path.name
