import json
import os
import time

import keras
import numpy as np
import pandas as pd
import pytest

from mnistlib import models, plots, results, training


@pytest.mark.parametrize("name,config,params", [
    ("softmax_regression", {}, 7_850),
    ("mlp_256", {}, 203_530),  # the seed's count
    ("mlp_sigmoid_100", {}, 79_510),
    ("deep_mlp", {}, 244_522),
    ("deep_mlp", {"dropout": 0.3}, 244_522),
    ("simple_cnn", {}, 130_890),  # the seeds' counts from here on
    ("simple_cnn", {"augment": {"shift": 0.1}}, 130_890),  # augmentation adds no parameters
    ("vgg_like", {}, 336_940),
    ("vgg_like", {"batch_norm": True}, 340_700),
    ("bn_cnn", {}, 597_066),
    ("standard_cnn", {}, 35_445_522),
    ("resnet", {}, 8_606_666),
    ("resnet", {"decay_steps": 100}, 8_606_666),  # a schedule adds no parameters
    ("resnet", {"blocks": (1, 1, 1)}, 1_996_746),  # the smoke profile's depth
])
def test_builders_parameter_counts_and_shapes(name, config, params):
    model = models.build(name, **config)
    assert model.count_params() == params
    assert model.input_shape == (None, 28, 28, 1) and model.output_shape == (None, 10)
    out = model.predict(np.zeros((2, 28, 28, 1), np.float32), verbose=0)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    assert model.optimizer is not None and model.loss == "sparse_categorical_crossentropy"


@pytest.mark.parametrize("name", sorted(models.BUILDERS))
def test_architecture_fingerprint_is_stable(name):
    """Two builds of the same model hash alike (the cache would miss otherwise); other settings differ."""
    first, second = models.build(name), models.build(name)
    assert training._architecture_fingerprint(first) == training._architecture_fingerprint(second)
    other = models.build(name, learning_rate=0.123)
    assert training._architecture_fingerprint(other) != training._architecture_fingerprint(first)


def test_resnet_stages_and_schedule():
    model = models.resnet(decay_steps=10)
    shapes = [model.get_layer(f"stage{s}_block{n}_out").output.shape[1:] for s, n in zip((1, 2, 3), models.RESNET_BLOCKS)]
    assert shapes == [(7, 7, 256), (4, 4, 512), (2, 2, 1024)]
    assert sum(isinstance(layer, keras.layers.PReLU) for layer in model.layers) == 1 + 3 * sum(models.RESNET_BLOCKS)
    assert isinstance(model.optimizer, keras.optimizers.Nadam)
    lr = model.optimizer.learning_rate
    model.optimizer.iterations.assign(10)
    assert float(model.optimizer.learning_rate) == 0.0 < float(lr)
    with pytest.raises(ValueError, match="resnet: blocks must be 3 counts of at least 1"):
        models.resnet(blocks=(3, 4))


def test_build_errors():
    with pytest.raises(KeyError, match="no model builder named 'lenet'"):
        models.build("lenet")
    with pytest.raises(ValueError, match="dropout must be in"):
        models.deep_mlp(dropout=1.0)


def test_augmentation_only_while_training():
    """Augmentation layers change images in fit (training=True) and never at inference."""
    rng = np.random.default_rng(1)
    x = np.zeros((8, 28, 28, 1), np.float32)
    x[:, 8:20, 12:16, 0] = 1.0  # a vertical bar: any shift, rotation or zoom moves ink
    aug = models.augmentation(shift=0.1, rotation=10, zoom=0.1, shear=0.1, seed=3)
    trained = keras.ops.convert_to_numpy(aug(x, training=True))
    assert trained.shape == x.shape and not np.allclose(trained, x)
    assert trained.min() >= -1e-6 and trained.max() <= 1 + 1e-6  # background fill, no reflection artefacts
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(aug(x, training=False)), x)
    model = models.simple_cnn(augment={"shift": 0.1, "rotation": 10, "zoom": 0.1})
    batch = rng.random((16, 28, 28, 1)).astype(np.float32)
    first, second = (model.predict(batch, verbose=0) for _ in range(2))
    np.testing.assert_array_equal(first, second)
    inner = keras.Model(model.get_layer("augmentation").output, model.output)  # the same net without augmentation
    np.testing.assert_allclose(first, inner.predict(batch, verbose=0), rtol=1e-5, atol=1e-6)


