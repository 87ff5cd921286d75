"""A drawn digit made into an MNIST digit: the reference of the preprocessing the book's "Draw a digit" page runs.

NIST's digits went through these steps before LeCun, Cortes and Burges put
them in MNIST: the digit's bounding box was fitted into a 20x20 box keeping
its aspect ratio, anti-aliased into grey levels, and placed in a 28x28 image
so that its centre of mass falls on the image's centre. A network trained on
MNIST has only ever seen digits made that way; a drawing shrunk to 28x28 as it
is looks different to it.

The page (``book/draw_a_digit.ipynb``) runs the same steps in JavaScript,
``book/_ext/static/draw/draw_digit.js``; ``tests/test_draw.py`` checks that
both give the same image, within one grey level, for the same strokes. Every
step here is written as that file writes it (the same arithmetic in 64-bit
floats, in the same order where the order matters), so the two can be read
side by side:

* :func:`rasterise`: strokes (lists of points on a ``CANVAS`` x ``CANVAS``
  canvas) into ink in [0, 1], a round pen of radius ``PEN`` whose edge is
  anti-aliased over one pixel;
* :func:`bounding_box`, :func:`fit_box` (area-averaging resampling: each
  output pixel is the mean of the ink it covers, which is the anti-aliasing),
  :func:`centre_of_mass`, :func:`centre`;
* :func:`preprocess`: all of them, and :func:`shrink_only`: the canvas shrunk
  to 28x28 without them, what the page's switch shows.

NumPy only: no Keras, so a reader's own code can use it. Introduced in the
page "Draw a digit" (``draw_a_digit``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "CANVAS",
    "PEN",
    "BOX",
    "SIZE",
    "Steps",
    "rasterise",
    "bounding_box",
    "area_weights",
    "resample",
    "fit_box",
    "centre_of_mass",
    "centre",
    "to_grey",
    "preprocess",
    "preprocess_steps",
    "shrink_only",
    "ink_from_digit",
]

#: The canvas's side in pixels, the pen's radius on it, NIST's box and MNIST's image side.
CANVAS, PEN, BOX, SIZE = 280, 12.0, 20, 28


def _segment_distance(px, py, ax, ay, bx, by):
    """Distance from the points (px, py) to the segment a-b (a point when a == b), as draw_digit.js computes it."""
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    if length2 > 0:
        t = np.clip(((px - ax) * dx + (py - ay) * dy) / length2, 0.0, 1.0)
    else:
        t = np.zeros_like(px)
    ex = px - (ax + t * dx)
    ey = py - (ay + t * dy)
    return np.sqrt(ex * ex + ey * ey)


def rasterise(strokes, size: int = CANVAS, pen: float = PEN) -> np.ndarray:
    """Ink in [0, 1] (float64, ``size`` x ``size``) of ``strokes``: each a sequence of (x, y) canvas points joined
    by segments, drawn with a round pen of radius ``pen``. A pixel's ink is ``pen + 0.5`` minus the distance of its
    centre to the nearest segment, clipped to [0, 1]: solid inside the pen, a one-pixel anti-aliased edge."""
    ink = np.zeros((size, size))
    reach = pen + 0.5
    for stroke in strokes:
        points = np.asarray(stroke, dtype=np.float64).reshape(-1, 2)
        pairs = zip(points, points[1:]) if len(points) > 1 else [(points[0], points[0])] if len(points) else []
        for (ax, ay), (bx, by) in pairs:
            x0, x1 = max(0, int(np.floor(min(ax, bx) - reach))), min(size, int(np.ceil(max(ax, bx) + reach)) + 1)
            y0, y1 = max(0, int(np.floor(min(ay, by) - reach))), min(size, int(np.ceil(max(ay, by) + reach)) + 1)
            if x0 >= x1 or y0 >= y1:
                continue
            py, px = np.mgrid[y0:y1, x0:x1].astype(np.float64) + 0.5
            cover = np.clip(reach - _segment_distance(px, py, ax, ay, bx, by), 0.0, 1.0)
            ink[y0:y1, x0:x1] = np.maximum(ink[y0:y1, x0:x1], cover)
    return ink


def bounding_box(ink: np.ndarray) -> tuple[int, int, int, int] | None:
    """(top, left, bottom, right), bottom and right excluded, of the pixels with any ink; None when there is none."""
    rows, cols = np.flatnonzero(ink.max(axis=1) > 0), np.flatnonzero(ink.max(axis=0) > 0)
    if not len(rows):
        return None
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def area_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of area-averaging resampling: output pixel i covers input [i n_in / n_out,
    (i + 1) n_in / n_out); each input pixel weighs the length it shares with that span, over the span's length."""
    weights = np.zeros((n_out, n_in))
    step = n_in / n_out
    for i in range(n_out):
        start, stop = i * step, (i + 1) * step
        for j in range(int(np.floor(start)), min(n_in, int(np.ceil(stop)))):
            overlap = min(stop, j + 1) - max(start, j)
            if overlap > 0:
                weights[i, j] = overlap / step
    return weights


