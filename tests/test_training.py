"""mnistlib.training: timed fits, their callbacks and the load-or-train cache."""

import time

import keras
import numpy as np
import pytest

from mnistlib import chapters, models, training


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
    r = training.fit(
        models.softmax_regression(), x, y, validation_data=(x, y), epochs=2, batch_size=50, callbacks=[Pause()]
    )
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
    r = training.fit(
        models.softmax_regression(learning_rate=0.05),
        x,
        y,
        validation_data=(x, y_wrong),
        epochs=4,
        batch_size=50,
        target_accuracy=0.9,
    )
    assert r.epochs == 4
    r = training.fit(
        models.softmax_regression(learning_rate=0.05),
        x,
        y,
        validation_data=(x, y),
        epochs=30,
        batch_size=50,
        target_accuracy=0.9,
    )
    assert r.epochs < 30 and r.history["val_accuracy"][-1] >= 0.9
    assert all(v < 0.9 for v in r.history["val_accuracy"][:-1])


def test_fit_needs_validation_for_validation_callbacks(tiny):
    x, y = tiny
    with pytest.raises(ValueError, match="need validation_data"):
        training.fit(models.softmax_regression(), x, y, validation_data=None, epochs=1, early_stopping=2)
    # Each of the three is refused on its own (no test failed when target_accuracy left the guard).
    for setting in ({"target_accuracy": 0.9}, {"reduce_lr": True}):
        with pytest.raises(ValueError, match="need validation_data"):
            training.fit(models.softmax_regression(), x, y, validation_data=None, epochs=1, **setting)


def test_fit_replays_learning_rates(tiny):
    x, y = tiny
    r = training.fit(
        models.softmax_regression(),
        x,
        y,
        validation_data=None,
        epochs=3,
        batch_size=50,
        learning_rates=[1e-2, 5e-3, 1e-3],
    )
    np.testing.assert_allclose(r.history["learning_rate"], [1e-2, 5e-3, 1e-3], rtol=1e-6)
    assert r.info["n_val"] == 0 and "val_accuracy" not in r.history
    with pytest.raises(ValueError, match="one positive rate per epoch \\(3\\)"):
        training.fit(models.softmax_regression(), x, y, validation_data=None, epochs=3, learning_rates=[1e-3, 1e-3])
    with pytest.raises(ValueError, match="one positive rate per epoch"):
        training.fit(models.softmax_regression(), x, y, validation_data=None, epochs=2, learning_rates=[1e-3, 0.0])
    with pytest.raises(ValueError, match="learning_rates and reduce_lr"):
        training.fit(
            models.softmax_regression(),
            x,
            y,
            validation_data=(x, y),
            epochs=2,
            reduce_lr=True,
            learning_rates=[1e-3, 1e-3],
        )


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
    kw = dict(
        config={"optimizer": "adam"},
        profile="smoke",
        chapter=chapters.LINEAR_MODELS,
        x=x,
        y=y,
        validation_data=(x, y),
        epochs=2,
        batch_size=50,
    )
    first = training.train_or_load("softmax", models.softmax_regression, **kw)
    second = training.train_or_load("softmax", models.softmax_regression, **kw)
    assert fits == [1] and not first.loaded and second.loaded
    assert second.path == first.path and second.path.parent == artifacts / "smoke" / chapters.LINEAR_MODELS
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
    monkeypatch.setattr(
        model, "save", lambda p: (open(p, "wb").write(b"half"), (_ for _ in ()).throw(OSError("killed")))
    )
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


def test_train_models_uses_the_cache_and_per_model_epochs(tiny, artifacts, capsys):
    from mnistlib.profiles import get_profile

    x, y = tiny
    specs = {
        "soft": training.ModelSpec(models.softmax_regression),
        "mlp": training.ModelSpec(models.mlp_sigmoid_100, {"learning_rate": 0.01}),
    }
    kw = dict(profile=get_profile(name="smoke"), chapter=chapters.MLP, x=x, y=y, validation_data=(x, y))
    first = training.train_models(specs, epochs={"soft": 1, "mlp": 2}, **kw)
    assert {n: r.epochs for n, r in first.items()} == {"soft": 1, "mlp": 2}
    assert not any(r.loaded for r in first.values())
    assert first["mlp"].info["config"] == {"learning_rate": 0.01} and first["mlp"].info["batch_size"] == 128
    again = training.train_models(specs, epochs={"soft": 1, "mlp": 2}, **kw)
    assert all(r.loaded for r in again.values()) and again["soft"].path == first["soft"].path
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4 and out[0].startswith("soft") and "loaded: 2 epochs" in out[3]
    with pytest.raises(TypeError, match=r"specs of \['soft'\] are not ModelSpec"):
        training.train_models({"soft": (models.softmax_regression, {})}, epochs=1, **kw)


def test_cached_model_path_is_where_train_or_load_keeps_the_model(tiny, artifacts):
    x, y = tiny
    kw = dict(config={}, profile="smoke", chapter=chapters.LINEAR_MODELS, x=x, y=y, validation_data=(x, y), epochs=1)
    path = training.cached_model_path("softmax", models.softmax_regression, **kw)
    assert path.parent == artifacts / "smoke" / chapters.LINEAR_MODELS and not path.exists()
    first = training.train_or_load("softmax", models.softmax_regression, verbose=0, **kw)
    assert first.path == path and path.is_file() and path.with_suffix(".json").is_file()
    # verbose only changes what is printed, so it is not part of the key; a fit option is.
    again = training.train_or_load("softmax", models.softmax_regression, verbose=1, **kw)
    assert again.loaded and again.path == path
    assert training.cached_model_path("softmax", models.softmax_regression, reduce_lr=True, **kw) != path


