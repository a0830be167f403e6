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
    "sentiment_reviews": {"train": 200, "validation": 40, "test": 60},
    "qa_passages": {"train": 200, "validation": 40, "test": 60},
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


def test_sentiment_labels_are_balanced_and_splits_disjoint():
    sentences = {}
    for split in ("train", "validation", "test"):
        data = load_bundled("sentiment_reviews", split)
        assert data["label"].count("positive") == data["label"].count("negative") == len(data) // 2
        sentences[split] = set(data["sentence"])
    assert not sentences["test"] & sentences["train"]
    assert not sentences["validation"] & sentences["train"]
    train = load_bundled("sentiment_reviews", "train")
    assert any(", but " in s for s in train["sentence"]) and any(" not " in s for s in train["sentence"])


def test_sentiment_labels_follow_contrast_and_negation():
    """Spot-check the labelling rule on sentences built by hand with the generator's words."""
    module = _generator("sentiment_reviews")
    for record in load_bundled("sentiment_reviews", "train"):
        last_clause = record["sentence"].rstrip(".").split(", but ")[-1]
        adjective = last_clause.split()[-1]
        positive = adjective in module.POSITIVE
        if " not " in f" {last_clause} ":
            positive = not positive
        assert record["label"] == ("positive" if positive else "negative"), record


def test_qa_answers_are_spans_and_test_passages_unseen():
    contexts = {}
    for split in ("train", "validation", "test"):
        data = load_bundled("qa_passages", split)
        for record in data:
            assert record["answer"] in record["context"], record
        contexts[split] = set(data["context"])
    assert not contexts["test"] & contexts["train"]
    assert not contexts["validation"] & contexts["train"]


def test_a_label_outside_the_allowed_values_is_named(tmp_path):
    path = tmp_path / "reviews.jsonl"
    path.write_text('{"sentence": "Fine.", "label": "positive"}\n{"sentence": "Meh.", "label": "neutral"}\n')
    with pytest.raises(DataValidationError) as raised:
        load_jsonl(path, SCHEMAS["sentiment_reviews"])
    assert f"{path}:2: field 'label' is 'neutral'; expected one of 'positive', 'negative'" in str(raised.value)


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


def test_python_style_checks_are_validated_naming_file_line_and_field(tmp_path):
    import json

    from helpers.data import SCHEMAS, DataValidationError, load_jsonl

    good = {"instruction": "Write f.", "output": "```python\ndef f() -> int:\n    return 1\n```", "checks": ["f() == 1"]}
    lines = [good, {**good, "checks": []}, {**good, "checks": ["f( == 1"]}, {k: v for k, v in good.items() if k != "checks"}]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    with pytest.raises(DataValidationError) as caught:
        load_jsonl(path, SCHEMAS["python_style"])
    message = str(caught.value)
    assert f"{path}:2" in message and "non-empty list" in message
    assert f"{path}:3" in message and "item 1 is not a Python expression" in message
    assert f"{path}:4" in message and "field 'checks' is missing" in message
    assert f"{path}:1" not in message


def test_news_loader_streams_only_the_records_it_needs_from_the_hub(monkeypatch, capsys):
    """With a limit, CNN/DailyMail is streamed and cut after `limit` records, never prepared whole."""
    import datasets

    read = []
    calls = []

    def rows():
        for index in range(10_000):
            read.append(index)
            yield {"id": str(index), "article": f"Article {index}.", "highlights": f"Summary {index}."}

    def fake_load_dataset(path, name, split, streaming=False):
        calls.append({"path": path, "name": name, "split": split, "streaming": streaming})
        if not streaming:
            raise AssertionError("a limited load must stream")
        return datasets.IterableDataset.from_generator(rows)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    monkeypatch.setattr("helpers.hub.hub_offline", lambda: False)
    data, source = load_news_summaries("train", limit=3)
    assert calls == [{"path": "abisee/cnn_dailymail", "name": "3.0.0", "split": "train", "streaming": True}]
    assert source == "cnn_dailymail-3.0.0" and data["summary"] == ["Summary 0.", "Summary 1.", "Summary 2."]
    assert data.column_names == ["id", "article", "summary"]
    assert len(read) <= 4, f"read {len(read)} records for a limit of 3"
    assert "from the hub, train split, 3 examples" in capsys.readouterr().out
