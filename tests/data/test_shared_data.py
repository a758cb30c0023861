"""Facts about the offline copies in ../shared/data (skipped when absent)."""

from __future__ import annotations

import numpy as np
import pytest

from implicitbias.data import find_source, load_raw

pytestmark = pytest.mark.skipif(
    find_source("mnist") is None, reason="MNIST not found (../shared/data, $IMPLICITBIAS_DATA)"
)


def test_mnist_known_facts():
    x, y = load_raw("mnist", "train")
    assert x.shape == (60000, 1, 28, 28) and x.dtype == np.uint8
    assert y[:6].tolist() == [5, 0, 4, 1, 9, 2]
    assert np.bincount(y).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert abs(x.mean() / 255 - 0.1307) < 1e-3 and abs(x.std() / 255 - 0.3081) < 1e-3
