"""mnistlib.fingerprints: one hash for data, one for architectures, stable across builds."""

import numpy as np
import pytest

from mnistlib import fingerprints, models


@pytest.mark.parametrize("name", sorted(models.BUILDERS))
def test_architecture_fingerprint_is_stable(name):
    """Two builds of the same model hash alike (the cache would miss otherwise); other settings differ."""
    first, second = models.build(name), models.build(name)
    assert fingerprints.architecture_fingerprint(first) == fingerprints.architecture_fingerprint(second)
    other = models.build(name, learning_rate=0.123)
    assert fingerprints.architecture_fingerprint(other) != fingerprints.architecture_fingerprint(first)


def test_data_fingerprint_sees_values_shapes_and_dtypes():
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert fingerprints.data_fingerprint(a) == fingerprints.data_fingerprint(a.copy())
    assert fingerprints.data_fingerprint(a) != fingerprints.data_fingerprint(a.reshape(4, 3))
    assert fingerprints.data_fingerprint(a) != fingerprints.data_fingerprint(a.astype(np.int64))
    b = a.copy()
    b[2, 3] += 1
    assert fingerprints.data_fingerprint(a) != fingerprints.data_fingerprint(b)
    assert fingerprints.data_fingerprint(a, b) != fingerprints.data_fingerprint(b, a)
