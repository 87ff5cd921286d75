"""Speed measurements the book reports: how fast IDX files are read and models train.

Introduced in chapter 06 (``06_augmentation``). The performance appendix and
``benchmarks/idx_read.py`` both call :func:`idx_read_speeds`, so the figures
they show come from one measurement.
"""

from __future__ import annotations

import functools
import gzip
import struct
import tempfile
import time
from pathlib import Path

import numpy as np

from . import datasets, idx
from .training import build_step_variables

__all__ = [
    "duration_text",
    "best_time",
    "python_loop_reader",
    "idx_read_speeds",
    "paired_overhead",
    "augmentation_overhead",
    "training_throughput",
    "scaling",
    "notebook_fingerprint",
    "at_reference_speed",
    "reference_rate",
    "CALIBRATION_RATE",
    "timings_at_reference_speed",
]


def duration_text(seconds: float) -> str:
    """A duration for prose, in the unit that reads best: "40 seconds", "12 minutes", "2.5 hours".

    Under 90 seconds in seconds, under 90 minutes in minutes, else in hours
    (one decimal below ten): training times in the book range from seconds on
    a GPU to hours on a CPU. Introduced in chapter 06 (``06_augmentation``).
    """
    if not np.isfinite(seconds) or seconds < 0:
        raise ValueError(f"duration_text: seconds must be a finite number >= 0, got {seconds!r}")
    if seconds < 90:
        return f"{seconds:.0f} seconds" if round(seconds) != 1 else "1 second"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} minutes"
    hours = seconds / 3600
    return f"{hours:.1f} hours" if hours < 10 else f"{hours:.0f} hours"


def notebook_fingerprint(path) -> str:
    """A short hash of a notebook's cells (their kinds and sources; not outputs or metadata).

    ``make bench`` stores it beside each chapter's time, and the performance
    appendix compares it with the notebook as it is now: a chapter that changed
    since it was timed shows as measured before its last change.
    """
    import hashlib
    import json

    try:
        cells = json.loads(Path(path).read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"notebook_fingerprint: {path} is not a readable notebook: {err}") from None
    sources = [(c.get("cell_type"), "".join(c.get("source", ""))) for c in cells]
    return hashlib.md5(json.dumps(sources).encode()).hexdigest()[:12]


def at_reference_speed(seconds: float, host_rate: float | None, reference_rate: float) -> float | None:
    """``seconds`` measured while the host trained the reference workload at ``host_rate`` images per second,
    scaled to a host that trains it at ``reference_rate``: ``seconds * host_rate / reference_rate``.

    The reference workload is the simple CNN's training epoch on ``benchmarks/run.py``'s slice of 4,096
    digits; ``make bench`` times it next to every chapter it times, so that rows measured on different
    days, on a shared machine whose speed changes from day to day, can be compared. An approximation: a
    chapter that spends its time tracing (one core) scales less than one that trains convolutions (all
    cores). ``None`` where a row has no host speed (it was measured before ``make bench`` recorded one).
    """
    if host_rate is None or (isinstance(host_rate, float) and np.isnan(host_rate)):
        return None
    if not (
        np.isfinite(seconds)
        and seconds >= 0
        and np.isfinite(host_rate)
        and host_rate > 0
        and np.isfinite(reference_rate)
        and reference_rate > 0
    ):
        raise ValueError(
            f"at_reference_speed: needs seconds >= 0 and positive rates; got seconds={seconds!r}, "
            f"host_rate={host_rate!r}, reference_rate={reference_rate!r}"
        )
    return seconds * host_rate / reference_rate


#: The host speed at which the book's time budgets are judged: the simple CNN's training images per second on
#: ``benchmarks/run.py``'s slice (each chapter under 4 minutes and the quick book under 25 at this speed). The
#: hosts that build the book measure 1,200 to 4,000; this is a typical day's.
CALIBRATION_RATE = 3_500.0


def reference_rate(benchmark_results: dict) -> float:
    """The reference speed: the simple CNN's training images per second in ``book/benchmark_results.json``."""
    return benchmark_results["models"]["simple_cnn"]["train_images_per_second"]


