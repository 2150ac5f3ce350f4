"""End-to-end throughput and peak memory of ``open_stack -> upscale -> to_cog`` against the model alone.

For each (model, size) case:

* **end-to-end** (fresh subprocess): ``satsr.upscale(satsr.open_stack(path), model, scale=4, tile=T,
  device="cpu")`` then ``satsr.io.write.to_cog(sr, out)``; wall time, output Mpx/s (spatial output pixels,
  ``(4N)**2``), peak RSS of that process, COG size and ``rio_cogeo`` validation;
* **raw forward** (another fresh subprocess): the same model on the same pixels already in memory as float32
  tensors, in ``T x T`` tiles (no halo), batches of 4 under ``torch.inference_mode()``, covering the image (or
  an evenly spaced subset of tiles, extrapolated, when there are more than ``--raw-max-tiles``);
* ``ratio = e2e Mpx/s / raw Mpx/s``: how much of the model's own speed the pipeline keeps.

Inputs are square uint16 3-band GeoTIFFs (512 tiles, deflate) made by mirror-tiling a real Landsat 8 crop,
written window by window, so making the 8192 px input needs little memory.

The parent process stays small (stdlib only): everything that imports numpy/torch/GDAL runs in a child,
because on Linux a child started with vfork+exec inherits the parent's ``ru_maxrss``.

Run ``python benchmarks/bench_pipeline.py --help``; see ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "geotiff" / "landsat8_rgb_30m_uint16.tif"
DEFAULT_OUT = HERE / "results" / "bench_pipeline.json"
SCALE = 4
BATCH = 4
MODELS = ("bicubic", "conv")
TARGET_RSS_MB = 2048.0  # bicubic, 8192 x 8192 x 3 uint16
TARGET_RATIO = 0.8  # conv net


# =============================================================================================================
# children (heavy imports happen only here)
# =============================================================================================================
def _cpu_s() -> float:
    """CPU seconds (user + system, all threads) this process has used so far."""
    import resource

    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def cpu_pressure() -> float | None:
    """Share of the last 10 s in which some runnable task waited for a CPU (Linux PSI), in percent."""
    try:
        with open("/proc/pressure/cpu") as fh:
            for line in fh:
                if line.startswith("some"):
                    return float(line.split()[1].split("=")[1])
    except (OSError, IndexError, ValueError):
        pass
    return None


def _peak_rss() -> dict[str, float]:
    """Peak resident set size of this process: ``ru_maxrss`` (KB on Linux) and ``VmHWM``, in MB."""
    import resource

    out = {"ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    out["vmhwm_mb"] = int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return out


def _conv_net_class():
    import torch
    import torch.nn.functional as F
    from torch import nn

    class ConvSR(nn.Module):
        """5 conv layers, 64 features, PixelShuffle, bicubic skip (receptive-field radius 5 LR pixels)."""

        def __init__(self, scale: int = 4, bands: int = 3, feats: int = 64) -> None:
            super().__init__()
            self.scale = scale
            layers: list[nn.Module] = [nn.Conv2d(bands, feats, 3, padding=1), nn.ReLU(inplace=True)]
            for _ in range(3):
                layers += [nn.Conv2d(feats, feats, 3, padding=1), nn.ReLU(inplace=True)]
            layers.append(nn.Conv2d(feats, bands * scale * scale, 3, padding=1))
            self.body = nn.Sequential(*layers)
            self.shuffle = nn.PixelShuffle(scale)
            with torch.no_grad():  # residual-style init: a small learned correction on top of bicubic
                self.body[-1].weight.mul_(0.1)
                self.body[-1].bias.zero_()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            skip = F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
            return self.shuffle(self.body(x)) + skip

    return ConvSR


def _build_model(name: str, *, for_pipeline: bool):
    """``"bicubic"`` (the registered name for the pipeline, its module for raw timing) or the conv net."""
    import torch

    import satsr

    if name == "bicubic":
        return "bicubic" if for_pipeline else satsr.models.create("bicubic", scale=SCALE)
    if name == "conv":
        torch.manual_seed(0)
        net = _conv_net_class()(scale=SCALE, bands=3, feats=64)
        return satsr.models.wrap(net, scale=SCALE, halo=5, bands=3, name="conv5x64")  # 5 conv3x3: radius 5
    raise SystemExit(f"unknown model {name!r} (choose from {', '.join(MODELS)})")


def child_info(spec: dict) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    import rasterio
    import torch

    def ver(pkg: str) -> str | None:
        try:
            return version(pkg)
        except PackageNotFoundError:
            return None

    cpu_model = None
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_total_gb = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    mem_total_gb = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_model": cpu_model,
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "mem_total_gb": mem_total_gb,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "cuda_available": torch.cuda.is_available(),
        "gdal": rasterio.__gdal_version__,
        "rasterio": rasterio.__version__,
        "rio_cogeo": ver("rio-cogeo"),
        "dask": ver("dask"),
        "numpy": ver("numpy"),
        "xarray": ver("xarray"),
        "satsr": ver("satsr"),
    }


def child_gen(spec: dict) -> dict:
    """Write ``size x size`` uint16 3-band GeoTIFFs mirror-tiled from the Landsat scene, window by window."""
    import numpy as np
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    data_path, block = spec["data"], 512
    with rasterio.open(data_path) as src:
        scene = src.read()  # (3, 1860, 2041) uint16, ~23 MB
        crs, t = src.crs, src.transform
    if scene.shape[0] < 3:
        raise SystemExit(f"{data_path}: needs 3 bands, has {scene.shape[0]}")
    scene = scene[:3]
    _, sh, sw = scene.shape
    res = 30.0

    def mirror(idx: np.ndarray, n: int) -> np.ndarray:  # symmetric: ... 1 0 | 0 1 ... n-1 | n-1 n-2 ...
        m = np.mod(idx, 2 * n)
        return np.where(m < n, m, 2 * n - 1 - m)

    made = []
    for size in spec["sizes"]:
        path = Path(spec["workdir"]) / f"landsat8_mirror_{size}.tif"
        if path.exists():
            with rasterio.open(path) as f:
                if (f.width, f.height, f.count, f.dtypes[0]) == (size, size, 3, "uint16"):
                    made.append({"size": size, "path": str(path), "bytes": path.stat().st_size, "reused": True})
                    continue
        # Centre the scene in the square; outside it, mirror. Keep the scene's 30 m grid.
        oy, ox = (sh - size) // 2, (sw - size) // 2
        transform = Affine(res, 0.0, t.c + ox * res, 0.0, -res, t.f - oy * res)
        profile = {
            "driver": "GTiff",
            "width": size,
            "height": size,
            "count": 3,
            "dtype": "uint16",
            "crs": crs,
            "transform": transform,
            "tiled": True,
            "blockxsize": block,
            "blockysize": block,
            "compress": "deflate",
            "predictor": 2,
            "interleave": "pixel",
            "BIGTIFF": "IF_SAFER",
        }
        cols = mirror(np.arange(size) + ox, sw)
        t0 = time.perf_counter()
        tmp = path.with_suffix(".tmp.tif")
        with rasterio.open(tmp, "w", **profile) as dst:
            for y0 in range(0, size, block):
                y1 = min(y0 + block, size)
                rows = mirror(np.arange(y0, y1) + oy, sh)
                dst.write(scene[:, rows[:, None], cols[None, :]], window=Window(0, y0, size, y1 - y0))
        os.replace(tmp, path)
        made.append(
            {
                "size": size,
                "path": str(path),
                "bytes": path.stat().st_size,
                "reused": False,
                "gen_s": round(time.perf_counter() - t0, 2),
            }
        )
    return {"inputs": made, "source": {"path": data_path, "shape": list(scene.shape), "crs": str(crs)}}


def _instrument(model_obj) -> dict:
    """Count thread-seconds in input reads and model forwards of this process (monkeypatching, no edits).

    Relies on two internals (``satsr.io.read._StackReader`` and the pipeline's runner cache); when they
    change, the breakdown is simply left out.
    """
    import threading

    stats = {"read_s": 0.0, "read_calls": 0, "forward_s": 0.0, "forward_calls": 0}
    lock = threading.Lock()
    try:
        from satsr.io import read as _read

        orig = _read._StackReader.__getitem__

        def timed_getitem(self, key):
            t0 = time.perf_counter()
            try:
                return orig(self, key)
            finally:
                with lock:
                    stats["read_s"] += time.perf_counter() - t0
                    stats["read_calls"] += 1

        _read._StackReader.__getitem__ = timed_getitem
    except Exception:  # noqa: BLE001
        stats["read_s"] = None

    def hook_module(mod) -> None:
        starts: dict[int, float] = {}

        def pre(m, args):
            starts[threading.get_ident()] = time.perf_counter()

        def post(m, args, out):
            t0 = starts.pop(threading.get_ident(), None)
            if t0 is not None:
                with lock:
                    stats["forward_s"] += time.perf_counter() - t0
                    stats["forward_calls"] += 1

        mod.register_forward_pre_hook(pre)
        mod.register_forward_hook(post)

    stats["_hook"] = hook_module
    if not isinstance(model_obj, str):
        hook_module(model_obj)
    return stats


def _hook_registered(stats: dict) -> None:
    """Hook the registered model the pipeline built (its per-process runner cache)."""
    try:
        from satsr import engine

        for runner in list(getattr(engine, "_CACHE", {}).values()):
            stats["_hook"](runner.model)
    except Exception:  # noqa: BLE001
        stats["forward_s"] = None


def _validate_cog(paths: list[Path], size: int, ref_crs) -> dict:
    import rasterio
    from rio_cogeo.cogeo import cog_validate

    out = {
        "cog_files": [str(p) for p in paths],
        "cog_bytes": 0,
        "cog_valid": True,
        "cog_errors": [],
        "cog_warnings": [],
        "grid_ok": True,
    }
    for p in paths:
        out["cog_bytes"] += Path(p).stat().st_size
        valid, errors, warns = cog_validate(str(p), quiet=True)
        out["cog_valid"] = out["cog_valid"] and bool(valid)
        out["cog_errors"] += list(errors)
        out["cog_warnings"] += list(warns)
        with rasterio.open(p) as f:
            ok = (f.width, f.height, f.count, f.dtypes[0]) == (size * SCALE, size * SCALE, 3, "uint16")
            ok = ok and f.crs == ref_crs and abs(f.transform.a - 30.0 / SCALE) < 1e-9
            out["grid_ok"] = out["grid_ok"] and ok
            out["cog_overviews"] = f.overviews(1)
            out["cog_block"] = list(f.block_shapes[0])
            out["cog_compression"] = f.compression.value if f.compression else None
    return out


#: Functions of ``satsr.io.write`` timed when present: streaming the chunks to the stage GeoTIFF (this is where
#: the dask graph, i.e. read + model + stitch, is computed) and the GDAL COG conversion.
WRITE_PHASES = ("_store", "_convert_to_cog")


def _time_write_phases(write) -> dict[str, float]:
    """Wrap the writer's phase functions (module globals, looked up at call time) to add up their wall time."""
    phases: dict[str, float] = {}
    for fname in WRITE_PHASES:
        fn = getattr(write, fname, None)
        if not callable(fn):
            continue

        def make(fn=fn, fname=fname):
            def timed(*a, **k):
                t = time.perf_counter()
                try:
                    return fn(*a, **k)
                finally:
                    phases[fname] = phases.get(fname, 0.0) + time.perf_counter() - t

            return timed

        setattr(write, fname, make())
    return phases


def child_e2e(spec: dict) -> dict:
    import rasterio

    import satsr
    import satsr.io.write as write

    rss_imports = _peak_rss()
    model = _build_model(spec["model"], for_pipeline=True)
    stats = _instrument(model)
    phases = _time_write_phases(write)
    out_path = Path(spec["out_path"])
    if out_path.exists():
        out_path.unlink()
    load0, psi0, cpu0 = os.getloadavg()[0], cpu_pressure(), _cpu_s()
    t0 = time.perf_counter()
    stack = satsr.open_stack(spec["input"])
    sr = satsr.upscale(stack, model, scale=SCALE, tile=spec["tile"], device="cpu")
    t_graph = time.perf_counter() - t0
    if isinstance(model, str):
        _hook_registered(stats)
    paths = write.to_cog(sr, out_path)
    e2e_s = time.perf_counter() - t0
    e2e_cpu_s = _cpu_s() - cpu0
    rss = _peak_rss()  # before validation (which reads headers only, but keep it out)
    paths = [Path(p) for p in (paths if isinstance(paths, (list, tuple)) else [paths])]
    with rasterio.open(spec["input"]) as f:
        ref_crs = f.crs
    res = {
        "e2e_s": e2e_s,
        "graph_s": t_graph,
        "output_shape": [int(v) for v in sr.shape],
        "output_chunks": [int(c[0]) for c in sr.data.chunks],
        "n_output_chunks": int(sr.data.npartitions),
        "e2e_cpu_s": e2e_cpu_s,
        "loadavg_before": load0,
        "loadavg_after": os.getloadavg()[0],
        "cpu_pressure_before": psi0,
        "cpu_pressure_after": cpu_pressure(),
        "write_phases_s": dict(phases),
        "rss_after_imports_mb": rss_imports.get("vmhwm_mb", rss_imports["ru_maxrss_mb"]),
        **rss,
        **{k: v for k, v in stats.items() if not k.startswith("_")},
    }
    res.update(_validate_cog(paths, spec["size"], ref_crs))
    if not spec.get("keep_outputs"):
        for p in paths:
            Path(p).unlink(missing_ok=True)
        res["cog_deleted"] = True
    return res


class _NullSink:
    """A ``dask.array.store`` target that drops everything (times compute without writing)."""

    def __setitem__(self, key, value) -> None:
        pass


def child_profile(spec: dict) -> dict:
    """Phase breakdown for one case: read only; read + upscale (no write), threaded and synchronous; to_cog."""
    import dask
    import dask.array as dska

    import satsr
    import satsr.io.write as write

    res: dict = {"loadavg_before": os.getloadavg()[0]}
    model = _build_model(spec["model"], for_pipeline=True)

    # 1. read only: every input chunk once, at the chunking upscale uses
    stack = satsr.open_stack(spec["input"])
    t0 = time.perf_counter()
    dska.store(stack.data, _NullSink(), lock=False)
    res["read_only_s"] = time.perf_counter() - t0

    # 2. read + upscale, results dropped (no GeoTIFF, no COG)
    stats = _instrument(model)
    stack = satsr.open_stack(spec["input"])
    sr = satsr.upscale(stack, model, scale=SCALE, tile=spec["tile"], device="cpu")
    if isinstance(model, str):
        _hook_registered(stats)  # the registered model's runner exists once upscale has been called
    t0 = time.perf_counter()
    dska.store(sr.data, _NullSink(), lock=False)
    res["upscale_only_s"] = time.perf_counter() - t0
    res["upscale_only_forward_s"] = stats["forward_s"]
    res["upscale_only_read_s"] = stats["read_s"]
    res["forward_calls"] = stats["forward_calls"]
    res["dask_scheduler"] = str(dask.config.get("scheduler", None))

    # 2b. the same with dask's synchronous scheduler: one task at a time, so the forward has the cores to itself
    #     (no NumPy work of another block beside it) but nothing overlaps; tells contention from overlap.
    fwd0 = stats["forward_s"]
    stack = satsr.open_stack(spec["input"])
    sr = satsr.upscale(stack, model, scale=SCALE, tile=spec["tile"], device="cpu")
    t0 = time.perf_counter()
    with dask.config.set(scheduler="synchronous"):
        dska.store(sr.data, _NullSink(), lock=False)
    res["upscale_only_sync_s"] = time.perf_counter() - t0
    res["upscale_only_sync_forward_s"] = stats["forward_s"] - fwd0

    # 3. full: + to_cog (timing the writer's phases by wrapping its module functions when they exist)
    phases = _time_write_phases(write)
    fwd0, read0 = stats["forward_s"], stats["read_s"]
    out_path = Path(spec["out_path"])
    stack = satsr.open_stack(spec["input"])
    sr = satsr.upscale(stack, model, scale=SCALE, tile=spec["tile"], device="cpu")
    t0 = time.perf_counter()
    paths = write.to_cog(sr, out_path)
    res["e2e_s"] = time.perf_counter() - t0
    res["write_phases_s"] = phases
    res["e2e_forward_s"] = None if fwd0 is None else stats["forward_s"] - fwd0
    res["e2e_read_s"] = None if read0 is None else stats["read_s"] - read0
    for p in paths if isinstance(paths, (list, tuple)) else [paths]:
        Path(p).unlink(missing_ok=True)
    res["loadavg_after"] = os.getloadavg()[0]
    return res


def child_raw(spec: dict) -> dict:
    """The model alone on in-memory float32 tiles (T x T, no halo), batches of 4, inference mode."""
    import numpy as np
    import rasterio
    import torch

    model = _build_model(spec["model"], for_pipeline=False).eval()
    size, tile = spec["size"], spec["tile"]
    with rasterio.open(spec["input"]) as f:
        img = f.read()  # uint16 (3, N, N)
    x = torch.from_numpy(img.astype(np.float32) / np.float32(65535.0))  # what the pipeline feeds the model
    del img
    pos = [(y, xx) for y in range(0, size, tile) for xx in range(0, size, tile)]
    n_total = len(pos)
    cap = spec["raw_max_tiles"]
    if cap and n_total > cap:
        k = max(BATCH, (cap // BATCH) * BATCH)
        idx = np.unique(np.linspace(0, n_total - 1, k).round().astype(int))
        pos = [pos[i] for i in idx]
    t = min(tile, size)
    batches = [
        torch.stack([x[:, y : y + t, xx : xx + t] for y, xx in pos[i : i + BATCH]]).contiguous()
        for i in range(0, len(pos), BATCH)
    ]
    del x
    load0, psi0 = os.getloadavg()[0], cpu_pressure()
    times, cpus = [], []
    with torch.inference_mode():
        model(batches[0])  # warm-up (allocator, oneDNN primitives), not timed
        for _ in range(max(1, spec.get("repeat", 1))):
            c0, t0 = _cpu_s(), time.perf_counter()
            for b in batches:
                model(b)
            times.append(time.perf_counter() - t0)
            cpus.append(_cpu_s() - c0)
    best = min(range(len(times)), key=times.__getitem__)
    elapsed = times[best]
    raw_s = elapsed * n_total / len(pos)
    return {
        "raw_timed_s": elapsed,
        "raw_timed_s_all": times,
        "raw_cpu_s": cpus[best],
        "raw_s": raw_s,
        "raw_tiles_timed": len(pos),
        "raw_tiles_total": n_total,
        "raw_extrapolated": len(pos) < n_total,
        "raw_mpx_s": (size * SCALE) ** 2 / raw_s / 1e6,
        "raw_torch_threads": torch.get_num_threads(),
        "raw_loadavg_before": load0,
        "raw_cpu_pressure_before": psi0,
        "raw_cpu_pressure_after": cpu_pressure(),
        **{"raw_" + k: v for k, v in _peak_rss().items()},
    }


CHILDREN = {"info": child_info, "gen": child_gen, "e2e": child_e2e, "raw": child_raw, "profile": child_profile}


def run_child_main(role: str, spec_path: str, result_path: str) -> None:
    sys.path.insert(0, str(REPO))  # the source tree's satsr, also when not installed
    spec = json.loads(Path(spec_path).read_text())
    res = CHILDREN[role](spec)
    Path(result_path).write_text(json.dumps(res, default=str))


# =============================================================================================================
# parent (stdlib only)
# =============================================================================================================
def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def spawn(role: str, spec: dict, scratch: Path, timeout: float | None = None) -> dict:
    """Run one child role in a fresh interpreter; return its result dict or ``{"error": ...}``."""
    fd, spec_path = tempfile.mkstemp(prefix=f"{role}-", suffix=".json", dir=scratch)
    os.close(fd)
    result_path = spec_path[:-5] + ".result.json"
    Path(spec_path).write_text(json.dumps(spec))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", role, spec_path, result_path]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, timeout=timeout, cwd=REPO)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        rc = "timeout"
    wall = time.perf_counter() - t0
    try:
        if rc == 0:
            res = json.loads(Path(result_path).read_text())
            res["child_wall_s"] = wall
            return res
        return {"error": f"{role} child failed (exit {rc}) after {wall:.0f} s; see the log above"}
    finally:
        Path(spec_path).unlink(missing_ok=True)
        Path(result_path).unlink(missing_ok=True)


def wait_idle(max_s: float, threshold: float = 5.0) -> float:
    """Sleep until CPU pressure drops below ``threshold`` percent or ``max_s`` passed; return the time waited."""
    if max_s <= 0 or cpu_pressure() is None:
        return 0.0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < max_s:
        psi = cpu_pressure()
        if psi is None or psi < threshold:
            break
        time.sleep(2.0)
    waited = time.perf_counter() - t0
    if waited > 1:
        log(f"waited {waited:.0f} s for idle CPUs (pressure now {cpu_pressure()}%)")
    return waited


def source_state() -> dict:
    """Commit of the checkout and whether ``satsr/`` has uncommitted changes (read-only git calls)."""

    def git(*a: str) -> str | None:
        try:
            out = subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    dirty = git("status", "--porcelain", "--", "satsr")
    return {"commit": git("rev-parse", "HEAD"), "satsr_dirty": None if dirty is None else bool(dirty)}


def parse_sizes(s: str) -> list[int]:
    return [int(v) for v in s.replace(" ", "").split(",") if v]


def fmt(v, spec: str = ".2f") -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    return format(v, spec)


def table(cases: list[dict]) -> str:
    head = "| model | size | e2e s | e2e Mpx/s | raw Mpx/s | ratio | peak RSS MB | COG valid |"
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|:---:|"]
    for c in cases:
        raw = fmt(c.get("raw_mpx_s"))
        if c.get("raw_extrapolated"):
            raw += "*"
        err = " (failed)" if c.get("error") else ""
        lines.append(
            f"| {c['model']}{err} | {c['size']} | {fmt(c.get('e2e_s'), '.1f')} | {fmt(c.get('e2e_mpx_s'))} | {raw} "
            f"| {fmt(c.get('ratio'))} | {fmt(c.get('ru_maxrss_mb'), '.0f')} | {fmt(c.get('cog_valid'))} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        run_child_main(*argv[1:4])
        return 0

    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--sizes", default="1024,4096,8192", help="input sizes (px, square) for bicubic")
    p.add_argument(
        "--conv-sizes",
        default=None,
        help="input sizes for the conv net; default: the --sizes up to 4096 (8192 takes 10+ min "
        "on 2 cores: ask for it explicitly, e.g. --conv-sizes 1024,4096,8192)",
    )
    p.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, from {', '.join(MODELS)}")
    p.add_argument("--tile", type=int, default=256, help="tile size in input pixels (pipeline and raw)")
    p.add_argument(
        "--raw-max-tiles",
        type=int,
        default=256,
        help="time at most this many tiles in the raw forward (evenly spaced) and extrapolate to "
        "the whole image; 0 = every tile",
    )
    p.add_argument("--no-raw", action="store_true", help="skip the raw-forward measurement")
    p.add_argument("--repeat", type=int, default=1, help="end-to-end runs per case (fresh process each); best time")
    p.add_argument("--raw-repeat", type=int, default=2, help="passes over the raw tiles (one process); best time")
    p.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        help="before each measurement wait up to this many seconds for the CPUs to be idle (Linux PSI "
        "'some avg10' < 5%%), so other jobs on a shared machine disturb less; 0 = do not wait",
    )
    p.add_argument(
        "--profile",
        default="",
        help="comma-separated model:size cases (e.g. conv:4096) to also profile: read only, "
        "read+upscale without writing, and to_cog with its phases",
    )
    p.add_argument("--data", default=str(DEFAULT_DATA), help="real 3-band uint16 GeoTIFF to mirror-tile")
    p.add_argument("--workdir", default=None, help="scratch folder; a new temporary one when not given")
    p.add_argument("--keep", action="store_true", help="keep the workdir (inputs, and the COGs) at the end")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="JSON results file")
    p.add_argument("--timeout", type=float, default=None, help="seconds per child process; no limit when not given")
    args = p.parse_args(argv)

    models = [m for m in args.models.replace(" ", "").split(",") if m]
    for m in models:
        if m not in MODELS:
            p.error(f"unknown model {m!r}; choose from {', '.join(MODELS)}")
    sizes = parse_sizes(args.sizes)
    conv_sizes = parse_sizes(args.conv_sizes) if args.conv_sizes else [s for s in sizes if s <= 4096]
    plan, skipped = [], []
    for m in models:
        msizes = conv_sizes if m == "conv" else sizes
        plan += [(m, s) for s in msizes]
        if m == "conv" and not args.conv_sizes:
            skipped += [
                {"model": m, "size": s, "why": "conv sizes above 4096 run only on request (--conv-sizes)"}
                for s in sizes
                if s > 4096
            ]
    profile_cases = set()
    for item in [v for v in args.profile.replace(" ", "").split(",") if v]:
        m, _, s = item.partition(":")
        profile_cases.add((m, int(s)))
    if not Path(args.data).exists():
        p.error(f"--data {args.data}: no such file")

    made_workdir = args.workdir is None
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="satsr-bench-")).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    out_json = Path(args.out).resolve()
    out_json.parent.mkdir(parents=True, exist_ok=True)
    command = " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv])
    log(f"command: {command}")
    log(f"workdir: {workdir}  plan: {', '.join(f'{m}@{s}' for m, s in plan)}")

    report: dict = {
        "benchmark": "bench_pipeline",
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": command,
        "settings": {
            "tile": args.tile,
            "scale": SCALE,
            "repeat": args.repeat,
            "raw_repeat": args.raw_repeat,
            "wait_idle_s": args.wait_idle,
            "raw_batch": BATCH,
            "raw_max_tiles": args.raw_max_tiles,
            "models": models,
            "sizes": sizes,
            "conv_sizes": conv_sizes,
            "data": str(Path(args.data).resolve()),
            "workdir": str(workdir),
            "device": "cpu",
            "conv_model": "conv3x3(3->64)+ReLU, 3x[conv3x3(64->64)+ReLU], conv3x3(64->48), PixelShuffle(4), "
            "+ bicubic skip; torch.manual_seed(0); wrap(scale=4, halo=5, bands=3)",
            "pipeline_call": f"upscale(open_stack(path), model, scale=4, tile={args.tile}, device='cpu'); "
            "to_cog(sr, out) with its defaults",
        },
        "targets": {"bicubic_8192_peak_rss_mb_lt": TARGET_RSS_MB, "conv_ratio_ge": TARGET_RATIO},
        "skipped": skipped,
        "cases": [],
    }
    try:
        report["machine"] = spawn("info", {}, workdir)
        report["source"] = source_state()
        log(f"machine: {json.dumps(report['machine'])}")
        all_sizes = sorted({s for _, s in plan})
        log(f"making inputs {all_sizes} from {args.data}")
        gen = spawn(
            "gen",
            {"data": str(Path(args.data).resolve()), "sizes": all_sizes, "workdir": str(workdir)},
            workdir,
            args.timeout,
        )
        if "error" in gen:
            raise SystemExit(gen["error"])
        report["inputs"] = gen
        inputs = {d["size"]: d["path"] for d in gen["inputs"]}
        for d in gen["inputs"]:
            log(f"input {d['size']}: {d['path']} ({d['bytes'] / 1e6:.1f} MB{', reused' if d['reused'] else ''})")

        for m, s in plan:
            base = {
                "model": m,
                "size": s,
                "tile": args.tile,
                "input": inputs[s],
                "out_path": str(workdir / f"sr_{m}_{s}_x{SCALE}.tif"),
                "keep_outputs": args.keep,
                "raw_max_tiles": args.raw_max_tiles,
            }
            case = {"model": m, "size": s, "tile": args.tile, "output_px": (s * SCALE) ** 2}
            runs = []
            for r in range(max(1, args.repeat)):
                case["waited_for_idle_s"] = case.get("waited_for_idle_s", 0.0) + wait_idle(args.wait_idle)
                log(f"{m}@{s}: end-to-end run {r + 1}/{max(1, args.repeat)} (fresh process)")
                e2e = spawn("e2e", base, workdir, args.timeout)
                if "error" in e2e:
                    case["error"] = e2e["error"]
                    break
                runs.append(e2e)
                log(
                    f"{m}@{s}: e2e {e2e['e2e_s']:.1f} s ({e2e['e2e_cpu_s']:.0f} CPU s), "
                    f"{case['output_px'] / e2e['e2e_s'] / 1e6:.2f} Mpx/s, peak RSS {e2e['ru_maxrss_mb']:.0f} MB "
                    f"(VmHWM {e2e.get('vmhwm_mb', 0):.0f}), COG {e2e['cog_bytes'] / 1e6:.0f} MB "
                    f"valid={e2e['cog_valid']}, CPU pressure {e2e.get('cpu_pressure_before')}%"
                )
            if runs and "error" not in case:
                best = min(runs, key=lambda e: e["e2e_s"])
                case.update(best)
                case["e2e_s_all"] = [e["e2e_s"] for e in runs]
                case["ru_maxrss_mb"] = max(e["ru_maxrss_mb"] for e in runs)  # worst case over the repeats
                case["vmhwm_mb"] = max(e.get("vmhwm_mb", 0.0) for e in runs)
                case["cog_valid"] = all(e["cog_valid"] for e in runs)
                case["e2e_mpx_s"] = case["output_px"] / best["e2e_s"] / 1e6
            if not args.no_raw:
                case["waited_for_idle_s"] += wait_idle(args.wait_idle)
                log(f"{m}@{s}: raw forward, best of {args.raw_repeat} (fresh process)")
                raw = spawn("raw", {**base, "repeat": args.raw_repeat}, workdir, args.timeout)
                if "error" in raw:
                    case["raw_error"] = raw["error"]
                else:
                    case.update(raw)
                    log(
                        f"{m}@{s}: raw {raw['raw_mpx_s']:.2f} Mpx/s ({raw['raw_tiles_timed']}/"
                        f"{raw['raw_tiles_total']} tiles timed)"
                    )
            if case.get("e2e_mpx_s") and case.get("raw_mpx_s"):
                case["ratio"] = case["e2e_mpx_s"] / case["raw_mpx_s"]
            if (m, s) in profile_cases:
                log(f"{m}@{s}: profile (fresh process)")
                prof = spawn("profile", {**base, "out_path": str(workdir / f"prof_{m}_{s}.tif")}, workdir, args.timeout)
                case["profile"] = prof
                log(f"{m}@{s}: profile {json.dumps(prof)}")
            report["cases"].append(case)
            out_json.write_text(json.dumps(report, indent=2, default=str))  # partial results survive a kill

        checks = {}
        for c in report["cases"]:
            if c["model"] == "bicubic" and c["size"] == 8192 and c.get("ru_maxrss_mb") is not None:
                checks["bicubic_8192_peak_rss_ok"] = c["ru_maxrss_mb"] < TARGET_RSS_MB
            if c["model"] == "conv" and c.get("ratio") is not None:
                checks[f"conv_{c['size']}_ratio_ok"] = c["ratio"] >= TARGET_RATIO
        report["checks"] = checks
        report["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        out_json.write_text(json.dumps(report, indent=2, default=str))

        mach = report["machine"]
        print()
        print(
            f"satsr pipeline benchmark: scale x{SCALE}, tile {args.tile}, device cpu; {mach.get('cpu_count')} CPUs "
            f"({mach.get('cpu_model')}), torch {mach.get('torch')} ({mach.get('torch_threads')} threads), "
            f"GDAL {mach.get('gdal')}"
        )
        print()
        print(table(report["cases"]))
        print()
        print("e2e = open_stack -> upscale -> to_cog (fresh process); Mpx/s counts output pixels (4N)^2, not bands.")
        print(f"raw = model forward only on in-memory float32 {args.tile}x{args.tile} tiles (no halo), batch {BATCH}.")
        if any(c.get("raw_extrapolated") for c in report["cases"]):
            ex = [
                f"{c['model']}@{c['size']}: {c['raw_tiles_timed']}/{c['raw_tiles_total']}"
                for c in report["cases"]
                if c.get("raw_extrapolated")
            ]
            print(f"* raw timed on an evenly spaced subset of tiles and extrapolated ({'; '.join(ex)}).")
        print("peak RSS = ru_maxrss of the e2e process (VmHWM in the JSON agrees).")
        for c in report["cases"]:
            if c.get("cog_bytes"):
                ph = c.get("write_phases_s") or {}
                print(
                    f"  {c['model']}@{c['size']}: COG {c['cog_bytes'] / 1e6:.0f} MB, overviews "
                    f"{c.get('cog_overviews')}; wall: compute+stage write {fmt(ph.get('_store'), '.1f')} s, "
                    f"COG conversion {fmt(ph.get('_convert_to_cog'), '.1f')} s; thread time: model forward "
                    f"{fmt(c.get('forward_s'), '.1f')} s, input reads {fmt(c.get('read_s'), '.1f')} s; "
                    f"RSS after imports {fmt(c.get('rss_after_imports_mb'), '.0f')} MB"
                )
            if c.get("error"):
                print(f"  {c['model']}@{c['size']}: {c['error']}")
        for sk in skipped:
            print(f"  not run: {sk['model']}@{sk['size']} ({sk['why']})")
        if checks:
            print("targets: " + ", ".join(f"{k}={'yes' if v else 'NO'}" for k, v in checks.items()))
        print(f"\nJSON: {out_json}")
    finally:
        if made_workdir and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        elif args.keep:
            log(f"kept workdir {workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
