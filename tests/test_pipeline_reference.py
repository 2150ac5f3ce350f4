"""``satsr.upscale(..., reference=...)``: reference-based SR on georeferenced pairs in different CRSs.

The scene is a real Landsat 8 crop: its x4 block mean (120 m, UTM) is the LR, and the 30 m truth, warped to
geographic coordinates and brightened as another sensor would see it, is the reference. Exactness of the lockstep
cutting is checked with reference models whose output is known (the reference itself, the LR repeated); the real
``rgtgan`` is checked for tiling (tiles against one whole-image forward) and against a direct call.
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import torch
from affine import Affine
from rasterio.warp import Resampling, calculate_default_transform, reproject
from torch import nn

import satsr
from satsr import models
from satsr.errors import GeoreferenceError, InputError, SatsrWarning
from satsr.io.reference import prepare_reference
from satsr.testing import write_geotiff
from satsr.tiling import pad_reflect

N_LR = 48  # LR pixels per side
PAD = 32  # extra 30 m truth pixels around the LR's footprint, so the reference covers all of it


class RefEcho(nn.Module):
    """A reference model whose output is the reference window itself."""

    def forward(self, lr: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        return ref.clone()


class LRRepeat(nn.Module):
    """A reference model that ignores the reference: each LR pixel repeated 4 x 4."""

    def forward(self, lr: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        return lr.repeat_interleave(4, -2).repeat_interleave(4, -1) + 0 * ref.mean()


def _warp_to_4326(truth: np.ndarray, tr: Affine, crs, path, *, gain=1.5, offset=100.0, shift_px=0.0):
    h, w = truth.shape[-2:]
    west, south, east, north = rasterio.transform.array_bounds(h, w, tr)
    dst_tr, dw, dh = calculate_default_transform(crs, "EPSG:4326", w, h, west, south, east, north)
    ref = np.zeros((3, dh, dw), np.float32)
    src_tr = tr @ Affine.translation(shift_px, 0)
    reproject(truth, ref, src_transform=src_tr, src_crs=crs, dst_transform=dst_tr, dst_crs="EPSG:4326",
              resampling=Resampling.cubic, dst_nodata=0)
    return write_geotiff(path, np.where(ref > 0, ref * gain + offset, 0).astype(np.float32), crs="EPSG:4326",
                         transform=dst_tr, nodata=0)


@pytest.fixture(scope="module")
def pair(shared_data, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("refpair")
    n = N_LR * 4
    with rasterio.open(shared_data / "geotiff" / "landsat8_rgb_30m_uint16.tif") as src:
        win = ((500 - PAD, 500 + n + PAD), (500 - PAD, 500 + n + PAD))
        big = src.read(window=win).astype(np.float32)
        big_tr, crs = src.window_transform(win), src.crs
    truth = big[:, PAD:-PAD, PAD:-PAD]
    tr = big_tr @ Affine.translation(PAD, PAD)
    lr = truth.reshape(3, N_LR, 4, N_LR, 4).mean(axis=(2, 4))
    lr_path = write_geotiff(tmp / "lr.tif", np.round(lr).astype(np.uint16), crs=crs.to_string(),
                            transform=tr @ Affine.scale(4))
    ref_path = _warp_to_4326(big, big_tr, crs, tmp / "ref.tif")
    # A reference that covers only the western half of the scene.
    half = big[:, :, : PAD + n // 2]
    half_path = _warp_to_4326(half, big_tr, crs, tmp / "half.tif")
    shifted = _warp_to_4326(big, big_tr, crs, tmp / "shifted.tif", shift_px=8)  # 8 truth px = 2 LR px east
    return {"lr": satsr.open_stack(lr_path), "lr_path": lr_path, "ref": ref_path, "half": half_path,
            "shifted": shifted, "truth": truth, "tmp": tmp}


def test_reference_windows_are_cut_in_lockstep(pair):
    """An echo model returns the matched reference on the output grid, wherever the tiles and blocks fall."""
    lr = pair["lr"]
    prep = prepare_reference(pair["ref"], lr, 4)
    expected = prep.window(0, N_LR * 4, 0, N_LR * 4)
    assert np.isfinite(expected).all() and prep.coverage == 1.0
    echo = models.wrap(RefEcho(), scale=4, bands=3, needs_reference=True)
    for tile, batch in ((16, 1), (20, 3), (48, 4)):
        sr = satsr.upscale(lr, echo, reference=pair["ref"], tile=tile, batch_size=batch, value_range=(0, 65535))
        got = sr.values[0].astype(np.float32)
        if tile == 48:  # one block: one warp, exactly the whole grid's
            np.testing.assert_allclose(got, np.clip(np.round(expected), 0, 65535), atol=1)
        else:
            # Each block's reference is its own GDAL warp, and GDAL's warper samples a window a few hundredths
            # of a pixel differently from the whole grid (measured: 0.2% at most here); no shift, no seam.
            err = np.abs(got - expected)
            assert err.max() < 0.005 * expected.mean() and np.sqrt((err**2).mean()) < 0.001 * expected.mean()
    assert sr.rio.crs == lr.rio.crs
    assert sr.rio.transform() == lr.rio.transform() @ Affine.scale(0.25)


def test_reference_radiometry_is_matched_and_lands_on_the_truth(pair):
    """The brightened reference (x1.5 + 100) comes back in the LR's values, on the truth's pixels."""
    lr, truth = pair["lr"], pair["truth"]
    echo = models.wrap(RefEcho(), scale=4, bands=3, needs_reference=True)
    sr = satsr.upscale(lr, echo, reference=pair["ref"], value_range=(0, 65535)).values[0].astype(np.float32)
    lrv = lr.values[0].astype(np.float32)
    for b in range(3):
        assert abs(sr[b].mean() - lrv[b].mean()) < 0.005 * lrv[b].mean()
    # two cubic warps from the truth, and no shift: the median error is a small fraction of the signal
    assert np.median(np.abs(sr - truth)) < 0.01 * truth.mean()
    raw = satsr.upscale(lr, echo, reference=pair["ref"], reference_matching="none", value_range=(0, 65535))
    assert raw.values.mean() > 1.4 * sr.mean()  # unmatched, the reference stays brighter
    assert raw.attrs["satsr_reference_matching"] == "none"


def test_lr_side_of_a_reference_model_is_exact(pair):
    lr = pair["lr"]
    rep = models.wrap(LRRepeat(), scale=4, bands=3, needs_reference=True)
    sr = satsr.upscale(lr, rep, reference=pair["ref"], tile=16, value_range=(0, 65535)).values[0]
    np.testing.assert_array_equal(sr, lr.values[0].repeat(4, -2).repeat(4, -1))


def test_uncovered_scene_errors_by_default_and_falls_back_on_request(pair):
    lr = pair["lr"]
    echo = models.wrap(RefEcho(), scale=4, bands=3, needs_reference=True, halo=2)  # bicubic's halo fits
    with pytest.raises(InputError, match="bicubic needs a halo of 2"):
        satsr.upscale(lr, echo, reference=pair["half"], tile=16, uncovered="fallback", halo=1)
    with pytest.raises(GeoreferenceError, match=r"covers [45]\d\.\d% of the LR scene.*uncovered='fallback'"):
        satsr.upscale(lr, echo, reference=pair["half"], tile=16)
    sr = satsr.upscale(lr, echo, reference=pair["half"], tile=16, uncovered="fallback", value_range=(0, 65535))
    assert sr.attrs["satsr_fallback"] == "bicubic"
    assert sr.attrs["satsr_fallback_tiles"] == 6  # the eastern half of the 3 x 3 lattice, plus its middle column
    assert 0.45 < sr.attrs["satsr_reference_coverage"] < 0.55
    bic = satsr.upscale(lr, "bicubic", tile=16).values[0]
    got = sr.values[0]
    east = slice(2 * 16 * 4, None)  # the eastern tile column went through bicubic
    np.testing.assert_array_equal(got[..., east], bic[..., east])
    west = slice(0, 16 * 4)
    assert not np.array_equal(got[..., west], bic[..., west])  # the covered column came from the reference
    with pytest.raises(InputError, match="not a single-image model"):
        satsr.upscale(lr, echo, reference=pair["half"], tile=16, uncovered="fallback", fallback="lgtd-s")


def test_reference_options_are_the_shorthand_in_one_object(pair):
    """``reference=ReferenceOptions(...)`` runs the job the image and the shorthand keywords describe."""
    lr = pair["lr"]
    echo = models.wrap(RefEcho(), scale=4, bands=3, needs_reference=True, halo=2)
    kw = {"tile": 16, "value_range": (0, 65535)}
    short = satsr.upscale(lr, echo, reference=pair["half"], reference_bands=[1, 2, 3], reference_matching="histogram",
                          uncovered="fallback", fallback="nearest", max_shift=5.0, **kw)
    opts = satsr.ReferenceOptions(pair["half"], bands=[1, 2, 3], matching="histogram", uncovered="fallback",
                                  fallback="nearest", max_shift=5.0)
    assert opts.bands == (1, 2, 3)
    full = satsr.upscale(lr, echo, reference=opts, **kw)
    np.testing.assert_array_equal(full.values, short.values)
    assert full.attrs == short.attrs
    assert full.attrs["satsr_fallback"] == "nearest" and full.attrs["satsr_reference_matching"] == "histogram"
    np.testing.assert_array_equal(lr.satsr.upscale(echo, reference=opts, **kw).values, full.values)
    # the defaults are the shorthand's
    np.testing.assert_array_equal(satsr.upscale(lr, echo, reference=satsr.ReferenceOptions(pair["ref"]), **kw).values,
                                  satsr.upscale(lr, echo, reference=pair["ref"], **kw).values)
    with pytest.raises(InputError, match=r"reference_matching=, max_shift= given beside reference=ReferenceOptions"):
        satsr.upscale(lr, echo, reference=opts, reference_matching="none", max_shift=1.0)
    with pytest.raises(InputError, match="uncovered must be"):
        satsr.ReferenceOptions(pair["ref"], uncovered="skip")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="not a reference-based model"):
        satsr.upscale(lr, "bicubic", reference=opts)


def test_shift_is_reported_and_warned(pair):
    lr = pair["lr"]
    echo = models.wrap(RefEcho(), scale=4, bands=3, needs_reference=True)
    sr = satsr.upscale(lr, echo, reference=pair["ref"])
    dy, dx = (float(v) for v in sr.attrs["satsr_reference_shift"].split())
    assert abs(dy) < 0.1 and abs(dx) < 0.1
    with pytest.warns(SatsrWarning, match="co-register"):
        sr = satsr.upscale(lr, echo, reference=pair["shifted"], uncovered="fallback")
    dy, dx = (float(v) for v in sr.attrs["satsr_reference_shift"].split())
    assert abs(dy) < 0.2 and abs(abs(dx) - 2) < 0.2


def test_bad_references_are_clear_errors(pair):
    lr, tmp = pair["lr"], pair["tmp"]
    with rasterio.open(pair["ref"]) as src:
        data, tr = src.read(), src.transform
    echo = models.wrap(RefEcho(), scale=4, bands=3, needs_reference=True)
    with pytest.raises(InputError, match="reference-based model: pass reference="):
        satsr.upscale(lr, "rgtgan", pretrained=False)
    with pytest.raises(InputError, match="not a reference-based model"):
        satsr.upscale(lr, "bicubic", reference=pair["ref"])
    far = write_geotiff(tmp / "far.tif", data, crs="EPSG:4326", transform=Affine.translation(40, 0) @ tr, nodata=0)
    with pytest.raises(GeoreferenceError, match="far.tif: the reference does not overlap"):
        satsr.upscale(lr, echo, reference=far)
    two = write_geotiff(tmp / "two.tif", data[:2], crs="EPSG:4326", transform=tr, nodata=0)
    with pytest.raises(InputError, match="two.tif: the reference has 2 bands and the LR 3"):
        satsr.upscale(lr, echo, reference=two)
    sr = satsr.upscale(lr, echo, reference=two, reference_bands=[1, 2, 2])
    assert sr.attrs["satsr_reference"].endswith("two.tif")
    bare = write_geotiff(tmp / "bare.tif", data, crs=None, transform=None)
    with pytest.raises(GeoreferenceError, match="bare.tif"):
        satsr.upscale(lr, echo, reference=bare)
    with pytest.raises(InputError, match="uncovered must be"):
        satsr.upscale(lr, echo, reference=pair["ref"], uncovered="skip")


@pytest.mark.slow
def test_rgtgan_tiles_match_one_forward(pair):
    """Real RGTNet (random weights, fixed seed) through the pipeline on a 24 x 24 LR corner. One tile equals one
    forward of the reflect-padded LR and reference; cross-faded tiles stay close to it (the network's field
    reaches beyond the halo, which the feathering hides)."""
    lr = pair["lr"].isel(y=slice(0, 24), x=slice(0, 24))
    torch.manual_seed(0)
    net = models.create("rgtgan", pretrained=False)
    m = 8  # the plan's margin: halo 4 + feather 4, a multiple of 4
    rng = (5000.0, 15000.0)
    prep = prepare_reference(pair["ref"], lr, 4)
    ref = (prep.window(0, 96, 0, 96) - rng[0]) / (rng[1] - rng[0])
    x = (lr.values[0].astype(np.float32) - rng[0]) / (rng[1] - rng[0])
    with torch.inference_mode():
        y = net(torch.from_numpy(pad_reflect(x, m))[None], torch.from_numpy(pad_reflect(ref, 4 * m))[None])
    whole = y[0, :, 4 * m : -4 * m, 4 * m : -4 * m].numpy() * (rng[1] - rng[0]) + rng[0]
    # A small halo and feather keep this test's windows (and its time) small.
    opts = {"halo": 4, "feather": 4, "value_range": rng}
    one = satsr.upscale(lr, net, reference=pair["ref"], tile=24, **opts).values[0].astype(np.float32)
    assert np.abs(one - np.clip(np.round(whole), 0, 65535)).max() <= 1
    tiled = satsr.upscale(lr, net, reference=pair["ref"], tile=12, **opts).values[0].astype(np.float32)
    err = np.abs(tiled - one)
    assert float(np.sqrt((err**2).mean())) < 0.05 * float(one.std())


@pytest.mark.slow
def test_cli_reference(pair, tmp_path):
    """``satsr upscale --model rgtgan --reference``: a COG with the reference's provenance; bad references stop
    before anything is written."""
    import json

    from click.testing import CliRunner

    from satsr.cli import main

    corner = pair["lr"].isel(y=slice(0, 16), x=slice(0, 16))
    lr_path = write_geotiff(tmp_path / "lr16.tif", corner.values[0], crs=corner.rio.crs.to_string(),
                            transform=corner.rio.transform())
    out = tmp_path / "sr.tif"
    args = ["upscale", str(lr_path), "-o", str(out), "-m", "rgtgan", "-O", "n_blocks=1", "--reference",
            str(pair["ref"]), "--value-range", "5000", "15000", "--device", "cpu", "--no-progress", "--random-weights"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "covers 100.0% of the scene" in result.output
    with rasterio.open(out) as src:
        assert src.width == 64 and src.crs == corner.rio.crs
        meta = json.loads(src.tags()["satsr"])
    assert meta["model"] == "rgtgan" and meta["reference"].endswith("ref.tif") and meta["fallback_tiles"] == 0
    with rasterio.open(pair["ref"]) as src:
        data, tr = src.read(), src.transform
    far = write_geotiff(tmp_path / "far.tif", data, crs="EPSG:4326", transform=Affine.translation(40, 0) @ tr,
                        nodata=0)
    bad = tmp_path / "bad.tif"
    result = CliRunner().invoke(main, [*args[:3], str(bad), *args[4:9], str(far), "--random-weights"])
    assert result.exit_code != 0 and "far.tif: the reference does not overlap" in result.output
    assert not bad.exists() and not list(tmp_path.glob("*satsr*"))