def test_augmented_model_saves_and_loads(tmp_path):
    """The augmentation layer survives a save/load round trip, settings included."""
    model = models.simple_cnn(augment={"shift": 0.1, "rotation": 10, "zoom": 0.1, "shear": 0.2})
    path = training.save_model_atomic(model, tmp_path / "augmented.keras")
    loaded = keras.saving.load_model(path)
    (affine,) = loaded.get_layer("augmentation").layers
    assert isinstance(affine, models.RandomAffine) and affine.name == "affine"
    assert (affine.shift, affine.rotation, affine.zoom, affine.shear) == (0.1, 10.0, 0.1, 0.2)
    x = np.random.default_rng(2).random((4, 28, 28, 1)).astype(np.float32)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_keras_augmentation_chain_saves_and_loads(tmp_path):
    """The chain of Keras's own layers round-trips too (Keras's RandomShear alone does not)."""
    chain = models.keras_augmentation(shift=0.1, rotation=10, zoom=0.1, shear=0.2)
    model = keras.Sequential([chain, keras.layers.Flatten(), keras.layers.Dense(10)])
    model.save(tmp_path / "chain.keras")
    loaded = keras.saving.load_model(tmp_path / "chain.keras")
    assert [l.name for l in loaded.layers[0].layers] == ["rotate", "zoom", "shear", "shift"]


def test_random_affine_transform_is_exact():
    """Identity, whole-pixel shifts and quarter turns move pixels exactly; what comes from outside is 0."""
    x = np.zeros((2, 28, 28, 1), np.float32)
    x[:, 5:20, 10:13, 0] = 1.0
    x[1, 3, 3, 0] = 0.5
    zero, one = np.zeros(2, np.float32), np.ones(2, np.float32)
    out = lambda *a: keras.ops.convert_to_numpy(models.RandomAffine.transform(x, *a))  # noqa: E731
    np.testing.assert_array_equal(out(zero, one, zero, zero, zero), x)
    shifted = np.zeros_like(x)
    shifted[:, 0:25, 2:28] = x[:, 3:28, 0:26]  # 2 pixels right, 3 up
    np.testing.assert_array_equal(out(zero, one, zero, 2 * one, -3 * one), shifted)
    np.testing.assert_allclose(out(np.full(2, np.pi / 2, np.float32), one, zero, zero, zero),
                               np.rot90(x, 1, axes=(1, 2)), atol=1e-5)  # anticlockwise on screen
    smaller = out(zero, 2 * one, zero, zero, zero)  # scale 2: the digit at half size, ink halved by area
    assert abs(smaller.sum() - x.sum() / 4) < 0.1 * x.sum()


def test_random_affine_draws_differ_per_image_and_follow_the_seed():
    x = np.zeros((16, 28, 28, 1), np.float32)
    x[:, 8:20, 12:16, 0] = 1.0
    a, b = (keras.ops.convert_to_numpy(models.RandomAffine(seed=7)(x, training=True)) for _ in range(2))
    np.testing.assert_array_equal(a, b)  # same seed, same draws
    assert len({arr.tobytes() for arr in a}) == len(a)  # a fresh transformation for every image


@pytest.mark.parametrize("kwargs,message", [
    ({"shift": 1.5}, "shift=1.5 is out of range"),
    ({"rotation": -5}, "rotation=-5 is out of range"),
    ({"shift": 0, "rotation": 0, "zoom": 0}, "every transformation is switched off"),
])
def test_augmentation_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        models.augmentation(**kwargs)


def test_compile_classifier_learning_rate():
    model = models.mlp_256(learning_rate=0.01)
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(0.01)


@pytest.fixture
def tiny():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(10), 20)
    x = rng.random((200, 28, 28, 1)).astype(np.float32) * 0.2
    for c in range(10):  # a learnable signal: class c lights up row 2c
        x[y == c, 2 * c, :, 0] = 1.0
    return x, y


@pytest.fixture
def artifacts(tmp_path, monkeypatch):
    monkeypatch.setenv("MNISTBOOK_ARTIFACTS", str(tmp_path))
    return tmp_path


