"""Each measured figure lives in docs/figures.json, and every marked copy in the pages and notebooks equals it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helpers import environment
from helpers.figures import (
    FIGURES_FILE,
    FigureError,
    copies,
    drift,
    load_figures,
    main,
    markdown_cells,
    notebooks,
    pages,
    parts_that_differ,
    render,
)

ROOT = Path(__file__).resolve().parents[1]


def _copy_pages(destination: Path, with_notebooks: bool = False) -> None:
    """The README, docs/*.md and docs/figures.json (and the notebooks) under destination, as in the project."""
    for path in [*pages(ROOT), ROOT / FIGURES_FILE, *(notebooks(ROOT) if with_notebooks else [])]:
        target = destination / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)


def _notebook_copies(path: Path) -> list[tuple[str, str]]:
    """(name, text) of every marked copy in the Markdown cells of one notebook."""
    content = json.loads(path.read_text(encoding="utf-8"))
    return [copy for _, cell in markdown_cells(content) for copy in copies("".join(cell["source"]))]


def test_every_figure_has_its_text_and_its_source():
    for name, figure in load_figures().items():
        assert figure.get("text", "").strip() and figure.get("source", "").strip(), name


def test_every_marked_copy_in_the_readme_and_docs_equals_the_figures_file():
    figures = load_figures()
    problems = [line for path in pages() for line in drift(path.read_text(encoding="utf-8"), figures, path.name)]
    assert problems == [], "run `python -m helpers.figures`:\n" + "\n".join(problems)
    assert copies((ROOT / "README.md").read_text(encoding="utf-8")), "the README's headline figures are marked"


def test_every_marked_copy_in_the_notebooks_equals_the_figures_file():
    figures = load_figures()
    problems = []
    for path in notebooks():
        for index, cell in markdown_cells(json.loads(path.read_text(encoding="utf-8"))):
            problems += drift("".join(cell["source"]), figures, f"{path.name}, cell {index}")
    assert problems == [], "run `python -m helpers.figures`:\n" + "\n".join(problems)


def test_every_notebooks_callouts_quote_marked_figures():
    """Each course notebook's 'You should see' callouts carry its measured figures as marked copies."""
    from helpers.run_notebooks import course_notebooks

    for path in course_notebooks():
        content = json.loads(path.read_text(encoding="utf-8"))
        callouts = ["".join(cell["source"]) for _, cell in markdown_cells(content)
                    if "**You should see**" in "".join(cell["source"])]
        assert any(copies(callout) for callout in callouts), f"{path.name}: no marked figure in its callouts"


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


def test_a_copy_edited_in_a_notebook_fails_the_check_and_the_rewrite_keeps_the_layout(tmp_path, capsys):
    _copy_pages(tmp_path, with_notebooks=True)
    assert main(["--check"], root=tmp_path) == 0
    notebook = tmp_path / "notebooks" / "02_completion_only_sft.ipynb"
    original = notebook.read_text(encoding="utf-8")
    name, text = _notebook_copies(notebook)[0]
    marked = f"<!-- figure:{name} -->{text}<!-- /figure -->"
    edited = marked.replace(text, "9.99 -> 0.01")
    notebook.write_text(original.replace(json.dumps(marked)[1:-1], json.dumps(edited)[1:-1], 1), encoding="utf-8")
    assert _notebook_copies(notebook)[0] == (name, "9.99 -> 0.01")

    assert main(["--check"], root=tmp_path) == 1
    report = capsys.readouterr().err
    assert "notebooks/02_completion_only_sft.ipynb, cell " in report
    assert f": {name}: found '9.99 -> 0.01', expected {text!r}" in report
    assert main([], root=tmp_path) == 0, "rewriting puts the figure back"
    assert notebook.read_text(encoding="utf-8") == original, "the notebook's JSON layout is kept byte for byte"
    assert main(["--check"], root=tmp_path) == 0


def test_a_time_line_edited_by_hand_fails_the_check_and_the_command_writes_it(tmp_path, capsys):
    """`python -m helpers.figures` writes the time lines too, from the minutes figures."""
    _copy_pages(tmp_path, with_notebooks=True)
    notebook = tmp_path / "notebooks" / "05_summarization.ipynb"
    original = notebook.read_text(encoding="utf-8")
    line = environment.time_line("05_summarization")
    assert line in original
    notebook.write_text(original.replace(line, line.replace("about ", "about 9", 1)), encoding="utf-8")

    assert main(["--check"], root=tmp_path) == 1
    assert "notebooks/05_summarization.ipynb: the time line under the title differs" in capsys.readouterr().err
    assert main([], root=tmp_path) == 0
    assert notebook.read_text(encoding="utf-8") == original


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
    used |= {name for path in notebooks() for name, _ in _notebook_copies(path)}
    # helpers.environment reads these for the notebooks' time lines.
    used |= {name for name in load_figures() if environment.MINUTES_FIGURE.fullmatch(name)}
    used |= set(environment.MEASURED_ON_FIGURES)
    unused = [name for name, figure in load_figures().items() if name not in used and not figure.get("used_in")]
    assert unused == [], f"quote these figures somewhere, give them a 'used_in', or drop them: {unused}"


def test_a_figure_that_is_part_of_another_stays_inside_its_text(tmp_path, capsys):
    """A notebook quotes "513 MB" where the README quotes "513 MB -> 159 MB": the two change together or fail."""
    assert parts_that_differ(load_figures()) == []
    assert any("part_of" in figure for figure in load_figures().values())
    _copy_pages(tmp_path)
    figures = load_figures(tmp_path)
    whole = figures["base_weights"]["part_of"]
    figures[whole]["text"] = figures[whole]["text"].replace(figures["base_weights"]["text"], "514 MB")
    (tmp_path / FIGURES_FILE).write_text(json.dumps(figures, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    assert main(["--check"], root=tmp_path) == 1
    assert f"base_weights is part of {whole}, but '513 MB' is not in its text" in capsys.readouterr().err
    assert parts_that_differ({"part": {"text": "1", "source": "s", "part_of": "gone"}}) != []


def test_render_is_idempotent_and_touches_only_the_marked_text():
    figures = {"speed": {"text": r"1.2x \1 faster", "source": "a benchmark"}}
    text = "Before <!-- figure:speed -->old<!-- /figure --> after; `<!-- figure:speed -->` shown as code.\n"
    once = render(text, figures)
    assert once == "Before <!-- figure:speed -->1.2x \\1 faster<!-- /figure --> after; " \
                   "`<!-- figure:speed -->` shown as code.\n"
    assert render(once, figures) == once
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert render(readme, load_figures()) == readme
