"""Chapter 08's mathematics, checked against Keras: each formula the chapter computes in NumPy agrees with Keras,
and a deliberately wrong version of it does not (so the comparison would catch the mistake).

- the gradient through a residual block, y = F(x) + x: dy/dx = dF/dx + I (eq-residual-jacobian), against the
  weight change of one SGD step at rate 1; without the identity term it fails;
- the parameters of a convolution, k^2 C_in C_out + C_out (eq-conv-params), for the bottleneck 256-64-64-256 and
  two 3x3 convolutions on 256 channels, against count_params(); without the biases it fails;
- residual blocks multiply out into paths: prod (I + A_k) = sum over subsets of the products of their A_k, against a
  Keras model of linear residual blocks; the plain product of the A_k alone fails;
- the rate a weights-only resume of a cosine schedule ends with, eta_0/2 (1 - cos(pi t0/T)), against Keras's
  CosineDecay; the planned end, 0, fails.
"""

from __future__ import annotations

import functools
from itertools import combinations

import keras
import numpy as np
import pytest
from keras import layers

# ---------------------------------------------------------------- the gradient through a residual block


def _block_and_gradient(seed: int = 8):
    """A block F(x) = tanh(x W1 + b1) W2 + b2 on 4 numbers, y = F(x) + x, the mean squared error to a target; the
    loss's gradient for x as Keras computes it (x is the kernel of a bias-free Dense layer fed the number 1, so its
    gradient is minus the weight change of one SGD step at rate 1)."""
    rng = np.random.default_rng(seed)
    d, h = 4, 3
    x0 = rng.normal(size=d)
    w1, b1, w2, b2 = rng.normal(size=(d, h)), rng.normal(size=h), rng.normal(size=(h, d)), rng.normal(size=d)
    target = rng.normal(size=d)
    one = keras.Input(shape=(1,))
    x_in = layers.Dense(d, use_bias=False, name="x")(one)
    f_out = layers.Dense(d, name="W2")(layers.Dense(h, activation="tanh", name="W1")(x_in))
    block = keras.Model(one, layers.Add()([f_out, x_in]))
    block.get_layer("x").set_weights([x0[None, :]])
    block.get_layer("W1").set_weights([w1, b1])
    block.get_layer("W2").set_weights([w2, b2])
    block.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss="mean_squared_error")
    block.train_on_batch(np.ones((1, 1)), target[None, :])
    keras_grad = x0 - block.get_layer("x").get_weights()[0][0]
    return (x0, w1, b1, w2, b2, target), keras_grad


def residual_gradient(x0, w1, b1, w2, b2, target, *, identity_term: bool = True):
    """The loss's gradient at the block's input, by hand: (dF/dx)^T grad_y + grad_y (eq-residual-jacobian)."""
    a = np.tanh(x0 @ w1 + b1)
    y = a @ w2 + b2 + x0
    grad_y = 2 * (y - target) / len(x0)
    through_f = ((grad_y @ w2.T) * (1 - a**2)) @ w1.T
    return through_f + grad_y if identity_term else through_f


@pytest.mark.parametrize("seed", [8, 1, 2])
def test_the_residual_gradient_matches_keras_and_needs_the_identity_term(seed):
    args, keras_grad = _block_and_gradient(seed)
    assert np.allclose(residual_gradient(*args), keras_grad, rtol=1e-4, atol=1e-5)
    wrong = residual_gradient(*args, identity_term=False)
    assert not np.allclose(wrong, keras_grad, rtol=1e-2, atol=1e-3), "dy/dx without + I must not match"


# ---------------------------------------------------------------- parameters of convolutions


def conv_parameters(k, c_in, c_out, *, biases: bool = True):
    return k * k * c_in * c_out + (c_out if biases else 0)


def _keras_convolutions(convs, size=6):
    inputs = keras.Input(shape=(size, size, convs[0][1]))
    x = inputs
    for k, _, c_out in convs:
        x = layers.Conv2D(c_out, k, padding="same")(x)
    return keras.Model(inputs, x).count_params()


BOTTLENECK = [(1, 256, 64), (3, 64, 64), (1, 64, 256)]
TWO_3X3 = [(3, 256, 256), (3, 256, 256)]


@pytest.mark.parametrize("convs", [BOTTLENECK, TWO_3X3], ids=["bottleneck", "two-3x3"])
def test_the_convolution_parameter_count_matches_keras_and_needs_the_biases(convs):
    counted = _keras_convolutions(convs)
    assert sum(conv_parameters(*c) for c in convs) == counted
    assert sum(conv_parameters(*c, biases=False) for c in convs) != counted


def test_the_bottleneck_saves_a_factor_of_about_seventeen():
    bottleneck = sum(conv_parameters(*c) for c in BOTTLENECK)
    plain = sum(conv_parameters(*c) for c in TWO_3X3)
    assert (bottleneck, plain) == (70_016, 1_180_160)
    assert 16 < plain / bottleneck < 17


# ---------------------------------------------------------------- paths through residual blocks


def _linear_residual_model(a_matrices):
    inputs = keras.Input(shape=(a_matrices[0].shape[0],))
    h = inputs
    for a in a_matrices:
        dense = layers.Dense(a.shape[0], use_bias=False)
        h = layers.Add()([h, dense(h)])
        dense.set_weights([a])
    return keras.Model(inputs, h)


def sum_over_paths(a_matrices, *, with_skips: bool = True):
    eye = np.eye(a_matrices[0].shape[0])
    n = len(a_matrices)
    if not with_skips:  # the plain stack: only the path through every block
        return functools.reduce(np.matmul, a_matrices, eye)
    subsets = [s for r in range(n + 1) for s in combinations(range(n), r)]
    return sum(functools.reduce(np.matmul, [a_matrices[k] for k in s], eye) for s in subsets)


def test_residual_blocks_multiply_out_into_paths():
    rng = np.random.default_rng(3)
    a_matrices = [rng.normal(scale=0.3, size=(5, 5)) for _ in range(3)]
    x = rng.normal(size=(4, 5))
    out = _linear_residual_model(a_matrices).predict(x, verbose=0)
    assert np.allclose(x @ sum_over_paths(a_matrices), out, atol=1e-5)
    assert not np.allclose(x @ sum_over_paths(a_matrices, with_skips=False), out, atol=1e-2)


# ---------------------------------------------------------------- a weights-only resume of a cosine schedule


def last_rate_after_restart(eta0, total_steps, t0, *, restarted: bool = True):
    """The rate of the last step of a run whose optimizer was rebuilt after t0 of total_steps steps."""
    return eta0 / 2 * (1 - np.cos(np.pi * t0 / total_steps)) if restarted else 0.0


@pytest.mark.parametrize(("total_steps", "t0"), [(20, 10), (600, 60), (7, 3)])
def test_a_restarted_cosine_schedule_ends_where_the_formula_says(total_steps, t0):
    schedule = keras.optimizers.schedules.CosineDecay(1e-3, total_steps)
    keras_last = float(schedule(total_steps - t0))  # the rebuilt optimizer counts from 0
    assert np.isclose(last_rate_after_restart(1e-3, total_steps, t0), keras_last, rtol=1e-5)
    assert not np.isclose(last_rate_after_restart(1e-3, total_steps, t0, restarted=False), keras_last, atol=1e-6)
    steps = np.arange(1, total_steps - t0 + 1)
    assert all(float(schedule(u)) > float(schedule(t0 + u)) for u in steps), "higher than planned at every step"
