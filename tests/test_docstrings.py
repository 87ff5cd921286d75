"""Every "Introduced in chapter NN (``NN_slug``)." clause in mnistlib names the chapter that first uses the name.

The rule:

- a public function or class (a name in a module's ``__all__``) that some
  chapter's code uses ends its docstring with exactly one clause
  ``Introduced in chapter NN (``NN_slug``).``, naming the first such chapter in
  reading order (``chapters/NN_*.ipynb`` sorted; the appendices are not chapters);
- a public function or class that no chapter uses carries no such clause, and
  neither does any other docstring (private helpers, methods, nested functions);
- a module's docstring may carry one clause; if it does, it names the first
  chapter that imports the module.

Uses are read from the chapters' code cells and resolved to the objects they
name: ``from mnistlib import training`` then ``training.fit(...)``,
``from mnistlib.models import simple_cnn``, ``import mnistlib.x as y`` and
``mnistlib.setup(...)`` (which is ``notebook.setup``, re-exported: a name
counts where it is defined). A builder of ``mnistlib.models`` that a chapter
writes out itself in a cell tagged ``model-definition`` counts as used there.
Attributes of objects (methods, ``profile.samples``) and names in strings do
not count. A chapter imports a module when it imports it by name or uses a
name defined in it.

``python tests/test_docstrings.py --fix`` rewrites the clauses in
``mnistlib/*.py`` to what the rule says, with minimal edits to the docstrings
alone; ``python tests/test_docstrings.py`` prints what is wrong.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
import sys
import threading
import types
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = ROOT / "mnistlib"
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
#: The longest source line the fixer writes.
WIDTH = 120
#: A clause appended to a docstring's last line keeps that line this short; else it gets a line of its own.
PROSE_WIDTH = 100
#: A clause, well-formed or not: "Introduced in chapter 02.", "introduced in chapter 09\n    (``09_error_analysis``)."
CLAUSE = re.compile(
    r"\bIntroduced\s+in\s+chapters?\s+(?P<nn>\d\d)\b(?P<slug>\s*\(``[^`]*``\))?(?P<dot>\.)?", re.IGNORECASE
)
_MISSING = object()


def clause(slug: str) -> str:
    """The clause that names chapter ``slug``, as a docstring must end with it."""
    return f"Introduced in chapter {slug[:2]} (``{slug}``)."


def _flat(text: str) -> str:
    return " ".join(text.split())


# --- What the chapters use ------------------------------------------------------------------------------------------


def module_files() -> dict[str, Path]:
    """Module name -> file, for every file of the package (``mnistlib.__main__`` too: it is read, never imported)."""
    files = {}
    for path in sorted(PACKAGE_DIR.glob("*.py")):
        files["mnistlib" if path.stem == "__init__" else f"mnistlib.{path.stem}"] = path
    return files


def import_modules() -> dict[str, types.ModuleType]:
    """Every importable module of the package (importing ``__main__`` would run it)."""
    return {name: importlib.import_module(name) for name in module_files() if name != "mnistlib.__main__"}


def _ours(obj) -> bool:
    """A mnistlib module, or a function or class defined in one."""
    if isinstance(obj, types.ModuleType):
        return obj.__name__.split(".")[0] == "mnistlib"
    if not (isinstance(obj, type) or isinstance(obj, types.FunctionType)):
        return False
    return (getattr(obj, "__module__", None) or "").split(".")[0] == "mnistlib"


def code_cells(notebook: Path) -> list[str]:
    cells = json.loads(notebook.read_text())["cells"]
    return [
        "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        for c in cells
        if c["cell_type"] == "code"
    ]


_MAGIC = re.compile(r"^(\s*)[%!?]")


def parse_cell(source: str) -> ast.Module:
    """A code cell as Python: IPython magics and shell escapes (``%time``, ``!ls``) become ``pass``."""
    return _parse("\n".join(_MAGIC.sub(r"\1pass  # ", line) for line in source.splitlines()))


def _top_scope(node):
    """The nodes of ``node`` in its own scope: the bodies of functions, lambdas, classes and comprehensions are not."""
    yield node
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield child  # its name is bound here, its body is another scope
        elif not isinstance(child, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            yield from _top_scope(child)


class Uses:
    """What a sequence of code cells uses of mnistlib: modules by name, functions and classes by identity."""

    def __init__(self):
        self.names: dict[str, object] = {}  # name in the notebook -> the mnistlib module or object it denotes
        self.modules: set[str] = set()
        self.objects: dict[int, object] = {}
        self.errors: list[str] = []

    def note(self, obj) -> None:
        if isinstance(obj, types.ModuleType):
            self.modules.add(obj.__name__)
        elif _ours(obj):
            self.objects[id(obj)] = obj
            self.modules.add(obj.__module__)

    def resolve(self, node):
        if isinstance(node, ast.Name):
            return self.names.get(node.id, _MISSING)
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            if isinstance(base, types.ModuleType):
                return getattr(base, node.attr, _MISSING)
        return _MISSING

    def _import(self, name: str):
        try:
            return importlib.import_module(name)
        except ImportError as err:
            self.errors.append(f"import {name} fails: {err}")
            return _MISSING

    def _imports(self, node) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                if alias.name.split(".")[0] != "mnistlib":
                    self.names.pop(bound, None)
                    continue
                module = self._import(alias.name)
                if module is _MISSING:
                    continue
                self.note(module)
                self.names[bound] = module if alias.asname else importlib.import_module("mnistlib")
        elif isinstance(node, ast.ImportFrom):
            if node.level or (node.module or "").split(".")[0] != "mnistlib":
                for alias in node.names:
                    self.names.pop(alias.asname or alias.name, None)
                return
            module = self._import(node.module)
            if module is _MISSING:
                return
            self.note(module)
            names = (
                [(n, n) for n in getattr(module, "__all__", [])]
                if node.names[0].name == "*"
                else [(a.name, a.asname or a.name) for a in node.names]
            )
            for name, bound in names:
                obj = getattr(module, name, _MISSING)
                if obj is _MISSING:
                    obj = self._import(f"{node.module}.{name}")
                if obj is not _MISSING:
                    self.note(obj)
                    self.names[bound] = obj

    def statement(self, stmt: ast.stmt) -> None:
        """Record what one top-level statement uses, then forget names it rebinds to something else."""
        for node in ast.walk(stmt):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                self._imports(node)
        for node in ast.walk(stmt):
            if isinstance(node, (ast.Name, ast.Attribute)) and isinstance(node.ctx, ast.Load):
                obj = self.resolve(node)
                if obj is not _MISSING:
                    self.note(obj)
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self.names.pop(stmt.name, None)
            return
        for node in _top_scope(stmt):
            if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
                self.names.pop(node.id, None)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.names.pop(node.name, None)

    def code(self, source: str) -> Uses:
        for stmt in parse_cell(source).body:
            self.statement(stmt)
        return self


#: The tag of the cells in which a chapter writes out a network that mnistlib.models also builds
#: (tests/test_chapter_models.py): defining the builder there is the chapter's use of it.
MODEL_DEFINITION = "model-definition"


def written_out_builders(notebook: Path) -> list[object]:
    """The builders of mnistlib.models that the chapter defines itself, in its model-definition cells."""
    from mnistlib import models

    found = []
    for c in json.loads(notebook.read_text())["cells"]:
        if c["cell_type"] != "code" or MODEL_DEFINITION not in c["metadata"].get("tags", []):
            continue
        source = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        for stmt in parse_cell(source).body:
            if isinstance(stmt, ast.FunctionDef) and stmt.name in models.__all__:
                found.append(getattr(models, stmt.name))
    return found


def chapter_uses(notebook: Path) -> Uses:
    uses = Uses()
    for builder in written_out_builders(notebook):
        uses.note(builder)
    for i, source in enumerate(code_cells(notebook)):
        try:
            uses.code(source)
        except SyntaxError as err:
            uses.errors.append(f"{notebook.name} code cell {i}: {err}")
    return uses


@dataclass
class FirstUses:
    """The first chapter (its slug) that uses each mnistlib object and imports each module."""

    objects: dict[int, str]
    modules: dict[str, str]
    errors: list[str]


def first_uses(chapters=CHAPTERS) -> FirstUses:
    found = FirstUses({}, {}, [])
    for notebook in chapters:
        uses = chapter_uses(notebook)
        for key in uses.objects:
            found.objects.setdefault(key, notebook.stem)
        for name in uses.modules:
            found.modules.setdefault(name, notebook.stem)
        found.errors += uses.errors
    return found


# --- What the docstrings say ----------------------------------------------------------------------------------------


def expected_clauses() -> tuple[dict[tuple[str, str], str | None], dict[str, str | None], list[str]]:
    """(public, modules, errors): (defining module, top-level name) of every public function or class -> the slug
    its clause must name, or None; module name -> the slug its clause, if any, must name, or None."""
    modules = import_modules()
    first = first_uses()
    public = {}
    for module in modules.values():
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name, _MISSING)
            if obj is not _MISSING and not isinstance(obj, types.ModuleType) and _ours(obj):
                public[(obj.__module__, obj.__qualname__)] = first.objects.get(id(obj))
    return public, {name: first.modules.get(name) for name in module_files()}, first.errors


@dataclass
class Docstring:
    """One docstring of a file: whose it is, what its clauses say and what they should say."""

    where: str  # e.g. "mnistlib.training.StopAtAccuracy"
    node: ast.Constant
    text: str
    kind: str  # "module", "public" or "other"
    should: str | None  # the slug the clause must name; None: no clause

    @property
    def clauses(self) -> list[re.Match]:
        return list(CLAUSE.finditer(self.text))

    def says(self) -> str:
        found = [_flat(m.group(0)) for m in self.clauses]
        if not found:
            return "no clause"
        said = " and ".join(f'"{c}"' for c in found)
        if self.kind == "public" and len(found) == 1 and not _flat(self.text).endswith(found[0]):
            said += " (not at the end)"
        return said

    def wrong(self) -> bool:
        found = [_flat(m.group(0)) for m in self.clauses]
        if self.should is None:
            return bool(found)
        if self.kind == "module":  # anywhere, and the sentence may go on: "Introduced in chapter 01 (...), where"
            return len(found) > 1 or (len(found) == 1 and found[0].rstrip(".") != clause(self.should).rstrip("."))
        return len(found) != 1 or not _flat(self.text).endswith(clause(self.should))

    def should_say(self) -> str:
        if self.should is None:
            return "no clause (" + (
                "no chapter imports it)"
                if self.kind == "module"
                else "no chapter uses it)"
                if self.kind == "public"
                else "only public functions and classes carry one)"
            )
        return f'"{clause(self.should)}"' + (" or no clause" if self.kind == "module" else " at the end")


def _parse(source: str) -> ast.Module:
    """``ast.parse`` in a thread of its own, with fresh recursion bookkeeping.

    In CPython 3.11, once a RecursionError was raised and caught in a thread, a later ``ast.parse`` in that thread
    can fail with "SystemError: AST constructor recursion depth mismatch" (python/cpython#106905): the full suite
    once failed here depending on test order, after the model cache's key recursed on a self-referring
    configuration (it no longer does: tests/test_faults_cache.py). A new thread starts with its own counters.
    """
    out: dict = {}

    def run():
        try:
            out["tree"] = ast.parse(source)
        except BaseException as err:  # re-raised in the caller's thread
            out["error"] = err

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out["tree"]


def docstrings(module: str, source: str, public, modules) -> list[Docstring]:
    """Every docstring of ``module`` (its ``source``), with the clause each should carry."""
    tree = _parse(source)
    found = []

    def visit(node, path, top):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                where = f"{path}.{child.name}"
                doc = _docstring_node(child)
                if doc is not None:
                    key = (module, child.name)
                    if top and key in public:
                        found.append(Docstring(where, doc, doc.value, "public", public[key]))
                    else:
                        found.append(Docstring(where, doc, doc.value, "other", None))
                visit(child, where, False)
            elif not isinstance(child, (ast.expr, ast.Lambda)):
                visit(child, path, top)  # defs inside if/try blocks are still top-level

    doc = _docstring_node(tree)
    if doc is not None:
        found.append(Docstring(module, doc, doc.value, "module", modules.get(module)))
    visit(tree, module, True)
    return found


def _docstring_node(node) -> ast.Constant | None:
    body = getattr(node, "body", None)
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        return body[0].value
    return None


def problems() -> list[str]:
    """One line per wrong clause in the package (name, what it says, what it should say), and any reading error."""
    public, modules, errors = expected_clauses()
    lines = [f"cannot read a chapter: {e}" for e in errors]
    for module, path in module_files().items():
        for doc in docstrings(module, path.read_text(), public, modules):
            if doc.wrong():
                lines.append(f"{doc.where}: says {doc.says()}, should say {doc.should_say()}")
    return lines


# --- The tests ------------------------------------------------------------------------------------------------------


def test_every_introduced_in_clause_names_the_first_chapter_that_uses_the_name():
    wrong = problems()
    assert not wrong, (
        f"{len(wrong)} docstring(s) with a wrong 'Introduced in chapter' clause "
        "(run `python tests/test_docstrings.py --fix`):\n  " + "\n  ".join(wrong)
    )


def test_uses_are_resolved_through_imports_and_reexports():
    from mnistlib import chapters, datasets, models, notebook, training

    uses = Uses().code(
        "import mnistlib\n"
        "from mnistlib import training, models as m\n"
        "from mnistlib.datasets import as_float\n"
        "import mnistlib.plots as p\n"
        f"profile = mnistlib.setup({chapters.IDX_FORMAT!r})\n"
        "r = training.fit(m.simple_cnn(), x, y, validation_data=None, epochs=1)\n"
        "r.model.summary()\n"
        "profile.samples(10)\n"
        "def f(training):\n"
        "    return training.foo\n"
        "%time training.run_info\n"
    )
    assert {id(notebook.setup), id(training.fit), id(models.simple_cnn), id(datasets.as_float)} <= set(uses.objects)
    assert id(training.run_info) not in uses.objects, "a line of IPython magic is not code"
    assert {
        "mnistlib",
        "mnistlib.notebook",
        "mnistlib.training",
        "mnistlib.models",
        "mnistlib.datasets",
        "mnistlib.plots",
    } <= uses.modules
    rebound = Uses().code("from mnistlib import training\ntraining = object()\ntraining.fit\n")
    assert id(training.fit) not in rebound.objects, "a name rebound to something else no longer denotes the module"


def test_a_wrong_clause_is_reported_and_fixed():
    from mnistlib import chapters

    source = (
        '"""A module."""\n\n\ndef f():\n    """Do f.\n\n    Introduced in chapter 03 (``03_linear_models``).\n'
        '    """\n\n\ndef g():\n    """Do g. Introduced in chapter 02."""\n\n\nclass C:\n    """A C.\n\n'
        '    Introduced in chapter 01 (``01_idx_format``), where it is needed.\n    """\n'
    )
    public = {("m", "f"): chapters.RESULTS_AND_ENSEMBLES, ("m", "g"): None, ("m", "C"): chapters.IDX_FORMAT}
    docs = docstrings("m", source, public, {"m": chapters.EXPLORING_THE_DATA})
    assert [d.where for d in docs if d.wrong()] == ["m.f", "m.g", "m.C"]
    fixed, counts, manual = fix_source("m", source, public, {"m": chapters.EXPLORING_THE_DATA})
    assert manual == ["m.C"], "a clause that the sentence goes on after is left to a person"
    assert "    Introduced in chapter 10 (``10_results_and_ensembles``).\n" in fixed
    assert '"""Do g."""' in fixed
    assert counts == {"fixed": 1, "removed": 1, "added": 0}


