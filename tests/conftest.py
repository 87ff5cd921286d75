import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The real data folder (MNISTLIB_DATA or pooch's cache); `make test` fetches it first."""
    from mnistlib import datasets

    root = datasets.data_dir()
    missing = [n for n in datasets.DEFAULT_FILES["mnist"] if datasets.locate(n, root) is None]
    if missing:
        pytest.fail(f"data files {missing} are not in {root}: run `make data` or set MNISTLIB_DATA")
    return root


@pytest.fixture
def real_file(data_root):
    from mnistlib import datasets

    def get(name: str) -> Path:
        path = datasets.locate(name, data_root)
        if path is None:
            pytest.fail(f"{name} is not in {data_root}")
        return path

    return get
