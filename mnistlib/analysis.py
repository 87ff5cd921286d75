"""Error analysis: what a model gets wrong, where, and why.

Introduced in chapter 05 (``05_cnn``). Counting (confusions, the
most confused pairs, galleries of mistakes), honest uncertainty (Wilson
intervals for error rates) and per-pixel attributions (integrated gradients,
computed with the active Keras backend's automatic differentiation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import keras
import numpy as np
import pandas as pd

__all__ = [
    "confusion_counts",
    "confused_pairs",
    "mistakes_by_class",
    "one_mistake_per_cell",
    "wilson_interval",
    "error_rates",
    "integrated_gradients",
    "completeness_gap",
    "ensemble_predictions",
    "mcnemar",
    "PairedComparison",
    "paired_comparison",
]


def _check_pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"labels and predictions must be 1-D and alike, got shapes {y_true.shape} and {y_pred.shape}")
    return y_true, y_pred


def confusion_counts(y_true, y_pred, n_classes: int = 10) -> np.ndarray:
    """``counts[t, p]``: how many digits of class ``t`` were predicted ``p``.

    Introduced in chapter 08 (``08_resnet_qmnist``).
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    if len(y_true) and (min(y_true.min(), y_pred.min()) < 0 or max(y_true.max(), y_pred.max()) >= n_classes):
        raise ValueError(f"confusion_counts: labels must lie in 0..{n_classes - 1}")
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def confused_pairs(y_true, y_pred, *, top: int | None = None, symmetric: bool = False) -> pd.DataFrame:
    """The mistakes grouped by (true, predicted) class, most frequent first.

    With ``symmetric`` a pair {a, b} counts both directions. Columns: ``true``,
    ``predicted`` (or ``a``, ``b``), ``count`` and ``share`` of all mistakes.
    Introduced in chapter 08 (``08_resnet_qmnist``).
    """
    counts = confusion_counts(y_true, y_pred)
    np.fill_diagonal(counts, 0)
    if symmetric:
        both = np.triu(counts + counts.T, 1)
        rows = [(a, b, both[a, b]) for a in range(10) for b in range(a + 1, 10) if both[a, b]]
        table = pd.DataFrame(rows, columns=["a", "b", "count"])
    else:
        rows = [(t, p, counts[t, p]) for t in range(10) for p in range(10) if counts[t, p]]
        table = pd.DataFrame(rows, columns=["true", "predicted", "count"])
    total = counts.sum()
    table["share"] = table["count"] / total if total else 0.0
    table = table.sort_values("count", ascending=False, kind="stable").reset_index(drop=True)
    return table.head(top) if top is not None else table


def mistakes_by_class(y_true, y_pred, confidence=None, *, per_class: int = 8) -> dict[int, np.ndarray]:
    """For each true class, the indices of up to ``per_class`` misclassified digits.

    Most confident mistakes first when ``confidence`` (the probability of the
    predicted class) is given, else in index order. Introduced in chapter 09
    (``09_error_analysis``).
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    order = np.arange(len(y_true)) if confidence is None else np.argsort(-np.asarray(confidence), kind="stable")
    wrong = order[y_true[order] != y_pred[order]]
    return {c: wrong[y_true[wrong] == c][:per_class] for c in range(10)}


def one_mistake_per_cell(y_true, y_pred, confidence=None) -> dict[tuple[int, int], int]:
    """For each (true, predicted) pair that occurs as a mistake, one example's index.

    The most confident one when ``confidence`` is given, else the first.
    Introduced in chapter 09 (``09_error_analysis``).
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    order = np.arange(len(y_true)) if confidence is None else np.argsort(-np.asarray(confidence), kind="stable")
    cells: dict[tuple[int, int], int] = {}
    for i in order:
        t, p = int(y_true[i]), int(y_pred[i])
        if t != p and (t, p) not in cells:
            cells[(t, p)] = int(i)
    return cells


