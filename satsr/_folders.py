"""Output folders: every command and writer creates the missing folders above its output the same way.

Light (no third-party imports), so every layer can use it. A writer that fails removes the folders it created
(when they are still empty), so a failed call leaves the file system as it found it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from satsr.errors import OutputError, SatsrError

__all__ = ["check_parent", "make_parent", "remove_made"]


def _existing_ancestor(path: Path) -> Path:
    anc = path.parent
    while not anc.exists() and anc != anc.parent:
        anc = anc.parent
    return anc


def check_parent(path: str | os.PathLike[str], *, error: type[SatsrError] = OutputError) -> None:
    """Check, without creating anything, that the folder for ``path`` exists or can be created.

    Parameters
    ----------
    path : str or path
        The output about to be written (a file, or a folder such as a zarr store).
    error : type, default OutputError
        The :mod:`satsr.errors` class to raise (``CatalogError``, ``CheckpointError``... for their commands).

    Raises
    ------
    SatsrError
        ``error`` when a file stands where a folder is needed or the nearest existing folder is not writable.
    """
    p = Path(path)
    anc = _existing_ancestor(p)
    if not anc.is_dir():
        raise error(f"{p}: {anc} is a file, not a folder; choose another output path")
    if not p.parent.exists() and not os.access(anc, os.W_OK | os.X_OK):
        raise error(f"{p}: cannot create folder {p.parent}: {anc} is not writable")


def make_parent(path: str | os.PathLike[str], *, error: type[SatsrError] = OutputError) -> list[Path]:
    """Create the missing folders above ``path``; return those created, outermost first.

    Parameters
    ----------
    path : str or path
        The output about to be written.
    error : type, default OutputError
        The :mod:`satsr.errors` class to raise.

    Returns
    -------
    list of pathlib.Path
        The folders this call created (empty when the folder existed); pass them to :func:`remove_made` if the
        write fails.

    Raises
    ------
    SatsrError
        ``error`` when a file stands in the way or the folder cannot be created (permissions, read-only disk).
    """
    p = Path(path)
    check_parent(p, error=error)
    made = []
    anc = p.parent
    while not anc.exists():
        made.append(anc)
        anc = anc.parent
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise error(f"{p}: cannot create folder {p.parent} ({err.strerror or err})") from err
    return made[::-1]


def remove_made(made: list[Path]) -> None:
    """Remove folders that :func:`make_parent` created, innermost first, where they are still empty."""
    for folder in reversed(made):
        with contextlib.suppress(OSError):
            folder.rmdir()
