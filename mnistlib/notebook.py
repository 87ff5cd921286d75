"""The setup cell every chapter runs first.

Introduced in chapter 01 (``01_idx_format``).
"""

from __future__ import annotations

import platform
import random
import sys
from collections.abc import Sequence

import numpy as np

from . import datasets, plots, profiles
from .version import __version__

__all__ = ["setup", "versions"]


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
    if verbose:
        print(f"MNIST book · chapter {chapter} · seed {seed}")
        print(profile.describe())
        print(versions())
        names = [n for d in data for n in datasets.DEFAULT_FILES[d]]
        if names:
            print(datasets.provenance_report(names))
    return profile
