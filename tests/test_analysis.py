"""Error-analysis helpers (chapter 09) against independent computations."""

import keras
import numpy as np
import pytest
from sklearn.metrics import confusion_matrix

from mnistlib import analysis, chapters

rng = np.random.default_rng(3)
Y = rng.integers(0, 10, 2_000)
P = np.where(rng.random(2_000) < 0.8, Y, rng.integers(0, 10, 2_000))
CONF = rng.random(2_000)


def test_confusion_counts_match_scikit_learn():
    np.testing.assert_array_equal(analysis.confusion_counts(Y, P), confusion_matrix(Y, P, labels=range(10)))
    with pytest.raises(ValueError, match="alike"):
        analysis.confusion_counts(Y, P[:-1])
    with pytest.raises(ValueError, match="0..9"):
        analysis.confusion_counts([10], [1])


def test_confused_pairs_rank_every_mistake():
    table = analysis.confused_pairs(Y, P)
    assert table["count"].sum() == (Y != P).sum()
    assert table["count"].is_monotonic_decreasing and (table["true"] != table["predicted"]).all()
    t, p = table.iloc[0][["true", "predicted"]]
    assert table.iloc[0]["count"] == ((Y == t) & (P == p)).sum()
    np.testing.assert_allclose(table["share"].sum(), 1.0)
    sym = analysis.confused_pairs(Y, P, symmetric=True, top=3)
    a, b = sym.iloc[0][["a", "b"]]
    assert len(sym) == 3 and sym.iloc[0]["count"] == (((Y == a) & (P == b)) | ((Y == b) & (P == a))).sum()


def test_mistakes_by_class_selects_only_mistakes_most_confident_first():
    picked = analysis.mistakes_by_class(Y, P, CONF, per_class=5)
    assert set(picked) == set(range(10))
    for c, idx in picked.items():
        assert len(idx) == min(5, ((Y == c) & (Y != P)).sum())
        assert (Y[idx] == c).all() and (P[idx] != c).all()
        assert np.all(np.diff(CONF[idx]) <= 0)
        others = np.flatnonzero((Y == c) & (Y != P))
        assert CONF[idx].min() >= np.sort(CONF[others])[::-1][len(idx) - 1]


def test_one_mistake_per_cell_covers_every_confusion():
    cells = analysis.one_mistake_per_cell(Y, P, CONF)
    counts = analysis.confusion_counts(Y, P)
    assert set(cells) == {(t, p) for t in range(10) for p in range(10) if t != p and counts[t, p]}
    for (t, p), i in cells.items():
        same = np.flatnonzero((Y == t) & (P == p))
        assert Y[i] == t and P[i] == p and CONF[i] == CONF[same].max()


def test_wilson_interval_known_values_and_edges():
    low, high = analysis.wilson_interval(5, 100)
    np.testing.assert_allclose([low, high], [0.02154, 0.11175], atol=1e-4)  # the textbook example
    low, high = analysis.wilson_interval(0, 50)
    assert low == 0 and 0 < high < 0.08
    low, high = analysis.wilson_interval([82, 540], [10_000, 50_000])
    assert (low < np.array([0.0082, 0.0108])).all() and (high > np.array([0.0082, 0.0108])).all()
    with pytest.raises(ValueError, match="errors <= n"):
        analysis.wilson_interval(5, 4)


def test_error_rates_by_group():
    groups = np.where(np.arange(2_000) < 500, "a", "b")
    table = analysis.error_rates(Y != P, groups, name="series")
    assert list(table.index) == ["a", "b"] and table["digits"].tolist() == [500, 1_500]
    assert table.loc["a", "errors"] == (Y[:500] != P[:500]).sum()
    assert (table["low"] <= table["error_rate"]).all() and (table["error_rate"] <= table["high"]).all()


def linear_model() -> keras.Model:
    inputs = keras.Input((28, 28, 1))
    outputs = keras.layers.Dense(10, name="linear")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, outputs)
    model.get_layer("linear").set_weights([rng.normal(size=(784, 10)).astype("float32"), np.zeros(10, "float32")])
    return model


def test_integrated_gradients_is_exact_for_a_linear_model():
    model = linear_model()
    x = rng.random((3, 28, 28, 1), dtype=np.float32)
    attributions = analysis.integrated_gradients(model, x, [0, 4, 9], steps=4)
    w = model.get_layer("linear").get_weights()[0]
    for i, t in enumerate([0, 4, 9]):
        np.testing.assert_allclose(attributions[i].ravel(), x[i].ravel() * w[:, t], rtol=1e-4, atol=1e-5)


