"""The benchmark helpers of `make bench` measure what they claim (on tiny models and slices)."""

import functools
import os

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
    assert r["r2"] <= 1.0


def test_augmentation_overhead_alternates_and_sees_a_heavier_model(data_root):
    # A stand-in "augmentation" that swaps the simple CNN for the batch-normalised CNN, six times the work.
    def build(augment=None):
        return models.simple_cnn() if augment is None else models.bn_cnn()

    r = bench.augmentation_overhead(build, {"shift": 0.1}, n=512, repeat=2)
    assert r["n"] == 512 and r["repeat"] == 2
    assert r["cpu"] > 1.0 and r["wall"] > 0.5, r
    same = bench.augmentation_overhead(lambda augment=None: models.softmax_regression(), {}, n=512, repeat=2)
    assert abs(same["cpu"]) < 1.0 and abs(same["wall"]) < 1.0, same
