"""mnistlib.notebook: the setup cell every chapter runs first."""

import numpy as np

import mnistlib
from mnistlib import chapters


def test_setup_prints_profile_versions_and_provenance(capsys, monkeypatch, data_root):
    monkeypatch.setenv("MNISTBOOK_PROFILE", "smoke")
    profile = mnistlib.setup(chapters.EXPLORING_THE_DATA, seed=7)
    out = capsys.readouterr().out
    assert profile.name == "smoke" and profile.chapter == chapters.EXPLORING_THE_DATA
    assert "profile smoke [02_exploring_the_data]" in out
    assert "Python 3." in out and "numpy" in out and f"mnistlib {mnistlib.__version__}" in out
    assert "train-images-idx3-ubyte.gz: verified" in out
    a = np.random.rand(3)
    mnistlib.setup(chapters.EXPLORING_THE_DATA, seed=7, verbose=False)
    np.testing.assert_array_equal(a, np.random.rand(3))
    assert capsys.readouterr().out == ""


# ---- issue 34, 6: the setup cell names the data folder it reads, not only the setting --------------------------------


def _data_line(out: str) -> str:
    lines = [line for line in out.splitlines() if line.startswith("data folder:")]
    assert len(lines) == 1, out
    return lines[0]


def test_setup_prints_the_data_folder_it_reads(tmp_path, monkeypatch, capsys):
    """It printed "data folder: $MNISTLIB_DATA" whatever the folder: now the folder, as mnistlib resolves it (a
    relative setting against the folder the kernel started in), with the home folder written ~."""
    monkeypatch.setenv("MNISTBOOK_PROFILE", "smoke")
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    (home / "my data").mkdir(parents=True)
    elsewhere.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("MNISTLIB_DATA", str(elsewhere))
    mnistlib.setup(chapters.EXPLORING_THE_DATA)
    out = capsys.readouterr().out
    assert _data_line(out) == f"data folder: $MNISTLIB_DATA = {elsewhere.resolve().as_posix()}"
    assert "\n  train-images-idx3-ubyte.gz: not downloaded yet\n" in out  # the files, as before
    monkeypatch.chdir(home)
    monkeypatch.setenv("MNISTLIB_DATA", " my data ")  # relative, and trimmed as mnistlib trims it
    mnistlib.setup(chapters.EXPLORING_THE_DATA)
    assert _data_line(capsys.readouterr().out) == "data folder: $MNISTLIB_DATA = ~/my data"
    monkeypatch.setenv("MNISTLIB_DATA", str(home))
    mnistlib.setup(chapters.EXPLORING_THE_DATA)
    assert _data_line(capsys.readouterr().out) == "data folder: $MNISTLIB_DATA = ~"


def test_setup_names_pooch_s_cache_when_mnistlib_data_is_not_set(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MNISTBOOK_PROFILE", "smoke")
    monkeypatch.delenv("MNISTLIB_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # where pooch (platformdirs) keeps its caches
    mnistlib.setup(chapters.EXPLORING_THE_DATA)
    out = capsys.readouterr().out
    assert _data_line(out) == (
        "data folder: <mnistlib cache> = ~/cache/mnistlib (pooch's cache for mnistlib: $MNISTLIB_DATA is not set)"
    )
    assert "\n  train-images-idx3-ubyte.gz: not downloaded yet\n" in out