def test_integrated_gradients_completeness_on_a_cnn():
    inputs = keras.Input((28, 28, 1))
    h = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(h))
    keras.utils.set_random_seed(0)
    model = keras.Model(inputs, outputs)
    x = rng.random((4, 28, 28, 1), dtype=np.float32)
    attributions = analysis.integrated_gradients(model, x, 3, steps=64)
    assert attributions.shape == x.shape and np.isfinite(attributions).all()
    gap = analysis.completeness_gap(model, x, 3, steps=64)
    np.testing.assert_allclose(analysis.completeness_gap(model, x, 3, attributions=attributions), gap, atol=1e-6)
    scale = np.abs(model.predict(x, verbose=0)[:, 3] - model.predict(np.zeros_like(x), verbose=0)[:, 3])
    assert (gap <= 0.02 * scale + 1e-4).all(), (gap, scale)
    with pytest.raises(ValueError, match="steps must be at least 1"):
        analysis.integrated_gradients(model, x, 3, steps=0)


def test_ensemble_predictions_average_probabilities_not_votes():
    a = np.array([[0.6, 0.4, 0.0], [0.1, 0.9, 0.0]])
    b = np.array([[0.6, 0.4, 0.0], [0.1, 0.0, 0.9]])
    c = np.array([[0.0, 1.0, 0.0], [0.1, 0.0, 0.9]])
    # Votes for the first digit are 0, 0, 1; the mean probability picks class 1 (0.6 against 0.4).
    np.testing.assert_array_equal(analysis.ensemble_predictions([a, b, c]), [1, 2])
    np.testing.assert_array_equal(analysis.ensemble_predictions({"a": a}.values()), [0, 1])
    with pytest.raises(ValueError, match="of one shape"):
        analysis.ensemble_predictions([a, a[:1]])
    with pytest.raises(ValueError, match="one or more"):
        analysis.ensemble_predictions([])


def test_mcnemar_is_the_exact_binomial_test_of_the_disagreements():
    from scipy.stats import binomtest

    rng = np.random.default_rng(0)
    for b, c in [(3, 10), (100, 160), (5, 5), (700, 600), (0, 9)]:
        both = rng.random(50) < 0.5  # digits both get right, or both wrong: they change nothing
        right_a = np.r_[np.ones(b, bool), np.zeros(c, bool), both]
        right_b = np.r_[np.zeros(b, bool), np.ones(c, bool), both]
        found = analysis.mcnemar(right_a, right_b)
        assert found[:2] == (b, c) and np.isclose(found[2], binomtest(b, b + c, 0.5).pvalue, rtol=1e-9)
        assert analysis.mcnemar(right_b, right_a) == (c, b, found[2]), "symmetric in the two"
    assert analysis.mcnemar(np.ones(4, bool), np.ones(4, bool)) == (0, 0, 1.0)
    with pytest.raises(ValueError, match="one length"):
        analysis.mcnemar(np.ones(3, bool), np.ones(4, bool))


def test_a_lesson_holds_only_with_fewer_errors_beyond_noise():
    right_better = np.r_[np.ones(60, bool), np.zeros(10, bool), np.ones(900, bool)]
    right_worse = np.r_[np.zeros(60, bool), np.ones(10, bool), np.ones(900, bool)]
    lesson = analysis.paired_comparison(
        chapters.AUGMENTATION, "claim", better="a", worse="b", right_better=right_better, right_worse=right_worse
    )
    assert (lesson.errors_better, lesson.errors_worse, lesson.margin, lesson.n) == (10, 60, 50, 970)
    assert (lesson.only_better, lesson.only_worse) == (60, 10) and lesson.p_value < 1e-9
    assert lesson.holds() and lesson.p_text == "p < 0.001" and "+50 for a" in lesson.describe()
    reversed_ = analysis.paired_comparison(
        chapters.AUGMENTATION, "claim", better="b", worse="a", right_better=right_worse, right_worse=right_better
    )
    assert not reversed_.holds() and reversed_.margin == -50, "the wrong direction never holds"
    close = analysis.paired_comparison(
        chapters.AUGMENTATION,
        "claim",
        better="a",
        worse="b",
        right_better=np.r_[np.ones(12, bool), np.zeros(8, bool)],
        right_worse=np.r_[np.zeros(12, bool), np.ones(8, bool)],
    )
    assert close.margin == 4 and not close.holds() and close.p_text.startswith("p = 0.")
