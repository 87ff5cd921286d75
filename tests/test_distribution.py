"""mnistlib.distribution: one setting trains on one device or on all of them, with the same result.

The multi-device test simulates four devices on the CPU (``XLA_FLAGS=--xla_force_host_platform_device_count=4``)
with Keras on JAX (``jax[cpu]`` is pinned in the test extras). Both settings must be in the environment before
Keras and JAX are imported, and this test process already runs Keras on TensorFlow, so the training runs in a
subprocess: ``tests/distribution_worker.py``.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import ROOT

from mnistlib import distribution

WORKER = Path(__file__).with_name("distribution_worker.py")
#: Data parallelism splits each batch of 32 into four shares of 8 and sums their gradients: the same arithmetic in
#: another order. Measured: losses equal to 2e-7 (relative), weights to 7e-5 after 24 steps; the test allows about
#: ten times that.
LOSS_RTOL, WEIGHT_ATOL = 2e-6, 1e-3


def test_the_setting_is_a_number_of_devices_or_all(monkeypatch):
    monkeypatch.delenv(distribution.ENV_VAR, raising=False)
    assert distribution.requested_devices() == 1
    monkeypatch.setenv(distribution.ENV_VAR, " ALL ")
    assert distribution.requested_devices() is None
    assert distribution.requested_devices(4) == 4 and distribution.requested_devices("2") == 2
    for wrong in ("0", "-1", "many", "1.5"):
        with pytest.raises(ValueError, match="MNISTBOOK_DEVICES"):
            distribution.requested_devices(wrong)


def test_one_device_changes_nothing():
    plan = distribution.data_parallel(1)
    assert plan.n == 1 and plan.strategy is None and plan.backend == keras.backend.backend()
    with plan.scope():
        pass
    assert "one device" in plan.describe()
    assert plan.check_batch_size(120) == 120


def test_more_devices_than_there_are_is_an_error():
    with pytest.raises(ValueError, match="asks for 64 devices"):
        distribution.data_parallel(64)


def test_four_simulated_devices_train_as_one(tmp_path):
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
        "JAX_PLATFORMS": "cpu",
        "PYTHONPATH": str(ROOT),
    }
    env.pop(distribution.ENV_VAR, None)
    out = tmp_path / "runs.json"
    done = subprocess.run(
        [sys.executable, str(WORKER), str(out)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    runs = json.loads(out.read_text())
    one, four = runs["one"], runs["all"]
    assert runs["backend"] == "jax"
    assert one["devices"] == 1 and "one device" in one["plan"]
    assert four["devices"] == 4 and "DataParallel" in four["plan"]
    assert one["loss"][-1] < one["loss"][0], "the network learned something"
    np.testing.assert_allclose(four["loss"], one["loss"], rtol=LOSS_RTOL)
    for a, b in zip(four["weights"], one["weights"]):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=0, atol=WEIGHT_ATOL)