def timings_at_reference_speed(timings: dict, rate: float) -> dict:
    """Every row of ``book/chapter_timings.json`` (``timings``) at the reference speed ``rate``.

    Returns ``{profile: {chapter: seconds or None}}`` (:func:`at_reference_speed` of each row).
    """
    return {
        profile: {
            name: at_reference_speed(row["seconds"], row.get("host_images_per_second"), rate)
            for name, row in timings[profile]["chapters"].items()
        }
        for profile in ("smoke", "quick")
    }


def best_time(fn, repeat: int = 5) -> tuple[float, object]:
    """The shortest of ``repeat`` timings of ``fn()`` in seconds, and its last result."""
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def python_loop_reader(path, limit: int) -> list:
    """How one reads IDX images without NumPy: ``struct`` for the header, a loop for the pixels."""
    with open(path, "rb") as fh:
        fh.read(4)
        n, rows, cols = struct.unpack(">3I", fh.read(12))
        images = []
        for _ in range(min(n, limit)):
            data = fh.read(rows * cols)
            images.append([[data[r * cols + c] for c in range(cols)] for r in range(rows)])
    return images


def idx_read_speeds(repeat: int = 5, python_images: int = 2_000) -> dict[str, float]:
    """MB of pixels per second reading MNIST's training images: mnistlib.idx, idx2numpy, a pure Python loop.

    Uncompressed (a decompressed copy in a temporary folder) and gzipped (the
    file as published). Each figure is the best of ``repeat`` reads, and every
    reader is checked to return the same pixels. The pure-Python loop is timed
    on the first ``python_images`` images (0 leaves it out). Needs ``idx2numpy``
    (a test dependency).
    """
    import idx2numpy

    gz_path = datasets.fetch("train-images-idx3-ubyte.gz")
    with tempfile.TemporaryDirectory() as tmp:
        raw_path = Path(tmp) / "train-images-idx3-ubyte"
        raw_path.write_bytes(gzip.decompress(gz_path.read_bytes()))
        mb = raw_path.stat().st_size / 1e6
        speeds = {}
        t, ours = best_time(lambda: idx.read_idx(raw_path), repeat)
        speeds["mnistlib.idx, uncompressed"] = mb / t
        t, theirs = best_time(lambda: idx2numpy.convert_from_file(str(raw_path)), repeat)
        speeds["idx2numpy, uncompressed"] = mb / t
        assert np.array_equal(ours, theirs)
        t, ours_gz = best_time(lambda: idx.read_idx(gz_path), repeat)
        speeds["mnistlib.idx, gzip"] = mb / t

        def idx2numpy_gz():
            with gzip.open(gz_path, "rb") as fh:
                return idx2numpy.convert_from_file(fh)

        t, theirs_gz = best_time(idx2numpy_gz, repeat)
        speeds["idx2numpy, gzip (gzip.open file object)"] = mb / t
        assert np.array_equal(ours_gz, ours) and np.array_equal(theirs_gz, ours)
        if python_images:
            t, images = best_time(lambda: python_loop_reader(raw_path, python_images), min(repeat, 2))
            assert np.array_equal(np.array(images, dtype=np.uint8), ours[:python_images])
            speeds["plain Python loop, uncompressed"] = (python_images * 784 / 1e6) / t
    return speeds


