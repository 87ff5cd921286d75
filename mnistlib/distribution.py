"""Data-parallel training over the local devices, from one setting: ``MNISTBOOK_DEVICES``.

``MNISTBOOK_DEVICES`` (or the argument of :func:`data_parallel`) is ``1`` (the
default: one device, nothing changes), a number of devices, or ``all``. The
same code trains on one device or many::

    plan = distribution.data_parallel()   # reads MNISTBOOK_DEVICES
    with plan.scope():                     # build, compile and fit inside
        model = build(); model.fit(x, y, batch_size=120)

On JAX the scope is Keras's distribution API, ``keras.distribution.DataParallel``
over the first devices of ``keras.distribution.list_devices()``: the weights
are replicated, every batch is split along its first axis, and XLA sums the
gradients across devices; the program is the single-device program,
partitioned, so batch-normalisation statistics are those of the global batch.
On TensorFlow, Keras's distribution API is a prototype its own source marks
"DO NOT USE"; the scope is TensorFlow's ``tf.distribute.MirroredStrategy``
instead, over the local GPUs, where each replica normalises its own share of
the batch. On any other backend only one device is used. Every device
receives ``batch_size / n`` images of each batch, so the batch size must be a
multiple of the number of devices. Introduced in chapter 11 (``11_state_of_the_art``).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

import keras

__all__ = ["ENV_VAR", "DevicePlan", "requested_devices", "data_parallel"]

ENV_VAR = "MNISTBOOK_DEVICES"


def requested_devices(setting: str | int | None = None) -> int | None:
    """How many devices ``setting`` (else ``$MNISTBOOK_DEVICES``, else 1) asks for; ``None`` means all of them."""
    if setting is None:
        setting = os.environ.get(ENV_VAR, "").strip() or "1"
    text = str(setting).strip().lower()
    if text == "all":
        return None
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"{ENV_VAR}={setting!r}: give a number of devices (1, 2, ...) or 'all'")
    return n


@dataclass(frozen=True)
class DevicePlan:
    """Where training runs: the backend, the devices, and the strategy that spreads each batch over them.

    ``strategy`` is a ``keras.distribution.DataParallel`` (JAX), a
    ``tf.distribute.MirroredStrategy`` (TensorFlow), or ``None`` on one device.
    Build, compile and fit inside :meth:`scope`.
    """

    backend: str
    devices: tuple[str, ...]
    strategy: object | None = field(default=None, repr=False)

    @property
    def n(self) -> int:
        return len(self.devices)

    def scope(self):
        """The context in which models are built, compiled and trained: the strategy's, or nothing on one device."""
        return contextlib.nullcontext() if self.strategy is None else self.strategy.scope()

    def check_batch_size(self, batch_size: int) -> int:
        """``batch_size``, if every device gets the same share of it; else ``ValueError``."""
        if batch_size % self.n:
            raise ValueError(f"batch size {batch_size} does not split evenly over {self.n} devices")
        return batch_size

    def describe(self) -> str:
        """One line: how many devices, which, and how."""
        if self.strategy is None:
            return f"one device ({self.devices[0]}, {self.backend} backend)"
        how = type(self.strategy).__name__
        return f"data parallel over {self.n} devices ({', '.join(self.devices)}; {how}, {self.backend} backend)"


def _tensorflow_plan(n: int | None) -> DevicePlan:
    import tensorflow as tf  # only on the TensorFlow backend

    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    found = gpus or [d.name for d in tf.config.list_logical_devices("CPU")][:1]
    devices = tuple(found if n is None else found[:n])
    if n is not None and n > len(found):
        raise ValueError(f"{ENV_VAR} asks for {n} devices; TensorFlow sees {len(found)}: {', '.join(found)}")
    strategy = tf.distribute.MirroredStrategy(devices=list(devices)) if len(devices) > 1 else None
    return DevicePlan("tensorflow", devices, strategy)


def data_parallel(setting: str | int | None = None) -> DevicePlan:
    """The :class:`DevicePlan` for ``setting`` (a number of devices or ``"all"``; default ``$MNISTBOOK_DEVICES``,
    else 1).

    On JAX, more than one device means ``keras.distribution.DataParallel`` over
    the first ``n`` of ``keras.distribution.list_devices()`` (GPUs when there
    are any; simulated CPUs with ``XLA_FLAGS=--xla_force_host_platform_device_count=4``);
    on TensorFlow, ``tf.distribute.MirroredStrategy`` over the local GPUs.
    Asking for more devices than there are is an error, not a silent fallback.
    Introduced in chapter 11 (``11_state_of_the_art``).
    """
    n = requested_devices(setting)
    backend = keras.backend.backend()
    if backend == "jax":
        found = list(keras.distribution.list_devices())
        if n is not None and n > len(found):
            raise ValueError(f"{ENV_VAR} asks for {n} devices; JAX sees {len(found)}: {', '.join(found)}")
        devices = tuple(found if n is None else found[:n])
        strategy = keras.distribution.DataParallel(devices=list(devices)) if len(devices) > 1 else None
        return DevicePlan(backend, devices, strategy)
    if backend == "tensorflow":
        return _tensorflow_plan(n)
    if n not in (1,):
        raise ValueError(f"{ENV_VAR}: data-parallel training is set up for JAX and TensorFlow, not {backend}")
    return DevicePlan(backend, ("default device",))
