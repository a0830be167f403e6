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
    # A notebook newer than the bf16 machine's `make run` is an estimate there; everything else was measured.
    unmeasured = environment.NOT_MEASURED_WITH_BF16 if simulated_cpu.precision == "bf16" else set()
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
