"""mnistlib.diagrams: the conceptual diagrams, and the receptive fields they draw, computed from a model."""

import matplotlib

matplotlib.use("Agg")

import keras
import matplotlib.pyplot as plt
import numpy as np
import pytest

from mnistlib import diagrams, models


def _texts(fig):
    suptitle = fig._suptitle.get_text() if fig._suptitle else ""
    return " ".join(t.get_text() for ax in fig.axes for t in [*ax.texts, ax.title]) + " " + suptitle


def test_mlp_layers_draws_columns_labels_and_parameter_counts():
    fig = diagrams.mlp_layers()
    text = _texts(fig)
    for label in ("input pixels", "hidden ReLU units", "softmax outputs", "784", "256", "⋮"):
        assert label in text
    assert "200,960 parameters" in text and "2,570 parameters" in text  # 784*256 + 256 and 256*10 + 10
    plt.close(fig)
    fig = diagrams.mlp_layers((4, 3), ["in", "out"], title="tiny")
    assert "⋮" not in _texts(fig) and fig.axes[0].get_title() == "tiny"
    assert len(fig.axes[0].lines) == 4 * 3, "every drawn unit is connected to every unit of the next layer"
    plt.close(fig)
    with pytest.raises(ValueError, match="labels"):
        diagrams.mlp_layers((4, 3), ["one"])


def test_cross_correlate_is_the_sum_of_products_of_each_window():
    rng = np.random.default_rng(0)
    image, kernel = rng.normal(size=(6, 7)), rng.normal(size=(3, 2))
    out = diagrams.cross_correlate(image, kernel)
    assert out.shape == (4, 6)
    assert out[2, 3] == pytest.approx(np.sum(image[2:5, 3:5] * kernel))
    with pytest.raises(ValueError, match="larger"):
        diagrams.cross_correlate(np.zeros((2, 2)), np.zeros((3, 3)))


def test_kernel_sliding_shows_window_kernel_and_output_map():
    image = np.zeros((28, 28))
    image[5:20, 12:15] = 1.0
    kernel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    fig = diagrams.kernel_sliding(image, kernel, position=(8, 10))
    ax_in, ax_k, ax_out = fig.axes
    output = ax_out.images[0].get_array()
    assert output.shape == (26, 26)
    assert output[8, 10] == pytest.approx(np.sum(image[8:11, 10:13] * kernel))
    assert len(ax_in.patches) == 1 and ax_in.patches[0].get_xy() == (9.5, 7.5)
    assert len(ax_k.texts) == 9 and "output[8, 10]" in ax_out.get_xlabel()
    plt.close(fig)
    with pytest.raises(ValueError, match="outside"):
        diagrams.kernel_sliding(image, kernel, position=(26, 0))


def test_max_pooling_colours_windows_and_pools_their_maxima():
    x = np.arange(16.0).reshape(4, 4)[::-1]
    fig = diagrams.max_pooling(x)
    ax_in, ax_out = fig.axes
    assert len(ax_in.patches) == 4 and len(ax_out.patches) == 4
    assert sorted(float(t.get_text()) for t in ax_out.texts) == sorted([15.0, 13.0, 7.0, 5.0])
    bold = sorted(float(t.get_text()) for t in ax_in.texts if t.get_fontweight() == "bold")
    assert bold == [5.0, 7.0, 13.0, 15.0]
    plt.close(fig)
    plt.close(diagrams.max_pooling())
    with pytest.raises(ValueError, match="multiples"):
        diagrams.max_pooling(np.zeros((3, 4)))


def test_receptive_field_sizes_of_the_simple_cnn_by_hand():
    # By hand, r_out = r_in + (k - 1) * j_in, j_out = j_in * s, n_out = floor((n - k) / s) + 1 (valid):
    # conv1 3x3: n 28 -> 26, r 1 + 2*1 = 3, j 1;  pool1 2x2/2: 26 -> 13, r 3 + 1*1 = 4, j 2;
    # conv2: 13 -> 11, r 4 + 2*2 = 8, j 2;        pool2: 11 -> 5, r 8 + 1*2 = 10, j 4;  conv3: 5 -> 3, r 10 + 2*4 = 18.
    model = models.simple_cnn()
    rows = diagrams.receptive_field_sizes(model)
    assert rows == [
        ("conv1", 26, 3, 1),
        ("pool1", 13, 4, 2),
        ("conv2", 11, 8, 2),
        ("pool2", 5, 10, 4),
        ("conv3", 3, 18, 4),
    ]
    for name, size, _, _ in rows:
        assert tuple(model.get_layer(name).output.shape[1:3]) == (size, size)


