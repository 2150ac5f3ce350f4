"""The weights satsr ships (lgtd-s, mtdo-s, mtdo-m, lgfn-s, lgfn-m, mstt-s, rgtgan-s): loaded by default, beat
bicubic."""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

from satsr import models
from satsr.errors import CheckpointError
from satsr.models.registry import bundled_weights
from satsr.train.evaluate import evaluate_clips, gains


def test_shipped_weights_load_by_default_and_are_checked():
    spec = models.get_spec("lgtd-s")
    path = bundled_weights(spec)
    assert path is not None and path.stat().st_size < 8 * 2**20  # a few MB at most
    trained = models.create("lgtd-s")
    assert trained.conv_last.weight.abs().sum() > 0  # an untrained lgtd-s has a zero last conv
    assert not models.create("lgtd-s", pretrained=False).conv_last.weight.any()
    assert torch.equal(models.create("lgtd-s", pretrained=True).conv_last.weight, trained.conv_last.weight)
    damaged = replace(spec, weights=tuple(replace(w, sha256="0" * 64) for w in spec.weights))
    with pytest.raises(CheckpointError, match="differs from the recorded"):
        bundled_weights(damaged)


@pytest.mark.slow
def test_shipped_lgtd_s_beats_bicubic_on_real_jilin_video(shared_data):
    """The issue's target on the real Jilin-1 clip (never trained on), standard protocol, centre frame 3."""
    scores = evaluate_clips(shared_data / "jilin1_airport", {"lgtd-s": "lgtd-s", "bicubic": "bicubic"},
                            centres=[3], device="cpu")
    s = {x.model: x.scores for x in scores}
    assert s["lgtd-s"]["psnr"] >= s["bicubic"]["psnr"] + 1.0, s
    assert s["lgtd-s"]["ssim"] > s["bicubic"]["ssim"], s
    assert gains(scores)["lgtd-s"]["psnr"] == pytest.approx(s["lgtd-s"]["psnr"] - s["bicubic"]["psnr"])


@pytest.mark.slow
def test_default_model_beats_bicubic_on_a_sentinel2_still(shared_data):
    """Another sensor, one image, never trained on: the default model still does better than bicubic."""
    import numpy as np
    import xarray as xr
    from affine import Affine

    import satsr
    from satsr.degrade import degrade
    from satsr.geo import Grid
    from satsr.io.coords import assign_grid
    from satsr.metrics import evaluate

    im10 = np.load(shared_data / "sentinel2" / "S2A_MSIL1C_20170527_T33UUB.npz")["im10"][[2, 1, 0], 100:400, 100:400]
    lo, hi = np.percentile(im10, [0.5, 99.5])
    hr = np.clip((im10.astype(np.float32) - lo) / (hi - lo), 0, 1)
    lr = degrade(hr, 4)
    da = assign_grid(xr.DataArray(lr[None], dims=("time", "band", "y", "x")),
                     Grid(lr.shape[-2:], Affine(10, 0, 0, 0, -10, 0), "EPSG:32633"))
    ours = evaluate(np.clip(satsr.upscale(da, device="cpu").values[0], 0, 1), hr, protocol="standard", scale=4)
    bic = evaluate(np.clip(satsr.upscale(da, "bicubic", scale=4, device="cpu").values[0], 0, 1), hr,
                   protocol="standard", scale=4)
    assert ours["psnr"] > bic["psnr"] + 0.3 and ours["ssim"] > bic["ssim"], (ours, bic)


#: The other shipped video models, trained on real satellite video (mtdo-s v2 also on stills; their model cards).
VIDEO_VARIANTS = ["mtdo-s", "lgfn-s", "mtdo-m", "lgfn-m"]
#: The least gain over bicubic each must keep on the held-aside frame (their cards: +1.27 and +0.86 dB on that clip;
#: mtdo-m, grown from mtdo-s v2: +1.51 on this frame, where mtdo-s v2 gives +1.37; lgfn-m, grown from lgfn-s v2:
#: +1.57, where lgfn-s v2 gives +1.20).
MIN_GAIN = {"mtdo-s": 1.0, "lgfn-s": 0.5, "mtdo-m": 1.3, "lgfn-m": 1.3}


