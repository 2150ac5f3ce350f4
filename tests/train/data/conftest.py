"""Fixtures of the data set tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def stills(shared_data: Path) -> list[Path]:
    """Two real satellite stills (RRSSRD HR JPEGs)."""
    return sorted((shared_data / "refsr" / "rrssrd" / "val_1st" / "HR").glob("*.jpg"))[:2]