# --- The fixer ------------------------------------------------------------------------------------------------------


def _offset(lines: list[str], lineno: int, col: int) -> int:
    """Character offset in the text of (1-based line, UTF-8 byte column), as ast reports positions."""
    line = lines[lineno - 1]
    return sum(len(x) for x in lines[: lineno - 1]) + len(line.encode()[:col].decode())


def _remove(body: str, match: re.Match) -> str:
    """``body`` without the clause ``match``: its whole line if it stands alone, else it and the space before it."""
    start, end = match.start(), match.end()
    line_start = body.rfind("\n", 0, start) + 1
    line_end = body.find("\n", end)
    line_end = len(body) if line_end < 0 else line_end
    before, after = body[line_start:start], body[end:line_end]
    if not before.strip() and not after.strip():
        if line_start == 0:  # the summary line: keep the opening quotes' line
            return body[line_end + 1 :] if line_end < len(body) else ""
        return body[: line_start - 1] + body[line_end:]
    start -= len(before) - len(before.rstrip())
    if not before.strip():  # a clause that opens a line and the sentence after it goes on: drop its space too
        end += len(after) - len(after.lstrip())
    return body[:start] + body[end:]


def _rewrite(doc: Docstring, segment: str, indent: int) -> tuple[str, str] | None:
    """The new source of ``doc``'s string literal (``segment``, at column ``indent``) and what changed
    ("fixed", "removed", "added", or "" for nothing); None if a person must edit it."""
    m = re.fullmatch(r'(?s)([rRuU]?)("""|\'\'\'|"|\')(.*)\2', segment)
    if m is None:
        return None
    prefix, quote, body = m.groups()
    pad = " " * indent
    matches = list(CLAUSE.finditer(body))
    should = doc.should
    if not doc.wrong():
        return segment, ""
    kind = "removed" if should is None else ("added" if not matches else "fixed")
    in_place = (
        bool(matches)
        and should is not None
        and (doc.kind == "module" or (len(matches) == 1 and not body[matches[0].end() :].strip()))
    )
    for c in matches[1:] if in_place else matches:  # removing "Introduced in chapter 06, where ..." needs a person
        if c.group("dot") is None and body[c.end() :].strip():
            return None
    if in_place:
        for extra in reversed(matches[1:]):  # from the end: the positions of the clauses before stay valid
            body = _remove(body, extra)
        c = matches[0]
        space = re.match(r"\s*", c.group("slug") or " ").group(0) or " "
        new = f"Introduced in chapter {should[:2]}{space}(``{should}``)" + (
            "" if doc.kind == "module" and c.group("dot") is None else "."
        )
        body = body[: c.start()] + new + body[c.end() :]
        start = c.start()
        line_start = body.rfind("\n", 0, start) + 1
        line_end = body.find("\n", start)
        line = body[line_start : len(body) if line_end < 0 else line_end]
        first = line_start == 0
        if (indent + len(prefix) + len(quote) if first else 0) + len(line) > WIDTH and body[line_start:start].strip():
            head = body[:start].rstrip(" ")
            body = head + "\n" + pad + body[start:]
        return prefix + quote + body + quote, kind
    for c in reversed(matches):
        body = _remove(body, c)
    multiline = "\n" in body
    text = body.rstrip()
    if should is not None:
        cl = clause(should)
        if "\n" not in text:
            one = f"{prefix}{quote}{text} {cl}{quote}"
            if indent + len(one) <= PROSE_WIDTH:
                return one, kind
            return f"{prefix}{quote}{text}\n\n{pad}{cl}\n{pad}{quote}", kind
        last = text.rsplit("\n", 1)[1]
        text += (" " if len(last) + 1 + len(cl) <= PROSE_WIDTH else "\n" + pad) + cl
    if "\n" not in text:
        one = f"{prefix}{quote}{text}{quote}"
        if indent + len(one) <= WIDTH or not multiline:
            return one, kind
    return f"{prefix}{quote}{text}\n{pad}{quote}", kind


