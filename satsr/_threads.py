"""The number of CPU threads satsr uses, without importing torch (the I/O layer needs it too)."""

from __future__ import annotations

import os

from satsr.errors import InputError

__all__ = ["default_threads", "usable_cores"]


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, which containers and ``taskset`` set)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def default_threads() -> tuple[int, str]:
    """``(threads, source)``: ``SATSR_THREADS`` when set, else the usable cores.

    Raises
    ------
    InputError
        When ``SATSR_THREADS`` is not a positive whole number.
    """
    env = os.environ.get("SATSR_THREADS", "").strip()
    if not env:
        return usable_cores(), "default"
    try:
        n = int(env)
    except ValueError:
        n = 0
    if n < 1:
        raise InputError(f"SATSR_THREADS={env!r}: give a positive whole number of threads")
    return n, "SATSR_THREADS"


def limit_heap_retention(threshold: int = 1 << 20) -> bool:
    """Serve allocations of ``threshold`` bytes or more with their own mappings (glibc), returned to the OS on free.

    glibc's default raises its mmap threshold as large blocks are freed, after which they come from the heap and
    stay in the process once freed; over a long run of differently sized tile buffers that retained heap grew
    the peak RSS with the scene (measured: bicubic 8192 x 8192 to a GeoTIFF peaked at 1263 MB against 1148 MB
    for 2048 x 2048; with a fixed 1 MiB threshold 1165 MB). A fixed threshold keeps the peak flat. It changes a
    process-wide setting, so the command line and batch workers call it, not the library on import.

    Returns
    -------
    bool
        Whether the setting was applied (``False`` where the C library is not glibc).
    """
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_mmap_threshold = -3  # from glibc's malloc.h
        return bool(libc.mallopt(m_mmap_threshold, int(threshold)))
    except (OSError, AttributeError):  # musl and others: no mallopt
        return False
