"""The strict book build: `jupyter-book build -n -W --keep-going`, no warnings allowed.

Runs with the smoke profile into _build/smoke (so it never mixes with the book
that `make book` builds). Execution reports are kept under _build/smoke when a
notebook fails.
"""

import json
import re

import pytest
import yaml
from conftest import BUILD_OUT, HTML, ROOT

pytestmark = pytest.mark.book


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
