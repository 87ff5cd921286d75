"""mnistlib.results: the results ledger and the full-profile reference file."""

import os

import keras
import numpy as np
import pandas as pd
import pytest

from mnistlib import chapters, models, results, training


def test_ledger_replaces_rows_and_round_trips(artifacts):
    assert results.load_ledger("smoke").empty and list(results.load_ledger("smoke").columns) == results.COLUMNS
    results.record(chapter="03", model="a", profile="smoke", test_accuracy=0.5, params=10)
    results.record(chapter="03", model="b", profile="smoke", test_accuracy=0.6)
    results.record(chapter="04", model="a", profile="smoke", test_accuracy=0.7)
    ledger = results.record(chapter="03", model="a", profile="smoke", test_accuracy=0.9, params=10)
    assert len(ledger) == 3
    back = results.load_ledger("smoke")
    row = back.query("chapter == '03' and model == 'a'")
    assert len(row) == 1 and row["test_accuracy"].item() == 0.9 and row["params"].item() == 10
    assert results.load_ledger("quick").empty  # profiles never mix
    with pytest.raises(ValueError, match="unknown ledger fields \\['test_acc'\\]"):
        results.record(chapter="03", model="a", profile="smoke", test_acc=0.9)


def _softmax(tiny, chapter: str) -> training.TrainResult:
    """A softmax regression trained two epochs on the tiny set (or loaded from the test's artifacts)."""
    x, y = tiny
    return training.train_or_load(
        "softmax",
        models.softmax_regression,
        config={},
        profile="smoke",
        chapter=chapter,
        x=x,
        y=y,
        validation_data=(x, y),
        epochs=2,
        batch_size=50,
    )


def test_record_result(tiny, artifacts):
    r = _softmax(tiny, "03")
    ledger = results.record_result(r, chapter="03", profile="smoke", test_accuracy=0.5, data="test data")
    row = ledger.iloc[0]
    assert row["model"] == "softmax_regression" and row["params"] == 7850 and row["epochs"] == 2
    assert row["n_train"] == 200 and row["backend"] == keras.backend.backend() and row["data"] == "test data"


def test_results_of_a_plain_fit_can_be_recorded_without_accuracy(tiny, artifacts):
    x, y = tiny
    r = training.fit(models.softmax_regression(), x, y, validation_data=None, epochs=2, batch_size=50)
    assert r.info["n_train"] == 200 and r.info["backend"] == keras.backend.backend() and r.info["n_val"] == 0
    row = results.record_result(
        r, chapter="06", profile="smoke", test_accuracy=None, data="tiny", name="timed_only"
    ).iloc[0]
    assert row["n_train"] == 200 and row["images_per_second"] > 0 and row["backend"] == keras.backend.backend()
    assert pd.isna(row["test_accuracy"]) and pd.isna(row["train_accuracy"]) and pd.isna(row["val_accuracy"])


def test_evaluate_and_record(tiny, artifacts):
    x, y = tiny
    r = _softmax(tiny, "04")
    assert r.describe().startswith("trained: 2 epochs, 7,850 parameters") and "validation" in r.describe()
    x_test, y_test = x[::2], y[::2]
    table = results.evaluate_and_record(
        {"a": r, "b": r},
        x_test,
        y_test,
        chapter="04",
        profile="smoke",
        data="tiny",
        original_accuracy={"a": 0.9, "b": None},
    )
    predicted = r.model.predict(x_test, verbose=0).argmax(1)
    expected = float(np.mean(predicted == y_test))
    assert table.loc["a", "test accuracy"] == pytest.approx(expected)
    _, keras_accuracy = r.model.evaluate(x_test, y_test, verbose=0)  # what Keras's own accuracy metric says
    assert table.loc["a", "test accuracy"] == pytest.approx(keras_accuracy, abs=1e-6)
    assert np.array_equal(r.test_predictions, predicted)  # kept for paired comparisons, without predicting again
    assert table.loc["a", "original test accuracy"] == 0.9 and np.isnan(table.loc["b", "original test accuracy"])
    assert table.loc["b", "parameters"] == 7850 and table.loc["b", "epochs"] == 2
    ledger = results.load_ledger("smoke")
    assert sorted(ledger["model"]) == ["a", "b"] and (ledger["test_accuracy"] == table.loc["a", "test accuracy"]).all()


