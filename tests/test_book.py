"""The strict book build: `jupyter-book build -n -W --keep-going`, no warnings allowed.

Runs with the smoke profile into _build/smoke (so it never mixes with the book
that `make book` builds). Execution reports are kept under _build/smoke when a
notebook fails.
"""

import json
import re

import pytest
import yaml
from bs4 import BeautifulSoup
from conftest import BUILD_OUT, HTML, ROOT

from mnistlib import chapters

# The first test builds the book (tests/conftest.py): far longer than the suite's default timeout allows.
pytestmark = [pytest.mark.book, pytest.mark.timeout(1800)]


def test_strict_build_succeeds(book_build):
    rc, log = book_build
    # -W turns every Sphinx warning into a failed build: the exit status is the verdict.
    warnings = [line for line in log.splitlines() if re.search(r": WARNING:|build finished with problems", line)]
    assert rc == 0, "\n".join(warnings) or log[-3000:]


def _toc_chapters():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [c["file"] for part in toc["parts"] for c in part["chapters"]]


def test_every_page_was_built_with_outputs(book_build):
    for page in _toc_chapters():
        html = (HTML / f"{page}.html").read_text()
        assert "Traceback" not in html, page
        if page.startswith("chapters/"):
            assert "profile smoke" in html, f"{page} must print its profile"
            assert "data folder:" in html, f"{page} must print its data provenance"
            assert not re.search(r"glue.*not found|Could not find key", html), page


def test_standin_is_announced_where_qmnist_results_are_shown(book_build):
    from mnistlib import datasets

    html = (HTML / "chapters" / "02_exploring_the_data.html").read_text()
    if datasets.load_qmnist("test").standin:
        assert "QMNIST STAND-IN" in html


def test_citations_resolve(book_build):
    html = (HTML / "book" / "references.html").read_text()
    for needle in ("lecun", "yadav", "cold case", "gradient-based learning"):
        assert needle in html.lower()


def test_no_stderr_reaches_an_executed_page(book_build):
    """TensorFlow's start-up log, warnings, progress bars: nothing a notebook writes to stderr may reach a page."""
    notebooks = [p for p in _toc_chapters() if (ROOT / f"{p}.ipynb").is_file()]
    executed = {p: BUILD_OUT / "_build" / "jupyter_execute" / f"{p}.ipynb" for p in notebooks}
    assert all(path.is_file() for path in executed.values()), "every notebook's executed copy must exist"
    found = [
        f"{page}: {''.join(out['text'])[:300]!r}"
        for page, path in executed.items()
        for cell in json.loads(path.read_text())["cells"]
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream" and out.get("name") == "stderr"
    ]
    assert not found, "\n".join(found)
    assert "mystnb.stderr" not in book_build[1]


ROLE = re.compile(r"\{(glue|numref|cite|doc|ref|term|eval)(:[a-z]+)?\}")
DIRECTIVE_BLOCK = re.compile(r"^\s*\{[a-z][\w:-]*\}")
MATH = re.compile(r"\$\$|(?<![\\\w])\$[^$\s][^$\n]*?\$(?!\w)")


def unrendered_myst(html: str) -> list[str]:
    """What MyST left unrendered in a built page: literal roles, directives shown as code, untypeset math."""
    soup = BeautifulSoup(html, "html.parser")
    article = soup.find("article") or soup.body or soup
    for tag in article.find_all(["script", "style"]):
        tag.decompose()
    found = [
        f"directive shown as code: {pre.get_text()[:60]!r}"
        for pre in article.find_all("pre")
        if DIRECTIVE_BLOCK.match(pre.get_text())
    ]
    blocks = [b for b in article.find_all(["pre", "div"]) if b.name == "pre" or "highlight" in (b.get("class") or [])]
    for block in blocks:
        block.decompose()
    text = article.get_text(" ")  # inline code stays: a role wrapped in backticks renders as code
    found += [f"literal role: {text[max(0, m.start() - 30) : m.end() + 30]!r}" for m in ROLE.finditer(text)]
    for code in article.find_all("code"):
        code.decompose()
    for math in article.select(".math, mjx-container, .MathJax"):
        math.decompose()
    prose = article.get_text(" ")
    found += [f"untypeset math: {prose[max(0, m.start() - 30) : m.end() + 30]!r}" for m in MATH.finditer(prose)]
    return found


def test_prose_numbers_are_pasted_verbatim(book_build):
    """'48,000' glued by prose.NAME must not come out as MyST-NB's literal_eval of it, the tuple (48, 0)."""
    page = HTML / "chapters" / f"{chapters.RESNET_QMNIST}.html"
    text = " ".join(BeautifulSoup(page.read_text(), "html.parser").get_text().split())
    assert "of the 48,000 training digits" in text and "(48, 0)" not in text


def test_unrendered_myst_is_found():
    assert unrendered_myst("<article><p>is <code>{glue:text}</code>best_linear``</p></article>")
    assert unrendered_myst("<article><p>see {numref}`fig-x`</p></article>")
    assert unrendered_myst('<article><div class="highlight"><pre>{note}\nA note</pre></div></article>')
    assert unrendered_myst("<article><p>where $x^2$ grows</p></article>")
    assert unrendered_myst("<article><p>$$ y = x $$</p></article>")
    assert not unrendered_myst(
        "<article><p>set <code>$MNISTLIB_DATA</code>, costs 5 dollars</p>"
        '<span class="math">\\(x\\)</span><pre>print("{x}")</pre></article>'
    )


def test_no_page_shows_unrendered_myst(book_build):
    found = [
        f"{page}: {problem}"
        for page in _toc_chapters()
        for problem in unrendered_myst((HTML / f"{page}.html").read_text())
    ]
    assert not found, "\n".join(found)
