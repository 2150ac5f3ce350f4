"""How a model runs on a device: precision, memory layout, ``torch.compile``, batching, threads, out-of-memory.

:class:`Runner` takes batches of tile windows as NumPy arrays and returns the model's outputs as float32 NumPy
arrays. It is what every dask task of :func:`satsr.upscale` calls; the dask graph holds one runner per model
and process.

* **One forward at a time**, always on the runner's own model thread. On the CPU the forward owns the cores
  (``torch`` intra-op threads); the dask threads read, gather, stitch and write meanwhile, mostly in GDAL, zlib
  and NumPy code that releases the GIL. On CUDA the host-to-device copy (from pinned memory, on a side stream)
  and the device-to-host copy run on the dask threads, so they overlap the next forward.
* **Precision** ``"auto"``: bf16 autocast on a CUDA device that supports it (fp16 otherwise); on the CPU bf16
  where the processor computes it natively (AVX512-BF16 or AMX, :func:`cpu_has_native_bf16`), fp32 elsewhere
  (emulated bf16 is slower than fp32). ``"fp32"``, ``"bf16"`` and ``"fp16"`` force a choice on any device.
  Outputs are always returned as float32.
* **channels_last** for 4-D inputs on CUDA (tensor cores want NHWC) and for bf16 on the CPU (oneDNN's bf16
  convolutions too); fp32 on the CPU keeps NCHW by default.
* **torch.compile** where it pays (``compile="auto"``, on any device; ``True`` or ``False`` force it,
  ``SATSR_COMPILE=1``/``0`` overrides ``"auto"``): a job tells its runner how many windows it holds
  (:meth:`Runner.for_job`), the runner times its first eager forwards, and compiles once the eager time left is
  well above the time a compile costs (:func:`compile_pays`; the constants, measured, in ``COMPILE_COST``).
  Shapes are fixed (``dynamic=False``): every window of a job has one shape, and a smaller last batch is padded
  to the full one (or run eagerly where padding would cost more than compiling saves), so the model compiles
  once. The first compiled batch is checked against the eager model; an op Dynamo/Inductor cannot handle (or no
  C++ compiler), or a result that differs, falls back to the eager model with one warning, never an error.
* **Out of memory** (CUDA, or the CPU allocator): the batch is halved and retried; at one tile the window itself
  is split in two along its longer side (each half keeps the model's halo of context, so the stitched result
  equals the whole window's), recursively. Each step is logged at WARNING on the ``satsr`` logger. No tile is
  skipped or cut short.

Threads (:func:`thread_plan`): by default torch's intra-op pool and dask's thread pool both get the usable
cores (``os.sched_getaffinity``); the model thread runs forwards one at a time, so the only competition
for the cores is the light I/O and stitching work. ``SATSR_THREADS=N`` (CLI ``--threads N``) sets the number of
cores for both; a ``dask.config.set(num_workers=...)`` of the caller's own is kept. (A ``torch.set_num_threads``
in the main thread does not reach dask's threads: OpenMP keeps the count per thread, so the runner sets it in
the thread that runs each forward.)
"""

from __future__ import annotations

import functools
import logging
import math
import os
import pickle
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from satsr import models as _models
from satsr._threads import default_threads
from satsr.errors import InputError, ModelError
from satsr.models.ensemble import SelfEnsemble
from satsr.models.ops import set_dcn_impl

__all__ = [
    "COMPILE_COST",
    "COMPILE_PAYOFF",
    "Compile",
    "CompileCost",
    "Device",
    "Precision",
    "Runner",
    "ThreadPlan",
    "RunnerJob",
    "available_memory",
    "compile_pays",
    "cpu_has_native_bf16",
    "is_out_of_memory",
    "resolve_compile",
    "resolve_device",
    "resolve_precision",
    "thread_plan",
]

log = logging.getLogger("satsr")

Device = Literal["auto", "cpu", "cuda"] | str
Precision = Literal["auto", "fp32", "bf16", "fp16"]
Compile = bool | Literal["auto"]

_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}

#: Largest window (frames x rows x cols) that the CPU runs four at a time by default.
CPU_BATCH_PIXELS = 512 * 512

#: Share of the device's available memory that one window of the default tile may take (see
#: :meth:`Runner.window_budget`).
WINDOW_MEMORY_SHARE = 0.25


