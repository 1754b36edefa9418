"""Every citation points at something a reader of this repository can follow.

The reference notes on the paper, the ecosystem and the anchors (three Markdown files named
after them, matched by ``NAMES``) live outside the repository, so no file here may cite them:
the paper is cited as arXiv 2601.18681 (or its extended version, arXiv 2607.02137), upstream
facts by repository and path, competing methods by their papers, and anything else through
docs/references.md.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOTS = ("src", "workflow", "tests", "docs", "Snakefile", "Makefile", "config.yaml", "README.md")
NAMES = re.compile(r"\b(?:paper|ecosystem|anchors)\.md\b", re.IGNORECASE)
SKIP_DIRS = {"__pycache__", ".snakemake", ".pytest_cache"}


def _files():
    for root in ROOTS:
        path = REPO / root
        if path.is_file():
            yield path
        elif path.is_dir():
            for p in sorted(path.rglob("*")):
                rel = p.relative_to(REPO).parts
                if any(d in SKIP_DIRS or d.endswith(".egg-info") for d in rel[:-1]):
                    continue  # build outputs, not sources
                if p.is_file() and p != Path(__file__).resolve():
                    yield p


def test_no_citation_of_files_outside_the_repository():
    hits = []
    for path in _files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary data
        for n, line in enumerate(text.splitlines(), 1):
            if NAMES.search(line):
                hits.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert not hits, "citations of files outside the repository:\n" + "\n".join(hits)


def test_cited_sections_of_references_doc_exist():
    doc = REPO / "docs" / "references.md"
    headings = set(re.findall(r"^#{2,4} (\d+(?:\.\d+)*)\.? ", doc.read_text(), re.MULTILINE))
    missing = []
    for path in _files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for n, line in enumerate(text.splitlines(), 1):
            for sec in re.findall(r"references\.md §(\d+(?:\.\d+)*)", line):
                if sec not in headings:
                    missing.append(f"{path.relative_to(REPO)}:{n}: §{sec}")
    assert not missing, "docs/references.md has no such section:\n" + "\n".join(missing)
