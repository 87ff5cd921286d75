"""mnistlib.plots: figures in the book's style."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from mnistlib import plots


def test_digit_grid_is_titled_and_labelled():
    images = np.random.default_rng(0).integers(0, 256, (12, 28, 28), dtype=np.uint8)
    fig = plots.digit_grid(
        images, [f"d{i}" for i in range(12)], ncols=5, title="Twelve digits", row_labels=["a", "b", "c"]
    )
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


def test_training_curves():
    import matplotlib

    matplotlib.use("Agg")
    h = {"accuracy": [0.5, 0.7], "val_accuracy": [0.4, 0.6], "loss": [1.0, 0.5], "val_loss": [1.2, 0.8]}
    fig = plots.training_curves({"a": h, "b": h}, title="Curves")
    assert fig._suptitle.get_text() == "Curves" and len(fig.axes) == 2
    assert fig.axes[0].get_xlabel() == "epoch" and len(fig.axes[0].lines) == 4
    with pytest.raises(KeyError, match="has no 'accuracy'"):
        plots.training_curves({"a": {"loss": [1]}}, title="x")
    with pytest.raises(ValueError, match="no histories"):
        plots.training_curves({}, title="x")
