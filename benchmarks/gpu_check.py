"""One call that measures what only a GPU can tell: run it once in a session with a lent GPU (under 10 minutes).

```bash
.venv/bin/python benchmarks/gpu_check.py                                   # CUDA: benchmarks/results/gpu.json
.venv/bin/python benchmarks/gpu_check.py --device cpu --quick --out /tmp/gpu.json   # the same on a CPU crop (CI)
```

For every shipped model (a registered model whose weights ship with satsr), on the 7 real Jilin-1 LR frames
mirror-tiled to ``--size`` (float32 in [0, 1], so that outputs keep the model's own precision). The space-time model
(``mstt-s``) makes all its frames, those in between included; the reference-based model (``rgtgan-s``) is given the
Jilin-1 HR of frame 0 as its reference (a sharp image of the same place from another time), mirror-tiled alike:

* **throughput**: fp32, bf16, fp16 and compiled (``compile=True`` in the device's default precision) through
  ``satsr.upscale`` (output Mpx/s: spatial output pixels of every frame over the wall time of ``.values``, after a
  one-frame warm-up run that also compiles), and the **bare** forward (the same runner, window shape and batch,
  real windows already on the device: the job's windows over the batch, times one forward's time); peak GPU
  memory (``torch.cuda.max_memory_allocated``) of each run.
* **accuracy**: PSNR (dB, peak 1) of bf16, fp16 and compiled against fp32 through ``satsr.upscale``, and of the
  compiled way against eager in its own precision.
* **seed way**: what the seed repos' test scripts do: one fp32 eager forward of each whole frame (reflect-padded to
  the model's multiple, no tiling); Mpx/s, peak memory, and the PSNR of satsr's tiled fp32 output against it. For
  models that make one frame from frames; the space-time and reference-based models are skipped there, with the
  reason (their whole-frame ways are ``bench_mstt.py``'s and ``bench_rgtgan.py``'s).
* **oom** (CUDA only): the allocator is capped (``torch.cuda.set_per_process_memory_fraction``) below what one
  window of a tile the size of the frame needs; the runner must back off (halve the batch, split the window) and
  recover, its output matching the uncapped run's.
* **compile**: the first compiled batch's time (compiling plus one forward) and the compiled bare forward's
  speedup over eager in the same precision: the constants of ``satsr.engine.COMPILE_COST``.

Each section has a time budget (``--budget``); a case that would start past its section's budget is skipped, with
the reason in the JSON, and the JSON is rewritten after every case, so an interrupted run leaves what it measured.
On the CPU, what needs CUDA (peak GPU memory, the capped allocator) is skipped with the reason.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATA = Path(os.environ.get("SATSR_TEST_DATA", REPO.parent / "shared" / "data"))
DEFAULT_OUT = HERE / "results" / "gpu.json"

#: Seconds per section: on a GPU (the whole run stays under 10 minutes), and with ``--quick``.
BUDGETS = {"throughput": 330.0, "seed": 60.0, "oom": 90.0}
QUICK_BUDGETS = {"throughput": 240.0, "seed": 30.0, "oom": 30.0}
#: The ways of the throughput section: (precision, compile); ``None``: the device's default precision. In this
#: order: fp32 is every comparison's reference, and compiling (the slowest case) comes before fp16 (the least
#: used), so that a budget spent early loses the least.
WAYS: dict[str, tuple[str | None, bool]] = {
    "fp32": ("fp32", False), "bf16": ("bf16", False), "compiled": (None, True), "fp16": ("fp16", False)}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Budget:
    """A section's time limit: ``left()`` seconds remain of ``seconds`` from the section's start."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.t0 = seconds, time.perf_counter()

    def left(self) -> float:
        return self.seconds - (time.perf_counter() - self.t0)


def psnr(a: np.ndarray, ref: np.ndarray, peak: float = 1.0) -> float | None:
    """PSNR in dB of ``a`` against ``ref``; ``None`` where they are identical (infinite, not valid JSON)."""
    mse = float(np.mean((a.astype(np.float64) - ref.astype(np.float64)) ** 2))
    return None if mse == 0 else 10 * math.log10(peak**2 / mse)


