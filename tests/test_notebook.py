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
