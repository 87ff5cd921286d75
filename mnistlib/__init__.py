"""mnistlib: the thin helper library of the MNIST book.

The notebooks in ``chapters/`` teach the ideas; this package holds the plumbing
they would otherwise copy. Each public function's docstring names the chapter
that introduces it. Submodules:

- :mod:`mnistlib.idx`: the IDX file format (chapter 01)
- :mod:`mnistlib.profiles`: the ``MNISTBOOK_PROFILE`` switch for scale (chapter 01)
- :mod:`mnistlib.datasets`: verified MNIST and QMNIST (chapter 02)
- :mod:`mnistlib.notebook`: the setup cell every chapter runs first (chapter 01)
- :mod:`mnistlib.plots`: figures in the book's style (chapter 02)
- :mod:`mnistlib.models`, :mod:`mnistlib.training`, :mod:`mnistlib.results`: builders, training, the ledger (chapters 03-07)
- :mod:`mnistlib.checkpoints`: checkpoints every epoch and exact resume (chapter 08)
"""

import os

# TensorFlow writes its C++ start-up log (CPU features, oneDNN, absl) to stderr, where a notebook shows it in
# red and a strict book build fails on it. The level must be set before TensorFlow is imported: the Makefile
# exports it for every process it starts; this default covers scripts and kernels that import mnistlib first.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from . import datasets, idx, profiles  # noqa: E402
from .notebook import setup  # noqa: E402

__version__ = "0.1.0"
__all__ = ["datasets", "idx", "profiles", "setup", "__version__"]
