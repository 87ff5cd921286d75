"""The networks as the chapters show them are the networks mnistlib.models builds, layer by layer.

A chapter that introduces a network (or shows it again, as chapter 07 does the VGG-like net) defines it in a
visible code cell tagged ``model-definition``, as plain Keras code, and trains that definition. Later chapters
reuse the library's builder of the same name. This test runs each chapter's definition cells (nothing else of
the chapter) and compares every network they define with the
builder: the same layers in the same order, with the same configurations and weight shapes, and the same
architecture fingerprint (the layers, the optimizer's settings and the loss: what keys the model cache, so the
chapter's model and the library's share their cached training).
"""

from __future__ import annotations

import ast
import inspect
import json
import re

import keras
import numpy as np
import pytest
from conftest import ROOT

from mnistlib import chapters, models
from mnistlib.fingerprints import architecture_fingerprint

TAG = "model-definition"
#: Settings each builder is compared in, besides its defaults, where the chapter's function takes them.
CONFIGS: dict[str, list[dict]] = {
    "softmax_regression": [{"optimizer": "sgd", "learning_rate": 0.1}],
    "mlp_256": [{"learning_rate": 0.01}],
    "mlp_sigmoid_100": [],
    "deep_mlp": [{"dropout": 0.3}],
    "simple_cnn": [{"augment": models.AUGMENTATION}],
    "vgg_like": [{"batch_norm": True}, {"augment": models.AUGMENTATION}],
    "bn_cnn": [{"augment": models.AUGMENTATION}],
    "standard_cnn": [],
    "resnet": [{"blocks": (1, 1, 1), "bn_momentum": 0.9, "decay_steps": 100}, {"blocks": (1, 1, 1), "width": 0.5}],
}


def _source(cell) -> str:
    s = cell["source"]
    return "".join(s) if isinstance(s, list) else s


def definition_cells(chapter: str) -> list[str]:
    nb = json.loads((ROOT / "chapters" / f"{chapter}.ipynb").read_text())
    return [_source(c) for c in nb["cells"] if c["cell_type"] == "code" and TAG in c["metadata"].get("tags", [])]


def chapter_definitions(chapter: str) -> dict:
    """Run the chapter's definition cells in a fresh namespace; what they define."""
    namespace = {"keras": keras, "layers": keras.layers, "ops": keras.ops, "np": np, "models": models}
    for code in definition_cells(chapter):
        exec(compile(code, f"<{chapter}: {TAG} cell>", "exec"), namespace)  # noqa: S102 (the book's own cells)
    return namespace


def introduced_in(builder) -> str:
    """The chapter a builder's docstring says introduces it."""
    m = re.search(r"Introduced\s+in\s+chapter\s+\d\d\s+\(``(\d\d_\w+)``\)", inspect.getdoc(builder) or "")
    assert m, f"models.{builder.__name__}: its docstring does not name the chapter that introduces it"
    return m.group(1)


def layer_table(model: keras.Model) -> list[tuple]:
    rows = []
    for layer in model.layers:
        config = {k: v for k, v in layer.get_config().items() if k != "name"}
        rows.append(
            (
                type(layer).__name__,
                layer.name,
                json.dumps(config, sort_keys=True, default=str),
                [tuple(w.shape) for w in layer.weights],
            )
        )
    return rows


def differences(chapter_model: keras.Model, library_model: keras.Model) -> list[str]:
    ours, theirs = layer_table(chapter_model), layer_table(library_model)
    found = [f"{len(ours)} layers in the chapter, {len(theirs)} in the library"] if len(ours) != len(theirs) else []
    for i, (a, b) in enumerate(zip(ours, theirs)):
        for what, x, y in zip(("type", "name", "config", "weight shapes"), a, b):
            if x != y:
                found.append(f"layer {i} ({b[1]}): {what} {x} in the chapter, {y} in the library")
    if not found and architecture_fingerprint(chapter_model) != architecture_fingerprint(library_model):
        found.append("same layers, but another optimizer, loss or connection (architecture fingerprint differs)")
    return found


