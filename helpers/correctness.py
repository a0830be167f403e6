"""Does the generated code work? Pass rate of answers against their records' checks, with a Wilson interval.

Style adherence (helpers.metrics) says whether an answer looks right; this says whether it runs and returns
the right results. Every python_style record carries `checks`: calls with the results its reference answer
gives. An answer passes when its code, run in the sandbox (helpers.sandbox, never in this process), makes
every check true. Most requests do not name the function, so the checks call it by the reference answer's
name (its entry point) and an answer's single function under another name is checked under that name.
"""

from __future__ import annotations

import math
import re

from helpers.metrics import extract_code
from helpers.sandbox import run_answers


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval (95% by default) for a proportion, as fractions; (0, 1) when n is 0."""
    if n == 0:
        return 0.0, 1.0
    share = successes / n
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def format_rate(successes: int, n: int) -> str:
    """'62.5% (10/16, 95% CI 38.6-81.5%)': the share, the counts and the interval, always together."""
    low, high = wilson_interval(successes, n)
    share = 100 * successes / n if n else 0.0
    return f"{share:.1f}% ({successes}/{n}, 95% CI {100 * low:.1f}-{100 * high:.1f}%)"


def entry_point(record: dict) -> str | None:
    """The name of the function a record's checks call: its `entry_point`, else the one its reference defines."""
    if record.get("entry_point"):
        return record["entry_point"]
    match = re.search(r"^def (\w+)", record.get("output", ""), re.MULTILINE)
    return match.group(1) if match else None


def pass_rate(answers: list[str], records: list[dict], *, workers: int = 4, timeout: float = 5.0) -> dict:
    """Run each answer's code against its record's checks in the sandbox; the share that passes, with n and CI."""
    if len(answers) != len(records):
        raise ValueError(f"{len(answers)} answers for {len(records)} records")
    missing = [index for index, record in enumerate(records) if not record.get("checks")]
    if missing:
        raise ValueError(f"records {missing[:5]} have no 'checks' field: pass rate needs the data's checks")
    jobs = [(extract_code(answer)[0], record["checks"], entry_point(record)) for answer, record in zip(answers, records)]
    results = run_answers(jobs, workers=workers, timeout=timeout)
    passed = sum(result.passed for result in results)
    low, high = wilson_interval(passed, len(results))
    return {"n": len(results), "passed": passed, "pass_rate": passed / len(results) if results else 0.0,
            "interval": [low, high], "outcomes": [result.outcome for result in results],
            "details": [result.detail for result in results], "text": format_rate(passed, len(results))}


def mcnemar_exact(fixed: int, broken: int) -> float:
    """McNemar's exact test for two models on the same items: the two-sided p-value of the discordant counts.

    Only the items where the models disagree carry information: `fixed` (the second passes, the first fails)
    and `broken` (the other way). If neither model were better, each discordant item would fall either way
    with probability 1/2, so the smaller count follows Binomial(fixed + broken, 1/2); p is twice its lower
    tail, capped at 1. With no discordant item p is 1.
    """
    if fixed < 0 or broken < 0:
        raise ValueError(f"counts must be non-negative, not fixed={fixed}, broken={broken}")
    n = fixed + broken
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(fixed, broken) + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_comparison(before: list[str], after: list[str]) -> dict:
    """Two models' sandbox outcomes on the same requests: fixed, broken, both, neither, and McNemar's exact p."""
    if len(before) != len(after):
        raise ValueError(f"{len(before)} outcomes against {len(after)}: a paired test needs the same requests")
    fixed = sum(b != "pass" and a == "pass" for b, a in zip(before, after))
    broken = sum(b == "pass" and a != "pass" for b, a in zip(before, after))
    both = sum(b == "pass" and a == "pass" for b, a in zip(before, after))
    p = mcnemar_exact(fixed, broken)
    return {"n": len(before), "fixed": fixed, "broken": broken, "both_pass": both,
            "neither": len(before) - fixed - broken - both, "p_value": p,
            "text": f"{fixed} fixed / {broken} broken (n={len(before)}, McNemar exact p={p:.3g})"}


def changed_verdicts(records: list[dict], before: dict, after: dict) -> list[dict]:
    """The requests whose sandbox verdict changed between two scorings of the same records (each a dict with
    "outcomes" and "answers", as score_answers returns it): one row per request, fixed or broken, with both answers.
    """
    lengths = {len(records), len(before["outcomes"]), len(after["outcomes"]), len(before["answers"]),
               len(after["answers"])}
    if len(lengths) != 1:
        raise ValueError("records, outcomes and answers must have the same length: the same requests, in order")
    rows = []
    for record, was, now, old, new in zip(records, before["outcomes"], after["outcomes"], before["answers"],
                                          after["answers"]):
        if (was == "pass") != (now == "pass"):
            rows.append({"request": record["instruction"], "change": "fixed" if now == "pass" else "broken",
                         "before": f"[{was}] {old}", "after": f"[{now}] {new}"})
    return rows
