"""Library versions against the course's pins, and the expected time of each notebook on this hardware."""

from __future__ import annotations

import re
from pathlib import Path

from helpers.bootstrap import installed_version
from helpers.hardware import HardwareProfile

REQUIREMENTS = Path(__file__).resolve().parent.parent / "requirements.txt"
TAUGHT = ("torch", "transformers", "trl", "peft", "bitsandbytes", "datasets", "accelerate", "evaluate")


def pinned_versions(requirements: Path = REQUIREMENTS) -> dict[str, str]:
    """name -> version for every `name==version` line of requirements.txt."""
    pins = {}
    for line in requirements.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s#;]+)", line)
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def check_versions(names: tuple[str, ...] = TAUGHT) -> list[dict]:
    """One row per library: installed, pinned, and whether they match; prints a warning for each mismatch."""
    pins = pinned_versions()
    rows = []
    for name in names:
        installed, pinned = installed_version(name), pins.get(name)
        ok = pinned is None or installed == pinned
        rows.append({"library": name, "installed": installed or "missing", "pinned": pinned or "(not pinned)",
                     "matches": ok})
        if not ok:
            print(f"WARNING: {name} {installed or 'is missing'} differs from the course pin {pinned}; "
                  "results and messages may differ from the notebooks' text.")
    return rows


# Minutes per notebook with each notebook's default parameters, measured by `make run` on 2-core machines: "cpu"
# with native bf16 (AVX512-BF16), "cpu_fp32" without it. GPU: estimates for a T4 until measured, marked as such.
EXPECTED_MINUTES = {
    "cpu": {"00_setup": 1, "01_baseline_inference": 1, "02_completion_only_sft": 2, "03_adapter_saving": 1,
            "04_merged_vs_adapter_inference": 3, "05_summarization": 3, "06_instruction_tuning": 3,
            "07_experiments": 8, "08_scale_out": 2},
    "cpu_fp32": {"00_setup": 1, "01_baseline_inference": 2, "02_completion_only_sft": 4, "03_adapter_saving": 1,
                 "04_merged_vs_adapter_inference": 6, "05_summarization": 7, "06_instruction_tuning": 9,
                 "07_experiments": 14, "08_scale_out": 3},
    "cuda": {"00_setup": 1, "01_baseline_inference": 1, "02_completion_only_sft": 4, "03_adapter_saving": 1,
             "04_merged_vs_adapter_inference": 4, "05_summarization": 4, "06_instruction_tuning": 4,
             "07_experiments": 10, "08_scale_out": 5},
}


# When and where the CPU columns were measured (`make run`).
MEASURED_ON = "2026-11-25, 2-core AMD EPYC with AVX512-BF16"
MEASURED_ON_FP32 = "2026-11-30, 2-core CPU without native bf16"


# Notebooks added after the bf16 machine's `make run`: their "cpu" figure is an estimate until one measures it.
NOT_MEASURED_WITH_BF16 = {"08_scale_out"}


def time_line(notebook: str) -> str:
    """The sentence under each notebook's title that says how long it takes (written there from this table)."""
    cpu, fp32 = EXPECTED_MINUTES["cpu"][notebook], EXPECTED_MINUTES["cpu_fp32"][notebook]
    gpu = EXPECTED_MINUTES["cuda"][notebook]
    if notebook in NOT_MEASURED_WITH_BF16:
        return (f"*Time with the defaults: about {fp32} min on a 2-core laptop CPU without native bf16 (measured by "
                f"running it alone with its defaults, as `make run` does: {MEASURED_ON_FP32}); about {cpu} min on one "
                f"with it and about {gpu} min on a T4 (estimates, not yet measured).*")
    return (f"*Time with the defaults: about {cpu} min on a 2-core laptop CPU with native bf16 and about {fp32} min "
            f"on one without it (measured by `make run`: {MEASURED_ON}; {MEASURED_ON_FP32}); about {gpu} min on a "
            "T4 (estimate, not yet measured).*")


def expected_minutes(profile: HardwareProfile) -> dict[str, str]:
    """Notebook -> expected wall time as text, labelled measured (CPU) or estimate (GPU)."""
    if profile.device == "cpu":
        column = "cpu" if profile.precision == "bf16" else "cpu_fp32"
        label = f"measured on a 2-core CPU {'with' if column == 'cpu' else 'without'} native bf16"
    else:
        column, label = "cuda", "estimate for a T4, not yet measured"
    return {name: f"~{minutes} min ({'estimate, not yet measured' if column == 'cpu' and name in NOT_MEASURED_WITH_BF16 else label})"
            for name, minutes in EXPECTED_MINUTES[column].items()}


def write_time_lines() -> None:
    """Put (or replace) the time line under the title of every course notebook, from EXPECTED_MINUTES."""
    import json

    from helpers.run_notebooks import course_notebooks

    for path in course_notebooks():
        content = json.loads(path.read_text(encoding="utf-8"))
        cell = content["cells"][0]
        text = re.sub(r"\n\n\*Time with the defaults:[^\n]*\*", "", "".join(cell["source"]))
        title, _, rest = text.partition("\n")
        cell["source"] = f"{title}\n\n{time_line(path.stem)}\n{rest}".splitlines(keepends=True)
        path.write_text(json.dumps(content, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":  # python -m helpers.environment: rewrite the notebooks' time lines
    write_time_lines()
