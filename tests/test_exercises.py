"""Exercises and further reading at the end of every chapter (sphinx-exercise), checked in the notebooks.

Each chapter ends with a "## Exercises" section of 4 to 6 ``{exercise}`` directives, each labelled and followed by
its solution in the gated form (``{solution-start} <label>`` with ``:class: dropdown``, then the solution's
prose and code cells, then ``{solution-end}``), and a "## Further reading" section citing references.bib.
Every solution holds a check (a ``hide-input``/``check`` cell, collapsed in the HTML book) asserting what it
claims; its visible code cells are tagged ``solution`` and collapsed in JupyterLab (source and outputs hidden),
so that a reader can try first; at least half of a chapter's solutions run code. Every entry of references.bib
is cited somewhere.
"""

from __future__ import annotations

import importlib.util
import json
import re

import pytest
from conftest import ROOT

from mnistlib import chapters

TOOLS = ROOT / "tools"  # the repository's, also where a test points ROOT at a fake book
WITH_EXERCISES = list(chapters.CHAPTERS)  # every chapter, 11 included
EXERCISE = re.compile(r"^:::+\{exercise\}[^\n]*\n(?::[\w-]+:[^\n]*\n)*?:label: ([\w-]+)", re.M)
SOLUTION_START = re.compile(r"^:::+\{solution-start\} ([\w-]+)[^\n]*\n((?::[\w-]+:[^\n]*\n)*)", re.M)
SOLUTION_END = re.compile(r"^:::+\{solution-end\}", re.M)
CITE = re.compile(r"\{cite(?::\w+)?\}`([^`]+)`")


def _source(cell) -> str:
    s = cell["source"]
    return "".join(s) if isinstance(s, list) else s


def _tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def _tool(name: str):
    """tools/NAME.py as a module."""
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def exercises(chapter: str) -> dict:
    """The chapter's exercises, in order: label -> {"cell": index, "solution": [cells], "heading": ...}.

    Read as git commits it (through tools/kernelspec_filter.py): a chapter that JupyterLab saved after a run, which
    drops ``outputs_hidden`` from the solutions' code cells, is committed with the solutions closed again.
    """
    text = (ROOT / "chapters" / f"{chapter}.ipynb").read_text()
    cells = json.loads(_tool("kernelspec_filter").normalise(text))["cells"]
    found, open_solution, problems = {}, None, []
    headings = {}
    for i, cell in enumerate(cells):
        text = _source(cell)
        if cell["cell_type"] == "markdown":
            for m in re.finditer(r"^## (.+)$", text, re.M):
                headings.setdefault(m.group(1).strip(), i)
            for m in EXERCISE.finditer(text):
                if open_solution:
                    problems.append(f"exercise {m.group(1)} inside the solution of {open_solution}")
                found[m.group(1)] = {"cell": i, "solution": None, "options": ""}
            start = SOLUTION_START.search(text)
            if start:
                label = start.group(1)
                if label not in found:
                    problems.append(f"a solution to {label!r}, which is no exercise before it")
                    continue
                if open_solution:
                    problems.append(f"the solution of {label} opens inside the solution of {open_solution}")
                found[label]["solution"], found[label]["options"] = [], start.group(2)
                open_solution = label
                continue
            if SOLUTION_END.search(text):
                if not open_solution:
                    problems.append(f"cell {i}: a solution-end without its solution-start")
                open_solution = None
                continue
        if open_solution:
            found[open_solution]["solution"].append(cell)
    if open_solution:
        problems.append(f"the solution of {open_solution} is never closed (solution-end)")
    return {"exercises": found, "problems": problems, "headings": headings, "cells": cells}


@pytest.mark.parametrize("chapter", WITH_EXERCISES)
def test_every_chapter_ends_with_exercises_and_their_solutions(chapter):
    info = exercises(chapter)
    found, problems, headings = info["exercises"], list(info["problems"]), info["headings"]
    if not 4 <= len(found) <= 6:
        problems.append(f"{len(found)} exercises, not 4 to 6")
    if "Exercises" not in headings:
        problems.append('no "## Exercises" section')
    elif any(e["cell"] < headings["Exercises"] for e in found.values()):
        problems.append('an exercise before the "## Exercises" heading')
    with_code = 0
    for label, e in found.items():
        if not label.startswith(f"ex-{chapter[:2]}-"):
            problems.append(f"{label}: labels are ex-{chapter[:2]}-<name> (unique in the book)")
        solution = e["solution"]
        if solution is None:
            problems.append(f"{label}: no solution (solution-start {label} ... solution-end)")
            continue
        if ":class: dropdown" not in e["options"]:
            problems.append(f"{label}: the solution is not hidden until clicked (:class: dropdown)")
        checks = [c for c in solution if c["cell_type"] == "code" and {"hide-input", "check"} <= set(_tags(c))]
        if not checks:
            problems.append(f"{label}: no hidden check asserts what the solution claims")
        shown = [c for c in solution if c["cell_type"] == "code" and not {"remove-cell", "hide-input"} & set(_tags(c))]
        for c in shown:
            meta = c["metadata"].get("jupyter", {})
            if "solution" not in _tags(c) or not (meta.get("source_hidden") and meta.get("outputs_hidden")):
                problems.append(f"{label}: a solution's code cell is not tagged 'solution' and collapsed in JupyterLab")
        with_code += bool(shown)
        if not any(c["cell_type"] == "markdown" and c["source"] for c in solution) and not e["options"].strip():
            problems.append(f"{label}: the solution has no prose")
    if found and with_code * 2 < len(found):
        problems.append(f"{with_code} of {len(found)} solutions run code; at least half must")
    assert not problems, f"chapters/{chapter}.ipynb:\n" + "\n".join(problems)


