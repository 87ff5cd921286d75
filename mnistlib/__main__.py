"""``python -m mnistlib fetch|status [DATASET ...]``: download and verify the data (:func:`datasets.main`).

The package's own entry point, so that Python imports ``mnistlib.datasets`` once, as a module, and
never a second time as ``__main__`` (which ``python -m mnistlib.datasets`` does, with a warning).
"""

import sys

from .datasets import main

sys.exit(main(prog="python -m mnistlib"))
