"""The load-or-train cache: damaged entries raise one clear error, interrupts leave nothing to trust, and a
callback among the fit options does not make the key differ from run to run.

Faults 3, 10 (cache part) and 11 (cache part) of "Nothing lost, nothing silent".
"""

import contextlib
import errno
import fcntl
import importlib.util
import json
import os
import pathlib
import sqlite3
import subprocess
import sys
import types

import keras
import pytest
import yaml
from conftest import ROOT

from mnistlib import book_models, chapters, files, models, training


@pytest.fixture
def kw(tiny, artifacts):
    x, y = tiny
    return dict(
        config={},
        profile="smoke",
        chapter=chapters.LINEAR_MODELS,
        x=x,
        y=y,
        validation_data=(x, y),
        epochs=1,
        batch_size=50,
        verbose=0,
    )


def _train(kw, **more):
    return training.train_or_load("softmax", models.softmax_regression, **{**kw, **more})


def _cache_error(call) -> str:
    """Run ``call``; it must raise CacheError. Its message."""
    with pytest.raises(Exception) as caught:
        call()
    assert type(caught.value).__name__ == "CacheError", f"{type(caught.value).__name__}: {caught.value}"
    return str(caught.value)


def _leftovers(folder: pathlib.Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if ".part" in p.name)


# -- fault 3: a damaged cache entry names its file and the remedy ------------------------------------------------


@pytest.mark.parametrize("damage", ["truncated", "flipped byte"])
def test_damaged_cached_model_names_the_file_and_the_remedy(kw, damage):
    first = _train(kw)
    data = bytearray(first.path.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2] ^= 0xFF
    first.path.write_bytes(bytes(data))
    message = _cache_error(lambda: _train(kw))
    assert str(first.path) in message and "delete" in message and first.path.with_suffix(".json").name in message
    assert "retrain=True" in message
    assert first.path.read_bytes() == bytes(data), "the damaged file is left as it was, for the reader to see"
    again = _train(kw, retrain=True)  # the remedy the message names
    assert not again.loaded and _train(kw).loaded


@pytest.mark.parametrize(
    "text", ["{", '{"info": {}}', '{"history": [1, 2], "info": {}}', '{"history": {"loss": "x"}, "info": {}}']
)
def test_damaged_cached_history_names_the_file_and_the_remedy(kw, text):
    first = _train(kw)
    history = first.path.with_suffix(".json")
    history.write_text(text)
    message = _cache_error(lambda: _train(kw))
    assert str(history) in message and "delete" in message and first.path.name in message


def test_history_of_another_configuration_or_without_its_model_is_refused(kw):
    first, other = _train(kw), _train(kw, epochs=2)
    history = first.path.with_suffix(".json")
    history.write_bytes(other.path.with_suffix(".json").read_bytes())
    assert "another configuration" in _cache_error(lambda: _train(kw))
    first.path.unlink()
    history.write_text(json.dumps({"history": first.history, "info": first.info}))
    message = _cache_error(lambda: _train(kw))
    assert str(history) in message and "has no model beside it" in message


def test_stale_temporary_files_of_killed_saves_are_removed(kw):
    first = _train(kw)
    folder = first.path.parent
    stale = [
        folder / f".{first.path.name}.k1ll3d.part.keras",
        folder / f".{first.path.with_suffix('.json').name}.k1ll3d.part",
        folder / ".other-0123456789ab.keras.x.part.keras",  # an entry of another configuration, never loaded again
    ]
    unrelated = folder / ".notes.txt.x.part"  # not a cache entry's: left alone
    for path in [*stale, unrelated]:
        path.write_bytes(b"half")
    assert _train(kw).loaded
    assert [p.name for p in stale if p.exists()] == [] and unrelated.exists()


