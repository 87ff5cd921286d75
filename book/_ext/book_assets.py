"""Sphinx extension of the MNIST book: each script once per page.

Jupyter Book 1.0.4 registers the inline configuration scripts of
sphinx-thebe and sphinx-togglebutton twice (their set-up runs on two events).
Twice-declared ``const THEBE_JS_URL`` is a JavaScript SyntaxError on every
page, which the browser test (tests/test_site.py) reports. This extension
drops exact duplicates from each page's script list before it is rendered.
"""


def _key(script):
    """What makes two scripts the same: the file and the attributes (an inline script's body among them)."""
    attributes = getattr(script, "attributes", {}) or {}
    filename = getattr(script, "filename", script) or ""  # an inline script's file is None or "", by who added it
    return str(filename), tuple(sorted((k, str(v)) for k, v in attributes.items()))


def drop_duplicate_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        key = _key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
