"""The setup cell every chapter runs first.

Introduced in chapter 01 (``01_idx_format``).
"""

from __future__ import annotations

import os
import platform
import random
import sys
from collections.abc import Sequence

import numpy as np

from . import datasets, plots, profiles
from .files import TrainingInterrupted, shown_path
from .version import __version__

__all__ = ["setup", "versions", "Prose", "Text"]


class Text(str):
    """A piece of the prose: shown as itself, without the quotes a string's repr adds."""

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(str(self))


class Prose:
    """The numbers and words a chapter's prose quotes, computed by its code.

    ``prose.best = f"{accuracy:.4f}"`` in a code cell keeps the value as
    :class:`Text` and glues it under the name ``best``; the markdown writes
    ``{eval}`prose.best```. JupyterLab (jupyterlab-myst) evaluates that
    expression in the kernel; the HTML book reads the glued value (the book's
    Sphinx extension ``book_prose``), so both show the same text.
    Introduced in chapter 01 (``01_idx_format``).
    """

    def __setattr__(self, name: str, value) -> None:
        if not name.isidentifier() or name.startswith("_"):
            raise AttributeError(f"Prose: {name!r} is not a public name")
        from myst_nb import glue  # here, not at import: scripts (benchmarks/full_gpu.py) run without Jupyter

        text = Text(value)
        object.__setattr__(self, name, text)
        glue(name, text, display=False)

    def __getattr__(self, name: str):
        raise AttributeError(f"prose.{name} has not been set: run the cell that computes it first")


def versions() -> str:
    """Versions of Python and of the libraries this session has imported, on one line."""
    parts = [f"Python {platform.python_version()}", f"numpy {np.__version__}", f"mnistlib {__version__}"]
    for mod in ("pandas", "matplotlib", "sklearn", "tensorflow", "jax"):
        if mod in sys.modules:
            parts.append(f"{mod} {getattr(sys.modules[mod], '__version__', '?')}")
    if "keras" in sys.modules:
        keras = sys.modules["keras"]
        parts.append(f"keras {keras.__version__} ({keras.backend.backend()} backend)")
    return " · ".join(parts)


def setup(
    chapter: str,
    seed: int = 42,
    data: Sequence[str] = ("mnist",),
    *,
    verbose: bool = True,
) -> profiles.Profile:
    """Seed every generator, set the figure style, print the profile, versions and data provenance.

    Returns the active profile tuned for ``chapter``. ``data`` names the
    datasets the chapter reads (``"mnist"``, ``"qmnist"``): their files'
    provenance is printed, and nothing is downloaded here. Keras is seeded with
    ``keras.utils.set_random_seed`` when the notebook imported it before
    calling this. Introduced in chapter 01 (``01_idx_format``).
    """
    profile = profiles.get_profile(chapter)
    random.seed(seed)
    np.random.seed(seed)
    if "keras" in sys.modules:
        sys.modules["keras"].utils.set_random_seed(seed)
    plots.use_style()
    show_interruptions_briefly()
    if verbose:
        print(f"MNIST book · chapter {chapter} · seed {seed}")
        print(profile.describe())
        print(versions())
        names = [n for d in data for n in datasets.DEFAULT_FILES[d]]
        if names:
            files = datasets.provenance_report(names).splitlines()[1:]  # its first line names the setting only
            print("\n".join([_data_folder_line(), *files]))
    return profile


def show_interruptions_briefly(shell=None) -> bool:
    """Make IPython show an interrupted training (:class:`mnistlib.files.TrainingInterrupted`) as its message.

    Kernel > Interrupt during a fit would otherwise print a traceback of some two hundred lines through
    mnistlib, Keras and TensorFlow; the reader gets what was interrupted, what was kept and how to go on.
    ``shell`` is IPython's (the running one by default); returns whether there was one.
    """
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:  # a script without IPython: the exception's own message reaches the terminal
            return False
        shell = get_ipython()
        if shell is None:
            return False
    shell.set_custom_exc((TrainingInterrupted,), _show_interrupted)
    return True


def _show_interrupted(shell, etype, value, tb, tb_offset=None):
    """IPython's handler for :class:`TrainingInterrupted`: the message as the error's whole traceback."""
    lines = [f"{etype.__name__}: {str(value).splitlines()[0]}", *str(value).splitlines()[1:]]
    shell._showtraceback(etype, value, lines)  # in a kernel: the error message the notebook shows
    return lines


def _data_folder_line() -> str:
    """The line naming the data folder this session reads, as the setup cell prints it above the files' provenance.

    The folder itself (``$MNISTLIB_DATA`` resolved, or pooch's cache when it is not set), with the home folder
    written ``~``, and the name the lines below give it: ``data folder: $MNISTLIB_DATA = ~/data``.
    """
    shown = shown_path(datasets.data_dir())
    if os.environ.get(datasets.ENV_VAR, "").strip():
        return f"data folder: ${datasets.ENV_VAR} = {shown}"
    return f"data folder: <mnistlib cache> = {shown} (pooch's cache for mnistlib: ${datasets.ENV_VAR} is not set)"