def test_temporary_files_are_removed_and_written_only_under_the_cache_folders_lock(kw, monkeypatch):
    """Another kernel saving a model holds the folder's lock, so its temporary file is never taken for stale."""
    folder = training.artifacts_dir(kw["profile"]) / kw["chapter"]
    lock = folder / ".cache.lock"
    seen = []

    def lock_is_held(what):
        with open(lock, "a") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                seen.append((what, True))
                return
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
            seen.append((what, False))

    real_unlink, real_target = pathlib.Path.unlink, files.atomic_target

    def unlink(self, *a, **k):
        if ".part" in self.name:
            lock_is_held(f"unlink {self.name}")
        return real_unlink(self, *a, **k)

    def atomic_target(path, *a, **k):
        lock_is_held(f"write {pathlib.Path(path).name}")
        return real_target(path, *a, **k)

    monkeypatch.setattr(pathlib.Path, "unlink", unlink)
    monkeypatch.setattr(training, "atomic_target", atomic_target)
    monkeypatch.setattr(files, "atomic_target", atomic_target)
    first = _train(kw)
    (folder / f".{first.path.name}.k1ll3d.part.keras").write_bytes(b"half")
    assert _train(kw).loaded
    assert [w for w, _ in seen] == [
        f"write {first.path.name}",
        f"write {first.path.with_suffix('.json').name}",
        f"unlink .{first.path.name}.k1ll3d.part.keras",
    ]
    assert all(held for _, held in seen), seen


# -- fault 10 (cache part): callbacks in the fit options ---------------------------------------------------------


class _Noop(keras.callbacks.Callback):
    def __init__(self, threshold=0.5):
        super().__init__()
        self.limit = threshold  # kept under another name: its public attributes describe it


def test_fresh_identical_callbacks_find_the_cached_model(kw):
    def callbacks(patience=3, threshold=0.5):
        return [
            keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=patience),
            keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.9),
            _Noop(threshold),
        ]

    first = _train(kw, callbacks=callbacks())
    second = _train(kw, callbacks=callbacks())
    assert not first.loaded and second.loaded and second.path == first.path
    # Other settings of a callback, or another schedule, are another model.
    where = {k: v for k, v in kw.items() if k != "verbose"}
    assert (
        training.cached_model_path("softmax", models.softmax_regression, callbacks=callbacks(), **where) == first.path
    )
    for changed in (callbacks(patience=4), callbacks(threshold=0.7)):
        path = training.cached_model_path("softmax", models.softmax_regression, callbacks=changed, **where)
        assert path != first.path
    other = [keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5)]
    same = [keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5)]
    assert training.config_key(fit={"callbacks": other}) == training.config_key(fit={"callbacks": same})
    assert training.config_key(fit={"callbacks": other}) != training.config_key(fit={"callbacks": [callbacks()[1]]})
    # Keys of what has no address in its text are as before (every cached model is still found).
    assert training.config_key(a=1, b=pathlib.Path("x")) == "ce5c626fb403"


def test_an_object_that_cannot_be_described_is_refused_clearly():
    with pytest.raises(ValueError, match="cannot describe <object object at 0x"):
        training.config_key(fit={"callbacks": [object()]})


class _Loop(keras.callbacks.Callback):
    """A callback holding itself in an attribute that is not one of its settings (as Keras objects often do)."""

    def __init__(self, patience: int = 2):
        super().__init__()
        self.patience = patience
        self.me = self


class _Ring:
    def __init__(self, other=None):
        self.other = other if other is not None else self


def test_a_self_referring_object_is_described_or_refused_without_recursing():
    """An attribute that refers back to its object is left out of the key; a setting that does is refused with a
    ValueError, without a RecursionError on the way (which CPython 3.11 does not always recover from cleanly)."""
    assert training.config_key(fit={"callbacks": [_Loop(2)]}) == training.config_key(fit={"callbacks": [_Loop(2)]})
    assert training.config_key(fit={"callbacks": [_Loop(2)]}) != training.config_key(fit={"callbacks": [_Loop(3)]})
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(400)  # a recursion without end would fail here at once, not after a long while
    try:
        with pytest.raises(ValueError, match="refers to itself"):
            training.config_key(x=_Ring())
    finally:
        sys.setrecursionlimit(limit)


# -- fault 11 (cache part): interrupts leave nothing half-written that a later run trusts -------------------------


def _interrupt_epoch(monkeypatch, armed):
    real = training.EpochTimer.on_epoch_end

    def on_epoch_end(self, epoch, logs=None):
        real(self, epoch, logs)
        if armed:
            armed.clear()
            raise KeyboardInterrupt

    monkeypatch.setattr(training.EpochTimer, "on_epoch_end", on_epoch_end)


