"""Library versions against the course's pins, and the expected time of each notebook on this hardware."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from helpers.bootstrap import installed_version
from helpers.figures import PROJECT_ROOT, load_figures
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


# Minutes per notebook with each notebook's default parameters live in docs/figures.json, one figure per notebook
# and machine: notebook_NN_minutes_bf16 (`make run` on a 2-core CPU with native bf16), notebook_NN_minutes_fp32 (one
# without it) and notebook_NN_minutes_t4. A figure whose source starts with "estimate" was not measured.
MACHINES = {"cpu": "bf16", "cpu_fp32": "fp32", "cuda": "t4"}  # EXPECTED_MINUTES column -> the figures' machine
MINUTES_FIGURE = re.compile(r"notebook_(?P<number>\d\d)_minutes_(?P<machine>bf16|fp32|t4)")
MEASURED_ON_FIGURES = ("minutes_measured_on_bf16", "minutes_measured_on_fp32")
# The course notebooks by number, as helpers.run_notebooks.course_notebooks lists them (which imports this module).
NOTEBOOKS = {path.name[:2]: path.stem for path in (PROJECT_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}


def minutes_figure(column: str, notebook: str) -> str:
    """The name in docs/figures.json of one notebook's minutes in one EXPECTED_MINUTES column."""
    return f"notebook_{notebook[:2]}_minutes_{MACHINES[column]}"


def about_minutes(text: str) -> int:
    """A figure's minutes ("2.6 min") as a time line says them: the nearest whole minute, at least 1."""
    return max(1, math.floor(float(text.removesuffix(" min")) + 0.5))


def minutes_table(figures: dict[str, dict[str, str]]) -> dict[str, dict[str, int]]:
    """Column ("cpu", "cpu_fp32", "cuda") -> notebook -> whole minutes, from the minutes figures."""
    columns = {machine: column for column, machine in MACHINES.items()}
    table: dict[str, dict[str, int]] = {column: {} for column in MACHINES}
    for name, figure in sorted(figures.items()):
        if (match := MINUTES_FIGURE.fullmatch(name)) and match["number"] in NOTEBOOKS:
            table[columns[match["machine"]]][NOTEBOOKS[match["number"]]] = about_minutes(figure["text"])
    return table


FIGURES = load_figures()
EXPECTED_MINUTES = minutes_table(FIGURES)
# When and where the CPU columns were measured (`make run`).
MEASURED_ON, MEASURED_ON_FP32 = (FIGURES[name]["text"] for name in MEASURED_ON_FIGURES)
# Notebooks whose "cpu" figure is an estimate (added after the bf16 machine's `make run`).
NOT_MEASURED_WITH_BF16 = {notebook for notebook in EXPECTED_MINUTES["cpu"]
                          if FIGURES[minutes_figure("cpu", notebook)]["source"].startswith("estimate")}
# Notebooks whose "cpu_fp32" figure is an estimate (added after the last `make run` on a CPU without native bf16).
NOT_MEASURED_WITHOUT_BF16 = {notebook for notebook in EXPECTED_MINUTES["cpu_fp32"]
                             if FIGURES[minutes_figure("cpu_fp32", notebook)]["source"].startswith("estimate")}
NOT_MEASURED = {"cpu": NOT_MEASURED_WITH_BF16, "cpu_fp32": NOT_MEASURED_WITHOUT_BF16}


def time_line(notebook: str) -> str:
    """The sentence under each notebook's title that says how long it takes (written there from this table)."""
    cpu, fp32 = EXPECTED_MINUTES["cpu"][notebook], EXPECTED_MINUTES["cpu_fp32"][notebook]
    gpu = EXPECTED_MINUTES["cuda"][notebook]
    if notebook in NOT_MEASURED_WITH_BF16 and notebook in NOT_MEASURED_WITHOUT_BF16:
        return (f"*Time with the defaults: about {cpu} min on a 2-core laptop CPU with native bf16, about {fp32} min on "
                f"one without it and about {gpu} min on a T4 (estimates, not yet measured).*")
    if notebook in NOT_MEASURED_WITH_BF16:
        return (f"*Time with the defaults: about {fp32} min on a 2-core laptop CPU without native bf16 (measured by "
                f"running it alone with its defaults, as `make run` does: {MEASURED_ON_FP32}); about {cpu} min on one "
                f"with it and about {gpu} min on a T4 (estimates, not yet measured).*")
    if notebook in NOT_MEASURED_WITHOUT_BF16:  # added after the last `make run` on a CPU without native bf16
        return (f"*Time with the defaults: about {cpu} min on a 2-core laptop CPU with native bf16 (measured by "
                f"`make run`: {MEASURED_ON}); about {fp32} min on one without it and about {gpu} min on a T4 "
                "(estimates, not yet measured).*")
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
    unmeasured = NOT_MEASURED.get(column, set())
    return {name: f"~{minutes} min ({'estimate, not yet measured' if name in unmeasured else label})"
            for name, minutes in EXPECTED_MINUTES[column].items()}


def with_time_line(title_cell: str, notebook: str) -> str:
    """A notebook's first cell with its time line put (or replaced) under the title."""
    text = re.sub(r"\n\n\*Time with the defaults:[^\n]*\*", "", title_cell)
    title, _, rest = text.partition("\n")
    return f"{title}\n\n{time_line(notebook)}\n{rest}"


def write_time_lines(notebooks: list[Path] | None = None, check: bool = False) -> list[Path]:
    """Put the time line under the title of each course notebook; returns those changed (with check: those stale)."""
    from helpers.run_notebooks import course_notebooks

    stale = []
    for path in course_notebooks() if notebooks is None else notebooks:
        content = json.loads(path.read_text(encoding="utf-8"))
        cell = content["cells"][0]
        text = "".join(cell["source"])
        if (updated := with_time_line(text, path.stem)) == text:
            continue
        stale.append(path)
        if not check:
            cell["source"] = updated.splitlines(keepends=True)
            path.write_text(json.dumps(content, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return stale


if __name__ == "__main__":  # python -m helpers.environment: rewrite the notebooks' time lines
    changed = write_time_lines()
    print("\n".join(f"rewrote the time line of {path.name}" for path in changed) or "Every time line is current.")