def available_memory(device: torch.device) -> int | None:
    """Bytes free for a forward: CUDA's free memory, or the host's available memory; ``None`` if unknown."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def resolve_device(device: Device | torch.device = "auto") -> torch.device:
    """Turn ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` into a device.

    Raises
    ------
    InputError
        For an unknown device string, or CUDA asked for on a machine without it.
    """
    if isinstance(device, torch.device):
        dev = device
    elif device == "auto":
        dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            dev = torch.device(device)
        except RuntimeError as err:
            raise InputError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device!r} asked for, but PyTorch sees no CUDA GPU; use --device cpu")
    return dev


#: CPU flags (``/proc/cpuinfo``, Linux) of processors with bf16 arithmetic: AVX512-BF16 dot products, AMX tiles.
_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.cache
def _detect_cpu_bf16() -> bool:
    probes = [getattr(torch.cpu, n, None) for n in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    if all(callable(p) for p in probes):  # torch's own CPU probe (cpuinfo), on any OS
        return any(p() for p in probes if callable(p))
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return any(flag in flags for flag in _BF16_FLAGS)


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), so that bf16 autocast beats fp32 on it.

    Detected once per process: torch's CPU capability probe where this torch has it, else the ``flags`` of
    ``/proc/cpuinfo``; ``False`` where neither answers (bf16 is then emulated, and slower than fp32).
    ``SATSR_CPU_BF16=1`` or ``=0`` overrides the detection (read on every call).
    """
    env = os.environ.get("SATSR_CPU_BF16", "").strip()
    if env in ("0", "1"):
        return env == "1"
    return _detect_cpu_bf16()


def resolve_precision(precision: Precision, device: torch.device, cpu_bf16: bool = True) -> str:
    """``"fp32"``, ``"bf16"`` or ``"fp16"`` for ``precision`` on ``device``.

    ``"auto"``: bf16 on a CUDA device that supports it (fp16 otherwise); on the CPU bf16 where
    :func:`cpu_has_native_bf16` and the model allows it (``cpu_bf16``, its spec's: some models run slower in
    bf16 on a CPU), else fp32.

    Raises
    ------
    InputError
        For an unknown precision, or fp16/bf16 on a device type autocast does not support.
    """
    if precision not in ("auto", *_DTYPES):
        raise InputError(f"precision must be auto, fp32, bf16 or fp16, got {precision!r}")
    if precision == "auto":
        if device.type == "cpu":
            return "bf16" if cpu_bf16 and cpu_has_native_bf16() else "fp32"
        if device.type != "cuda":
            return "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if precision != "fp32" and device.type not in ("cuda", "cpu"):
        raise InputError(f"precision {precision!r} is supported on cuda and cpu devices, not {device.type}")
    return precision


def is_out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` is an allocation failure (CUDA's, or the CPU allocator's) that a smaller batch may avoid."""
    if isinstance(err, torch.OutOfMemoryError):
        return True
    return isinstance(err, RuntimeError) and (
        "can't allocate memory" in str(err) or "CUDA out of memory" in str(err))


# -- torch.compile: where it pays ------------------------------------------------------------------------------
@dataclass(frozen=True)
class CompileCost:
    """What ``torch.compile`` costs and gives on one device type: the constants of the ``"auto"`` rule."""

    seconds: float  # one compile of the model at one input shape (Dynamo + Inductor, cold caches)
    speedup: float  # eager time over compiled time of one forward


#: The ``compile="auto"`` rule's constants (:func:`compile_pays`), by device type, in this one place.
#:
#: * ``cpu``: ``python benchmarks/compile_cost.py`` (``results/compile_cost_cpu.json``): lgtd-s (the default
#:   model) on one (1, 5, 3, 208, 208) window of real Jilin-1 frames, one torch thread on 2 cores of an
#:   AVX512-BF16 Xeon shared with a training job, torch 2.14, a cold Inductor cache: compile 83 s in fp32 and
#:   98 s in bf16; bare forward 9.30 -> 4.93 s in fp32 (1.89x), 7.26 -> 2.72 s in bf16 (2.66x). Two earlier runs
#:   gave 78 and 88 s, 2.09x and 3.74x; under heavier load 111 s and 1.56x (fp32); with a warm cache a compile
#:   takes about 10 s. Kept: 100 s and the lowest speedup seen, 1.5x, so that "auto" errs towards eager.
#: * ``cuda``: not measured yet (no GPU has been lent to this project): a guess on the safe side, a minute to
#:   compile and 1.3x. ``benchmarks/gpu_check.py`` measures both (``compile`` in its ``gpu.json``); put them here.
COMPILE_COST: dict[str, CompileCost] = {
    "cpu": CompileCost(seconds=100.0, speedup=1.5),
    "cuda": CompileCost(seconds=60.0, speedup=1.3),
}

#: ``"auto"`` compiles only where the eager time it saves repays the compile this many times over: the
#: estimates are rough (a first forward, a constant measured on one model), and a wrong "yes" costs a compile.
COMPILE_PAYOFF = 2.0

#: Eager forwards per window shape timed for the ``"auto"`` estimate; the quickest counts (the first forward of a
#: runner carries one-off costs: OpenMP's team, oneDNN's kernels, CUDA's context).
_COMPILE_SAMPLES = 3

#: Input shapes one runner compiles at most: the job's full batch, and one more after an out-of-memory back-off.
_COMPILE_SHAPES = 2


def compile_pays(device_type: str, eager_seconds: float) -> bool:
    """Whether compiling a model repays itself on a job that would take ``eager_seconds`` eagerly.

    The rule of ``compile="auto"``, a pure function of the job's size: compiled, the job would save
    ``eager_seconds * (1 - 1 / speedup)``, and that saving must be at least ``COMPILE_PAYOFF`` compile times
    (``COMPILE_COST`` of the device type). With the CPU's constants (100 s, 1.5x) the job's eager time must be six
    compile times, ten minutes. Unknown device types never compile.

    Parameters
    ----------
    device_type : str
        ``"cpu"`` or ``"cuda"`` (``torch.device.type``).
    eager_seconds : float
        Expected eager time of the rest of the job: windows left times seconds per window.

    Returns
    -------
    bool
        ``True`` where compiling is expected to pay.
    """
    cost = COMPILE_COST.get(device_type)
    if cost is None or cost.speedup <= 1 or not eager_seconds > 0:
        return False
    return eager_seconds * (1 - 1 / cost.speedup) >= COMPILE_PAYOFF * cost.seconds


def resolve_compile(compile: Compile) -> bool | Literal["auto"]:  # noqa: A002 (torch's own word)
    """The ``compile`` option after the ``SATSR_COMPILE`` environment variable.

    ``True`` and ``False`` are kept (an explicit choice wins). ``"auto"`` stays ``"auto"`` unless
    ``SATSR_COMPILE`` is ``1`` (always compile) or ``0`` (never); ``SATSR_COMPILE=auto`` or unset keeps the rule.

    Raises
    ------
    InputError
        For a ``compile`` other than a bool or ``"auto"``, or a malformed ``SATSR_COMPILE``.
    """
    if isinstance(compile, str):
        if compile != "auto":
            raise InputError(f"compile must be True, False or 'auto', got {compile!r}")
        env = os.environ.get("SATSR_COMPILE", "").strip().lower()
        if env in ("", "auto"):
            return "auto"
        if env in ("0", "1"):
            return env == "1"
        raise InputError(f"SATSR_COMPILE must be 0, 1 or auto, got {env!r}")
    return bool(compile)


@dataclass(frozen=True)
class ThreadPlan:
    """How many threads torch's intra-op pool and dask's thread pool get, and where the number came from."""

    torch: int
    dask: int
    source: str  # "default" (usable cores), "SATSR_THREADS" or "argument"

    def apply_torch(self) -> None:
        """Set torch's intra-op threads for the calling thread (OpenMP keeps the count per thread)."""
        if torch.get_num_threads() != self.torch:
            torch.set_num_threads(self.torch)


