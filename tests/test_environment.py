"""Version pins and the expected-time table."""

from __future__ import annotations

from helpers import environment
from helpers.hardware import detect_hardware


def test_pins_are_read_from_requirements(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# comment\ntransformers==9.1.0  # why\nTRL == 2.0.1\nmatplotlib>=3.8\n"
                            "peft==1.0.0; python_version >= '3.11'\n")
    assert environment.pinned_versions(requirements) == {"transformers": "9.1.0", "trl": "2.0.1", "peft": "1.0.0"}
    pins = environment.pinned_versions()
    assert {"transformers", "trl", "peft", "bitsandbytes", "datasets", "accelerate"} <= set(pins)
    assert "torch" not in pins, "torch must stay unpinned: Colab and Kaggle ship their own build"


def test_mismatch_is_flagged(monkeypatch, capsys):
    monkeypatch.setattr(environment, "installed_version", lambda name: "0.0.1")
    pinned = environment.pinned_versions()["trl"]
    rows = environment.check_versions(("trl",))
    assert rows == [{"library": "trl", "installed": "0.0.1", "pinned": pinned, "matches": False}]
    assert f"WARNING: trl 0.0.1 differs from the course pin {pinned}" in capsys.readouterr().out


def test_installed_versions_match_the_pins():
    mismatched = [row for row in environment.check_versions() if not row["matches"]]
    assert not mismatched


def test_expected_minutes_label_measured_and_estimated(simulated_cpu):
    cpu = environment.expected_minutes(simulated_cpu)
    gpu = environment.expected_minutes(detect_hardware(cuda_available=True, capability=(7, 5), gpu_name="T4",
                                                       gpu_memory_gb=15.0, verbose=False))
    assert set(cpu) == set(gpu)
    assert all("estimate" in text and "measured on" not in text for text in gpu.values())
    # A notebook newer than a machine class's `make run` is an estimate there; everything else was measured.
    unmeasured = environment.NOT_MEASURED["cpu" if simulated_cpu.precision == "bf16" else "cpu_fp32"]
    for name, text in cpu.items():
        assert ("estimate" in text) == (name in unmeasured), (simulated_cpu.precision, name, text)
        assert ("measured on" in text) == (name not in unmeasured), (simulated_cpu.precision, name, text)


def test_the_real_cpu_gets_the_column_of_its_class(simulated_cpu, monkeypatch):
    """What this machine reports picks the column: both classes simulated through detect_hardware's own probe."""
    from helpers import hardware

    monkeypatch.setattr(hardware, "cpu_bf16_support",
                        lambda: "AVX512-BF16" if simulated_cpu.precision == "bf16" else None)
    assert environment.expected_minutes(detect_hardware(cuda_available=False, verbose=False)) == \
        environment.expected_minutes(simulated_cpu)


def test_every_notebook_has_an_expected_time():
    from helpers.run_notebooks import course_notebooks

    names = {notebook.stem for notebook in course_notebooks()}
    for device, minutes in environment.EXPECTED_MINUTES.items():
        assert set(minutes) == names, device


def test_every_notebook_states_its_time_from_the_table():
    import nbformat

    from helpers.run_notebooks import course_notebooks

    for notebook in course_notebooks():
        title = nbformat.read(notebook, as_version=4).cells[0].source
        assert environment.time_line(notebook.stem) in title, f"{notebook.name}: run python -m helpers.environment"


def test_the_minutes_come_from_the_figures_file_rounded_to_the_nearest_minute():
    from helpers.figures import load_figures

    assert environment.EXPECTED_MINUTES == environment.minutes_table(load_figures())
    texts = ("0.1 min", "0.5 min", "1.3 min", "2.5 min", "2.6 min", "14.1 min", "5 min")
    assert [environment.about_minutes(text) for text in texts] == [1, 1, 1, 3, 3, 14, 5]
    figures = {"notebook_02_minutes_fp32": {"text": "4.0 min", "source": "make run"},
               "notebook_02_minutes_t4": {"text": "4 min", "source": "estimate"},
               "style_04": {"text": "0% -> 95.8%", "source": "make run"}}
    assert environment.minutes_table(figures) == {"cpu": {}, "cpu_fp32": {"02_completion_only_sft": 4},
                                                  "cuda": {"02_completion_only_sft": 4}}
    assert environment.MEASURED_ON == load_figures()["minutes_measured_on_bf16"]["text"]


def test_the_time_lines_words_match_the_sources_of_the_minutes():
    """A time line says 'measured' for the CPUs and 'estimate' for the T4: the figures' sources must agree."""
    from helpers.figures import load_figures

    figures = load_figures()
    named = {match["number"] for name in figures if (match := environment.MINUTES_FIGURE.fullmatch(name))}
    assert named == set(environment.NOTEBOOKS), "every minutes figure names a course notebook"
    for notebook in environment.EXPECTED_MINUTES["cuda"]:
        assert figures[environment.minutes_figure("cuda", notebook)]["source"].startswith("estimate"), notebook
    for column in ("cpu", "cpu_fp32"):
        for notebook in environment.EXPECTED_MINUTES[column]:
            estimate = figures[environment.minutes_figure(column, notebook)]["source"].startswith("estimate")
            assert estimate == (notebook in environment.NOT_MEASURED[column]), (column, notebook)
    # Every time line of a measured bf16 figure names the make run of minutes_measured_on_bf16: each is from that run.
    run_date = environment.MEASURED_ON.split(",")[0]
    for notebook in set(environment.EXPECTED_MINUTES["cpu"]) - environment.NOT_MEASURED["cpu"]:
        source = figures[environment.minutes_figure("cpu", notebook)]["source"]
        assert source.startswith("make run") and run_date in source, (notebook, source)
