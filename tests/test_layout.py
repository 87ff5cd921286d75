"""House rules of the book, checked on every run."""

import ast
import importlib.util
import json
import re
import subprocess
import sys

import pytest
import yaml
from conftest import ROOT

from mnistlib import chapters

CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
# Chapters and executable appendix pages follow the same notebook rules.
NOTEBOOKS = CHAPTERS + sorted((ROOT / "book").glob("*.ipynb"))
#: The first line of a hidden check cell, and of a hidden cell that computes what the text quotes.
CHECK_COMMENT = "# The book's check: it fails the build when a claim of the text stops holding."
#: Checks are collapsed in the HTML book and can be opened (myst-nb's hide-input); prose cells are left out of it.
HIDDEN = {"check": "hide-input", "prose": "remove-cell"}
PROSE_COMMENT = "# What the text quotes (hidden in the book): run it, the next paragraph shows these values."
NAME = re.compile(r"^(\d\d)_[a-z0-9_]+\.ipynb$")


def cells(nb_path):
    return json.loads(nb_path.read_text())["cells"]


def source(cell):
    s = cell["source"]
    return "".join(s) if isinstance(s, list) else s


def tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def test_there_are_chapters_named_in_reading_order():
    assert CHAPTERS
    numbers = [int(NAME.match(p.name).group(1)) for p in CHAPTERS if NAME.match(p.name)]
    assert len(numbers) == len(CHAPTERS), f"chapter names must be NN_slug.ipynb: {[p.name for p in CHAPTERS]}"
    assert numbers == list(range(1, len(CHAPTERS) + 1))


def _toc_files(node):
    if isinstance(node, dict):
        if "file" in node:
            yield node["file"]
        for value in node.values():
            yield from _toc_files(value)
    elif isinstance(node, list):
        for item in node:
            yield from _toc_files(item)


def test_toc_lists_exactly_the_chapters_that_exist_in_order():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + list(_toc_files(toc))
    for f in files:
        assert any((ROOT / f).with_suffix(s).exists() for s in (".md", ".ipynb")), f"{f} in _toc.yml does not exist"
    listed = [f for f in files if f.startswith("chapters/")]
    assert listed == [f"chapters/{p.stem}" for p in CHAPTERS]


def committed(nb_path) -> tuple[dict, str]:
    """The notebook as git holds it, and where that is: the staged version (what the next commit records, already
    through the nbstripout filter), or the file itself when git does not track it yet."""
    rel = nb_path.relative_to(ROOT).as_posix()
    staged = subprocess.run(["git", "show", f":{rel}"], cwd=ROOT, capture_output=True, text=True)
    if staged.returncode == 0:
        return json.loads(staged.stdout), f"{rel} as staged"
    return json.loads(nb_path.read_text()), f"{rel} (untracked)"


def saved_outputs(nb: dict) -> list[str]:
    """What a run leaves in a notebook: code outputs and execution counts, and the values of inline expressions
    that jupyterlab-myst stores in a markdown cell's metadata (``user_expressions``)."""
    found = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count") is not None):
            found.append(f"cell {i} has outputs")
        if "user_expressions" in cell.get("metadata", {}):
            found.append(f"cell {i} has the values of its {{eval}} expressions (metadata.user_expressions)")
    return found


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(nb):
    """What git holds, not the file: a notebook saved in JupyterLab keeps its outputs on disk, git strips them."""
    notebook, where = committed(nb)
    assert not saved_outputs(notebook), f"{where}: {saved_outputs(notebook)}"


