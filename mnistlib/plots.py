"""Figures in the book's style: one look for every chapter.

Introduced in chapter 02 (``02_exploring_the_data``).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["use_style", "digit_grid"]


def use_style() -> None:
    """Apply the book's matplotlib/seaborn style. Introduced in chapter 01 (``01_idx_format``)."""
    import matplotlib as mpl
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    mpl.rcParams.update(
        {
            "figure.dpi": 100,
            "savefig.dpi": 100,
            "figure.figsize": (7, 4),
            "axes.titleweight": "bold",
            "figure.titleweight": "bold",
            "image.cmap": "gray_r",
        }
    )


def digit_grid(
    images: np.ndarray,
    titles: Sequence[str] | None = None,
    *,
    ncols: int = 10,
    title: str,
    size: float = 0.9,
    row_labels: Sequence[str] | None = None,
):
    """Show ``images`` (N, 28, 28) in a grid with an overall title; return the figure.

    ``titles`` labels each digit, ``row_labels`` each row. Pixels are drawn
    dark on light, ink as on paper. Introduced in chapter 02 (``02_exploring_the_data``).
    """
    import matplotlib.pyplot as plt

    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3:
        raise ValueError(f"digit_grid: images must have shape (N, H, W), got {images.shape}")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"digit_grid: {len(titles)} titles for {len(images)} images")
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols + (0.6 if row_labels else 0), size * nrows + 0.6),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        if i < n:
            ax.imshow(images[i], cmap="gray_r", vmin=0, vmax=255 if images.dtype == np.uint8 else None)
            if titles is not None:
                ax.set_title(titles[i], fontsize=8, fontweight="normal")
        else:
            ax.axis("off")
    if row_labels is not None:
        for r, label in enumerate(row_labels[:nrows]):
            axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
