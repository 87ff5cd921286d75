import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

import mnistlib
from mnistlib import plots


def test_setup_prints_profile_versions_and_provenance(capsys, monkeypatch, data_root):
    monkeypatch.setenv("MNISTBOOK_PROFILE", "smoke")
    profile = mnistlib.setup("02_exploring_the_data", seed=7)
    out = capsys.readouterr().out
    assert profile.name == "smoke" and profile.chapter == "02_exploring_the_data"
    assert "profile smoke [02_exploring_the_data]" in out
    assert "Python 3." in out and "numpy" in out and f"mnistlib {mnistlib.__version__}" in out
    assert "train-images-idx3-ubyte.gz: verified" in out
    a = np.random.rand(3)
    mnistlib.setup("02_exploring_the_data", seed=7, verbose=False)
    np.testing.assert_array_equal(a, np.random.rand(3))
    assert capsys.readouterr().out == ""


def test_digit_grid_is_titled_and_labelled():
    images = np.random.default_rng(0).integers(0, 256, (12, 28, 28), dtype=np.uint8)
    fig = plots.digit_grid(images, [f"d{i}" for i in range(12)], ncols=5, title="Twelve digits",
                           row_labels=["a", "b", "c"])
    assert fig._suptitle.get_text() == "Twelve digits"
    axes = fig.axes
    assert len(axes) == 15 and axes[0].get_title() == "d0" and axes[0].get_ylabel() == "a"
    plt.close(fig)
    fig = plots.digit_grid(images[..., None].astype(np.float32), title="channel axis is fine")
    plt.close(fig)


def test_digit_grid_rejects_bad_input():
    with pytest.raises(ValueError, match=r"shape \(N, H, W\)"):
        plots.digit_grid(np.zeros((28, 28)), title="x")
    with pytest.raises(ValueError, match="2 titles for 3 images"):
        plots.digit_grid(np.zeros((3, 28, 28)), ["a", "b"], title="x")
    with pytest.raises(TypeError):
        plots.digit_grid(np.zeros((3, 28, 28)))  # a title is required


def test_mistake_label_and_confusion_heatmap():
    import matplotlib.pyplot as plt
    import numpy as np
    import pytest

    from mnistlib import plots

    assert plots.mistake_label(4, 9, 0.873) == "pred 4, true 9\n(87%)"
    assert plots.mistake_label(4, 9) == "pred 4, true 9"
    counts = np.diag(np.full(10, 90)) + 1
    fig, axes = plt.subplots(1, 2)
    plots.confusion_heatmap(counts, ax=axes[0], title="rows")
    plots.confusion_heatmap(counts, ax=axes[1], title="mistakes", mistakes_only=True)
    shown = [float(t.get_text()) for t in axes[1].texts]
    assert len(shown) == 100 and shown[0] == 0 and shown[1] == 1  # the diagonal removed, counts kept
    rows = [float(t.get_text()) for t in axes[0].texts]
    assert rows[0] == pytest.approx(100 * 91 / 100, abs=0.05)  # percentages of the true class
    with pytest.raises(ValueError, match="10x10"):
        plots.confusion_heatmap(counts[:5], ax=axes[0], title="x")
    plt.close(fig)
