"""The README and the pages under docs/: every code fence closes, every relative link and anchor resolves.

An unclosed fence turns the rest of a page into code; a link to a moved file or a renamed
heading sends a reader nowhere. Links that leave the repository (``../shared``, the web) are
not checked: tests never need them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def prose_lines(page: Path):
    """(line number, line) outside fenced code blocks; raises on a fence that never closes."""
    fence = None
    for number, line in enumerate(page.read_text().splitlines(), 1):
        stripped = line.lstrip()
        if stripped.startswith("```"):
            if fence is None:
                fence = number
            elif stripped.rstrip() != "```":
                raise AssertionError(f"{page.name}:{number}: a closing fence with text after it does not close")
            else:
                fence = None
            continue
        if fence is None:
            yield number, line
    if fence is not None:
        raise AssertionError(f"{page.name}:{fence}: this code fence never closes")


def github_anchors(page: Path) -> set[str]:
    """The anchors GitHub gives the page's headings (lower case, punctuation dropped, spaces to -)."""
    anchors, seen = set(), {}
    for _, line in prose_lines(page):
        match = re.match(r"#{1,6} (.+)", line)
        if match:
            slug = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
            anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
            seen[slug] = seen.get(slug, 0) + 1
    return anchors


def broken_links(page: Path, root: Path = ROOT) -> list[str]:
    """``"LINE: TARGET (why)"`` for each relative link of ``page`` inside ``root`` that leads nowhere."""
    broken = []
    for number, line in prose_lines(page):
        for target in LINK.findall(line):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            if not resolved.is_relative_to(root):
                continue
            if not resolved.exists():
                broken.append(f"{number}: {target} (no such file)")
            elif anchor and resolved.suffix == ".md" and anchor not in github_anchors(resolved):
                broken.append(f"{number}: {target} (no such heading)")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_fences_close_and_links_resolve(page):
    broken = broken_links(page)
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_checks_see_what_they_are_for(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# A title 0.93\n\n```bash\nls\n``` trailing text\n")
    with pytest.raises(AssertionError, match="closing fence with text"):
        list(prose_lines(page))
    page.write_text("# A title 0.93\n\n```bash\nls\n")
    with pytest.raises(AssertionError, match="never closes"):
        list(prose_lines(page))
    page.write_text("# A title 0.93\n## Twice\n## Twice\n")
    assert github_anchors(page) == {"a-title-093", "twice", "twice-1"}
    (tmp_path / "other.md").write_text("# Other\n")
    page.write_text(
        "# Top\n[ok](other.md#other) [gone](missing.md) [bad anchor](other.md#nope) [self](#top) [web](https://x.org/y)\n"
        "```\n[in code](nowhere.md)\n```\n"
    )
    assert broken_links(page, root=tmp_path) == ["2: missing.md (no such file)", "2: other.md#nope (no such heading)"]
