"""The benchmark helpers of `make bench` measure what they claim (on tiny models and slices)."""

import functools
import os

import numpy as np
import pytest

from mnistlib import bench, models


def test_training_throughput_reports_consistent_figures(data_root):
    r = bench.training_throughput(models.softmax_regression, n=512, repeat=1)
    assert r["params"] == 7_850 and r["n"] == 512
    assert r["train_images_per_second"] > 0 and r["inference_images_per_second"] > 0
    assert abs(r["seconds_per_epoch_48k"] - 48_000 / r["train_images_per_second"]) < 1e-6
    wall_per_1000 = 1_000 / r["train_images_per_second"]
    assert 0 < r["train_cpu_seconds_per_1000"] <= (os.cpu_count() + 1) * wall_per_1000 + 0.05


def test_scaling_fits_a_line_through_every_size(data_root):
    r = bench.scaling(functools.partial(models.softmax_regression), sizes=(256, 512, 1024))
    assert r["sizes"] == [256, 512, 1024] and len(r["seconds"]) == 3 and all(s > 0 for s in r["seconds"])
    # Whatever the times measured (they vary with the machine's load), the line is their least-squares line and r2
    # its coefficient of determination, which for a line is the squared correlation of sizes and seconds.
    slope, intercept = np.polyfit(r["sizes"], r["seconds"], 1)
    assert r["seconds_per_1000"] == pytest.approx(1000 * slope) and r["intercept"] == pytest.approx(intercept)
    assert r["r2"] == pytest.approx(np.corrcoef(r["sizes"], r["seconds"])[0, 1] ** 2)


def _measured(monkeypatch, seconds_at: dict[int, float]) -> None:
    """bench.training_throughput as if an epoch of n images took seconds_at[n]."""

    def throughput(build_fn, n, batch_size=128):
        return {"train_images_per_second": n / seconds_at[n]}

    monkeypatch.setattr(bench, "training_throughput", throughput)


def test_scaling_recovers_a_known_line_and_its_r2(monkeypatch):
    """Times on an exact line give its slope, intercept and r2 = 1; times off it the r2 worked out by hand."""
    _measured(monkeypatch, {n: 0.002 * n + 0.5 for n in (1_000, 4_000, 16_000)})
    r = bench.scaling(models.softmax_regression, sizes=(1_000, 4_000, 16_000))
    assert r["seconds"] == pytest.approx([2.5, 8.5, 32.5])
    assert r["seconds_per_1000"] == pytest.approx(2.0) and r["intercept"] == pytest.approx(0.5)
    assert r["r2"] == pytest.approx(1.0)
    # sizes 1 to 4, seconds 1, 3, 2, 5: Sxy = 5.5, Sxx = 5, Syy = 8.75; slope 1.1, intercept 0, r2 = 5.5² / (5 × 8.75)
    _measured(monkeypatch, {1: 1.0, 2: 3.0, 3: 2.0, 4: 5.0})
    r = bench.scaling(models.softmax_regression, sizes=(1, 2, 3, 4))
    assert r["seconds_per_1000"] == pytest.approx(1100.0) and r["intercept"] == pytest.approx(0.0, abs=1e-12)
    assert r["r2"] == pytest.approx(121 / 175)


def test_augmentation_overhead_alternates_and_sees_a_heavier_model(data_root):
    # A stand-in "augmentation" that swaps the simple CNN for the batch-normalised CNN, six times the work.
    def build(augment=None):
        return models.simple_cnn() if augment is None else models.bn_cnn()

    r = bench.augmentation_overhead(build, {"shift": 0.1}, n=512, repeat=2)
    assert r["n"] == 512 and r["repeat"] == 2
    assert r["cpu"] > 1.0 and r["wall"] > 0.5, r
    same = bench.augmentation_overhead(lambda augment=None: models.softmax_regression(), {}, n=512, repeat=2)
    assert abs(same["cpu"]) < 1.0 and abs(same["wall"]) < 1.0, same
