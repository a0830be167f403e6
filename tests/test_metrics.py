"""The style-adherence metric on hand-made answers."""

from __future__ import annotations

import pytest

from helpers.data import load_bundled
from helpers.metrics import check_python_style, extract_code, style_adherence

GOOD = '```python\ndef double(value: int) -> int:\n    """Return value doubled."""\n    return 2 * value\n```'


def test_house_style_answer_keeps_every_rule():
    report = check_python_style(GOOD)
    assert report.adherent


@pytest.mark.parametrize(
    ("answer", "broken"),
    [
        ("Here you go:\n" + GOOD, "code_block_only"),
        (GOOD.replace("value: int) -> int", "value)"), "type_hints"),
        (GOOD.replace(") -> int", ")"), "type_hints"),
        (GOOD.replace('    """Return value doubled."""\n', ""), "one_line_docstring"),
        (GOOD.replace('"""Return value doubled."""', '"""Return value\n    doubled."""'), "one_line_docstring"),
        (GOOD.replace("return 2 * value", "print(2 * value)"), "no_print"),
        ("```python\nx = 1\n```", "defines_function"),
        ("```python\ndef broken(:\n```", "parses"),
    ],
)
def test_each_rule_catches_its_own_violation(answer, broken):
    report = check_python_style(answer)
    assert not getattr(report, broken)
    assert not report.adherent


def test_unfenced_code_is_still_parsed_but_not_block_only():
    code, block_only = extract_code('def f(x: int) -> int:\n    """Return x."""\n    return x')
    assert code.startswith("def f") and block_only is False


def test_code_is_taken_from_the_first_fenced_block():
    assert extract_code("Here you go:\n```python\nx = 1\n```\nThat's it.")[0].strip() == "x = 1"
    assert extract_code("```\ny = 2\n```")[0].strip() == "y = 2"
    assert extract_code("```python\nz = 3\n")[0].strip() == "z = 3", "an answer cut off by max_new_tokens"
    assert extract_code("def f():\n    return 1")[0] == "def f():\n    return 1"


def test_fences_the_two_former_extractors_disagreed_on():
    # Style adherence used to miss a block opened with "``` python" (a space before the tag) ...
    assert extract_code("``` python\nx = 1\n```") == ("x = 1", True)
    # ... and pass rate used to cut the code at a ``` inside a string, or keep a fence glued to the last line.
    fence_in_string = '```python\ndef fence() -> str:\n    """Return a fence."""\n    return "```"\n```'
    assert extract_code(fence_in_string) == ('def fence() -> str:\n    """Return a fence."""\n    return "```"', True)
    assert check_python_style(fence_in_string).adherent
    assert extract_code("```python\nx = 1```") == ("x = 1", True)


def test_self_needs_no_annotation():
    answer = '```python\ndef area(self, scale: float) -> float:\n    """Return the area."""\n    return scale\n```'
    assert check_python_style(answer).type_hints


def test_style_adherence_shares():
    scores = style_adherence([GOOD, GOOD, "no code here", GOOD.replace(") -> int", ")")])
    assert scores["adherence"] == 0.5
    assert scores["code_block_only"] == 0.75
    assert scores["type_hints"] == 0.5
    with pytest.raises(ValueError):
        style_adherence([])


def test_every_reference_answer_is_in_house_style():
    for split in ("train", "validation", "test"):
        answers = load_bundled("python_style", split)["output"]
        assert style_adherence(answers)["adherence"] == 1.0, split
