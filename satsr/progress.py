"""Progress of long work: a bar on a terminal, plain log lines elsewhere, nothing when asked to be quiet.

Every long command (upscale, batch, train, evaluate) reports through :func:`bar` (a counted loop: frames, items,
steps) or :func:`dask_progress` (the tasks of a dask computation). What they show follows one setting:

* ``"auto"`` (the default): a tqdm bar when stderr is a terminal or in a notebook; otherwise (a log file, a
  CI job, a scheduler) one ``INFO`` line on the ``satsr`` logger at most every ``interval`` seconds and at the
  end, e.g. ``writing: 120/480 tasks (25%), 12.3 s`` (printed to stderr when logging is not set up);
* ``"bar"`` or ``"log"``: always that;
* ``"off"``: nothing (``satsr --quiet``).

The CLI sets it with :func:`configure` from ``--quiet`` / ``--verbose``; ``SATSR_PROGRESS`` (``auto``, ``bar``,
``log``, ``off``) and ``SATSR_PROGRESS_INTERVAL`` (seconds) override it from the environment.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

__all__ = ["Mode", "bar", "configure", "dask_progress", "mode", "logger"]

Mode = Literal["auto", "bar", "log", "off"]
_MODES = ("auto", "bar", "log", "off")

logger = logging.getLogger("satsr")
_state: dict[str, Any] = {"mode": "auto", "interval": 10.0}


def configure(mode: Mode = "auto", *, interval: float | None = None, verbose: bool = False) -> None:
    """Choose how progress shows, and route the ``satsr`` logger to stderr (for command-line use).

    Parameters
    ----------
    mode : {"auto", "bar", "log", "off"}
        See the module docstring.
    interval : float, optional
        Seconds between log lines in ``"log"`` mode (default 10).
    verbose : bool, default False
        Log at ``DEBUG`` level (otherwise ``INFO``; ``"off"`` logs warnings only).
    """
    if mode not in _MODES:
        raise ValueError(f"progress mode must be one of {', '.join(_MODES)}, got {mode!r}")
    _state["mode"] = mode
    if interval is not None:
        _state["interval"] = float(interval)
    level = logging.DEBUG if verbose else logging.WARNING if mode == "off" else logging.INFO
    logger.setLevel(level)
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("satsr: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record is emitted (test runners and notebooks swap it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def mode() -> Literal["bar", "log", "off"]:
    """The mode in effect now: ``"auto"`` resolved against stderr, ``SATSR_PROGRESS`` applied."""
    m = os.environ.get("SATSR_PROGRESS", "").strip().lower() or _state["mode"]
    if m not in _MODES:
        m = "auto"
    if m == "auto":
        stream = sys.stderr
        tty = stream is not None and hasattr(stream, "isatty") and stream.isatty()
        m = "bar" if tty or _in_notebook() else "log"
    return m  # type: ignore[return-value]


def _in_notebook() -> bool:
    """Running in a Jupyter kernel (where tqdm draws a widget), not merely with IPython imported."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return type(shell).__name__ == "ZMQInteractiveShell"


def _emit(message: str) -> None:
    """One progress line: through the ``satsr`` logger when logging is set up, else straight to stderr."""
    if logger.hasHandlers():
        logger.info(message)
    elif sys.stderr is not None:
        print(f"satsr: {message}", file=sys.stderr, flush=True)


def _interval() -> float:
    try:
        return float(os.environ.get("SATSR_PROGRESS_INTERVAL", _state["interval"]))
    except ValueError:
        return float(_state["interval"])


class _LogBar:
    """The part of tqdm's interface satsr uses, writing log lines instead of a bar."""

    def __init__(self, total: int | None, desc: str, unit: str, initial: int = 0, disable: bool = False) -> None:
        self.total, self.desc, self.unit, self.n, self.disable = total, desc, unit, initial, disable
        self._t0 = self._last = time.monotonic()
        self._closed = False
        self.postfix = ""

    def _line(self) -> str:
        took = time.monotonic() - self._t0
        extra = f", {self.postfix}" if self.postfix else ""
        if self.total:
            return (f"{self.desc}: {self.n}/{self.total} {self.unit}s ({100 * self.n / self.total:.0f}%), "
                    f"{took:.1f} s{extra}")
        return f"{self.desc}: {self.n} {self.unit}s, {took:.1f} s{extra}"

    def update(self, n: int = 1) -> None:
        self.n += n
        self.refresh()

    def refresh(self) -> None:
        """Log the count, at most once per interval (the last state is logged by :meth:`close`)."""
        now = time.monotonic()
        if self.disable or now - self._last < _interval():
            return
        self._last = now
        _emit(self._line())

    def set_postfix(self, **values: Any) -> None:
        """Values appended to the next lines (tqdm's ``set_postfix``)."""
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def write(self, message: str) -> None:
        """A message of its own (tqdm's ``write``)."""
        if not self.disable:
            _emit(message)

    def close(self) -> None:
        if not self._closed and not self.disable:
            self._closed = True
            _emit(self._line() + (" done" if self.total and self.n >= self.total else ""))

    def __enter__(self) -> _LogBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def bar(total: int | None = None, desc: str = "", unit: str = "it", *, enabled: bool = True, initial: int = 0,
        **tqdm_options: Any) -> Any:
    """A progress counter: a tqdm bar, a log-line writer or a silent one, per :func:`mode`.

    Parameters
    ----------
    total : int, optional
        Number of steps, when known.
    desc, unit : str
        What is counted (``"items"``, ``"item"``).
    enabled : bool, default True
        ``False`` silences this one (a caller's ``progress=False``).
    initial : int, default 0
    **tqdm_options
        Passed to tqdm in bar mode (``position``, ``leave``...).

    Returns
    -------
    tqdm.tqdm or object
        The tqdm bar in bar mode, else a stand-in with ``update``, ``refresh``, ``close``, ``n`` and ``total``.
    """
    m = mode() if enabled else "off"
    if m == "bar":
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, unit=unit, initial=initial, **tqdm_options)
    return _LogBar(total, desc, unit, initial, disable=m == "off")


@contextmanager
def dask_progress(desc: str, *, enabled: bool = True) -> Iterator[None]:
    """Report the progress of the dask computations run inside the block (local schedulers)."""
    m = mode() if enabled else "off"
    if m == "off":
        yield
        return
    if m == "bar":
        from tqdm.dask import TqdmCallback

        with TqdmCallback(desc=desc, unit="task"):
            yield
        return
    from dask.callbacks import Callback

    counter = _LogBar(None, desc, "task")

    class _Log(Callback):
        def _start_state(self, dsk: Any, state: Any) -> None:
            counter.total = sum(len(state.get(k, ())) for k in ("ready", "waiting", "running"))

        def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
            counter.update(1)

    with _Log():
        yield
    counter.close()
