"""Each measured figure lives in docs/figures.json, and every marked copy in the pages equals it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from helpers.figures import FIGURES_FILE, FigureError, copies, drift, load_figures, main, pages, render

ROOT = Path(__file__).resolve().parents[1]


def _copy_pages(destination: Path) -> None:
    """The README, docs/*.md and docs/figures.json under destination, as in the project."""
    for path in [*pages(ROOT), ROOT / FIGURES_FILE]:
        target = destination / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)


def test_every_figure_has_its_text_and_its_source():
    for name, figure in load_figures().items():
        assert figure.get("text", "").strip() and figure.get("source", "").strip(), name


def test_every_marked_copy_in_the_readme_and_docs_equals_the_figures_file():
    figures = load_figures()
    problems = [line for path in pages() for line in drift(path.read_text(encoding="utf-8"), figures, path.name)]
    assert problems == [], "run `python -m helpers.figures`:\n" + "\n".join(problems)
    assert copies((ROOT / "README.md").read_text(encoding="utf-8")), "the README's headline figures are marked"


def test_a_copy_edited_by_hand_fails_the_check(tmp_path, capsys):
    _copy_pages(tmp_path)
    assert main(["--check"], root=tmp_path) == 0
    readme = tmp_path / "README.md"
    name, text = copies(readme.read_text(encoding="utf-8"))[0]
    marked = f"<!-- figure:{name} -->{text}<!-- /figure -->"
    readme.write_text(readme.read_text(encoding="utf-8").replace(marked, marked.replace(text, "99.9%"), 1),
                      encoding="utf-8")

    assert main(["--check"], root=tmp_path) == 1
    report = capsys.readouterr().err
    assert f"README.md: {name}: found '99.9%', expected {text!r}" in report
    assert main([], root=tmp_path) == 0, "rewriting puts the figure back"
    assert main(["--check"], root=tmp_path) == 0


def test_an_unknown_figure_name_is_an_error_naming_the_page_and_the_name(tmp_path, capsys):
    with pytest.raises(FigureError, match=r"notes\.md: unknown figure no_such_figure"):
        render("Took <!-- figure:no_such_figure -->3 min<!-- /figure -->.", load_figures(), "notes.md")
    with pytest.raises(FigureError, match="not closed"):
        render("Took <!-- figure:style_04 -->3 min.", load_figures(), "notes.md")
    _copy_pages(tmp_path)
    (tmp_path / "docs" / "notes.md").write_text("<!-- figure:no_such_figure -->x<!-- /figure -->\n", encoding="utf-8")
    assert main(["--check"], root=tmp_path) == 1
    assert "docs/notes.md: unknown figure no_such_figure" in capsys.readouterr().err


def test_every_figure_is_used_in_a_page_or_says_where_it_is_used():
    used = {name for path in pages() for name, _ in copies(path.read_text(encoding="utf-8"))}
    unused = [name for name, figure in load_figures().items() if name not in used and not figure.get("used_in")]
    assert unused == [], f"quote these figures somewhere, give them a 'used_in', or drop them: {unused}"


def test_render_is_idempotent_and_touches_only_the_marked_text():
    figures = {"speed": {"text": r"1.2x \1 faster", "source": "a benchmark"}}
    text = "Before <!-- figure:speed -->old<!-- /figure --> after; `<!-- figure:speed -->` shown as code.\n"
    once = render(text, figures)
    assert once == "Before <!-- figure:speed -->1.2x \\1 faster<!-- /figure --> after; " \
                   "`<!-- figure:speed -->` shown as code.\n"
    assert render(once, figures) == once
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert render(readme, load_figures()) == readme
