"""Kernel > Interrupt during training (issue 34, 3): a short message, not a traceback through Keras and TensorFlow.

An interrupted :func:`mnistlib.training.fit`, :func:`~mnistlib.training.train_or_load` or
:func:`~mnistlib.checkpoints.resumable_fit` raises :class:`mnistlib.files.TrainingInterrupted` (still a
``KeyboardInterrupt``): what was interrupted, what was kept, how to go on. In IPython, after ``mnistlib.setup``,
that message is all the reader sees.
"""

import keras
import numpy as np
import pytest
from IPython.core.interactiveshell import InteractiveShell
from test_faults_checkpoints import Interrupt
from test_faults_checkpoints import fit as resumable

from mnistlib import chapters, files, models, notebook, training


class StopAt(keras.callbacks.Callback):
    """Raise ``KeyboardInterrupt`` (Ctrl-C in a kernel) at the start of epoch ``epoch`` (1-based)."""

    def __init__(self, epoch: int):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            raise KeyboardInterrupt


def three_lines(err: BaseException) -> list[str]:
    assert isinstance(err, files.TrainingInterrupted) and isinstance(err, KeyboardInterrupt)
    lines = str(err).splitlines()
    assert len(lines) == 3 and lines[1].startswith("Kept: ") and lines[2].startswith("To go on: "), lines
    return lines


def test_interrupted_train_or_load_says_what_was_kept(tiny, artifacts):
    x, y = tiny
    kw = dict(config={}, profile="smoke", chapter=chapters.LINEAR_MODELS, x=x, y=y, validation_data=(x, y))
    kw.update(batch_size=50, verbose=0)
    first = training.train_or_load("first", models.softmax_regression, epochs=1, **kw)
    with pytest.raises(KeyboardInterrupt) as caught:
        training.train_or_load("second", models.softmax_regression, epochs=3, callbacks=[StopAt(2)], **kw)
    what, kept, on = three_lines(caught.value)
    assert what == "Training of 'second' was interrupted in epoch 2 of 3."
    assert files.shown_path(first.path.parent) in kept and "nothing of 'second'" in kept
    assert "'second' trains again from its first epoch" in on
    assert training.train_or_load("first", models.softmax_regression, epochs=1, **kw).loaded


def test_interrupted_fit_says_nothing_was_saved(tiny):
    x, y = tiny
    model = models.softmax_regression()
    with pytest.raises(KeyboardInterrupt) as caught:
        training.fit(model, x, y, validation_data=None, epochs=2, batch_size=50, callbacks=[StopAt(1)], verbose=0)
    what, kept, _ = three_lines(caught.value)
    assert what == f"Training of {model.name!r} was interrupted in epoch 1 of 2." and "nothing was saved" in kept


def test_interrupted_resumable_fit_says_where_it_resumes(tmp_path):
    folder = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt) as caught:
        resumable(folder, callbacks=[Interrupt(epoch=1, batch=2)])
    _, kept, on = three_lines(caught.value)
    assert "no checkpoint yet" in kept and "starts again from its first epoch" in on
    with pytest.raises(KeyboardInterrupt) as caught:
        resumable(folder, callbacks=[Interrupt(epoch=3, batch=2)])
    what, kept, on = three_lines(caught.value)
    assert what == "Training was interrupted in epoch 3 of 3."
    assert f"the checkpoint of epoch 2 (epoch-002.keras), in {files.shown_path(folder)}" in kept
    assert "resumes at epoch 3" in on
    assert resumable(folder).info["epoch"] == 3


def test_ipython_shows_the_message_not_the_traceback(tiny, capsys):
    """What the reader sees of Kernel > Interrupt during a fit: the three lines (and the exception's name)."""
    x, y = tiny
    shell = InteractiveShell.instance()
    try:
        assert notebook.show_interruptions_briefly(shell)
        shell.user_ns.update(training=training, models=models, x=x, y=y, StopAt=StopAt)
        capsys.readouterr()
        result = shell.run_cell(
            "training.fit(models.softmax_regression(), x, y, validation_data=None, epochs=2, batch_size=50,\n"
            "             callbacks=[StopAt(2)], verbose=0)"
        )
        shown = capsys.readouterr()
        lines = [line for line in (shown.out + shown.err).splitlines() if line.strip()]
        assert isinstance(result.error_in_exec, files.TrainingInterrupted), "the cell ends as failed: Run All stops"
        assert len(lines) == 3 and lines[0].startswith("TrainingInterrupted: Training of"), lines
        assert "Traceback" not in shown.out + shown.err
        # Any other error keeps its full traceback.
        shell.run_cell("1 / 0")
        assert "ZeroDivisionError" in capsys.readouterr().out
    finally:
        shell.set_custom_exc((), None)
        InteractiveShell.clear_instance()


def test_without_ipython_nothing_is_installed():
    assert notebook.show_interruptions_briefly() is False  # no running IPython in pytest


def test_the_message_is_the_exception_text():
    err = files.TrainingInterrupted("Training of 'm' was interrupted in epoch 1 of 2.", "nothing.", "run it again.")
    assert str(err) == "Training of 'm' was interrupted in epoch 1 of 2.\nKept: nothing.\nTo go on: run it again."
    assert np.array_equal(err.args, [str(err)])
