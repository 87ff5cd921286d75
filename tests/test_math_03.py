"""Chapter 03's formulas against Keras and scikit-learn, and each comparison failing on a deliberately wrong formula.

The chapter (``03_linear_models``) writes out, computes in NumPy and checks in hidden cells: the softmax and the
cross-entropy (against ``keras.ops.softmax`` and ``keras.losses``), the cross-entropy's gradient ``p - y`` carried to
the weights as ``X^T (P - Y) / n`` (against the weight change of one plain SGD step with learning rate 1, which works
on every Keras backend), the one-versus-rest hinge-loss SGD that ``SGDClassifier`` runs, what its ``average=True``
averages, and its decision function. Each test here makes the same comparison on toy sizes, and shows that it tells
a right formula from a wrong one.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
from keras import ops
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

N, D, K = 16, 6, 4  # digits in the batch, features, classes


def toy_batch(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, D)).astype(np.float32)
    y = rng.integers(0, K, size=N)
    return x, y


# ---------------------------------------------------------------- softmax and cross-entropy


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_unnormalised(z):  # wrong: forgets the denominator
    return np.exp(z)


def softmax_without_exp(z):  # wrong: normalises the scores themselves
    return z / z.sum(axis=-1, keepdims=True)


def cross_entropy(p, y):
    return -np.log(p[np.arange(len(y)), y])


def cross_entropy_of_wrong_class(p, y):  # wrong: the log-probability of the next class
    return -np.log(p[np.arange(len(y)), (y + 1) % p.shape[1]])


def cross_entropy_without_log(p, y):  # wrong: 1 - p_t, a loss of the same sign but not the cross-entropy
    return 1 - p[np.arange(len(y)), y]


@pytest.mark.parametrize(
    ("formula", "right"), [(softmax, True), (softmax_unnormalised, False), (softmax_without_exp, False)]
)
def test_softmax_against_keras(formula, right):
    z = np.random.default_rng(1).normal(size=(N, K)) * 3
    with np.errstate(all="ignore"):
        ours = formula(z)
    assert np.allclose(ours, ops.convert_to_numpy(ops.softmax(z)), rtol=0, atol=1e-6) is right


@pytest.mark.parametrize(
    ("formula", "right"),
    [(cross_entropy, True), (cross_entropy_of_wrong_class, False), (cross_entropy_without_log, False)],
)
def test_cross_entropy_against_keras(formula, right):
    x, y = toy_batch()
    p = softmax(np.random.default_rng(2).normal(size=(N, K)))
    keras_loss = ops.convert_to_numpy(keras.losses.sparse_categorical_crossentropy(y, p))
    assert np.allclose(formula(p, y), keras_loss, rtol=1e-5, atol=1e-6) is right


def test_shifting_the_scores_leaves_the_softmax_unchanged():
    z = np.random.default_rng(3).normal(size=(N, K))
    assert np.allclose(softmax(z + 123.0), softmax(z))
    assert not np.allclose(softmax(2 * z), softmax(z))  # scaling is not a shift


# ---------------------------------------------------------------- the gradient p - y, through one Keras SGD step


def grad_right(x, p, y_onehot):
    return x.T @ (p - y_onehot) / len(x), (p - y_onehot).mean(axis=0)


def grad_wrong_sign(x, p, y_onehot):  # y - p: the direction of steepest ascent
    return x.T @ (y_onehot - p) / len(x), (y_onehot - p).mean(axis=0)


def grad_summed(x, p, y_onehot):  # forgets that Keras's loss is the batch's mean
    return x.T @ (p - y_onehot), (p - y_onehot).sum(axis=0)


def grad_without_softmax(x, p, y_onehot):  # uses the scores' one-hot argmax instead of the probabilities
    hard = np.eye(p.shape[1])[p.argmax(axis=1)]
    return x.T @ (hard - y_onehot) / len(x), (hard - y_onehot).mean(axis=0)


def keras_gradient(x, y, seed: int = 0):
    """The gradient of the mean cross-entropy of a Dense softmax model, as the weight change of one plain SGD step
    with learning rate 1; with the weights before the step."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(D,))
    model = keras.Model(inputs, keras.layers.Dense(K, activation="softmax")(inputs))
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss="sparse_categorical_crossentropy")
    w, b = (v.copy() for v in model.layers[-1].get_weights())
    model.train_on_batch(x, y)
    w_after, b_after = model.layers[-1].get_weights()
    return (w, b), (w - w_after, b - b_after)


