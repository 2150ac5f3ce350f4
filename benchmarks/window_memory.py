"""Peak CPU memory of one forward per input pixel, for each registered model: the ``bytes_per_pixel`` of its spec.

``python benchmarks/window_memory.py [--models a,b] [--side 64]`` runs one fp32 forward of a random window
(``frames_in x side x side``; a reference model also gets its ``scale``-times larger reference) under
``torch.profiler`` with memory profiling, reads the largest "Total Allocated" of the CPU allocator from the trace,
and divides it by the window's pixels (frames x rows x cols). The figure is what
:meth:`satsr.engine.Runner.window_budget` divides a device's memory by to cap the default tile; the registered
values are these, rounded up. Activation memory grows with the window's area for every model here (convolutions
and windowed attention), so a small window is enough: lgtd-s gives 1076 bytes at 64 and at 128 px.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def peak_bytes(name: str, side: int) -> tuple[int, int]:
    """Peak allocated bytes of one fp32 forward of ``name`` on a ``side`` px window, and the window's pixels."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from satsr import models

    torch.manual_seed(0)
    model = models.create(name, pretrained=False).eval()  # memory: weights do not matter
    spec = models.get_spec(model)
    side = -(-side // spec.multiple_of) * spec.multiple_of
    shape = (1, spec.frames_in, 3, side, side) if spec.frames_in > 1 else (1, 3, side, side)
    xs = [torch.rand(shape)]
    if spec.needs_reference:
        xs.append(torch.rand(1, 3, side * spec.scale, side * spec.scale))
    with torch.inference_mode(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        model(*xs)
    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        prof.export_chrome_trace(path)
        events = json.loads(Path(path).read_text())["traceEvents"]
    finally:
        os.unlink(path)
    peak = max((e["args"].get("Total Allocated", 0) for e in events if e.get("name") == "[memory]"), default=0)
    return int(peak), spec.frames_in * side * side


def main(argv: list[str] | None = None) -> int:
    from satsr import models

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(models.list_models()))
    ap.add_argument("--side", type=int, default=64, help="window side in LR pixels (rounded up to the multiple)")
    a = ap.parse_args(argv)
    print("| model | peak MB | window px | bytes per pixel | declared |\n|---|---:|---:|---:|---:|")
    for name in a.models.split(","):
        peak, px = peak_bytes(name, a.side)
        print(f"| {name} | {peak / 2**20:.1f} | {px} | {peak / px:.0f} | {models.get_spec(name).bytes_per_pixel} |",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
