"""mnistlib: the thin helper library of the MNIST book.

The notebooks in ``chapters/`` teach the ideas; this package holds the plumbing
they would otherwise copy. A public function or class that a chapter uses ends
its docstring with the chapter that uses it first (``tests/test_docstrings.py``
checks it). Submodules, from the bottom of the import graph up (each imports
only modules listed before it):

- :mod:`mnistlib.files`: atomic writes and locks; :mod:`mnistlib.chapters`: the chapters' names
- :mod:`mnistlib.idx`: the IDX file format
- :mod:`mnistlib.profiles`: the ``MNISTBOOK_PROFILE`` switch for scale
- :mod:`mnistlib.datasets`: verified MNIST and QMNIST, and the registry of datasets
- :mod:`mnistlib.fingerprints`: hashes of data and architectures
- :mod:`mnistlib.models`: the networks' builders
- :mod:`mnistlib.training`: timed fits and the load-or-train cache
- :mod:`mnistlib.results`: the results ledger; :mod:`mnistlib.checkpoints`: exact resume;
  :mod:`mnistlib.book_models`: models later chapters reuse
- :mod:`mnistlib.analysis`, :mod:`mnistlib.plots`, :mod:`mnistlib.bench`: error analysis, figures, speed
- :mod:`mnistlib.notebook`: the setup cell every chapter runs first
"""

import os

# TensorFlow writes its C++ start-up log (CPU features, oneDNN, absl) to stderr, where a notebook shows it in
# red and a strict book build fails on it. The level must be set before TensorFlow is imported: the Makefile
# exports it for every process it starts; this default covers scripts and kernels that import mnistlib first.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# On a processor with AVX-512 VNNI or BF16 instructions TensorFlow 2.21 turns its oneDNN kernels on and says so on
# stderr at import ("oneDNN custom operations are on"), a line that TF_CPP_MIN_LOG_LEVEL does not silence. They
# also change the results' last digits and differ from one processor to the next: off by default, every host
# computes as the book's reference runs did. TF_ENABLE_ONEDNN_OPTS=1 turns them on (faster there, and that line).
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import importlib  # noqa: E402

from .version import __version__  # noqa: E402

__all__ = ["datasets", "idx", "profiles", "Prose", "setup", "__version__"]

# Loaded when first used (PEP 562), so that ``import mnistlib.idx`` needs numpy alone: the setup cell's
# ``mnistlib.setup`` brings Keras, pandas and myst_nb, which a script reading IDX files does not need.
_LAZY = {"datasets": ".datasets", "idx": ".idx", "profiles": ".profiles", "Prose": ".notebook", "setup": ".notebook"}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'mnistlib' has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name], __name__)
    value = module if module.__name__ == f"{__name__}.{name}" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
