"""satsr's speed suite: end to end against the bare forward, against the seed repos' way and the peer tilers.

For every (model, precision) case, each in a fresh process (peak memory is per process):

* **e2e**: ``open_stack(frames) -> upscale(model, tile, precision) -> to_cog``: wall time, output Mpx/s (spatial
  output pixels of every output frame), peak host RSS and peak device memory. The model's forward inputs are
  recorded (shape and count), and the COG of the centre frame is read back for the seam error.
* **bare**: the same model through the same runner (precision, channels_last, compile), fed the same number of
  forwards of the same shapes (the same batch and tile windows, cut from the same frames) from tensors already
  on the device, results left there; warmed up first. ``ratio = e2e Mpx/s / bare Mpx/s`` is what the pipeline
  keeps of the model's own speed (reading, halo assembly, copies, stitching, conversion, COG writing).
  FLOPs of one window are counted with ``torch.utils.flop_counter`` (fp32, eager): achieved TFLOP/s, and on a
  GPU the share of the device's dense peak for that precision.
* **model busy**: the share of the e2e wall time during which a forward was running (forward hooks), measured
  within the one run, so it is immune to other load on the machine between runs.
* **seed way**: what the seed repos' test scripts do: the whole frame (reflect-padded to the model's multiple),
  one output frame at a time, fp32, eager. Its centre frame is the reference for every seam error.
* **peers** (``--peers``): ``opensr-utils`` and ``sen2sr``'s ``predict_large`` on the same model and the centre
  frame, run by ``benchmarks/peers/run_peer.py`` in their own environment (``benchmarks/peers/setup_env.sh``).
* **cheap network** (``conv5``, :data:`CHEAP`): 5 conv layers, so that the pipeline's own costs show; besides e2e
  it runs **satsr upscale (no file)**, the upscale with every block computed and nothing written, against the
  same bare forwards. Target: upscale / bare >= ``TARGET_RATIO`` (``checks.cheap_upscale_over_bare``).
* **memory flatness** (``--flat MODEL:SMALL,LARGE``, default ``bicubic:2048,8192``): e2e at both sizes, each in
  a fresh process; target: peak RSS at the large size within ``TARGET_FLAT`` of the small (``checks.memory_flat``).

``--vs-defaults`` runs only this instead: per model, e2e in fp32 with ``--tile`` against e2e with the defaults
(``precision="auto"``, ``tile=None``), alternated ``--repeat`` times in one run; the speed ratio of the median
times and the PSNR of the defaults' output against fp32's.

Seam error: max and RMS difference, in stored units (DN of the input's dtype), against the seed way's whole
frame, over the interior (``halo * scale`` output pixels from the border, at most a quarter of the side, are left
out: there the whole frame sees the model's zero padding and a tile sees reflected pixels, both legitimate edge
rules).

Inputs are made from real data: the 7 Jilin-1 LR frames (video models) and the Landsat 8 RGB scene (single-image
models), mirror-tiled to the size asked, written as tiled GeoTIFFs. Run ``python benchmarks/run.py --help``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from bench_pipeline import _conv_net_class, cpu_pressure, source_state, wait_idle  # noqa: E402 (the sibling script)

DATA = REPO.parent / "shared" / "data"
DEFAULT_OUT = HERE / "results" / "run.json"
PEERS_PY = REPO / ".venv-peers" / "bin" / "python"

#: The cheap network of the pipeline-overhead target: 5 conv layers of 64 features, PixelShuffle x4 and a bicubic
#: skip (``bench_pipeline.py``'s, random weights from seed 0), wrapped with ``satsr.models.wrap``. Where so little
#: time goes into the forward, the pipeline's own costs show; it is also timed without writing a file ("satsr
#: upscale"), the ``upscale`` target of the issue.
CHEAP = "conv5"

#: ``model: (size, frames, tile)`` sized for a 2-core CPU (a few minutes in all); ``--preset gpu`` is the issue's.
CPU_CASES = {"bicubic": (2048, 1, 256), CHEAP: (1024, 1, 512), "lgtd-s": (256, 3, 64), "mtdo": (64, 3, 64)}
GPU_CASES = ({m: (4096, 7, 256) for m in ("lgtd", "mtdo", "lgtd-s", "lgfn")} | {"bicubic": (4096, 1, 256)}
             | {CHEAP: (4096, 1, 512)})

#: Dense peak TFLOP/s (no sparsity) by device-name fragment and precision: NVIDIA's data sheets (SXM parts).
PEAK_TFLOPS = {
    "H200": {"fp32": 67.0, "bf16": 989.0, "fp16": 989.0},
    "H100": {"fp32": 67.0, "bf16": 989.0, "fp16": 989.0},
    "A100": {"fp32": 19.5, "bf16": 312.0, "fp16": 312.0},
}
TARGET_RATIO = 0.9
TARGET_BF16_OVER_SEED = 3.0
TARGET_FLAT = 1.05  # peak RSS at the large size / at the small size


# =============================================================================================================
# children (heavy imports only here)
# =============================================================================================================
def _peak() -> dict:
    import resource

    out = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    try:
        import torch

        if torch.cuda.is_available() and torch.cuda.is_initialized():
            out["peak_device_mb"] = torch.cuda.max_memory_allocated() / 2**20
    except Exception:  # noqa: BLE001
        pass
    return out


def _frames(spec: dict) -> list[str]:
    w = Path(spec["workdir"])
    return [str(w / f"{spec['kind']}_{spec['size']}_{t}.tif") for t in range(spec["frames"])]


def child_gen(spec: dict) -> dict:
    """Mirror-tile real data to ``size x size``: Jilin-1 frames (uint8 RGB) or the Landsat 8 RGB scene (uint16)."""
    import numpy as np
    import rasterio
    from affine import Affine
    from PIL import Image
    from rasterio.windows import Window

    from satsr.testing import JILIN1_CRS, JILIN1_TRANSFORM

    size, kind = spec["size"], spec["kind"]
    if kind == "jilin":
        srcs = sorted((Path(spec["data"]) / "jilin1_airport" / "LR4x").glob("*.png"))[: spec["frames"]]
        scenes = [np.asarray(Image.open(p).convert("RGB")).transpose(2, 0, 1) for p in srcs]
        crs, transform, dtype = JILIN1_CRS, JILIN1_TRANSFORM, "uint8"
    else:
        with rasterio.open(Path(spec["data"]) / "geotiff" / "landsat8_rgb_30m_uint16.tif") as f:
            scenes = [f.read()[:3]] * spec["frames"]
            crs, transform, dtype = f.crs, f.transform, "uint16"
    out = []
    for scene, path in zip(scenes, _frames(spec)):
        p = Path(path)
        if p.exists():
            out.append(path)
            continue
        _, sh, sw = scene.shape

        def mirror(idx, n):
            m = np.mod(idx, 2 * n)
            return np.where(m < n, m, 2 * n - 1 - m)

        oy, ox = (sh - size) // 2, (sw - size) // 2
        cols = mirror(np.arange(size) + ox, sw)
        prof = dict(driver="GTiff", width=size, height=size, count=3, dtype=dtype, crs=crs,
                    transform=transform * Affine.translation(ox, oy), tiled=True, blockxsize=512, blockysize=512,
                    compress="deflate", predictor=2, BIGTIFF="IF_SAFER")
        tmp = p.with_suffix(".tmp.tif")
        with rasterio.open(tmp, "w", **prof) as dst:
            for y0 in range(0, size, 512):
                rows = mirror(np.arange(y0, min(y0 + 512, size)) + oy, sh)
                dst.write(scene[:, rows[:, None], cols[None, :]], window=Window(0, y0, size, len(rows)))
        os.replace(tmp, p)
        out.append(path)
    return {"frames": out}


def _runner(spec: dict):
    import torch

    from satsr.engine import make_runner

    return make_runner(_model(spec["model"]), None, None, torch.device(spec["device"]), spec.get("batch"),
                       _weights(spec["model"]), precision=spec["precision"], compile=spec["compile"])


_MODULES: dict = {}


def _model(name: str):
    """A registered model's name as it is; for :data:`CHEAP`, the module (one per process, seed 0)."""
    if name != CHEAP:
        return name
    if name not in _MODULES:
        import torch

        import satsr

        torch.manual_seed(0)
        net = _conv_net_class()(scale=4, bands=3, feats=64)
        _MODULES[name] = satsr.models.wrap(net, scale=4, halo=5, bands=3, name="conv5x64")  # radius 5 (5 conv3x3)
    return _MODULES[name]


