import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The strict smoke build goes here, apart from the book that `make book` builds.
BUILD_OUT = ROOT / "_build" / "smoke"
HTML = BUILD_OUT / "_build" / "html"


@pytest.fixture(scope="session")
def book_build():
    """Build the book once per session: `jupyter-book build -n -W --keep-going`; returns (exit status, log).

    The HTML and doctrees are rebuilt from scratch every time (an incremental Sphinx build can keep pages
    whose navigation a new page changed); executed notebooks still come from the jupyter cache.
    """
    for stale in (HTML, HTML.parent / ".doctrees"):
        shutil.rmtree(stale, ignore_errors=True)
    env = dict(os.environ, MNISTBOOK_PROFILE=os.environ.get("MNISTBOOK_PROFILE", "smoke"), TF_CPP_MIN_LOG_LEVEL="2")
    jb = Path(sys.executable).with_name("jupyter-book")
    proc = subprocess.run([str(jb), "build", str(ROOT), "--path-output", str(BUILD_OUT), "-n", "-W", "--keep-going"],
                          env=env, capture_output=True, text=True, timeout=1800)
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
