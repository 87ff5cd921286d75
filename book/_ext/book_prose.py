"""Sphinx extension of the MNIST book: ``{eval}`prose.NAME``` in the HTML book, from the glued value.

The prose quotes what the code computed with MyST's inline expressions,
``{eval}`prose.NAME```, because JupyterLab renders them (jupyterlab-myst
evaluates the expression in the kernel). MyST-NB evaluates ``{eval}`` only
when it executes notebooks inline; this book executes them through
jupyter-cache, so that an unchanged notebook is not run again. Setting
``prose.NAME`` in a notebook also glues the value under ``NAME``
(``mnistlib.notebook.Prose``); this role pastes that glued text, as
``{glue:text}`NAME``` would, but verbatim: MyST-NB's text role reads the
glued text with ``ast.literal_eval``, which turns "48,000" into the tuple
(48, 0). Any other expression is an error: the HTML book could not show it.
"""

import re

from docutils import nodes
from myst_nb.ext.glue.roles import PasteTextRole
from myst_nb.ext.glue.utils import RetrievalError, glue_warning, retrieve_glue_data

PROSE = re.compile(r"^prose\.([A-Za-z_][A-Za-z0-9_]*)$")


class ProseEvalRole(PasteTextRole):
    """``{eval}`prose.NAME```: the text glued as ``NAME`` by this page's notebook."""

    def run(self):
        match = PROSE.match(self.text.strip())
        if match is None:
            message = f"{{eval}}`{self.text}`: this book's prose quotes prose.NAME only (mnistlib.notebook.Prose)"
            return [], [glue_warning(message, self.document, self.line)]
        key = match.group(1)
        try:
            result = retrieve_glue_data(self.document, key)
        except RetrievalError as exc:
            return [], [glue_warning(f"{{eval}}`prose.{key}`: {exc}", self.document, self.line)]
        text = result.data.get("text/plain")
        if text is None:
            return [], [glue_warning(f"{{eval}}`prose.{key}`: no text/plain glued", self.document, self.line)]
        node = nodes.inline(text, text, classes=["pasted-text"])
        self.set_source_info(node)
        return [node], []


def setup(app):
    app.add_role("eval", ProseEvalRole(), override=True)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
