"""Sphinx extension of the MNIST book: the files the page "Draw a digit" runs, copied into the built site.

The page (``book/draw_a_digit.ipynb``) runs the book's networks in the reader's
browser. When the HTML is written, this extension copies into ``_static/draw``:

* ``models/``: the networks that page exported to ONNX while the build ran it,
  with their ``models.json`` (:func:`mnistlib.web.web_dir` of the build's
  profile);
* ``ort/``: onnxruntime-web's script and WebAssembly files, from
  ``node_modules/onnxruntime-web`` (``package.json`` pins the version; the
  Makefile installs it with ``npm ci`` before a build).

``static/draw/draw_digit.js`` (the canvas, the preprocessing and the bars) is
served with the book's other static files. Nothing is fetched from another
site, so the page works offline and from GitHub Pages. A build whose toc has
the page but that lacks either folder fails, saying why.
"""

import shutil
from pathlib import Path

from sphinx.errors import ExtensionError

ROOT = Path(__file__).resolve().parents[2]
PAGE = "book/draw_a_digit"
ORT = ROOT / "node_modules" / "onnxruntime-web" / "dist"
#: onnxruntime-web's WebAssembly build without WebGPU or WebGL: its script, the module that loads the WebAssembly,
#: and the WebAssembly itself (SIMD; it runs on one thread when the page is not cross-origin isolated).
ORT_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")


def copy_draw_files(app, exception) -> None:
    """Copy the exported networks and onnxruntime-web into ``_static/draw`` of an HTML build that has the page."""
    if exception is not None or app.builder.format != "html" or PAGE not in app.env.found_docs:
        return
    from mnistlib import profiles, web  # the build's own library, as the pages import it

    target = Path(app.outdir) / "_static" / "draw"
    missing = [f for f in ORT_FILES if not (ORT / f).is_file()]
    if missing:
        raise ExtensionError(
            f"book_draw: onnxruntime-web's {', '.join(missing)} are not in {ORT}: run `npm ci` in {ROOT} "
            "(the Makefile's html target does)"
        )
    (target / "ort").mkdir(parents=True, exist_ok=True)
    for name in ORT_FILES:
        shutil.copy2(ORT / name, target / "ort" / name)
    models = web.web_dir(profiles.get_profile().name)
    if not (models / web.MANIFEST).is_file():
        raise ExtensionError(
            f"book_draw: {models / web.MANIFEST} is missing: {PAGE} exports the networks when it runs; "
            "its cached outputs were used without them (remove the build's .jupyter_cache and build again)"
        )
    shutil.rmtree(target / "models", ignore_errors=True)
    shutil.copytree(models, target / "models")


def setup(app):
    app.connect("build-finished", copy_draw_files)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
