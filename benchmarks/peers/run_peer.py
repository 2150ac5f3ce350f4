"""Run a peer large-image tiler on a satsr model, for ``benchmarks/run.py`` (in ``.venv-peers``, never satsr's env).

``python run_peer.py --peer {opensr-utils,sen2sr} --model NAME --input in.npy --out r.json --save pred.npy``

* ``in.npy``: float32 in [0, 1], ``(C, H, W)``, or ``(T, C, H, W)`` for a video model (its window of frames for
  one output frame). A video model is wrapped to take its frames stacked along the channels, ``(B, T*C, h, w)``,
  so that a tiler made for single-image models cuts every frame in lockstep.
* ``opensr-utils`` (``opensr_utils.super_resolve``): reads a GeoTIFF whose values it divides by 10000, runs
  overlapping windows in batches, blends them through float32 accumulators on disk and writes uint16 x 10000.
  The input is written here as ``round(x * 10000)`` uint16 (a 5e-5 quantisation, far below 8-bit steps), and the
  output read back / 10000. Its defaults: 128-pixel windows, overlap 8, batch 16.
* ``sen2sr`` (``sen2sr.utils.predict_large``): 128-pixel chunks, overlap 32, batch 1, centre crops; in memory.
  It assumes a square image of at least 128 pixels.

Writes the prediction ``(C, sH, sW)`` float32 to ``--save`` and a JSON of wall time, output Mpx/s and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from torch import nn

from satsr import models


class Stacked(nn.Module):
    """A video model taking its frames stacked along the channels: ``(B, T*C, h, w) -> (B, C, s*h, s*w)``."""

    def __init__(self, model: nn.Module, frames: int) -> None:
        super().__init__()
        self.model, self.frames = model, frames

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, tc, h, w = x.shape
        return self.model(x.reshape(b, self.frames, tc // self.frames, h, w))


def run_opensr(net: nn.Module, x: np.ndarray, scale: int, work: Path, window: int, overlap: int) -> np.ndarray:
    import rasterio
    from affine import Affine
    from opensr_utils import super_resolve

    src, dst = work / "in.tif", work / "sr.tif"
    prof = dict(driver="GTiff", width=x.shape[-1], height=x.shape[-2], count=x.shape[0], dtype="uint16",
                crs="EPSG:32650", transform=Affine(4.0, 0, 500000, 0, -4.0, 4400000), tiled=True,
                blockxsize=256, blockysize=256)
    with rasterio.open(src, "w", **prof) as f:
        f.write(np.round(x * 10000).astype(np.uint16))
    super_resolve(str(src), model=net, output=str(dst), factor=scale, window_size=(window, window),
                  overlap=overlap, device="cpu", overwrite=True)
    with rasterio.open(dst) as f:
        return f.read().astype(np.float32) / 10000


def run_sen2sr(net: nn.Module, x: np.ndarray, overlap: int) -> np.ndarray:
    from sen2sr.utils import predict_large

    if x.shape[-1] != x.shape[-2] or x.shape[-1] < 128:
        raise ValueError(f"predict_large needs a square image of at least 128 pixels, got {x.shape[-2:]}")
    return predict_large(torch.from_numpy(x), net, overlap=overlap).numpy()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--peer", choices=["opensr-utils", "sen2sr"], required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--pretrained", default=None)
    ap.add_argument("--input", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--save", type=Path, required=True)
    ap.add_argument("--window", type=int, default=128)
    ap.add_argument("--overlap", type=int, default=None, help="default: the peer's (opensr-utils 8, sen2sr 32)")
    ap.add_argument("--workdir", type=Path, default=None)
    a = ap.parse_args()
    torch.manual_seed(0)
    # no checkpoint: the shipped weights where satsr has some, else random ones on purpose (a timing)
    model = models.create(a.model, pretrained=a.pretrained or (None if models.get_spec(a.model).weights else False))
    model.eval()
    spec = models.get_spec(model)
    x = np.load(a.input).astype(np.float32)
    net: nn.Module = model
    notes = []
    if x.ndim == 4:
        net = Stacked(model, x.shape[0]).eval()
        x = x.reshape(-1, *x.shape[-2:])
        notes.append(f"video model: {spec.frames_in} frames stacked along channels for the tiler")
    overlap = a.overlap if a.overlap is not None else (8 if a.peer == "opensr-utils" else 32)
    res = {"peer": a.peer, "peer_version": version(a.peer), "model": a.model, "input_shape": list(x.shape),
           "window": a.window if a.peer == "opensr-utils" else 128, "overlap": overlap,
           "batch": 16 if a.peer == "opensr-utils" else 1, "notes": notes}
    work = a.workdir or Path(tempfile.mkdtemp(prefix="peer-"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    try:
        with torch.inference_mode():
            if a.peer == "opensr-utils":
                notes.append("input written as uint16 round(x*10000), output read back / 10000")
                pred = run_opensr(net, x, spec.scale, work, a.window, overlap)
            else:
                pred = run_sen2sr(net, x, overlap)
    except Exception as err:  # noqa: BLE001 (reported, not hidden: the benchmark shows it)
        res["error"] = f"{type(err).__name__}: {err}"
        a.out.write_text(json.dumps(res, indent=1))
        print(res["error"], file=sys.stderr)
        return 2
    wall = time.perf_counter() - t0
    np.save(a.save, pred.astype(np.float32))
    res.update(output_shape=list(pred.shape), wall_s=wall, output_mpx_s=pred.shape[-2] * pred.shape[-1] / 1e6 / wall,
               peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, peak_cuda_mb=None)
    a.out.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
