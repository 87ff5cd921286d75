"""Sphinx extension of the MNIST book: the single-page HTML that `make pdf` prints to PDF (tools/make_pdf.py).

Jupyter Book's ``singlehtml`` builder writes the whole book as one page, which
headless Chromium prints. Two things stand in its way, and this extension
removes them:

- sphinx-jupyterbook-latex (loaded by Jupyter Book for every builder) inserts
  hidden nodes next to each table of contents and registers how to skip them
  for the ``html`` builder only; Sphinx looks handlers up by builder name, so
  ``singlehtml`` stopped with "unknown node type: HiddenCellNode" (and myst-nb's
  ``HideCodeCellNode``, the collapsed checks). Every ``html`` handler is copied to ``singlehtml``.
- The stylesheet ``static/book_print.css`` (added to every page: it applies
  only to print) lays the page out for paper: no sidebars or buttons, code
  that wraps at the margin instead of being cut, every solution open below its
  exercise, figures kept whole on a page.
"""

from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"


def copy_html_handlers_to_singlehtml(app):
    if app.builder.name != "singlehtml":
        return
    handlers = app.registry.translation_handlers
    html = handlers.get("html", {})
    single = handlers.setdefault("singlehtml", {})
    for name, pair in html.items():  # HiddenCellNode, myst-nb's HideCodeCellNode (the book's checks), ...
        single.setdefault(name, pair)


def add_print_css(app):
    if str(STATIC) not in app.config.html_static_path:
        app.config.html_static_path.append(str(STATIC))
    app.add_css_file("book_print.css", media="print")


def setup(app):
    app.connect("builder-inited", copy_html_handlers_to_singlehtml)
    app.connect("builder-inited", add_print_css)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
