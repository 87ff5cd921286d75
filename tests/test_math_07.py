"""Chapter 07's formulas for batch normalisation, computed in NumPy and compared with keras.layers.BatchNormalization.

Each comparison passes with the formula the chapter writes and fails with a plausible wrong one (the unbiased
variance, the batch statistics at inference, the momentum on the wrong term, the wrong closed form), so the
comparison itself is shown to be able to fail. The chapter's own layer, ``BatchNorm`` (its cell tagged
``layer-definition``), is run from the notebook's source and compared with Keras's layer in the same way, with a
wrong line swapped in for each plausible mistake, and trained inside ``fit`` on TensorFlow and on JAX (each in a
subprocess, since Keras fixes its backend at import). Toy sizes, fixed seeds, a few seconds per test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from mnistlib import chapters

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


# The chapter's own layer, BatchNorm (the notebook's cell tagged "layer-definition"), against Keras's.

CHAPTER_NOTEBOOK = Path(__file__).resolve().parents[1] / "chapters" / f"{chapters.BATCH_NORMALIZATION}.ipynb"
LAYER_TAG = "layer-definition"
#: Plausible mistakes in the chapter's layer, each a change to one line of its source.
WRONG_LAYERS = {
    "batch statistics at inference": ("if training:", "if True:"),
    "momentum on the new term": ("a = self.momentum", "a = 1 - self.momentum"),
    "no epsilon": ("ops.sqrt(variance + self.epsilon)", "ops.sqrt(variance)"),
    "unbiased variance": ("ops.mean(ops.square(x - mean), axis=axes)", "ops.var(x, axis=axes) * 6 / 5"),
}


def layer_source(wrong: str | None = None) -> str:
    cells = json.loads(CHAPTER_NOTEBOOK.read_text())["cells"]
    found = ["".join(c["source"]) for c in cells if LAYER_TAG in c["metadata"].get("tags", [])]
    assert len(found) == 1, f"one cell tagged {LAYER_TAG!r} in the chapter"
    source = found[0]
    if wrong is not None:
        old, new = WRONG_LAYERS[wrong]
        assert source.count(old) == 1, f"the chapter's layer no longer has {old!r}: update WRONG_LAYERS"
        source = source.replace(old, new)
    return source


def chapter_layer(wrong: str | None = None) -> type:
    namespace = {"keras": keras, "ops": keras.ops}
    exec(compile(layer_source(wrong), "<chapter 07: BatchNorm>", "exec"), namespace)  # noqa: S102 (the book's cell)
    return namespace["BatchNorm"]


def _pair(layer_class, momentum=0.9, shape=(6, 4)):
    """Keras's layer and ``layer_class``, built and given the same weights (gamma, beta and moved averages)."""
    rng = np.random.default_rng(5)
    weights = [
        rng.uniform(0.5, 2.0, shape[-1]),
        rng.normal(0.0, 1.0, shape[-1]),
        rng.normal(2.0, 0.5, shape[-1]),
        rng.uniform(0.5, 2.0, shape[-1]),
    ]
    pair = (keras.layers.BatchNormalization(momentum=momentum), layer_class(momentum=momentum))
    for layer in pair:
        layer.build(shape)
        layer.set_weights([w.astype("float32") for w in weights])
    return pair


def _agree(a, b, tol=1e-4) -> bool:
    return np.allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), rtol=tol, atol=tol)


@pytest.mark.parametrize("wrong", [None, *WRONG_LAYERS])
def test_chapter_layer_matches_keras(wrong):
    """Same outputs in inference and training mode, same running averages after five steps: only the right layer.

    Batches of 6 rows (so the unbiased variance differs by 6/5) of 4 channels, with variances near 1e-3 in two
    channels (so that forgetting epsilon shows) and far from the running averages (so that using the batch's
    statistics at inference shows).
    """
    keras_layer, ours = _pair(chapter_layer(wrong))
    rng = np.random.default_rng(6)
    scales = np.array([0.03, 0.05, 1.0, 3.0], dtype="float32")
    batches = [(rng.normal(0.0, 1.0, (6, 4)) * scales - 1.0).astype("float32") for _ in range(5)]
    agree = _agree(ours(batches[0], training=False), keras_layer(batches[0], training=False))
    for b in batches:
        agree &= _agree(ours(b, training=True), keras_layer(b, training=True))
    for own_w, keras_w in zip(ours.non_trainable_weights, keras_layer.non_trainable_weights):
        agree &= _agree(own_w, keras_w)
    assert agree is (wrong is None)


def test_chapter_layer_on_a_convolutions_output():
    """Statistics over the images and the positions, one per channel: as Keras's layer, on a 4-D batch."""
    keras_layer, ours = _pair(chapter_layer(), shape=(8, 5, 5, 4))
    x = np.random.default_rng(7).normal(1.0, 2.0, (8, 5, 5, 4)).astype("float32")
    for mode in (False, True, False):
        assert _agree(ours(x, training=mode), keras_layer(x, training=mode))
    assert _agree(ours.moving_mean, keras_layer.moving_mean)
    assert _agree(ours.moving_variance, keras_layer.moving_variance)


FIT_SCRIPT = """
import json, sys
import keras
import numpy as np
namespace = {"keras": keras, "ops": keras.ops}
exec(sys.stdin.read(), namespace)
rng = np.random.default_rng(0)
x, y = rng.normal(1.0, 2.0, (256, 6, 6, 2)).astype("float32"), rng.integers(0, 3, 256)
found = {}
for name, norm in (("keras", keras.layers.BatchNormalization), ("ours", namespace["BatchNorm"])):
    keras.utils.set_random_seed(1)
    inputs = keras.Input((6, 6, 2))
    h = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    h = norm(momentum=0.9, name="bn")(h)
    h = keras.layers.Flatten()(keras.layers.Activation("relu")(h))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(h))
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    found[name] = [w.tolist() for w in model.get_layer("bn").get_weights()] + [model.predict(x[:8], verbose=0).tolist()]
print(json.dumps({"backend": keras.backend.backend(), **found}))
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_chapter_layer_trains_on_each_backend(backend):
    """Inside fit, on TensorFlow and on JAX: the running averages move and end where Keras's layer's do."""
    pytest.importorskip(backend)
    env = {**os.environ, "KERAS_BACKEND": backend}
    done = subprocess.run(
        [sys.executable, "-c", FIT_SCRIPT], input=layer_source(), env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["backend"] == backend
    keras_w, ours_w = (np.array(found[k][2], dtype="float32") for k in ("keras", "ours"))
    assert np.abs(ours_w).max() > 0.1, "fit called the layer in training mode: the running mean moved"
    np.testing.assert_allclose(ours_w, keras_w, rtol=1e-3, atol=1e-3)
    for k in range(5):
        np.testing.assert_allclose(np.array(found["ours"][k]), np.array(found["keras"][k]), rtol=1e-3, atol=1e-3)
