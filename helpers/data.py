"""JSONL loading with validation, and the data sets bundled in data/ (plus CNN/DailyMail from the hub)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


@dataclass(frozen=True)
class Schema:
    """The fields a record must have: all strings, the target field non-empty."""

    required: tuple[str, ...]
    target: str
    optional: tuple[str, ...] = ()
    allowed: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (field, permitted values) pairs
    checks: tuple[str, ...] = ()  # fields that hold a non-empty list of Python expressions (executable checks)


SCHEMAS: dict[str, Schema] = {
    "python_style": Schema(("instruction", "output"), "output", ("family",), checks=("checks",)),
    "instructions": Schema(("instruction", "input", "output"), "output", ("task",)),
    "news_summaries": Schema(("article", "summary"), "summary", ("id", "topic")),
    "sentiment_reviews": Schema(("sentence", "label"), "label", allowed=(("label", ("positive", "negative")),)),
    "qa_passages": Schema(("context", "question", "answer"), "answer"),
}


class DataValidationError(ValueError):
    """A JSONL file has lines that do not fit its schema; the message names file, line and field."""


def validate_record(record: object, schema: Schema) -> list[str]:
    """Problems with one parsed line, each naming the field; empty when the record is fine."""
    if not isinstance(record, dict):
        return [f"expected a JSON object, got {type(record).__name__}"]
    problems = []
    for field in schema.required:
        if field not in record:
            problems.append(f"field '{field}' is missing")
        elif not isinstance(record[field], str):
            problems.append(f"field '{field}' must be a string, got {type(record[field]).__name__}")
    for field in schema.optional:
        if field in record and not isinstance(record[field], str):
            problems.append(f"field '{field}' must be a string, got {type(record[field]).__name__}")
    target = record.get(schema.target)
    if isinstance(target, str) and not target.strip():
        problems.append(f"field '{schema.target}' is empty")
    for field in schema.checks:
        value = record.get(field)
        if value is None:
            problems.append(f"field '{field}' is missing")
        elif not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
            problems.append(f"field '{field}' must be a non-empty list of strings (Python expressions)")
        else:
            for number, expression in enumerate(value, start=1):
                try:
                    compile(expression, field, "eval")  # compiled only, never run here
                except SyntaxError as error:
                    problems.append(f"field '{field}' item {number} is not a Python expression ({error.msg})")
    for field, permitted in schema.allowed:
        value = record.get(field)
        if isinstance(value, str) and value not in permitted:
            problems.append(f"field '{field}' is {value!r}; expected one of {', '.join(map(repr, permitted))}")
    return problems


def load_jsonl(path: str | Path, schema: Schema, max_errors: int = 20) -> list[dict]:
    """Read and validate every line of a JSONL file; on any problem raise one error listing file:line: field.

    Nothing is returned half-loaded: either every line is valid or the call raises.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    records, errors = [], []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                errors.append(f"{path}:{number}: malformed JSON ({error.msg} at column {error.colno})")
                continue
            problems = validate_record(record, schema)
            errors.extend(f"{path}:{number}: {problem}" for problem in problems)
            if not problems:
                records.append(record)
    if errors:
        shown = "\n  ".join(errors[:max_errors])
        more = f"\n  ... and {len(errors) - max_errors} more" if len(errors) > max_errors else ""
        raise DataValidationError(f"{len(errors)} problem(s) in {path}:\n  {shown}{more}")
    if not records:
        raise DataValidationError(f"{path}: no records")
    return records


def write_splits(splits: dict[str, list[dict]], folder: str | Path) -> None:
    """Write each split's records to <folder>/<split>.jsonl, one JSON object per line (the generators' output)."""
    for split, records in splits.items():
        with (Path(folder) / f"{split}.jsonl").open("w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        print(f"{split}: {len(records)} records")


def load_jsonl_dataset(path: str | Path, schema: Schema | str) -> Dataset:
    """A validated JSONL file as a datasets.Dataset (schema by name or object)."""
    schema = SCHEMAS[schema] if isinstance(schema, str) else schema
    return Dataset.from_list(load_jsonl(path, schema))


def load_bundled(name: str, split: str) -> Dataset:
    """A split (train, validation or test) of a data set in data/, validated."""
    if name not in SCHEMAS:
        raise KeyError(f"Unknown data set '{name}'. Bundled: {', '.join(SCHEMAS)}.")
    return load_jsonl_dataset(DATA_DIR / name / f"{split}.jsonl", SCHEMAS[name])


def load_news_summaries(split: str, source: str = "auto", limit: int | None = None) -> tuple[Dataset, str]:
    """Article/summary pairs and where they came from: CNN/DailyMail 3.0.0 from the hub, or the bundled set.

    source: "auto" (hub when reachable, bundled otherwise), "hub" or "bundled". The hub set's
    `highlights` column is renamed `summary` so both sources share one template.
    """
    if source not in ("auto", "hub", "bundled"):
        raise ValueError(f"source must be 'auto', 'hub' or 'bundled', not {source!r}")
    from helpers.hub import hub_offline

    if source != "bundled" and (source == "hub" or not hub_offline()):
        try:
            from datasets import load_dataset

            hub_split = {"validation": "validation", "test": "test"}.get(split, "train")
            if limit:
                # Streaming reads only the first `limit` records; split="train[:1000]" would download and
                # prepare all 287k training articles (about 1.3 GB) before slicing.
                stream = load_dataset("abisee/cnn_dailymail", "3.0.0", split=hub_split, streaming=True)
                dataset = Dataset.from_list(list(stream.take(limit)))
            else:
                dataset = load_dataset("abisee/cnn_dailymail", "3.0.0", split=hub_split)
            dataset = dataset.rename_column("highlights", "summary").select_columns(["id", "article", "summary"])
            print(f"News data: CNN/DailyMail 3.0.0 from the hub, {split} split, {len(dataset)} examples.")
            return dataset, "cnn_dailymail-3.0.0"
        except Exception as error:  # any hub or network failure falls back below
            if source == "hub":
                raise RuntimeError(f"CNN/DailyMail could not be loaded from the hub: {error}") from error
            reason = str(error).splitlines()[0][:120] if str(error) else type(error).__name__
            print(f"News data: the hub is unreachable ({reason}); falling back to the bundled set.")
    dataset = load_bundled("news_summaries", split)
    if limit:
        dataset = dataset.select(range(min(limit, len(dataset))))
    print(f"News data: bundled data/news_summaries, {split} split, {len(dataset)} examples.")
    return dataset, "bundled-news_summaries"
