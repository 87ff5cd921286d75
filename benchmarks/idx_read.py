"""Parsing speed of mnistlib.idx.read_idx next to idx2numpy and a plain Python reader.

Run: .venv/bin/python benchmarks/idx_read.py [--json]  (uses MNISTLIB_DATA). Prints MB/s of
pixels parsed from MNIST's 47 MB training images, uncompressed and gzipped; each
figure is the best of several runs (see mnistlib.bench.idx_read_speeds, which the
performance appendix of the book calls too).
"""

import json
import sys

from mnistlib.bench import idx_read_speeds


def main():
    results = idx_read_speeds()
    print("MNIST training images; MB of pixels per second, best of several runs")
    for name, rate in results.items():
        print(f"  {name:42s} {rate:10.1f} MB/s")
    base = results["plain Python loop, uncompressed"]
    ours = results["mnistlib.idx, uncompressed"]
    print(
        f"  mnistlib/idx2numpy uncompressed: {ours / results['idx2numpy, uncompressed']:.2f}x;"
        f" mnistlib/pure Python: {results['mnistlib.idx, uncompressed'] / base:.0f}x"
    )
    if "--json" in sys.argv:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
