"""Fixtures shared by the reader tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from reader_testing import SHARED_DATA


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    return SHARED_DATA
