"""The PDF edition (`make pdf`), read back with poppler-utils: what a reader who prints the book gets.

Built from the strict smoke build (tests/conftest.py: book_build) with the same `make pdf` a reader runs, into
_build/smoke/_build/html/mnist-book.pdf. Checks: every page of the table of contents is there under its title,
every figure of the single-page HTML is in the PDF as an image with its numbered caption, no raw MyST markup
reached the paper, and no line of text (code, printed output) runs past the right margin, where it would be cut.
"""

import json
import re
import subprocess
from html.parser import HTMLParser

import pytest
import yaml
from conftest import BUILD_OUT, HTML, ROOT

pytestmark = [pytest.mark.book, pytest.mark.timeout(1800)]

PDF = HTML / "mnist-book.pdf"
SINGLE = BUILD_OUT / "_build" / "singlehtml" / "book" / "intro.html"
# A4 is 595 pt wide; book_print.css leaves a 14 mm (39.7 pt) right margin. Text may reach the margin, not the edge.
RIGHT_EDGE_PT = 595.3 - 14 * 72 / 25.4 + 2
# MyST that was not rendered: a role with its backticks, a directive fence. The book's own code quotes the glue
# syntax once per chapter in a comment ({eval}`prose.NAME`), which is code, not markup left over.
RAW_MYST = re.compile(r"\{(eval|numref|ref|term|cite(:[pt])?|glue(:\w+)?|doc|download|math|eq)\}`|^\s*(:::+|```)\{")
QUOTED = "{eval}`prose.NAME`"


@pytest.fixture(scope="module")
def pdf(book_build):
    rc, _ = book_build
    if rc != 0:
        pytest.fail("the strict book build failed (see test_book.py); there is no book to print")
    proc = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "pdf", f"BOOK_OUT={BUILD_OUT}", "MNISTBOOK_PROFILE=smoke"],
        capture_output=True,
        text=True,
        timeout=1500,
    )
    (BUILD_OUT / "pdf.log").write_text(proc.stdout + proc.stderr)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert PDF.is_file()
    return PDF


@pytest.fixture(scope="module")
def text(pdf) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def page_titles() -> list[str]:
    """The title of every page in the table of contents, as the page writes it (its first # heading)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    titles = []
    for page in [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]:
        md, nb = ROOT / f"{page}.md", ROOT / f"{page}.ipynb"
        if md.is_file():
            lines = md.read_text().splitlines()
        else:
            cells = json.loads(nb.read_text())["cells"]
            lines = [line for c in cells if c["cell_type"] == "markdown" for line in "".join(c["source"]).splitlines()]
        titles.append(next(line[2:].strip() for line in lines if line.startswith("# ")))
    return titles


def squash(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


def test_every_page_of_the_book_is_in_the_pdf(text):
    flat = squash(text)
    missing = [t for t in page_titles() if squash(re.sub(r"`|\*", "", t)) not in flat]
    assert missing == [], f"page titles not found in the PDF: {missing}"


class _Figures(HTMLParser):
    def __init__(self):
        super().__init__()
        self.figures = self.images = 0

    def handle_starttag(self, tag, attrs):
        self.figures += tag == "figure"
        self.images += tag == "img"


def test_every_figure_is_in_the_pdf_with_its_number(pdf, text):
    parser = _Figures()
    parser.feed(SINGLE.read_text(encoding="utf-8"))
    listing = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True).stdout
    embedded = [row for row in listing.splitlines()[2:] if row.split()[2] == "image"]
    assert parser.images > 0 and len(embedded) >= parser.images, (
        f"{len(embedded)} images in the PDF, {parser.images} on the page"
    )
    assert len(figure_numbers(text)) >= parser.figures > 0, f"{figure_numbers(text)}: fewer than {parser.figures}"


def site_numbers(kind: str) -> set[str]:
    """The numbers the site gives its figures ("Fig.") or exercises ("Exercise"), every page together."""
    pattern = re.compile(rf'caption-number">{kind} (\d+(?:\.\d+)?)')
    return {
        n
        for page in HTML.rglob("*.html")
        if page.parent.name in {"book", "chapters"}
        for n in pattern.findall(page.read_text(encoding="utf-8"))
    }


def figure_numbers(text: str) -> set[str]:
    return set(re.findall(r"Fig\. (\d+(?:\.\d+)?)", text))


def test_figures_and_exercises_are_numbered_as_on_the_site(text):
    """The PDF is one page, the site many: the numbers must still be the site's (4.1, 4.2, ... per chapter)."""
    assert figure_numbers(text) == site_numbers("Fig.")
    exercises = set(re.findall(r"Exercise (\d+\.\d+)", text))
    assert exercises == site_numbers("Exercise") and exercises
    solutions = set(re.findall(r"Solution to Exercise (\d+\.\d+)", squash(text)))
    assert solutions == exercises, "every exercise's solution is printed (open) in the PDF"


def test_no_raw_myst_markup(text):
    leftovers = [
        squash(line)[:120] for line in text.replace(QUOTED, "").splitlines() if RAW_MYST.search(line) or ":::{" in line
    ]
    assert leftovers == [], f"MyST markup printed as text: {leftovers[:5]}"


def test_no_line_runs_past_the_margin(pdf):
    """Every word lies inside the page's text area: a code line or output that did not wrap would run past it."""
    bbox = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    over = []
    for page_no, page in enumerate(bbox.split("<page ")[1:], start=1):
        for x_max, word in re.findall(
            r'<word xMin="[\d.]+" yMin="[\d.]+" xMax="([\d.]+)" yMax="[\d.]+">([^<]*)</word>', page
        ):
            if float(x_max) > RIGHT_EDGE_PT:
                over.append(f"page {page_no}: {word} (x = {float(x_max):.0f} pt)")
    assert over == [], f"text past the right margin: {over[:10]}"
