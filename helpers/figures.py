"""Each measured figure lives in docs/figures.json; pages carry marked copies that one command rewrites.

A copy in Markdown is `<!-- figure:NAME -->TEXT<!-- /figure -->`: HTML comments are invisible where GitHub
or Jupyter render Markdown, so a reader sees TEXT alone. `python -m helpers.figures` rewrites every copy in
README.md and docs/*.md from the file; `--check` lists each copy that differs and exits 1.
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
    """name -> {"text": the figure as printed, "source": how, where and when it was measured}."""
    return json.loads((root / FIGURES_FILE).read_text(encoding="utf-8"))


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


def main(argv: list[str] | None = None, root: Path = PROJECT_ROOT) -> int:
    """`python -m helpers.figures [--check]`: rewrite (or check) every marked copy; returns the exit code."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--check", action="store_true", help="change nothing; list drifted copies, exit 1 if any")
    args = parser.parse_args(argv)
    figures = load_figures(root)
    problems, changed = [], []
    for path in pages(root):
        text, where = path.read_text(encoding="utf-8"), str(path.relative_to(root))
        try:
            if args.check:
                problems += drift(text, figures, where)
            elif (updated := render(text, figures, where)) != text:
                path.write_text(updated, encoding="utf-8")
                changed.append(where)
        except FigureError as error:
            problems.append(str(error))
    if problems:
        print("\n".join(problems), file=sys.stderr)
        if args.check:
            print("Run `python -m helpers.figures` to copy the figures from docs/figures.json.", file=sys.stderr)
        return 1
    print("\n".join(f"rewrote {where}" for where in changed) if changed else "Every marked figure is current.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
