"""Bundled data sets, their generators, and validation of bad JSONL files."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from helpers.data import DATA_DIR, SCHEMAS, DataValidationError, load_bundled, load_jsonl, load_news_summaries

SIZES = {  # split -> minimum size, as the course promises
    "python_style": {"train": 300, "validation": 40, "test": 40},
    "instructions": {"train": 180, "validation": 20},
    "news_summaries": {"train": 200, "validation": 20, "test": 50},
}


@pytest.mark.parametrize("name", sorted(SIZES))
def test_bundled_sets_load_and_are_large_enough(name):
    total = 0
    for split, minimum in SIZES[name].items():
        data = load_bundled(name, split)
        assert len(data) >= minimum, f"{name}/{split}"
        total += len(data)
    assert (DATA_DIR / name / "README.md").exists(), "every data set has a data card"
    if name == "python_style":
        assert total >= 400


def _generator(name):
    path = DATA_DIR / name / "generate.py"
    spec = importlib.util.spec_from_file_location(f"generate_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", sorted(SIZES))
def test_generators_are_deterministic_and_match_the_committed_files(name):
    splits = _generator(name).generate()
    for split, records in splits.items():
        committed = [json.loads(line) for line in (DATA_DIR / name / f"{split}.jsonl").open(encoding="utf-8")]
        assert records == committed, f"{name}/{split}.jsonl is stale: rerun data/{name}/generate.py"


def test_python_style_test_families_are_unseen_in_training():
    families = {split: set(load_bundled("python_style", split)["family"]) for split in ("train", "validation", "test")}
    assert not families["test"] & families["train"]
    assert not families["validation"] & families["train"]
    train_requests = set(load_bundled("python_style", "train")["instruction"])
    assert not train_requests & set(load_bundled("python_style", "test")["instruction"])


def test_python_style_answers_run():
    """Spot-check that the reference answers are correct code, not just well-formed."""
    namespace = {}
    for record in load_bundled("python_style", "train"):
        code = record["output"].removeprefix("```python\n").removesuffix("\n```")
        exec(code, namespace)  # noqa: S102 - our own generated data
    for record in load_bundled("python_style", "test"):
        exec(record["output"].removeprefix("```python\n").removesuffix("\n```"), namespace)  # noqa: S102
    assert namespace["factorial"](5) == 120
    assert namespace["fibonacci"](10) == 55
    assert namespace["is_prime"](97) and not namespace["is_prime"](91)
    assert namespace["format_duration"](3725) == "1:02:05"
    assert namespace["remove_duplicates"]([3, 1, 3, 2, 1]) == [3, 1, 2]
    assert namespace["chunks_of_2"]([1, 2, 3]) == [[1, 2], [3]]
    assert namespace["to_snake_case"]("Hello Big World") == "hello_big_world"
    assert namespace["is_leap_year"](2000) and not namespace["is_leap_year"](1900)


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = json.dumps({"instruction": "Say hi", "input": "", "output": "Hi"})


@pytest.mark.parametrize(
    ("bad_line", "expected"),
    [
        ('{"instruction": "x", "input": "", "output": "y"', "malformed JSON"),
        (json.dumps({"instruction": "x", "input": ""}), "field 'output' is missing"),
        (json.dumps({"instruction": 3, "input": "", "output": "y"}), "field 'instruction' must be a string, got int"),
        (json.dumps({"instruction": "x", "input": "", "output": "   "}), "field 'output' is empty"),
        (json.dumps(["not", "an", "object"]), "expected a JSON object, got list"),
    ],
)
def test_bad_lines_raise_one_error_naming_file_line_and_field(tmp_path, bad_line, expected):
    path = _write(tmp_path, [GOOD, GOOD, bad_line, GOOD])
    with pytest.raises(DataValidationError) as caught:
        load_jsonl(path, SCHEMAS["instructions"])
    message = str(caught.value)
    assert f"{path}:3: {expected}" in message


def test_every_bad_line_is_reported_and_nothing_is_half_loaded(tmp_path):
    path = _write(tmp_path, [GOOD, "{oops", GOOD, json.dumps({"instruction": "x", "input": "", "output": ""})])
    with pytest.raises(DataValidationError) as caught:
        load_jsonl(path, SCHEMAS["instructions"])
    assert ":2: malformed JSON" in str(caught.value) and ":4: field 'output' is empty" in str(caught.value)
    assert "2 problem(s)" in str(caught.value)


def test_blank_lines_are_skipped_and_missing_files_named(tmp_path):
    path = _write(tmp_path, [GOOD, "", GOOD])
    assert len(load_jsonl(path, SCHEMAS["instructions"])) == 2
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        load_jsonl(tmp_path / "nope.jsonl", SCHEMAS["instructions"])


def test_news_loader_falls_back_to_the_bundled_set_and_says_so(monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data, source = load_news_summaries("test", limit=5)
    assert source == "bundled-news_summaries" and len(data) == 5
    assert "bundled" in capsys.readouterr().out
    assert set(data.column_names) >= {"article", "summary"}


def test_news_loader_rejects_unknown_sources():
    with pytest.raises(ValueError, match="source"):
        load_news_summaries("test", source="somewhere")
