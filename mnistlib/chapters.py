"""The book's executable pages, named in one place.

A chapter's slug is its notebook's name without ``.ipynb`` (``chapters/05_cnn.ipynb``
is ``05_cnn``): it keys the profiles' per-chapter settings, the folders of
trained models and the results ledger. Code refers to chapters through these
constants, so renumbering a chapter changes its notebook's name, ``_toc.yml``
and this module (``tests/test_layout.py`` checks that they agree).
This module imports nothing else from mnistlib.
"""

from __future__ import annotations

__all__ = [
    "IDX_FORMAT",
    "EXPLORING_THE_DATA",
    "LINEAR_MODELS",
    "MLP",
    "CNN",
    "AUGMENTATION",
    "BATCH_NORMALIZATION",
    "RESNET_QMNIST",
    "ERROR_ANALYSIS",
    "RESULTS_AND_ENSEMBLES",
    "STATE_OF_THE_ART",
    "CHAPTERS",
    "DRAW_A_DIGIT",
    "APPENDIX_PERFORMANCE",
    "APPENDIX_ENGINEERING",
    "APPENDIX_CHECKPOINTS",
    "PAGES",
]

IDX_FORMAT = "01_idx_format"
EXPLORING_THE_DATA = "02_exploring_the_data"
LINEAR_MODELS = "03_linear_models"
MLP = "04_mlp"
CNN = "05_cnn"
AUGMENTATION = "06_augmentation"
BATCH_NORMALIZATION = "07_batch_normalization"
RESNET_QMNIST = "08_resnet_qmnist"
ERROR_ANALYSIS = "09_error_analysis"
RESULTS_AND_ENSEMBLES = "10_results_and_ensembles"
STATE_OF_THE_ART = "11_state_of_the_art"

#: The chapters (``chapters/*.ipynb``) in reading order.
CHAPTERS: tuple[str, ...] = (
    IDX_FORMAT,
    EXPLORING_THE_DATA,
    LINEAR_MODELS,
    MLP,
    CNN,
    AUGMENTATION,
    BATCH_NORMALIZATION,
    RESNET_QMNIST,
    ERROR_ANALYSIS,
    RESULTS_AND_ENSEMBLES,
    STATE_OF_THE_ART,
)

#: The page where the reader draws a digit for the book's networks (``book/draw_a_digit.ipynb``).
DRAW_A_DIGIT = "draw_a_digit"
#: The performance appendix (``book/appendix_performance.ipynb``), an executable page outside chapters/.
APPENDIX_PERFORMANCE = "appendix_performance"
#: The engineering appendix (``book/appendix_engineering.ipynb``): timings and tables the chapters link to.
APPENDIX_ENGINEERING = "appendix_engineering"
#: The checkpoint appendix (``book/appendix_checkpoints.ipynb``): chapter 08's checkpoint files, on a tiny model.
APPENDIX_CHECKPOINTS = "appendix_checkpoints"

#: Every executable page: what :func:`mnistlib.profiles.get_profile` accepts as a chapter.
PAGES: tuple[str, ...] = (*CHAPTERS, DRAW_A_DIGIT, APPENDIX_PERFORMANCE, APPENDIX_ENGINEERING, APPENDIX_CHECKPOINTS)
