"""Chapter 04's mathematics, written again in NumPy and compared with Keras on toy sizes.

The forward pass and backpropagation of a one-hidden-layer MLP (Keras's gradients read as the weight change of one
plain SGD step with learning rate 1), the parameter count of a dense layer, the activations' derivatives, the update
rules of SGD with momentum, RMSprop, Adam and Nadam as Keras implements them, and inverted dropout. Every comparison
is also run on a deliberately wrong formula, which must not match: the test can tell a right formula from a wrong one.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

N_IN, HIDDEN, BATCH = 12, 6, 16


def _mlp(activation: str) -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(N_IN,))
    x = layers.Dense(HIDDEN, activation=activation, name="hidden")(inputs)
    outputs = layers.Dense(10, activation="softmax", name="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss="sparse_categorical_crossentropy")
    return model


def _batch():
    rng = np.random.default_rng(1)
    return rng.normal(size=(BATCH, N_IN)).astype("float32"), rng.integers(0, 10, BATCH)


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _forward(params, x, activation):
    w1, b1, w2, b2 = params
    a = x @ w1 + b1
    h = {"relu": lambda: np.maximum(0, a), "sigmoid": lambda: 1 / (1 + np.exp(-a)), "none": lambda: a}[activation]()
    return a, h, _softmax(h @ w2 + b2)


@pytest.mark.parametrize(("activation", "matches"), [("relu", True), ("none", False)])
def test_forward_pass(activation, matches):
    model, (x, _) = _mlp("relu"), _batch()
    params = [w.astype(np.float64) for w in model.get_weights()]
    p = _forward(params, x.astype(np.float64), activation)[2]
    assert np.allclose(p, model.predict(x, verbose=0), atol=1e-6) == matches


def _backprop(params, x, y, activation, mistake=None):
    w1, b1, w2, b2 = params
    a, h, p = _forward(params, x, activation)
    one_hot = np.eye(10)[y]
    delta2 = {"sign": one_hot - p, "sum": p - one_hot}.get(mistake, p - one_hot)
    delta2 = delta2 if mistake == "sum" else delta2 / len(x)
    slope = (a > 0) if activation == "relu" else h * (1 - h)
    if mistake == "no slope":
        slope = 1.0
    elif mistake == "sigmoid slope is sigma":
        slope = h
    delta1 = (delta2 @ w2.T) * slope
    return [x.T @ delta1, delta1.sum(axis=0), h.T @ delta2, delta2.sum(axis=0)]


def _keras_gradients(model, x, y):
    before = model.get_weights()
    model.train_on_batch(x, y)
    return [b - a for b, a in zip(before, model.get_weights())]


@pytest.mark.parametrize(
    ("activation", "mistake"),
    [
        ("relu", None),
        ("relu", "sign"),
        ("relu", "sum"),
        ("relu", "no slope"),
        ("sigmoid", None),
        ("sigmoid", "sigmoid slope is sigma"),
    ],
)
def test_backpropagation_equals_the_weight_change_of_one_sgd_step(activation, mistake):
    model, (x, y) = _mlp(activation), _batch()
    params = [w.astype(np.float64) for w in model.get_weights()]
    ours = _backprop(params, x.astype(np.float64), y, activation, mistake)
    theirs = _keras_gradients(model, x, y)
    same = all(np.allclose(g, k, rtol=1e-3, atol=1e-6) for g, k in zip(ours, theirs))
    assert same == (mistake is None)


@pytest.mark.parametrize(("formula", "matches"), [(lambda n, m: n * m + m, True), (lambda n, m: n * m, False)])
def test_dense_parameter_count(formula, matches):
    widths = [784, 256, 10]
    inputs = keras.Input(shape=(widths[0],))
    x = layers.Dense(widths[1])(inputs)
    model = keras.Model(inputs, layers.Dense(widths[2])(x))
    assert (sum(formula(n, m) for n, m in zip(widths, widths[1:])) == model.count_params() == 203_530) == matches


def test_sigmoid_slope_is_at_most_a_quarter():
    a = np.linspace(-10, 10, 2001)
    s = np.asarray(keras.ops.convert_to_numpy(keras.activations.sigmoid(a)), dtype=np.float64)
    slope = s * (1 - s)
    assert abs(slope.max() - 0.25) < 1e-7 and a[slope.argmax()] == 0
    assert not abs(s.max() - 0.25) < 1e-7  # the wrong "derivative" sigma itself


def _backpropagated_factor(weights, slopes):
    """How much the error's length changes through layers delta <- diag(slope) W^T delta, from an error of ones."""
    delta = np.ones(weights[0].shape[1])
    start = np.linalg.norm(delta)
    for w, s in zip(weights, slopes):
        delta = s * (w.T @ delta)
    return np.linalg.norm(delta) / start


