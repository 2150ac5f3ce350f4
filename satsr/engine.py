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
* **channels_last** for 4-D inputs on CUDA (tensor cores want NHWC); the CPU keeps NCHW by default.
* **torch.compile** (``compile=True``; ``"auto"`` is on for CUDA): compiled on the first batch and checked
  against the eager model on that batch; an op Dynamo/Inductor cannot handle, or a result that differs, falls
  back to the eager model with one log line, never an error.
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
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from satsr import models as _models
from satsr._threads import default_threads
from satsr.errors import InputError, ModelError

__all__ = [
    "Compile",
    "Device",
    "Precision",
    "Runner",
    "ThreadPlan",
    "available_memory",
    "cpu_has_native_bf16",
    "is_out_of_memory",
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
        return any(p() for p in probes)
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
        ``torch.compile`` the model (``"auto"``: on CUDA only).
    channels_last : bool or None
        NHWC memory layout for 4-D inputs; ``None``: on CUDA only.
    """

    def __init__(self, model: nn.Module, device: torch.device, batch_size: int | None, ref: tuple | None,
                 precision: Precision = "auto", compile: Compile = "auto",  # noqa: A002 (torch's own word)
                 channels_last: bool | None = None) -> None:
        self.device = device
        spec = getattr(model, "spec", None)
        self.precision = resolve_precision(precision, device, getattr(spec, "cpu_bf16", True))
        self._asked = (precision, compile, channels_last)
        self.channels_last = device.type == "cuda" if channels_last is None else bool(channels_last)
        self.model = model.to(device).eval()
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.spec = _models.get_spec(model)
        self.batch_size = batch_size  # asked for by the caller; None = choose (and remember in _auto)
        self._auto: dict[tuple[int, ...], int] = {}  # chosen batch size per window shape
        self._ref = ref
        self._lock = threading.Lock()  # guards _auto
        self._pool: ThreadPoolExecutor | None = None  # the model's own thread, made on first use
        self._pool_lock = threading.Lock()
        self._compile = device.type == "cuda" if compile == "auto" else bool(compile)
        self._compiled: Callable[..., torch.Tensor] | None = None
        self._compile_state = "off" if not self._compile else "pending"  # pending -> on | fallback (reason)
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
        """``"off"``, ``"pending"`` (before the first batch), ``"on"`` or ``"fallback: <reason>"``."""
        return self._compile_state

    def _autocast(self) -> Any:
        dtype = _DTYPES[self.precision]
        if dtype is None:
            return torch.autocast(self.device.type, enabled=False)
        return torch.autocast(self.device.type, dtype=dtype)

    def _eager(self, *xs: torch.Tensor) -> torch.Tensor:
        with self._autocast():
            return self.model(*xs)

    def _run_model(self, *xs: torch.Tensor) -> torch.Tensor:
        """One forward (on the model thread), through the compiled model once it has proved itself on a first batch."""
        if self._compile_state == "pending":
            return self._first_compiled(*xs)
        if self._compiled is not None:
            try:
                return self._compiled(*xs)
            except Exception as err:  # a later recompilation (new shape) can fail too
                if is_out_of_memory(err):
                    raise
                self._fallback(f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
        return self._eager(*xs)

    def _first_compiled(self, *xs: torch.Tensor) -> torch.Tensor:
        ref = self._eager(*xs)
        try:
            compiled = torch.compile(self.model)  # static first; a second shape turns on dynamic shapes

            def fn(*a: torch.Tensor) -> torch.Tensor:
                with self._autocast():
                    return compiled(*a)

            got = fn(*xs)
        except Exception as err:
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
        self._compiled, self._compile_state = fn, "on"
        self.events.append("compile: on")
        log.debug("%s: torch.compile on (max difference to eager %.2e on the first batch)", self.spec.name, diff)
        return got

    def _fallback(self, why: str) -> None:
        self._compiled, self._compile_state = None, f"fallback: {why}"
        self.events.append(self._compile_state)
        log.info("%s: torch.compile not used, running eagerly (%s)", self.spec.name, why)

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
            # On CUDA: measure one tile's peak (in this runner's precision and layout, compiled if asked: the
            # compile then happens here, once), and fill 60% of what is free.
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
            s = self._streams.stream = torch.cuda.Stream(self.device)
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

    def _compute(self, xs: list[torch.Tensor]) -> torch.Tensor:
        if not getattr(self._streams, "threads_set", False):
            # OpenMP's thread count is a per-thread setting: set it in the model thread itself.
            thread_plan(self.device).apply_torch()
            self._streams.threads_set = True
        with torch.inference_mode():
            out = self._run_model(*xs)
            return out.float() if self.device.type == "cuda" else out

    def _measure(self, window: tuple[int, ...]) -> int:
        """Peak CUDA memory of one window's forward (in this runner's precision, layout and compile state)."""
        torch.cuda.synchronize(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)
        base = torch.cuda.memory_allocated(self.device)
        xs = [torch.zeros((1, *window), device=self.device)]
        if self.spec.needs_reference:
            s = self.spec.scale
            xs.append(torch.zeros((1, *window[:-2], window[-2] * s, window[-1] * s), device=self.device))
        self._compute([self._layout(x) for x in xs])
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
    key = (name, scale, options, device, precision, compile, channels_last)
    with _CACHE_LOCK:
        runner = _CACHE.get(key)
        if runner is None:
            model = _models.create(name, scale=scale, **{k: v for k, v in options if k != "_mtime"})
            runner = _CACHE[key] = Runner(model, torch.device(device), batch_size, (name, scale, options),
                                          precision, compile, channels_last)
        else:
            runner.batch_size = batch_size  # this call's request (None: the runner's own choice)
    return runner


def make_runner(
    model: str | nn.Module,
    scale: int | None,
    options: dict[str, Any] | None,
    device: torch.device,
    batch_size: int | None,
    pretrained: str | os.PathLike[str] | None = None,
    precision: Precision = "auto",
    compile: Compile = "auto",  # noqa: A002
    channels_last: bool | None = None,
) -> Runner:
    """A runner for a registered model name (cached per process) or a user's module (described by ``wrap``).

    Raises
    ------
    ModelError
        A module that is not an ``nn.Module``, options or weights given for a module, or a scale it lacks.
    UnknownModelError
        An unknown model name.
    """
    resolve_precision(precision, device)  # errors before anything is built
    extra = (precision, compile, channels_last)
    if isinstance(model, str):
        spec = _models.get_spec(model)
        s = spec.scale if scale is None else scale
        if pretrained is not None:
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
    if options or pretrained is not None:
        raise ModelError(
            "model_options and pretrained apply to registered model names only; load weights into your module "
            "first (satsr.models.load_weights)"
        )
    if scale is not None and scale != spec.scale:
        raise ModelError(f"{spec.name}: scale {scale} is not supported (the module upscales by {spec.scale})")
    return Runner(model, device, batch_size, None, *extra)
