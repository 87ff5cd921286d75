"""Sphinx extension of the MNIST book: ``{eval}`prose.NAME``` in the HTML book, from the glued value.

The prose quotes what the code computed with MyST's inline expressions,
``{eval}`prose.NAME```, because JupyterLab renders them (jupyterlab-myst
evaluates the expression in the kernel). MyST-NB evaluates ``{eval}`` only
when it executes notebooks inline; this book executes them through
jupyter-cache, so that an unchanged notebook is not run again. Setting
``prose.NAME`` in a notebook also glues the value under ``NAME``
(``mnistlib.notebook.Prose``); this role pastes that glued text, as
``{glue:text}`NAME``` would. Any other expression is an error: the HTML book
could not show it.
"""

import re

from myst_nb.ext.glue.roles import PasteTextRole
from myst_nb.ext.glue.utils import glue_warning

PROSE = re.compile(r"^prose\.([A-Za-z_][A-Za-z0-9_]*)$")


class ProseEvalRole(PasteTextRole):
    """``{eval}`prose.NAME```: the text glued as ``NAME`` by this page's notebook."""

    def run(self):
        match = PROSE.match(self.text.strip())
        if match is None:
            message = f"{{eval}}`{self.text}`: this book's prose quotes prose.NAME only (mnistlib.notebook.Prose)"
            return [], [glue_warning(message, self.document, self.line)]
        self.text = match.group(1)
        return super().run()


def setup(app):
    app.add_role("eval", ProseEvalRole(), override=True)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
