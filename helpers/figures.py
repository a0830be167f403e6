"""Each measured figure lives in docs/figures.json; pages carry marked copies that one command rewrites.

A copy in Markdown is `<!-- figure:NAME -->TEXT<!-- /figure -->`: HTML comments are invisible where GitHub
or Jupyter render Markdown, so a reader sees TEXT alone. `python -m helpers.figures` rewrites every copy in
README.md, docs/*.md and the Markdown cells of notebooks/*.ipynb and notebooks/solutions/*.ipynb from the file,
and the notebooks' time lines (helpers.environment, from the minutes figures); `--check` lists each copy and
time line that differs and exits 1.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FIGURES_FILE = Path("docs") / "figures.json"

# One line only: a copy is a phrase inside a sentence or a table cell, and a marker left open must not
# swallow the rest of the page. A marker right after a backtick is the syntax shown as code, not a copy.
MARKER = re.compile(r"(?<!`)<!-- figure:(?P<name>[A-Za-z0-9_.-]+) -->(?P<text>.*?)<!-- /figure -->")
OPENING = re.compile(r"(?<!`)<!-- figure:")


class FigureError(ValueError):
    """A marker that names no figure in docs/figures.json, or one that is malformed or left open."""


def load_figures(root: Path = PROJECT_ROOT) -> dict[str, dict[str, str]]:
    """name -> {"text": the figure as printed, "source": how, where and when it was measured, "part_of"?: a name}."""
    return json.loads((root / FIGURES_FILE).read_text(encoding="utf-8"))


def parts_that_differ(figures: dict[str, dict[str, str]]) -> list[str]:
    """One line per figure whose text is not inside the text of the figure it names as "part_of".

    A page may quote a measurement with others ("513 MB -> 159 MB") and a notebook one part of it ("513 MB"): the
    part is a figure of its own, and this keeps the two from drifting apart.
    """
    return [f"{FIGURES_FILE}: {name} is part of {figure['part_of']}, but {figure['text']!r} is not in its text "
            f"{figures.get(figure['part_of'], {}).get('text')!r}"
            for name, figure in figures.items()
            if "part_of" in figure and figure["text"] not in figures.get(figure["part_of"], {}).get("text", "")]


def copies(text: str) -> list[tuple[str, str]]:
    """(name, text) of every marked copy in a Markdown text, in order."""
    return [(match["name"], match["text"]) for match in MARKER.finditer(text)]


def _validate(text: str, figures: dict[str, dict[str, str]], where: str) -> None:
    """Raise FigureError naming `where` for a malformed or open marker, or a name not in figures."""
    if len(OPENING.findall(text)) != len(copies(text)):
        raise FigureError(f"{where}: a figure marker is malformed or not closed on its line "
                          "(write <!-- figure:NAME -->TEXT<!-- /figure -->)")
    unknown = sorted({name for name, _ in copies(text) if name not in figures})
    if unknown:
        raise FigureError(f"{where}: unknown figure {', '.join(unknown)} (not in {FIGURES_FILE})")


def render(text: str, figures: dict[str, dict[str, str]], where: str = "<text>") -> str:
    """text with every marked copy rewritten from figures; text is a page or one notebook cell's source."""
    _validate(text, figures, where)
    # A function, not a replacement string: a figure's text may hold backslashes.
    return MARKER.sub(lambda m: f"<!-- figure:{m['name']} -->{figures[m['name']]['text']}<!-- /figure -->", text)


def drift(text: str, figures: dict[str, dict[str, str]], where: str = "<text>") -> list[str]:
    """One line per marked copy that differs from figures: where, name, found and expected."""
    _validate(text, figures, where)
    return [f"{where}: {name}: found {found!r}, expected {figures[name]['text']!r}"
            for name, found in copies(text) if found != figures[name]["text"]]


def pages(root: Path = PROJECT_ROOT) -> list[Path]:
    """The Markdown pages that may carry copies: README.md and docs/*.md."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def notebooks(root: Path = PROJECT_ROOT) -> list[Path]:
    """The notebooks whose Markdown cells may carry copies: notebooks/*.ipynb and notebooks/solutions/*.ipynb."""
    return [*sorted((root / "notebooks").glob("*.ipynb")), *sorted((root / "notebooks" / "solutions").glob("*.ipynb"))]


def markdown_cells(content: dict) -> list[tuple[int, dict]]:
    """(index, cell) of every Markdown cell of a notebook's JSON."""
    return [(index, cell) for index, cell in enumerate(content["cells"]) if cell["cell_type"] == "markdown"]


def _page(path: Path, where: str, figures: dict[str, dict[str, str]], check: bool) -> tuple[list[str], bool]:
    """(drifted copies, whether the page was rewritten) for one Markdown page."""
    text = path.read_text(encoding="utf-8")
    if check:
        return drift(text, figures, where), False
    if (updated := render(text, figures, where)) == text:
        return [], False
    path.write_text(updated, encoding="utf-8")
    return [], True


def _notebook(path: Path, where: str, figures: dict[str, dict[str, str]], check: bool) -> tuple[list[str], bool]:
    """(drifted copies, whether the notebook was rewritten) for the Markdown cells of one notebook."""
    content = json.loads(path.read_text(encoding="utf-8"))
    problems, changed = [], False
    for index, cell in markdown_cells(content):
        text, cell_where = "".join(cell["source"]), f"{where}, cell {index}"
        if check:
            problems += drift(text, figures, cell_where)
        elif (updated := render(text, figures, cell_where)) != text:
            cell["source"], changed = updated.splitlines(keepends=True), True
    if changed:
        # The layout every notebook of the course is written in, so a rewrite changes only the copies.
        path.write_text(json.dumps(content, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return problems, changed


def main(argv: list[str] | None = None, root: Path = PROJECT_ROOT) -> int:
    """`python -m helpers.figures [--check]`: rewrite (or check) every copy and time line; returns the exit code."""
    from helpers.environment import write_time_lines  # it reads docs/figures.json itself, and imports torch

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--check", action="store_true", help="change nothing; list drifted copies, exit 1 if any")
    args = parser.parse_args(argv)
    figures = load_figures(root)
    problems, changed = parts_that_differ(figures), []
    rewriters = [(page, _page) for page in pages(root)] + [(notebook, _notebook) for notebook in notebooks(root)]
    for path, rewrite in rewriters:
        where = str(path.relative_to(root))
        try:
            found, rewritten = rewrite(path, where, figures, args.check)
        except FigureError as error:
            problems.append(str(error))
            continue
        problems += found
        changed += [where] if rewritten else []
    course = sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    for path in write_time_lines(course, check=args.check):
        where = str(path.relative_to(root))
        if args.check:
            problems.append(f"{where}: the time line under the title differs from the minutes in {FIGURES_FILE}")
        else:
            changed.append(f"{where} (time line)")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        if args.check:
            print("Run `python -m helpers.figures` to copy the figures from docs/figures.json.", file=sys.stderr)
        return 1
    print("\n".join(f"rewrote {where}" for where in changed) if changed else "Every marked figure is current.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
