"""The second half of the git filter that cleans notebooks as they are committed (the Makefile installs it, after
nbstripout): every notebook is committed naming the book's kernel, whatever the editor that saved it wrote.

JupyterLab writes the display name of the kernel it started into ``metadata.kernelspec`` ("MNIST book (.venv)" for
the kernel `make venv` installs, another on Binder or in another environment) and its autosave saves it, so
opening a chapter changed it on disk and git showed it modified. This replaces ``metadata.kernelspec`` with
:data:`KERNELSPEC`, which the chapters are committed with, so that the file git sees is unchanged.

Reads a notebook as nbstripout writes it on standard input, and writes it in the same format on standard output.
Anything that is not a notebook fails (exit status 1), so that git, whose filter is required, commits nothing.
"""

import json
import sys

#: The kernelspec every notebook is committed with: the kernel named "python3", which `make venv` installs as the
#: project's (shown as the Makefile's KERNEL_NAME), and which Binder and a plain Jupyter install also have.
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def normalise(text: str) -> str:
    """``text``, a notebook in JSON, with the book's kernelspec, written as nbformat (and so nbstripout) writes."""
    notebook = json.loads(text)
    if not isinstance(notebook, dict) or not isinstance(notebook.get("metadata"), dict):
        raise ValueError("not a notebook: no metadata")
    notebook["metadata"]["kernelspec"] = dict(KERNELSPEC)
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