@pytest.mark.parametrize(
    ("formula", "right"),
    [(grad_right, True), (grad_wrong_sign, False), (grad_summed, False), (grad_without_softmax, False)],
)
def test_the_cross_entropy_gradient_is_the_weight_change_of_one_sgd_step(formula, right):
    x, y = toy_batch()
    (w, b), (keras_gw, keras_gb) = keras_gradient(x, y)
    p = softmax(x.astype(np.float64) @ w + b)
    gw, gb = formula(x.astype(np.float64), p, np.eye(K)[y])
    assert np.abs(keras_gw).max() > 1e-2  # a gradient worth comparing
    matches = np.allclose(gw, keras_gw, rtol=0, atol=1e-5) and np.allclose(gb, keras_gb, rtol=0, atol=1e-5)
    assert matches is right


def autodiff_gradient(x, y, w, b):
    """The chapter's route to the gradient: the mean cross-entropy written with keras.ops, differentiated by the
    backend (tf.GradientTape under TensorFlow, jax.grad under JAX)."""

    def loss(w, b, x, y):
        log_p = ops.log_softmax(ops.matmul(x, w) + b, axis=-1)
        return -ops.mean(ops.take_along_axis(log_p, ops.expand_dims(y, 1), axis=1))

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        variables = [tf.Variable(w), tf.Variable(b)]
        with tf.GradientTape() as tape:
            value = loss(*variables, x, y)
        return [g.numpy() for g in tape.gradient(value, variables)]
    if backend == "jax":
        import jax

        return [np.asarray(g) for g in jax.grad(loss, argnums=(0, 1))(w, b, x, y)]
    pytest.skip(f"no autodiff recipe for the {backend} backend")


@pytest.mark.parametrize(
    ("formula", "right"),
    [(grad_right, True), (grad_wrong_sign, False), (grad_summed, False), (grad_without_softmax, False)],
)
def test_the_cross_entropy_gradient_equals_automatic_differentiation(formula, right):
    x, y = toy_batch()
    rng = np.random.default_rng(5)
    w, b = rng.normal(size=(D, K)).astype(np.float32), rng.normal(size=K).astype(np.float32)
    auto_gw, auto_gb = autodiff_gradient(x, y.astype(np.int32), w, b)
    p = softmax(x.astype(np.float64) @ w + b)
    gw, gb = formula(x.astype(np.float64), p, np.eye(K)[y])
    assert np.abs(auto_gw).max() > 1e-2
    scale = max(1.0, float(np.abs(gw).max()))
    matches = np.allclose(gw, auto_gw, rtol=0, atol=1e-5 * scale) and np.allclose(gb, auto_gb, rtol=0, atol=1e-5)
    assert matches is right


def test_the_gradient_with_respect_to_the_scores_is_p_minus_y_by_finite_differences():
    rng = np.random.default_rng(4)
    z, t, h = rng.normal(size=K) * 2, 2, 1e-6

    def loss(v):
        return -np.log(softmax(v)[t])

    numeric = np.array([(loss(z + h * e) - loss(z - h * e)) / (2 * h) for e in np.eye(K)])
    assert np.allclose(softmax(z) - np.eye(K)[t], numeric, atol=1e-7)
    assert not np.allclose(np.eye(K)[t] - softmax(z), numeric, atol=1e-3)


# ---------------------------------------------------------------- one-versus-rest hinge SGD, and its average