def test_a_chain_of_sigmoid_units_with_small_weights_shrinks_the_error_by_4_to_the_depth():
    rng = np.random.default_rng(0)
    weights = [rng.uniform(-1, 1, size=(1, 1)) for _ in range(10)]
    a = rng.normal(size=(10, 1))
    slopes = 1 / (1 + np.exp(-a)) * (1 - 1 / (1 + np.exp(-a)))
    assert _backpropagated_factor(weights, slopes) <= 4.0**-10


@pytest.mark.parametrize(("spectral_norm_one", "bounded"), [(True, True), (False, False)])
def test_wide_sigmoid_layers_shrink_the_error_only_if_their_spectral_norm_is_at_most_one(spectral_norm_one, bounded):
    # every entry at most 1 in size: the all-ones matrix has spectral norm 100 and multiplies the error by 25 per layer
    weights = [np.ones((100, 100)) for _ in range(10)]
    if spectral_norm_one:
        weights = [w / np.linalg.norm(w, 2) for w in weights]
    slopes = [np.full(100, 0.25)] * 10  # the sigmoid's largest slope, at a = 0
    assert bool(_backpropagated_factor(weights, slopes) <= 4.0**-10 * (1 + 1e-6)) is bounded


@pytest.mark.parametrize(("variance", "matches"), [(lambda n, m: 2 / (n + m), True), (lambda n, m: 2 / n, False)])
def test_dense_layers_draw_glorot_uniform_weights(variance, matches):
    keras.utils.set_random_seed(0)
    n, m = 784, 256
    kernel = layers.Dense(m)
    kernel.build((None, n))
    w = keras.ops.convert_to_numpy(kernel.kernel)
    assert np.abs(w).max() <= np.sqrt(6 / (n + m))
    assert bool(abs(w.var() / variance(n, m) - 1) < 0.02) is matches


def test_relu_layers_multiply_the_variance_by_half_n_sigma_squared():
    rng = np.random.default_rng(0)
    n, sigma2 = 400, 1 / 400
    a_prev = rng.normal(size=(2000, n))
    h = np.maximum(0, a_prev)
    a = h @ rng.normal(0, np.sqrt(sigma2), size=(n, n))
    assert abs(a.var() / (0.5 * n * sigma2 * a_prev.var()) - 1) < 0.05
    assert not abs(a.var() / (n * sigma2 * a_prev.var()) - 1) < 0.05  # without the ReLU's half


# ---------------------------------------------------------------------------------------------------- optimizers
def momentum(w, g, s, t, lr, mu=0.9):
    s["v"] = mu * s.get("v", 0.0) - lr * g
    return w + s["v"]


def momentum_dampened(w, g, s, t, lr, mu=0.9):  # wrong: an average of gradients, not Keras's velocity
    s["v"] = mu * s.get("v", 0.0) + (1 - mu) * g
    return w - lr * s["v"]


def rmsprop(w, g, s, t, lr, rho=0.9, eps=1e-7):
    s["s"] = rho * s.get("s", 0.0) + (1 - rho) * g**2
    return w - lr * g / np.sqrt(s["s"] + eps)


def rmsprop_eps_outside(w, g, s, t, lr, rho=0.9, eps=1e-7):  # wrong: epsilon added after the square root
    s["s"] = rho * s.get("s", 0.0) + (1 - rho) * g**2
    return w - lr * g / (np.sqrt(s["s"]) + eps)


def rmsprop_rho_099(w, g, s, t, lr):  # wrong: another library's default rho
    return rmsprop(w, g, s, t, lr, rho=0.99)


