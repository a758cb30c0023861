"""FF tests run single-threaded: on a loaded 2-core machine torch's thread pool makes the
small matrix products of these tests 10-100x slower."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
