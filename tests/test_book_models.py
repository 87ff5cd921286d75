"""mnistlib.book_models: models later chapters reuse, from other seeds, refitted on every training digit."""

import dataclasses

import numpy as np
import pytest

from mnistlib import book_models, chapters, models


def test_book_models_are_buildable_and_named():
    for spec in book_models.BOOK_MODELS.values():
        assert spec.chapter in {chapters.CNN, chapters.AUGMENTATION}
        assert models.build(spec.builder, **spec.config).count_params() > 0
    with pytest.raises(KeyError, match="no book model named 'lenet'"):
        book_models.book_model("lenet", "smoke")
    with pytest.raises(ValueError, match="unknown chapter '11_x'"):
        book_models.BookModel("11_x", "simple_cnn")
    with pytest.raises(ValueError, match="no builder named 'lenet'"):
        book_models.BookModel(chapters.CNN, "lenet")


def test_book_model_with_another_seed_is_another_cached_model(artifacts):
    """Chapter 10's ensemble members: the book's model, trained as its chapter does, from other seeds."""
    book, data = book_models.book_model("simple_cnn", "smoke")
    other, other_data = book_models.book_model("simple_cnn", "smoke", seed=1)
    assert not book.loaded and not other.loaded and book.path != other.path
    assert np.array_equal(data.y_val, other_data.y_val)  # the same split: only the seed differs
    assert not np.array_equal(book.model.get_weights()[0], other.model.get_weights()[0])
    again, _ = book_models.book_model("simple_cnn", "smoke", seed=1)
    assert again.loaded and again.path == other.path


def test_refit_keeps_the_validated_settings_and_replays_its_learning_rates(artifacts):
    """Chapter 10's final models: trained again on training + validation digits, nothing left to watch."""
    refit, validated, data = book_models.refit_book_model(
        "simple_cnn", chapter=chapters.RESULTS_AND_ENSEMBLES, profile_name="smoke"
    )
    assert not refit.loaded and refit.path.parent == artifacts / "smoke" / chapters.RESULTS_AND_ENSEMBLES
    assert refit.info["n_train"] == len(data.y_train) + len(data.y_val) and refit.info["n_val"] == 0
    assert refit.epochs == validated.epochs == 2 and refit.info["seed"] == validated.info["seed"] == 42
    assert "val_loss" not in refit.history
    np.testing.assert_allclose(refit.history["learning_rate"], validated.history["learning_rate"], rtol=1e-6)
    assert not np.array_equal(refit.model.get_weights()[0], validated.model.get_weights()[0])
    again, _, _ = book_models.refit_book_model(
        "simple_cnn", chapter=chapters.RESULTS_AND_ENSEMBLES, profile_name="smoke"
    )
    assert again.loaded and again.path == refit.path


def test_refit_refuses_a_model_that_stops_on_validation(artifacts, monkeypatch):
    spec = dataclasses.replace(book_models.BOOK_MODELS["simple_cnn"], fit={"early_stopping": 2})
    monkeypatch.setitem(book_models.BOOK_MODELS, "simple_cnn", spec)
    with pytest.raises(ValueError, match="'simple_cnn' stops on the validation split \\(early_stopping\\)"):
        book_models.refit_book_model("simple_cnn", chapter=chapters.RESULTS_AND_ENSEMBLES, profile_name="smoke")


def test_refit_is_stored_with_the_chapter_it_is_given_and_needs_a_known_one(artifacts):
    with pytest.raises(ValueError, match="unknown chapter '99_nowhere'"):
        book_models.refit_book_model("simple_cnn", chapter="99_nowhere", profile_name="smoke")
