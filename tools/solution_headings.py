"""Keep every solution closed in JupyterLab: a collapsed heading above each solution, one above each exercise.

jupyterlab-myst renders ``{solution-start}`` with ``:class: dropdown`` as a closed dropdown, but only the cell that
holds the directive goes into it: the solution's code cells, their outputs once run, its later paragraphs and the
``{solution-end}`` cell (an empty grey bar) sit below the dropdown, in view (issue 34, 2). JupyterLab does hide
whole runs of cells under a collapsed heading (a markdown cell whose metadata says ``"jp-MarkdownHeadingCollapsed":
true``; the reader opens it with the arrow beside the heading, or the "N cells hidden" button), so this script puts

- ``#### Solution to Exercise N``, collapsed, just before each ``{solution-start}`` cell: it hides the whole
  solution, before and after a run, down to the next heading;
- ``#### Exercise N`` just before each ``{exercise}`` cell: the heading that ends the previous solution's
  collapsed run, so that the next exercise stays in view.

Both are tagged ``remove-cell`` (the HTML book, where sphinx-exercise puts the whole solution into its dropdown,
leaves them out) and ``lab-exercise-heading`` or ``lab-solution-heading``, by which this script finds them again:
it is idempotent, and run again after chapters change it renumbers and moves the headings, and adds or removes
them, to match. Cell ids are derived from the exercises' labels, so a run changes nothing that has not moved.
The git filter (tools/kernelspec_filter.py) collapses the solution headings again in what is committed, whatever
a reader who opened one saved.

    python tools/solution_headings.py            # every chapter; prints what changed
    python tools/solution_headings.py --check    # exit status 1 if a chapter is not as this script writes it
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TAGS = {"exercise": "lab-exercise-heading", "solution": "lab-solution-heading"}
COLLAPSED = "jp-MarkdownHeadingCollapsed"  # the cell metadata JupyterLab 4 reads and writes for a collapsed heading
LEVEL = "####"
EXERCISE = re.compile(r"^:::+\{exercise\}[^\n]*\n(?::[\w-]+:[^\n]*\n)*?:label: ([\w-]+)", re.M)
SOLUTION_START = re.compile(r"^:::+\{solution-start\} ([\w-]+)", re.M)
SOLUTION_END = re.compile(r"^:::+\{solution-end\}", re.M)
HEADING = re.compile(r"^(#{1,6}) ", re.M)


def source(cell: dict) -> str:
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else s


def is_lab_heading(cell: dict) -> bool:
    return bool(set(TAGS.values()) & set(cell.get("metadata", {}).get("tags", [])))


def cell_id(kind: str, label: str) -> str:
    name = f"lab-{kind}-{label}"
    return name if len(name) <= 64 else f"lab-{kind}-{hashlib.sha1(label.encode()).hexdigest()[:16]}"


def heading(kind: str, label: str, number: int) -> dict:
    text = f"{LEVEL} Exercise {number}" if kind == "exercise" else f"{LEVEL} Solution to Exercise {number}"
    metadata = {"tags": ["remove-cell", TAGS[kind]]}
    if kind == "solution":
        metadata[COLLAPSED] = True
    return {"cell_type": "markdown", "id": cell_id(kind, label), "metadata": metadata, "source": [text]}


def transform(cells: list[dict]) -> list[dict]:
    """``cells`` with the lab headings removed and written again where the exercises and solutions now are."""
    out, numbers = [], {}
    for cell in cells:
        if is_lab_heading(cell):
            continue
        if cell["cell_type"] == "markdown":
            text = source(cell)
            exercise, solution = EXERCISE.search(text), SOLUTION_START.search(text)
            if exercise:
                numbers[exercise.group(1)] = len(numbers) + 1
                out.append(heading("exercise", exercise.group(1), numbers[exercise.group(1)]))
            elif solution and solution.group(1) in numbers:
                out.append(heading("solution", solution.group(1), numbers[solution.group(1)]))
        out.append(cell)
    return out


def problems(cells: list[dict]) -> list[str]:
    """What would leave a collapsed solution hiding more than itself: after its end, a cell that is no heading."""
    found = []
    for i, cell in enumerate(cells[:-1]):
        if cell["cell_type"] == "markdown" and SOLUTION_END.search(source(cell)):
            after = cells[i + 1]
            level = HEADING.match(source(after)) if after["cell_type"] == "markdown" else None
            if not level or len(level.group(1)) > len(LEVEL):
                found.append(f"cell {i + 1}, after a solution-end, is no exercise or heading: it would be hidden")
    return found


def main(argv: list[str]) -> int:
    check = "--check" in argv
    failed = 0
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        text = path.read_text(encoding="utf-8")
        notebook = json.loads(text)
        cells = transform(notebook["cells"])
        for problem in problems(cells):
            print(f"{path.relative_to(ROOT)}: {problem}", file=sys.stderr)
            failed = 1
        if cells == notebook["cells"]:
            continue
        solutions = sum(TAGS["solution"] in c["metadata"].get("tags", []) for c in cells)
        if check:
            print(f"{path.relative_to(ROOT)}: not as tools/solution_headings.py writes it", file=sys.stderr)
            failed = 1
            continue
        notebook["cells"] = cells
        path.write_text(json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"{path.relative_to(ROOT)}: {solutions} solution(s) under a collapsed heading")
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
