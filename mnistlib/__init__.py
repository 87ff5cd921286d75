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

from . import datasets, idx, profiles
from .notebook import setup

__version__ = "0.1.0"
__all__ = ["datasets", "idx", "profiles", "setup", "__version__"]
