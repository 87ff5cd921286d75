"""Parsing speed of mnistlib.idx.read_idx next to idx2numpy and a plain Python reader.

Run: .venv/bin/python benchmarks/idx_read.py  (uses MNISTLIB_DATA). Prints MB/s of
pixels parsed from MNIST's 47 MB training images, uncompressed and gzipped; each
figure is the best of several runs. The pure-Python reader loops over bytes, so it
is timed on the first 2,000 images and reported as MB/s too.
"""

import gzip
import json
import struct
import sys
import tempfile
import time
from pathlib import Path

import idx2numpy
import numpy as np

from mnistlib import datasets, idx


def best_of(fn, repeat=5):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def python_loop_reader(path, limit):
    """How one reads IDX without NumPy: struct for the header, a loop for the pixels."""
    with open(path, "rb") as fh:
        _, _, ndim = struct.unpack(">HBB", fh.read(4))
        n, rows, cols = struct.unpack(">3I", fh.read(12))
        images = []
        for _ in range(min(n, limit)):
            data = fh.read(rows * cols)
            images.append([[data[r * cols + c] for c in range(cols)] for r in range(rows)])
    return images


def main():
    gz_path = datasets.fetch("train-images-idx3-ubyte.gz")
    tmp = Path(tempfile.mkdtemp())
    raw_path = tmp / "train-images-idx3-ubyte"
    raw_path.write_bytes(gzip.decompress(gz_path.read_bytes()))
    mb = raw_path.stat().st_size / 1e6
    results = {}

    t, a = best_of(lambda: idx.read_idx(raw_path))
    results["mnistlib.idx, uncompressed"] = mb / t
    t, b = best_of(lambda: idx2numpy.convert_from_file(str(raw_path)))
    results["idx2numpy, uncompressed"] = mb / t
    assert np.array_equal(a, b)
    t, _ = best_of(lambda: idx.read_idx(gz_path))
    results["mnistlib.idx, gzip"] = mb / t

    def idx2numpy_gz():
        with gzip.open(gz_path, "rb") as fh:
            return idx2numpy.convert_from_file(fh)

    t, c = best_of(idx2numpy_gz)
    results["idx2numpy, gzip (gzip.open file object)"] = mb / t
    assert np.array_equal(a, c)
    limit = 2_000
    t, imgs = best_of(lambda: python_loop_reader(raw_path, limit), repeat=2)
    assert np.array_equal(np.array(imgs, dtype=np.uint8), a[:limit])
    results["plain Python loop, uncompressed"] = (limit * 784 / 1e6) / t

    print(f"MNIST training images: {mb:.1f} MB of pixels; MB/s, best of several runs")
    for name, rate in results.items():
        print(f"  {name:42s} {rate:10.1f} MB/s")
    base = results["plain Python loop, uncompressed"]
    print(f"  mnistlib/idx2numpy uncompressed: {results['mnistlib.idx, uncompressed'] / results['idx2numpy, uncompressed']:.2f}x;"
          f" mnistlib/pure Python: {results['mnistlib.idx, uncompressed'] / base:.0f}x")
    if "--json" in sys.argv:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
