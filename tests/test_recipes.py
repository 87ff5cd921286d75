"""CONTRIBUTING.md's recipes, followed literally with a synthetic entry, leave the existing tests passing.

Each test runs other test files in a fresh pytest process with ``tests/recipe_plugin.py`` loaded, which makes the
one change the recipe asks for (a registered dataset; a model builder) before collection.
"""

import os
import subprocess
import sys

import pytest
from conftest import ROOT

from mnistlib import datasets


def run_with(recipe: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "RECIPE": recipe, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)])}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "recipe_plugin", "-p", "no:cacheprovider", "-q", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_a_registered_dataset_breaks_no_test_of_the_data_layer(data_root):
    done = run_with(
        "dataset", "tests/test_datasets.py", "tests/test_dataset_registry.py", "tests/test_faults_data.py", "-x"
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


def test_a_new_builder_is_named_by_the_test_that_wants_its_settings():
    done = run_with("model", "tests/test_chapter_models.py", "-k", "settings_listed")
    assert done.returncode == 1, done.stdout[-3000:]
    assert "add ['recipe_mlp'] to CONFIGS" in done.stdout and "KeyError" not in done.stdout


def test_a_dataset_without_a_mirror_says_where_its_files_go(tmp_path, capsys):
    entry = datasets.DataFile("nowhere-labels-idx1-ubyte.gz", "NOWHERE", "0" * 32, None, (), "no mirror", 10, 18)
    datasets.register(datasets.Dataset("nowhere", "NOWHERE", (entry,), splits={"train": (entry.name, entry.name)}))
    try:
        assert datasets.main(["fetch", "nowhere", "--data-dir", str(tmp_path)]) == 1
    finally:
        datasets.unregister("nowhere")
    err = capsys.readouterr()
    text = err.out + err.err
    assert "nowhere-labels-idx1-ubyte.gz has no download mirror" in text and str(tmp_path / "NOWHERE") in text
    assert "IndexError" not in text and "Traceback" not in text


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