def adam(w, g, s, t, lr, b1=0.9, b2=0.999, eps=1e-7, correct=True):
    s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g**2
    step = lr * np.sqrt(1 - b2**t) / (1 - b1**t) if correct else lr
    return w - step * s["m"] / (np.sqrt(s["v"]) + eps)


def adam_uncorrected(w, g, s, t, lr):  # wrong: no bias correction
    return adam(w, g, s, t, lr, correct=False)


def nadam(w, g, s, t, lr, b1=0.9, b2=0.999, eps=1e-7, warm_up=True):
    mu = (lambda k: b1 * (1 - 0.5 * 0.96**k)) if warm_up else (lambda k: b1)
    s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g**2
    s["prod"] = s.get("prod", 1.0) * mu(t)
    m_hat = mu(t + 1) * s["m"] / (1 - s["prod"] * mu(t + 1)) + (1 - mu(t)) * g / (1 - s["prod"])
    return w - lr * m_hat / (np.sqrt(s["v"] / (1 - b2**t)) + eps)


def nadam_constant_momentum(w, g, s, t, lr):  # wrong: mu_t = beta_1 at every step, no warm-up
    return nadam(w, g, s, t, lr, warm_up=False)


CURVATURE = np.array([1.0, 10.0])
#: (w0, learning rate): a toy with gradients near 1, and one with gradients near 1e-4, where epsilon matters.
TOYS = {"large": (np.array([1.0, 1.0]), 0.05), "small": (np.array([1e-4, 1e-4]), 1e-5)}
OPTIMIZERS = {
    "momentum": lambda lr: keras.optimizers.SGD(lr, momentum=0.9),
    "rmsprop": lambda lr: keras.optimizers.RMSprop(lr),
    "adam": lambda lr: keras.optimizers.Adam(lr),
    "nadam": lambda lr: keras.optimizers.Nadam(lr),
}


def _numpy_path(rule, w0, lr, steps=25):
    w, state, path = w0.copy(), {}, [w0.copy()]
    for t in range(1, steps + 1):
        w = rule(w, CURVATURE * w, state, t, lr)
        path.append(w)
    return np.array(path)


def _keras_path(optimizer, w0, steps=25):
    w = keras.Variable(w0.astype("float32"))
    path = [w0.copy()]
    for _ in range(steps):
        g = CURVATURE * keras.ops.convert_to_numpy(w.value).astype(np.float64)
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(g.astype("float32")), w)])
        path.append(keras.ops.convert_to_numpy(w.value).astype(np.float64))
    return np.array(path)


@pytest.mark.parametrize(
    ("optimizer", "rule", "toy", "matches"),
    [
        ("momentum", momentum, "large", True),
        ("momentum", momentum_dampened, "large", False),
        ("rmsprop", rmsprop, "large", True),
        ("rmsprop", rmsprop, "small", True),
        ("rmsprop", rmsprop_eps_outside, "small", False),
        ("rmsprop", rmsprop_rho_099, "large", False),
        ("adam", adam, "large", True),
        ("adam", adam, "small", True),
        ("adam", adam_uncorrected, "large", False),
        ("nadam", nadam, "large", True),
        ("nadam", nadam_constant_momentum, "large", False),
        ("nadam", adam, "large", False),
    ],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_update_rule_equals_keras(optimizer, rule, toy, matches):
    w0, lr = TOYS[toy]
    ours, theirs = _numpy_path(rule, w0, lr), _keras_path(OPTIMIZERS[optimizer](lr), w0)
    scale = np.abs(w0).max()
    assert np.allclose(ours, theirs, rtol=1e-4, atol=1e-5 * scale) == matches


# ---------------------------------------------------------------------------------------------------- dropout
@pytest.mark.parametrize(("scale", "matches"), [(lambda r: 1 / (1 - r), True), (lambda r: 1.0, False)])
def test_inverted_dropout(scale, matches):
    rate, x = 0.3, np.ones((100, 1000), "float32")
    layer = keras.layers.Dropout(rate, seed=0)
    out = keras.ops.convert_to_numpy(layer(x, training=True))
    kept = out != 0
    assert abs((~kept).mean() - rate) < 0.01 and abs(out.mean() - 1) < 0.01
    assert np.allclose(out[kept], x[kept] * scale(rate)) == matches
    assert np.array_equal(keras.ops.convert_to_numpy(layer(x, training=False)), x)
