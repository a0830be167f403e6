"""Pass rate of generated code (helpers.correctness): the checks, the entry point, the Wilson interval."""

from __future__ import annotations

from helpers.sandbox import run_answer


def test_every_python_style_reference_answer_passes_its_own_checks():
    from helpers.correctness import pass_rate
    from helpers.data import load_bundled

    for split in ("train", "validation", "test"):
        records = list(load_bundled("python_style", split))
        result = pass_rate([record["output"] for record in records], records)
        failing = [(r["family"], d) for r, o, d in zip(records, result["outcomes"], result["details"]) if o != "pass"]
        assert not failing, f"{split}: {failing[:3]}"
        assert all(len(record["checks"]) >= 1 for record in records)


def test_a_wrong_but_well_styled_answer_fails_its_checks():
    from helpers.correctness import pass_rate
    from helpers.data import load_bundled

    record = next(r for r in load_bundled("python_style", "train") if r["family"] == "dedupe")
    wrong = ('```python\ndef remove_duplicates(items: list) -> list:\n    """Return items without duplicates."""\n'
             '    return [item for item in items if item]\n```')
    result = pass_rate([wrong, record["output"]], [record, record])
    assert result["outcomes"] == ["fail", "pass"] and result["passed"] == 1 and result["n"] == 2


def test_a_function_under_another_name_is_checked_as_the_entry_point():
    """Most requests do not name the function: a single function under another name stands in for it."""
    from helpers.correctness import entry_point, pass_rate
    from helpers.data import load_bundled

    record = next(r for r in load_bundled("python_style", "test") if r["family"] == "area"
                  and "square" in r["instruction"])
    assert "square_area" not in record["instruction"] and entry_point(record) == "square_area"
    renamed = '```python\ndef area_of_square(side: float) -> float:\n    """Return the area."""\n    return side * side\n```'
    wrong = renamed.replace("side * side", "side + side")
    two = renamed.replace("\n```", "\ndef helper(x: int) -> int:\n    return x\n```")
    result = pass_rate([renamed, wrong, two, record["output"]], [record] * 4)
    assert result["outcomes"] == ["pass", "fail", "error", "pass"]
    assert result["details"][0] == "area_of_square() checked as square_area()"
    assert "(area_of_square() checked as square_area())" in result["details"][1]
    assert "defines area_of_square, helper()" in result["details"][2]
    # Records rebuilt from a results file carry the name itself (notebook 04 reads 01's).
    slim = {"instruction": record["instruction"], "checks": record["checks"], "entry_point": "square_area"}
    assert pass_rate([renamed], [slim])["outcomes"] == ["pass"]
    # Without an entry point the checks see only the answer's own names.
    assert run_answer("def area_of_square(side):\n    return side * side\n", ["square_area(2) == 4"]).outcome == "error"


def test_wilson_interval_matches_hand_computed_values():
    from helpers.correctness import format_rate, wilson_interval

    low, high = wilson_interval(10, 16)
    assert abs(low - 0.3857) < 1e-3 and abs(high - 0.8148) < 1e-3
    assert wilson_interval(0, 10)[0] == 0.0 and abs(wilson_interval(0, 10)[1] - 0.2775) < 1e-3
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert format_rate(10, 16) == "62.5% (10/16, 95% CI 38.6-81.5%)"


def test_changed_verdicts_lists_each_fixed_and_broken_request_with_both_answers():
    import pytest

    from helpers.correctness import changed_verdicts, paired_comparison

    records = [{"instruction": f"request {i}"} for i in range(5)]
    before = {"outcomes": ["pass", "fail", "error", "pass", "fail"], "answers": [f"old {i}" for i in range(5)]}
    after = {"outcomes": ["pass", "pass", "fail", "timeout", "fail"], "answers": [f"new {i}" for i in range(5)]}
    rows = changed_verdicts(records, before, after)
    assert rows == [{"request": "request 1", "change": "fixed", "before": "[fail] old 1", "after": "[pass] new 1"},
                    {"request": "request 3", "change": "broken", "before": "[pass] old 3", "after": "[timeout] new 3"}]
    counts = paired_comparison(before["outcomes"], after["outcomes"])
    assert [row["change"] for row in rows].count("fixed") == counts["fixed"] == 1
    assert [row["change"] for row in rows].count("broken") == counts["broken"] == 1
    with pytest.raises(ValueError, match="same length"):
        changed_verdicts(records[:4], before, after)
