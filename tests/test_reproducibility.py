"""Reproducibility: the same notebook, run twice from scratch with the same seed, records the same accuracies."""

import os
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
# Chapter 04 trains four Keras networks (MLPs, one with dropout) in the smoke profile: shuffling, dropout and
# initial weights all draw from the seeds. (Chapter 05's CNNs draw from the same seeds and cost twice as much.)
NOTEBOOK = ROOT / "chapters" / "04_mlp.ipynb"


def run_fresh(artifacts: Path) -> pd.DataFrame:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    env = {"MNISTBOOK_PROFILE": "smoke", "MNISTBOOK_ARTIFACTS": str(artifacts)}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        NotebookClient(
            nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
        ).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return pd.read_csv(artifacts / "smoke" / "ledger.csv").set_index("model")


@pytest.mark.timeout(600)
def test_two_fresh_runs_record_identical_accuracies(tmp_path, data_root):
    first, second = run_fresh(tmp_path / "first"), run_fresh(tmp_path / "second")
    assert len(first) >= 3 and sorted(first.index) == sorted(second.index)
    for column in ("train_accuracy", "val_accuracy", "test_accuracy"):
        pd.testing.assert_series_equal(first[column], second[column].loc[first.index], check_exact=True)
