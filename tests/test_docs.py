"""The documentation matches the code, and every page can be reached and has no dead link."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import docs_gen  # noqa: E402

README_MAX_LINES = 120
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def links(page: Path) -> list[str]:
    """The targets of the page's Markdown links and images, outside code."""
    text = _INLINE_CODE.sub("", _FENCE.sub("", page.read_text(encoding="utf-8")))
    return _LINK.findall(text)


def anchors(page: Path) -> set[str]:
    """GitHub's anchors for the page's headings."""
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    found = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", text, re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
        found.add(slug.replace(" ", "-"))
    return found


def test_generated_pages_match_the_code():
    """docs/cli.md and docs/configuration.md hold what `make docs` writes from the code."""
    result = subprocess.run(
        [sys.executable, "-m", "cogapp", "--check", "--diff", "-I", ".", "-I", "scripts"]
        + list(docs_gen.DOCS),
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, (
        "docs/cli.md or docs/configuration.md no longer match the code: run `make docs` "
        f"and commit the result.\n{result.stdout}{result.stderr}"
    )


def test_every_setting_has_help():
    missing = [doc.name for doc in docs_gen.setting_docs() if not doc.help]
    assert not missing, (
        f"Settings field(s) {missing} have no help: add a `name: help` line to the Settings "
        "docstring in rag/config.py, then run `make docs`."
    )
    unknown = set(docs_gen.settings_help()) - {doc.name for doc in docs_gen.setting_docs()}
    assert not unknown, f"The Settings docstring describes fields that do not exist: {unknown}"


def test_every_rag_variable_is_documented():
    """Each `RAG_*` name the code reads appears in docs/configuration.md."""
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    sources = [*(ROOT / "rag").rglob("*.py"), *(ROOT / "ui").rglob("*.py")]
    names = set()
    for path in sources:
        names |= set(re.findall(r"[\"'](RAG_[A-Z0-9_]*[A-Z0-9])[\"']", path.read_text("utf-8")))
    assert names, "no RAG_ variable found in the code: the pattern above is wrong"
    missing = sorted(name for name in names if f"`{name}`" not in page)
    assert not missing, f"{missing}: add them to docs/configuration.md, Other environment variables"


def test_no_dead_relative_link():
    dead = []
    for page in pages():
        for target in links(page):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            if not resolved.exists():
                dead.append(f"{page.relative_to(ROOT)}: {target}")
            elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
                dead.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert not dead, "dead links:\n" + "\n".join(dead)


def test_every_docs_page_is_reached_from_the_readme():
    """A reader who starts at the README can follow links to every page under docs/."""
    reached, todo = set(), [ROOT / "README.md"]
    while todo:
        page = todo.pop()
        if page in reached:
            continue
        reached.add(page)
        for target in links(page):
            path = target.partition("#")[0]
            if path.endswith(".md") and not re.match(r"^[a-z]+:", path):
                resolved = (page.parent / path).resolve()
                if resolved.exists():
                    todo.append(resolved)
    orphans = [str(p.relative_to(ROOT)) for p in pages() if p not in reached]
    assert not orphans, f"pages no link leads to (link them from the README or a page): {orphans}"


def test_readme_stays_a_front_door():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines (at most {README_MAX_LINES}): move details to docs/"
    )
    assert lines[0].startswith("# ")
    notebook = re.compile(r"\b(tried|not kept|reverted)\b", re.IGNORECASE)
    history = [line for line in lines if notebook.search(line)]
    assert not history, f"experiment history belongs in docs/lab/ or docs/decisions/: {history}"
