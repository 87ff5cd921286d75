import numpy as np

from mnistlib import bench, idx


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
    assert set(speeds) == {"mnistlib.idx, uncompressed", "idx2numpy, uncompressed", "mnistlib.idx, gzip",
                           "idx2numpy, gzip (gzip.open file object)", "plain Python loop, uncompressed"}
    assert all(v > 0 for v in speeds.values())
    assert speeds["mnistlib.idx, uncompressed"] > speeds["plain Python loop, uncompressed"]
