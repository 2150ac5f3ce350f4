"""The installed satsr version, read once from the package metadata."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["package_version"]


def package_version() -> str:
    """Installed satsr version (``"unknown"`` when run from a source tree that is not installed)."""
    try:
        return version("satsr")
    except PackageNotFoundError:
        return "unknown"
