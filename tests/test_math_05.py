"""Chapter 05's equations against Keras, each comparison shown to fail on a deliberately wrong formula.

The chapter (``05_cnn``) computes the convolution sum, the output size under padding and stride, max pooling,
receptive fields and the shift equivariance of convolution from scratch in NumPy and checks them against Keras
in hidden cells; these tests run the same comparisons on toy sizes, and show that each would catch a wrong formula.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from mnistlib import diagrams, models


def _keras_conv(x, w, b, stride=1, padding="valid"):
    layer = keras.layers.Conv2D(w.shape[3], w.shape[0], strides=stride, padding=padding)
    layer.build((None, *x.shape))
    layer.set_weights([w.astype("float32"), b.astype("float32")])
    return keras.ops.convert_to_numpy(layer(x[None].astype("float32")))[0]


def conv2d(x, w, b, stride=1, padding=0, *, flip=False, transpose=False):
    """The chapter's equation (eq-05-conv-channels); ``flip`` and ``transpose`` make it wrong on purpose."""
    if flip:  # a convolution proper: the kernel turned by 180 degrees, not what Conv2D computes
        w = w[::-1, ::-1]
    if transpose:  # rows and columns of the kernel swapped
        w = np.swapaxes(w, 0, 1)
    k = w.shape[0]
    x = np.pad(x, ((padding, padding), (padding, padding), (0, 0)))
    h_out, w_out = (x.shape[0] - k) // stride + 1, (x.shape[1] - k) // stride + 1
    y = np.zeros((h_out, w_out, w.shape[3])) + b
    for u in range(k):
        for v in range(k):
            y += x[u : u + stride * (h_out - 1) + 1 : stride, v : v + stride * (w_out - 1) + 1 : stride] @ w[u, v]
    return y


@pytest.mark.parametrize(("stride", "padding", "keras_padding"), [(1, 0, "valid"), (1, 1, "same"), (2, 0, "valid")])
def test_the_convolution_sum_is_what_conv2d_computes_and_a_flipped_kernel_is_not(stride, padding, keras_padding):
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=(9, 9, 3)), rng.normal(size=(3, 3, 3, 4)), rng.normal(size=4)
    expected = _keras_conv(x, w, b, stride, keras_padding)
    assert np.allclose(conv2d(x, w, b, stride, padding), expected, atol=1e-4)
    assert not np.allclose(conv2d(x, w, b, stride, padding, flip=True), expected, atol=1e-2)
    assert not np.allclose(conv2d(x, w, b, stride, padding, transpose=True), expected, atol=1e-2)


def output_size(n, k, p=0, s=1):
    return (n + 2 * p - k) // s + 1


