"""Shared test fixtures: where the shared real data lives, small generated corpora."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()


@pytest.fixture
def shared_data() -> Path:
    """../shared/data (real public data); tests using it are marked external and skip without it."""
    if not SHARED_DATA.exists():
        pytest.skip("../shared/data is absent")
    return SHARED_DATA
