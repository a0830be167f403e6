"""Task metrics on hand-checked cases: python_style adherence, accuracy, SQuAD EM/F1, instruction answers."""

from __future__ import annotations

import pytest

from helpers.data import load_bundled
from helpers.metrics import (
    accuracy,
    average_words,
    bertscore,
    check_python_style,
    cut_at_echo,
    exact_match,
    extract_code,
    first_label,
    normalize_answer,
    rouge,
    score_instructions,
    squad_scores,
    style_adherence,
    token_f1,
)

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


def test_accuracy_ignores_case_and_whitespace_and_checks_lengths():
    assert accuracy(["Positive", " negative", "positive"], ["positive", "negative", "negative"]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        accuracy(["positive"], ["positive", "negative"])
    with pytest.raises(ValueError):
        accuracy([], [])


def test_first_label_reads_free_text_answers():
    choices = ("positive", "negative")
    assert first_label("Negative.", choices) == "negative"
    assert first_label("The sentiment is positive, clearly", choices) == "positive"
    assert first_label("It is mixed", choices) == ""


def test_squad_normalization():
    assert normalize_answer("The  Cat, sat!") == "cat sat"
    assert normalize_answer("An apple a day") == "apple day"


def test_exact_match_and_f1_on_hand_computed_cases():
    # Articles and punctuation do not count; the best of several ground truths is taken.
    assert exact_match("the Eiffel Tower.", ["Eiffel Tower"]) == 1.0
    assert exact_match("Eiffel", ["Eiffel Tower"]) == 0.0
    assert exact_match("Paris", ["London", "paris"]) == 1.0
    # prediction "eiffel" vs truth "eiffel tower": precision 1/1, recall 1/2 -> F1 = 2/3
    assert token_f1("Eiffel", ["Eiffel Tower"]) == pytest.approx(2 / 3)
    # "tower in paris" vs "eiffel tower": shared {tower}: precision 1/3, recall 1/2 -> F1 = 0.4
    assert token_f1("tower in Paris", ["the Eiffel Tower"]) == pytest.approx(0.4)
    # repeated tokens count once per occurrence in both: "a b b" vs "b b c" share two b's: P=R=2/3
    assert token_f1("x y y", ["y y z"]) == pytest.approx(2 / 3)
    assert token_f1("nothing shared", ["Eiffel Tower"]) == 0.0
    assert token_f1("Eiffel", ["Louvre", "Eiffel Tower"]) == pytest.approx(2 / 3)


def test_squad_scores_are_percentages():
    scores = squad_scores(["Eiffel Tower", "Eiffel", "Louvre"], [["Eiffel Tower"], ["Eiffel Tower"], ["Orsay"]])
    assert scores["exact_match"] == pytest.approx(100 / 3)
    assert scores["f1"] == pytest.approx(100 * (1 + 2 / 3 + 0) / 3)
    with pytest.raises(ValueError):
        squad_scores(["a"], [])


def test_instruction_scores_per_task():
    records = [{"output": "Paris", "task": "capital"}, {"output": "cold", "task": "antonym"},
               {"output": "The capital of Peru is Lima.", "task": "capital"}]
    scores = score_instructions(["paris.", "warm", "Lima"], records)
    assert scores["exact_match"] == pytest.approx(100 / 3)
    assert scores["exact_match_by_task"] == {"antonym": 0.0, "capital": 50.0}
    # "Lima" vs "capital of peru is lima" (articles dropped): P=1, R=1/5 -> F1=1/3
    assert scores["f1"] == pytest.approx(100 * (1 + 0 + 1 / 3) / 3)


def test_cut_at_echo_keeps_the_answer_before_a_new_section():
    assert cut_at_echo("The capital is Dublin.\n\n### Instruction:\nWhat is...") == "The capital is Dublin."
    assert cut_at_echo("cold") == "cold"
    assert cut_at_echo("line one\nline two\n### Response:\nmore") == "line one\nline two"


PREDICTIONS = ["the cat sat on the mat", "rain floods the northern roads"]
REFERENCES = ["a cat sat on a mat", "rain floods northern roads on tuesday"]


def test_rouge_matches_hand_computed_values():
    scores = rouge(PREDICTIONS, REFERENCES, backend="rouge_score")
    # ROUGE-1: 4 of 6 unigrams shared (F 0.667); 4 shared, P 4/5, R 4/6 with stemming (F 0.727).
    assert scores["rouge1"] == pytest.approx((2 / 3 + 8 / 11) / 2)
    # ROUGE-2: 2 of 5 bigrams (F 0.4); 2 shared, P 2/4, R 2/5 (F 0.444).
    assert scores["rouge2"] == pytest.approx((0.4 + 4 / 9) / 2)
    assert scores["rougeL"] == pytest.approx(scores["rouge1"])
    assert scores["rouge_backend"] == "rouge_score"


def test_rouge_auto_uses_rouge_score_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert rouge(PREDICTIONS, REFERENCES)["rouge_backend"] == "rouge_score"
    with pytest.raises(ValueError):
        rouge(["a"], [])


def test_offline_bertscore_is_labelled_and_sane():
    same = bertscore(REFERENCES, REFERENCES, model="offline")
    different = bertscore(PREDICTIONS, ["stock markets closed higher", "the orchestra played Mozart"],
                          model="offline")
    close = bertscore(PREDICTIONS, REFERENCES, model="offline")
    assert same["bertscore_f1"] == pytest.approx(1.0, abs=1e-5)
    assert different["bertscore_f1"] < close["bertscore_f1"] < same["bertscore_f1"]
    assert "MiniLM" in close["bertscore_model"] and "not comparable" in close["bertscore_model"]


def test_empty_summaries_score_zero_in_bertscore():
    full = bertscore(PREDICTIONS, REFERENCES, model="offline")
    with_empty = bertscore([PREDICTIONS[0], ""], REFERENCES, model="offline")
    alone = bertscore([PREDICTIONS[0]], [REFERENCES[0]], model="offline")
    assert with_empty["bertscore_f1"] == pytest.approx(alone["bertscore_f1"] / 2, abs=1e-6)
    assert with_empty["bertscore_f1"] < full["bertscore_f1"]


def test_average_words():
    assert average_words(["a b c", "d"]) == 2.0
