"""Chapter 06's formulas, computed in NumPy and compared with Keras: a batch normalisation folded into the
convolution before it, and where a rotation of the augmentation moves a pixel.

Each comparison passes with the chapter's formula and fails with a plausible wrong one (the running mean left
out of the bias, a rotation the other way round). Toy sizes, fixed seeds, a few seconds.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from mnistlib import models


def fold(kernel, bias, gamma, beta, mean, variance, epsilon, formula="right"):
    """Convolution then inference-mode batch normalisation as one convolution: w' = s w, b' = s (b - m) + beta."""
    s = gamma / np.sqrt(variance + epsilon)
    if formula == "mean left out":
        return kernel * s, s * bias + beta
    return kernel * s, s * (bias - mean) + beta


@pytest.mark.parametrize(("formula", "matches"), [("right", True), ("mean left out", False)])
def test_folding_batch_normalisation_into_the_convolution(formula, matches):
    rng = np.random.default_rng(0)
    conv = keras.layers.Conv2D(5, 3, padding="same")
    bn = keras.layers.BatchNormalization()
    images = rng.uniform(0, 1, size=(4, 8, 8, 1)).astype("float32")
    z = conv(images)
    bn(z)
    bn.gamma.assign(rng.uniform(0.5, 2.0, 5).astype("float32"))
    bn.beta.assign(rng.normal(0, 1, 5).astype("float32"))
    bn.moving_mean.assign(rng.normal(0, 1, 5).astype("float32"))
    bn.moving_variance.assign(rng.uniform(0.1, 3.0, 5).astype("float32"))
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in conv.weights)
    bias = bias + rng.normal(0, 1, 5).astype("float32")
    conv.bias.assign(bias)
    weights = (keras.ops.convert_to_numpy(w) for w in (bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance))
    folded = keras.layers.Conv2D(5, 3, padding="same")
    folded.build(images.shape)
    folded.set_weights(list(fold(kernel, bias, *weights, bn.epsilon, formula=formula)))
    expected = keras.ops.convert_to_numpy(bn(conv(images), training=False))
    assert np.allclose(keras.ops.convert_to_numpy(folded(images)), expected, atol=1e-4) is matches


def rotated_position(row, col, theta, formula="right"):
    """Where a rotation by theta about the centre (anticlockwise on screen, y pointing down) moves pixel (row, col);
    returned as (x, y) = (column, row)."""
    if formula == "clockwise":
        theta = -theta
    c = 13.5
    x, y = col - c, row - c
    return np.array([c + x * np.cos(theta) + y * np.sin(theta), c - x * np.sin(theta) + y * np.cos(theta)])


@pytest.mark.parametrize(("formula", "matches"), [("right", True), ("clockwise", False)])
@pytest.mark.parametrize(("row", "col"), [(24, 24), (5, 20)])
def test_where_a_rotation_moves_a_pixel(row, col, formula, matches):
    theta = np.deg2rad(10.0)
    dot = np.zeros((1, 28, 28, 1), "float32")
    dot[0, row, col, 0] = 1.0
    one, zero = np.ones(1, "float32"), np.zeros(1, "float32")
    moved = keras.ops.convert_to_numpy(
        models.RandomAffine.transform(dot, angle=np.array([theta], "float32"), scale=one, shear=zero, dx=zero, dy=zero)
    )[0, :, :, 0]
    rows, cols = np.mgrid[0:28, 0:28]
    measured = np.array([(cols * moved).sum(), (rows * moved).sum()]) / moved.sum()
    predicted = rotated_position(row, col, theta, formula)
    assert np.allclose(measured, predicted, atol=0.05) is matches
    distance = np.hypot(col - 13.5, row - 13.5)
    assert abs(np.hypot(*(measured - [col, row])) - 2 * distance * np.sin(theta / 2)) < 0.05  # the chord
