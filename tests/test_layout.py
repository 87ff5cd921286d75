"""House rules of the book, checked on every run."""

import ast
import json
import re
import subprocess

import pytest
import yaml
from conftest import ROOT

CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
# Chapters and executable appendix pages follow the same notebook rules.
NOTEBOOKS = CHAPTERS + sorted((ROOT / "book").glob("*.ipynb"))
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


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(nb):
    for i, cell in enumerate(cells(nb)):
        if cell["cell_type"] == "code":
            assert not cell.get("outputs") and cell.get("execution_count") is None, f"{nb.name} cell {i} has outputs"


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
    hidden = [c for c in code if "remove-cell" in tags(c)]
    assert hidden and all("assert" in source(c) for c in hidden), "hidden checks must assert real facts"
    for prev, cell in zip(cs, cs[1:]):
        if cell["cell_type"] == "code" and "remove-cell" not in tags(cell):
            assert prev["cell_type"] == "markdown" or "remove-cell" in tags(prev), (
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