def test_fit_records_timing(tiny):
    x, y = tiny
    r = training.fit(models.softmax_regression(), x, y, validation_data=(x, y), epochs=2, batch_size=50)
    assert r.epochs == 2 and len(r.history["seconds"]) == 2
    assert all(s > 0 for s in r.history["seconds"]) and r.images_per_second > 0
    # images/s counts training only; "seconds" is the whole epoch, validation included
    assert r.history["images_per_second"][1] > 200 / r.history["seconds"][1]
    plain = training.fit(models.softmax_regression(), x, y, validation_data=None, epochs=2, batch_size=50)
    assert plain.history["images_per_second"][1] == pytest.approx(200 / plain.history["seconds"][1], rel=0.05)


def test_cpu_seconds_count_work_not_waiting(tiny):
    """A pause in every step (as when a shared host withholds a core) adds wall time, not processor time."""
    class Pause(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            time.sleep(0.05)

    x, y = tiny
    r = training.fit(models.softmax_regression(), x, y, validation_data=(x, y), epochs=2, batch_size=50,
                     callbacks=[Pause()])
    assert len(r.history["train_cpu_seconds"]) == 2 and all(c > 0 for c in r.history["train_cpu_seconds"])
    train_wall = 200 / r.history["images_per_second"][1]
    assert train_wall >= 4 * 0.05 and r.history["train_cpu_seconds"][1] < train_wall - 0.15
    assert r.cpu_seconds_per_epoch == r.history["train_cpu_seconds"][1]  # the warm-up epoch is left out
    old = training.TrainResult(r.model, {"loss": [1.0, 0.5], "seconds": [2.0, 1.0]})
    assert np.isnan(old.cpu_seconds_per_epoch), "a history from before the measure existed has none"


def test_stop_at_accuracy_watches_validation_only(tiny):
    x, y = tiny
    with pytest.raises(ValueError, match="validation metrics only"):
        training.StopAtAccuracy(0.9, monitor="accuracy")
    with pytest.raises(ValueError, match="validation metrics only"):
        training.StopAtAccuracy(0.9, monitor="test_accuracy")
    # Validation data the model cannot fit (labels shuffled) never reaches the target; the real ones do.
    y_wrong = np.roll(y, 7)
    r = training.fit(models.softmax_regression(learning_rate=0.05), x, y, validation_data=(x, y_wrong),
                     epochs=4, batch_size=50, target_accuracy=0.9)
    assert r.epochs == 4
    r = training.fit(models.softmax_regression(learning_rate=0.05), x, y, validation_data=(x, y),
                     epochs=30, batch_size=50, target_accuracy=0.9)
    assert r.epochs < 30 and r.history["val_accuracy"][-1] >= 0.9
    assert all(v < 0.9 for v in r.history["val_accuracy"][:-1])


def test_fit_needs_validation_for_validation_callbacks(tiny):
    x, y = tiny
    with pytest.raises(ValueError, match="need validation_data"):
        training.fit(models.softmax_regression(), x, y, validation_data=None, epochs=1, early_stopping=2)


def test_fit_replays_learning_rates(tiny):
    x, y = tiny
    r = training.fit(models.softmax_regression(), x, y, validation_data=None, epochs=3, batch_size=50,
                     learning_rates=[1e-2, 5e-3, 1e-3])
    np.testing.assert_allclose(r.history["learning_rate"], [1e-2, 5e-3, 1e-3], rtol=1e-6)
    assert r.info["n_val"] == 0 and "val_accuracy" not in r.history
    with pytest.raises(ValueError, match="one positive rate per epoch \\(3\\)"):
        training.fit(models.softmax_regression(), x, y, validation_data=None, epochs=3, learning_rates=[1e-3, 1e-3])
    with pytest.raises(ValueError, match="one positive rate per epoch"):
        training.fit(models.softmax_regression(), x, y, validation_data=None, epochs=2, learning_rates=[1e-3, 0.0])
    with pytest.raises(ValueError, match="learning_rates and reduce_lr"):
        training.fit(models.softmax_regression(), x, y, validation_data=(x, y), epochs=2, reduce_lr=True,
                     learning_rates=[1e-3, 1e-3])


def test_fit_is_reproducible(tiny):
    x, y = tiny
    runs = []
    for _ in range(2):
        keras.utils.set_random_seed(3)
        runs.append(training.fit(models.deep_mlp(dropout=0.3), x, y, validation_data=(x, y), epochs=2, seed=3))
    assert runs[0].history["val_loss"] == runs[1].history["val_loss"]


def test_train_or_load_trains_once(tiny, artifacts, monkeypatch):
    x, y = tiny
    fits = []
    real_fit = training.fit
    monkeypatch.setattr(training, "fit", lambda *a, **k: fits.append(1) or real_fit(*a, **k))
    kw = dict(config={"optimizer": "adam"}, profile="smoke", chapter="03_linear_models", x=x, y=y,
              validation_data=(x, y), epochs=2, batch_size=50)
    first = training.train_or_load("softmax", models.softmax_regression, **kw)
    second = training.train_or_load("softmax", models.softmax_regression, **kw)
    assert fits == [1] and not first.loaded and second.loaded
    assert second.path == first.path and second.path.parent == artifacts / "smoke" / "03_linear_models"
    assert second.history == first.history and second.info["n_train"] == 200
    np.testing.assert_array_equal(first.model.predict(x[:5], verbose=0), second.model.predict(x[:5], verbose=0))
    # Another configuration, other data, another profile, or a changed builder means another model.
    third = training.train_or_load("softmax", models.softmax_regression, **{**kw, "epochs": 3})
    fourth = training.train_or_load("softmax", models.softmax_regression, **{**kw, "x": x[::-1].copy()})
    fifth = training.train_or_load("softmax", models.softmax_regression, **{**kw, "profile": "quick"})
    sixth = training.train_or_load("softmax", models.mlp_sigmoid_100, **kw)  # same name and config, new code
    assert fits == [1] * 5 and len({first.path, third.path, fourth.path, fifth.path, sixth.path}) == 5
    # A cached history of an older format (fewer figures per epoch) is retrained, not shown with gaps.
    monkeypatch.setattr(training, "HISTORY_FORMAT", training.HISTORY_FORMAT + 1)
    seventh = training.train_or_load("softmax", models.softmax_regression, **kw)
    assert fits == [1] * 6 and not seventh.loaded and seventh.path != first.path
    leftovers = [p.name for p in artifacts.rglob("*") if ".part" in p.name]
    assert not leftovers


def test_save_model_atomic_keeps_old_file_on_failure(tmp_path, monkeypatch):
    path = training.save_model_atomic(models.softmax_regression(), tmp_path / "m.keras")
    before = path.read_bytes()
    model = models.mlp_256()
    monkeypatch.setattr(model, "save", lambda p: (open(p, "wb").write(b"half"), (_ for _ in ()).throw(OSError("killed"))))
    with pytest.raises(OSError, match="killed"):
        training.save_model_atomic(model, path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["m.keras"]
    with pytest.raises(ValueError, match="must end in .keras"):
        training.save_model_atomic(model, tmp_path / "m.h5")


def test_artifacts_dir_finds_the_book_root(tmp_path, monkeypatch):
    monkeypatch.delenv("MNISTBOOK_ARTIFACTS", raising=False)
    (tmp_path / "_toc.yml").write_text("root: x\n")
    (tmp_path / "chapters").mkdir()
    monkeypatch.chdir(tmp_path / "chapters")
    assert training.artifacts_dir("quick") == tmp_path / "artifacts" / "quick"


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


def test_record_result(tiny, artifacts):
    x, y = tiny
    r = training.train_or_load("softmax", models.softmax_regression, config={}, profile="smoke", chapter="03",
                               x=x, y=y, validation_data=(x, y), epochs=2, batch_size=50)
    ledger = results.record_result(r, chapter="03", profile="smoke", test_accuracy=0.5, data="test data")
    row = ledger.iloc[0]
    assert row["model"] == "softmax_regression" and row["params"] == 7850 and row["epochs"] == 2
    assert row["n_train"] == 200 and row["backend"] == keras.backend.backend() and row["data"] == "test data"


def test_results_of_a_plain_fit_can_be_recorded_without_accuracy(tiny, artifacts):
    x, y = tiny
    r = training.fit(models.softmax_regression(), x, y, validation_data=None, epochs=2, batch_size=50)
    assert r.info["n_train"] == 200 and r.info["backend"] == keras.backend.backend() and r.info["n_val"] == 0
    row = results.record_result(r, chapter="06", profile="smoke", test_accuracy=None, data="tiny",
                                name="timed_only").iloc[0]
    assert row["n_train"] == 200 and row["images_per_second"] > 0 and row["backend"] == keras.backend.backend()
    assert pd.isna(row["test_accuracy"]) and pd.isna(row["train_accuracy"]) and pd.isna(row["val_accuracy"])


def test_evaluate_and_record(tiny, artifacts):
    x, y = tiny
    r = training.train_or_load("softmax", models.softmax_regression, config={}, profile="smoke", chapter="04",
                               x=x, y=y, validation_data=(x, y), epochs=2, batch_size=50)
    assert r.describe().startswith("trained: 2 epochs, 7,850 parameters") and "validation" in r.describe()
    x_test, y_test = x[::2], y[::2]
    table = results.evaluate_and_record({"a": r, "b": r}, x_test, y_test, chapter="04", profile="smoke",
                                        data="tiny", seed_accuracy={"a": 0.9})
    expected = float(np.mean(r.model.predict(x_test, verbose=0).argmax(1) == y_test))
    assert table.loc["a", "test accuracy"] == pytest.approx(expected)
    assert table.loc["a", "seed test accuracy"] == 0.9 and np.isnan(table.loc["b", "seed test accuracy"])
    assert table.loc["b", "parameters"] == 7850 and table.loc["b", "epochs"] == 2
    ledger = results.load_ledger("smoke")
    assert sorted(ledger["model"]) == ["a", "b"] and (ledger["test_accuracy"] == table.loc["a", "test accuracy"]).all()


def test_train_models_uses_the_cache_and_per_model_epochs(tiny, artifacts, capsys):
    from mnistlib.profiles import get_profile

    x, y = tiny
    specs = {"soft": (models.softmax_regression, {}), "mlp": (models.mlp_sigmoid_100, {"learning_rate": 0.01})}
    kw = dict(profile=get_profile(name="smoke"), chapter="04_mlp", x=x, y=y, validation_data=(x, y))
    first = training.train_models(specs, epochs={"soft": 1, "mlp": 2}, **kw)
    assert {n: r.epochs for n, r in first.items()} == {"soft": 1, "mlp": 2}
    assert not any(r.loaded for r in first.values())
    assert first["mlp"].info["config"] == {"learning_rate": 0.01} and first["mlp"].info["batch_size"] == 128
    again = training.train_models(specs, epochs={"soft": 1, "mlp": 2}, **kw)
    assert all(r.loaded for r in again.values()) and again["soft"].path == first["soft"].path
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4 and out[0].startswith("soft") and "loaded: 2 epochs" in out[3]


def test_training_curves():
    import matplotlib
    matplotlib.use("Agg")
    h = {"accuracy": [0.5, 0.7], "val_accuracy": [0.4, 0.6], "loss": [1.0, 0.5], "val_loss": [1.2, 0.8]}
    fig = plots.training_curves({"a": h, "b": h}, title="Curves")
    assert fig._suptitle.get_text() == "Curves" and len(fig.axes) == 2
    assert fig.axes[0].get_xlabel() == "epoch" and len(fig.axes[0].lines) == 4
    with pytest.raises(KeyError, match="has no 'accuracy'"):
        plots.training_curves({"a": {"loss": [1]}}, title="x")
    with pytest.raises(ValueError, match="no histories"):
        plots.training_curves({}, title="x")


def test_ledgers_written_before_a_new_column_still_load(artifacts):
    path = results.ledger_path("smoke")
    path.parent.mkdir(parents=True)
    path.write_text("chapter,model,profile,params,test_accuracy\n03,a,smoke,10,0.5\n")
    ledger = results.load_ledger("smoke")
    assert list(ledger.columns) == results.COLUMNS and ledger["seed_test_accuracy"].isna().all()
    ledger = results.record(chapter="03", model="b", profile="smoke", test_accuracy=0.6, seed_test_accuracy=0.7)
    assert ledger.set_index("model").loc["b", "seed_test_accuracy"] == 0.7 and len(ledger) == 2


def test_reference_export_merges_runs_from_several_machines(artifacts):
    ref = artifacts / "reference.csv"
    results.record(chapter="05_cnn", model="simple_cnn", profile="full", test_accuracy=0.9922, backend="tensorflow")
    first = results.export_reference("2-core CPU", ref)
    assert first["machine"].tolist() == ["2-core CPU"] and first["keras"].tolist() == [keras.__version__]
    results.ledger_path("full").unlink()
    results.record(chapter="08_resnet_qmnist", model="resnet", profile="full", test_accuracy=0.99, backend="jax")
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
    floors = {("03_linear_models", "sgd_l2"): 0.915, ("03_linear_models", "softmax_regression"): 0.920,
              ("04_mlp", "mlp_256"): 0.977, ("04_mlp", "deep_mlp"): 0.980, ("05_cnn", "simple_cnn"): 0.991}
    by_key = reference.set_index(["chapter", "model"])["test_accuracy"]
    for key, floor in floors.items():
        assert by_key[key] >= floor, f"{key}: {by_key[key]} below the issue's floor {floor}"


def test_book_models_are_buildable_and_named():
    for name, spec in models.BOOK_MODELS.items():
        assert spec["builder"] in models.BUILDERS and spec["chapter"][:2] in {"05", "06"}
        assert models.build(spec["builder"], **spec["config"]).count_params() > 0
    with pytest.raises(KeyError, match="no model named 'lenet'"):
        training.book_model("lenet", "smoke")


def test_book_model_with_another_seed_is_another_cached_model(artifacts):
    """Chapter 10's ensemble members: the book's model, trained as its chapter does, from other seeds."""
    book, data = training.book_model("simple_cnn", "smoke")
    other, other_data = training.book_model("simple_cnn", "smoke", seed=1)
    assert not book.loaded and not other.loaded and book.path != other.path
    assert np.array_equal(data.y_val, other_data.y_val)  # the same split: only the seed differs
    assert not np.array_equal(book.model.get_weights()[0], other.model.get_weights()[0])
    again, _ = training.book_model("simple_cnn", "smoke", seed=1)
    assert again.loaded and again.path == other.path


def test_refit_keeps_the_validated_settings_and_replays_its_learning_rates(artifacts):
    """Chapter 10's final models: trained again on training + validation digits, nothing left to watch."""
    refit, validated, data = training.refit_book_model("simple_cnn", "smoke")
    assert not refit.loaded and refit.path.parent == artifacts / "smoke" / "10_results_and_ensembles"
    assert refit.info["n_train"] == len(data.y_train) + len(data.y_val) and refit.info["n_val"] == 0
    assert refit.epochs == validated.epochs == 2 and refit.info["seed"] == validated.info["seed"] == 42
    assert "val_loss" not in refit.history
    np.testing.assert_allclose(refit.history["learning_rate"], validated.history["learning_rate"], rtol=1e-6)
    assert not np.array_equal(refit.model.get_weights()[0], validated.model.get_weights()[0])
    again, _, _ = training.refit_book_model("simple_cnn", "smoke")
    assert again.loaded and again.path == refit.path


def test_refit_refuses_a_model_that_stops_on_validation(artifacts, monkeypatch):
    spec = {**models.BOOK_MODELS["simple_cnn"], "fit": {"early_stopping": 2}}
    monkeypatch.setitem(models.BOOK_MODELS, "simple_cnn", spec)
    with pytest.raises(ValueError, match="'simple_cnn' stops on the validation split \\(early_stopping\\)"):
        training.refit_book_model("simple_cnn", "smoke")


def test_ledger_writers_in_parallel_lose_no_rows(artifacts):
    # Four processes (four notebooks run side by side) record 25 rows each, all starting at the same instant.
    import subprocess
    import sys
    import time

    start = time.time() + 10  # after every process has imported mnistlib
    script = ("import sys, time; from mnistlib import results; w, start = sys.argv[1], float(sys.argv[2]); "
              "time.sleep(max(0, start - time.time())); "
              "[results.record(chapter='06', model=f'{w}-{i}', profile='smoke', test_accuracy=i / 100) "
              "for i in range(25)]")
    procs = [subprocess.Popen([sys.executable, "-c", script, f"w{w}", str(start)], env=os.environ.copy())
             for w in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 4
    ledger = results.load_ledger("smoke")
    assert len(ledger) == 100 and set(ledger["model"]) == {f"w{w}-{i}" for w in range(4) for i in range(25)}