def _slice(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    train = datasets.load_mnist("train")
    keep = datasets.stratified_indices(train.labels, n, seed)
    return datasets.as_float(train.images[keep]), train.labels[keep]


def _warm_model(build_fn, x, y, batch_size: int):
    """``build_fn()`` built from seed 0 and trained one untimed epoch on ``x``: its training step is built."""
    import keras

    keras.utils.set_random_seed(0)
    model = build_fn()
    build_step_variables(model, x, y)  # the step is traced once, not twice
    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
    return model


def _timed_epoch(model, x, y, batch_size: int) -> tuple[float, float]:
    """Wall seconds and processor seconds (all threads) of one training epoch of ``model``."""
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
    return time.perf_counter() - wall, time.process_time() - cpu


def paired_overhead(plain, augmented) -> float:
    """The median of ``augmented[i] / plain[i] - 1`` over epochs timed side by side.

    Each ratio compares two epochs run one right after the other, which met the
    same share of the host; a phase of fewer cores that covers several epochs
    slows both sides of their pairs alike, and one that starts or ends inside
    a pair moves that pair alone, which the median leaves out. Comparing the
    fastest epoch of each side does not: one epoch that met more cores decides it.
    """
    plain, augmented = np.asarray(plain, float), np.asarray(augmented, float)
    if plain.shape != augmented.shape or plain.size == 0 or not (plain > 0).all() or not (augmented > 0).all():
        raise ValueError(f"paired_overhead: needs as many positive times on each side; got {plain} and {augmented}")
    return float(np.median(augmented / plain) - 1)


def augmentation_overhead(build_fn, augment: dict, n: int = 4_096, batch_size: int = 128, repeat: int = 5) -> dict:
    """How much longer a training epoch of ``build_fn(augment=augment)`` takes than one of ``build_fn()``.

    Both models are built and warmed up, then their epochs over the same ``n``
    digits alternate, ``repeat`` times each, so that both see the same
    conditions: on a shared machine whose host grants fewer cores at times, two
    measurements taken one after the other can fall in different phases. Returns
    the overhead as a fraction, the median over the pairs of adjacent epochs
    (:func:`paired_overhead`), in wall time (``wall``) and in processor time
    (``cpu``). The engineering appendix (``book/appendix_engineering.ipynb``) measures chapter 06's
    augmentation with it.
    """
    x, y = _slice(n)
    pair = {
        "plain": _warm_model(build_fn, x, y, batch_size),
        "augmented": _warm_model(functools.partial(build_fn, augment=augment), x, y, batch_size),
    }
    times = {name: [] for name in pair}
    for _ in range(repeat):
        for name, model in pair.items():
            times[name].append(_timed_epoch(model, x, y, batch_size))
    wall, cpu = ({name: [t[i] for t in times[name]] for name in pair} for i in (0, 1))
    return {
        "wall": paired_overhead(wall["plain"], wall["augmented"]),
        "cpu": paired_overhead(cpu["plain"], cpu["augmented"]),
        "n": n,
        "repeat": repeat,
    }


def training_throughput(build_fn, n: int, batch_size: int = 128, repeat: int = 2) -> dict:
    """Training and inference speed of ``build_fn()`` on ``n`` MNIST digits, warm-up excluded.

    One untimed epoch over the ``n`` digits builds the training step and warms
    the input pipeline; then the best of ``repeat`` timed epochs, and the best
    of ``repeat`` timed prediction passes. Returns images per second for both,
    seconds per epoch of 48,000 digits at that speed, and the processor seconds
    (all threads) that a training epoch of 1,000 digits takes: the work itself,
    which stays the same when a shared machine grants fewer cores for a while
    and the wall time grows.
    """
    x, y = _slice(n)
    model = _warm_model(build_fn, x, y, batch_size)
    model.predict(x, batch_size=512, verbose=0)
    wall, cpu = zip(*(_timed_epoch(model, x, y, batch_size) for _ in range(repeat)))
    train = min(wall)
    infer, _ = best_time(lambda: model.predict(x, batch_size=512, verbose=0), repeat)
    return {
        "params": int(model.count_params()),
        "n": n,
        "train_images_per_second": n / train,
        "inference_images_per_second": n / infer,
        "seconds_per_epoch_48k": 48_000 * train / n,
        "train_cpu_seconds_per_1000": 1_000 * min(cpu) / n,
    }


def scaling(build_fn, sizes=(1_000, 4_000, 16_000, 60_000), batch_size: int = 128) -> dict:
    """Seconds of one training epoch at each size, and the least-squares line through them."""
    seconds = []
    for n in sizes:
        seconds.append(n / training_throughput(build_fn, n, batch_size)["train_images_per_second"])
    slope, intercept = np.polyfit(sizes, seconds, 1)
    fitted = slope * np.asarray(sizes) + intercept
    r2 = 1 - np.sum((np.asarray(seconds) - fitted) ** 2) / np.sum((np.asarray(seconds) - np.mean(seconds)) ** 2)
    return {
        "sizes": list(sizes),
        "seconds": seconds,
        "seconds_per_1000": slope * 1000,
        "intercept": intercept,
        "r2": float(r2),
    }
