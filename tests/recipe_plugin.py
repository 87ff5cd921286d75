"""A pytest plugin that follows CONTRIBUTING.md's recipes literally, for tests/test_recipes.py.

``RECIPE=dataset``: one ``register(Dataset(...))`` call adds a synthetic dataset, its offline copy in a data
folder beside the real one (MNIST's and QMNIST's folders linked in), as a contributor's would be.
``RECIPE=model``: a builder added to ``mnistlib.models.BUILDERS`` and nowhere else.
"""

import gzip
import hashlib
import os
import tempfile
from pathlib import Path

import keras
import numpy as np

from mnistlib import datasets, models
from mnistlib.datasets import DataFile, Dataset
from mnistlib.idx import write_idx

NAME, FOLDER = "recipe16", "RECIPE16"


def add_dataset() -> None:
    real = datasets.data_dir()
    root = Path(tempfile.mkdtemp(prefix="recipe-data-"))
    for entry in real.iterdir():
        (root / entry.name).symlink_to(entry)
    (root / FOLDER).mkdir()
    rng = np.random.default_rng(0)
    files = []
    for split, n in {"train": 100, "test": 40}.items():
        labels = np.arange(n, dtype=np.uint8) % 10
        for what, array in {"images": rng.integers(0, 256, (n, 16, 16), dtype=np.uint8), "labels": labels}.items():
            name = f"{NAME}-{split}-{what}-idx{3 if what == 'images' else 1}-ubyte.gz"
            write_idx(root / FOLDER / name, array)
            raw = (root / FOLDER / name).read_bytes()
            payload = gzip.decompress(raw)
            files.append(
                DataFile(
                    name,
                    FOLDER,
                    hashlib.md5(raw).hexdigest(),
                    hashlib.md5(payload).hexdigest(),
                    ("https://example.invalid/recipe16/",),
                    f"{NAME} {split} {what}",
                    n,
                    len(payload),
                )
            )
    splits = {s: tuple(f.name for f in files if f"-{s}-" in f.name) for s in ("train", "test")}
    datasets.register(Dataset(NAME, FOLDER, tuple(files), splits=splits, image_shape=(16, 16)))
    os.environ[datasets.ENV_VAR] = str(root)


def add_model() -> None:
    def recipe_mlp(learning_rate: float = 0.001) -> keras.Model:
        model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, "softmax")])
        model.compile(keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy", ["accuracy"])
        return model

    models.BUILDERS["recipe_mlp"] = recipe_mlp


def pytest_configure(config):
    {"dataset": add_dataset, "model": add_model}[os.environ["RECIPE"]]()
