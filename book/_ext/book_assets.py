"""Sphinx extension of the MNIST book: pages read in reading order, each script once per page, a favicon.ico.

Sphinx reads (and MyST-NB executes) pages in the order of their names, so
``book/appendix_performance`` would run before ``chapters/01_idx_format``
and find nothing the chapters record. :func:`read_in_toc_order` sorts the
pages to be read into the order of ``_toc.yml``, the order a reader meets
them: a page may then use what the pages before it produced.

Jupyter Book 1.0.4 registers the inline configuration scripts of
sphinx-thebe and sphinx-togglebutton twice (their set-up runs on two events).
Twice-declared ``const THEBE_JS_URL`` is a JavaScript SyntaxError on every
page, which the browser test (tests/test_site.py) reports. This extension
drops exact duplicates from each page's script list before it is rendered.

Browsers also ask for ``/favicon.ico`` whatever a page declares (Chromium does
when it leaves a page before reading its ``<link rel="icon">``), and a 404 is a
console error. The extension writes ``favicon.ico`` beside ``index.html``,
rasterised from the book's ``favicon.svg`` (the one drawing of the icon), so
a book served at a site's root answers that request too.

Last, it adds the book's stylesheet, ``static/book.css``: printed output that
wraps at the page's edge and results tables that fit the page.
"""

import re
import xml.etree.ElementTree as ET
from pathlib import Path

SVG = "{http://www.w3.org/2000/svg}"
ICO_SIZES = (16, 32, 48)


def _key(script):
    """What makes two scripts the same: the file and the attributes (an inline script's body among them)."""
    attributes = getattr(script, "attributes", {}) or {}
    filename = getattr(script, "filename", script) or ""  # an inline script's file is None or "", by who added it
    return str(filename), tuple(sorted((k, str(v)) for k, v in attributes.items()))


def toc_order(site_map) -> list[str]:
    """The docnames of a sphinx-external-toc site map in reading order: depth first from the root."""
    order: list[str] = []

    def walk(docname: str) -> None:
        if docname in order or docname not in site_map:
            return
        order.append(docname)
        for tree in site_map[docname].subtrees:
            for item in tree.items:
                if isinstance(item, str):
                    walk(item)

    walk(site_map.root.docname)
    return order


def read_in_toc_order(app, env, docnames: list[str]) -> None:
    """Reorder ``docnames`` in place (Sphinx's env-before-read-docs): pages of the toc first, in its order."""
    site_map = getattr(app.config, "external_site_map", None)
    if site_map is None:
        return
    rank = {name: i for i, name in enumerate(toc_order(site_map))}
    docnames.sort(key=lambda name: (rank.get(name, len(rank)), name))


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


def _path_points(d: str) -> list[tuple[float, float]]:
    """The vertices of an SVG path made of absolute M, L, H and V commands (all the icon uses)."""
    if re.search(r"[^MLHV\d\s.,-]", d):
        raise ValueError(f"favicon path {d!r}: only absolute M, L, H and V commands are drawn")
    points, x, y = [], 0.0, 0.0
    for command, args in re.findall(r"([MLHV])([^MLHVZz]*)", d):
        numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", args)]
        if command in "ML":
            pairs = list(zip(numbers[::2], numbers[1::2]))
        elif command == "H":
            pairs = [(n, y) for n in numbers]
        else:
            pairs = [(x, n) for n in numbers]
        for x, y in pairs:
            points.append((x, y))
    return points


def render_icon(svg: Path, size: int = 256):
    """Draw the icon's rounded rectangles and stroked paths with Pillow, at ``size`` pixels square."""
    from PIL import Image, ImageDraw

    root = ET.parse(svg).getroot()
    _, _, width, height = (float(v) for v in root.get("viewBox").split())
    scale = size / max(width, height)
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    for element in root.iter():
        if element.tag == SVG + "rect":
            w, h = float(element.get("width")) * scale, float(element.get("height")) * scale
            draw.rounded_rectangle(
                (0, 0, w - 1, h - 1), radius=float(element.get("rx", 0)) * scale, fill=element.get("fill")
            )
        elif element.tag == SVG + "path":
            points = [(px * scale, py * scale) for px, py in _path_points(element.get("d"))]
            stroke = float(element.get("stroke-width", 1)) * scale
            draw.line(points, fill=element.get("stroke"), width=round(stroke), joint="curve")
            r = stroke / 2  # round caps
            for px, py in (points[0], points[-1]):
                draw.ellipse((px - r, py - r, px + r, py + r), fill=element.get("stroke"))
    return image


def write_favicon_ico(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    favicon = app.config.html_favicon
    if not favicon or not str(favicon).endswith(".svg"):
        return
    svg = Path(app.confdir) / favicon
    if not svg.is_file():
        raise FileNotFoundError(f"{svg}: html_favicon names a file that does not exist")
    render_icon(svg).save(Path(app.outdir) / "favicon.ico", sizes=[(s, s) for s in ICO_SIZES])


STATIC = Path(__file__).resolve().parent / "static"


def add_book_css(app):
    """Serve ``static/book.css`` (printed output that wraps, tables that fit the page) on every page."""
    app.config.html_static_path.append(str(STATIC))
    app.add_css_file("book.css")


def setup(app):
    app.connect("builder-inited", add_book_css)
    app.connect("env-before-read-docs", read_in_toc_order)
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    app.connect("build-finished", write_favicon_ico)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
