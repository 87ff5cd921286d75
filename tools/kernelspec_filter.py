"""The second half of the git filter that cleans notebooks as they are committed (the Makefile installs it, after
nbstripout): every notebook is committed naming the book's kernel, whatever the editor that saved it wrote.

JupyterLab writes the display name of the kernel it started into ``metadata.kernelspec`` ("MNIST book (.venv)" for
the kernel `make venv` installs, another on Binder or in another environment) and its autosave saves it, so
opening a chapter changed it on disk and git showed it modified. This replaces ``metadata.kernelspec`` with
:data:`KERNELSPEC`, which the chapters are committed with, so that the file git sees is unchanged.

The solutions are committed closed, too: JupyterLab drops ``outputs_hidden`` from a solution's code cells when they
run, and a reader who opens a solution's collapsed heading (tools/solution_headings.py) saves it open; this puts
back ``metadata.jupyter.source_hidden`` and ``outputs_hidden`` on every code cell tagged ``solution`` and the
collapsed state of every solution heading, so that neither is a change to git (issue 34, 2).

Reads a notebook as nbstripout writes it on standard input, and writes it in the same format on standard output.
Anything that is not a notebook fails (exit status 1), so that git, whose filter is required, commits nothing.
"""

import json
import sys

#: The kernelspec every notebook is committed with: the kernel named "python3", which `make venv` installs as the
#: project's (shown as the Makefile's KERNEL_NAME), and which Binder and a plain Jupyter install also have.
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
#: The tag of the headings tools/solution_headings.py writes, and the metadata of a heading JupyterLab collapses.
SOLUTION_HEADING, HEADING_COLLAPSED = "lab-solution-heading", "jp-MarkdownHeadingCollapsed"


def normalise(text: str) -> str:
    """``text``, a notebook in JSON, with the book's kernelspec, written as nbformat (and so nbstripout) writes."""
    notebook = json.loads(text)
    if not isinstance(notebook, dict) or not isinstance(notebook.get("metadata"), dict):
        raise ValueError("not a notebook: no metadata")
    notebook["metadata"]["kernelspec"] = dict(KERNELSPEC)
    for cell in notebook.get("cells", []):
        metadata = cell.get("metadata")
        if not isinstance(metadata, dict) or not isinstance(metadata.get("tags"), list):
            continue
        if cell.get("cell_type") == "code" and "solution" in metadata["tags"]:
            metadata.setdefault("jupyter", {}).update(source_hidden=True, outputs_hidden=True)
        if cell.get("cell_type") == "markdown" and SOLUTION_HEADING in metadata["tags"]:
            metadata[HEADING_COLLAPSED] = True
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    try:  # UTF-8, as nbformat reads and writes notebooks, whatever the locale git runs the filter in
        cleaned = normalise(sys.stdin.buffer.read().decode("utf-8"))
    except ValueError as exc:  # not UTF-8, not JSON, not a notebook
        print(f"tools/kernelspec_filter.py: the notebook could not be read ({exc}); nothing written", file=sys.stderr)
        return 1
    sys.stdout.buffer.write(cleaned.encode("utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
