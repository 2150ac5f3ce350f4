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
