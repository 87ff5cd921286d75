"""The original experiments: one page introduces them, and the chapters name them and link to it.

The book grew out of five published write-ups. The chapters once called them "the seeds" without saying what
they were; now book/original_experiments.md introduces them, and each page's first mention of them links there.
"Seed" still means a random seed (``seed 42``, "the setup cell seeds every generator"), which these tests allow.
"""

import json
import re
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

PAGE = ROOT / "book" / "original_experiments.md"
DOCNAME = "book/original_experiments"
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
APPENDICES = sorted((ROOT / "book").glob("*.ipynb"))
FRONT_MATTER = sorted(p for p in (ROOT / "book").glob("*.md") if p != PAGE)

#: The old name of the write-ups. "seeds the" and "seeds every" are about random generators, and allowed.
OLD_NAME = re.compile(
    r"\bseed\s+notebooks?\b"  # the seed notebook(s)
    r"|\bthe\s+seeds\b(?!\s+(?:the|every)\b)"  # the seeds, the seeds' ...
    r"|\bseeds['’]"  # the seeds' settings
    r"|\bseed['’]s\b",  # the seed's split
    re.IGNORECASE,
)
#: A mention of the write-ups: all of them, or one by its letter.
MENTION = re.compile(r"(?i:\boriginal\s+experiments?\b)|\b[Ee]xperiments?\s+[A-E]\b")
#: A {doc} link (its text and target, or its target alone), or a markdown link to a page's file (the notebooks use
#: these: jupyterlab-myst follows them, where a {doc} link is a 404).
DOC_LINK = re.compile(r"\{doc\}`(?:[^`<]*<([^`>]+)>|([^`<]+))`|\[[^\]]*\]\(([^)\s]+?)(?:\.md|\.ipynb)\)")


def markdown_cells(path: Path) -> list[str]:
    """The markdown of a page in reading order: one string per markdown cell, or the whole .md file."""
    if path.suffix == ".md":
        return [path.read_text(encoding="utf-8")]
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]


def links_to_the_page(text: str, page: Path) -> list[tuple[int, int]]:
    """The spans of the links in `text` (on `page`) whose target is the original experiments' page."""
    spans = []
    for m in DOC_LINK.finditer(text):
        target = (m.group(1) or m.group(2) or m.group(3)).strip()
        resolved = (ROOT / target.lstrip("/")) if target.startswith("/") else (page.parent / target)
        if resolved.resolve() == (ROOT / DOCNAME).resolve():
            spans.append(m.span())
    return spans


def test_the_page_is_in_the_toc_after_how_to_use():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    (getting_started,) = [part for part in toc["parts"] if part["caption"] == "Getting started"]
    files = [c["file"] for c in getting_started["chapters"]]
    assert DOCNAME in files, f"{DOCNAME} is not in _toc.yml's Getting started part: {files}"
    assert files.index(DOCNAME) == files.index("book/how_to_use") + 1, files


def test_the_page_has_its_label_and_title():
    lines = PAGE.read_text(encoding="utf-8").splitlines()
    assert lines[:2] == ["(original-experiments)=", "# The original experiments"], lines[:2]


@pytest.mark.parametrize("page", CHAPTERS + APPENDICES + FRONT_MATTER + [PAGE], ids=lambda p: p.name)
def test_no_page_calls_them_the_seeds_any_more(page):
    offenders = []
    for number, text in enumerate(markdown_cells(page)):
        for m in OLD_NAME.finditer(text):
            line = text[: m.start()].count("\n") + 1
            context = text[max(0, m.start() - 40) : m.end() + 40].replace("\n", " ")
            offenders.append(f"markdown cell {number}, line {line}: {m.group(0)!r} in ...{context}...")
    assert not offenders, f"{page.name} still calls the original experiments the seeds:\n" + "\n".join(offenders)


def test_the_old_name_is_found_and_random_seeds_are_not():
    for old in ("the seed notebooks", "The seeds end", "the seeds' settings", "The seed's split", "the\nseeds did"):
        assert OLD_NAME.search(old), old
    for seed in (
        "`mnistlib.setup` seeds the random",
        "the first cell seeds every random generator",
        "seed 42",
        "two different seeds (each seed",
        "depends only on the seed and the",
        "(seed, *e*)",
        "seed-42",
    ):
        assert not OLD_NAME.search(seed), seed


@pytest.mark.parametrize("page", CHAPTERS + APPENDICES + FRONT_MATTER, ids=lambda p: p.name)
def test_the_first_mention_links_to_the_page(page):
    for number, text in enumerate(markdown_cells(page)):
        mention = MENTION.search(text)
        if mention:
            links = links_to_the_page(text, page)
            assert any(start <= mention.start() < end for start, end in links), (
                f"{page.name}, markdown cell {number}: the first mention of the original experiments, "
                f"{mention.group(0)!r}, is not a link to {DOCNAME} (write it as "
                "[the original experiments](../book/original_experiments.md) in a chapter, {doc} in a .md page)"
            )
            return


def test_the_chapters_do_mention_them():
    """The link check above must not pass because no chapter mentions the original experiments at all."""
    mentioning = [p for p in CHAPTERS if any(MENTION.search(t) for t in markdown_cells(p))]
    assert len(mentioning) >= len(CHAPTERS) // 2, [p.name for p in mentioning]


def test_links_are_recognised():
    chapter, front = ROOT / "chapters" / "x.ipynb", ROOT / "book" / "x.md"
    assert links_to_the_page("{doc}`the original experiments <../book/original_experiments>`", chapter)
    assert links_to_the_page("{doc}`../book/original_experiments`", chapter)
    assert links_to_the_page("{doc}`the original experiments <original_experiments>`", front)
    assert links_to_the_page("{doc}`/book/original_experiments`", chapter)
    assert not links_to_the_page("{doc}`../book/how_to_use`", chapter)
    assert not links_to_the_page("{doc}`the original experiments <original_experiments>`", chapter)
