"""The headless runner: which notebooks `make run` and `make run FAST=1` execute, with which parameters."""

from __future__ import annotations

import os
import sys

from helpers import run_notebooks
from helpers.environment import expected_minutes
from helpers.run_notebooks import execute_notebook


def _record_runs(monkeypatch, tmp_path, argv):
    calls = []
    monkeypatch.setattr(run_notebooks, "execute_notebook",
                        lambda notebook, output_dir, parameters: calls.append((notebook.stem, parameters)))
    monkeypatch.setattr(run_notebooks, "summary_table", lambda adapters, notebooks: "")
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


TAUGHT_IN_CODE = {
    "01_baseline_inference": ["apply_chat_template(", "add_generation_prompt=True", ".generate(", "GenerationConfig(",
                              "repetition_penalty=1.0"],
    "02_completion_only_sft": ["BitsAndBytesConfig(", "prepare_model_for_kbit_training(", "LoraConfig(", "get_peft_model(",
                               "SFTConfig(", "max_length=", "completion_only_loss=True",
                               "**profile.sft_machine_fields(verbose=True)", "lr_scheduler_type=", "eval_strategy=",
                               "save_steps=", "SFTTrainer(", "trainer.train()", "assistant_only_loss=True",
                               "training_chat_template("],
    # Every notebook that trains writes its LoraConfig and SFTConfig out, marking what differs from 02's.
    "03_adapter_saving": ["PeftModel.from_pretrained(", "resume_from_checkpoint=", "TrainerCallback", "LoraConfig(",
                          "SFTConfig(", "# Differs from 02", "trainer.train("],
    "05_summarization": ["LoraConfig(", "SFTConfig(", "# differs from 02", "trainer.train()"],
    "06_instruction_tuning": ["LoraConfig(", "SFTConfig(", "# differs from 02", "trainer.train()"],
    "07_experiments": ["LoraConfig(", "SFTConfig(", "# differs from 02", "BitsAndBytesConfig(",
                       "prepare_model_for_kbit_training(", "get_peft_model(", "requires_grad_(True)"],
    "04_merged_vs_adapter_inference": ["PeftModel.from_pretrained(", "merge_and_unload()", "save_pretrained(",
                                       "AutoModelForCausalLM.from_pretrained(merged_dir"],
    "08_scale_out": ["TrlParser(", "get_peft_config(", "SFTConfig", "PeftModel.from_pretrained(", "merge_and_unload()",
                     "require_one_process(", "model_load_settings("],
    "09_dpo_and_grpo": ["GenerationConfig(", "do_sample=True", "PeftModel.from_pretrained(", "is_trainable=True",
                        "DPOConfig(", "beta=", "DPOTrainer(", "GRPOConfig(", "num_generations=",
                        "max_completion_length=", "GRPOTrainer(", "reward_funcs=", "trainer.train()"],
    "10_gguf_export": ["convert(merged_dir", "quantize(", "check_metadata(", "Llama(model_path=", "lora_path=",
                       "convert_lora(", "create_chat_completion(", "gguf_file=", "modelfile_for(", "render_template(",
                       "apply_chat_template("],
}


def test_each_notebook_shows_the_objects_it_teaches_in_a_code_cell():
    import nbformat

    for name, needles in TAUGHT_IN_CODE.items():
        cells = nbformat.read(run_notebooks.NOTEBOOK_DIR / f"{name}.ipynb", as_version=4).cells
        code = "\n".join(cell.source for cell in cells if cell.cell_type == "code")
        missing = [needle for needle in needles if needle not in code]
        assert not missing, f"{name}: no code cell contains {missing}"


def test_every_notebook_ends_with_bookkeeping_then_a_recap_with_its_numbers_and_a_next_link():
    import nbformat

    notebooks = run_notebooks.course_notebooks()
    for position, path in enumerate(notebooks):
        cells = nbformat.read(path, as_version=4).cells
        recap_md, recap_code = cells[-2], cells[-1]
        assert recap_md.cell_type == "markdown" and recap_md.source.startswith("## Recap"), path.name
        assert "What you learned" in recap_md.source and "**Next:**" in recap_md.source, path.name
        assert recap_code.source.strip().endswith("recap(results_path)"), path.name
        if position + 1 < len(notebooks):
            assert f"]({notebooks[position + 1].name})" in recap_md.source, f"{path.name} must link to the next notebook"
        writer = max(i for i, cell in enumerate(cells) if "results_path = write_results(" in cell.source)
        assert "**Bookkeeping**" in cells[writer - 1].source, f"{path.name}: label the results cell as bookkeeping"


def test_every_generate_call_passes_an_explicit_generation_config():
    """generate() fills what it is not given from the model's generation config (Qwen2.5: sampling, a repetition
    penalty, two EOS ids): every call in the course passes a GenerationConfig (see greedy_generation_config);
    llama.cpp's `Llama.generate` (helpers.export) names its temperature and top-k instead."""
    import re
    from pathlib import Path

    import nbformat

    root = Path(__file__).resolve().parents[1]
    sources = {str(path): path.read_text() for folder in ("helpers", "benchmarks") for path in (root / folder).glob("*.py")}
    for path in sorted((root / "notebooks").rglob("*.ipynb")):
        if ".ipynb_checkpoints" not in path.parts:
            cells = nbformat.read(path, as_version=4).cells
            sources[str(path)] = "\n".join(cell.source for cell in cells if cell.cell_type == "code")
    calls = 0
    for where, source in sources.items():
        for match in re.finditer(r"\.generate\(", source):
            call = source[match.end(): source.find(")\n", match.end()) + 1]
            calls += 1
            if "temp=" in call and "top_k=" in call:  # llama.cpp's Llama.generate: its sampling set in the call
                continue
            assert "generation_config=" in call, f"{where}: generate() without generation_config=: {call[:120]!r}"
        for match in re.finditer(r"\bgenerator\(", source):  # a text-generation pipeline
            call = source[match.end(): source.find(")", match.end()) + 1]
            assert "generation_config=" in call, f"{where}: a pipeline call without generation_config="
    assert calls >= 3