@pytest.mark.parametrize("name", VIDEO_VARIANTS)
def test_shipped_video_variant_loads_its_weights(name):
    spec = models.get_spec(name)
    path = bundled_weights(spec)
    assert path is not None and path.stat().st_size < 8 * 2**20
    trained, untrained = models.create(name), models.create(name, pretrained=False)
    changed = [k for k, v in trained.state_dict().items() if not torch.equal(v, untrained.state_dict()[k])]
    assert len(changed) > len(trained.state_dict()) // 2  # trained, not the bicubic start


@pytest.mark.slow
@pytest.mark.parametrize("name", VIDEO_VARIANTS)
def test_shipped_video_variant_beats_bicubic_on_held_aside_real_video(name, shared_data):
    """A frame of the urban satvideo clip that training kept aside (the last 20%), LR by MATLAB's bicubic."""
    scores = evaluate_clips(shared_data / "satvideo" / "icpr2024_017", {name: name, "bicubic": "bicubic"},
                            centres=[230], prescale=2, temporal=False, device="cpu")
    s = {x.model: x.scores for x in scores}
    assert s[name]["psnr"] >= s["bicubic"]["psnr"] + MIN_GAIN[name], s
    assert s[name]["ssim"] > s["bicubic"]["ssim"], s


#: Whether the neighbouring frames must add something on Jilin-1 frame 3: mtdo-s +0.10, mtdo-m +0.18 dB there;
#: lgfn-m +0.01 (its deformable alignment adds +0.22 on the held-aside video, about nothing on Jilin-1; its card).
JILIN_TEMPORAL = {"mtdo-s": True, "mtdo-m": True, "lgfn-m": False}


@pytest.mark.slow
@pytest.mark.parametrize("name", JILIN_TEMPORAL)
def test_shipped_video_model_beats_bicubic_on_real_jilin_video(name, shared_data):
    """mtdo-s v2 was trained with sharp stills beside the video: on Jilin-1 (never trained on) it is +1.89 dB over
    bicubic on frames 2-4 (v1: +0.88), mtdo-m +1.88, lgfn-m +2.02; the test asks +1.5 on centre frame 3 (+1.86,
    +1.87, +1.96 there)."""
    scores = evaluate_clips(shared_data / "jilin1_airport", {name: name, "bicubic": "bicubic"},
                            centres=[3], device="cpu")
    s = {x.model: x.scores for x in scores}
    assert s[name]["psnr"] >= s["bicubic"]["psnr"] + 1.5, s
    assert s[name]["ssim"] > s["bicubic"]["ssim"], s
    if JILIN_TEMPORAL[name]:
        assert s[name]["temporal_gain"] > 0, s


