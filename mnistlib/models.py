"""Model builders: one function per architecture in the book, Keras 3 only.

Every builder takes images of shape (28, 28, 1) scaled to [0, 1] (see
:func:`mnistlib.datasets.as_float`), returns a compiled ``keras.Model`` with a
softmax output over the ten digits, and names the chapter that introduces it.
The code uses ``keras.layers`` and ``keras.ops`` only, so it runs on any Keras
backend (TensorFlow by default, JAX on a GPU machine).
"""

from __future__ import annotations

from typing import Callable

import keras
from keras import layers

__all__ = [
    "INPUT_SHAPE",
    "PIXEL_MEAN",
    "PIXEL_STD",
    "compile_classifier",
    "softmax_regression",
    "mlp_256",
    "mlp_sigmoid_100",
    "deep_mlp",
    "BUILDERS",
    "build",
]

INPUT_SHAPE = (28, 28, 1)
#: Mean and standard deviation of MNIST's training pixels in [0, 1] (chapter 02).
PIXEL_MEAN, PIXEL_STD = 0.1307, 0.3081


def compile_classifier(model: keras.Model, optimizer="rmsprop", learning_rate: float | None = None) -> keras.Model:
    """Compile ``model`` for ten-class classification with integer labels; return it.

    ``optimizer`` is a Keras optimizer name or instance; ``learning_rate``, if
    given, overrides its default. Introduced in chapter 03 (``03_linear_models``).
    """
    if isinstance(optimizer, str):
        optimizer = keras.optimizers.get({"class_name": optimizer, "config": {}})
    if learning_rate is not None:
        optimizer.learning_rate = learning_rate
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _inputs(normalise: bool):
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    x = layers.Flatten(name="pixels")(inputs)
    if normalise:
        # Fixed constants: nothing to adapt, and no statistic of the test set leaks in.
        x = layers.Normalization(mean=PIXEL_MEAN, variance=PIXEL_STD**2, name="standardise")(x)
    return inputs, x


def softmax_regression(optimizer="adam", learning_rate: float | None = None) -> keras.Model:
    """Multinomial logistic regression: standardised pixels, one dense softmax layer (7,850 parameters).

    Introduced in chapter 03 (``03_linear_models``).
    """
    inputs, x = _inputs(normalise=True)
    outputs = layers.Dense(10, activation="softmax", name="softmax")(x)
    return compile_classifier(keras.Model(inputs, outputs, name="softmax_regression"), optimizer, learning_rate)


def _one_hidden_layer(units: int, activation: str, name: str, optimizer, learning_rate) -> keras.Model:
    inputs, x = _inputs(normalise=False)
    x = layers.Dense(units, activation=activation, name="hidden")(x)
    outputs = layers.Dense(10, activation="softmax", name="softmax")(x)
    return compile_classifier(keras.Model(inputs, outputs, name=name), optimizer, learning_rate)


def mlp_256(optimizer="rmsprop", learning_rate: float | None = None) -> keras.Model:
    """The seed's 784-256-10 MLP with ReLU, trained with RMSprop (203,530 parameters).

    Introduced in chapter 04 (``04_mlp``).
    """
    return _one_hidden_layer(256, "relu", "mlp_256", optimizer, learning_rate)


def mlp_sigmoid_100(optimizer="rmsprop", learning_rate: float | None = None) -> keras.Model:
    """784-100-10 with sigmoid hidden units, the classic shallow net (79,510 parameters).

    Introduced in chapter 04 (``04_mlp``).
    """
    return _one_hidden_layer(100, "sigmoid", "mlp_sigmoid_100", optimizer, learning_rate)


def deep_mlp(dropout: float = 0.0, optimizer="adam", learning_rate: float | None = None) -> keras.Model:
    """784-256-128-64-32-10 with ReLU, optional dropout after each hidden layer (244,522 parameters).

    Introduced in chapter 04 (``04_mlp``).
    """
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"deep_mlp: dropout must be in [0, 1), got {dropout}")
    inputs, x = _inputs(normalise=False)
    for i, width in enumerate((256, 128, 64, 32)):
        x = layers.Dense(width, activation="relu", name=f"hidden_{i + 1}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout_{i + 1}")(x)
    outputs = layers.Dense(10, activation="softmax", name="softmax")(x)
    name = "deep_mlp" + (f"_dropout{dropout:g}" if dropout else "")
    return compile_classifier(keras.Model(inputs, outputs, name=name), optimizer, learning_rate)


#: Every builder by name, for the load-or-train cache and the results ledger.
BUILDERS: dict[str, Callable[..., keras.Model]] = {
    "softmax_regression": softmax_regression,
    "mlp_256": mlp_256,
    "mlp_sigmoid_100": mlp_sigmoid_100,
    "deep_mlp": deep_mlp,
}


def build(name: str, **config) -> keras.Model:
    """Build the architecture registered as ``name`` with keyword ``config``.

    Introduced in chapter 03 (``03_linear_models``).
    """
    try:
        builder = BUILDERS[name]
    except KeyError:
        raise KeyError(f"no model builder named {name!r}; known: {', '.join(BUILDERS)}") from None
    return builder(**config)
