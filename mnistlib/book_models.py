"""The models later chapters reuse, trained exactly as the chapter that introduces them trains them.

:data:`BOOK_MODELS` names each such model's chapter, builder, settings, epochs
and fit options; :func:`book_model` loads it from the load-or-train cache, or
trains it the same way when its chapter has not run in this profile, so any
chapter can run on its own (saying so first, with its chapter's time from
``book/chapter_timings.json``). :func:`refit_book_model` retrains a validated
model on its training and validation digits together.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import chapters, datasets, models, profiles
from .training import TrainResult, cached_model_path, train_or_load

__all__ = ["BookModel", "BOOK_MODELS", "book_model", "refit_book_model", "untrained_notice"]

#: The seed every chapter trains its models with.
BOOK_SEED = 42
#: Each chapter's wall time per profile on the reference machine, written by ``make bench``.
TIMINGS = Path("book") / "chapter_timings.json"


@dataclass(frozen=True)
class BookModel:
    """How a chapter trains one model: its chapter, builder (a key of :data:`mnistlib.models.BUILDERS`),
    the builder's settings, the epochs at full scale and the options of :func:`mnistlib.training.fit`."""

    chapter: str
    builder: str
    config: Mapping[str, Any] = field(default_factory=dict)
    epochs: int = 10
    fit: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.chapter not in chapters.CHAPTERS:
            raise ValueError(f"BookModel: unknown chapter {self.chapter!r}")
        if self.builder not in models.BUILDERS:
            raise ValueError(f"BookModel: no builder named {self.builder!r}; known: {', '.join(models.BUILDERS)}")


BOOK_MODELS: dict[str, BookModel] = {
    "softmax_regression": BookModel(chapters.LINEAR_MODELS, "softmax_regression", {"optimizer": "adam"}, epochs=20),
    "simple_cnn": BookModel(chapters.CNN, "simple_cnn", epochs=10, fit={"reduce_lr": True}),
    "vgg_like": BookModel(chapters.CNN, "vgg_like", epochs=10, fit={"reduce_lr": True}),
    "bn_cnn": BookModel(chapters.AUGMENTATION, "bn_cnn", epochs=30, fit={"reduce_lr": True}),
    "bn_cnn_augmented": BookModel(
        chapters.AUGMENTATION, "bn_cnn", config={"augment": models.AUGMENTATION}, epochs=30, fit={"reduce_lr": True}
    ),
}


def _spec(name: str) -> BookModel:
    if name not in BOOK_MODELS:
        raise KeyError(f"no book model named {name!r}; known: {', '.join(BOOK_MODELS)}")
    return BOOK_MODELS[name]


def _cache_args(run_name: str, spec: BookModel, profile: profiles.Profile, *, chapter: str, **train) -> dict:
    """The arguments of :func:`mnistlib.training.train_or_load` for a book model, with its profile's batch size."""
    config = dict(spec.config)
    return dict(
        name=run_name,
        build_fn=functools.partial(models.BUILDERS[spec.builder], **config),
        config=config,
        profile=profile.name,
        chapter=chapter,
        batch_size=profile.batch_size,
        **train,
    )


def _train(run_name: str, spec: BookModel, profile: profiles.Profile, *, chapter: str, **train) -> TrainResult:
    """:func:`mnistlib.training.train_or_load` of a book model with its profile's batch size."""
    return train_or_load(**_cache_args(run_name, spec, profile, chapter=chapter, **train))


def _timings_file() -> Path:
    """``book/chapter_timings.json`` of the book being run (searched upwards from the working directory), else
    of the book this library belongs to."""
    here = Path.cwd().resolve()
    books = [f for f in (here, *here.parents) if (f / "_toc.yml").is_file()][:1] + [Path(__file__).resolve().parents[1]]
    return next((book / TIMINGS for book in books if (book / TIMINGS).is_file()), books[0] / TIMINGS)


def _about(seconds: float) -> str:
    if seconds < 90:
        return f"about {max(1, round(seconds))} seconds"
    return f"about {round(seconds / 60)} minutes"