def resample(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """``image`` resampled to ``height`` x ``width`` by area averaging (rows first, then columns, as the page)."""
    rows = area_weights(image.shape[0], height)
    cols = area_weights(image.shape[1], width)
    tall = np.einsum("ij,jk->ik", rows, image)  # each output row: the weighted rows it covers
    return np.einsum("ik,jk->ij", tall, cols)


def fit_box(crop: np.ndarray, box: int = BOX) -> np.ndarray:
    """The cropped digit resampled so that its longer side is ``box`` pixels, keeping its aspect ratio."""
    h, w = crop.shape
    scale = box / max(h, w)
    return resample(crop, max(1, int(np.floor(h * scale + 0.5))), max(1, int(np.floor(w * scale + 0.5))))


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    """(row, column) of ``image``'s centre of mass, in pixel indices; the image's centre when it is empty."""
    total = image.sum()
    if total <= 0:
        return (image.shape[0] - 1) / 2, (image.shape[1] - 1) / 2
    rows, cols = np.arange(image.shape[0]), np.arange(image.shape[1])
    return float((image.sum(axis=1) * rows).sum() / total), float((image.sum(axis=0) * cols).sum() / total)


def centre(fitted: np.ndarray, size: int = SIZE) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """``fitted`` placed in the middle of a ``size`` x ``size`` image, then shifted by whole pixels so that its centre
    of mass is nearest the image's centre ((size - 1) / 2 in pixel indices). Returns (placed, centred, shift)."""
    placed = np.zeros((size, size))
    h, w = fitted.shape
    top, left = (size - h) // 2, (size - w) // 2
    placed[top : top + h, left : left + w] = fitted
    cy, cx = centre_of_mass(placed)
    dy, dx = int(np.floor((size - 1) / 2 - cy + 0.5)), int(np.floor((size - 1) / 2 - cx + 0.5))
    centred = np.zeros((size, size))
    src_y, dst_y = slice(max(0, -dy), min(size, size - dy)), slice(max(0, dy), min(size, size + dy))
    src_x, dst_x = slice(max(0, -dx), min(size, size - dx)), slice(max(0, dx), min(size, size + dx))
    centred[dst_y, dst_x] = placed[src_y, src_x]
    return placed, centred, (dy, dx)


def to_grey(image: np.ndarray) -> np.ndarray:
    """Ink in [0, 1] as MNIST's grey levels: uint8, 0 background, 255 full ink, rounded half up."""
    return np.floor(np.clip(image, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


@dataclass(frozen=True)
class Steps:
    """Each step of :func:`preprocess_steps`: the box (top, left, bottom, right) or None, the crop, the digit fitted
    into the 20x20 box, that digit placed in 28x28, the whole-pixel shift of its centre of mass and the result."""

    box: tuple[int, int, int, int] | None
    crop: np.ndarray
    fitted: np.ndarray
    placed: np.ndarray
    shift: tuple[int, int]
    image: np.ndarray


def preprocess_steps(ink: np.ndarray) -> Steps:
    """NIST's preprocessing of a canvas's ink, every step kept (see :class:`Steps`); an empty canvas gives zeros."""
    ink = np.asarray(ink, dtype=np.float64)
    box = bounding_box(ink)
    if box is None:
        empty = np.zeros((SIZE, SIZE))
        return Steps(None, np.zeros((0, 0)), np.zeros((0, 0)), empty, (0, 0), to_grey(empty))
    top, left, bottom, right = box
    crop = ink[top:bottom, left:right]
    fitted = fit_box(crop)
    placed, centred, shift = centre(fitted)
    return Steps(box, crop, fitted, placed, shift, to_grey(centred))


def preprocess(ink: np.ndarray) -> np.ndarray:
    """The 28x28 uint8 MNIST digit of a canvas's ink (``CANVAS`` x ``CANVAS`` in [0, 1]), as the page makes it."""
    return preprocess_steps(ink).image


def shrink_only(ink: np.ndarray) -> np.ndarray:
    """The canvas shrunk to 28x28 by area averaging, with none of NIST's steps: what the page's switch shows."""
    return to_grey(resample(np.asarray(ink, dtype=np.float64), SIZE, SIZE))


def ink_from_digit(digit: np.ndarray, height: int, top: int, left: int, size: int = CANVAS) -> np.ndarray:
    """An MNIST digit (28x28 uint8) drawn again on a ``size`` x ``size`` canvas: its 28x28 image resampled to
    ``height`` x ``height`` pixels (area averaging) with its top-left corner at (top, left), ink in [0, 1]. How
    the page tests the preprocessing on digits of another size and position than MNIST's."""
    ink = np.zeros((size, size))
    big = resample(np.asarray(digit, dtype=np.float64) / 255, height, height)
    rows = slice(max(0, top), min(size, top + height))
    cols = slice(max(0, left), min(size, left + height))
    ink[rows, cols] = big[rows.start - top : rows.stop - top, cols.start - left : cols.stop - left]
    return ink
