"""mnistlib.chapters names every executable page once; the notebooks and the library agree with it."""

import json
import re

import pytest
from conftest import ROOT

from mnistlib import chapters, profiles


def test_chapters_are_the_notebooks_in_reading_order():
    assert chapters.CHAPTERS == tuple(p.stem for p in sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb")))
    for appendix in (chapters.APPENDIX_PERFORMANCE, chapters.APPENDIX_CHECKPOINTS):
        assert (ROOT / "book" / f"{appendix}.ipynb").is_file()


@pytest.mark.parametrize("page", chapters.PAGES)
def test_each_page_sets_itself_up_under_its_own_name(page):
    path = ROOT / ("chapters" if page in chapters.CHAPTERS else "book") / f"{page}.ipynb"
    code = "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")
    names = set(re.findall(r"""setup\(\s*["']([^"']+)["']""", code)) | set(
        re.findall(r"""CHAPTER = ["']([^"']+)""", code)
    )
    assert names == {page}, f"{path.name} sets itself up as {names}"


def test_profile_overrides_name_only_known_chapters():
    for profile in profiles.PROFILES.values():
        assert set(profile.overrides) <= set(chapters.CHAPTERS), profile.name


def test_code_names_chapters_through_the_module_not_by_string():
    """Renumbering a chapter must not need a search through the code: no slug literal outside chapters.py."""
    slugs = "|".join(map(re.escape, chapters.PAGES))
    literal = re.compile(rf"""(["'])({slugs})\1""")
    files = [*(ROOT / "mnistlib").glob("*.py"), *(ROOT / "tests").glob("*.py"), *(ROOT / "benchmarks").glob("*.py")]
    found = []
    for path in files:
        if path.name in ("chapters.py", "test_chapters.py"):
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if literal.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "use mnistlib.chapters instead:\n" + "\n".join(found)
