import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The strict smoke build goes here, apart from the book that `make book` builds.
BUILD_OUT = ROOT / "_build" / "smoke"
HTML = BUILD_OUT / "_build" / "html"


def benchmark_script(name: str):
    """benchmarks/<name>.py imported as the module ``name`` (once per session), for tests of its functions."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # before it runs: dataclasses look their module up
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def book_build():
    """Build the smoke book once per session with `make html`, the target `make book` runs; (exit status, log).

    The same target, flags and environment as a reader's `make book` (strict, every page read afresh,
    TensorFlow's log silenced by the Makefile), only the profile and the output folder differ, so a
    difference between the two cannot hide a failure. Executed notebooks still come from the jupyter cache.
    """
    shutil.rmtree(HTML, ignore_errors=True)
    env = dict(os.environ, MNISTBOOK_PROFILE="smoke")
    command = ["make", "--no-print-directory", "-C", str(ROOT), "html", f"BOOK_OUT={BUILD_OUT}"]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
    log = proc.stdout + proc.stderr
    (BUILD_OUT / "build.log").write_text(log)
    return proc.returncode, log


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


@pytest.fixture
def tiny():
    """200 tiny labelled images with a learnable signal: class c lights up row 2c."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(10), 20)
    x = rng.random((200, 28, 28, 1)).astype(np.float32) * 0.2
    for c in range(10):  # a learnable signal: class c lights up row 2c
        x[y == c, 2 * c, :, 0] = 1.0
    return x, y


@pytest.fixture
def artifacts(tmp_path, monkeypatch):
    """An empty artifacts folder for trained models and ledgers (MNISTBOOK_ARTIFACTS)."""
    monkeypatch.setenv("MNISTBOOK_ARTIFACTS", str(tmp_path))
    return tmp_path