def ovr_hinge_sgd(x, y, alpha, epochs, *, threshold=1.0, shrink_after=False, average_per_epoch=False):
    """The chapter's eq. (hinge-update) with scikit-learn's "optimal" schedule, in order (no shuffling); the last and
    the averaged weights. The keyword arguments switch on deliberate mistakes."""
    s_all = np.where(y[:, None] == np.arange(K), 1.0, -1.0)
    w, b = np.zeros((K, x.shape[1])), np.zeros(K)
    w_sum, b_sum, count = np.zeros_like(w), np.zeros_like(b), 0
    t0 = alpha**-0.75
    t = 0
    for _ in range(epochs):
        for xi, s in zip(x, s_all):
            t += 1
            eta = 1 / (alpha * (t0 + t - 1))
            short = s * (w @ xi + b) <= threshold
            if not shrink_after:
                w *= 1 - eta * alpha
            w += eta * (s * short)[:, None] * xi
            b += eta * s * short
            if shrink_after:  # wrong order: the step then is not eq. (hinge-update)
                w *= 1 - eta * alpha
            if not average_per_epoch:
                w_sum += w
                b_sum += b
                count += 1
        if average_per_epoch:  # wrong: the mean of the weights at the end of each epoch
            w_sum += w
            b_sum += b
            count += 1
    return (w, b), (w_sum / count, b_sum / count)


def toy_classes(seed: int = 5, n: int = 60):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, K, size=n)
    x = rng.normal(size=(n, D)) + 2.0 * np.eye(K, D)[y]  # separable-ish clusters
    return x, y


def sklearn_sgd(x, y, alpha, epochs, average):
    clf = SGDClassifier(alpha=alpha, average=average, max_iter=epochs, tol=None, shuffle=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return clf.fit(x, y)


@pytest.mark.parametrize(
    ("mistake", "right"),
    [({}, True), ({"threshold": 0.0}, False), ({"shrink_after": True}, False)],
    ids=["hinge-update", "perceptron-threshold", "shrink-after-step"],
)
def test_one_versus_rest_hinge_sgd_is_what_sgdclassifier_runs(mistake, right):
    x, y = toy_classes()
    alpha, epochs = 1e-2, 3
    (w, b), _ = ovr_hinge_sgd(x, y, alpha, epochs, **mistake)
    clf = sklearn_sgd(x, y, alpha, epochs, average=False)
    same = np.allclose(clf.coef_, w, rtol=0, atol=1e-9) and np.allclose(clf.intercept_, b, rtol=0, atol=1e-9)
    assert same is right


@pytest.mark.parametrize(
    ("which", "right"), [("mean of iterates", True), ("last iterate", False), ("mean of epoch ends", False)]
)
def test_average_true_is_the_mean_of_the_weights_after_every_update(which, right):
    x, y = toy_classes()
    alpha, epochs = 1e-2, 3
    (w_last, b_last), (w_avg, b_avg) = ovr_hinge_sgd(x, y, alpha, epochs)
    _, (w_epochs, b_epochs) = ovr_hinge_sgd(x, y, alpha, epochs, average_per_epoch=True)
    candidate = {
        "mean of iterates": (w_avg, b_avg),
        "last iterate": (w_last, b_last),
        "mean of epoch ends": (w_epochs, b_epochs),
    }[which]
    clf = sklearn_sgd(x, y, alpha, epochs, average=True)
    same = np.allclose(clf.coef_, candidate[0], rtol=0, atol=1e-9) and np.allclose(
        clf.intercept_, candidate[1], rtol=0, atol=1e-9
    )
    assert same is right


@pytest.mark.parametrize("standardise", [True, False])
def test_the_decision_function_is_the_linear_score_on_standardised_inputs(standardise):
    x, y = toy_classes()
    x = 3.0 * x + 5.0  # far from standardised, so that forgetting the scaler shows
    pipe = make_pipeline(StandardScaler(), SGDClassifier(alpha=1e-3, max_iter=5, tol=None, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(x, y)
    scaler, clf = pipe[0], pipe[-1]
    inputs = (x - scaler.mean_) / scaler.scale_ if standardise else x
    scores = inputs @ clf.coef_.T + clf.intercept_
    assert np.allclose(scores, pipe.decision_function(x), rtol=1e-7, atol=1e-9) is standardise
    assert np.array_equal(clf.classes_[scores.argmax(axis=1)], pipe.predict(x)) is standardise
