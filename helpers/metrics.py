"""Task metrics: python_style adherence; ROUGE and BERTScore for summaries."""

from __future__ import annotations

import ast
import re
from dataclasses import asdict, dataclass

FENCE = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)(?:\n```|$)", re.DOTALL)
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
