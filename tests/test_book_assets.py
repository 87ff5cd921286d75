"""The book's Sphinx extension (book/_ext/book_assets.py), without building the book."""

import importlib.util
from types import SimpleNamespace

import pytest
from conftest import ROOT

spec = importlib.util.spec_from_file_location("book_assets", ROOT / "book" / "_ext" / "book_assets.py")
book_assets = importlib.util.module_from_spec(spec)
spec.loader.exec_module(book_assets)


def test_duplicate_scripts_are_dropped_once_each_in_order():
    inline = SimpleNamespace(filename="", attributes={"body": "const THEBE_JS_URL = 'x'"})
    context = {
        "script_files": [
            "a.js",
            inline,
            "b.js",
            "a.js",
            SimpleNamespace(filename="", attributes={"body": "const THEBE_JS_URL = 'x'"}),
        ]
    }
    book_assets.drop_duplicate_scripts(None, "intro", "page.html", context, None)
    assert context["script_files"] == ["a.js", inline, "b.js"]


def test_path_points_follow_absolute_commands():
    assert book_assets._path_points("M7 7 H21 L12 23") == [(7, 7), (21, 7), (12, 23)]
    assert book_assets._path_points("M1,2 V5 H3") == [(1, 2), (1, 5), (3, 5)]


def test_path_with_a_curve_is_refused_by_name():
    with pytest.raises(ValueError, match="only absolute M, L, H and V"):
        book_assets._path_points("M0 0 C 1 1 2 2 3 3")


def test_icon_is_drawn_from_the_svg():
    image = book_assets.render_icon(ROOT / "book" / "favicon.svg", size=280)  # 10 pixels per SVG unit
    assert image.size == (280, 280)
    assert image.getpixel((0, 0))[3] == 0  # outside the rounded corner: transparent
    assert image.getpixel((40, 250))[:3] == (0x1F, 0x29, 0x37)  # the background rectangle
    assert image.getpixel((140, 70))[:3] == (255, 255, 255)  # on the top stroke of the 7 (y = 7)
    assert image.getpixel((165, 155))[:3] == (255, 255, 255)  # on the diagonal, halfway from (21,7) to (12,23)


def test_favicon_ico_is_written_beside_index(tmp_path):
    from PIL import Image

    app = SimpleNamespace(
        config=SimpleNamespace(html_favicon="book/favicon.svg"),
        confdir=str(ROOT),
        outdir=str(tmp_path),
        builder=SimpleNamespace(format="html"),
    )
    book_assets.write_favicon_ico(app, None)
    with Image.open(tmp_path / "favicon.ico") as ico:
        assert ico.format == "ICO" and ico.info["sizes"] == {(s, s) for s in book_assets.ICO_SIZES}
    app.config.html_favicon = "book/missing.svg"
    with pytest.raises(FileNotFoundError, match="missing.svg"):
        book_assets.write_favicon_ico(app, None)


def test_pages_are_read_in_the_toc_order_so_the_appendix_runs_after_the_chapters():
    from sphinx_external_toc.parsing import parse_toc_yaml

    site_map = parse_toc_yaml(str(ROOT / "_toc.yml"))
    app = SimpleNamespace(config=SimpleNamespace(external_site_map=site_map))
    docnames = sorted(site_map) + ["book/not_in_toc"]  # Sphinx's own order: by name, so book/ before chapters/
    assert docnames.index("book/appendix_performance") < docnames.index("chapters/01_idx_format")
    book_assets.read_in_toc_order(app, None, docnames)
    assert docnames[0] == site_map.root.docname and docnames[-1] == "book/not_in_toc"
    chapters = [d for d in docnames if d.startswith("chapters/")]
    assert chapters == sorted(chapters)
    assert docnames.index("book/appendix_performance") > docnames.index(chapters[-1])