def defined_builders(chapter: str) -> list[str]:
    """The builders' names that the chapter's model-definition cells define (read, not run)."""
    return [
        node.name
        for code in definition_cells(chapter)
        for node in ast.parse(code).body
        if isinstance(node, ast.FunctionDef) and node.name in models.BUILDERS
    ]


#: Every (chapter, builder, settings) to compare: the chapter that introduces a builder, and any later chapter
#: that writes it out again (chapter 07 shows vgg_like with its batch-normalisation branch).
CASES = [
    pytest.param(chapter, name, config, id=f"{chapter[:2]}-{name}{'-' + '-'.join(map(str, config)) if config else ''}")
    for chapter in chapters.CHAPTERS
    for name in dict.fromkeys(defined_builders(chapter))
    for config in [{}, *CONFIGS.get(name, [])]  # a builder missing there fails the next test, by name
]


def test_every_builder_has_its_settings_listed():
    missing, stale = sorted(set(models.BUILDERS) - set(CONFIGS)), sorted(set(CONFIGS) - set(models.BUILDERS))
    assert not missing, f"tests/test_chapter_models.py: add {missing} to CONFIGS (settings besides the defaults, or [])"
    assert not stale, f"tests/test_chapter_models.py: CONFIGS names {stale}, which mnistlib.models.BUILDERS lacks"


@pytest.mark.parametrize("name", list(models.BUILDERS))
def test_the_introducing_chapter_defines_the_network(name):
    chapter = introduced_in(models.BUILDERS[name])
    assert chapter in chapters.CHAPTERS
    assert name in defined_builders(chapter), f"chapters/{chapter}.ipynb: no cell tagged {TAG!r} defines {name}()"


@pytest.mark.parametrize(("chapter", "name", "config"), CASES)
def test_the_chapter_defines_the_network_the_library_builds(chapter, name, config):
    builder = models.BUILDERS[name]
    ours = chapter_definitions(chapter)[name]
    accepted = inspect.signature(ours).parameters
    if not set(config) <= set(accepted):
        pytest.skip(f"the chapter's {name}() does not take {sorted(set(config) - set(accepted))}")
    keras.utils.set_random_seed(0)
    chapter_model = ours(**config)
    keras.utils.set_random_seed(0)
    library_model = builder(**config)
    found = differences(chapter_model, library_model)
    assert not found, f"chapters/{chapter}.ipynb's {name}({config}) differs from models.{name}:\n" + "\n".join(found)


@pytest.mark.parametrize("name", list(models.BUILDERS))
def test_the_chapter_trains_its_own_definition(name):
    """The chapter that shows a network trains what it shows, not the library's copy."""
    chapter = introduced_in(models.BUILDERS[name])
    nb = json.loads((ROOT / "chapters" / f"{chapter}.ipynb").read_text())
    code = "\n".join(_source(c) for c in nb["cells"] if c["cell_type"] == "code")
    assert not re.search(rf"\bmodels\.{name}\b", code), f"chapters/{chapter}.ipynb calls models.{name}"
    after = code.split(f"def {name}(", 1)[-1]
    assert re.search(rf"(?<![\"'.])\b{name}\b(?![\"'(])", after), (
        f"chapters/{chapter}.ipynb defines {name}() but never hands it to training"
    )


def _mlp(activation: str, optimizer: str = "rmsprop") -> keras.Model:
    inputs = keras.Input(shape=models.INPUT_SHAPE, name="image")
    x = keras.layers.Flatten(name="pixels")(inputs)
    x = keras.layers.Dense(256, activation=activation, name="hidden")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="softmax")(x)
    return models.compile_classifier(keras.Model(inputs, outputs, name="mlp_256"), optimizer=optimizer)


def test_a_difference_is_found():
    """The comparison fails on a network that differs in one layer's setting or in its optimizer, and passes on
    the same network written out."""
    library = models.mlp_256()
    assert differences(_mlp("relu"), library) == []
    assert any("hidden" in d and "config" in d for d in differences(_mlp("tanh"), library))
    assert differences(_mlp("relu", optimizer="adam"), library) == [
        "same layers, but another optimizer, loss or connection (architecture fingerprint differs)"
    ]
