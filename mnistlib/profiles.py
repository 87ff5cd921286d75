"""One switch for scale: the ``MNISTBOOK_PROFILE`` environment variable.

Every notebook states the size of an experiment once, at the scale of the
original experiments' full runs, and asks the active profile to reduce it::

    profile = mnistlib.profiles.get_profile(mnistlib.chapters.MLP)
    n_train = profile.samples(60_000)   # all of them in "full", fewer elsewhere
    epochs = profile.epochs(30)         # 30 in "full", a few in "quick", 1 in "smoke"

Sample counts and epochs therefore come from this module alone, never from
edits to a notebook (the idea of GPflow's ``reduce_in_tests``).

``smoke``
    For the tests (nbval in CI): every notebook in well under a minute on two
    CPU cores. The numbers only show that the code runs.
``quick`` (the default)
    The whole book in well under half an hour on a laptop CPU, with results
    worth reading.
``full``
    The original experiments' settings: all training digits, all epochs. A GPU is recommended.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from . import chapters

__all__ = ["Profile", "ProfileError", "PROFILES", "ENV_VAR", "DEFAULT", "get_profile"]

ENV_VAR = "MNISTBOOK_PROFILE"
DEFAULT = "quick"


class ProfileError(ValueError):
    """An unknown profile or chapter name."""


@dataclass(frozen=True)
class Profile:
    """The settings of one profile, optionally tuned for one chapter.

    ``max_samples`` caps training-set sizes (``None``: no cap), ``max_epochs``
    caps epochs, ``max_eval`` caps the images used for evaluation: the
    validation and test digits scored and the galleries shown (``None``: all),
    ``max_heavy_samples`` caps the training set of models too heavy for a CPU
    (the 35-million-parameter CNN of chapter 06),
    ``max_blocks`` caps the repeated blocks per stage of deep networks (the
    ResNet of chapter 08), for the smoke profile, where the time to compile
    the training step of a deep network would otherwise dominate.
    ``max_refits`` caps how many models are retrained on their training and
    validation digits together once validated (chapter 10's final ensemble;
    ``0``: none). ``max_width`` scales the filters of every convolution of
    networks too wide for a CPU (chapter 08's ResNet, chapter 11's M3, M5 and
    M7; ``None``: their full width), and ``max_seeds`` caps how many seeds a chapter that reports
    the spread over seeds trains (chapter 11). ``max_val`` caps the validation digits a chapter watches
    during training, below ``max_eval`` (``None``: as ``max_eval``), where scoring all of them after every
    epoch would cost more than the training itself; the test digits stay as ``max_eval`` sets them.
    """

    name: str
    summary: str
    max_samples: int | None
    max_epochs: int | None
    max_eval: int | None
    max_heavy_samples: int | None = None
    max_blocks: int | None = None
    max_refits: int | None = None
    max_width: float | None = None
    max_seeds: int | None = None
    max_val: int | None = None
    batch_size: int = 128
    chapter: str | None = None
    overrides: Mapping[str, Mapping[str, object]] = field(default_factory=dict, repr=False, compare=False)

    def samples(self, n_full: int) -> int:
        """Number of samples to use where the full run uses ``n_full``."""
        return n_full if self.max_samples is None else min(n_full, self.max_samples)

    def epochs(self, n_full: int) -> int:
        """Number of epochs to run where the full run uses ``n_full``."""
        return n_full if self.max_epochs is None else max(1, min(n_full, self.max_epochs))

    def eval_samples(self, n_full: int) -> int:
        """Number of images to show or score where the full run uses ``n_full``."""
        return n_full if self.max_eval is None else min(n_full, self.max_eval)

    def val_samples(self, n_full: int) -> int:
        """Number of validation digits to watch during training where the full run uses ``n_full``."""
        n = self.eval_samples(n_full)
        return n if self.max_val is None else min(n, self.max_val)

    def heavy_samples(self, n_full: int) -> int:
        """Training samples for a model too heavy for a CPU where the full run uses ``n_full``."""
        return (
            self.samples(n_full)
            if self.max_heavy_samples is None
            else min(self.samples(n_full), self.max_heavy_samples)
        )

    def blocks(self, full: tuple[int, ...]) -> tuple[int, ...]:
        """Blocks per stage of a deep network whose full depth is ``full``."""
        return tuple(full) if self.max_blocks is None else tuple(min(b, self.max_blocks) for b in full)

    def refits(self, n_full: int) -> int:
        """Number of validated models to refit on training and validation digits where the full run refits
        ``n_full``."""
        return n_full if self.max_refits is None else max(0, min(n_full, self.max_refits))

    def filters(self, n_full: int) -> int:
        """Filters of a convolution that has ``n_full`` at full width (at least 1)."""
        return n_full if self.max_width is None else max(1, round(n_full * self.max_width))

    def seeds(self, n_full: int) -> int:
        """Number of seeds to train where the full run trains ``n_full``."""
        return n_full if self.max_seeds is None else max(1, min(n_full, self.max_seeds))

    @property
    def is_reduced(self) -> bool:
        """True when this profile runs less than the original experiments' settings."""
        return any(
            v is not None
            for v in (
                self.max_samples,
                self.max_epochs,
                self.max_eval,
                self.max_heavy_samples,
                self.max_blocks,
                self.max_refits,
                self.max_width,
                self.max_seeds,
                self.max_val,
            )
        )

    def for_chapter(self, chapter: str) -> Profile:
        """This profile with the overrides registered for ``chapter`` applied."""
        extra = dict(self.overrides.get(chapter, {}))
        return dataclasses.replace(self, chapter=chapter, **extra)

    def describe(self) -> str:
        """One line naming the profile and what it reduces."""
        caps = []
        if self.max_samples is not None:
            caps.append(f"at most {self.max_samples:,} training samples")
        if self.max_epochs is not None:
            caps.append(f"at most {self.max_epochs} epochs")
        if self.max_eval is not None:
            caps.append(f"at most {self.max_eval:,} validation and test images")
        if self.max_heavy_samples is not None:
            caps.append(f"at most {self.max_heavy_samples:,} training samples for CPU-heavy models")
        if self.max_blocks is not None:
            caps.append(f"at most {self.max_blocks} block(s) per stage in deep networks")
        if self.max_refits is not None:
            caps.append(f"at most {self.max_refits} refitted model(s)" if self.max_refits else "no refitted models")
        if self.max_width is not None:
            caps.append(f"convolutions at {self.max_width:g} of their width")
        if self.max_seeds is not None:
            caps.append(f"at most {self.max_seeds} seed(s)")
        if self.max_val is not None:
            caps.append(f"at most {self.max_val:,} validation digits watched in training")
        scale = "; ".join(caps) if caps else "the original experiments' full settings"
        where = f" [{self.chapter}]" if self.chapter else ""
        return f"profile {self.name}{where}: {self.summary} ({scale}, batch size {self.batch_size})"


