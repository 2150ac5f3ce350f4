"""Fixtures of the command-line tests: a click runner, an output folder, a 3-band-only test model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from satsr.models import interp, registry


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


@pytest.fixture
def rgb_only_model(monkeypatch) -> str:
    """A model registered for this test only, that takes exactly 3 bands."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    name = "test-cli-rgb-only"

    @registry.register(name, scale=2, bands=3, halo=0, description="test model: 3 bands only")
    def build() -> interp.Interpolate:
        return interp.Interpolate(2, "nearest")

    return name


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())  # hidden files included


def _assert_one_line_error(result: Result, *needles: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in result.output


@pytest.fixture
def listing() -> Callable[[Path], list[str]]:
    """The names in a folder, sorted, hidden files included."""
    return _listing


@pytest.fixture
def assert_one_line_error() -> Callable[..., None]:
    """Check that a command failed with exit code 1 and one ``error: ...`` line holding every needle."""
    return _assert_one_line_error