def fix_source(module: str, source: str, public, modules) -> tuple[str, dict[str, int], list[str]]:
    """``source`` with its clauses rewritten, the counts of clauses fixed, removed and added, and the docstrings
    left to a person."""
    lines = source.splitlines(keepends=True)
    edits, manual = [], []
    counts = {"fixed": 0, "removed": 0, "added": 0}
    for doc in docstrings(module, source, public, modules):
        if not doc.wrong():
            continue
        node = doc.node
        start = _offset(lines, node.lineno, node.col_offset)
        end = _offset(lines, node.end_lineno, node.end_col_offset)
        result = _rewrite(doc, source[start:end], len(lines[node.lineno - 1].encode()[: node.col_offset].decode()))
        if result is None:
            manual.append(doc.where)
            continue
        new, kind = result
        if kind:
            counts[kind] += len(doc.clauses) if kind == "removed" else 1
            edits.append((start, end, new))
    for start, end, new in sorted(edits, reverse=True):
        source = source[:start] + new + source[end:]
    return source, counts, manual


def fix() -> int:
    """Rewrite every wrong clause in mnistlib/*.py; print what changed; 1 if something is left for a person."""
    public, modules, errors = expected_clauses()
    for e in errors:
        print(f"cannot read a chapter: {e}")
    totals = {"fixed": 0, "removed": 0, "added": 0}
    left = []
    for module, path in module_files().items():
        for _ in range(5):  # others may edit the same file: re-read it, edit, write at once, check nothing slipped in
            before = path.read_text()
            after, counts, manual = fix_source(module, before, public, modules)
            if after == before:
                break
            if path.read_text() != before:
                continue
            path.write_text(after)
            for k, v in counts.items():
                totals[k] += v
            changed = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
            print(f"{path.relative_to(ROOT)}: {changed}")
            break
        else:
            print(f"{path.relative_to(ROOT)}: changed under us five times; run again")
            left.append(str(path))
        left += manual
    print(f"clauses fixed: {totals['fixed']}, removed: {totals['removed']}, added: {totals['added']}")
    for where in left:
        print(f"edit by hand: {where}")
    return 1 if left or errors else 0


if __name__ == "__main__":
    if "--fix" in sys.argv[1:]:
        sys.exit(fix())
    wrong = problems()
    print("\n".join(wrong) or "every clause names the right chapter")
    sys.exit(1 if wrong else 0)