def _frozen(d: dict) -> Mapping:
    return MappingProxyType({k: MappingProxyType(dict(v)) for k, v in d.items()})


# Per-chapter overrides live here and nowhere else. Chapters not listed use the profile's defaults. The
# quick profile's choices are measured in the performance appendix (book/chapter_timings.json): each chapter
# within its time budget on two CPU cores, and each chapter from 05 on showing its lesson beyond noise.
PROFILES: Mapping[str, Profile] = MappingProxyType(
    {
        "smoke": Profile(
            name="smoke",
            summary="tests only, numbers are not meaningful",
            max_samples=4_000,
            max_epochs=2,
            max_eval=500,
            max_heavy_samples=32,
            batch_size=128,
            overrides=_frozen(
                {
                    # With so few digits the batch-normalised CNN needs small batches (more steps) before its
                    # inference-mode statistics settle.
                    chapters.AUGMENTATION: {"max_samples": 1_000, "batch_size": 32},
                    chapters.BATCH_NORMALIZATION: {"max_samples": 2_000},
                    # Compiling the ResNet's training step dominates at full depth: one block per stage.
                    chapters.RESNET_QMNIST: {
                        "max_samples": 256,
                        "max_eval": 256,
                        "max_blocks": 1,
                        "max_width": 0.5,
                        "batch_size": 32,
                    },
                    # One refitted member shows the mechanics.
                    chapters.RESULTS_AND_ENSEMBLES: {"max_refits": 1},
                    # One seed of a narrow M5 on a few hundred digits: the protocol runs, nothing is measured.
                    chapters.STATE_OF_THE_ART: {
                        "max_samples": 300,
                        "max_epochs": 1,
                        "max_eval": 240,
                        "max_width": 0.125,
                        "max_seeds": 1,
                        "batch_size": 120,
                    },
                }
            ),
        ),
        "quick": Profile(
            name="quick",
            summary="minutes on a laptop CPU, results worth reading",
            max_samples=20_000,
            max_epochs=3,
            max_eval=None,
            max_heavy_samples=128,
            batch_size=128,
            overrides=_frozen(
                {
                    # Linear models and MLPs are cheap: every training digit, ten epochs.
                    chapters.LINEAR_MODELS: {"max_samples": None, "max_epochs": 10},
                    chapters.MLP: {"max_samples": None, "max_epochs": 10},
                    chapters.CNN: {"max_samples": None},
                    # Augmentation matters most when digits are scarce: on 1,500 digits, seven epochs of batches of
                    # 32 (enough steps for batch normalisation's averages to settle) show it far beyond noise, and
                    # 1,000 validation digits are watched per epoch.
                    chapters.AUGMENTATION: {"max_samples": 1_500, "max_epochs": 7, "max_val": 1_000, "batch_size": 32},
                    # The lesson (a rate that breaks the plain network leaves the batch-normalised one training) shows
                    # within two epochs on a quarter of the digits; 2,000 validation digits are watched per epoch.
                    chapters.BATCH_NORMALIZATION: {"max_samples": 12_000, "max_epochs": 2, "max_val": 2_000},
                    # The lesson (shortcuts let a deep stack train) needs depth, not width: experiment A's full depth
                    # (3, 4, 6 blocks, identity blocks included) at an eighth of its filters, on 4,000 digits for three
                    # epochs, trains with its shortcuts and stalls near chance without them. Tracing the 40-convolution
                    # training step dominates each run, so more digits would cost little more; these suffice.
                    chapters.RESNET_QMNIST: {
                        "max_samples": 4_000,
                        "max_epochs": 3,
                        "max_eval": None,
                        "max_val": 2_000,
                        "max_blocks": None,
                        "max_width": 0.125,
                        "batch_size": 32,
                    },
                    # Refitting the ensemble would take the chapter past its budget; the full-scale result is quoted.
                    chapters.RESULTS_AND_ENSEMBLES: {"max_refits": 0},
                    # An et al.'s M5 is too slow for a CPU at its width, so three seeds (one triple for the vote),
                    # validated and refitted, and the two runs that each leave out an ingredient, run at a fifth of
                    # its width on a few thousand digits for a few epochs. The method shows; the accuracy is not the
                    # recipe's. Tracing each run's step is much of the time, so a narrower network is not faster.
                    chapters.STATE_OF_THE_ART: {
                        "max_samples": 3_000,
                        "max_epochs": 3,
                        "max_eval": 2_000,
                        "max_width": 0.2,
                        "max_seeds": 3,
                        "batch_size": 120,
                    },
                }
            ),
        ),
        "full": Profile(
            name="full",
            summary="the original experiments' settings; a GPU is recommended",
            max_samples=None,
            max_epochs=None,
            max_eval=None,
            batch_size=128,
            # Experiment A's batches of 32 for the ResNet; An et al.'s batch of 120 images.
            overrides=_frozen(
                {chapters.RESNET_QMNIST: {"batch_size": 32}, chapters.STATE_OF_THE_ART: {"batch_size": 120}}
            ),
        ),
    }
)


def get_profile(chapter: str | None = None, name: str | None = None) -> Profile:
    """Return the active profile (``MNISTBOOK_PROFILE``, default ``quick``), tuned for ``chapter``.

    ``name`` overrides the environment. An unknown name raises
    :class:`ProfileError` listing the valid ones. Introduced in chapter 07 (``07_batch_normalization``).
    """
    source = "argument name"
    if name is None:
        name = os.environ.get(ENV_VAR, "").strip() or DEFAULT
        source = f"environment variable {ENV_VAR}"
    key = name.strip().lower()
    if key not in PROFILES:
        raise ProfileError(f"unknown profile {name!r} (from the {source}); choose one of: {', '.join(PROFILES)}")
    profile = PROFILES[key]
    if chapter is not None and chapter not in chapters.PAGES:
        raise ProfileError(f"unknown chapter {chapter!r}; the book's executable pages are: {', '.join(chapters.PAGES)}")
    return profile.for_chapter(chapter) if chapter else profile
