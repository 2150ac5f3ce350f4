"""Video decoding: frames/s into the lazy cube (``satsr.open_video``) against PyAV alone, and peak memory.

    python benchmarks/video_decode.py --data ../shared/data [--frames 100 1000 --size 1024 --chunk 8]

Encodes, in a temporary folder (never the repo), 1024 x 1024 H.264 clips (libx264, preset veryfast, crf 20, the
encoder's default keyframe interval of 250, or ``--keyint``, and B-frames) from the real frames of
``satvideo/macf_012`` (120 frames, repeated to reach 1,000). Then, each measurement in a fresh subprocess (so
``ru_maxrss`` is its own):

* ``pyav``: ``for frame in container.decode(video=0): frame.to_ndarray(format="rgb24")``: PyAV alone;
* ``cube, slices``: ``open_video(clip).data[i:j].compute()`` for its consecutive chunks (chunk by chunk);
* ``cube, store``: ``dask.array.store`` of the whole cube into a sink that drops the blocks (dask's threads in
  whatever order it picks).

Frames per second count decoded RGB frames over wall time (opening and indexing the clip included for the cube).
Peak RSS is ``resource.getrusage(RUSAGE_SELF).ru_maxrss``; ``rss_after_imports`` is the resident size before
decoding (satsr's imports: xarray, rasterio...). Prints a Markdown table and writes
``benchmarks/results/video_decode.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _encode(frames_dir: Path, out: Path, n: int, size: int, keyint: int | None = None) -> None:
    import av
    import numpy as np
    from PIL import Image

    files = sorted(frames_dir.glob("*.jpg"))
    with av.open(str(out), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "20", **({"g": str(keyint)} if keyint else {})}
        for i in range(n):
            img = np.asarray(Image.open(files[i % len(files)]).convert("RGB"))[:size, :size]
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _measure(mode: str, path: str, chunk: int) -> dict:
    """Run in a fresh subprocess: decode the whole clip one way; return frames, seconds and memory."""
    import av
    import numpy as np

    if mode != "pyav":
        import dask.array as da

        from satsr.io.video import open_video
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    n = 0
    checksum = 0
    if mode == "pyav":
        with av.open(path) as container:
            container.streams.video[0].thread_type = "AUTO"
            for frame in container.decode(video=0):
                a = frame.to_ndarray(format="rgb24")
                checksum += int(a[0, 0, 0])
                n += 1
    elif mode == "cube-slices":
        clip = open_video(path, allow_ungeoreferenced=True, frames_per_chunk=chunk)
        edges = np.cumsum((0, *clip.data.chunks[0]))  # chunks of at most `chunk` frames, within keyframe groups
        for i, j in zip(edges[:-1], edges[1:]):
            block = clip.data[i:j].compute()
            checksum += int(block[:, 0, 0, 0].sum())
            n += block.shape[0]
    elif mode == "cube-store":
        clip = open_video(path, allow_ungeoreferenced=True, frames_per_chunk=chunk)

        class Sink:
            frames = 0
            checksum = 0

            def __setitem__(self, key, value):  # noqa: ANN001
                Sink.frames += value.shape[0]
                Sink.checksum += int(value[:, 0, 0, 0].sum())

        da.store(clip.data, Sink(), lock=True)  # the lock guards the counters, not the decoding
        n, checksum = Sink.frames, Sink.checksum
    else:
        raise ValueError(mode)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"mode": mode, "frames": n, "seconds": round(seconds, 3), "fps": round(n / seconds, 1),
            "rss_after_imports_mb": round(rss0, 1), "peak_rss_mb": round(peak, 1), "checksum": checksum}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "data")
    parser.add_argument("--frames", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--keyint", type=int, default=None, help="keyframe interval (default libx264's, 250)")
    parser.add_argument("--chunk", type=int, default=8, help="frames per dask chunk (open_video's frames_per_chunk)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "video_decode.json")
    parser.add_argument("--_measure", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._measure:
        mode, path, chunk = args._measure
        print(json.dumps(_measure(mode, path, int(chunk))))
        return

    frames_dir = args.data / "satvideo" / "macf_012" / "GT"
    rows = []
    with tempfile.TemporaryDirectory(prefix="satsr-video-bench-") as tmp:
        for n in args.frames:
            clip = Path(tmp) / f"clip_{n}.mp4"
            t = time.perf_counter()
            _encode(frames_dir, clip, n, args.size, args.keyint)
            print(f"encoded {clip.name}: {n} frames {args.size} x {args.size}, {clip.stat().st_size / 1e6:.1f} MB "
                  f"in {time.perf_counter() - t:.1f} s", file=sys.stderr)
            for mode in ("pyav", "cube-slices", "cube-store"):
                env = dict(os.environ, PYTHONWARNINGS="ignore")
                res = subprocess.run([sys.executable, __file__, "--_measure", mode, str(clip), str(args.chunk)],
                                     capture_output=True, text=True, check=True, env=env)
                r = json.loads(res.stdout.strip().splitlines()[-1])
                r["clip_frames"] = n
                rows.append(r)
                print(f"{n:>5} frames  {mode:<12} {r['fps']:>7.1f} frames/s  peak RSS {r['peak_rss_mb']:.0f} MB",
                      file=sys.stderr)
    checks = {(r["clip_frames"], r["checksum"]) for r in rows}
    if len(checks) != len(args.frames):
        raise SystemExit(f"decoders disagree on the content: {sorted(checks)}")

    lines = ["| frames | reader | frames/s | vs PyAV | RSS after imports (MB) | peak RSS (MB) |",
             "|---:|---|---:|---:|---:|---:|"]
    for r in rows:
        base = next(x for x in rows if x["clip_frames"] == r["clip_frames"] and x["mode"] == "pyav")
        lines.append(f"| {r['clip_frames']} | {r['mode']} | {r['fps']:.1f} | {r['fps'] / base['fps']:.2f} | "
                     f"{r['rss_after_imports_mb']:.0f} | {r['peak_rss_mb']:.0f} |")
    print("\n".join(lines))
    import av

    result = {
        "command": "python benchmarks/video_decode.py " + " ".join(sys.argv[1:]),
        "size": args.size, "chunk": args.chunk,
        "codec": f"libx264 veryfast crf 20, keyint {args.keyint or 250}, B-frames",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "pyav": av.__version__},
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
