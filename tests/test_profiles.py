import dataclasses
import types

import pytest

from mnistlib import chapters, profiles
from mnistlib.profiles import Profile, ProfileError, get_profile


def test_default_is_quick(monkeypatch):
    monkeypatch.delenv("MNISTBOOK_PROFILE", raising=False)
    assert get_profile().name == "quick"
    monkeypatch.setenv("MNISTBOOK_PROFILE", "  ")
    assert get_profile().name == "quick"


@pytest.mark.parametrize("name", ["smoke", "quick", "full", "FULL"])
def test_environment_selects_profile(monkeypatch, name):
    monkeypatch.setenv("MNISTBOOK_PROFILE", name)
    assert get_profile().name == name.lower()


def test_unknown_profile_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("MNISTBOOK_PROFILE", "huge")
    with pytest.raises(ProfileError, match="unknown profile 'huge'.*MNISTBOOK_PROFILE.*smoke, quick, full"):
        get_profile()
    with pytest.raises(ProfileError, match="argument name"):
        get_profile(name="tiny")


def test_reductions():
    smoke, quick, full = (get_profile(name=n) for n in ("smoke", "quick", "full"))
    assert full.samples(60_000) == 60_000 and full.epochs(30) == 30 and full.eval_samples(10_000) == 10_000
    assert not full.is_reduced and smoke.is_reduced and quick.is_reduced
    assert smoke.samples(60_000) < quick.samples(60_000) <= 60_000
    assert smoke.epochs(30) == 2 and 1 <= quick.epochs(30) < 30
    assert quick.samples(500) == 500 and smoke.epochs(1) == 1  # never more than the full run
    assert full.heavy_samples(60_000) == 60_000
    assert smoke.heavy_samples(60_000) < quick.heavy_samples(60_000) < quick.samples(60_000)
    assert quick.heavy_samples(100) == 100 and smoke.heavy_samples(60_000) <= smoke.samples(60_000)
    assert full.blocks((3, 4, 6)) == quick.blocks((3, 4, 6)) == (3, 4, 6)
    assert get_profile(chapters.RESNET_QMNIST, "smoke").blocks((3, 4, 6)) == (1, 1, 1)
    assert "1 block(s) per stage" in get_profile(chapters.RESNET_QMNIST, "smoke").describe()


def test_profiles_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_profile(name="quick").max_epochs = 100
    with pytest.raises(TypeError):
        profiles.PROFILES["smoke"] = None


def test_chapter_overrides_come_from_one_table():
    base = Profile(
        "t",
        "test",
        max_samples=100,
        max_epochs=2,
        max_eval=None,
        overrides=types.MappingProxyType({chapters.CNN: {"max_epochs": 5}}),
    )
    tuned = base.for_chapter(chapters.CNN)
    assert tuned.epochs(30) == 5 and tuned.samples(1000) == 100 and tuned.chapter == chapters.CNN
    assert base.for_chapter(chapters.LINEAR_MODELS).epochs(30) == 2
    assert "[05_cnn]" in tuned.describe()
    assert get_profile(chapters.IDX_FORMAT, name="smoke").chapter == chapters.IDX_FORMAT


def test_describe_names_the_scale():
    assert "at most 2 epochs" in get_profile(name="smoke").describe()
    assert "the original experiments' full settings" in get_profile(name="full").describe()


def test_refits_come_from_the_profile():
    assert get_profile(chapters.RESULTS_AND_ENSEMBLES, "full").refits(3) == 3
    assert get_profile(chapters.RESULTS_AND_ENSEMBLES, "quick").refits(3) == 0
    assert get_profile(chapters.RESULTS_AND_ENSEMBLES, "smoke").refits(3) == 1
    assert get_profile(chapters.AUGMENTATION, "smoke").refits(3) == 3  # only chapter 10 refits
    assert "no refitted models" in get_profile(chapters.RESULTS_AND_ENSEMBLES, "quick").describe()
    assert "at most 1 refitted model(s)" in get_profile(chapters.RESULTS_AND_ENSEMBLES, "smoke").describe()


def test_width_and_seeds_come_from_the_profile():
    full, quick, smoke = (get_profile(chapters.STATE_OF_THE_ART, n) for n in ("full", "quick", "smoke"))
    assert full.filters(160) == 160 and full.seeds(5) == 5 and full.batch_size == 120
    assert quick.filters(160) == 32 and quick.seeds(5) == 3, "the quick profile keeps three seeds: one triple to vote"
    assert 1 <= smoke.filters(32) < quick.filters(32) and smoke.seeds(5) == 1
    assert get_profile(chapters.CNN, "quick").filters(64) == 64  # only chapter 11 narrows its networks
    assert "convolutions at 0.2 of their width" in quick.describe()
