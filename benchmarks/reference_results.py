"""Commit the full-profile ledger as the book's reference results: book/reference_results.csv.

Run after full-profile chapters (MNISTBOOK_PROFILE=full make book, or one notebook at a time):
    .venv/bin/python benchmarks/reference_results.py "2-core x86_64 CPU, TensorFlow CPU"
Each row keeps its machine, Keras version, backend, data provenance and date, so runs made on
different machines (this CPU, a GPU machine with KERAS_BACKEND=jax) add up in one file.
"""

import sys

from mnistlib import results

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    table = results.export_reference(sys.argv[1])
    print(f"{len(table)} rows in {results.REFERENCE}")
    print(table[["chapter", "model", "test_accuracy", "machine", "backend", "recorded_at"]].to_string(index=False))