def compare(a: np.ndarray, ref: np.ndarray) -> dict[str, Any]:
    p = psnr(a, ref)
    return {"psnr_db": p, "identical": p is None, "max_abs_diff": float(np.abs(a - ref).max())}


# -- data ----------------------------------------------------------------------------------------------------
def _mirror(n: int, m: int) -> np.ndarray:
    """Indices that tile ``n`` pixels from ``m`` by symmetric mirroring (the edge pixel repeated): ``0..m-1,
    m-1..0, 0..``. At ``scale`` times the size it maps each LR pixel's mirror onto that pixel's HR block."""
    i = np.mod(np.arange(n), 2 * m)
    return np.where(i < m, i, 2 * m - 1 - i)


def jilin_stack(size: int, frames: int):
    """The real Jilin-1 LR frames mirror-tiled to ``size x size``, float32 in [0, 1], as a georeferenced stack."""
    import xarray as xr
    from PIL import Image

    from satsr.geo import Grid
    from satsr.io.coords import assign_grid
    from satsr.testing import JILIN1_CRS, JILIN1_TRANSFORM

    paths = sorted((DATA / "jilin1_airport" / "LR4x").glob("*.png"))[:frames]
    if not paths:
        raise SystemExit(f"no Jilin-1 frames under {DATA / 'jilin1_airport' / 'LR4x'} (set SATSR_TEST_DATA)")
    arr = np.stack([np.asarray(Image.open(p).convert("RGB")).transpose(2, 0, 1) for p in paths])
    h, w = arr.shape[-2:]
    arr = arr[..., _mirror(size, h)[:, None], _mirror(size, w)[None, :]].astype(np.float32) / 255
    da = xr.DataArray(arr, dims=("time", "band", "y", "x"), coords={"time": np.arange(len(arr)), "band": [1, 2, 3]})
    return assign_grid(da, Grid((size, size), JILIN1_TRANSFORM, JILIN1_CRS))  # the PNGs have none


def jilin_reference(size: int, scale: int = 4):
    """The Jilin-1 HR of frame 0, mirror-tiled to ``scale * size`` on the LR stack's grid at ``scale`` times its
    resolution: a reference-based model's sharp image of the same place from another time (float32 in [0, 1])."""
    import xarray as xr
    from affine import Affine
    from PIL import Image

    from satsr.geo import Grid
    from satsr.io.coords import assign_grid
    from satsr.testing import JILIN1_CRS, JILIN1_TRANSFORM

    path = DATA / "jilin1_airport" / "GT" / "00000000.png"
    if not path.is_file():
        raise SystemExit(f"no Jilin-1 HR frame at {path} (set SATSR_TEST_DATA)")
    hr = np.asarray(Image.open(path).convert("RGB")).transpose(2, 0, 1)
    n, (h, w) = scale * size, hr.shape[-2:]
    arr = hr[:, _mirror(n, h)[:, None], _mirror(n, w)[None, :]].astype(np.float32) / 255
    da = xr.DataArray(arr, dims=("band", "y", "x"), coords={"band": [1, 2, 3]})
    return assign_grid(da, Grid((n, n), JILIN1_TRANSFORM * Affine.scale(1 / scale), JILIN1_CRS))


def shipped_models() -> list[str]:
    """Registered models whose weights ship with satsr (``satsr/weights``)."""
    from satsr import models
    from satsr.models.registry import bundled_weights

    return [n for n in models.list_models() if bundled_weights(models.get_spec(n)) is not None]


def no_seed_way(name: str) -> str | None:
    """Why the seed-way section leaves a shipped model out (it runs models of one output frame), or ``None``."""
    from satsr import models

    spec = models.get_spec(name)
    if spec.needs_reference:
        return ("a reference-based model: its whole-frame way pairs the reference first "
                "(benchmarks/bench_rgtgan.py times it)")
    if spec.time_scale > 1:
        return "a space-time model: one forward gives several frames (benchmarks/bench_mstt.py times the whole way)"
    return None