def _entry_files(folder: pathlib.Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.suffix in (".keras", ".json") or ".part" in p.name)


def test_interrupt_during_training_leaves_no_entry(kw, monkeypatch):
    _interrupt_epoch(monkeypatch, [1])
    with pytest.raises(KeyboardInterrupt):
        _train(kw, epochs=2)
    folder = training.artifacts_dir(kw["profile"]) / kw["chapter"]
    assert _entry_files(folder) == []
    again = _train(kw, epochs=2)
    assert not again.loaded and again.epochs == 2 and _train(kw, epochs=2).loaded


@pytest.mark.parametrize("where", ["model save", "history write"])
def test_interrupt_during_the_save_leaves_nothing_trusted(kw, monkeypatch, capsys, where):
    first = _train(kw)
    real_save, real_write = keras.Model.save, training.atomic_write_bytes
    armed = [1]

    def save(self, path, *a, **k):
        real_save(self, path, *a, **k)
        if armed and where == "model save":
            armed.clear()
            pathlib.Path(path).write_bytes(b"half")  # as if killed while writing
            raise KeyboardInterrupt

    def write(path, data):
        if armed and where == "history write":
            armed.clear()
            raise KeyboardInterrupt
        real_write(path, data)

    monkeypatch.setattr(keras.Model, "save", save)
    monkeypatch.setattr(training, "atomic_write_bytes", write)
    with pytest.raises(KeyboardInterrupt):
        _train(kw, retrain=True)  # rewriting an entry that was complete
    assert _leftovers(first.path.parent) == []
    capsys.readouterr()
    again = _train(kw)
    if where == "model save":
        assert again.loaded and again.info == first.info, "the complete entry was kept"
    else:
        assert not again.loaded, "a model whose history was not written is not trusted"
        assert "found without its history" in capsys.readouterr().out
    last = _train(kw)
    assert last.loaded and last.info["trained_at"] == again.info["trained_at"] and last.history == again.history
    assert _leftovers(first.path.parent) == []


@pytest.fixture
def tiny_book_model(monkeypatch):
    """A book model cheap enough for a test: the softmax regression, trained as chapter 05's models are."""
    spec = book_models.BookModel(chapters.CNN, "softmax_regression", epochs=2, fit={"reduce_lr": True})
    monkeypatch.setitem(book_models.BOOK_MODELS, "tiny", spec)
    return "tiny"


def test_interrupted_refit_is_trained_again_cleanly(artifacts, monkeypatch, tiny_book_model):
    armed = []
    _interrupt_epoch(monkeypatch, armed)
    real_train = book_models._train
    monkeypatch.setattr(book_models, "_train", lambda *a, **k: armed.append(1) or real_train(*a, **k))
    refit_args = dict(chapter=chapters.RESULTS_AND_ENSEMBLES, profile_name="smoke")
    with pytest.raises(KeyboardInterrupt):
        book_models.refit_book_model(tiny_book_model, **refit_args)
    monkeypatch.setattr(book_models, "_train", real_train)
    folder = artifacts / "smoke" / chapters.RESULTS_AND_ENSEMBLES
    assert _entry_files(folder) == []
    real_write, killed = training.atomic_write_bytes, [1]

    def write(path, data):
        if killed:
            killed.clear()
            raise KeyboardInterrupt
        real_write(path, data)

    monkeypatch.setattr(training, "atomic_write_bytes", write)
    with pytest.raises(KeyboardInterrupt):  # now interrupted between writing the refit's model and its history
        book_models.refit_book_model(tiny_book_model, **refit_args)
    assert _leftovers(artifacts) == [] and sorted(p.suffix for p in folder.glob("tiny_refit-*")) == [".csv", ".keras"]
    refit, validated, _ = book_models.refit_book_model(tiny_book_model, **refit_args)
    assert validated.loaded and not refit.loaded and refit.epochs == validated.epochs
    again, _, _ = book_models.refit_book_model(tiny_book_model, **refit_args)
    assert again.loaded and again.history == refit.history and _leftovers(artifacts) == []


# -- issue 33, 7: a model name that leaves the artifacts folder; a full disk ------------------------------------------


