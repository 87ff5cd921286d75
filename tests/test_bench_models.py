"""The benchmark helpers of `make bench` measure what they claim (on tiny models and slices)."""

import functools

from mnistlib import bench, models


def test_training_throughput_reports_consistent_figures(data_root):
    r = bench.training_throughput(models.softmax_regression, n=512, repeat=1)
    assert r["params"] == 7_850 and r["n"] == 512
    assert r["train_images_per_second"] > 0 and r["inference_images_per_second"] > 0
    assert abs(r["seconds_per_epoch_48k"] - 48_000 / r["train_images_per_second"]) < 1e-6


def test_scaling_fits_a_line_through_every_size(data_root):
    r = bench.scaling(functools.partial(models.softmax_regression), sizes=(256, 512, 1024))
    assert r["sizes"] == [256, 512, 1024] and len(r["seconds"]) == 3 and all(s > 0 for s in r["seconds"])
    assert r["r2"] <= 1.0