# -- sections ------------------------------------------------------------------------------------------------
class Check:
    def __init__(self, a: argparse.Namespace) -> None:
        import torch

        self.a, self.torch = a, torch
        self.dev = torch.device(a.device)
        self.cuda = self.dev.type == "cuda"
        self.res: dict[str, Any] = {"meta": {}, "models": [], "throughput": {}, "accuracy": {}, "seed": {},
                                    "oom": {}, "compile": {}, "skipped": {}}
        # (model, way) -> e2e output: fp32's (the reference) and the default precision's (the compiled way's), only
        self.outputs: dict[tuple[str, str], np.ndarray] = {}
        self.reference = None  # the reference image of reference-based models (jilin_reference), made when needed

    def save(self) -> None:
        out = Path(self.a.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.res, indent=1))
        os.replace(tmp, out)

    def sync(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize(self.dev)

    def reset_peak(self) -> None:
        if self.cuda:
            self.torch.cuda.empty_cache()
            self.torch.cuda.reset_peak_memory_stats(self.dev)

    def peak_mb(self) -> float | None:
        return self.torch.cuda.max_memory_allocated(self.dev) / 2**20 if self.cuda else None

    def upscale_kw(self, model: str) -> dict[str, Any]:
        """What ``satsr.upscale`` needs besides the stack for this model: a reference-based model's reference."""
        from satsr import models

        if not models.get_spec(model).needs_reference:
            return {}
        if self.reference is None:
            self.reference = jilin_reference(self.a.size, models.get_spec(model).scale)
        return {"reference": self.reference}

    @staticmethod
    def first(da, model: str):
        """The shortest stack this model runs on: one frame, or two for a space-time model (one interval)."""
        from satsr import models

        return da.isel(time=slice(0, 2 if models.get_spec(model).time_scale > 1 else 1))

    def runner(self, model: str, precision: str, compile_: bool):
        from satsr.engine import make_runner

        # the per-process cache: the very runner satsr.upscale used with these options
        return make_runner(model, None, None, self.dev, None, None, precision, compile_, None)

    # -- throughput and accuracy --------------------------------------------------------------------------------
    def throughput(self, model: str, da, budget: Budget) -> None:
        import satsr
        from satsr import models
        from satsr.engine import resolve_precision

        spec = models.get_spec(model)
        rows = self.res["throughput"].setdefault(model, {})
        default = resolve_precision("auto", self.dev, spec.cpu_bf16)
        for way, (precision, compile_) in WAYS.items():
            if way in self.a.skip:
                rows[way] = {"skipped": "--skip"}
                continue
            if budget.left() <= 0:
                rows[way] = {"skipped": f"throughput budget ({budget.seconds:.0f} s) spent"}
                continue
            p = precision or default
            log(f"{model}: {way} ({p}{', compiled' if compile_ else ''})")
            row: dict[str, Any] = {"precision": p, "compile": compile_}
            try:
                kw = dict(device=str(self.dev), precision=p, compile=compile_, **self.upscale_kw(model))
                t0 = time.perf_counter()
                satsr.upscale(self.first(da, model), model, **kw).compute()  # warm-up (and compile): one frame
                self.sync()
                row["warmup_s"] = time.perf_counter() - t0
                self.reset_peak()
                t0 = time.perf_counter()
                sr = satsr.upscale(da, model, **kw)
                out = sr.values
                self.sync()
                row["e2e_s"] = time.perf_counter() - t0
            except Exception as err:  # noqa: BLE001 (a way that fails is a result)
                rows[way] = {**row, "error": f"{type(err).__name__}: {err}"[:500]}
                self.save()
                continue
            mpx = out.shape[0] * out.shape[-2] * out.shape[-1] / 1e6
            row.update(output_mpx=mpx, e2e_mpx_s=mpx / row["e2e_s"], peak_gpu_mb=self.peak_mb(),
                       tile=int(sr.attrs["satsr_tile"]))
            runner = self.runner(model, p, compile_)
            row.update(compile_state=runner.compile_state, compile_s=runner.compile_seconds,
                       events=list(runner.events)[-8:])
            row.update(self.bare(model, runner, da, row))
            if row.get("bare_mpx_s"):
                row["ratio"] = row["e2e_mpx_s"] / row["bare_mpx_s"]
            rows[way] = row
            acc = self.res["accuracy"].setdefault(model, {})
            ref = self.outputs.get((model, "fp32"))
            if way != "fp32" and ref is not None:
                acc[f"{way}_vs_fp32"] = compare(out, ref)
            eager = self.outputs.get((model, default))
            if way == "compiled" and eager is not None:
                acc[f"compiled_vs_eager_{default}"] = compare(out, eager)
            if way in ("fp32", default):  # what later ways are compared with; the others are let go
                self.outputs[(model, way)] = out
            del out, sr
            self.save()
        comp, eager_row = rows.get("compiled", {}), rows.get(default, {})
        if comp.get("bare_forward_s") and eager_row.get("bare_forward_s"):
            self.res["compile"][model] = {
                "precision": default, "compile_s": comp.get("compile_s"), "compile_state": comp.get("compile_state"),
                "speedup_bare": eager_row["bare_forward_s"] / comp["bare_forward_s"],
                "speedup_e2e": comp["e2e_mpx_s"] / eager_row["e2e_mpx_s"],
                "note": "compile_s is the first compiled batch (compiling plus one forward); these are the "
                        "constants of satsr.engine.COMPILE_COST for this device type"}
        self.save()

    def bare(self, model: str, runner, da, row: dict) -> dict[str, Any]:
        """The job's forwards without the pipeline: one full batch of real windows, timed on the device."""
        import torch

        from satsr.engine import thread_plan
        from satsr.tiling import space_time_windows, time_window

        window = runner._job_window  # the job's window shape, and the most windows one of its tasks sent
        if window is None:
            return {"bare_error": "the job ran no forward"}
        batch = min(runner.choose_batch(window), runner._job_batch or 10**9)
        spec = runner.spec
        f = spec.frames_in
        n = int(da.sizes["time"])
        if spec.time_scale > 1:  # a space-time window: the job's first (frames repeated at the end when fewer)
            idx = space_time_windows(n, f, spec.time_scale)[0][0]
        else:
            idx = time_window(n // 2, n, f, spec.time_padding) if f > 1 else [n // 2]
        frames = np.asarray(da.values[idx])  # (f, C, H, W) real pixels, the centre frame's window in time
        wh, ww = window[-2:]
        pad = max(0, wh - frames.shape[-2] + batch, ww - frames.shape[-1] + batch)
        src = np.pad(frames, ((0, 0), (0, 0), (0, pad), (0, pad)), mode="reflect") if pad else frames
        wins = [src[..., i : i + wh, i : i + ww] for i in range(batch)]  # shifted real windows
        x = np.stack(wins if f > 1 else [w[0] for w in wins]).astype(np.float32)
        xs = [runner._layout(torch.from_numpy(x).to(self.dev))]
        if spec.needs_reference:  # the reference windows at the same places, scale times larger
            s = spec.scale
            ref = np.asarray(self.upscale_kw(model)["reference"].values, dtype=np.float32)
            rpad = max(0, s * (wh + batch) - ref.shape[-2], s * (ww + batch) - ref.shape[-1])
            ref = np.pad(ref, ((0, 0), (0, rpad), (0, rpad)), mode="reflect") if rpad else ref
            r = np.stack([ref[:, s * i : s * (i + wh), s * i : s * (i + ww)] for i in range(batch)])
            xs.append(runner._layout(torch.from_numpy(np.ascontiguousarray(r)).to(self.dev)))
        thread_plan(self.dev).apply_torch()
        windows = row["windows"] = self.job_windows(da, row["tile"], spec)
        with torch.inference_mode():
            runner._run_model(*xs)  # warm-up (compiled already, at this shape, for the compiled way)
            self.sync()
            reps, t0 = 0, time.perf_counter()
            while reps < self.a.reps or (reps < 50 and time.perf_counter() - t0 < self.a.bare_seconds):
                runner._run_model(*xs)
                self.sync()
                reps += 1
            per = (time.perf_counter() - t0) / reps
        bare_s = per * windows / batch
        return {"batch": batch, "window": list(window), "bare_reps": reps, "bare_forward_s": per,
                "bare_s": bare_s, "bare_mpx_s": row["output_mpx"] / bare_s}

    @staticmethod
    def job_windows(da, tile: int, spec) -> int:
        """Model windows of the job: tiles per frame times the time windows."""
        from satsr.tiling import space_time_windows

        n_t, _, h, w = da.shape
        t = -(-tile // spec.multiple_of) * spec.multiple_of
        tiles = math.ceil(h / min(t, h)) * math.ceil(w / min(t, w))
        windows_t = len(space_time_windows(n_t, spec.frames_in, spec.time_scale)) if spec.time_scale > 1 else n_t
        return int(tiles * windows_t)

    # -- the seed repos' way ---------------------------------------------------------------------------------
    def seed(self, model: str, da, budget: Budget) -> None:
        import torch

        from satsr import models
        from satsr.engine import is_out_of_memory
        from satsr.tiling import time_window

        spec = models.get_spec(model)
        why = no_seed_way(model)
        if why:
            self.res["seed"][model] = {"skipped": why}
            return
        if budget.left() <= 0:
            self.res["seed"][model] = {"skipped": f"seed budget ({budget.seconds:.0f} s) spent"}
            return
        log(f"{model}: the seed way (whole frames, fp32, eager)")
        net = models.create(model).to(self.dev).eval()
        frames = np.asarray(da.values)
        n, _, h, w = frames.shape
        mo, s = spec.multiple_of, spec.scale
        ours = self.outputs.get((model, "fp32"))
        done, sq, row = 0, 0.0, {"precision": "fp32"}
        self.reset_peak()
        t0 = time.perf_counter()
        try:
            with torch.inference_mode():
                for t in range(n):
                    if budget.left() <= 0:
                        row["note"] = f"stopped after {t} of {n} frames: seed budget spent"
                        break
                    idx = time_window(t, n, spec.frames_in, spec.time_padding) if spec.frames_in > 1 else [t]
                    x = frames[idx]
                    x = np.pad(x, ((0, 0), (0, 0), (0, -h % mo), (0, -w % mo)), mode="reflect")
                    xt = torch.from_numpy(np.ascontiguousarray(x)).to(self.dev)
                    y = net(xt[None] if spec.frames_in > 1 else xt)[0][..., : h * s, : w * s]
                    y = y.float().cpu().numpy()
                    if ours is not None:  # satsr's tiled fp32 frame against the whole frame's
                        sq += float(np.sum((ours[t].astype(np.float64) - y) ** 2))
                    done += 1
            self.sync()
        except Exception as err:  # noqa: BLE001
            if not is_out_of_memory(err):
                raise
            row["error"] = f"out of memory on {self.dev} for a whole {h} x {w} frame"
        wall = time.perf_counter() - t0
        row.update(frames=done, seed_s=wall, peak_gpu_mb=self.peak_mb())
        if done:
            row["seed_mpx_s"] = done * h * w * s * s / 1e6 / wall
            if ours is not None:
                mse = sq / (done * ours[0].size)
                self.res["accuracy"].setdefault(model, {})["fp32_vs_seed"] = {
                    "psnr_db": None if mse == 0 else 10 * math.log10(1 / mse), "frames": done}
        del net
        self.res["seed"][model] = row
        self.save()

    # -- out of memory ----------------------------------------------------------------------------------------
    def oom(self, model: str, da, budget: Budget) -> None:
        import torch

        import satsr

        if not self.cuda:
            self.res["oom"][model] = {"skipped": "CUDA only: the capped allocator "
                                                 "(torch.cuda.set_per_process_memory_fraction) is CUDA's"}
            return
        if budget.left() <= 0:
            self.res["oom"][model] = {"skipped": f"oom budget ({budget.seconds:.0f} s) spent"}
            return
        log(f"{model}: out of memory back-off (capped allocator, one tile the size of the frame)")
        one = self.first(da, model)  # one window: the first frame (repeated in time), or one interval
        size = int(one.sizes["y"])
        kw = dict(device=str(self.dev), precision="fp32", compile=False, tile=size, batch_size=1,
                  **self.upscale_kw(model))
        row: dict[str, Any] = {"tile": size}
        try:
            self.reset_peak()
            ref = satsr.upscale(one, model, **kw).values
            need = torch.cuda.max_memory_allocated(self.dev) - torch.cuda.memory_allocated(self.dev)
            runner = self.runner(model, "fp32", False)
            before = len(runner.events)
            total = torch.cuda.get_device_properties(self.dev).total_memory
            cap = torch.cuda.memory_allocated(self.dev) + need // 2  # half of one whole window's forward
            torch.cuda.empty_cache()
            torch.cuda.set_per_process_memory_fraction(cap / total, self.dev)
            row.update(window_need_mb=need / 2**20, cap_mb=cap / 2**20)
            try:
                t0 = time.perf_counter()
                got = satsr.upscale(one, model, **kw).values
                row["capped_s"] = time.perf_counter() - t0
            finally:
                torch.cuda.set_per_process_memory_fraction(1.0, self.dev)
            events = runner.events[before:]
            row.update(events=events[:12], recovered=True,
                       backed_off=any("out of memory" in e for e in events), **compare(got, ref))
        except Exception as err:  # noqa: BLE001
            row.update(recovered=False, error=f"{type(err).__name__}: {err}"[:500])
        self.res["oom"][model] = row
        self.save()

    # -- the whole check ------------------------------------------------------------------------------------------
    def run(self) -> int:
        import torch

        import satsr

        a = self.a
        t_start = time.perf_counter()
        meta = self.res["meta"]
        meta.update(device=str(self.dev), quick=a.quick, size=a.size, frames=a.frames, torch=torch.__version__,
                    satsr=satsr.__version__, python=platform.python_version(), machine=platform.machine(),
                    started=time.strftime("%Y-%m-%dT%H:%M:%S"), budgets=a.budgets,
                    threads=torch.get_num_threads())
        if self.cuda:
            meta["device_name"] = torch.cuda.get_device_name(self.dev)
            meta["bf16_supported"] = torch.cuda.is_bf16_supported()
        else:
            meta["cpu"] = platform.processor() or platform.machine()
            self.res["skipped"]["peak_gpu_mb"] = "CUDA only: torch.cuda.max_memory_allocated (null on the CPU)"
        # the models of one output frame first: a budget spent early costs the slower space-time and
        # reference-based models (flows on the CPU; three encoders at the output's size), not the default
        names = sorted((m for m in shipped_models() if not a.models or m in a.models),
                       key=lambda m: (no_seed_way(m) is not None, m))
        self.res["models"] = names
        da = jilin_stack(a.size, a.frames)
        meta["input"] = {"shape": list(da.shape), "source": "jilin1_airport/LR4x, mirror-tiled, float32 in [0, 1]"}
        for section in ("throughput", "seed", "oom"):
            budget = Budget(a.budgets[section])  # each section's clock starts with the section
            for m in names:
                getattr(self, section)(m, da, budget)
        meta["wall_s"] = time.perf_counter() - t_start
        self.save()
        print(table(self.res))
        return 0


def fmt(v: Any, spec: str = ".2f") -> str:
    return "-" if v is None else format(v, spec)


def table(res: dict) -> str:
    lines = [f"device: {res['meta'].get('device_name', res['meta']['device'])}, input {res['meta']['input']['shape']}",
             "| model | way | precision | e2e Mpx/s | bare Mpx/s | ratio | peak GPU MB | PSNR vs fp32 dB | compile s |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for m, rows in res["throughput"].items():
        acc = res["accuracy"].get(m, {})
        for way, r in rows.items():
            if "skipped" in r or "error" in r:
                lines.append(f"| {m} | {way} | {r.get('precision', '-')} | {r.get('skipped') or r.get('error')} |")
                continue
            p = acc.get(f"{way}_vs_fp32", {})
            lines.append(f"| {m} | {way} | {r['precision']} | {fmt(r.get('e2e_mpx_s'), '.3f')} | "
                         f"{fmt(r.get('bare_mpx_s'), '.3f')} | {fmt(r.get('ratio'), '.2f')} | "
                         f"{fmt(r.get('peak_gpu_mb'), '.0f')} | "
                         f"{'identical' if p.get('identical') else fmt(p.get('psnr_db'), '.1f')} | "
                         f"{fmt(r.get('compile_s'), '.1f')} |")
        sd = res["seed"].get(m, {})
        if sd and "skipped" not in sd:
            p = acc.get("fp32_vs_seed", {})
            lines.append(f"| {m} | seed way (whole frame) | fp32 | {fmt(sd.get('seed_mpx_s'), '.3f')} | - | - | "
                         f"{fmt(sd.get('peak_gpu_mb'), '.0f')} | satsr fp32 vs it: {fmt(p.get('psnr_db'), '.1f')} |"
                         f" - |" + (f" {sd['error']}" if sd.get("error") else ""))
    for m, r in res["oom"].items():
        lines.append(f"oom {m}: " + (r["skipped"] if "skipped" in r else
                                     f"recovered={r.get('recovered')} backed_off={r.get('backed_off')} "
                                     f"PSNR vs uncapped {fmt(r.get('psnr_db'), '.1f')} dB {r.get('error', '')}"))
    for m, c in res["compile"].items():
        lines.append(f"compile {m} ({c['precision']}): {fmt(c.get('compile_s'), '.1f')} s, "
                     f"bare {fmt(c.get('speedup_bare'), '.2f')}x, e2e {fmt(c.get('speedup_e2e'), '.2f')}x")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    ap.add_argument("--quick", action="store_true", help="a small crop, few repetitions, the quick budgets (CI)")
    ap.add_argument("--size", type=int, help="input side in pixels (default 1024; 32 with --quick)")
    ap.add_argument("--frames", type=int, help="input frames, at most 7 (default 7; 2 with --quick)")
    ap.add_argument("--models", nargs="*", help="only these of the shipped models")
    ap.add_argument("--skip", default="", help="throughput ways to leave out, comma-separated (fp32 is needed "
                    "for the accuracy section)")
    ap.add_argument("--budget", action="append", default=[], metavar="SECTION=SECONDS",
                    help=f"a section's time budget (sections: {', '.join(BUDGETS)})")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help=f"the JSON written (default {DEFAULT_OUT})")
    a = ap.parse_args(argv)
    a.size = a.size or (32 if a.quick else 1024)
    a.frames = min(7, a.frames or (2 if a.quick else 7))
    a.reps = 1 if a.quick else 5
    a.bare_seconds = 0.0 if a.quick else 3.0
    a.skip = {s.strip() for s in a.skip.split(",") if s.strip()}
    a.budgets = dict(QUICK_BUDGETS if a.quick else BUDGETS)
    for b in a.budget:
        k, _, v = b.partition("=")
        if k not in a.budgets:
            ap.error(f"--budget {b}: sections are {', '.join(a.budgets)}")
        a.budgets[k] = float(v)
    import torch

    if a.device.startswith("cuda") and not torch.cuda.is_available():
        ap.error("no CUDA GPU here: pass --device cpu (with --quick for a short run)")
    return Check(a).run()


if __name__ == "__main__":
    sys.exit(main())
