"""Write outputs atomically: build them under a hidden temporary name, rename onto the target on success.

The one home of satsr's temp-file-and-rename: rasters and zarr stores (``satsr.io``), weights and training
checkpoints (``satsr.models``, ``satsr.train``), reports and catalogs (``satsr.batch``, the CLI).

An interrupted or failed write therefore never leaves a truncated file (or half a zarr store) under the
name the user asked for; at worst the previous output stays in place.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from satsr._folders import check_parent, make_parent, remove_made
from satsr.errors import OutputError

__all__ = ["TEMP_MARK", "atomic_output", "temp_sibling", "remove_path", "require_parent"]

#: Marker in every temporary name, so stray files from a killed process are easy to recognise.
TEMP_MARK = ".satsr-"


def require_parent(path: Path) -> None:
    """Raise :class:`OutputError` unless the folder that will hold ``path`` exists or can be created.

    Nothing is created here: :func:`atomic_output` creates the missing folders when it writes (and removes them
    again if the write fails).

    Parameters
    ----------
    path : pathlib.Path
        The output about to be written.

    Raises
    ------
    OutputError
        When a file stands where a folder is needed, or the folder cannot be created.
    """
    check_parent(path)


def temp_sibling(path: Path, tag: str = "tmp") -> Path:
    """Return a fresh hidden path next to ``path``: ``.{name}.satsr-{tag}-<random>{suffix}``.

    Parameters
    ----------
    path : pathlib.Path
        The final output path.
    tag : str, default "tmp"
        What the temporary is for (shows in its name).

    Returns
    -------
    pathlib.Path
        A path in the same folder (so ``os.replace`` onto ``path`` is a same-filesystem rename) that keeps
        ``path``'s suffix (GDAL picks formats and side-file names from it).
    """
    return path.parent / f".{path.name}{TEMP_MARK}{tag}-{secrets.token_hex(6)}{path.suffix}"


def remove_path(path: Path) -> None:
    """Delete a file, link or folder tree if it exists, with the side files GDAL may leave next to it.

    GDAL names its side files after the dataset (``<name>.aux.xml``, ``<name>.ovr.tmp`` from the COG
    driver), so every sibling whose name starts with ``path.name`` goes too; temporary names are random,
    so this never touches anything else.

    Parameters
    ----------
    path : pathlib.Path
        A temporary path made by :func:`temp_sibling`.
    """
    candidates = [path]
    if path.parent.is_dir():
        candidates += [p for p in path.parent.iterdir() if p.name.startswith(path.name) and p != path]
    for p in candidates:
        try:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
        except OSError:
            # Best effort: cleaning up must never hide the error that made us clean up.
            pass


def _replace(tmp: Path, path: Path) -> None:
    if not tmp.exists():
        raise OutputError(f"{path}: the writer produced no output; nothing was written")
    if tmp.is_dir() and path.is_dir() and not path.is_symlink():
        # os.replace cannot rename a folder onto a non-empty folder: move the old one aside first, and put
        # it back if the rename fails, so the previous output survives a failed replacement.
        old = temp_sibling(path, "old")
        os.replace(path, old)
        try:
            os.replace(tmp, path)
        except OSError:
            os.replace(old, path)
            raise
        shutil.rmtree(old, ignore_errors=True)
        return
    if path.exists() and (tmp.is_dir() != path.is_dir()):
        kind = "folder" if path.is_dir() else "file"
        raise OutputError(f"{path}: exists and is a {kind}; remove it or choose another output path")
    os.replace(tmp, path)


@contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` if the block succeeds.

    Parameters
    ----------
    path : pathlib.Path
        Final output (a file, or a folder such as a zarr store). An existing output is replaced only once
        the new one is complete.

    Yields
    ------
    pathlib.Path
        Hidden temporary path in the same folder, ``.{name}.satsr-tmp-<random>{suffix}``; it does not exist
        yet. Write the whole output there.

    Raises
    ------
    OutputError
        When the parent folder cannot be created, the block wrote nothing, or the final rename fails.

    Notes
    -----
    Missing folders above ``path`` are created (and removed again on failure).
    On any exception in the block (``KeyboardInterrupt`` included) the temporary file or folder, and
    GDAL side files named after it, are deleted and the exception propagates.

    Examples
    --------
    >>> with atomic_output(Path("out.tif")) as tmp:  # doctest: +SKIP
    ...     write_something(tmp)
    """
    path = Path(path)
    made = make_parent(path)
    tmp = temp_sibling(path)
    try:
        yield tmp
        try:
            _replace(tmp, path)
        except OutputError:
            raise
        except OSError as err:
            raise OutputError(f"{path}: could not move the finished output into place ({err})") from err
    except BaseException:
        remove_path(tmp)
        remove_made(made)
        raise
