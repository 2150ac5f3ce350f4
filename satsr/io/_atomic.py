"""dask helpers for the writers; the atomic-write primitives themselves live in :mod:`satsr._atomic`."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from satsr._atomic import TEMP_MARK, atomic_output, remove_path, require_parent, temp_sibling
from satsr._threads import default_threads

__all__ = ["TEMP_MARK", "atomic_output", "drained_dask_threads", "remove_path", "require_parent", "temp_sibling"]


@contextmanager
def drained_dask_threads() -> Iterator[None]:
    """Run dask's threaded scheduler on a private pool and wait for it to drain on exit.

    When a task fails, dask raises at once while the tasks already running on other threads go on, and one of them
    may still write into an output the caller is about to delete (seen: a temporary zarr store re-created after its
    cleanup). Draining the pool before the cleanup means nothing is written after it. Other schedulers
    (synchronous, processes, dask.distributed) are left as they are.

    Only computes from the calling thread use the pool. A compute started inside one of its tasks (a lazy
    reference read for a tile, say) runs in that task's own thread: sharing the pool, it would wait for a free
    worker, and once every worker waits so, for ever (seen with one thread: ``--threads 1``, one core).
    """
    import dask
    import dask.local
    import dask.threaded
    from dask.base import get_scheduler

    if get_scheduler() not in (None, dask.threaded.get):  # None: the collection's default, threads for arrays
        yield  # this scheduler, or one of ours already (a nested write): left as it is
        return
    pool = ThreadPoolExecutor(dask.config.get("num_workers", None) or default_threads()[0])
    owner = threading.current_thread()

    def get(dsk: Any, keys: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is owner:
            return dask.threaded.get(dsk, keys, pool=pool, **kwargs)
        return dask.local.get_sync(dsk, keys, **kwargs)

    get.satsr_local = True  # type: ignore[attr-defined]  # runs in this process (satsr.io.write._active_get)
    try:
        with dask.config.set(scheduler=get):
            yield
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