def _weights(name: str) -> bool | None:
    """The shipped weights where satsr has some (lgtd-s), else random ones on purpose: timings need no training."""
    from satsr import models

    if name == CHEAP:
        return False  # a module: its weights as they are
    return None if models.get_spec(name).weights else False


class _Null:
    """A ``dask.array.store`` target that drops what it is given: the upscale computed, nothing written."""

    def __setitem__(self, key, value) -> None:
        pass


def _seam(a, b, border: int) -> dict:
    import numpy as np

    d = np.abs(a.astype(np.float64) - b.astype(np.float64))
    border = min(border, min(d.shape[-2:]) // 4)  # a small scene keeps its middle half at least
    if border:
        d = d[..., border:-border, border:-border]
    return {"seam_max": float(d.max()), "seam_rms": float(np.sqrt((d**2).mean()))}


def child_e2e(spec: dict) -> dict:
    import threading

    import numpy as np
    import rasterio
    import torch

    import satsr
    from satsr.io.write import to_cog

    runner = _runner(spec)
    shapes: dict[str, int] = {}
    busy = {"s": 0.0}
    lock, starts = threading.Lock(), {}

    def pre(m, args):
        with lock:
            key = json.dumps([list(a.shape) for a in args])
            shapes[key] = shapes.get(key, 0) + 1
        starts[threading.get_ident()] = time.perf_counter()

    def post(m, args, out):
        t0 = starts.pop(threading.get_ident(), None)
        if t0 is not None:
            with lock:
                busy["s"] += time.perf_counter() - t0

    h1, h2 = runner.model.register_forward_pre_hook(pre), runner.model.register_forward_hook(post)
    out = Path(spec["workdir"]) / f"sr_{spec['tag']}"
    # dask's first compute looks for a dask.distributed Client, importing distributed where it is installed
    # (0.4 s here, once per process): an import, kept out of the timed region as satsr's and torch's are
    import dask.base

    dask.base.get_scheduler()
    t0 = time.perf_counter()
    stack = satsr.open_stack(spec["frames"])
    sr = satsr.upscale(stack, _model(spec["model"]), tile=spec["tile"], batch_size=spec.get("batch"),
                       device=spec["device"], precision=spec["precision"], compile=spec["compile"],
                       pretrained=_weights(spec["model"]))
    if spec.get("write", True):
        files = to_cog(sr, out if len(spec["frames"]) > 1 else out.with_suffix(".tif"))
    else:  # the upscale alone: every block computed (as to_cog computes them), nothing written
        import dask
        import dask.array as dska

        files = []
        dask.persist(dska.store(sr.data, _Null(), lock=False, compute=False))
    if spec["device"].startswith("cuda"):
        torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    h1.remove()
    h2.remove()
    if spec.get("keep"):  # every output frame, for the PSNR between two ways (--vs-defaults)
        arrs = []
        for f in sorted(files):
            with rasterio.open(f) as src:
                arrs.append(src.read())
        np.save(spec["keep"], np.stack(arrs))
    res = {"e2e_s": wall, "forward_busy_s": busy["s"], "forwards": shapes, "precision": runner.precision,
           "tile": int(sr.attrs["satsr_tile"]),
           "compile_state": runner.compile_state, "runner_events": runner.events,
           "output_shape": list(sr.shape), "halo": int(sr.attrs["satsr_halo"]), **_peak()}
    res["output_mpx"] = sr.shape[0] * sr.shape[-2] * sr.shape[-1] / 1e6
    spec_ = runner.spec
    res["trained"] = spec_.name in ("bicubic", "bilinear", "nearest") or any(w.file for w in spec_.weights)
    ref = Path(spec["workdir"]) / f"seed_{spec['kind']}_{spec['size']}_{spec['model']}.npy"
    if ref.exists() and files:
        centre = sorted(files)[len(files) // 2]
        with rasterio.open(centre) as f:
            got = f.read()
        border = res["halo"] * sr.attrs["satsr_scale"]
        res.update(_seam(got, np.load(ref), border))
    for f in files:
        Path(f).unlink(missing_ok=True)
    return res


def child_bare(spec: dict) -> dict:
    """The same forwards as e2e (shapes and counts), from device tensors, after a warm-up; FLOPs of one window."""
    import numpy as np
    import rasterio
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from satsr.engine import thread_plan

    runner = _runner(spec)
    dev = runner.device
    thread_plan(dev).apply_torch()  # the same torch threads as the pipeline's forwards
    frames = []
    for p in spec["frames"]:
        with rasterio.open(p) as f:
            frames.append(f.read(window=((0, min(f.height, 1024)), (0, min(f.width, 1024)))))
    src = np.stack(frames).astype(np.float32) / np.iinfo(frames[0].dtype).max  # (T, C, h, w) real pixels
    rng = np.random.default_rng(0)

    def real(shape):  # a batch of real crops of this shape (reflect-padded if the window outgrows the crop)
        *lead, wh, ww = shape
        t = shape[1] if len(shape) == 5 else 1
        pad = max(0, wh - src.shape[-2], ww - src.shape[-1])
        s = np.pad(src, ((0, 0), (0, 0), (0, pad), (0, pad)), mode="reflect") if pad else src
        out = []
        for _ in range(shape[0]):
            y, x = rng.integers(0, s.shape[-2] - wh + 1), rng.integers(0, s.shape[-1] - ww + 1)
            w = s[np.arange(t) % len(s), :, y : y + wh, x : x + ww]
            out.append(w if len(shape) == 5 else w[0, : shape[1]])
        return torch.from_numpy(np.ascontiguousarray(np.stack(out)))

    jobs = []
    for key, count in spec["forwards"].items():
        shapes = json.loads(key)
        xs = [runner._layout(real(tuple(s)).to(dev)) for s in shapes]
        jobs.append((xs, count))
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    with torch.inference_mode():
        for xs, _ in jobs:  # warm-up (and compile) on every shape
            runner._run_model(*xs)
        sync()
        total = sum(c for _, c in jobs)
        budget = spec.get("bare_max_forwards") or total
        done, t0 = 0, time.perf_counter()
        for xs, count in jobs:
            n = max(1, round(count * min(1.0, budget / total)))
            for _ in range(n):
                runner._run_model(*xs)
            done += n
        sync()
        timed = time.perf_counter() - t0
    bare_s = timed * total / done
    # FLOPs of one window (batch 1), fp32 eager: the arithmetic the model asks for, independent of precision
    xs0 = [x[:1] for x in jobs[0][0]]
    with torch.inference_mode(), FlopCounterMode(display=False) as fc:
        runner.model(*xs0)
    flops_window = fc.get_total_flops()
    windows = sum(int(json.loads(k)[0][0]) * c for k, c in spec["forwards"].items())
    res = {"bare_s": bare_s, "bare_timed_forwards": done, "bare_total_forwards": total,
           "flops_per_window": flops_window, "windows": windows,
           "tflops_s": flops_window * windows / bare_s / 1e12, **_peak()}
    if dev.type == "cuda":
        name = torch.cuda.get_device_name(dev)
        res["device_name"] = name
        peak = next((v for k, v in PEAK_TFLOPS.items() if k in name), None)
        if peak:
            res["peak_tflops"] = peak[runner.precision]
            res["peak_share"] = res["tflops_s"] / peak[runner.precision]
    return res


def child_seed(spec: dict) -> dict:
    """The seed repos' way: whole frames, one output frame at a time, fp32, eager; saves the centre frame."""
    import numpy as np
    import rasterio
    import torch

    from satsr import models
    from satsr.engine import is_out_of_memory
    from satsr.tiling import time_window

    dev = torch.device(spec["device"])
    model = (_model(CHEAP) if spec["model"] == CHEAP else models.create(spec["model"],
                                                                       pretrained=_weights(spec["model"])))
    model = model.to(dev).eval()
    ms = models.get_spec(model)
    arrs = []
    for p in spec["frames"]:
        with rasterio.open(p) as f:
            arrs.append(f.read())
    top = np.iinfo(arrs[0].dtype).max
    h, w = arrs[0].shape[-2:]
    mo = ms.multiple_of
    ph, pw = -h % mo, -w % mo
    n = len(arrs)
    centre = n // 2
    t0 = time.perf_counter()
    try:
        with torch.inference_mode():
            for t in range(n):
                idx = time_window(t, n, ms.frames_in, ms.time_padding) if ms.frames_in > 1 else [t]
                x = np.stack([arrs[i] for i in idx]).astype(np.float32) / top
                if ph or pw:
                    x = np.pad(x, ((0, 0), (0, 0), (0, ph), (0, pw)), mode="reflect")
                xt = torch.from_numpy(x).to(dev)
                y = model(xt[None] if ms.frames_in > 1 else xt)[0][..., : h * ms.scale, : w * ms.scale]
                y = y.clamp(0, 1).mul(top).round().cpu().numpy().astype(arrs[0].dtype)
                if t == centre:
                    np.save(Path(spec["workdir"]) / f"seed_{spec['kind']}_{spec['size']}_{spec['model']}.npy", y)
        if dev.type == "cuda":
            torch.cuda.synchronize()
    except Exception as err:  # noqa: BLE001
        if is_out_of_memory(err):
            return {"error": f"out of memory on {dev} for a whole {h} x {w} frame", **_peak()}
        raise
    wall = time.perf_counter() - t0
    return {"seed_s": wall, "output_mpx": n * h * w * ms.scale**2 / 1e6, **_peak()}


def child_peer_input(spec: dict) -> dict:
    """The centre output frame's input for a peer: ``(T, C, H, W)`` or ``(C, H, W)`` float32 in [0, 1]."""
    import numpy as np
    import rasterio

    from satsr import models
    from satsr.tiling import time_window

    ms = models.get_spec(spec["model"])
    arrs = []
    for p in spec["frames"]:
        with rasterio.open(p) as f:
            arrs.append(f.read())
    n = len(arrs)
    idx = time_window(n // 2, n, ms.frames_in, ms.time_padding) if ms.frames_in > 1 else [n // 2]
    x = np.stack([arrs[i] for i in idx]).astype(np.float32) / np.iinfo(arrs[0].dtype).max
    np.save(spec["path"], x if ms.frames_in > 1 else x[0])
    return {"shape": list(x.shape), "dtype": str(arrs[0].dtype), "halo": ms.halo, "scale": ms.scale}


def child_peer_seam(spec: dict) -> dict:
    import numpy as np

    ref = np.load(spec["ref"])
    top = np.iinfo(ref.dtype).max
    got = np.clip(np.load(spec["pred"]), 0, 1) * top
    got = np.round(got).astype(ref.dtype)
    return _seam(got, ref, spec["border"])


def child_psnr(spec: dict) -> dict:
    """PSNR (dB, peak = the stored dtype's maximum) and max difference of one way's output against another's."""
    import numpy as np

    a, ref = np.load(spec["pred"]), np.load(spec["ref"])
    d = a.astype(np.float64) - ref.astype(np.float64)
    mse = float((d**2).mean())
    peak = float(np.iinfo(ref.dtype).max)
    return {"psnr_db": math.inf if mse == 0 else 10 * math.log10(peak**2 / mse), "max_diff": float(np.abs(d).max())}


CHILDREN = {"gen": child_gen, "psnr": child_psnr, "e2e": child_e2e, "bare": child_bare, "seed": child_seed,
            "peer_input": child_peer_input, "peer_seam": child_peer_seam}


# =============================================================================================================
# parent (stdlib only: a child started by vfork+exec inherits the parent's ru_maxrss)
# =============================================================================================================
def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def spawn(role: str, spec: dict, scratch: Path, python: str = sys.executable, timeout: float | None = None) -> dict:
    fd, sp = tempfile.mkstemp(prefix=f"{role}-", suffix=".json", dir=scratch)
    os.close(fd)
    rp = sp[:-5] + ".result.json"
    Path(sp).write_text(json.dumps(spec))
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([python, str(Path(__file__).resolve()), "--child", role, sp, rp], cwd=REPO,
                              timeout=timeout)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        rc = "timeout"
    try:
        if rc == 0:
            return json.loads(Path(rp).read_text())
        return {"error": f"{role} failed (exit {rc}) after {time.perf_counter() - t0:.0f} s"}
    finally:
        Path(sp).unlink(missing_ok=True)
        Path(rp).unlink(missing_ok=True)


def run_peer(peer: str, model: str, workdir: Path, python: Path, timeout: float | None) -> dict:
    base = workdir / f"peer_{peer}_{model}"
    cmd = [str(python), str(HERE / "peers" / "run_peer.py"), "--peer", peer, "--model", model, "--input",
           str(workdir / f"peer_in_{model}.npy"), "--out", f"{base}.json", "--save", f"{base}.npy", "--workdir",
           str(workdir / f"peer_tmp_{peer}")]
    try:
        proc = subprocess.run(cmd, cwd=REPO, timeout=timeout, capture_output=True, text=True)
    except subprocess.TimeoutExpired:
        return {"error": "timeout"}
    res = json.loads(Path(f"{base}.json").read_text()) if Path(f"{base}.json").exists() else {}
    if proc.returncode != 0:
        res.setdefault("error", (proc.stderr or proc.stdout).strip().splitlines()[-1:] or f"exit {proc.returncode}")
    res["pred"] = f"{base}.npy"
    return res


def fmt(v, spec: str = ".2f") -> str:
    return "-" if v is None else format(v, spec)


def table(rows: list[dict]) -> str:
    lines = ["| model | way | precision | scene | Mpx/s | bare Mpx/s | ratio | model busy | TFLOP/s | peak RSS MB "
             "| peak device MB | seam max | seam RMS |", "|---|---|---|---|" + "---:|" * 9]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['way']} | {r.get('precision', '-')} | {r['scene']} | {fmt(r.get('mpx_s'), '.3f')} | "
            f"{fmt(r.get('bare_mpx_s'), '.3f')} | {fmt(r.get('ratio'), '.3f')} | {fmt(r.get('busy'), '.3f')} | "
            f"{fmt(r.get('tflops_s'), '.3f')} | "
            f"{fmt(r.get('peak_rss_mb'), '.0f')} | {fmt(r.get('peak_device_mb'), '.0f')} | "
            f"{fmt(r.get('seam_max'), '.0f')} | {fmt(r.get('seam_rms'), '.3f')} |" + (
                f" {r['error']}" if r.get("error") else "") + (" (random weights)" if r.get("note") else ""))
    return "\n".join(lines)


def targets(checks: dict) -> str:
    """The issue's two targets in words: flat memory, and the cheap network's upscale against its bare forward."""
    out = []
    m = checks.get("memory_flat")
    if m:
        rss = m["peak_rss_mb"]
        out.append(f"memory flat: {m['model']} peak RSS {rss[m['large']]:.0f} MB at {m['large']} px / "
                   f"{rss[m['small']]:.0f} MB at {m['small']} px = {m['ratio']:.3f} (target <= {TARGET_FLAT}): "
                   f"{'met' if m['ok'] else 'NOT met'}")
    for key, c in checks.get("cheap_upscale_over_bare", {}).items():
        out.append(f"cheap network: {key} upscale / bare forward = {c['ratio']:.3f} (target >= {TARGET_RATIO}): "
                   f"{'met' if c['ok'] else 'NOT met'}")
    return "\n".join(out)


def vs_defaults(a: argparse.Namespace, cases: dict, device: str, work: Path, results: dict, step) -> int:
    """``--vs-defaults``: fp32 with the case's tile against the defaults, alternated in one run."""
    compile_ = {"auto": "auto", "on": True, "off": False}[a.compile]
    rows = results["rows"]
    for model, (size, frames, tile) in cases.items():
        kind = "jilin" if model not in ("bicubic", "bilinear", "nearest", "rgtgan") else "landsat"
        frames = (a.frames or frames) if kind == "jilin" else 1
        size, tile = a.size or size, a.tile or tile
        base = {"model": model, "size": size, "frames": frames, "tile": tile, "kind": kind, "device": device,
                "data": str(a.data), "workdir": str(work), "batch": a.batch, "compile": compile_}
        base["frames"] = step("gen", base)["frames"]
        ways = {"fp32": {"precision": "fp32", "tile": tile}, "defaults": {"precision": "auto", "tile": None}}
        runs: dict[str, list[dict]] = {w: [] for w in ways}
        for i in range(a.repeat):
            for w, kw in (ways.items() if i % 2 == 0 else reversed(ways.items())):  # ABBA: drift hits both
                log(f"{model} {size}x{size}x{frames}: {w} (run {i + 1} of {a.repeat})")
                keep = str(work / f"keep_{model}_{w}.npy") if i == 0 else None
                runs[w].append(step("e2e", {**base, **kw, "tag": f"{model}_{w}", "keep": keep}))
        errors = [r["error"] for rs in runs.values() for r in rs if "error" in r]
        row = {"model": model, "scene": f"{size}x{size}x{frames}", "kind": kind, "raw": runs}
        if errors:
            row["error"] = errors[0]
        else:
            for w, rs in runs.items():
                times = sorted(r["e2e_s"] for r in rs)
                row[w] = {"e2e_s": times[len(times) // 2] if len(times) % 2 else sum(times[len(times) // 2 - 1:
                          len(times) // 2 + 1]) / 2, "all_s": times, "precision": rs[0]["precision"],
                          "tile": rs[0]["tile"], "windows": [json.loads(k)[0] for k in rs[0]["forwards"]],
                          "forwards": sum(rs[0]["forwards"].values()), "peak_rss_mb": max(r["peak_rss_mb"] for r in rs),
                          "mpx_s": rs[0]["output_mpx"] * len(times) / sum(times)}
            row["speedup"] = row["fp32"]["e2e_s"] / row["defaults"]["e2e_s"]
            row.update(step("psnr", {"pred": str(work / f"keep_{model}_defaults.npy"),
                                     "ref": str(work / f"keep_{model}_fp32.npy")}))
        rows.append(row)
    results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(results, indent=1, default=str))
    print("| model | scene | way | precision | tile | e2e s (median) | Mpx/s | peak RSS MB | speedup | PSNR dB |\n"
          "|---|---|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        if r.get("error"):
            print(f"| {r['model']} | {r['scene']} | error: {r['error']} |")
            continue
        for w in ("fp32", "defaults"):
            x = r[w]
            print(f"| {r['model']} | {r['scene']} | {w} | {x['precision']} | {x['tile']} | {x['e2e_s']:.1f} | "
                  f"{x['mpx_s']:.3f} | {x['peak_rss_mb']:.0f} | {'1' if w == 'fp32' else format(r['speedup'], '.2f')} "
                  f"| {'reference' if w == 'fp32' else format(r['psnr_db'], '.1f')} |")
    print(f"\nJSON: {a.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        sys.path.insert(0, str(REPO))
        spec = json.loads(Path(argv[2]).read_text())
        Path(argv[3]).write_text(json.dumps(CHILDREN[argv[1]](spec), default=str))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--preset", choices=["cpu", "gpu"], default=None,
                    help="cpu: small cases for a 2-core machine (default without a GPU); gpu: 4096 x 4096 x 7 "
                         "frames for lgtd, mtdo, lgtd-s, lgfn and bicubic (default with one)")
    ap.add_argument("--models", default=None, help="comma-separated subset of the preset's models, or others "
                    "with --size/--frames/--tile")
    ap.add_argument("--size", type=int, default=None, help="override the scene size (px, square)")
    ap.add_argument("--frames", type=int, default=None, help="override the frame count of video models")
    ap.add_argument("--tile", type=int, default=None, help="override the tile size")
    ap.add_argument("--batch", type=int, default=None, help="tiles per forward (default: the runner's choice)")
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    ap.add_argument("--precision", default=None, help="comma-separated (default: fp32 on cpu; bf16,fp32 on cuda)")
    ap.add_argument("--compile", choices=["auto", "on", "off"], default="auto")
    ap.add_argument("--peers", default="seed,opensr-utils,sen2sr",
                    help="ways to compare against: seed (the seed repos' whole-frame fp32 way), opensr-utils, "
                         "sen2sr (these two need benchmarks/peers/setup_env.sh); empty for none")
    ap.add_argument("--peers-python", type=Path, default=PEERS_PY)
    ap.add_argument("--skip-satsr", action="store_true", help="only the seed way and the peers (e.g. to add peers "
                    "to an earlier run's JSON by hand)")
    ap.add_argument("--flat", default="bicubic:2048,8192",
                    help="MODEL:SMALL,LARGE peak-memory flatness check (e2e at both sizes); empty to skip")
    ap.add_argument("--bare-max-forwards", type=int, default=64, help="time at most this many forwards, extrapolate")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--workdir", type=Path, default=None, help="inputs and outputs (default: a temporary folder)")
    ap.add_argument("--wait-idle", type=float, default=0.0, help="wait up to this many s for idle CPUs per step")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per child process")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--vs-defaults", action="store_true",
                    help="only this: per model, fp32 at --tile against the defaults (precision 'auto', the default "
                         "tile), end to end, alternated --repeat times in one run; speed ratio and PSNR between them")
    ap.add_argument("--repeat", type=int, default=2, help="runs of each way with --vs-defaults (median time)")
    a = ap.parse_args(argv)

    probe = subprocess.run([sys.executable, "-c", "import torch;print(int(torch.cuda.is_available()))"],
                           capture_output=True, text=True)
    has_cuda = probe.stdout.strip() == "1"
    device = a.device or ("cuda" if has_cuda else "cpu")
    preset = a.preset or ("gpu" if device.startswith("cuda") else "cpu")
    cases = dict(CPU_CASES if preset == "cpu" else GPU_CASES)
    if a.models:
        names = [m for m in a.models.split(",") if m]
        cases = {m: cases.get(m, (a.size or 256, a.frames or 7, a.tile or 256)) for m in names}
    precisions = (a.precision or ("bf16,fp32" if device.startswith("cuda") else "fp32")).split(",")
    compile_ = {"auto": "auto", "on": True, "off": False}[a.compile]
    peers = [p for p in a.peers.split(",") if p]
    work = a.workdir or Path(tempfile.mkdtemp(prefix="satsr-run-"))
    work.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="satsr-run-spec-"))
    results: dict = {
        "benchmark": "run", "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": " ".join(sys.argv),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "device": device,
                    "cpu": platform.processor() or platform.machine()},
        "source": source_state(), "preset": preset, "rows": [], "checks": {},
    }
    rows = results["rows"]

    def step(role: str, spec: dict, **kw) -> dict:
        waited = wait_idle(a.wait_idle)
        pressure = cpu_pressure()
        res = spawn(role, spec, scratch, timeout=a.timeout, **kw)
        res.update(waited_s=waited, cpu_pressure_before=pressure)
        return res

    if a.vs_defaults:
        return vs_defaults(a, cases, device, work, results, step)

    def one_case(model: str, size: int, frames: int, tile: int, ways: list[str]) -> None:
        from_model = {"lgtd", "lgtd-s", "lgtd-arc", "mtdo", "lgfn", "mstt", "mstt-40"}
        kind = "jilin" if model in from_model else "landsat"
        frames = (a.frames or frames) if kind == "jilin" else 1
        size, tile = a.size or size, a.tile or tile
        base = {"model": model, "size": size, "frames": frames, "tile": tile, "kind": kind, "device": device,
                "data": str(a.data), "workdir": str(work), "batch": a.batch, "compile": compile_}
        gen = step("gen", base)
        if "error" in gen:
            rows.append({"model": model, "way": "inputs", "scene": "-", "error": gen["error"]})
            return
        base["frames"] = gen["frames"]
        scene = f"{size}x{size}x{frames}"
        seed = None
        if "seed" in ways:
            log(f"{model} {scene}: seed way (whole frames, fp32)")
            seed = step("seed", {**base, "precision": "fp32"})
            rows.append({"model": model, "way": "seed repos (whole frame, fp32)", "precision": "fp32",
                         "scene": scene, "mpx_s": seed.get("output_mpx", 0) / seed["seed_s"] if "seed_s" in seed
                         else None, **{k: seed.get(k) for k in ("peak_rss_mb", "peak_device_mb", "error")},
                         "seam_max": 0.0 if "seed_s" in seed else None, "seam_rms": 0.0 if "seed_s" in seed else None})
        for prec in [] if a.skip_satsr else precisions:
            log(f"{model} {scene} {prec}: satsr end to end")
            e2e = step("e2e", {**base, "precision": prec, "tag": f"{model}_{size}_{prec}"})
            row = {"model": model, "way": "satsr e2e", "precision": prec, "scene": scene, "raw_e2e": e2e}
            if "error" not in e2e:
                row.update(mpx_s=e2e["output_mpx"] / e2e["e2e_s"], peak_rss_mb=e2e["peak_rss_mb"],
                           peak_device_mb=e2e.get("peak_device_mb"), seam_max=e2e.get("seam_max"),
                           seam_rms=e2e.get("seam_rms"), precision=e2e["precision"],
                           busy=e2e["forward_busy_s"] / e2e["e2e_s"])
                if not e2e.get("trained"):
                    untrained.add(model)
                log(f"{model} {scene} {prec}: bare forward")
                bare = step("bare", {**base, "precision": prec, "forwards": e2e["forwards"],
                                     "bare_max_forwards": a.bare_max_forwards})
                row["raw_bare"] = bare
                if "error" in bare:
                    row["error"] = "bare: " + bare["error"]
                else:
                    row.update(bare_mpx_s=e2e["output_mpx"] / bare["bare_s"], tflops_s=bare["tflops_s"],
                               peak_share=bare.get("peak_share"))
                    row["ratio"] = row["mpx_s"] / row["bare_mpx_s"]
            else:
                row["error"] = e2e["error"]
            rows.append(row)
            if model == CHEAP and row.get("bare_mpx_s"):
                log(f"{model} {scene} {prec}: satsr upscale without writing")
                up = step("e2e", {**base, "precision": prec, "tag": f"{model}_{size}_{prec}_upscale", "write": False})
                urow = {"model": model, "way": "satsr upscale (no file)", "precision": prec, "scene": scene,
                        "raw_e2e": up}
                if "error" in up:
                    urow["error"] = up["error"]
                else:
                    urow.update(mpx_s=up["output_mpx"] / up["e2e_s"], peak_rss_mb=up["peak_rss_mb"],
                                peak_device_mb=up.get("peak_device_mb"), precision=up["precision"],
                                busy=up["forward_busy_s"] / up["e2e_s"], bare_mpx_s=row["bare_mpx_s"])
                    urow["ratio"] = urow["mpx_s"] / urow["bare_mpx_s"]
                rows.append(urow)
            if seed and "seed_s" in seed and "mpx_s" in row:
                row["speedup_over_seed"] = row["mpx_s"] / (seed["output_mpx"] / seed["seed_s"])
        # the peers take registered names in their own environment; the cheap network is a module of this script
        peer_ways = [p for p in ways if p in ("opensr-utils", "sen2sr")] if model != CHEAP else []
        if peer_ways and not a.peers_python.exists():
            for p in peer_ways:
                rows.append({"model": model, "way": p, "scene": scene,
                             "error": f"no peer environment ({a.peers_python}); run benchmarks/peers/setup_env.sh"})
            peer_ways = []
        if peer_ways:
            info = step("peer_input", {**base, "path": str(work / f"peer_in_{model}.npy")})
            ref = work / f"seed_{kind}_{size}_{model}.npy"
            for p in peer_ways:
                log(f"{model} {scene}: peer {p} (centre frame)")
                wait_idle(a.wait_idle)
                r = run_peer(p, model, work, a.peers_python, a.timeout)
                row = {"model": model, "way": p, "precision": "fp32", "scene": f"{size}x{size}x1 (centre)",
                       "mpx_s": r.get("output_mpx_s"), "peak_rss_mb": r.get("peak_rss_mb"),
                       "peak_device_mb": r.get("peak_cuda_mb"), "error": r.get("error"), "raw_peer": r}
                if not r.get("error") and ref.exists() and Path(r["pred"]).exists():
                    row.update(spawn("peer_seam", {"ref": str(ref), "pred": r["pred"],
                                                   "border": info["halo"] * info["scale"]}, scratch))
                rows.append(row)

    untrained: set[str] = set()
    for model, (size, frames, tile) in cases.items():
        one_case(model, size, frames, tile, peers)
    for r in rows:  # a random network's output is no image: 0/255 clipping turns tiny differences into full swings
        if r["model"] in untrained and r.get("seam_max") is not None and r["way"] != "seed repos (whole frame, fp32)":
            r["seam_untrained"] = (r.pop("seam_max"), r.pop("seam_rms"))
            r["note"] = "seam not scored: random weights (no published checkpoint), the output is not an image"
    if a.flat:
        fm, sizes = a.flat.split(":")
        small, large = (int(v) for v in sizes.split(","))
        peaks = {}
        for size in (small, large):
            spec = {"model": fm, "size": size, "frames": 1, "tile": 256, "kind": "landsat", "device": device,
                    "data": str(a.data), "workdir": str(work), "batch": a.batch, "compile": compile_}
            spec["frames"] = step("gen", spec)["frames"]
            log(f"flatness: {fm} {size}x{size}")
            e = step("e2e", {**spec, "precision": precisions[0], "tag": f"flat_{fm}_{size}"})
            peaks[size] = e.get("peak_rss_mb")
            rows.append({"model": fm, "way": "satsr e2e (memory)", "precision": precisions[0],
                         "scene": f"{size}x{size}x1", "mpx_s": e.get("output_mpx", 0) / e["e2e_s"] if "e2e_s" in e
                         else None, "peak_rss_mb": e.get("peak_rss_mb"), "peak_device_mb": e.get("peak_device_mb"),
                         "error": e.get("error")})
        if peaks.get(small) and peaks.get(large):
            results["checks"]["memory_flat"] = {"model": fm, "small": small, "large": large,
                                                "peak_rss_mb": peaks, "ratio": peaks[large] / peaks[small],
                                                "ok": peaks[large] / peaks[small] <= TARGET_FLAT}
    e2e_rows = [r for r in rows if r["way"] == "satsr e2e" and r.get("ratio")]
    results["checks"]["e2e_over_bare"] = {r["model"] + "/" + r["precision"]: {
        "ratio": r["ratio"], "ok": r["ratio"] >= TARGET_RATIO} for r in e2e_rows}
    results["checks"]["cheap_upscale_over_bare"] = {r["model"] + "/" + r["precision"]: {
        "ratio": r["ratio"], "ok": r["ratio"] >= TARGET_RATIO}
        for r in rows if r["way"] == "satsr upscale (no file)" and r.get("ratio")}
    results["checks"]["bf16_over_seed_fp32"] = {r["model"]: {
        "speedup": r["speedup_over_seed"], "ok": r["speedup_over_seed"] >= TARGET_BF16_OVER_SEED}
        for r in e2e_rows if r["precision"] == "bf16" and r.get("speedup_over_seed")}
    for r in rows:
        if r.get("seam_max") is not None and r["way"] in ("opensr-utils", "sen2sr"):
            mine = next((x for x in e2e_rows if x["model"] == r["model"] and x.get("seam_max") is not None), None)
            if mine:
                results["checks"].setdefault("vs_peers", {})[f"{r['model']}/{r['way']}"] = {
                    "faster": (mine["mpx_s"] or 0) > (r["mpx_s"] or math.inf),
                    "seam_not_worse": mine["seam_max"] <= r["seam_max"]}
    results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(results, indent=1, default=str))
    print(table(rows))
    print(f"\nchecks: {json.dumps(results['checks'], indent=1)}")
    print(targets(results["checks"]))
    print(f"JSON: {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