def test_the_output_size_formula_matches_keras_and_wrong_ones_do_not():
    wrong = {
        "no +1": lambda n, k, p, s: (n + 2 * p - k) // s,
        "padding once": lambda n, k, p, s: (n + p - k) // s + 1,
        "rounded up": lambda n, k, p, s: -(-(n + 2 * p - k) // s) + 1,
    }
    cases = []
    for n in (7, 13, 28):
        for k in (1, 2, 3, 5):
            for s in (1, 2, 3):
                cases.append((n, k, 0, s, keras.layers.Conv2D(1, k, strides=s, padding="valid")))
                if k % 2 and s == 1:
                    cases.append((n, k, (k - 1) // 2, s, keras.layers.Conv2D(1, k, padding="same")))
            cases.append((n, k, 0, k, keras.layers.MaxPooling2D(k)))
    failures = dict.fromkeys(wrong, 0)
    for n, k, p, s, layer in cases:
        side = layer.compute_output_shape((1, n, n, 1))[1]
        assert side == output_size(n, k, p, s), (n, k, p, s)
        for name, formula in wrong.items():
            failures[name] += formula(n, k, p, s) != side
    assert all(failures.values()), f"a wrong formula matched Keras on every case: {failures}"


def max_pool(x):
    h, w = x.shape[0] // 2 * 2, x.shape[1] // 2 * 2
    return x[:h, :w].reshape(h // 2, 2, w // 2, 2).max(axis=(1, 3))


def test_max_pooling_matches_keras_and_average_pooling_does_not():
    x = np.random.default_rng(1).normal(size=(11, 11)).astype("float32")
    expected = keras.ops.convert_to_numpy(keras.layers.MaxPooling2D()(x[None, :, :, None]))[0, :, :, 0]
    assert expected.shape == (5, 5) and np.allclose(max_pool(x), expected)
    average = x[:10, :10].reshape(5, 2, 5, 2).mean(axis=(1, 3))
    assert not np.allclose(average, expected, atol=1e-2)


def _measured_fields(model):
    """Side of the square of input pixels that reach the centre unit of each conv/pool layer (kernels 1, biases 0)."""
    names = [la.name for la in model.layers if isinstance(la, (keras.layers.Conv2D, keras.layers.MaxPooling2D))]
    probe = keras.Model(model.input, [model.get_layer(name).output for name in names])
    for layer in probe.layers:
        if layer.weights:
            kernel, bias = layer.get_weights()
            layer.set_weights([np.ones_like(kernel), np.zeros_like(bias)])
    n = model.inputs[0].shape[1]
    responses = probe.predict(np.eye(n * n, dtype="float32").reshape(-1, n, n, 1), verbose=0)
    sides = []
    for response in responses:
        c = response.shape[1] // 2
        rows, cols = np.nonzero((response[:, c, c, 0] > 0).reshape(n, n))
        sides.append(min(rows.max() - rows.min(), cols.max() - cols.min()) + 1)
    return sides


def _fields(model, *, use_jump=True):
    field, jump, out = 1, 1, []
    for layer in model.layers:
        config = layer.get_config()
        if "kernel_size" in config or "pool_size" in config:
            k = config.get("kernel_size", config.get("pool_size"))[0]
            field += (k - 1) * (jump if use_jump else 1)
            jump *= config["strides"][0]
            out.append(field)
    return out


def test_receptive_fields_by_the_recursion_are_measured_and_without_the_jump_are_not():
    model = models.simple_cnn()
    measured = _measured_fields(model)
    assert measured == _fields(model) == [3, 4, 8, 10, 18]
    assert [row[2] for row in diagrams.receptive_field_sizes(model)] == measured
    assert _fields(model, use_jump=False) != measured  # r + (k - 1) at every layer: 3, 4, 6, 7, 9


def _shift_right(images, d):
    shifted = np.zeros_like(images)
    shifted[:, :, d:] = images[:, :, : images.shape[2] - d]
    return shifted


def test_convolution_is_shift_equivariant_and_pooling_only_for_even_shifts():
    keras.utils.set_random_seed(2)
    rng = np.random.default_rng(2)
    x = np.zeros((4, 16, 16, 1), "float32")
    x[:, 3:13, 3:11] = rng.random((4, 10, 8, 1))  # blank margins, as on a digit
    conv = keras.layers.Conv2D(5, 3, activation="relu")
    pool = keras.layers.MaxPooling2D()

    def maps(images):
        c = keras.ops.convert_to_numpy(conv(images))
        return c, keras.ops.convert_to_numpy(pool(c))

    c0, p0 = maps(x)
    c1, p1 = maps(_shift_right(x, 1))
    c2, p2 = maps(_shift_right(x, 2))
    assert np.allclose(c1[:, :, 1:], c0[:, :, :-1], atol=1e-6) and np.allclose(c2[:, :, 2:], c0[:, :, :-2], atol=1e-6)
    assert not np.allclose(c1, c0, atol=1e-2), "equivariant, not invariant: the maps themselves change"
    assert np.allclose(p2[:, :, 1:], p0[:, :, :-1], atol=1e-6)  # a 2-pixel shift: one unit of the pooled map
    assert not np.allclose(p1[:, :, 1:], p0[:, :, :-1], atol=1e-3)  # the wrong claim, for a 1-pixel shift
    assert np.allclose(c1.max(axis=(1, 2)), c0.max(axis=(1, 2)), atol=1e-6)  # global max pooling: invariant