def untrained_notice(name: str, profile_name: str, timings: str | os.PathLike | None = None) -> str:
    """What :func:`book_model` prints before it trains ``name`` because its chapter has not run in this profile:
    the chapter, and how long that chapter took in this profile on the reference machine (``timings``, by
    default ``book/chapter_timings.json``, written by ``make bench``), or that the time is unknown.
    """
    chapter = _spec(name).chapter
    path = Path(timings) if timings is not None else _timings_file()
    try:
        record = json.loads(path.read_text())
        seconds = float(record[profile_name]["chapters"][chapter]["seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        seconds, record = None, {}
    head = f"{name}: not yet trained in the {profile_name} profile (chapter {chapter} has not run); training it now"
    if seconds is None:
        return f"{head}; how long is unknown ({path.name} has no {profile_name} time for chapter {chapter})"
    machine = f" ({record['machine']})" if isinstance(record.get("machine"), str) else ""
    return f"{head}, {_about(seconds)} on the reference machine{machine}"


def book_model(name: str, profile_name: str | None = None, seed: int = BOOK_SEED):
    """Load (or, if its chapter has not run in this profile, train) a model another chapter introduced.

    ``name`` is a key of :data:`BOOK_MODELS`. The model is trained exactly as
    its chapter trains it (same profile settings, data, epochs and options), so
    the load-or-train cache finds the chapter's model. Returns
    ``(TrainResult, ExperimentData)``: the data is that chapter's split.
    ``seed`` (the book's is 42) trains the same model from another seed: other
    initial weights, batch order and augmentation draws. Before training the
    book's model because its chapter has not run, it prints
    :func:`untrained_notice`. Introduced in chapter 09 (``09_error_analysis``).
    """
    spec = _spec(name)
    profile = profiles.get_profile(spec.chapter, profile_name)
    data = datasets.experiment_data(profile)
    args = _cache_args(
        name,
        spec,
        profile,
        chapter=spec.chapter,
        x=datasets.as_float(data.x_train),
        y=data.y_train,
        validation_data=(datasets.as_float(data.x_val), data.y_val),
        epochs=profile.epochs(spec.epochs),
        seed=seed,
        **spec.fit,
    )
    if seed == BOOK_SEED:
        path = cached_model_path(**args)
        if not (path.is_file() and path.with_suffix(".json").is_file()):
            print(untrained_notice(name, profile.name), flush=True)
    return train_or_load(**args), data


def refit_book_model(name: str, *, chapter: str, profile_name: str | None = None, seed: int = BOOK_SEED):
    """Retrain a validated book model on its training and validation digits together; load it if cached.

    The validated run (:func:`book_model`) chose everything on the validation
    split: architecture, epochs, batch size, and, where its chapter halves the
    learning rate on a validation plateau, the rate of each epoch. The refit
    keeps all of it, seed included, and replays those rates, since with the
    validation digits in the training set nothing is left to watch; it has no
    validation score of its own. It is stored with ``chapter``'s models.
    Returns ``(refit, validated, data)``. Introduced in chapter 10 (``10_results_and_ensembles``).
    """
    if chapter not in chapters.CHAPTERS:
        raise ValueError(f"refit_book_model: unknown chapter {chapter!r}")
    spec = _spec(name)
    watching = sorted(k for k in ("early_stopping", "target_accuracy") if spec.fit.get(k))
    if watching:
        raise ValueError(
            f"refit_book_model: {name!r} stops on the validation split ({', '.join(watching)}); "
            "a refit can replay only a fixed number of epochs"
        )
    validated, data = book_model(name, profile_name, seed=seed)
    fit_options = dict(spec.fit)
    rates = None
    if fit_options.pop("reduce_lr", False):
        rates = validated.history.get("learning_rate")
        if not rates or len(rates) != validated.epochs:
            raise ValueError(
                f"refit_book_model: the validated run of {name!r} ({validated.path}) did not record "
                "a learning rate per epoch; retrain it to refit it"
            )
    refit = _train(
        f"{name}_refit",
        spec,
        profiles.get_profile(spec.chapter, profile_name),
        chapter=chapter,
        x=np.concatenate([datasets.as_float(data.x_train), datasets.as_float(data.x_val)]),
        y=np.concatenate([data.y_train, data.y_val]),
        validation_data=None,
        epochs=validated.epochs,
        seed=seed,
        learning_rates=rates,
        **fit_options,
    )
    return refit, validated, data