def _eval_rgtgan_s() -> ModuleType:
    """``benchmarks/eval_rgtgan_s.py`` as a module: its held-aside samples, so that the test scores the same ones."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "eval_rgtgan_s.py"
    spec = importlib.util.spec_from_file_location("eval_rgtgan_s", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: rgtgan-s on the first held-aside frame of each satvideo clip: the least gain over bicubic and over lgtd-s (its
#: five LR frames, no reference). Measured at this 128 px crop: harbour +2.14 and -0.39 dB (a panning platform:
#: the frame 25 earlier shows the place shifted and changed); urban +9.81 and +8.46 dB (a staring one: the
#: reference is nearly the scene). Model card: satsr/weights/rgtgan-s.md.
REF_MIN_GAIN = {"icpr2024_017": (1.5, None), "macf_012": (1.5, 0.3)}


@pytest.mark.slow
@pytest.mark.parametrize("clip", REF_MIN_GAIN)
def test_shipped_rgtgan_s_beats_bicubic_with_a_reference(clip, shared_data):
    """A held-aside frame (last 20% of the clip), LR by MATLAB's bicubic, the HR of the frame 25 frames earlier as
    the reference (benchmarks/eval_rgtgan_s.py's satvideo set)."""
    from satsr.metrics import evaluate

    pair = next(s for s in _eval_rgtgan_s().satvideo(shared_data, 128, None) if s["key"].startswith(f"{clip}/"))
    with torch.inference_mode():
        outs = {"rgtgan-s": models.create("rgtgan-s").eval()(pair["lr"][None], pair["ref"][None])[0],
                "lgtd-s": models.create("lgtd-s").eval()(pair["frames"][None])[0], "bicubic": pair["lr_ux4"]}
    s = {k: evaluate(v.float().clamp(0, 1).numpy(), pair["hr"].numpy(), protocol="standard") for k, v in outs.items()}
    over_bicubic, over_video = REF_MIN_GAIN[clip]
    assert s["rgtgan-s"]["psnr"] >= s["bicubic"]["psnr"] + over_bicubic, s
    assert s["rgtgan-s"]["ssim"] > s["bicubic"]["ssim"], s
    if over_video is not None:
        assert s["rgtgan-s"]["psnr"] >= s["lgtd-s"]["psnr"] + over_video, s


@pytest.mark.slow
def test_shipped_rgtgan_s_through_upscale_with_a_geotiff_reference(shared_data, tmp_path):
    """The user's path: an LR GeoTIFF and a reference GeoTIFF at 4x the resolution, ``satsr.upscale`` warps and
    matches the reference, tiles, and the result beats bicubic on a held-aside urban frame."""
    import rasterio
    from affine import Affine

    import satsr
    from satsr.metrics import evaluate
    from satsr.train.data.refpairs import build_ref_pairs

    pairs = build_ref_pairs("video_ref", {"root": shared_data / "satvideo", "split": "val", "holdout": 0.2,
                                          "crop": 256, "prescale": 2, "resamplers": ["bicubic"],
                                          "ref_gap": (10, 40)}, scale=4, seed=0, train=False)
    pair = next(pairs[i] for i, (ci, _) in enumerate(pairs.windows) if pairs.clips[ci][0] == "macf_012")
    paths = {}
    for name, image, size in (("lr", pair["lr"], 4.0), ("ref", pair["ref"], 1.0)):
        paths[name] = tmp_path / f"{name}.tif"
        with rasterio.open(paths[name], "w", driver="GTiff", width=image.shape[-1], height=image.shape[-2],
                           count=3, dtype="float32", crs="EPSG:32650",
                           transform=Affine(size, 0, 500000, 0, -size, 4400000)) as dst:
            dst.write(image.numpy().astype("float32"))
    lr = satsr.open_stack(paths["lr"])
    sr = satsr.upscale(lr, "rgtgan-s", reference=paths["ref"], device="cpu", tile=32)
    bic = satsr.upscale(lr, "bicubic", scale=4, device="cpu")
    assert sr.rio.transform().a == pytest.approx(1.0) and sr.rio.crs.to_epsg() == 32650
    hr = pair["hr"].numpy()
    ours = evaluate(np.clip(sr.values[0], 0, 1), hr, protocol="standard")
    base = evaluate(np.clip(bic.values[0], 0, 1), hr, protocol="standard")
    assert ours["psnr"] >= base["psnr"] + 1.5 and ours["ssim"] > base["ssim"], (ours, base)


@pytest.mark.slow
def test_shipped_mstt_models_beat_both_baselines_on_real_jilin_video(shared_data):
    """Space-time x4 on the Jilin-1 clip (never trained on): from the LR of frames 0, 2, 4, 6, the key frames
    against their bicubic and the frames in between against the bicubic of their neighbours' mean. Model cards, in
    fp32: mstt-s v5 +1.99 and +1.98 dB (v2 gave +1.68 and +1.59), mstt-m v2 +2.10 and +2.11 (v1 +2.05 and +2.05)."""
    floors = {"mstt-s": (1.9, 1.85), "mstt-m": (2.0, 2.0)}
    scores = evaluate_clips(shared_data / "jilin1_airport", {**{n: n for n in floors}, "bicubic": "bicubic"},
                            device="cpu")
    s = {x.model: x.scores for x in scores}
    for name, (key, mid) in floors.items():
        assert s[name]["psnr_key"] >= s["bicubic"]["psnr_key"] + key, (name, s)
        assert s[name]["psnr_mid"] >= s["bicubic"]["psnr_mid"] + mid, (name, s)
        assert s[name]["ssim_mid"] > s["bicubic"]["ssim_mid"], (name, s)
    # the deeper model is the better one on both kinds of frame
    assert s["mstt-m"]["psnr_key"] > s["mstt-s"]["psnr_key"] and s["mstt-m"]["psnr_mid"] > s["mstt-s"]["psnr_mid"]