def wilson_interval(errors, n, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion ``errors / n``; arrays in, arrays out.

    Sensible at 0 errors and for small ``n``, unlike the normal approximation.
    Introduced in chapter 09 (``09_error_analysis``).
    """
    errors, n = np.asarray(errors, dtype=float), np.asarray(n, dtype=float)
    if np.any(n <= 0) or np.any(errors < 0) or np.any(errors > n):
        raise ValueError("wilson_interval: need 0 <= errors <= n and n > 0")
    if not 0 < confidence < 1:
        raise ValueError(f"wilson_interval: confidence must be in (0, 1), got {confidence}")
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = errors / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def error_rates(wrong, groups, *, confidence: float = 0.95, name: str = "group") -> pd.DataFrame:
    """Error rate per group with a Wilson interval: columns ``digits``, ``errors``, ``error_rate``, ``low``, ``high``.

    ``wrong`` is a boolean per digit, ``groups`` the group of each digit (a
    NIST series, a writer, a test subset). Introduced in chapter 09 (``09_error_analysis``).
    """
    frame = pd.DataFrame({name: np.asarray(groups), "wrong": np.asarray(wrong, dtype=bool)})
    table = frame.groupby(name)["wrong"].agg(digits="size", errors="sum")
    table["error_rate"] = table["errors"] / table["digits"]
    table["low"], table["high"] = wilson_interval(table["errors"], table["digits"], confidence)
    return table


def _gradients(model: keras.Model, inputs: np.ndarray, target: np.ndarray, output_layer=None) -> np.ndarray:
    """d output[target] / d inputs, per image, with the active backend's autodiff."""
    backend = keras.backend.backend()
    picks = keras.ops.one_hot(target, model.output_shape[-1])
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(inputs)
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = tf.reduce_sum(model(x, training=False) * picks, axis=-1)
        return tape.gradient(score, x).numpy()
    if backend == "jax":
        import jax

        def total(x):
            return (model(x, training=False) * picks).sum()

        return np.asarray(jax.grad(total)(inputs))
    if backend == "torch":
        import torch

        x = torch.tensor(inputs, requires_grad=True)
        (model(x, training=False) * picks).sum().backward()
        return x.grad.detach().cpu().numpy()
    raise NotImplementedError(f"integrated_gradients: no gradient for the {backend!r} backend")


def integrated_gradients(
    model: keras.Model,
    images: np.ndarray,
    target: Sequence[int] | int,
    *,
    baseline: np.ndarray | float = 0.0,
    steps: int = 32,
    batch_size: int = 256,
) -> np.ndarray:
    """Integrated gradients of the model's ``target`` class output for each image (Sundararajan et al., 2017).

    ``attribution = (x - baseline) * mean over a in (0, 1] of d f_target(baseline + a (x - baseline)) / dx``,
    with the midpoint rule on ``steps`` points. The attributions of one image sum
    (up to the quadrature error) to ``f_target(x) - f_target(baseline)``: the
    *completeness* property. Positive pixels push towards ``target``, negative
    ones away. Returns an array shaped like ``images``. Introduced in chapter 09
    (``09_error_analysis``).
    """
    images = np.asarray(images, dtype=np.float32)
    n = len(images)
    target = np.broadcast_to(np.asarray(target, dtype=np.int64), (n,))
    if steps < 1:
        raise ValueError(f"integrated_gradients: steps must be at least 1, got {steps}")
    base = np.broadcast_to(np.asarray(baseline, dtype=np.float32), images.shape)
    alphas = (np.arange(steps, dtype=np.float32) + 0.5) / steps
    total = np.zeros_like(images)
    # All points of all paths, image-major, evaluated in batches: (n * steps) gradients in few calls.
    per_batch = max(1, batch_size // steps)
    for start in range(0, n, per_batch):
        part = slice(start, start + per_batch)
        x, b, t = images[part], base[part], target[part]
        path = b[:, None] + alphas.reshape((1, steps) + (1,) * (x.ndim - 1)) * (x - b)[:, None]
        grads = _gradients(model, path.reshape((-1,) + x.shape[1:]), np.repeat(t, steps))
        total[part] = grads.reshape((len(x), steps) + x.shape[1:]).sum(axis=1)
    return (images - base) * total / steps


def completeness_gap(
    model: keras.Model, images, target, baseline=0.0, attributions: np.ndarray | None = None, **kw
) -> np.ndarray:
    """Per image, |sum of the integrated gradients - (f_target(x) - f_target(baseline))|.

    Near zero when the attributions are trustworthy; grows when ``steps`` is
    too small, most for confident models, whose class probability jumps over a
    short stretch of the path. Pass ``attributions`` already computed for these
    images and targets to check them without computing them again (``kw`` then
    goes unused). Introduced in chapter 09 (``09_error_analysis``).
    """
    if attributions is None:
        attributions = integrated_gradients(model, images, target, baseline=baseline, **kw)
    images = np.asarray(images, dtype=np.float32)
    base = np.broadcast_to(np.asarray(baseline, dtype=np.float32), images.shape)
    target = np.broadcast_to(np.asarray(target), (len(images),))
    rows = np.arange(len(images))
    f_x = model.predict(images, verbose=0)[rows, target]
    f_b = model.predict(base, verbose=0)[rows, target]
    return np.abs(attributions.reshape(len(images), -1).sum(axis=1) - (f_x - f_b))


def ensemble_predictions(probabilities) -> np.ndarray:
    """The class each digit gets from the mean of several models' predicted probabilities.

    ``probabilities`` is a sequence (or a dict's values) of arrays of shape
    ``(n_digits, n_classes)``, one per model, all of one shape. Introduced in
    chapter 10 (``10_results_and_ensembles``).
    """
    arrays = [np.asarray(p, dtype=float) for p in probabilities]
    if not arrays or any(a.ndim != 2 or a.shape != arrays[0].shape for a in arrays):
        raise ValueError(
            "ensemble_predictions: needs one or more probability arrays of one shape (digits, classes); "
            f"got shapes {[a.shape for a in arrays]}"
        )
    return np.mean(arrays, axis=0).argmax(axis=1)


def mcnemar(right_a, right_b) -> tuple[int, int, float]:
    """McNemar's exact test of two classifiers scored on the same digits.

    ``right_a`` and ``right_b`` are boolean arrays, one entry per digit: did each classifier get it right.
    Digits both get right, or both get wrong, say nothing about which is better; of the ``b + c`` digits on
    which they disagree, ``b`` only ``a`` gets right and ``c`` only ``b``. If both were equally accurate, each
    disagreement would go either way with probability 1/2, so ``b`` would be binomial(``b + c``, 1/2). The
    p-value is the two-sided probability of a split at least as uneven as the one seen. Returns
    ``(b, c, p_value)``; chapter 10 derives it.
    """
    a, b_ = np.asarray(right_a, dtype=bool), np.asarray(right_b, dtype=bool)
    if a.ndim != 1 or a.shape != b_.shape:
        raise ValueError(f"mcnemar: needs two boolean arrays of one length; got shapes {a.shape} and {b_.shape}")
    b, c = int((a & ~b_).sum()), int((~a & b_).sum())
    n = b + c
    if n == 0:
        return b, c, 1.0
    # the binomial tail in logarithms: exact for any n without the huge integers of comb(n, i) / 2**n
    k = np.arange(min(b, c) + 1)
    log_terms = _log_comb(n, k) - n * np.log(2.0)
    return b, c, float(min(1.0, 2.0 * np.exp(log_terms).sum()))


def _log_comb(n: int, k: np.ndarray) -> np.ndarray:
    """log(n choose k), elementwise."""
    from math import lgamma

    return np.array([lgamma(n + 1) - lgamma(i + 1) - lgamma(n - i + 1) for i in np.atleast_1d(k)])


@dataclass(frozen=True)
class PairedComparison:
    """A chapter's lesson measured on one set of digits: ``better`` should make fewer errors than ``worse``.

    ``errors_better`` and ``errors_worse`` count each one's mistakes on the same ``n`` digits; ``only_better``
    and ``only_worse`` count the digits only that one gets right (McNemar's ``b`` and ``c``), and ``p_value``
    is McNemar's exact test (:func:`mcnemar`). The lesson holds when ``better`` makes fewer errors and the
    difference is beyond run-to-run noise: ``p_value < alpha``.
    """

    chapter: str
    claim: str
    better: str
    worse: str
    digits: str
    n: int
    errors_better: int
    errors_worse: int
    only_better: int
    only_worse: int
    p_value: float

    @property
    def margin(self) -> int:
        """How many fewer errors ``better`` makes than ``worse`` (negative: more)."""
        return self.errors_worse - self.errors_better

    @property
    def p_text(self) -> str:
        """The p-value as a sentence quotes it: ``p < 0.001``, else ``p = 0.012`` (three decimals)."""
        return "p < 0.001" if self.p_value < 0.001 else f"p = {self.p_value:.3f}"

    def holds(self, alpha: float = 0.01) -> bool:
        """True when ``better`` makes fewer errors and McNemar's p-value is below ``alpha``."""
        return self.margin > 0 and self.p_value < alpha

    def describe(self) -> str:
        """One line: the claim, the errors of each, the disagreements and the p-value."""
        return (
            f"{self.claim}: on {self.n:,} {self.digits}, {self.better} makes {self.errors_better:,} errors and "
            f"{self.worse} {self.errors_worse:,} ({self.margin:+,} for {self.better}); they disagree on "
            f"{self.only_better + self.only_worse:,} digits, {self.only_better:,} of which only {self.better} gets "
            f"right; McNemar's exact test: {self.p_text}"
        )

    def as_dict(self) -> dict:
        """The fields and the margin, for a JSON record."""
        return {**asdict(self), "margin": self.margin}


def paired_comparison(
    chapter: str, claim: str, *, better: str, worse: str, right_better, right_worse, digits: str = "test digits"
) -> PairedComparison:
    """Score a lesson on the same digits: the arrays say which digits each arm got right (see :func:`mcnemar`).
    Introduced in chapter 05 (``05_cnn``)."""
    right_better, right_worse = np.asarray(right_better, dtype=bool), np.asarray(right_worse, dtype=bool)
    b, c, p = mcnemar(right_better, right_worse)
    return PairedComparison(
        chapter=chapter,
        claim=claim,
        better=better,
        worse=worse,
        digits=digits,
        n=int(len(right_better)),
        errors_better=int((~right_better).sum()),
        errors_worse=int((~right_worse).sum()),
        only_better=b,
        only_worse=c,
        p_value=p,
    )
