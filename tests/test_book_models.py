"""mnistlib.book_models: models later chapters reuse, from other seeds, refitted on every training digit."""

import dataclasses
import json

import numpy as np
import pytest

from mnistlib import book_models, chapters, models


def test_book_models_are_buildable_and_named():
    for spec in book_models.BOOK_MODELS.values():
        assert spec.chapter in {chapters.LINEAR_MODELS, chapters.CNN, chapters.AUGMENTATION}
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


def test_untrained_notice_gives_the_chapter_and_its_recorded_time(tmp_path):
    timings = tmp_path / "chapter_timings.json"
    timings.write_text(
        json.dumps(
            {
                "machine": "x86_64, 2 CPU cores",
                "smoke": {"chapters": {chapters.AUGMENTATION: {"seconds": 31.7}}},
                "quick": {"chapters": {chapters.AUGMENTATION: {"seconds": 227.1}}},
            }
        )
    )
    assert book_models.untrained_notice("bn_cnn_augmented", "quick", timings) == (
        "bn_cnn_augmented: not yet trained in the quick profile (chapter 06_augmentation has not run); "
        "training it now, about 4 minutes on the reference machine (x86_64, 2 CPU cores)"
    )
    assert "training it now, about 32 seconds on the reference" in book_models.untrained_notice(
        "bn_cnn", "smoke", timings
    )
    no_profile = book_models.untrained_notice("bn_cnn", "full", timings)
    assert no_profile.endswith(
        "; how long is unknown (chapter_timings.json has no full time for chapter 06_augmentation)"
    )
    no_chapter = book_models.untrained_notice("simple_cnn", "smoke", timings)
    assert no_chapter.endswith("; how long is unknown (chapter_timings.json has no smoke time for chapter 05_cnn)")
    assert "how long is unknown" in book_models.untrained_notice("bn_cnn", "quick", tmp_path / "absent.json")
    # By default, the book's own record (make bench), which has every chapter in smoke and quick.
    assert "minutes on the reference machine" in book_models.untrained_notice("bn_cnn_augmented", "quick")


def test_book_model_says_so_before_it_trains_a_chapters_model(artifacts, monkeypatch, capsys):
    printed_before_training = []
    real = book_models.train_or_load

    def train_or_load(**kw):
        printed_before_training.append(capsys.readouterr().out)
        return real(**kw)

    monkeypatch.setattr(book_models, "train_or_load", train_or_load)
    first, _ = book_models.book_model("simple_cnn", "smoke")
    assert not first.loaded
    assert printed_before_training == [book_models.untrained_notice("simple_cnn", "smoke") + "\n"]
    again, _ = book_models.book_model("simple_cnn", "smoke")
    assert again.loaded and capsys.readouterr().out == "", "a cached model loads silently"
