"""Trains one small network on one device and on every device, for tests/test_distribution.py.

``KERAS_BACKEND=jax XLA_FLAGS=--xla_force_host_platform_device_count=4 python distribution_worker.py OUT.json``:
the environment must be set before this process imports Keras, so the test runs it in a subprocess. The
same seeded network (a convolution, batch normalisation, a dense softmax) is trained from the same initial
weights on the same batches, once with ``MNISTBOOK_DEVICES=1`` and once with ``all``
(:func:`mnistlib.distribution.data_parallel`); the losses per epoch and the final weights of both runs go to
``OUT.json``.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # as mnistlib sets it

import keras  # noqa: E402
import numpy as np  # noqa: E402

from mnistlib import distribution  # noqa: E402


def build() -> keras.Model:
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(8, 3, use_bias=False, name="conv")(inputs)
    x = keras.layers.BatchNormalization(momentum=0.9, name="bn")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="softmax")(x)
    model = keras.Model(inputs, outputs, name="tiny")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    return model


def train(setting: str, initial: list[np.ndarray], x, y) -> dict:
    plan = distribution.data_parallel(setting)
    with plan.scope():
        model = build()
        model.set_weights(initial)
        history = model.fit(x, y, batch_size=plan.check_batch_size(32), epochs=3, shuffle=False, verbose=0)
    return {
        "plan": plan.describe(),
        "devices": plan.n,
        "loss": [float(v) for v in history.history["loss"]],
        "weights": [w.tolist() for w in model.get_weights()],
    }


def main(out: str) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.random((256, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 256)
    keras.utils.set_random_seed(0)
    initial = build().get_weights()
    runs = {"one": train("1", initial, x, y), "all": train("all", initial, x, y)}
    runs["backend"] = keras.backend.backend()
    with open(out, "w") as f:
        json.dump(runs, f)


if __name__ == "__main__":
    main(sys.argv[1])