@pytest.mark.parametrize("name", ["../escaped", "../../etc/escaped", "sub/dir", "back\\slash", "..", ""])
def test_a_model_name_that_would_write_outside_the_artifacts_folder_is_refused(kw, artifacts, name):
    """Before the fix, ``../escaped`` wrote ``escaped-<key>.keras`` beside the chapter's folder, and so on up."""
    with pytest.raises(ValueError, match="model name") as caught:
        training.train_or_load(name, models.softmax_regression, **kw)
    assert repr(name) in str(caught.value)
    assert not list(artifacts.parent.rglob("*escaped*")) and _entry_files(artifacts) == []
    with pytest.raises(ValueError, match="chapter"):
        training.train_or_load("softmax", models.softmax_regression, **{**kw, "chapter": "../elsewhere"})


def test_a_full_disk_names_the_model_it_was_saving(kw, artifacts, monkeypatch):
    real_save = keras.Model.save

    def no_space(self, path, *args, **kwargs):
        real_save(self, path, *args, **kwargs)
        pathlib.Path(path).write_bytes(pathlib.Path(path).read_bytes()[:100])
        raise OSError(errno.ENOSPC, "No space left on device")  # what the system says: no file named

    monkeypatch.setattr(keras.Model, "save", no_space)
    with pytest.raises(OSError) as caught:
        _train(kw)
    where = {k: v for k, v in kw.items() if k != "verbose"}
    model_path = training.cached_model_path("softmax", models.softmax_regression, **where)
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(model_path)
    assert f"while writing {model_path.name}" in str(caught.value) and "free space" in str(caught.value)
    assert _leftovers(artifacts) == [] and not model_path.exists()


# -- issue 33, 0 and 6: the book's execution on a slow machine, and a damaged execution cache -------------------------

_spec = importlib.util.spec_from_file_location("book_execution", ROOT / "book" / "_ext" / "book_execution.py")
book_execution = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(book_execution)


