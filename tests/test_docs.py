"""The documentation stays true to the tree: the README's project layout names every module and
package of ``hub/`` and ``bookings/`` and nothing that does not exist, and every relative link in
README.md and docs/*.md reaches a file (and, with ``#anchor``, a heading of it).

Plain text checks, no hub, no database.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PACKAGES = ("hub", "bookings")
LAYOUT_HEADING = "## Project layout"

FENCE = re.compile(r"^(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
# An entry of the layout list starts with its path in backticks: "- `hub/app.py`: ...".
LAYOUT_ENTRY = re.compile(r"^[-*]\s+`([^`]+)`")
# [text](target) and ![alt](target); the target ends at whitespace or ")" (a title may follow).
LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1", re.DOTALL)
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, https:, mailto:, ...


def markdown_files() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def layout_section(text: str) -> list[str]:
    lines = prose_lines(text)
    try:
        start = lines.index(LAYOUT_HEADING)
    except ValueError:
        pytest.fail(f"README.md has no {LAYOUT_HEADING!r} section")
    section = []
    for line in lines[start + 1 :]:
        if re.match(r"^#{1,2}\s", line):
            break
        section.append(line)
    return section


def layout_paths() -> list[str]:
    section = layout_section(README.read_text(encoding="utf-8"))
    return [m[1] for line in section if (m := LAYOUT_ENTRY.match(line))]


def modules_and_packages(package: str) -> list[str]:
    """Each module (other than ``__init__.py``) and each sub-package folder directly in ``package``."""
    found = []
    for child in sorted((ROOT / package).iterdir()):
        if child.is_file() and child.suffix == ".py" and child.name != "__init__.py":
            found.append(f"{package}/{child.name}")
        elif child.is_dir() and child.name != "__pycache__" and any(child.rglob("*.py")):
            found.append(f"{package}/{child.name}/")
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lowercase, punctuation removed, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.replace("`", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)  # \w keeps letters and digits of any script, and "_"
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of every heading of a markdown file; a repeated heading gets -1, -2, ..."""
    seen: dict[str, int] = {}
    found = set()
    for line in prose_lines(path.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match[2])
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def relative_links(path: Path) -> list[str]:
    """Link targets outside code, in order; link text and code spans may run over several lines."""
    text = INLINE_CODE.sub("", "\n".join(prose_lines(path.read_text(encoding="utf-8"))))
    return [t for t in LINK.findall(text) if not EXTERNAL.match(t)]


# Tests of the helpers themselves, so a broken parser cannot make the checks below pass vacuously.


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Quick start", "quick-start"),
        ("`/customer`", "customer"),
        ("`/support` (roles `support` and `admin`)", "support-roles-support-and-admin"),
        ("Missed-message recovery", "missed-message-recovery"),
        ("Scaling out: the event outbox", "scaling-out-the-event-outbox"),
        ("The `Extension` interface", "the-extension-interface"),
        ("HUB_* variables", "hub_-variables"),
    ],
)
def test_slug_follows_github(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_link_parser_skips_code_and_external_links(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        'See [a](a.md), [b](docs/b.md#part "title") and ![c](img/c.png).\n'
        "Not `[d](d.md)`, nor [e](https://example.com/e.md) or [f](mailto:f@example.com).\n"
        "```\n[g](g.md)\n```\n"
        "[h](#local), and [a link\nover two lines](i.md).\n",
        encoding="utf-8",
    )
    assert relative_links(page) == ["a.md", "docs/b.md#part", "img/c.png", "#local", "i.md"]


def test_the_layout_section_is_found_and_parsed() -> None:
    paths = layout_paths()
    assert len(paths) > 20
    assert "hub/app.py" in paths
    assert all(not p.startswith("/") for p in paths)


# The checks.


def test_every_path_in_the_layout_exists() -> None:
    missing = []
    for entry in layout_paths():
        path = ROOT / entry
        if not (path.is_dir() if entry.endswith("/") else path.exists()):
            missing.append(entry)
    assert not missing, f"README.md's project layout names paths that do not exist: {missing}"


@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_and_package_is_in_the_layout(package: str) -> None:
    named = {p if p.endswith("/") or p.endswith(".py") else p + "/" for p in layout_paths()}
    missing = [m for m in modules_and_packages(package) if m not in named]
    assert not missing, f"add these to the project layout in README.md: {missing}"


@pytest.mark.parametrize("page", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target in relative_links(page):
        file_part, _, anchor = target.partition("#")
        destination = (page.parent / file_part).resolve() if file_part else page
        if not destination.exists():
            broken.append(f"{target} (no such file)")
            continue
        if anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{target} (no heading #{anchor} in {destination.relative_to(ROOT)})")
    assert not broken, f"{page.relative_to(ROOT)}: broken links: {broken}"


def test_docs_exist_and_link_back() -> None:
    pages = sorted(DOCS.glob("*.md"))
    assert pages, "docs/ has no pages"
    readme_links = {t.partition("#")[0] for t in relative_links(README)}
    for page in pages:
        assert f"docs/{page.name}" in readme_links, f"README.md does not link to docs/{page.name}"
        assert "../README.md" in {t.partition("#")[0] for t in relative_links(page)}, (
            f"docs/{page.name} does not link back to the README"
        )
