import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mnistlib import bench, chapters, idx


def test_duration_text_picks_the_unit_that_reads_best():
    assert bench.duration_text(0.4) == "0 seconds"
    assert bench.duration_text(1.2) == "1 second"
    assert bench.duration_text(89) == "89 seconds"
    assert bench.duration_text(90) == "2 minutes"
    assert bench.duration_text(40 * 60) == "40 minutes"
    assert bench.duration_text(2.5 * 3600) == "2.5 hours"
    assert bench.duration_text(30 * 3600) == "30 hours"
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="duration_text"):
            bench.duration_text(bad)


def test_paired_overhead_ignores_a_slow_phase_that_covers_one_side():
    # The host halves the machine's speed after the first plain epoch: the fastest epochs would say +108%.
    plain, augmented = [1.0, 2.0, 2.0], [2.08, 2.08, 2.08]
    assert min(augmented) / min(plain) - 1 > 1
    assert bench.paired_overhead(plain, augmented) == pytest.approx(0.04)
    assert bench.paired_overhead([1.0, 1.0, 1.0], [0.9, 0.95, 0.9]) == pytest.approx(-0.1)  # signed
    with pytest.raises(ValueError, match="as many positive times"):
        bench.paired_overhead([1.0, 1.0], [1.0])
    with pytest.raises(ValueError, match="as many positive times"):
        bench.paired_overhead([1.0, 0.0], [1.0, 1.0])


def test_best_time_is_the_minimum_and_returns_the_result():
    calls = []
    seconds, out = bench.best_time(lambda: calls.append(1) or len(calls), repeat=3)
    assert out == 3 and len(calls) == 3 and seconds >= 0


def test_python_loop_reader_agrees_with_read_idx(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    path = idx.write_idx(tmp_path / "images.idx", images)
    np.testing.assert_array_equal(np.array(bench.python_loop_reader(path, 3), dtype=np.uint8), images[:3])


def test_idx_read_speeds(data_root):
    speeds = bench.idx_read_speeds(repeat=1, python_images=20)
    assert set(speeds) == {
        "mnistlib.idx, uncompressed",
        "idx2numpy, uncompressed",
        "mnistlib.idx, gzip",
        "idx2numpy, gzip (gzip.open file object)",
        "plain Python loop, uncompressed",
    }
    assert all(v > 0 for v in speeds.values())
    assert speeds["mnistlib.idx, uncompressed"] > speeds["plain Python loop, uncompressed"]


def test_chapter_benchmark_keeps_each_chapters_best_test_accuracy():
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "chapters.py"
    spec = importlib.util.spec_from_file_location("bench_chapters", script)
    bench_chapters = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_chapters)
    ledger = pd.DataFrame(
        {
            "chapter": [chapters.CNN, chapters.CNN, chapters.AUGMENTATION, chapters.AUGMENTATION, "10_results"],
            "model": ["simple_cnn", "vgg_like", "bn_cnn", "standard_cnn_shift", "ensemble"],
            "test_accuracy": [0.9851, 0.98, float("nan"), None, 0.99],
            "data": ["MNIST (verified)"] * 5,
        }
    )
    rows = {
        chapters.CNN: {"seconds": 1.0},
        chapters.AUGMENTATION: {"seconds": 2.0},
        chapters.ERROR_ANALYSIS: {"seconds": 3.0},
    }
    bench_chapters.best_models(ledger, rows)
    assert rows[chapters.CNN] == {
        "seconds": 1.0,
        "best_model": "simple_cnn",
        "best_test_accuracy": 0.9851,
        "best_data": "MNIST (verified)",
    }
    assert rows[chapters.AUGMENTATION] == {"seconds": 2.0}, "a model without a test accuracy is no best model"
    assert rows[chapters.ERROR_ANALYSIS] == {"seconds": 3.0} and "10_results" not in rows


def test_readme_quotes_the_last_chapter_benchmark():
    """The README's "how long" sentence gives the totals of book/chapter_timings.json, in whole minutes."""
    import json
    import re

    root = Path(__file__).resolve().parents[1]
    timings = json.loads((root / "book" / "chapter_timings.json").read_text())
    readme = " ".join((root / "README.md").read_text().split())
    found = re.search(r"add up to (\d+) minutes in the quick profile and (\d+) in the smoke profile", readme)
    assert found, "README: the sentence with the quick and smoke totals is gone"
    quoted = {"quick": int(found[1]), "smoke": int(found[2])}
    measured = {p: round(timings[p]["total_seconds"] / 60) for p in quoted}
    assert quoted == measured, f"README quotes {quoted} minutes, book/chapter_timings.json says {measured}"
    scaled = re.search(r"scaled to the calibration speed of ([\d,]+) .*?, (\d+) and (\d+) minutes", readme)
    assert scaled, "README: the totals at the calibration speed are gone"
    assert float(scaled[1].replace(",", "")) == bench.CALIBRATION_RATE
    reference = bench.timings_at_reference_speed(timings, bench.CALIBRATION_RATE)
    at_reference = {p: round(sum(reference[p].values()) / 60) for p in quoted}
    assert {"quick": int(scaled[2]), "smoke": int(scaled[3])} == at_reference, f"calibration speed: {at_reference}"


def test_notebook_fingerprint_follows_the_cells_not_the_outputs(tmp_path):
    import json

    nb = {"cells": [{"cell_type": "code", "source": ["x = 1\n", "x"], "outputs": [], "metadata": {}}], "nbformat": 4}
    path = tmp_path / "a.ipynb"
    path.write_text(json.dumps(nb))
    first = bench.notebook_fingerprint(path)
    nb["cells"][0]["outputs"] = [{"output_type": "stream", "text": "1"}]
    nb["cells"][0]["metadata"] = {"tags": ["x"]}
    path.write_text(json.dumps(nb))
    assert bench.notebook_fingerprint(path) == first, "outputs and metadata are not the chapter"
    nb["cells"][0]["source"] = "x = 2\nx"
    path.write_text(json.dumps(nb))
    assert bench.notebook_fingerprint(path) != first
    path.write_text("{not json")
    with pytest.raises(ValueError, match=r"a.ipynb is not a readable notebook"):
        bench.notebook_fingerprint(path)


def test_at_reference_speed_scales_a_row_by_its_hosts_speed():
    """A row measured while the host ran the reference workload 4x slower shrinks 4x; a faster host stretches it."""
    assert bench.at_reference_speed(100.0, 2_000.0, 8_000.0) == 25.0
    assert bench.at_reference_speed(10.0, 16_000.0, 8_000.0) == 20.0
    assert bench.at_reference_speed(0.0, 1.0, 1.0) == 0.0
    assert bench.at_reference_speed(10.0, None, 8_000.0) is None, "a row measured without a host speed"
    assert bench.at_reference_speed(10.0, float("nan"), 8_000.0) is None
    for bad in [(-1.0, 1.0, 1.0), (float("inf"), 1.0, 1.0), (1.0, 0.0, 1.0), (1.0, -5.0, 1.0), (1.0, 1.0, 0.0)]:
        with pytest.raises(ValueError, match="at_reference_speed"):
            bench.at_reference_speed(*bad)
    timings = {
        p: {"chapters": {"01": {"seconds": 40.0, "host_images_per_second": 1_000.0}, "02": {"seconds": 9.0}}}
        for p in ("smoke", "quick")
    }
    assert bench.timings_at_reference_speed(timings, 4_000.0) == {
        p: {"01": 10.0, "02": None} for p in ("smoke", "quick")
    }
    assert bench.reference_rate({"models": {"simple_cnn": {"train_images_per_second": 8_637.0}}}) == 8_637.0
