"""The README fits a newcomer's screen budget, and every page it links to exists."""

from __future__ import annotations

import re

from helpers.models import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"


def test_the_readme_stays_under_15_kb():
    size = len(README.read_bytes())
    assert size <= 15_000, f"README.md is {size} bytes: move detail to docs/ (see docs/maintaining.md)"


def test_every_local_link_in_the_readme_and_docs_resolves():
    for page in [README, *sorted((PROJECT_ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            assert (page.parent / target).exists(), f"{page.name} links to {target}, which does not exist"