def test_git_strips_outputs_as_notebooks_are_committed():
    """.gitattributes names the nbstripout filter that `make venv` installs; it strips what a JupyterLab run
    leaves (outputs, counts, inline-expression values, the kernel's language_info) and nothing else."""
    path = CHAPTERS[0].relative_to(ROOT).as_posix()
    attr = subprocess.run(["git", "check-attr", "filter", "--", path], cwd=ROOT, capture_output=True, text=True)
    assert attr.stdout.strip().endswith(": filter: nbstripout"), attr.stdout + attr.stderr
    clean = subprocess.run(["git", "config", "filter.nbstripout.clean"], cwd=ROOT, capture_output=True, text=True)
    assert clean.returncode == 0 and "nbstripout" in clean.stdout, "no nbstripout filter in .git/config: `make venv`"
    committed_text = subprocess.run(["git", "show", f"HEAD:{path}"], cwd=ROOT, capture_output=True, text=True).stdout
    notebook = json.loads(committed_text)
    run = json.loads(committed_text)
    code = next(c for c in run["cells"] if c["cell_type"] == "code")
    code.update(execution_count=3, outputs=[{"output_type": "stream", "name": "stdout", "text": ["7\n"]}])
    markdown = next(c for c in run["cells"] if c["cell_type"] == "markdown")
    markdown["metadata"]["user_expressions"] = [{"expression": "prose.n", "result": {"status": "ok"}}]
    run["metadata"]["language_info"] = {"name": "python", "version": "3.11.7", "pygments_lexer": "ipython3"}
    assert saved_outputs(run)

    def through_filter(nb: dict) -> str:
        text = json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
        done = subprocess.run(clean.stdout.strip(), shell=True, cwd=ROOT, input=text, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    stripped = json.loads(through_filter(run))
    assert not saved_outputs(stripped) and stripped == notebook
    assert through_filter(notebook) == committed_text, "the filter changes a committed notebook: cell ids, format?"


def _kernelspec_filter():
    """tools/kernelspec_filter.py, the second half of the git filter, as a module."""
    spec = importlib.util.spec_from_file_location("kernelspec_filter", ROOT / "tools" / "kernelspec_filter.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_with_the_books_kernelspec(nb):
    notebook, where = committed(nb)
    assert notebook["metadata"]["kernelspec"] == _kernelspec_filter().KERNELSPEC, where


def test_a_kernelspec_that_jupyterlab_writes_is_no_change_to_git():
    """Issue 34, 5: JupyterLab writes the display name of the kernel it started (`make venv`'s: the Makefile's
    KERNEL_NAME) into metadata.kernelspec and autosaves it, so opening a chapter showed it modified in `git status`.
    git's filter (.gitattributes, the Makefile) now gives such a notebook the blob it had: git hashes the file as
    `git status` and `git add` do, through the filter, and finds the committed blob."""
    clean = subprocess.run(["git", "config", "filter.nbstripout.clean"], cwd=ROOT, capture_output=True, text=True)
    assert "tools/kernelspec_filter.py" in clean.stdout, (
        f"the git filter is not the Makefile's ({clean.stdout.strip()!r}): `make venv` configures it again"
    )
    display = re.search(r"^KERNEL_NAME := (.+)$", (ROOT / "Makefile").read_text(), re.M).group(1).strip()
    for nb in (CHAPTERS[0], NOTEBOOKS[-1]):
        path = nb.relative_to(ROOT).as_posix()
        blob = subprocess.run(["git", "rev-parse", f"HEAD:{path}"], cwd=ROOT, capture_output=True, text=True)
        committed_text = subprocess.run(["git", "show", f"HEAD:{path}"], cwd=ROOT, capture_output=True, text=True)
        kernelspecs = [
            {"display_name": display, "language": "python", "name": "python3"},  # JupyterLab, the project's kernel
            {"display_name": ".venv (Python 3.11.7)", "language": "python", "name": ".venv"},  # another editor
            {"name": "python3", "display_name": "Python 3"},
        ]
        for kernelspec in kernelspecs:
            opened = json.loads(committed_text.stdout)
            assert opened["metadata"]["kernelspec"] != kernelspec
            opened["metadata"]["kernelspec"] = kernelspec
            opened["metadata"]["language_info"] = {"name": "python", "version": "3.11.7", "mimetype": "text/x-python"}
            saved = json.dumps(opened, indent=1, ensure_ascii=False) + "\n"  # JupyterLab's layout: keys in its order
            hashed = subprocess.run(
                ["git", "hash-object", "--path", path, "--stdin"], cwd=ROOT, input=saved, capture_output=True, text=True
            )
            assert hashed.returncode == 0, hashed.stderr
            assert hashed.stdout == blob.stdout, f"{path} with the kernelspec {kernelspec} is a change to git"


def test_the_kernelspec_filter_refuses_what_is_not_a_notebook():
    """The filter is required: a filter that wrote nothing would commit an empty notebook."""
    for text in ("", "{not json", "[]", '{"cells": []}'):
        done = subprocess.run(
            [sys.executable, "tools/kernelspec_filter.py"], cwd=ROOT, input=text, capture_output=True, text=True
        )
        assert done.returncode == 1 and done.stdout == "" and "could not be read" in done.stderr, text


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_structure(nb):
    cs = cells(nb)
    assert cs[0]["cell_type"] == "markdown" and source(cs[0]).startswith("# "), "a chapter starts with its title"
    code = [c for c in cs if c["cell_type"] == "code"]
    first = source(code[0])
    calls_setup = f'mnistlib.setup("{nb.stem}"' in first or (
        f'CHAPTER = "{nb.stem}"' in first and "mnistlib.setup(CHAPTER" in first
    )
    assert calls_setup, "the first code cell calls mnistlib.setup with the chapter name"
    hidden = [c for c in code if set(HIDDEN.values()) & set(tags(c))]
    checks = [c for c in hidden if "check" in tags(c)]
    assert checks and all("assert" in source(c) for c in checks), "hidden checks must assert real facts"
    for c in hidden:
        kind = set(tags(c)) & {"check", "prose"}
        assert len(kind) == 1, f"{nb.name}: a hidden cell is a check or computes prose: {source(c)[:80]!r}"
        assert c["metadata"].get("jupyter", {}).get("source_hidden") is True, (
            f"{nb.name}: hidden cells are collapsed in JupyterLab: {source(c)[:80]!r}"
        )
        (what,) = kind
        assert HIDDEN[what] in tags(c), f"{nb.name}: a {what} cell is tagged {HIDDEN[what]}: {source(c)[:80]!r}"
        first = source(c).splitlines()[0]
        assert first == (CHECK_COMMENT if "check" in kind else PROSE_COMMENT), f"{nb.name}: {first!r}"
        if "prose" in kind:
            assert "assert" not in source(c) and "prose." in source(c), f"{nb.name}: {source(c)[:80]!r}"
        else:
            assert not re.search(r"\bprose\.\w+\s*=", source(c)), f"{nb.name}: a check computes prose"
    for prev, cell in zip(cs, cs[1:]):
        if cell["cell_type"] == "code" and not set(HIDDEN.values()) & set(tags(cell)):
            assert prev["cell_type"] == "markdown" or set(HIDDEN.values()) & set(tags(prev)), (
                f"{nb.name}: write a sentence of why before the code cell starting {source(cell)[:60]!r}"
            )


LEGACY = re.compile(r"tf\.keras|tensorflow\.keras|ImageDataGenerator|from keras\.(preprocessing|legacy)")


def test_no_legacy_keras():
    for path in list((ROOT / "mnistlib").glob("*.py")) + NOTEBOOKS:
        assert not LEGACY.search(path.read_text()), f"{path.name} uses a legacy Keras path"


def test_no_data_or_model_files_are_tracked():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    bad = [f for f in tracked if re.search(r"(-ubyte|-int)(\.gz|\.xz)?$|\.(npz|keras|h5|ckpt|pt|weights)$", f)]
    assert not bad


def _mnistlib_imports():
    """(importer, imported module, names, at module level) for every import of mnistlib inside mnistlib."""
    found = []
    for path in sorted((ROOT / "mnistlib").glob("*.py")):
        tree = ast.parse(path.read_text())
        functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        nested = {id(n) for f in functions for n in ast.walk(f)}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("mnistlib")):
                module = (node.module or "").removeprefix("mnistlib.").removeprefix("mnistlib")
                if module:
                    found.append((path.stem, module, [a.name for a in node.names], id(node) not in nested))
                else:  # from . import a, b
                    found.extend((path.stem, a.name, [], id(node) not in nested) for a in node.names)
    return found


def test_mnistlib_imports_are_layered_public_and_at_module_level():
    imports = _mnistlib_imports()
    private = [(a, b, n) for a, b, names, _ in imports for n in names if n.startswith("_") and n != "__version__"]
    assert not private, f"private names imported across modules: {private}"
    local = [(a, b) for a, b, _, at_top in imports if not at_top]
    assert not local, f"imports inside functions (to dodge a cycle?): {local}"
    graph = {}
    for a, b, _, _ in imports:
        if a not in ("__init__", "__main__"):
            graph.setdefault(a, set()).add(b)
    done, visiting = set(), []

    def visit(module):
        assert module not in visiting, f"import cycle: {' -> '.join(visiting + [module])}"
        if module in done:
            return
        visiting.append(module)
        for dependency in graph.get(module, ()):
            visit(dependency)
        visiting.pop()
        done.add(module)

    for module in graph:
        visit(module)


#: Chapter 09 analyses the errors of networks other chapters trained and compares none: it has no lesson check.
LESSON_CHAPTERS = [nb for nb in CHAPTERS if int(nb.name[:2]) >= 5 and nb.stem != chapters.ERROR_ANALYSIS]


@pytest.mark.parametrize("nb", LESSON_CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_from_05_on_checks_its_lesson(nb):
    """Each chapter from 05 on makes one claim, measured as a paired comparison on the same digits
    (analysis.paired_comparison), recorded (results.record_lesson), and asserted beyond noise in every profile
    but smoke by a hidden check tagged 'lesson'."""
    cs = cells(nb)
    code = "\n".join(source(c) for c in cs if c["cell_type"] == "code")
    assert "analysis.paired_comparison(" in code and "results.record_lesson(" in code, (
        f"{nb.name}: measure the chapter's lesson with analysis.paired_comparison and record it"
    )
    lessons = [c for c in cs if "lesson" in tags(c)]
    assert len(lessons) == 1, f"{nb.name}: exactly one cell is tagged 'lesson' (found {len(lessons)})"
    check = lessons[0]
    assert {"hide-input", "check"} <= set(tags(check)), f"{nb.name}: the lesson cell is a (collapsed) check"
    text = source(check)
    assert re.search(r'if profile\.name != "smoke":[^\n]*\n\s+assert \w+\.holds\(', text), (
        f"{nb.name}: the lesson check asserts `<comparison>.holds()` in every profile but smoke: {text[:200]!r}"
    )


#: The width of the book's code box at 1280 px (tools/fit_code_lines.py lays the cells out to it).
CODE_WIDTH = 88


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_code_a_reader_sees_fits_the_code_box(nb):
    """Every line of a code cell the HTML book shows (checks included: they open) is at most 88 characters, so no
    code box scrolls sideways; `python tools/fit_code_lines.py` fits them."""
    long = [
        (i, line)
        for i, c in enumerate(cells(nb))
        if c["cell_type"] == "code" and "remove-cell" not in tags(c)
        for line in source(c).splitlines()
        if len(line) > CODE_WIDTH
    ]
    assert not long, (
        f"{nb.name}: {len(long)} code lines over {CODE_WIDTH} characters, e.g. cell {long[0][0]}: {long[0][1]!r}"
    )


FIGURE_CALL = re.compile(r"plt\.show\(\)|display\(fig")


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_figure_has_alt_text(nb):
    """A code cell that shows a figure gives it alt text (``mystnb.image.alt``) for a reader who cannot see it, and,
    when it shows one figure, a caption (``mystnb.figure``)."""
    for i, c in enumerate(cells(nb)):
        if c["cell_type"] != "code" or "remove-cell" in tags(c) or not FIGURE_CALL.search(source(c)):
            continue
        meta = c["metadata"].get("mystnb", {})
        assert meta.get("image", {}).get("alt"), f"{nb.name}, cell {i}: a figure without alt text"
        if len(FIGURE_CALL.findall(source(c))) == 1 and "if " not in source(c).split("\n")[0]:
            assert meta.get("figure", {}).get("caption"), f"{nb.name}, cell {i}: a figure without a caption"
