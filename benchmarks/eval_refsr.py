"""A trained reference-based model against bicubic on held-aside Ref-SR sets (whole images).

    OMP_NUM_THREADS=1 python benchmarks/eval_refsr.py --weights runs/rgtgan-s/final.safetensors \\
        --data ../shared/data --rows /tmp/eval_refsr.jsonl

Every image of each set (RRSSRD ``val_3rd`` and KaggleSRD ``val_1..3`` by default, none of them trained on by
``satsr/train/configs/rgtgan-2blocks.yaml``) is super-resolved whole (LR 120 x 120 to 480 x 480) by ``model(lr, ref)``
and scored against its HR with RGTGAN's ``val.py`` protocol (:func:`satsr.metrics.evaluate`
``protocol="rgtgan"``: RGB, 8-bit rounded, 4 px border crop), beside the supplied ``LR_UX4`` (the sets' bicubic)
and satsr's MATLAB bicubic of the LR files (``derive_inputs``: what ``model(lr, ref)`` adds its residual to, and
what a model with a zeroed last convolution returns). The supplied ``LR_UX4`` was made from the LR before it was
saved as JPEG, so it scores higher than any bicubic of the LR files (0.45 dB on RRSSRD, 1.3 to 1.5 dB on
KaggleSRD). ``--supplied-inputs`` also runs the authors' form on the supplied helpers. Images are taken round-robin
over the sets and each row is appended to ``--rows`` as it comes (a re-run skips the rows already there), since a
CPU needs about 100 s per image. Prints a Markdown table and writes JSON (``benchmarks/results/eval_refsr.json``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

import satsr
from satsr.metrics import evaluate
from satsr.models.rgtgan import RGTNet, derive_inputs
from satsr.train.data import RefSRTriplets

SETS = ("rrssrd/val_3rd", "kagglesrd/val_1", "kagglesrd/val_2", "kagglesrd/val_3")
COLUMNS = (("model(lr, ref)", ""), ("bicubic (LR_UX4)", "bicubic_"), ("bicubic of LR", "derived_"),
           ("model on LR_UX4, Ref_DUX4", "supplied_"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, required=True, help="satsr.models.save file (name and options inside)")
    parser.add_argument("--model", default=None, help="registered name (default: the one saved in --weights)")
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated, under DATA/refsr")
    parser.add_argument("--limit", type=int, default=None, help="images per set, a fixed random pick (default all)")
    parser.add_argument("--supplied-inputs", action="store_true",
                        help="also run the authors' forward(lr, LR_UX4, ref, Ref_DUX4) on the supplied helper images "
                             "(as `satsr evaluate --protocol rgtgan` does); twice the time")
    parser.add_argument("--rows", type=Path, default=Path("/tmp/eval_refsr.jsonl"), help="per-image scores")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "eval_refsr.json")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    from satsr.models.checkpoint import read_metadata

    meta = read_metadata(args.weights)
    name = args.model or meta.get("model", "rgtgan")
    model = satsr.models.create(name, pretrained=args.weights).to(args.device).eval()
    names = [s.strip() for s in args.sets.split(",") if s.strip()]
    sets = {s: RefSRTriplets(args.data / "refsr" / s) for s in names}
    done: dict[tuple[str, str], dict] = {}
    if args.rows.exists():
        for line in args.rows.read_text().splitlines():
            r = json.loads(line)
            done[(r["set"], r["key"])] = r
    # a fixed random order within each set, sets taken in turn: a partial run scores a random, balanced subset
    per_set = [[(s, int(i)) for i in np.random.default_rng(0).permutation(len(ds))[: args.limit]]
               for s, ds in sets.items()]
    order = [p for group in itertools.zip_longest(*per_set) for p in group if p is not None]
    t0 = time.perf_counter()
    with open(args.rows, "a") as fh, torch.inference_mode():
        for s, i in order:
            key = str(sets[s].items[i]["key"])
            if (s, key) in done:
                continue
            x = sets[s][i]
            tick = time.perf_counter()
            lr, ref = x["lr"][None].to(args.device), x["ref"][None].to(args.device)
            sr = model(lr, ref)[0].float().clamp(0, 1).cpu().numpy()
            seconds = time.perf_counter() - tick
            hr = x["hr"].numpy()
            row = {"set": s, "key": key, "seconds": seconds}
            images = {"": sr, "bicubic_": x["lr_ux4"].numpy(),
                      "derived_": derive_inputs(lr.cpu(), ref.cpu())[0][0].clamp(0, 1).numpy()}
            if args.supplied_inputs:
                helpers = [x[k][None].to(args.device) for k in ("lr_ux4", "ref_dux4")]
                authors = RGTNet.forward(model, lr, helpers[0], ref, helpers[1])
                images["supplied_"] = authors[0].float().clamp(0, 1).cpu().numpy()
            for label, img in images.items():
                row.update({label + k: v for k, v in evaluate(img, hr, protocol="rgtgan").items()})
            done[(s, key)] = row
            fh.write(json.dumps(row) + "\n")
            fh.flush()
            print(f"{s} {key}: {row['psnr']:.3f} dB (bicubic {row['bicubic_psnr']:.3f}) {seconds:.0f} s", flush=True)

    table = {}
    for s in names:
        rows = [r for (rs, _), r in done.items() if rs == s]
        if rows:
            table[s] = {"images": len(rows), **{k: float(np.mean([r[k] for r in rows])) for k in rows[0]
                                                if k not in ("set", "key")}}
    columns = [(c, p) for c, p in COLUMNS if any(p + "psnr" in m for m in table.values())]
    lines = [f"| set | images | {' | '.join(c for c, _ in columns)} | gain over LR_UX4 |",
             "|---|---:|" + "---:|" * (len(columns) + 1)]
    for s, m in table.items():
        cells = [f"{m[p + 'psnr']:.3f} / {m[p + 'ssim']:.4f}" for _, p in columns]
        gain = f"{m['psnr'] - m['bicubic_psnr']:+.3f} dB / {m['ssim'] - m['bicubic_ssim']:+.4f}"
        lines.append(f"| {s} | {m['images']} | {' | '.join(cells)} | {gain} |")
    print("\n".join(lines))
    payload = {"weights": str(args.weights), "model": name, "options": meta.get("options"), "protocol": "rgtgan",
               "data": str(args.data), "sets": table, "rows": list(done.values()),
               "seconds": time.perf_counter() - t0, "threads": torch.get_num_threads(), "host": platform.node()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(args.out)


if __name__ == "__main__":
    main()
