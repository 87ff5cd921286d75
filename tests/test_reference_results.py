"""The committed full-scale results stay true to the code: every row's parameter count is its builder's.

When a builder changes (chapter 08's ResNet did), its rows in `book/reference_results.csv` describe a network
the book no longer trains: they must be re-run on a GPU or removed, and the chapter then lists the run as not
yet done. This test fails until one of the two has happened.
"""

import re

import pytest
from conftest import benchmark_script

from mnistlib import chapters, models, results

#: Ledger names are builder names with suffixes saying how the model was trained; none of these adds parameters.
TRAINING_SUFFIXES = re.compile(
    r"(_refit|_seed\d+|_lr[\d.e-]+|_augmented|_shift|_dropout|_weights_only_resume|_original_setting)+$"
)
#: Variants whose architecture differs from their builder's defaults.
VARIANTS = {"vgg_like_bn": ("vgg_like", {"batch_norm": True})}
#: Scikit-learn's linear classifiers: one weight per pixel and class, one bias per class.
LINEAR_PARAMS = 784 * 10 + 10


def expected_params(model: str, backend: str, cache: dict) -> int:
    ensemble = re.fullmatch(r"ensemble_(\d+)_cnns(_refit)?", model)
    if ensemble:  # chapter 10's members: two augmented batch-normalised CNNs and one without augmentation
        return int(ensemble.group(1)) * expected_params("bn_cnn", backend, cache)
    if backend == "scikit-learn":
        return LINEAR_PARAMS
    base = TRAINING_SUFFIXES.sub("", model)
    network = re.fullmatch(r"m(\d+)", base)
    if network:  # chapter 11's M3, M5, M7: defined in the chapter's cell, built as benchmarks/full_gpu.py builds them
        key = ("m_model", int(network.group(1)))
        if key not in cache:
            cache[key] = benchmark_script("full_gpu").chapter_11_models()["m_model"](key[1]).count_params()
        return cache[key]
    name, config = VARIANTS.get(base, (base, {}))
    if name not in models.BUILDERS:
        pytest.fail(f"reference row {model!r}: no builder named {name!r}; teach this test how the model is built")
    key = (name, tuple(sorted(config.items())))
    if key not in cache:
        cache[key] = models.build(name, **config).count_params()
    return cache[key]


def test_every_reference_row_has_its_builders_parameter_count():
    reference = results.load_reference()
    assert not reference.empty
    cache: dict = {}
    stale = [
        f"{row.chapter}/{row.model}: {int(row.params):,} in the file, {expected:,} built now"
        for row in reference.itertuples()
        if int(row.params) != (expected := expected_params(row.model, row.backend, cache))
    ]
    advice = "re-run these in the full profile (README: benchmarks/reference_results.py) or remove their rows: "
    assert stale == [], advice + "; ".join(stale)


def test_the_check_catches_a_stale_row(tmp_path, monkeypatch):
    """The ResNet's old rows (8,606,666 parameters, before it was built as the original) are refused."""
    stale = tmp_path / "reference.csv"
    reference = results.load_reference()
    row = reference.iloc[[0]].assign(chapter=chapters.RESNET_QMNIST, model="resnet", params=8_606_666, backend="jax")
    row.to_csv(stale, index=False)
    monkeypatch.setattr(results, "load_reference", lambda path=stale: results._read_table(stale, list(row.columns)))
    expected = f"{chapters.RESNET_QMNIST}/resnet: 8,606,666 in the file, 8,764,426 built now"
    with pytest.raises(AssertionError, match=expected):
        test_every_reference_row_has_its_builders_parameter_count()


def test_chapter_11s_networks_are_counted_from_the_chapter():
    """Rows of benchmarks/full_gpu.py's run of chapter 11 (m5_seed0_refit, ...) are checked against the chapter's
    own m_model: M5 has 1,129,160 parameters at its published width (the chapter's check)."""
    cache: dict = {}
    assert expected_params("m5_seed0_refit", "jax", cache) == 1_129_160
    assert expected_params("m3_seed4_refit", "jax", cache) == 1_126_280  # M3: ten convolutions of 3x3
