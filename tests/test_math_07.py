"""Chapter 07's formulas for batch normalisation, computed in NumPy and compared with keras.layers.BatchNormalization.

Each comparison passes with the formula the chapter writes and fails with a plausible wrong one (the unbiased
variance, the batch statistics at inference, the momentum on the wrong term, the wrong closed form), so the
comparison itself is shown to be able to fail. Toy sizes, fixed seeds, a few seconds.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

EPSILON = 1e-3  # Keras's default


def _layer(momentum: float = 0.9, channels: int = 4) -> keras.layers.BatchNormalization:
    layer = keras.layers.BatchNormalization(momentum=momentum)
    layer.build((None, channels))
    rng = np.random.default_rng(3)
    layer.gamma.assign(rng.uniform(0.5, 2.0, channels).astype("float32"))
    layer.beta.assign(rng.normal(0.0, 1.0, channels).astype("float32"))
    return layer


def _batch(seed: int = 0, n: int = 6, channels: int = 4) -> np.ndarray:
    return np.random.default_rng(seed).normal(2.0, 0.05, size=(n, channels)).astype("float32")


def training_mode(x, gamma, beta, formula="right"):
    """Equation (eq-07-bn): normalise with the batch's mean and (biased) variance, then scale and shift."""
    variance = x.var(axis=0, ddof=1 if formula == "unbiased variance" else 0)
    epsilon = 0.0 if formula == "no epsilon" else EPSILON
    return gamma * (x - x.mean(axis=0)) / np.sqrt(variance + epsilon) + beta


@pytest.mark.parametrize(("formula", "matches"), [("right", True), ("unbiased variance", False), ("no epsilon", False)])
def test_training_mode(formula, matches):
    layer, x = _layer(), _batch()
    keras_out = keras.ops.convert_to_numpy(layer(x, training=True))
    ours = training_mode(x, *(keras.ops.convert_to_numpy(w) for w in (layer.gamma, layer.beta)), formula=formula)
    assert np.allclose(ours, keras_out, atol=1e-4) is matches


def inference_mode(x, gamma, beta, mean, variance, formula="right"):
    """At inference the running averages replace the batch's statistics."""
    if formula == "batch statistics":
        mean, variance = x.mean(axis=0), x.var(axis=0)
    return gamma * (x - mean) / np.sqrt(variance + EPSILON) + beta


@pytest.mark.parametrize(("formula", "matches"), [("right", True), ("batch statistics", False)])
def test_inference_mode(formula, matches):
    layer = _layer()
    for seed in range(3):  # move the running averages away from their start
        layer(_batch(seed), training=True)
    x = _batch(10)
    keras_out = keras.ops.convert_to_numpy(layer(x, training=False))
    weights = (layer.gamma, layer.beta, layer.moving_mean, layer.moving_variance)
    ours = inference_mode(x, *(keras.ops.convert_to_numpy(w) for w in weights), formula=formula)
    assert np.allclose(ours, keras_out, atol=1e-4) is matches


def running_averages(batches, momentum, formula="right"):
    """Equation (eq-07-running): m <- momentum * m + (1 - momentum) * batch mean, the same for the variance."""
    m, v = np.zeros(batches.shape[-1]), np.ones(batches.shape[-1])
    keep = 1 - momentum if formula == "momentum on the new term" else momentum
    for b in batches:
        m = keep * m + (1 - keep) * b.mean(axis=0)
        v = keep * v + (1 - keep) * b.var(axis=0)
    return m, v


@pytest.mark.parametrize("momentum", [0.9, 0.99])
@pytest.mark.parametrize(("formula", "matches"), [("right", True), ("momentum on the new term", False)])
def test_running_averages(momentum, formula, matches):
    layer = _layer(momentum)
    batches = np.stack([_batch(seed) for seed in range(5)])
    for b in batches:
        layer(b, training=True)
    ours = running_averages(batches, momentum, formula)
    found = (keras.ops.convert_to_numpy(layer.moving_mean), keras.ops.convert_to_numpy(layer.moving_variance))
    assert all(np.allclose(a, b, rtol=1e-5, atol=1e-5) for a, b in zip(ours, found)) is matches


def closed_form(mean, momentum, k, formula="right"):
    """The running mean after k steps on batches of the same mean, from m = 0: (1 - momentum**k) * mean."""
    return (1 - (1 - momentum) ** k if formula == "wrong power" else 1 - momentum**k) * mean


@pytest.mark.parametrize(("formula", "matches"), [("right", True), ("wrong power", False)])
def test_closed_form_after_k_steps(formula, matches):
    layer, x, k = _layer(0.9), _batch(), 30
    for _ in range(k):
        layer(x, training=True)
    ours = closed_form(x.mean(axis=0), 0.9, k, formula)
    assert np.allclose(ours, keras.ops.convert_to_numpy(layer.moving_mean), rtol=1e-4, atol=1e-4) is matches


def test_a_batch_of_one_gives_beta():
    """After a dense layer, a batch of one image has mean x and variance 0: the output is beta, whatever x."""
    layer = _layer()
    beta = keras.ops.convert_to_numpy(layer.beta)
    for seed in range(2):
        out = keras.ops.convert_to_numpy(layer(_batch(seed, n=1), training=True))[0]
        np.testing.assert_allclose(out, beta, atol=1e-3)
        assert not np.allclose(training_mode(_batch(seed, n=2), 1.0, beta)[0], beta, atol=1e-3)
