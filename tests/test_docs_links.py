"""Every relative link in the README and docs/ points at a file that exists, and at a heading it has."""
import os
import re
from collections import Counter
from functools import lru_cache

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = ["README.md"] + sorted(os.path.join("docs", name) for name in os.listdir(os.path.join(REPO, "docs"))
                               if name.endswith(".md"))
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def heading_anchors(markdown):
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces to hyphens, -1, -2 on
    repeats. Headings inside fenced code are not headings."""
    anchors, seen, fenced = set(), Counter(), False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        match = None if fenced else re.match(r"#{1,6} (.+)", line)
        if match:
            slug = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
            anchors.add(slug if not seen[slug] else f"{slug}-{seen[slug]}")
            seen[slug] += 1
    return anchors


def test_heading_anchors_follow_github():
    page = "# Known limits\n## 6. Evidence that takes one machine's stay\n```\n# not a heading\n```\n## Known limits\n"
    assert heading_anchors(page) == {"known-limits", "6-evidence-that-takes-one-machines-stay", "known-limits-1"}


@lru_cache(maxsize=None)
def anchors_of(path):
    """The heading anchors of the page at ``path``, read and parsed once however many links point at it."""
    with open(path) as f:
        return heading_anchors(f.read())


def broken_links(page, root=REPO):
    with open(os.path.join(root, page)) as f:
        text = f.read()
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):  # http(s), mailto: not checked here (no internet)
            continue
        path, _, anchor = target.partition("#")
        linked = os.path.normpath(os.path.join(root, os.path.dirname(page), path)) if path else os.path.join(root, page)
        if not os.path.exists(linked):
            broken.append(f"{target} (no file {os.path.relpath(linked, root)})")
        elif anchor and linked.endswith(".md") and anchor not in anchors_of(linked):
            broken.append(f"{target} (no heading with that anchor)")
    return broken


def test_broken_links_are_found(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A page\n[up](../README.md) [self](#a-page) [gone](#b) [none](b.md)\n")
    (tmp_path / "README.md").write_text("[a](docs/a.md#a-page) [web](https://example.com)\n")
    assert broken_links("docs/a.md", tmp_path) == ["#b (no heading with that anchor)", "b.md (no file docs/b.md)"]
    assert broken_links("README.md", tmp_path) == []


@pytest.mark.parametrize("page", PAGES)
def test_relative_links_resolve(page):
    assert broken_links(page) == []