def test_receptive_field_sizes_handle_same_padding_strides_and_skip_other_layers():
    # "same" keeps 28 at stride 1 and gives ceil(28 / 2) = 14 at stride 2; batch normalisation is skipped.
    model = models.vgg_like(batch_norm=True)
    rows = diagrams.receptive_field_sizes(model)
    assert [r[0] for r in rows][:3] == ["conv1a", "conv1b", "pool1"]
    assert rows[-1] == ("pool3", 3, 36, 8)  # 3, 5, 6, 10, 14, 16, 24, 32, 36
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(2, 5, strides=2, padding="same", name="s2")(inputs)
    x = keras.layers.Conv2D(2, 3, dilation_rate=2, name="dilated")(x)
    rows = diagrams.receptive_field_sizes(keras.Model(inputs, x))
    assert rows == [("s2", 14, 5, 2), ("dilated", 10, 13, 2)]  # dilated 3x3 spans 5: r = 5 + 4 * 2
    for name, size, _, _ in rows:
        assert tuple(keras.Model(inputs, x).get_layer(name).output.shape[1:3]) == (size, size)


def test_receptive_fields_draws_a_square_and_a_bar_per_layer():
    model = models.simple_cnn()
    fig = diagrams.receptive_fields(model, np.zeros((28, 28)))
    ax_grid, ax_bar = fig.axes[:2]
    assert len(ax_grid.patches) == 5 and len(ax_bar.patches) == 5
    widths = sorted(round(p.get_width()) for p in ax_grid.patches)
    assert widths == [3, 4, 8, 10, 18]
    assert "simple_cnn" in fig._suptitle.get_text()
    plt.close(fig)


def test_bottleneck_block_names_its_parts():
    fig = diagrams.bottleneck_block((64, 64, 256))
    text = _texts(fig)
    for part in ("1×1 conv, 64", "3×3 conv, 64", "1×1 conv, 256", "BN, PReLU", "+", "identity", "F(x) + x"):
        assert part in text
    plt.close(fig)
    assert "(expand)\nBN, PReLU" in text  # an identity block's expand has its PReLU, as models._bottleneck builds it
    fig = diagrams.bottleneck_block((128, 128, 512), projection=True)
    text = _texts(fig)
    assert "projection" in text and "identity" not in text
    assert "(expand)\nBN" in text and "(expand)\nBN, PReLU" not in text
    plt.close(fig)


def test_resnet_network_is_drawn_from_the_models_own_layers():
    model = models.resnet(blocks=(2, 1, 3), width=0.0625)
    parts = diagrams.resnet_parts(model)
    blocks = [p for p in parts if p["kind"] == "block"]
    assert [(p["stage"], p["block"]) for p in blocks] == [(1, 1), (1, 2), (2, 1), (3, 1), (3, 2), (3, 3)]
    shortcuts = ["projection", "identity", "projection", "projection", "identity", "identity"]
    assert [p["shortcut"] for p in blocks] == shortcuts
    assert [p["strides"] for p in blocks if p["block"] == 1] == [1, 2, 2]
    assert blocks[0]["filters"] == (4, 4, 16) and blocks[-1]["output"] == "2×2×64"
    assert parts[-1]["output"] == "10" and parts[0]["output"] == "28×28×1"
    fig = diagrams.resnet_network(model)
    text = _texts(fig)
    assert text.count("projection") == 3 and text.count("identity") == 3
    assert f"{model.count_params():,} parameters" in text
    plt.close(fig)


def test_resnet_network_draws_no_shortcut_where_the_model_has_none():
    inputs = keras.Input(shape=(28, 28, 1))
    x = keras.layers.Conv2D(4, 7, strides=2, name="stem")(inputs)
    y = keras.layers.Conv2D(2, 1, name="stage1_block1_reduce")(x)
    y = keras.layers.Conv2D(2, 3, padding="same", name="stage1_block1_conv")(y)
    y = keras.layers.Conv2D(4, 1, name="stage1_block1_expand")(y)
    y = keras.layers.PReLU(name="stage1_block1_out")(y)
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten(name="flatten")(y))
    parts = diagrams.resnet_parts(keras.Model(inputs, outputs))
    assert [p["shortcut"] for p in parts if p["kind"] == "block"] == ["none"]
    fig = diagrams.resnet_network(keras.Model(inputs, outputs))
    assert "identity" not in _texts(fig) and "projection" not in _texts(fig)
    plt.close(fig)
    with pytest.raises(ValueError, match="not a ResNet"):
        diagrams.resnet_parts(keras.Model(inputs, x))
