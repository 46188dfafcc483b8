"""docs/promises.md and the trust tests match one to one: every promise names tests that exist, every trust
test backs a promise, and the README's copy of the list is the same list."""

from __future__ import annotations

import ast
import re

import yaml

from tests.conftest import REPO

DOC = REPO / "docs" / "promises.md"
TRUST_FILES = [*sorted((REPO / "tests" / "trust").glob("test_*.py")), REPO / "tests" / "bad_inputs" / "test_corpus.py"]
TEST_NAME = re.compile(r"`(test_\w+)`|\[(test_\w+)\]")
CASE_ID = re.compile(r"`([a-z0-9_]+)`")


def promises(text: str) -> list[str]:
    """The numbered items of a promise list, each joined into one line."""
    start = text.find("\n1. **")
    if start < 0:
        return []
    return [" ".join(item.split()) for item in re.split(r"\n(?=\d+\. \*\*)", text[start + 1:])]


def defined_tests() -> dict[str, set[str]]:
    """Test function name -> the files (relative to the repository) that define it."""
    found: dict[str, set[str]] = {}
    for path in TRUST_FILES:
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                found.setdefault(node.name, set()).add(str(path.relative_to(REPO)))
    return found


def test_every_promise_names_tests_that_exist_in_the_files_it_links():
    tests = defined_tests()
    items = promises(DOC.read_text(encoding="utf-8"))
    assert len(items) >= 10
    for item in items:
        files = set(re.findall(r"\]\(/(tests/[\w/]+\.py)\)", item))
        names = {a or b for a, b in TEST_NAME.findall(item)}
        assert names, f"a promise without a test: {item[:60]}"
        for name in names:
            assert name in tests, f"{name} is named in docs/promises.md but defined nowhere"
            assert tests[name] & files, f"{name} is not in the files its promise links: {sorted(files)}"


def test_every_trust_test_backs_a_promise():
    text = DOC.read_text(encoding="utf-8")
    named = {a or b for a, b in TEST_NAME.findall(text)}
    own = {"test_every_promise_names_tests_that_exist_in_the_files_it_links", "test_every_trust_test_backs_a_promise",
           "test_corpus_cases_named_in_the_promises_exist", "test_the_readme_lists_the_same_promises"}
    assert set(defined_tests()) - own - named == set()


def test_corpus_cases_named_in_the_promises_exist():
    cases = {case["id"] for case in yaml.safe_load((REPO / "tests/bad_inputs/cases.yaml").read_text(encoding="utf-8"))}
    text = " ".join(DOC.read_text(encoding="utf-8").split())
    named = {m for m in re.findall(r"corpus cases? ((?:`\w+`(?:,? (?:and )?)?)+)", text) for m in CASE_ID.findall(m)}
    named |= set(re.findall(r"case `(\w+)`", text))
    assert named and named <= cases, sorted(named - cases)


def test_the_readme_lists_the_same_promises():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    heading = re.search(r"^## What themebt promises\s*$", readme, re.M)
    if heading is None:
        return  # the README gains the section by pasting docs/promises.md; until then the doc is the list
    section = readme[heading.end():].split("\n## ", 1)[0]
    ours = [re.sub(r"\]\(/", "](", item) for item in promises(DOC.read_text(encoding="utf-8"))]
    theirs = [re.sub(r"\]\(/", "](", item) for item in promises(section)]
    assert theirs == ours