@pytest.mark.parametrize("chapter", WITH_EXERCISES)
def test_every_solution_is_under_a_collapsed_heading_in_jupyterlab(chapter):
    """Issue 34, 2: jupyterlab-myst puts only the {solution-start} cell into the dropdown; the solution's other cells
    are hidden under a collapsed heading that the HTML book leaves out (tools/solution_headings.py writes them)."""
    tool = _tool("solution_headings")
    cells = exercises(chapter)["cells"]
    assert tool.transform(cells) == cells, f"chapters/{chapter}.ipynb: run `python tools/solution_headings.py`"
    assert not tool.problems(cells), tool.problems(cells)
    headings = [c for c in cells if tool.TAGS["solution"] in _tags(c)]
    assert len(headings) == len(exercises(chapter)["exercises"])
    assert all(c["metadata"][tool.COLLAPSED] is True and "remove-cell" in _tags(c) for c in headings)


def test_a_solution_saved_open_is_committed_closed():
    """What JupyterLab saves after a run (outputs_hidden dropped) and after a reader opened a solution's heading:
    the git filter closes both again, so neither is a change to git nor fails the checks above."""
    text = (ROOT / "chapters" / f"{WITH_EXERCISES[0]}.ipynb").read_text()
    notebook = json.loads(text)
    tool = _tool("solution_headings")
    for cell in notebook["cells"]:
        cell["metadata"].get("jupyter", {}).pop("outputs_hidden", None)
        cell["metadata"].pop(tool.COLLAPSED, None)
    cleaned = _tool("kernelspec_filter").normalise(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    assert json.loads(cleaned)["cells"] == json.loads(_tool("kernelspec_filter").normalise(text))["cells"]


@pytest.mark.parametrize("chapter", WITH_EXERCISES)
def test_every_chapter_has_further_reading(chapter):
    info = exercises(chapter)
    cells, headings = info["cells"], info["headings"]
    assert "Further reading" in headings, f'chapters/{chapter}.ipynb: no "## Further reading" section'
    start = headings["Further reading"]
    text = "".join(_source(c) for c in cells[start:] if c["cell_type"] == "markdown").split("\n## ", 2)
    section = text[0] if len(text) == 1 else text[0] + text[1]
    assert CITE.search(section), f'chapters/{chapter}.ipynb: "Further reading" cites nothing from references.bib'


def test_every_bibliography_entry_is_cited():
    keys = re.findall(r"^@\w+\{([^,\s]+),", (ROOT / "book" / "references.bib").read_text(), re.M)
    texts = [
        p.read_text() for p in [*ROOT.glob("chapters/*.ipynb"), *ROOT.glob("book/*.md"), *ROOT.glob("book/*.ipynb")]
    ]
    cited = {
        k.strip() for text in texts for m in CITE.finditer(text.replace('\\"', '"')) for k in m.group(1).split(",")
    }
    uncited = sorted(set(keys) - cited)
    assert not uncited, f"book/references.bib entries cited nowhere: {uncited}"


def test_exercise_labels_are_unique_in_the_book():
    labels = [label for c in WITH_EXERCISES for label in exercises(c)["exercises"]]
    assert len(labels) == len(set(labels))


def test_a_missing_solution_is_found(tmp_path, monkeypatch):
    """The layout check fails on an exercise without a solution and on a solution without a hidden check."""
    import test_exercises as me

    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": "## Exercises"},
        {"cell_type": "markdown", "metadata": {}, "source": ":::{exercise}\n:label: ex-99-a\n\nDo it.\n:::"},
        {"cell_type": "markdown", "metadata": {}, "source": ":::{exercise}\n:label: ex-99-b\n\nDo it.\n:::"},
        {
            "cell_type": "markdown",
            "metadata": {},
            "source": ":::{solution-start} ex-99-b\n:class: dropdown\n:::\n\nSo.",
        },
        {"cell_type": "markdown", "metadata": {}, "source": ":::{solution-end}\n:::"},
    ]
    (tmp_path / "chapters").mkdir()
    (tmp_path / "chapters" / "99_fake.ipynb").write_text(json.dumps({"cells": cells, "metadata": {}}))
    monkeypatch.setattr(me, "ROOT", tmp_path)
    with pytest.raises(AssertionError) as failed:
        me.test_every_chapter_ends_with_exercises_and_their_solutions("99_fake")
    message = str(failed.value)
    assert "ex-99-a: no solution" in message and "ex-99-b: no hidden check" in message and "2 exercises" in message
