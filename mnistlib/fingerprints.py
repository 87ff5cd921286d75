"""Fingerprints: short hashes that say whether two datasets or two models are the same.

The load-or-train cache (:func:`mnistlib.training.train_or_load`) keys a
trained model by them, and a resumed run (:func:`mnistlib.checkpoints.resumable_fit`)
checks with them that it continues the run it was started as.
"""

from __future__ import annotations

import hashlib
import json
import re

import keras
import numpy as np

__all__ = ["architecture_fingerprint", "data_fingerprint"]


def data_fingerprint(*arrays: np.ndarray) -> str:
    """A hash of the arrays' shapes, dtypes and bytes: equal exactly when the data are."""
    h = hashlib.md5()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()[:12]


def architecture_fingerprint(model: keras.Model) -> str:
    """A hash of the model's layers (their configuration and connections), its optimizer's settings and its loss.

    Every build of one architecture has the same fingerprint: it leaves out what
    changes from one build to the next without changing the model, the names
    Keras generates (``input_layer_3``: every named object is called by the
    order in which it appears instead), the optimizer's generated name and the ids of shared objects.
    Introduced in chapter 07 (``07_batch_normalization``).
    """
    optimizer = {k: v for k, v in model.optimizer.get_config().items() if k != "name"} if model.optimizer else None
    blob = json.dumps(
        {"model": model.get_config(), "optimizer": optimizer, "loss": str(model.loss)}, sort_keys=True, default=str
    )
    blob = re.sub(r'"shared_object_id": \d+', "", blob)
    names = dict.fromkeys(re.findall(r'"name": ("(?:[^"\\]|\\.)*")', blob))  # in order of first appearance
    positions = {name: f'"object {i}"' for i, name in enumerate(names)}
    if positions:
        blob = re.sub(
            "|".join(map(re.escape, sorted(positions, key=len, reverse=True))), lambda m: positions[m.group(0)], blob
        )
    return hashlib.sha256(blob.encode()).hexdigest()[:12]