def test_the_limit_per_cell_follows_the_profile_and_make_sets_it(monkeypatch, tmp_path):
    """A fixed 30 minutes per cell failed chapter 06 on a host 3.9 times slower, and the full profile's ResNet."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert "book_execution" in config["sphinx"]["local_extensions"]
    configured = config["execute"]["timeout"]
    assert book_execution.cell_timeout("smoke", configured) == configured
    assert book_execution.cell_timeout("quick", configured) >= 3 * 3600 > 3.9 * configured
    assert book_execution.cell_timeout(None, configured) == book_execution.cell_timeout("quick", configured)
    assert book_execution.cell_timeout(" Full ", configured) == -1  # nbclient: no limit
    assert book_execution.cell_timeout("full", configured, " 900 ") == 900
    assert book_execution.cell_timeout("smoke", configured, "-1") == -1
    for wrong in ("0", "ten", "1.5", "-2"):
        with pytest.raises(ValueError, match=rf"MNISTBOOK_CELL_TIMEOUT \(CELL_TIMEOUT in make\) is '{wrong}'"):
            book_execution.cell_timeout("quick", configured, wrong)
    config = types.SimpleNamespace(nb_execution_timeout=configured)
    monkeypatch.setenv("MNISTBOOK_PROFILE", "full")
    monkeypatch.delenv(book_execution.TIMEOUT_ENV, raising=False)
    book_execution.set_cell_timeout(None, config)
    assert config.nb_execution_timeout == -1
    probe = ["--eval", 'probe: ; @echo "[$$MNISTBOOK_CELL_TIMEOUT]"', "probe"]
    assert _make(tmp_path, *probe, "CELL_TIMEOUT= 7200 ").stdout == "[7200]\n"
    assert _make(tmp_path, *probe, "CELL_TIMEOUT=-1").stdout == "[-1]\n"
    assert _make(tmp_path, *probe).stdout == "[]\n"  # unset: the extension follows the profile
    for wrong in ("0", "2h", "$(shell touch x)", "1 2"):
        done = _make(tmp_path, *probe, f"CELL_TIMEOUT={wrong}")
        assert done.returncode != 0 and f"CELL_TIMEOUT is '{wrong}'" in done.stderr and "nothing was run" in done.stderr
    assert not (tmp_path / "x").exists()


def test_a_cell_stopped_by_the_limit_is_named_with_its_page_and_the_setting(monkeypatch):
    """MyST-NB said only 'Executing notebook failed: CellTimeoutError'."""
    from myst_nb.core.execute.cache import NotebookClientCache

    notebook = {
        "cells": [
            {"cell_type": "markdown", "source": "# 06"},
            {"cell_type": "code", "id": "c01", "source": ["import mnistlib\n"], "execution_count": 1},
            {"cell_type": "code", "id": "c14", "source": ["\n", "runs = training.train_models(specs)\n"],
             "execution_count": 2},
            {"cell_type": "code", "id": "c15", "source": "print(runs)", "execution_count": None},
        ]
    }  # fmt: skip
    warned = []

    def timed_out(self):
        self.exec_metadata = {"error": "CellTimeoutError"}

    monkeypatch.setattr(NotebookClientCache, "start_client", timed_out)
    book_execution.name_timed_out_cell()
    client = types.SimpleNamespace(
        path=ROOT / "chapters" / "06_augmentation.ipynb",
        notebook=notebook,
        exec_metadata=None,
        nb_config=types.SimpleNamespace(execution_timeout=10800),
        logger=types.SimpleNamespace(warning=lambda message, **kw: warned.append(message)),
    )
    monkeypatch.setenv("MNISTBOOK_PROFILE", "quick")
    NotebookClientCache.start_client(client)
    (message,) = warned
    assert "06_augmentation.ipynb: code cell 2 of 3, id c14 ('runs = training.train_models(specs)')" in message
    assert "10,800 seconds per cell (profile quick)" in message and "make book CELL_TIMEOUT=SECONDS" in message


def _jupyter_cache(folder: pathlib.Path, notebooks: dict[str, str]) -> None:
    """A jupyter-cache folder as MyST-NB leaves it: global.db with one row per executed notebook, and the notebooks."""
    folder.mkdir(parents=True)
    with contextlib.closing(sqlite3.connect(folder / "global.db")) as con, con:
        con.execute("CREATE TABLE nbcache (pk INTEGER PRIMARY KEY, hashkey TEXT, uri TEXT)")
        for pk, (hashkey, text) in enumerate(notebooks.items(), start=1):
            con.execute("INSERT INTO nbcache VALUES (?, ?, ?)", (pk, hashkey, f"/book/chapters/{hashkey}.ipynb"))
            (folder / "executed" / hashkey).mkdir(parents=True)
            (folder / "executed" / hashkey / "base.ipynb").write_text(text)


@pytest.mark.parametrize("where", ["_build", "a folder with spaces and ü"])
def test_a_damaged_execution_cache_is_named_and_cleared(tmp_path, where):
    """A garbage global.db (sqlite3.DatabaseError) or a cut cached notebook (NotJSONError) stopped every build."""
    good = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    cache = tmp_path / where / ".jupyter_cache"
    _jupyter_cache(cache, {"aaa": good, "bbb": good[:20]})
    lines = book_execution.repair_execution_cache(cache)
    assert len(lines) == 1 and str(cache / "executed" / "bbb" / "base.ipynb") in lines[0] and "bbb.ipynb" in lines[0]
    assert "executed again" in lines[0] and not (cache / "executed" / "bbb").exists()
    with contextlib.closing(sqlite3.connect(cache / "global.db")) as con:
        assert con.execute("SELECT hashkey FROM nbcache").fetchall() == [("aaa",)]
    assert book_execution.repair_execution_cache(cache) == []  # what is left is sound, and kept
    assert (cache / "executed" / "aaa" / "base.ipynb").read_text() == good
    (cache / "global.db").write_bytes(b"garbage " * 100)
    lines = book_execution.repair_execution_cache(cache)
    assert len(lines) == 1 and f"database {cache / 'global.db'} is damaged" in lines[0] and "not a database" in lines[0]
    assert not cache.exists() and book_execution.repair_execution_cache(cache) == []


def _make(cwd: pathlib.Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("MNISTBOOK_PROFILE", "PROFILE", "CELL_TIMEOUT")}
    env.pop(book_execution.TIMEOUT_ENV, None)
    return subprocess.run(
        ["make", "-s", "--no-print-directory", "-f", str(ROOT / "Makefile"), *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
