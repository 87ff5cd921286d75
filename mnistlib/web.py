"""The book's networks for the reader's browser: exported to ONNX, checked with onnxruntime, listed for the page.

The page "Draw a digit" (``book/draw_a_digit.ipynb``) runs the book's own
networks in the reader's browser with onnxruntime-web, with no kernel and no
server. That page exports them here, into :func:`web_dir` (the profile's
artifacts folder, ``web/``), with a ``models.json`` that lists them; the
Sphinx extension ``book/_ext/book_draw.py`` copies that folder and
onnxruntime-web's files into the built site's ``_static/draw``.
Introduced in the page "Draw a digit" (``draw_a_digit``).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import keras
import numpy as np

from .training import artifacts_dir

__all__ = [
    "MANIFEST",
    "web_dir",
    "probabilities",
    "exportable",
    "export_onnx",
    "write_manifest",
    "canvas_html",
    "onnx_probabilities",
]

#: The list of exported networks the page reads, beside them.
MANIFEST = "models.json"


def web_dir(profile: str) -> Path:
    """Where the page's networks are exported in ``profile``: ``<artifacts>/<profile>/web``."""
    return artifacts_dir(profile) / "web"


def probabilities(model: keras.Model, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """``model``'s probabilities for ``x`` (float32 images), called batch by batch in inference mode. Unlike
    ``model.predict`` it traces no function, so many models in one kernel do not warn about retracing."""
    x = np.asarray(x, dtype=np.float32)
    batches = [model(x[i : i + batch_size], training=False) for i in range(0, len(x), batch_size)]
    return np.concatenate([keras.ops.convert_to_numpy(b) for b in batches]) if batches else np.zeros((0, 10))


def onnx_probabilities(path: str | Path, x: np.ndarray) -> np.ndarray:
    """The ONNX model at ``path`` run by onnxruntime (CPU) on ``x`` (float32, (n, 28, 28, 1))."""
    import onnxruntime  # imported here: only the export needs it, and it is slow to import

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: np.asarray(x, dtype=np.float32)})[0]


def _constant_normalisation(layer):
    """A Normalization layer with one mean and one variance for every pixel as the equal Rescaling layer
    (``x / std - mean / std``), any other layer as a fresh copy (``keras.models.clone_model``'s default)."""
    if isinstance(layer, keras.layers.Normalization):
        mean = np.asarray(keras.ops.convert_to_numpy(layer.mean), dtype=np.float64)
        std = np.sqrt(np.asarray(keras.ops.convert_to_numpy(layer.variance), dtype=np.float64))
        if np.ptp(mean) == 0 and np.ptp(std) == 0:  # one mean and variance (broadcast over the pixels once built)
            scale = 1.0 / float(std.ravel()[0])
            return keras.layers.Rescaling(scale=scale, offset=-float(mean.ravel()[0]) * scale, name=layer.name)
    return layer.__class__.from_config(layer.get_config())


def exportable(model: keras.Model) -> keras.Model:
    """``model`` with its weights, each Normalization layer of one mean and variance replaced by the equal Rescaling.

    Keras keeps a Normalization layer's mean and variance as tensors that its ONNX export (tf2onnx 1.17) leaves as
    inputs of the graph, which a caller would have to feed; a Rescaling layer's two numbers become constants.
    """
    if not any(isinstance(layer, keras.layers.Normalization) for layer in model.layers):
        return model
    clone = keras.models.clone_model(model, clone_function=_constant_normalisation)
    for layer in model.layers:
        if layer.weights:
            clone.get_layer(layer.name).set_weights(layer.get_weights())
    return clone


def export_onnx(model: keras.Model, path: str | Path, check: np.ndarray) -> float:
    """Export ``model`` to ONNX at ``path`` (Keras's ``model.export(..., format="onnx")``, through
    :func:`exportable`) and return the largest difference between the file's probabilities, run by onnxruntime,
    and Keras's on ``check`` (float32 images, (n, 28, 28, 1))."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    expected = probabilities(model, check)
    ready = exportable(model)
    probabilities(ready, check[:1])  # the export needs a model that has been called
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf2onnx's own FutureWarnings about NumPy aliases
        ready.export(str(path), format="onnx", verbose=False)
    return float(np.abs(onnx_probabilities(path, check) - expected).max())


def canvas_html(static: str = "../_static") -> str:
    """The HTML of the page's canvas: the container ``draw_digit.js`` fills, onnxruntime-web's script and its own;
    ``static`` is the site's ``_static`` folder as the page sees it."""
    return (
        f'<div class="draw-digit" data-models="{static}/draw/models/{MANIFEST}" data-ort="{static}/draw/ort/"></div>'
        f'<script src="{static}/draw/ort/ort.wasm.min.js"></script>'
        f'<script src="{static}/draw/draw_digit.js"></script>'
    )


def write_manifest(folder: str | Path, models: list[dict]) -> Path:
    """``models.json`` in ``folder``: ``{"models": [{"name", "title", "file", ...}, ...]}``, in the page's order."""
    path = Path(folder) / MANIFEST
    path.write_text(json.dumps({"models": models}, indent=1) + "\n")
    return path