def test_progress_verbose_shows_progress_in_a_kernel_but_never_in_a_build(monkeypatch):
    """Outside a kernel (this test, a script) no progress bar; in a kernel, one, unless the Makefile says build."""
    monkeypatch.delenv(training.BUILD_ENV, raising=False)
    assert training.progress_verbose() == 0
    monkeypatch.setenv(training.BUILD_ENV, "1")
    assert training.progress_verbose() == 0


def test_fits_in_a_jupyter_kernel_show_progress_unless_building(tiny):
    """A real kernel (JupyterLab's): fit's default prints Keras's progress bar; with MNISTBOOK_BUILD=1, nothing."""
    import os

    from jupyter_client.manager import start_new_kernel

    code = (
        "import os, numpy as np\n"
        "from mnistlib import models, training\n"
        "x = np.zeros((64, 28, 28, 1), np.float32); y = np.arange(64) % 10\n"
        "os.environ.pop(training.BUILD_ENV, None)\n"
        "print('in a kernel:', training.progress_verbose(), flush=True)\n"
        "training.fit(models.softmax_regression(), x, y, validation_data=None, epochs=1, batch_size=32)\n"
        "print('@@', flush=True)\n"
        "os.environ[training.BUILD_ENV] = '1'\n"
        "print('building:', training.progress_verbose(), flush=True)\n"
        "training.fit(models.softmax_regression(), x, y, validation_data=None, epochs=1, batch_size=32)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != training.BUILD_ENV}
    manager, client = start_new_kernel(kernel_name="python3", env=env, startup_timeout=120)
    try:
        texts = []
        reply = client.execute_interactive(
            code,
            timeout=240,
            output_hook=lambda m: texts.append(m["content"].get("text", "")) if m["msg_type"] == "stream" else None,
        )
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert reply["content"]["status"] == "ok", reply["content"]
    with_progress, building = "".join(texts).split("@@")
    assert "in a kernel: 1" in with_progress and "2/2" in with_progress, with_progress
    assert building.strip() == "building: 0", building


def _augmented_net(seed=0):
    """A small network with every kind of layer that keeps state or draws random numbers: augmentation,
    batch normalisation, dropout."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=models.INPUT_SHAPE)
    x = models.augmentation(**models.AUGMENTATION, seed=seed)(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(0.3)(x)
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_build_step_variables_changes_nothing_trained(tiny):
    """Building the optimizer's and metrics' variables first gives the same weights, bit for bit, and the same
    history as letting Keras build them inside the first step."""
    x, y = tiny
    runs = []
    for prebuild in (False, True):
        model = _augmented_net()
        if prebuild:
            training.build_step_variables(model, x, y)
            assert model.optimizer.built
        keras.utils.set_random_seed(1)
        history = model.fit(x, y, validation_data=(x, y), epochs=2, batch_size=50, verbose=0).history
        runs.append((model.get_weights(), history))
    (w0, h0), (w1, h1) = runs
    assert h0 == h1
    assert len(w0) == len(w1) and all(np.array_equal(a, b) for a, b in zip(w0, w1))


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's tracing")
def test_build_step_variables_traces_the_training_step_once(tiny):
    x, y = tiny
    traces = {}
    for prebuild in (False, True):
        model = _augmented_net()
        step, count = model.train_step, []

        def counted(data, step=step, count=count):
            count.append(1)
            return step(data)

        model.train_step = counted
        if prebuild:
            training.build_step_variables(model, x, y)
        model.fit(x, y, epochs=2, batch_size=50, verbose=0)
        traces[prebuild] = len(count)
    assert traces == {False: 2, True: 1}  # Keras's own first step traces twice; the point of the helper


def test_build_step_variables_keeps_a_loaded_optimizer_and_refuses_an_uncompiled_model(tiny, tmp_path):
    x, y = tiny
    model = _augmented_net()
    model.fit(x, y, epochs=1, batch_size=50, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    before = [keras.ops.convert_to_numpy(v) for v in loaded.optimizer.variables]
    training.build_step_variables(loaded, x, y)
    after = [keras.ops.convert_to_numpy(v) for v in loaded.optimizer.variables]
    assert len(before) == len(after) and all(np.array_equal(a, b) for a, b in zip(before, after))
    assert int(loaded.optimizer.iterations) == 4
    bare = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)], name="bare")
    with pytest.raises(ValueError, match="'bare' is not compiled"):
        training.build_step_variables(bare, x, y)


def test_step_losses_are_each_steps_own_loss(tiny):
    """Weighted by the digits of each step (the last one short), the step losses average to Keras's epoch loss."""
    x, y = tiny[0][:150], tiny[1][:150]
    result = training.fit(
        models.softmax_regression(), x, y, validation_data=None, epochs=2, batch_size=64, step_losses=True, verbose=0
    )
    losses, sizes = np.array(result.history["step_loss"]), np.array([64, 64, 22])
    assert len(losses) == 6
    for epoch in range(2):
        mean = (losses[3 * epoch : 3 * epoch + 3] * sizes).sum() / sizes.sum()
        assert np.isclose(mean, result.history["loss"][epoch], rtol=1e-4)
    assert (
        "step_loss"
        not in training.fit(models.softmax_regression(), x, y, validation_data=None, epochs=1, verbose=0).history
    )