def test_ledgers_written_before_a_new_column_still_load(artifacts):
    path = results.ledger_path("smoke")
    path.parent.mkdir(parents=True)
    path.write_text("chapter,model,profile,params,test_accuracy\n03,a,smoke,10,0.5\n")
    ledger = results.load_ledger("smoke")
    assert list(ledger.columns) == results.COLUMNS and ledger["original_test_accuracy"].isna().all()
    ledger = results.record(chapter="03", model="b", profile="smoke", test_accuracy=0.6, original_test_accuracy=0.7)
    assert ledger.set_index("model").loc["b", "original_test_accuracy"] == 0.7 and len(ledger) == 2


def test_ledgers_with_the_old_seed_column_are_migrated_on_the_next_write(artifacts):
    path = results.ledger_path("smoke")
    path.parent.mkdir(parents=True)
    path.write_text("chapter,model,profile,test_accuracy,seed_test_accuracy\n03,a,smoke,0.5,0.9\n")
    ledger = results.load_ledger("smoke")
    assert list(ledger.columns) == results.COLUMNS and ledger.loc[0, "original_test_accuracy"] == 0.9
    results.record(chapter="03", model="b", profile="smoke", test_accuracy=0.6)
    header = path.read_text().splitlines()[0].split(",")
    assert "original_test_accuracy" in header and "seed_test_accuracy" not in header
    assert results.load_ledger("smoke").set_index("model").loc["a", "original_test_accuracy"] == 0.9


def test_the_reference_file_uses_the_current_columns():
    header = results.REFERENCE.read_text().splitlines()[0].split(",")
    assert header == results.COLUMNS + ["machine", "keras"]


def test_reference_export_merges_runs_from_several_machines(artifacts):
    ref = artifacts / "reference.csv"
    results.record(chapter=chapters.CNN, model="simple_cnn", profile="full", test_accuracy=0.9922, backend="tensorflow")
    first = results.export_reference("2-core CPU", ref)
    assert first["machine"].tolist() == ["2-core CPU"] and first["keras"].tolist() == [keras.__version__]
    results.ledger_path("full").unlink()
    results.record(chapter=chapters.RESNET_QMNIST, model="resnet", profile="full", test_accuracy=0.99, backend="jax")
    both = results.export_reference("H100", ref).set_index("model")
    assert both.loc["simple_cnn", "machine"] == "2-core CPU" and both.loc["resnet", "machine"] == "H100"
    assert len(results.load_reference(ref)) == 2
    assert results.load_reference(artifacts / "none.csv").empty
    results.ledger_path("full").unlink()
    with pytest.raises(ValueError, match="full ledger .* is empty"):
        results.export_reference("x", ref)


def test_committed_reference_results_are_full_profile_runs_with_provenance():
    reference = results.load_reference()
    assert not reference.empty and (reference["profile"] == "full").all()
    assert reference[["machine", "keras", "backend", "data", "recorded_at"]].notna().all().all()
    floors = {
        (chapters.LINEAR_MODELS, "sgd_l2"): 0.915,
        (chapters.LINEAR_MODELS, "softmax_regression"): 0.920,
        (chapters.MLP, "mlp_256"): 0.977,
        (chapters.MLP, "deep_mlp"): 0.980,
        (chapters.CNN, "simple_cnn"): 0.991,
    }
    by_key = reference.set_index(["chapter", "model"])["test_accuracy"]
    for key, floor in floors.items():
        assert by_key[key] >= floor, f"{key}: {by_key[key]} below the issue's floor {floor}"


@pytest.mark.timeout(900)
def test_ledger_writers_in_parallel_lose_no_rows(artifacts):
    """Four processes (four notebooks run side by side) record 25 rows each, all starting at the same moment.

    They used to start at a time fixed in advance, 10 s ahead, betting that every process had imported mnistlib
    (Keras, TensorFlow) by then; on a loaded machine the imports took longer, the writers started one after the
    other without contending, and the 120 s wait could run out. Now each says when it is ready, all start when the
    last one is, and they are given the time they need (the test's own limit, pytest-timeout, still holds)."""
    import subprocess
    import sys

    script = (
        "import sys; from mnistlib import results; w = sys.argv[1]; "
        "print('ready', flush=True); sys.stdin.readline(); "
        "[results.record(chapter='06', model=f'{w}-{i}', profile='smoke', test_accuracy=i / 100) "
        "for i in range(25)]"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, f"w{w}"],
            env=os.environ.copy(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for w in range(4)
    ]
    try:
        assert [p.stdout.readline() for p in procs] == ["ready\n"] * 4, "a writer failed to import mnistlib"
        for p in procs:  # they wait for a line, or its end: closing every stdin starts them all at once
            p.stdin.close()
        assert [p.wait() for p in procs] == [0] * 4
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    ledger = results.load_ledger("smoke")
    assert len(ledger) == 100 and set(ledger["model"]) == {f"w{w}-{i}" for w in range(4) for i in range(25)}


