"""A training process for tests/test_checkpoints.py to interrupt: ``python resume_worker.py FOLDER EPOCHS MODE``.

Trains a tiny CNN with :func:`mnistlib.checkpoints.resumable_fit` on fixed
random digits. ``MODE`` slows it down where the test wants to kill it:
``slow-batches`` sleeps after every batch (a kill lands mid-epoch),
``slow-save`` sleeps inside the checkpoint write of epoch 2, after the temporary file
is written and before it is renamed (a kill lands mid-write), ``normal`` runs
at full speed. Progress lines go to ``FOLDER.progress``; the final weights to
``FOLDER.weights.npz``.
"""

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # as mnistlib sets it, before Keras imports TensorFlow
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # as mnistlib sets it

import keras  # noqa: E402
import numpy as np  # noqa: E402

from mnistlib import checkpoints  # noqa: E402


def build() -> keras.Model:
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dropout(0.3, name="dropout")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="softmax")(x)
    model = keras.Model(inputs, outputs, name="tiny")
    schedule = keras.optimizers.schedules.CosineDecay(1e-2, 64)
    model.compile(keras.optimizers.Nadam(schedule), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def data():
    rng = np.random.default_rng(0)
    return rng.random((256, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 256)


class Progress(keras.callbacks.Callback):
    def __init__(self, path: Path, delay: float):
        super().__init__()
        self.path, self.delay, self.epoch = path, delay, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        with open(self.path, "a") as fh:
            fh.write(f"epoch {self.epoch} batch {batch + 1}\n")
        time.sleep(self.delay)


def main(folder: str, epochs: int, mode: str) -> None:
    progress = Path(folder + ".progress")
    if mode == "slow-save":
        real_save = keras.Model.save

        def slow_save(self, path, *args, **kwargs):
            real_save(self, path, *args, **kwargs)
            with open(progress, "a") as fh:
                fh.write(f"wrote {Path(path).name}\n")
            if Path(path).name.startswith(".epoch-002."):
                time.sleep(60)

        keras.Model.save = slow_save
    x, y = data()
    result = checkpoints.resumable_fit(
        build,
        x,
        y,
        folder=folder,
        epochs=epochs,
        batch_size=32,
        seed=7,
        validation_data=(x[:64], y[:64]),
        callbacks=[Progress(progress, 0.3 if mode == "slow-batches" else 0.0)],
    )
    np.savez(folder + ".weights.npz", *result.model.get_weights())


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
