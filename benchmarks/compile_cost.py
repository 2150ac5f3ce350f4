"""What ``torch.compile`` costs and gives for a model: the constants of ``satsr.engine.COMPILE_COST``.

```bash
.venv/bin/python benchmarks/compile_cost.py                      # lgtd-s, CPU, fp32 and bf16, one thread
.venv/bin/python benchmarks/compile_cost.py --device cuda --threads 0 --window 592
```

Per precision, in a fresh process with an empty Inductor cache (``TORCHINDUCTOR_CACHE_DIR`` in a temporary
folder: a cold compile, as on a new machine), on one window of the real Jilin-1 frames: the eager forward of the
runner (best of 3, after a warm-up), the first compiled call (``Runner.compile_seconds``: compiling plus one
forward), the compiled forward (best of 3), and the maximum difference to eager. ``compile_s`` is the first
compiled call less one compiled forward. Writes ``results/compile_cost_<device>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("SATSR_TEST_DATA", HERE.parent.parent / "shared" / "data"))


def child(a: argparse.Namespace) -> dict:
    import numpy as np
    import torch
    from PIL import Image

    from satsr import models
    from satsr.engine import Runner

    precision = a.precision[0]
    if a.threads:
        torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    spec = models.get_spec(a.model)
    paths = sorted((DATA / "jilin1_airport" / "LR4x").glob("*.png"))[: spec.frames_in]
    arr = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths]).astype(np.float32) / 255
    w = a.window
    pad = max(0, w - arr.shape[1])
    arr = np.pad(arr, ((0, 0), (0, pad), (0, pad), (0, 0)), mode="reflect")[:, :w, :w]
    x = np.ascontiguousarray(arr.transpose(0, 3, 1, 2))
    x = x[None] if spec.frames_in > 1 else x[:1]

    def timed(runner: Runner) -> tuple[list[float], np.ndarray]:
        out, ts = None, []
        for _ in range(3):
            t0 = time.perf_counter()
            out = runner(x)
            ts.append(time.perf_counter() - t0)
        return ts, out

    eager = Runner(models.create(a.model), dev, 1, None, precision=precision, compile=False)
    eager(x)  # warm-up
    eager_s, ref = timed(eager)
    runner = Runner(models.create(a.model), dev, 1, None, precision=precision, compile=True)
    runner(x)
    compiled_s, out = timed(runner)
    first = runner.compile_seconds
    return {"model": a.model, "device": str(dev), "precision": precision, "input": list(x.shape),
            "threads": torch.get_num_threads(), "torch": torch.__version__, "compile_state": runner.compile_state,
            "eager_s": eager_s, "first_compiled_call_s": first, "compiled_s": compiled_s,
            "compile_s": None if first is None else first - min(compiled_s),
            "speedup": min(eager_s) / min(compiled_s), "max_abs_diff": float(np.abs(out - ref).max())}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="lgtd-s")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", nargs="+", default=["fp32", "bf16"])
    ap.add_argument("--window", type=int, default=208, help="window side in pixels (default 208)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    ap.add_argument("--out", help="default results/compile_cost_<device>.json")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a)))
        return 0
    rows = []
    for p in a.precision:
        with tempfile.TemporaryDirectory(prefix="inductor-") as cache:
            env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache}
            cmd = [sys.executable, __file__, "--child", "--model", a.model, "--device", a.device, "--precision", p,
                   "--window", str(a.window), "--threads", str(a.threads)]
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if proc.returncode:
                rows.append({"precision": p, "error": proc.stderr.strip().splitlines()[-1:]})
            else:
                rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    out = Path(a.out or HERE / "results" / f"compile_cost_{a.device.split(':')[0]}.json")
    out.write_text(json.dumps({"command": " ".join(sys.argv), "load_note": "measured on a shared machine",
                               "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