# ---- issue 35, 4: where with_reference puts the full-scale column ---------------------------------------------------


@pytest.fixture
def reference(tmp_path):
    """A reference file with two full-scale results of chapter 03."""
    path = tmp_path / "reference.csv"
    path.write_text(
        "chapter,model,profile,test_accuracy,machine,keras\n"
        f"{chapters.LINEAR_MODELS},softmax_regression,full,0.9251,cpu,3\n"
        f"{chapters.LINEAR_MODELS},sgd_l2,full,0.9187,cpu,3\n"
    )
    return path


@pytest.mark.parametrize("accuracy", ["test_accuracy", "test accuracy"])
def test_the_full_scale_column_goes_right_after_the_test_accuracy(reference, accuracy):
    table = pd.DataFrame(
        {"params": [7850, 7850, 100], accuracy: [0.91, 0.90, 0.5], "val_accuracy": [0.92, 0.91, 0.5]},
        index=pd.Index(["softmax_regression", "sgd_l2", "not_run_at_full_scale"], name="model"),
    )
    out = results.with_reference(table, chapter=chapters.LINEAR_MODELS, path=reference)
    assert list(out.columns) == ["params", accuracy, results.REFERENCE_COLUMN, "val_accuracy"]
    assert out[results.REFERENCE_COLUMN].tolist()[:2] == [0.9251, 0.9187]
    assert np.isnan(out.loc["not_run_at_full_scale", results.REFERENCE_COLUMN])
    # A table that has the column already gets it in the same place, once.
    again = results.with_reference(
        out[[results.REFERENCE_COLUMN, "params", accuracy]], chapters.LINEAR_MODELS, reference
    )
    assert list(again.columns) == ["params", accuracy, results.REFERENCE_COLUMN]


def test_the_full_scale_column_goes_last_without_a_test_accuracy(reference):
    table = pd.DataFrame(
        {"chapter": [chapters.LINEAR_MODELS], "params": [7850], "val_accuracy": [0.92]},
        index=pd.Index(["softmax_regression"], name="model"),
    )
    out = results.with_reference(table, path=reference)  # the chapter from each row's column
    assert list(out.columns) == ["chapter", "params", "val_accuracy", results.REFERENCE_COLUMN]
    assert out[results.REFERENCE_COLUMN].tolist() == [0.9251]


def test_lessons_are_recorded_per_chapter_and_a_damaged_file_is_named(artifacts):
    from mnistlib import analysis

    def lesson(chapter, n_wrong):
        right = np.r_[np.ones(100, bool), np.zeros(n_wrong, bool)]
        return analysis.paired_comparison(
            chapter, "claim", better="a", worse="b", right_better=np.ones(len(right), bool), right_worse=right
        )

    assert results.load_lessons("quick") == {}
    results.record_lesson(lesson(chapters.AUGMENTATION, 20), profile="quick")
    results.record_lesson(lesson(chapters.BATCH_NORMALIZATION, 5), profile="quick")
    results.record_lesson(lesson(chapters.AUGMENTATION, 30), profile="quick")  # a rerun replaces its chapter's record
    recorded = results.load_lessons("quick")
    assert set(recorded) == {chapters.AUGMENTATION, chapters.BATCH_NORMALIZATION}
    assert recorded[chapters.AUGMENTATION]["margin"] == 30 and recorded[chapters.BATCH_NORMALIZATION]["margin"] == 5
    results.lessons_path("quick").write_text("[1, 2")
    with pytest.raises(results.LedgerError, match="lessons.json.*damaged"):
        results.load_lessons("quick")