def test_headless_runs_start_the_kernel_on_local_sockets_without_a_security_warning(tmp_path, capfd):
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    cell = nbformat.v4.new_code_cell("X = 1")
    cell.metadata["tags"] = ["parameters"]
    notebook.cells = [cell, nbformat.v4.new_code_cell("print(X * 2)")]
    nbformat.write(notebook, tmp_path / "tiny.ipynb")
    executed = run_notebooks.execute_notebook(tmp_path / "tiny.ipynb", tmp_path / "out", {"X": 21})
    assert nbformat.read(executed, as_version=4).cells[-1].outputs[0]["text"] == "42\n"
    assert "without encryption" not in capfd.readouterr().err


def test_two_kernels_started_from_one_folder_at_once_both_run_and_leave_no_sockets_there(tmp_path):
    """Two runs side by side (make run beside the tests, or two test workers) must not share a kernel socket.

    Two processes, as in those cases: papermill changes its process's working directory for the run, so two
    threads of one process would race on it (and leave the process in a notebook's folder).
    """
    import subprocess

    import nbformat

    from helpers.models import PROJECT_ROOT

    for name in ("a", "b"):
        notebook = nbformat.v4.new_notebook()
        notebook.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
        cell = nbformat.v4.new_code_cell("X = 1")
        cell.metadata["tags"] = ["parameters"]
        notebook.cells = [cell, nbformat.v4.new_code_cell("import time\ntime.sleep(1)\nprint(X)")]
        nbformat.write(notebook, tmp_path / f"{name}.ipynb")
    code = ("import sys; from pathlib import Path; from helpers.run_notebooks import execute_notebook; "
            "execute_notebook(Path(sys.argv[1]), Path(sys.argv[2]), {'X': int(sys.argv[3])})")
    temporary = tmp_path / "tmp"  # the runs' temporary folder, where each kernel's socket folder goes
    temporary.mkdir()
    environment = {**os.environ, "TMPDIR": str(temporary)}
    runs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / f"{name}.ipynb"), str(tmp_path / "out"), str(x)],
                             cwd=PROJECT_ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for name, x in (("a", 1), ("b", 2))]
    for run in runs:
        output, _ = run.communicate(timeout=300)
        assert run.returncode == 0, output[-3000:]
    executed = [tmp_path / "out" / f"{name}.ipynb" for name in ("a", "b")]
    assert [nbformat.read(path, as_version=4).cells[-1].outputs[0]["text"] for path in executed] == ["1\n", "2\n"]
    assert not list(tmp_path.glob("kernel-ipc*")), "no socket files beside the notebooks"
    assert not list(temporary.glob("kernel-*")), "each kernel's socket folder is removed when it shuts down"


def test_every_notebook_says_what_you_should_see_with_numbers_from_a_measured_run():
    """'You should see' callouts: at least two per notebook, each with a figure, and where it was measured."""
    import re

    import nbformat

    for path in run_notebooks.course_notebooks():
        cells = nbformat.read(path, as_version=4).cells
        callouts = [cell.source[cell.source.index("**You should see**"):] for cell in cells
                    if cell.cell_type == "markdown" and "**You should see**" in cell.source]
        assert len(callouts) >= 2, f"{path.name}: {len(callouts)} 'You should see' callouts"
        assert all(re.search(r"\d", callout.split("\n\n")[0]) for callout in callouts), path.name
        header = cells[0].source
        assert "measured" in header and "estimate" in header, f"{path.name}: the time line says what is measured"


def test_catch_up_names_the_expected_minutes_of_this_machine_for_each_notebook_it_runs(
        simulated_cpu, monkeypatch, tmp_path, capsys):
    """The time it announces comes from helpers.environment for this machine's profile, not one fixed machine."""
    monkeypatch.setattr(run_notebooks, "detect_hardware", lambda verbose=False: simulated_cpu)
    monkeypatch.setattr(run_notebooks, "execute_notebook", lambda notebook, output_dir, parameters: None)
    needed = ["01_baseline_inference", "02_completion_only_sft"]
    assert run_notebooks.catch_up(tmp_path / "python_style", needed) == needed
    printed = capsys.readouterr().out
    expected = expected_minutes(simulated_cpu)
    for name in needed:
        assert f"{name[:2]} {expected[name]}" in printed, printed
    assert "2.4 min" not in printed


def test_notebooks_run_with_nbclient_where_papermill_is_absent(tmp_path, monkeypatch):
    import nbformat

    notebook = tmp_path / "tiny.ipynb"
    cells = [nbformat.v4.new_code_cell("GREETING = 'default'"),
             nbformat.v4.new_code_cell("from pathlib import Path\nPath('out.txt').write_text(GREETING)")]
    cells[0].metadata["tags"] = ["parameters"]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), notebook)
    monkeypatch.setitem(sys.modules, "papermill", None)  # import papermill now raises ImportError
    executed = execute_notebook(notebook, tmp_path / "executed", {"GREETING": "injected"})
    assert (tmp_path / "out.txt").read_text() == "injected"
    tags = [cell.metadata.get("tags", []) for cell in nbformat.read(executed, as_version=4).cells]
    assert tags[1] == ["injected-parameters"]
