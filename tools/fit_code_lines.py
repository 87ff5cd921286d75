"""Fit the chapters' code cells to the book's code box: 88 characters a line.

    .venv/bin/python tools/fit_code_lines.py [NOTEBOOK ...]   (default: chapters/*.ipynb and book/*.ipynb)

First a trailing comment that would make its line too long moves onto its own line above the statement
(ruff's formatter would otherwise split the code to keep the comment beside it), then `ruff format` lays the
code out at 88 characters. Idempotent; run it after editing a chapter.
"""

import io
import json
import subprocess
import sys
import textwrap
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WIDTH = 88


def hoist_comments(code: str) -> str:
    """Move each trailing comment of a line longer than WIDTH onto its own line above that line."""
    lines = code.split("\n")
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return code
    trailing = {}  # line index -> column of a comment that follows code on that line
    for tok in tokens:
        if tok.type == tokenize.COMMENT:
            row, col = tok.start
            line = lines[row - 1]
            if line[:col].strip() and len(line) > WIDTH and "noqa" not in tok.string:
                trailing[row - 1] = col
    if not trailing:
        return code
    out = []
    for i, line in enumerate(lines):
        if i in trailing:
            col = trailing[i]
            indent = line[: len(line) - len(line.lstrip())]
            out.append(indent + line[col:].strip())
            out.append(line[:col].rstrip())
        else:
            out.append(line)
    return "\n".join(out)


def wrap_comments(code: str) -> str:
    """Wrap each comment line longer than WIDTH into comment lines of at most WIDTH characters."""
    out = []
    for line in code.split("\n"):
        stripped = line.lstrip()
        first_lines = ("# The book's", "# What the text quotes")  # tests/test_layout.py matches them whole
        if len(line) > WIDTH and stripped.startswith("# ") and not stripped.startswith(first_lines):
            indent = line[: len(line) - len(stripped)]
            out.extend(
                textwrap.wrap(stripped[2:], WIDTH, initial_indent=indent + "# ", subsequent_indent=indent + "# ")
            )
        else:
            out.append(line)
    return "\n".join(out)


def fit(path: Path) -> bool:
    text = path.read_text()
    nb = json.loads(text)
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            code = "".join(cell["source"])
            new = wrap_comments(hoist_comments(code))
            if new != code:
                cell["source"] = new.splitlines(keepends=True)
    new_text = json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    if new_text != text:
        path.write_text(new_text)
    ruff = Path(sys.executable).parent / "ruff"
    subprocess.run([str(ruff), "format", "--quiet", f"--line-length={WIDTH}", str(path)], check=True, cwd=ROOT)
    return path.read_text() != text


if __name__ == "__main__":
    paths = [Path(p) for p in sys.argv[1:]] or sorted(ROOT.glob("chapters/*.ipynb")) + sorted(ROOT.glob("book/*.ipynb"))
    changed = [p for p in paths if fit(p)]
    print(f"{len(changed)} of {len(paths)} notebooks changed")
