"""Version pins and the expected-time table."""

from __future__ import annotations

from helpers import environment
from helpers.hardware import detect_hardware


def test_pins_are_read_from_requirements():
    pins = environment.pinned_versions()
    assert pins["transformers"] == "5.23.0" and pins["trl"] == "1.16.0" and pins["peft"] == "0.21.2"
    assert "torch" not in pins, "torch must stay unpinned: Colab and Kaggle ship their own build"


def test_mismatch_is_flagged(monkeypatch, capsys):
    monkeypatch.setattr(environment, "installed_version", lambda name: "0.0.1")
    rows = environment.check_versions(("trl",))
    assert rows == [{"library": "trl", "installed": "0.0.1", "pinned": "1.16.0", "matches": False}]
    assert "WARNING: trl 0.0.1 differs" in capsys.readouterr().out


def test_installed_versions_match_the_pins():
    mismatched = [row for row in environment.check_versions() if not row["matches"]]
    assert not mismatched


def test_expected_minutes_label_measured_and_estimated():
    cpu = environment.expected_minutes(detect_hardware(cuda_available=False, verbose=False))
    gpu = environment.expected_minutes(detect_hardware(cuda_available=True, capability=(7, 5), gpu_name="T4",
                                                       gpu_memory_gb=15.0, verbose=False))
    assert all("measured on" in text for text in cpu.values())
    assert all("estimate" in text for text in gpu.values())
    assert set(cpu) == set(gpu)
    bf16_cpu = environment.expected_minutes(detect_hardware(cuda_available=False, cpu_bf16="AVX512-BF16", verbose=False))
    for name, text in bf16_cpu.items():  # a notebook newer than the bf16 machine's run is an estimate there
        assert ("estimate" in text) == (name in environment.NOT_MEASURED_WITH_BF16), (name, text)


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
