"""Figures in the book's style: one look for every chapter.

Introduced in chapter 02 (``02_exploring_the_data``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["use_style", "digit_grid", "training_curves", "mistake_label", "confusion_heatmap"]


def use_style() -> None:
    """Apply the book's matplotlib/seaborn style."""
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
    cmap: str = "gray_r",
    symmetric: bool = False,
):
    """Show ``images`` (N, 28, 28) in a grid with an overall title; return the figure.

    ``titles`` labels each digit, ``row_labels`` each row. Pixels are drawn
    dark on light, ink as on paper. ``symmetric`` centres ``cmap`` on zero
    for signed values such as weights (use a diverging map, e.g. ``"RdBu_r"``).
    Introduced in chapter 02 (``02_exploring_the_data``).
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
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size * ncols + (0.6 if row_labels else 0), size * nrows + 0.6), squeeze=False
    )
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        if i < n:
            if symmetric:
                lim = float(np.abs(images[i]).max()) or 1.0
                ax.imshow(images[i], cmap=cmap, vmin=-lim, vmax=lim)
            else:
                ax.imshow(images[i], cmap=cmap, vmin=0, vmax=255 if images.dtype == np.uint8 else None)
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


def training_curves(histories: dict, *, title: str, metrics: Sequence[str] = ("accuracy", "loss")):
    """Accuracy and loss per epoch for several models: training solid, validation dashed.

    ``histories`` maps a model's label to its history dict (Keras ``History.history``
    or :attr:`mnistlib.training.TrainResult.history`). Returns the figure.
    Introduced in chapter 04 (``04_mlp``).
    """
    import matplotlib.pyplot as plt

    if not histories:
        raise ValueError("training_curves: no histories to plot")
    fig, axes = plt.subplots(1, len(metrics), figsize=(6 * len(metrics), 4), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, metric in zip(axes[0], metrics):
        for i, (label, h) in enumerate(histories.items()):
            if metric not in h:
                raise KeyError(f"training_curves: history of {label!r} has no {metric!r}")
            epochs = np.arange(1, len(h[metric]) + 1)
            c = colours[i % len(colours)]
            ax.plot(epochs, h[metric], color=c, marker="o", markersize=3, label=f"{label} (train)")
            if f"val_{metric}" in h:
                ax.plot(
                    epochs,
                    h[f"val_{metric}"],
                    color=c,
                    linestyle="--",
                    marker="s",
                    markersize=3,
                    label=f"{label} (validation)",
                )
        ax.set(title=metric.replace("_", " ").capitalize(), xlabel="epoch", ylabel=metric.replace("_", " "))
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def mistake_label(predicted: int, true: int, confidence: float | None = None) -> str:
    """The title of a classified digit in the book's galleries: ``pred p, true t`` and the confidence.

    Introduced in chapter 08 (``08_resnet_qmnist``).
    """
    label = f"pred {predicted}, true {true}"
    return label if confidence is None else f"{label}\n({confidence:.0%})"


def confusion_heatmap(counts: np.ndarray, *, ax, title: str, mistakes_only: bool = False):
    """An annotated heatmap of a 10x10 confusion matrix ``counts[true, predicted]`` on ``ax``; returns ``ax``.

    By default each row is shown as percentages of its true class; with
    ``mistakes_only`` the counts are shown with the diagonal (the correct
    answers) removed, so that the few mistakes stand out. Introduced in
    chapter 08 (``08_resnet_qmnist``).
    """
    import seaborn as sns

    counts = np.asarray(counts)
    if counts.shape != (10, 10):
        raise ValueError(f"confusion_heatmap: counts must be 10x10, got {counts.shape}")
    if mistakes_only:
        values = counts.copy()
        np.fill_diagonal(values, 0)
        sns.heatmap(values, annot=True, fmt="d", cmap="Reds", cbar_kws={"label": "misclassified digits"}, ax=ax)
    else:
        values = 100 * counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        sns.heatmap(
            values,
            annot=True,
            fmt=".1f",
            cmap="Blues",
            cbar_kws={"label": "% of the true class"},
            ax=ax,
            annot_kws={"fontsize": 7},
        )
    ax.set(title=title, xlabel="predicted class", ylabel="true class")
    return ax