def thread_plan(device: torch.device | str = "cpu", threads: int | None = None) -> ThreadPlan:
    """The rule for CPU threads: torch's intra-op pool and dask's thread pool are chosen together.

    ``threads`` (else ``SATSR_THREADS``, else the usable cores of the affinity mask) is the number of cores to
    use. On the CPU the forward gets all of them, and dask runs as many threads: forwards run one at a time (the
    runner's model thread), and the dask threads read, stitch and write meanwhile, mostly inside GDAL and zlib
    without the GIL. On CUDA torch's CPU pool is left alone (it only launches kernels) and dask gets the cores
    to feed the GPU.

    Raises
    ------
    InputError
        For ``threads < 1`` or a malformed ``SATSR_THREADS``.
    """
    if threads is None:
        threads, source = default_threads()
    else:
        source = "argument"
    if threads < 1:
        raise InputError(f"threads must be >= 1, got {threads}")
    dev = torch.device(device)
    return ThreadPlan(torch=threads if dev.type == "cpu" else torch.get_num_threads(), dask=threads, source=source)


# -- the runner ------------------------------------------------------------------------------------------------
class Runner:
    """Runs batches of tile windows through one model on one device; picklable, one forward at a time.

    Parameters
    ----------
    model : torch.nn.Module
        A model with a ``spec`` (registered, or ``satsr.models.wrap``-ped).
    device : torch.device
        Where it runs.
    batch_size : int or None
        Tiles per forward; ``None`` chooses (:meth:`choose_batch`).
    ref : tuple or None
        ``(name, scale, options)`` of a registered model: pickles as that key and is rebuilt from the per-process
        cache on the other side, instead of shipping the weights.
    precision : {"auto", "fp32", "bf16", "fp16"}
        Autocast dtype (see :func:`resolve_precision`).
    compile : bool or "auto"
        ``torch.compile`` the model: ``"auto"`` where the job is large enough to repay the compile
        (:func:`compile_pays`, told by :meth:`for_job`); ``SATSR_COMPILE=0``/``1`` overrides ``"auto"``.
    channels_last : bool or None
        NHWC memory layout of the weights and 4-D inputs; ``None``: on CUDA, and on the CPU in bf16 (measured on
        lgtd-s, ``benchmarks/cpu_layout.py``: a bf16 forward of a 592 px window 1.24x to 1.31x as fast as in NCHW,
        fp32 only 1.08x to 1.12x, so fp32 keeps NCHW and its summation order).
    """

    # A user's module sent to other processes: its token and pickle bytes, set (once) by __reduce__ or
    # module_runner; unset until then. Annotations only: no class attributes.
    _token: str
    _blob: bytes

    def __init__(self, model: nn.Module, device: torch.device, batch_size: int | None, ref: tuple[Any, ...] | None,
                 precision: Precision = "auto", compile: Compile = "auto",  # noqa: A002 (torch's own word)
                 channels_last: bool | None = None) -> None:
        self.device = device
        spec = getattr(model, "spec", None)
        self.precision = resolve_precision(precision, device, getattr(spec, "cpu_bf16", True))
        self._asked = (precision, compile, channels_last)
        if channels_last is None:  # oneDNN's bf16 convolutions are fastest in NHWC, as are CUDA's tensor cores
            channels_last = device.type == "cuda" or self.precision == "bf16"
        self.channels_last = bool(channels_last)
        self.model = model.to(device).eval()
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        if device.type == "cpu" and self.precision == "bf16":
            # torchvision's deformable convolution has no bf16 CPU kernel: autocast runs it in fp32, 72% of
            # lgtd-s's bf16 forward. Sampled with grid_sample, its convolution runs in bf16 (the same output to
            # rounding: lgtd-s's forward 1.65x as fast at 592 px, 69 dB from fp32; benchmarks/cpu_layout.py).
            set_dcn_impl(self.model, "grid_sample")
        self.spec = _models.get_spec(model)
        self.batch_size = batch_size  # asked for by the caller; None = choose (and remember in _auto)
        self._auto: dict[tuple[int, ...], int] = {}  # chosen batch size per window shape
        self._ref = ref
        self._lock = threading.Lock()  # guards _auto and the job counters
        self._pool: ThreadPoolExecutor | None = None  # the model's own thread, made on first use
        self._pool_lock = threading.Lock()
        self._compile_mode = resolve_compile(compile)
        self._compiled: Callable[..., torch.Tensor] | None = None  # torch.compile's callable, made once
        self._compiled_shapes: set[tuple[tuple[int, ...], ...]] = set()  # input shapes compiled and checked
        # off | auto -> pending (a job large enough) -> on | fallback: <reason> (for good)
        mode = self._compile_mode
        self._compile_state = "auto" if mode == "auto" else "pending" if mode else "off"
        # The job now running (see for_job): windows left, its largest batch, its window shape, and whether it
        # compiles new shapes (True: always; "auto": once its eager time left is seen to repay a compile).
        self._remaining = 0
        self._job_batch: int | None = None
        self._job_window: tuple[int, ...] | None = None
        self._job_compiles = mode is True
        self.compile_seconds: float | None = None  # the first compiled call: compiling plus one forward
        self._timings: dict[tuple[int, ...], list[float]] = {}  # eager seconds per window, by window shape
        self._streams = threading.local()  # per dask thread: CUDA copy stream, threads applied
        self.events: list[str] = []  # out-of-memory and compile decisions, for tests and reports

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        if self._ref is not None:
            name, scale, options = self._ref
            return cached_runner, (name, scale, options, str(self.device), self.batch_size, *self._asked)
        # A user's module travels as bytes under a token, serialised once; each process that receives it builds one
        # runner per token and reuses it (module_runner), however many tasks carry it (the processes scheduler
        # pickles it into every task).
        token = self.__dict__.setdefault("_token", uuid.uuid4().hex)
        if "_blob" not in self.__dict__:
            self._blob = _dump_module(self.model)
        return module_runner, (token, self._blob, str(self.device), self.batch_size, *self._asked)

    @property
    def compile_state(self) -> str:
        """Where ``torch.compile`` stands: ``"off"``, ``"auto"``, ``"pending"``, ``"on"`` or ``"fallback: <reason>"``.

        ``"auto"``: eager until a job proves large enough; ``"pending"``: compiles on the next full batch.
        """
        return self._compile_state

    def for_job(self, windows: int, batch: int | None = None) -> RunnerJob:
        """The runner as one job's graph holds it: the job's size reaches the runner when its first batch runs.

        ``windows`` is the number of model windows (samples) the job will run, which ``compile="auto"`` weighs
        against the compile time; ``batch`` the most windows one of its tasks sends at once (the compiled batch
        is no larger). Told at run time, not when the graph is built, so that a graph that is built but never
        computed, or a dry run's calibration forwards, cannot trigger a compile.
        """
        return RunnerJob(self, windows, batch)

    def expect(self, windows: int, batch: int | None = None) -> None:
        """Set the windows the job now running has left, and its largest batch (see :meth:`for_job`)."""
        with self._lock:
            self._remaining = max(0, int(windows))
            self._job_batch = None if batch is None else max(1, int(batch))
            self._job_window = None  # the job's first forward sets it
            self._job_compiles = self._compile_mode is True

    def _autocast(self) -> Any:
        dtype = _DTYPES[self.precision]
        if dtype is None:
            return torch.autocast(self.device.type, enabled=False)
        return torch.autocast(self.device.type, dtype=dtype)

    def _eager(self, *xs: torch.Tensor) -> torch.Tensor:
        with self._autocast():
            out: torch.Tensor = self.model(*xs)
            return out

    def _run_model(self, *xs: torch.Tensor) -> torch.Tensor:
        """One forward (on the model thread): compiled at a compiled shape, else eager (or compiled anew).

        A shape is compiled only for the job's own windows at its full batch, when the job compiles (``True``,
        or ``"auto"`` once decided): a smaller batch is padded to the full one where that costs less than the
        compiled model saves, and runs eagerly otherwise, as do windows of other shapes (the halves of a window
        split after an out-of-memory error). Each new shape is checked against the eager model on its first batch.
        """
        if self._job_window is None:
            self._job_window = tuple(xs[0].shape[1:])
        if self._compile_state == "off" or self._compile_state.startswith("fallback"):
            return self._eager(*xs)
        fixed = self._fixed_shape(xs)
        if fixed is None:
            return self._eager(*xs)
        n = xs[0].shape[0]
        shape = tuple(tuple(x.shape) for x in fixed)
        if shape not in self._compiled_shapes:
            return self._compile_at(*fixed)[:n]
        try:
            return self._compiled(*fixed)[:n]  # type: ignore[misc]
        except Exception as err:
            if is_out_of_memory(err):
                raise
            self._fallback(f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
            return self._eager(*xs)

    def _fixed_shape(self, xs: Sequence[torch.Tensor]) -> list[torch.Tensor] | None:
        """``xs`` at a compiled shape (or one to compile now), padded in the batch; ``None``: run it eagerly.

        The full batch is the runner's for this window shape (asked for, or chosen by :meth:`choose_batch`), at
        most what one task of the job sends (:meth:`for_job`). A batch of ``n`` is padded to ``full`` (repeating
        its last window) when ``n >= full / speedup``: ``full`` windows compiled then cost no more than ``n``
        eagerly.
        """
        n = xs[0].shape[0]
        chosen = self.batch_size or self._auto.get(tuple(xs[0].shape[1:])) or n
        full = max(n, min(chosen, self._job_batch or chosen))
        speedup = COMPILE_COST.get(self.device.type, CompileCost(0.0, 1.0)).speedup
        if n < full and n * speedup < full:
            return None
        shape = tuple((full, *x.shape[1:]) for x in xs)
        if shape not in self._compiled_shapes and not (
                self._job_compiles and tuple(xs[0].shape[1:]) == self._job_window
                and len(self._compiled_shapes) < _COMPILE_SHAPES):
            return None
        if n == full:
            return list(xs)
        return [self._layout(torch.cat([x, x[-1:].expand(full - n, *x.shape[1:])])) for x in xs]

    def _compile_at(self, *xs: torch.Tensor) -> torch.Tensor:
        """Compile for the shape of ``xs`` (on its first call) and check against eager; the output either way."""
        ref = self._eager(*xs)
        try:
            if self._compiled is None:
                # Static shapes: a job's windows share one shape and batches are padded to it (see _fixed_shape).
                compiled = torch.compile(self.model, dynamic=False)

                def fn(*a: torch.Tensor) -> torch.Tensor:
                    with self._autocast():
                        out: torch.Tensor = compiled(*a)
                        return out

                self._compiled = fn
            t0 = time.perf_counter()
            got = self._compiled(*xs)
            self.compile_seconds = time.perf_counter() - t0
        except Exception as err:  # no C++ compiler, an op Inductor cannot lower, ...
            if is_out_of_memory(err):
                raise
            self._fallback(f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
            return ref
        diff = float((got.float() - ref.float()).abs().max()) if got.shape == ref.shape else math.inf
        # relative to the output's magnitude (in [0, 1] for a trained model: then absolute)
        tol = (1e-3 if self.precision == "fp32" else 3e-2) * max(1.0, float(ref.float().abs().max()))
        if not diff <= tol:
            self._fallback(f"compiled output differs from eager by {diff:.2e} (> {tol:g})")
            return ref
        shape = tuple(tuple(x.shape) for x in xs)
        self._compiled_shapes.add(shape)
        self._compile_state = "on"
        self.events.append(f"compile: on for inputs {list(shape[0])} ({self.compile_seconds:.1f} s)")
        log.debug("%s: torch.compile on for %s in %.1f s (max difference to eager %.2e)", self.spec.name, shape,
                  self.compile_seconds, diff)
        return got

    def _fallback(self, why: str) -> None:
        self._compiled, self._compile_state = None, f"fallback: {why}"
        self.events.append(self._compile_state)
        log.warning("%s: torch.compile not used, running eagerly (%s)", self.spec.name, why)

    def choose_batch(self, window: tuple[int, ...]) -> int:
        """Tiles per forward: explicit; on CPU 4 small windows or 1 large; on CUDA from free memory on one tile."""
        if self.batch_size is not None:
            return self.batch_size
        with self._lock:
            window = tuple(window)
            if window in self._auto:
                return self._auto[window]
            if self.device.type != "cuda":
                # Batching small windows saves per-call overhead; a large window (a video model's five 384 x 384
                # frames, say) already keeps the cores busy, and four of them could exhaust a laptop's memory.
                pixels = math.prod(window[:-3]) * window[-2] * window[-1]  # frames x rows x cols
                if self.spec.needs_reference:
                    # Works at the output's size (three encoders, alignment): one 112 x 112 LR window of rgtgan
                    # already peaks at 3 GB on the CPU.
                    pixels = CPU_BATCH_PIXELS + 1
                self._auto[window] = 4 if pixels <= CPU_BATCH_PIXELS else 1
                return self._auto[window]
            # On CUDA: measure one tile's eager peak (in this runner's precision and layout; a compiled graph's
            # fused kernels keep fewer intermediates), and fill 60% of what is free.
            per_tile = self._in_model_thread(self._measure, window)
            free, _ = torch.cuda.mem_get_info(self.device)
            self._auto[window] = int(max(1, min(64, 0.6 * free // per_tile)))
            log.debug("%s: batch %d for windows %s (%.0f MB a tile, %.0f MB free)", self.spec.name,
                      self._auto[window], window, per_tile / 2**20, free / 2**20)
            return self._auto[window]

    def window_budget(self) -> int:
        """Largest window (frames x rows x cols) the default tile may use on this device.

        ``WINDOW_MEMORY_SHARE`` of the available memory (:func:`available_memory`) over the model's declared
        ``spec.bytes_per_pixel``; for a model that declares none, or where the memory is unknown, four of the
        CPU's batched windows (``4 * CPU_BATCH_PIXELS``), the pixels a CPU batch holds by default.
        """
        bpp = self.spec.bytes_per_pixel
        avail = available_memory(self.device) if bpp else None
        if not avail:
            return 4 * CPU_BATCH_PIXELS
        return int(WINDOW_MEMORY_SHARE * avail / bpp)

    def _layout(self, t: torch.Tensor) -> torch.Tensor:
        return t.contiguous(memory_format=torch.channels_last) if self.channels_last and t.ndim == 4 else t

    # -- transfers: on CUDA from pinned memory, on a side stream per dask thread, off the model thread --------
    def _copy_stream(self) -> Any:
        s = getattr(self._streams, "stream", None)
        if s is None:
            s = self._streams.stream = torch.cuda.Stream(self.device)  # type: ignore[no-untyped-call]  # torch's
        return s

    def _to_device(self, arrays: Sequence[np.ndarray]) -> list[torch.Tensor]:
        host = [torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)) for a in arrays]
        if self.device.type != "cuda":
            return [self._layout(t.to(self.device)) for t in host]
        stream = self._copy_stream()
        with torch.cuda.stream(stream):
            out = [self._layout(t.pin_memory().to(self.device, non_blocking=True)) for t in host]
        torch.cuda.current_stream(self.device).wait_stream(stream)
        for t in out:  # made on the side stream, used on the compute stream: keep the allocator from reusing it
            t.record_stream(torch.cuda.current_stream(self.device))
        return out

    def _to_host(self, out: torch.Tensor) -> np.ndarray:
        if self.device.type != "cuda":
            return out.float().numpy()
        stream = self._copy_stream()
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(stream):
            out.record_stream(stream)
            host = torch.empty(out.shape, dtype=torch.float32, pin_memory=True)
            host.copy_(out, non_blocking=True)
        stream.synchronize()
        return host.numpy()

    def _in_model_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn`` on the runner's one model thread and wait for it.

        Every forward runs on the same thread, one at a time: its OpenMP team, oneDNN caches and malloc arena stay
        warm (a forward's first run on a fresh thread was measured 5-10% slower on the CPU), and no two forwards
        compete for the cores. The dask threads meanwhile read, gather, copy and stitch.
        """
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"satsr-{self.spec.name}")
        return self._pool.submit(fn, *args).result()

    def _compute(self, xs: list[torch.Tensor], probe: bool = False) -> torch.Tensor:
        """One forward on the model thread; ``probe``: a memory probe (eager, neither timed nor counted)."""
        if not getattr(self._streams, "threads_set", False):
            # OpenMP's thread count is a per-thread setting: set it in the model thread itself.
            thread_plan(self.device).apply_torch()
            self._streams.threads_set = True
        key, n = tuple(xs[0].shape[1:]), int(xs[0].shape[0])
        timed = (not probe and self._compile_mode == "auto" and not self._job_compiles
                 and len(self._timings.get(key, ())) < _COMPILE_SAMPLES)
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = self._eager(*xs) if probe else self._run_model(*xs)
            out = out.float() if self.device.type == "cuda" else out
        if timed:
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)  # only for the few timed forwards: kernels run async
            self._timings.setdefault(key, []).append((time.perf_counter() - t0) / max(n, 1))
        if not probe:
            self._count(key, n)
        return out

    def _count(self, key: tuple[int, ...], n: int) -> None:
        """``n`` windows done; under ``"auto"``, compile from the next batch on once the rest of the job repays it."""
        with self._lock:
            self._remaining = max(0, self._remaining - n)
            times = self._timings.get(key, [])
            if (self._compile_mode != "auto" or self._job_compiles or key != self._job_window or len(times) < 2
                    or not self._remaining or self._compile_state.startswith("fallback")):
                return
            per = min(times)
            if not compile_pays(self.device.type, self._remaining * per):
                return
            self._job_compiles = True
            if self._compile_state == "auto":
                self._compile_state = "pending"
        self.events.append(f"compile: auto: on ({self._remaining} windows left at {per:.3g} s each eagerly)")
        log.info("%s: torch.compile on (compile=auto: %d windows left at %.3g s each eagerly)", self.spec.name,
                 self._remaining, per)

    def _measure(self, window: tuple[int, ...]) -> int:
        """Peak CUDA memory of one window's eager forward (in this runner's precision and layout)."""
        torch.cuda.synchronize(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)
        base = torch.cuda.memory_allocated(self.device)
        xs = [torch.zeros((1, *window), device=self.device)]
        if self.spec.needs_reference:
            s = self.spec.scale
            xs.append(torch.zeros((1, *window[:-2], window[-2] * s, window[-1] * s), device=self.device))
        self._compute([self._layout(x) for x in xs], probe=True)  # eager: no compile at batch 1 for a probe
        return max(torch.cuda.max_memory_allocated(self.device) - base, 1)

    def _forward(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        xs = self._to_device(arrays)
        out = self._in_model_thread(self._compute, xs)
        del xs
        return self._to_host(out.contiguous())

    def __call__(self, x: np.ndarray | tuple[np.ndarray, ...]) -> np.ndarray:
        """Run ``x`` (a batch of windows, float32; a tuple of batches for a reference model); float32 out, on CPU."""
        xs = x if isinstance(x, tuple) else (x,)
        n = xs[0].shape[0]
        key = tuple(xs[0].shape[1:])
        bs, i, outs = n, 0, []
        while i < n:
            part = [a[i : i + bs] for a in xs]
            try:
                outs.append(self._forward(part))
                i += len(part[0])
                continue
            except Exception as err:
                if not is_out_of_memory(err):
                    raise
            # Out of the except block: the failed attempt's tensors (held by the traceback) are released now.
            self._free()
            if bs > 1:
                bs = max(1, bs // 2)
                self._auto[key] = bs  # back off for the next batches too
                if self.batch_size is not None:
                    self.batch_size = bs
                self._event(f"out of memory: batch halved to {bs}")
                continue
            outs.append(self._split(part))
            i += 1
        return outs[0] if len(outs) == 1 else np.concatenate(outs)

    def _free(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def _event(self, msg: str) -> None:
        self.events.append(msg)
        log.warning("%s on %s: %s", self.spec.name, self.device, msg)

    def _split(self, xs: Sequence[np.ndarray]) -> np.ndarray:
        """One window that does not fit: run it as two overlapping halves along its longer side, and join them.

        Each half keeps ``halo`` (rounded up to ``multiple_of``) pixels of context past the cut, so the joined
        output is what tiles of half the size would give (exact where the halo covers the receptive field).
        """
        spec = self.spec
        mo = spec.multiple_of
        h = -(-max(spec.halo, 1) // mo) * mo
        lr = xs[0]
        axis = lr.ndim - 2 if lr.shape[-2] >= lr.shape[-1] else lr.ndim - 1
        size = lr.shape[axis]
        cut = (size // 2) // mo * mo
        if cut < h + mo or size - cut < h + mo:
            raise ModelError(
                f"{spec.name}: out of memory on {self.device} even for one window of {lr.shape[-2]} x "
                f"{lr.shape[-1]} pixels; free device memory, or use a smaller tile= (or device='cpu')")
        self._event(f"out of memory at batch 1: window of {lr.shape[-2]} x {lr.shape[-1]} split in two "
                    f"({'rows' if axis == lr.ndim - 2 else 'columns'})")
        scales = [a.shape[axis - lr.ndim] // size for a in xs]  # a reference is scale times larger than the LR

        def cut_inputs(lo: int, hi: int) -> tuple[np.ndarray, ...]:
            out = []
            for a, f in zip(xs, scales):
                idx = [slice(None)] * a.ndim
                idx[axis - lr.ndim] = slice(lo * f, hi * f)
                out.append(a[tuple(idx)])
            return tuple(out)

        first = self(cut_inputs(0, cut + h))
        second = self(cut_inputs(cut - h, size))
        s = spec.scale
        keep_a = [slice(None)] * first.ndim
        keep_a[axis - lr.ndim] = slice(0, cut * s)
        keep_b = [slice(None)] * second.ndim
        keep_b[axis - lr.ndim] = slice(h * s, None)
        return np.concatenate([first[tuple(keep_a)], second[tuple(keep_b)]], axis=axis - lr.ndim)


class RunnerJob:
    """A :class:`Runner` as one job's graph holds it (:meth:`Runner.for_job`): the runner, told the job's size.

    It runs batches and chooses batch sizes exactly as the runner does (every other attribute is the runner's);
    its first batch tells the runner how many windows the job holds (:meth:`Runner.expect`), for
    ``compile="auto"``.
    """

    def __init__(self, runner: Runner, windows: int, batch: int | None = None) -> None:
        self.runner, self.windows, self.batch = runner, int(windows), batch
        self._told = False

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # the runner travels as its own key (Runner.__reduce__)
        return RunnerJob, (self.runner, self.windows, self.batch)

    def __getattr__(self, name: str) -> Any:
        if name == "runner":  # not set yet (while unpickling): no recursion through __getattr__
            raise AttributeError(name)
        return getattr(self.runner, name)

    def choose_batch(self, window: tuple[int, ...]) -> int:
        """Tiles per forward (:meth:`Runner.choose_batch`)."""
        return self.runner.choose_batch(window)

    def __call__(self, x: np.ndarray | tuple[np.ndarray, ...]) -> np.ndarray:
        """Run a batch (:meth:`Runner.__call__`); the job's first batch tells the runner the job's size."""
        if not self._told:
            self._told = True
            self.runner.expect(self.windows, self.batch)
        return self.runner(x)


_CACHE: dict[tuple[Any, ...], Runner] = {}
_CACHE_LOCK = threading.Lock()
#: Runners of users' modules that came from another process, by token, most recently used last (a few kept).
_MODULE_RUNNERS: OrderedDict[str, Runner] = OrderedDict()
_MODULE_RUNNERS_KEPT = 4


def _dump_module(model: nn.Module) -> bytes:
    """The module as pickle bytes; cloudpickle (dask's serialiser) also takes classes defined in ``__main__``."""
    try:
        import cloudpickle
    except ImportError:  # pragma: no cover - installed with dask
        return pickle.dumps(model)
    return bytes(cloudpickle.dumps(model))


def module_runner(token: str, blob: bytes, device: str, batch_size: int | None, precision: Precision = "auto",
                  compile: Compile = "auto",  # noqa: A002
                  channels_last: bool | None = None) -> Runner:
    """The process-wide runner of a user's module pickled by :meth:`Runner.__reduce__` (built once per token)."""
    with _CACHE_LOCK:
        runner = _MODULE_RUNNERS.get(token)
        if runner is None:
            runner = Runner(pickle.loads(blob), torch.device(device), batch_size, None, precision, compile,
                            channels_last)
            runner._token, runner._blob = token, blob  # passed on as it came, without pickling the module again
            _MODULE_RUNNERS[token] = runner
            while len(_MODULE_RUNNERS) > _MODULE_RUNNERS_KEPT:
                _MODULE_RUNNERS.popitem(last=False)
        else:
            _MODULE_RUNNERS.move_to_end(token)
            runner.batch_size = batch_size
    return runner


def cached_runner(name: str, scale: int, options: tuple[tuple[str, Any], ...], device: str, batch_size: int | None,
                  precision: Precision = "auto", compile: Compile = "auto",  # noqa: A002
                  channels_last: bool | None = None) -> Runner:
    """The process-wide runner of a registered model (built on first use, then reused)."""
    # Keyed by the precision it resolves to as well: "auto" follows SATSR_CPU_BF16, read on every call, so a runner
    # built under one setting must not be handed out under another.
    resolved = resolve_precision(precision, torch.device(device), _models.get_spec(name).cpu_bf16)
    key = (name, scale, options, device, precision, resolved, compile, channels_last)
    with _CACHE_LOCK:
        runner = _CACHE.get(key)
        if runner is None:
            # keys with a leading underscore are satsr's own (the checkpoint's mtime, the self-ensemble), not the
            # builder's
            model = _models.create(name, scale=scale, **{k: v for k, v in options if not k.startswith("_")})
            if dict(options).get("_self_ensemble"):
                model = SelfEnsemble(model)
            runner = _CACHE[key] = Runner(model, torch.device(device), batch_size, (name, scale, options),
                                          precision, compile, channels_last)
        else:
            runner.batch_size = batch_size  # this call's request (None: the runner's own choice)
    return runner


def make_runner(
    model: str | nn.Module,
    scale: int | None,
    options: Mapping[str, Any] | None,
    device: torch.device,
    batch_size: int | None,
    pretrained: str | os.PathLike[str] | bool | None = None,
    precision: Precision = "auto",
    compile: Compile = "auto",  # noqa: A002
    channels_last: bool | None = None,
    self_ensemble: bool = False,
) -> Runner:
    """A runner for a registered model name (cached per process) or a user's module (described by ``wrap``).

    ``pretrained`` is :func:`satsr.models.create`'s: ``None`` the shipped weights (an error for a network
    without any), a path, ``True`` or ``False`` (random weights on purpose; for a module, nothing to do).
    ``self_ensemble`` runs the model as a :class:`satsr.models.SelfEnsemble` (eight forwards per batch).

    Raises
    ------
    ModelError
        A module that is not an ``nn.Module``, options or weights given for a module, or a scale it lacks; a
        network with neither shipped nor given weights.
    UnknownModelError
        An unknown model name.
    """
    resolve_precision(precision, device)  # errors before anything is built
    # SATSR_COMPILE is read here, so that the per-process cache keys the runner by what it will do.
    extra = (precision, resolve_compile(compile), channels_last)
    if not isinstance(self_ensemble, bool):
        raise ModelError(f"self_ensemble must be True or False, got {self_ensemble!r}")
    if isinstance(model, str):
        spec = _models.get_spec(model)
        s = spec.scale if scale is None else scale
        if self_ensemble:  # part of the cache key: the plain model and its ensemble are two runners
            options = {**(options or {}), "_self_ensemble": True}
        if isinstance(pretrained, bool):  # part of the cache key: random and shipped weights are two runners
            options = {**(options or {}), "pretrained": pretrained}
        elif pretrained is not None:
            path = os.path.abspath(os.fspath(pretrained))
            # The file's mtime is part of the cache key: a checkpoint rewritten in place is loaded again.
            mtime = os.path.getmtime(path) if os.path.exists(path) else None
            options = {**(options or {}), "pretrained": path}
            return cached_runner(model, s, tuple(sorted(options.items())) + (("_mtime", mtime),), str(device),
                                 batch_size, *extra)
        # create() (inside) validates scale and options, so errors surface before any graph is built.
        return cached_runner(model, s, tuple(sorted((options or {}).items())), str(device), batch_size, *extra)
    if not isinstance(model, nn.Module):
        raise ModelError(f"model must be a registered name or a torch.nn.Module, got {type(model).__name__}")
    spec = _models.get_spec(model)
    if options or (pretrained is not None and pretrained is not False):  # False: the module's weights as they are
        raise ModelError(
            "model_options and pretrained apply to registered model names only; load weights into your module "
            "first (satsr.models.load_weights)"
        )
    if scale is not None and scale != spec.scale:
        raise ModelError(f"{spec.name}: scale {scale} is not supported (the module upscales by {spec.scale})")
    if self_ensemble and not isinstance(model, SelfEnsemble):
        model = SelfEnsemble(model)
    return Runner(model, device, batch_size, None, *extra)
