"""The documentation stays true to the code: the configuration page is the settings model, every
relative link and anchor resolves, SECURITY.md names only tests that exist and covers every
finding of the reviews, docs/sets.md lists the catalog as it is, and the pages speak of the hub,
not of the work that made it."""

from __future__ import annotations

import ast
import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from hub.config import Settings, flag
from hub.config.reference import render
from set_tokens import Catalog

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CONFIGURATION = DOCS / "configuration.md"
SECURITY = ROOT / "SECURITY.md"
PAGES = sorted(
    [ROOT / "README.md", SECURITY, ROOT / "conformance" / "README.md", *DOCS.glob("*.md")]
)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
NAMED_TEST = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")
NAMED_FILE = re.compile(r"`(tests/[\w/]+\.py)`")
# Findings of /work/shared/findings: the security review's, and the code review's top ten.
SECURITY_FINDINGS = (
    "H1", "H2", *(f"M{n}" for n in range(1, 9)), *(f"L{n}" for n in range(1, 10)),
    *(f"I{n}" for n in range(1, 8)),
)
CODE_REVIEW_ISSUES = tuple(range(1, 11))


def page_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


def without_blocks(text: str) -> str:
    """The text outside fenced code blocks (a `#` line there is a shell comment)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.DOTALL | re.MULTILINE)


def without_code(text: str) -> str:
    """The text outside fenced blocks and inline code spans: links there are examples."""
    return re.sub(r"`[^`\n]*`", "", without_blocks(text))


@cache
def anchors(path: Path) -> frozenset[str]:
    """The anchors GitHub makes for a page's headings: lowercased, punctuation dropped, spaces
    as hyphens, a repeated heading numbered -1, -2, ..."""
    seen: Counter[str] = Counter()
    found = set()
    for line in without_blocks(path.read_text()).splitlines():
        heading = re.match(r"#{1,6} (.+)", line)
        if heading is None:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
        found.add(f"{slug}-{seen[slug]}" if seen[slug] else slug)
        seen[slug] += 1
    return frozenset(found)


def test_the_configuration_page_is_generated_from_the_settings_model() -> None:
    for name in Settings.model_fields:
        assert f"| `{flag(name)}` | `SETHUB_{name.upper()}` |" in CONFIGURATION.read_text(), name
    assert CONFIGURATION.read_text() == render(), (
        "docs/configuration.md differs from the settings model: run"
        " `python -m hub.config.reference > docs/configuration.md`"
    )


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    for target in LINK.findall(without_code(page.read_text())):
        if re.match(r"[a-z]+:", target):  # https:, mailto:: not checked offline
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page_id(page)}: {target} does not exist"
        assert linked.is_relative_to(ROOT), f"{page_id(page)}: {target} leaves the repository"
        if anchor:
            assert linked.suffix == ".md", f"{page_id(page)}: {target}: an anchor in a non-page"
            assert anchor in anchors(linked), f"{page_id(page)}: no heading for {target}"


def test_anchors_follow_githubs_rules() -> None:
    """The slug rules the link test relies on, on headings of this repository's kind."""
    page = ROOT / "README.md"
    assert "quickstart-see-a-signed-identity-event-arrive" in anchors(page)
    assert "receivers-the-set_tokens-library" in anchors(page)


@cache
def defined_tests(path: str) -> frozenset[str]:
    tree = ast.parse((ROOT / path).read_text())
    return frozenset(
        node.name for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")
    )


def test_security_names_only_tests_that_exist() -> None:
    text = SECURITY.read_text()
    named = NAMED_TEST.findall(text)
    assert len(named) >= 40, "SECURITY.md states each guarantee with the test that checks it"
    for path, name in named:
        assert (ROOT / path).is_file(), f"SECURITY.md names {path}, which does not exist"
        assert name in defined_tests(path), f"SECURITY.md names {path}::{name}: no such test"
    for path in NAMED_FILE.findall(text):
        assert (ROOT / path).is_file(), f"SECURITY.md names {path}, which does not exist"


def test_security_answers_every_finding_of_the_reviews() -> None:
    """Each finding has its row in the table at the end, pointing at a section that names tests."""
    text = SECURITY.read_text()
    table = text.split("\n## Findings and where they are checked\n", 1)[1]
    rows = {row.split("|")[1].strip(): row for row in table.splitlines() if row.startswith("| ")}
    expected = [*SECURITY_FINDINGS, *(f"code review {n}" for n in CODE_REVIEW_ISSUES)]
    for finding in expected:
        assert finding in rows, f"SECURITY.md has no row for {finding}"
        sections = re.findall(r"\]\(#([\w-]+)\)", rows[finding])
        assert sections, f"the row of {finding} links to no section"
        for anchor in sections:
            assert anchor in anchors(SECURITY), f"{finding}: no section {anchor}"


def test_the_catalog_table_of_docs_sets_is_the_catalog() -> None:
    """One row per topic in docs/sets.md: its event names, as the catalog has them."""
    rows: dict[str, set[str]] = {}
    catalog = (DOCS / "sets.md").read_text().split("\n## The event catalog\n", 1)[1]
    for line in catalog.split("\n## ", 1)[0].splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 2:
            rows[cells[0].strip("`")] = set(re.findall(r"`([^`]+)`", cells[1]))
    expected = {topic: {e.name for e in entries} for topic, entries in Catalog().topics().items()}
    assert rows == expected


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_pages_speak_of_the_hub_not_of_sessions(page: Path) -> None:
    """Measurements are dated; the pages never say "this session" or "the previous engineer"."""
    text = page.read_text().lower()
    for phrase in ("this session", "last session", "earlier session", "previous session",
                   "previous engineer"):
        assert phrase not in text, f"{page_id(page)} says {phrase!r}"
