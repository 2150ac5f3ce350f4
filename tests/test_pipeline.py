import numpy as np
import pytest
import rasterio
import torch
import xarray as xr
from torch import nn

import satsr
from satsr import models
from satsr.coregistration import phase_shift
from satsr.errors import InputError, ModelError, UnknownModelError
from satsr.geo import Grid
from satsr.models.registry import bundled_weights
from satsr.tiling import pad_reflect


def _conv_net(scale: int = 3, seed: int = 0) -> nn.Module:
    """Random 3-layer conv net, receptive-field radius 3 (LR pixels)."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 3 * scale * scale, 3, padding=1), nn.PixelShuffle(scale),
    )


def _whole(model: nn.Module, img: np.ndarray, halo: int, scale: int) -> np.ndarray:
    """Whole-image reference: reflect-pad by halo, one forward, crop."""
    x = torch.from_numpy(pad_reflect(img, halo)).float()[None]
    with torch.inference_mode():
        y = model(x)[0].numpy()
    c = halo * scale
    return y[:, c : y.shape[1] - c, c : y.shape[2] - c]


def _stack(img: np.ndarray) -> xr.DataArray:
    from affine import Affine

    from satsr.io.coords import assign_grid

    coords = {"time": [0], "band": [1, 2, 3][: img.shape[0]]}
    da = xr.DataArray(img[None], dims=("time", "band", "y", "x"), coords=coords)
    return assign_grid(da, Grid(img.shape[1:], Affine(10, 0, 1000, 0, -10, 5000), "EPSG:32633"))


@pytest.mark.parametrize("shape", [(37, 53), (61, 29), (100, 131)])
@pytest.mark.parametrize("tile", [16, 23, 64])
def test_tiled_equals_whole_bicubic(shape, tile):
    rng = np.random.default_rng(1)
    img = rng.random((3, *shape), dtype=np.float32)
    sr = satsr.upscale(_stack(img), "bicubic", scale=4, tile=tile, device="cpu").values[0]
    ref = _whole(models.create("bicubic", scale=4), img, halo=2, scale=4)
    assert sr.shape == ref.shape == (3, shape[0] * 4, shape[1] * 4)
    assert np.abs(sr - ref).max() <= 1e-5


@pytest.mark.parametrize("shape", [(37, 53), (45, 71)])
@pytest.mark.parametrize("tile, batch", [(16, 1), (19, 3), (32, 4)])
def test_tiled_equals_whole_conv_net(shape, tile, batch):
    net = _conv_net(3)
    model = models.wrap(net, scale=3, halo=3, bands=3)
    img = np.random.default_rng(2).random((3, *shape), dtype=np.float32)
    # fp32: exact arithmetic against the fp32 whole image (the CPU default may be bf16)
    sr = satsr.upscale(_stack(img), model, tile=tile, batch_size=batch, device="cpu", precision="fp32").values[0]
    ref = _whole(net, img, halo=3, scale=3)
    assert np.abs(sr - ref).max() <= 1e-5


def test_too_small_halo_is_detected():
    """The equality test can fail: a halo below the receptive field leaves seams."""
    net = _conv_net(3)
    img = np.random.default_rng(2).random((3, 40, 40), dtype=np.float32)
    sr = satsr.upscale(_stack(img), models.wrap(net, scale=3, halo=1), tile=16, device="cpu").values[0]
    assert np.abs(sr - _whole(net, img, halo=3, scale=3)).max() > 1e-3


def test_feather_is_exact_with_enough_halo_and_independent_of_chunking():
    net = _conv_net(2)
    model = models.wrap(net, scale=2, halo=3, bands=3)
    img = np.random.default_rng(3).random((3, 47, 58), dtype=np.float32)
    ref = _whole(net, img, halo=3, scale=2)
    outs = [
        satsr.upscale(_stack(img), model, tile=tile, blend="feather", feather=2, batch_size=b, device="cpu",
                      precision="fp32").values[0]  # exact arithmetic, not the CPU's default precision
        for tile, b in ((16, 1), (16, 4), (20, 9))
    ]
    for o in outs:
        assert np.abs(o - ref).max() <= 1e-5


def test_output_grid_metadata_and_dtype(make_geotiff):
    p = make_geotiff("a.tif", shape=(3, 37, 53), descriptions=["blue", "green", "red"], nodata=0)
    da = satsr.open_stack(p)
    sr = satsr.upscale(da, "bicubic", scale=4)
    g, gz = Grid.from_xarray(da), Grid.from_xarray(sr)
    assert gz == g.zoom(4) and gz.corners == g.corners
    assert sr.shape == (1, 3, 148, 212) and sr.dtype == np.uint16
    assert sr.rio.crs == da.rio.crs and sr.rio.transform() == g.zoom(4).transform
    assert list(sr["description"].values) == ["blue", "green", "red"]
    assert sr.attrs["_FillValue"] == 0
    assert sr.attrs["satsr_model"] == "bicubic" and sr.attrs["satsr_scale"] == 4
    assert sr.chunks is not None  # lazy


def test_integer_round_trip_is_exact_with_nearest(make_geotiff):
    p = make_geotiff("a.tif", shape=(2, 21, 33), dtype="uint16")
    da = satsr.open_stack(p)
    sr = satsr.upscale(da, "nearest", scale=3, tile=8).values
    np.testing.assert_array_equal(sr[..., 1::3, 1::3], da.values)
    for dtype in ("uint8", "int16", "float32"):
        q = make_geotiff(f"{dtype}.tif", shape=(1, 9, 11), dtype=dtype)
        d = satsr.open_stack(q)
        np.testing.assert_array_equal(satsr.upscale(d, "nearest", scale=1).values, d.values)
    # 32-bit integers go through float32 models: exact only within float32's 24-bit mantissa
    d = satsr.open_stack(make_geotiff("i32.tif", shape=(1, 9, 11), dtype="int32"))
    np.testing.assert_allclose(satsr.upscale(d, "nearest", scale=1).values, d.values, atol=2**32 * 2**-24)


def test_nodata_stays_nodata_and_never_bleeds(make_geotiff):
    data = np.full((3, 40, 50), 1000, np.uint16)
    data[:, 10:20, 15:30] = 0  # nodata hole
    data[:, :, :3] = 0  # nodata border
    p = make_geotiff("n.tif", data, nodata=0)
    sr = satsr.upscale(satsr.open_stack(p), "bicubic", scale=4, tile=16).values[0]
    mask = np.repeat(np.repeat(data == 0, 4, -2), 4, -1)
    assert (sr[mask] == 0).all()
    assert (sr[~mask] == 1000).all()  # a zero fill would have darkened the edges of the hole


@pytest.mark.parametrize("key", ["_FillValue", "nodata"])
def test_nodata_in_encoding_is_masked_as_in_attrs(make_geotiff, tmp_path, key):
    """rioxarray's mask_and_scale keeps nodata in ``.encoding``: upscale masks it there too, and the output
    declares it, so a writer writes the nodata value that was masked (it used to write one never masked)."""
    data = np.full((3, 40, 50), 1000, np.uint16)
    data[:, 10:20, 15:30] = 0
    data[:, :, :3] = 0
    da = satsr.open_stack(make_geotiff("n.tif", data, nodata=0))
    enc = da.copy()
    enc.attrs.pop("_FillValue")
    enc.encoding = {key: 0}
    want = satsr.upscale(da, "bicubic", scale=4, tile=16)
    got = satsr.upscale(enc, "bicubic", scale=4, tile=16)
    np.testing.assert_array_equal(got.values, want.values)
    mask = np.repeat(np.repeat(data == 0, 4, -2), 4, -1)
    assert (got.values[0][mask] == 0).all() and (got.values[0][~mask] == 1000).all()
    assert got.attrs["_FillValue"] == 0
    with rasterio.open(satsr.to_cog(got, tmp_path / "sr.tif")[0]) as src:
        assert src.nodata == 0
    # without any nodata the holes are data: bicubic darkens the pixels around them
    plain = da.copy()
    plain.attrs.pop("_FillValue")
    assert not np.array_equal(satsr.upscale(plain, "bicubic", scale=4, tile=16).values, want.values)


def test_nan_is_nodata_in_float(make_geotiff):
    data = np.random.default_rng(0).random((3, 30, 30)).astype(np.float32)
    data[:, 5:9, 5:9] = np.nan
    p = make_geotiff("f.tif", data, dtype="float32")
    sr = satsr.upscale(satsr.open_stack(p), "bicubic", scale=2, tile=16).values[0]
    nanmask = np.repeat(np.repeat(np.isnan(data), 2, -2), 2, -1)
    np.testing.assert_array_equal(np.isnan(sr), nanmask)


def test_valid_pixel_equal_to_nodata_is_nudged(make_geotiff):
    data = np.full((3, 20, 20), 1, np.uint8)
    data[:, 10:, :] = 0
    data[:, 0:4, 0:4] = 255
    data[:, 2, 2] = 1  # sharp dip: bicubic undershoot clips to 0 = nodata
    sr = satsr.upscale(satsr.open_stack(make_geotiff("u.tif", data, dtype="uint8", nodata=0)), "bicubic", scale=4)
    out = sr.values[0]
    mask = np.repeat(np.repeat(data == 0, 4, -2), 4, -1)
    assert (out[~mask] != 0).all() and (out[mask] == 0).all()


@pytest.mark.slow
def test_sr_reprojects_onto_input_within_0_01_px(shared_data):
    """Area-averaging the SR back by `scale` re-aligns with the real LR scene (phase correlation)."""
    da = satsr.open_stack(shared_data / "geotiff" / "landsat8_rgb_30m_uint16.tif")
    da = da.isel(y=slice(600, 856), x=slice(700, 956))
    for model in ("bicubic", "bilinear", "nearest"):
        sr = satsr.upscale(da, model, scale=4, tile=100).values[0].astype(np.float64)
        back = sr.reshape(3, 256, 4, 256, 4).mean(axis=(2, 4))
        for b in range(3):
            dy, dx = phase_shift(da.values[0, b].astype(np.float64), back[b])
            assert abs(dy) < 0.01 and abs(dx) < 0.01, (model, b, dy, dx)
    # the check has teeth: one SR pixel of shift is a quarter LR pixel
    shifted = np.roll(sr, 1, axis=-1).reshape(3, 256, 4, 256, 4).mean(axis=(2, 4))
    assert phase_shift(da.values[0, 0].astype(np.float64), shifted[0])[1] == pytest.approx(0.25, abs=0.02)


def test_video_model_gets_clamped_time_window():
    class Weighted(nn.Module):
        def forward(self, x):  # (B, T, C, H, W): distinguishes frame order
            return x[:, 0] * 1 + x[:, 1] * 10 + x[:, 2] * 100

    model = models.wrap(Weighted(), scale=1, frames_in=3)
    vals = np.arange(4, dtype=np.float32)[:, None, None, None] * np.ones((4, 1, 9, 7), np.float32)
    da = xr.DataArray(vals, dims=("time", "band", "y", "x"))
    from affine import Affine

    from satsr.io.coords import assign_grid
    da = assign_grid(da, Grid((9, 7), Affine(1, 0, 0, 0, -1, 9)))
    out = satsr.upscale(da, model, tile=4).values[:, 0, 0, 0]
    # frames (t-1, t, t+1) clamped: t=0 -> (0,0,1), t=3 -> (2,3,3)
    np.testing.assert_array_equal(out, [0 + 0 + 100, 0 + 10 + 200, 1 + 20 + 300, 2 + 30 + 300])


def test_registered_model_is_built_once_per_process(make_geotiff):
    calls = []

    @models.register("test-counting-bicubic", scale=2, bands=None, halo=2)
    def _build():
        calls.append(1)
        return models.interp.Interpolate(2, "bicubic")

    da = satsr.open_stack(make_geotiff("c.tif", shape=(3, 70, 70)))
    satsr.upscale(da, "test-counting-bicubic", tile=16, batch_size=1).compute()
    satsr.upscale(da, "test-counting-bicubic", tile=32, batch_size=1).compute()
    assert len(calls) == 1
    # a later call without batch_size gets the automatic choice again, not the previous caller's 1
    from satsr.engine import make_runner

    satsr.upscale(da, "test-counting-bicubic", tile=32).compute()
    runner = make_runner("test-counting-bicubic", None, None, torch.device("cpu"), None)
    assert runner.batch_size is None and runner.choose_batch((3, 8, 8)) == 4 and len(calls) == 1
    # on the CPU, large windows (here a video model's five 384 x 384 frames) go one per forward
    assert runner.choose_batch((5, 3, 384, 384)) == 1 and runner.choose_batch((3, 8, 8)) == 4


def test_graph_is_blockwise_and_bounded(make_geotiff):
    da = satsr.open_stack(make_geotiff("b.tif", shape=(3, 300, 260)))
    sr = satsr.upscale(da, "bicubic", scale=4, tile=64, batch_size=4)
    # blocks of 2x2 tiles: no chunk larger than 128*4 px per side, never the whole scene
    assert max(sr.chunks[2]) == 512 and max(sr.chunks[3]) == 512
    assert len(sr.data.__dask_graph__()) < 200


def test_to_cog_holds_less_than_two_rows_of_source_blocks(make_geotiff, tmp_path):
    """Peak memory must not grow with the scene: while the blocks stream to a COG, dask holds less than two rows of
    source blocks (a block's halo reaches into the rows above and below), whatever the scene's height.

    The file is read in chunks larger than the blocks, as ``open_stack`` does by default. Before, the blocks were
    pieces of a rechunk and the writer's compute joined the results in one task: dask's ordering then held most
    of the scene (75 source blocks here, of 128).
    """
    import dask
    from dask.callbacks import Callback

    from satsr.io.write import to_cog

    path = make_geotiff("wide.tif", shape=(3, 256, 512), tiled=True)
    da = satsr.open_stack(path, chunks=128)
    sr = satsr.upscale(da, "bicubic", tile=16, device="cpu")  # blocks of one batch, one row of 4 tiles: 16 x 64
    assert (sr.chunks[2][0], sr.chunks[3][0]) == (64, 256)
    block_bytes = 3 * 16 * 64 * 2
    held = [0]

    class Held(Callback):
        def _posttask(self, key, result, dsk, state, worker_id):
            source = [v for v in state["cache"].values()
                      if isinstance(v, np.ndarray) and v.ndim == 4 and v.shape[-2:] <= (16, 64)]
            held[0] = max(held[0], sum(v.nbytes for v in source))

    with dask.config.set(scheduler="synchronous"), Held():
        to_cog(sr, tmp_path / "sr.tif", blocksize=64)
    row = 512 // 64  # source blocks in a row of blocks
    assert 0 < held[0] <= 2 * row * block_bytes, held[0] / block_bytes
    with rasterio.open(tmp_path / "sr.tif") as f:
        np.testing.assert_array_equal(f.read(), sr.values[0])


def test_accessor_delegates(make_geotiff):
    da = satsr.open_stack(make_geotiff("acc.tif"))
    a = da.satsr.upscale(model="bilinear", scale=2)
    b = satsr.upscale(da, "bilinear", scale=2)
    np.testing.assert_array_equal(a.values, b.values)
    assert da.satsr.grid == Grid.from_xarray(da)


def test_band_dims_without_time(make_geotiff):
    da = satsr.open_stack(make_geotiff("t.tif")).isel(time=0)
    sr = satsr.upscale(da, "nearest", scale=2)
    assert sr.dims == ("band", "y", "x") and sr.shape == (3, 74, 106)


def test_errors(make_geotiff):
    da = satsr.open_stack(make_geotiff("e.tif", shape=(4, 10, 10)))
    with pytest.raises(UnknownModelError, match="did you mean bicubic"):
        satsr.upscale(da, "bicubc")
    with pytest.raises(ModelError, match="scale 40 is not supported"):
        satsr.upscale(da, "bicubic", scale=40)
    with pytest.raises(InputError, match="takes 3 bands, the stack has 4"):
        satsr.upscale(da, models.wrap(_conv_net(2), scale=2, bands=3))
    with pytest.raises(ModelError, match="upscales by 2"):
        satsr.upscale(da, models.wrap(_conv_net(2), scale=2), scale=4)
    with pytest.raises(InputError, match=r"satsr takes \(y, x\), \(band, y, x\)"):
        satsr.upscale(da.transpose("band", "time", "y", "x"), "bicubic")
    with pytest.raises(InputError, match="device"):
        satsr.upscale(da, "bicubic", device="tpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
def test_cuda_matches_cpu(make_geotiff):
    da = satsr.open_stack(make_geotiff("g.tif", shape=(3, 50, 60), dtype="float32"))
    net = models.wrap(_conv_net(2), scale=2, halo=3)
    a = satsr.upscale(da, net, device="cpu").values
    b = satsr.upscale(da, net, device="cuda", precision="fp32").values
    assert np.abs(a - b).max() < 1e-4
    c = satsr.upscale(da, net, device="cuda")  # auto: bf16 autocast, channels_last, compiled
    assert c.attrs["satsr_precision"] in ("bf16", "fp16") and np.abs(a - c.values).max() < 2e-2


def test_accessor_signatures_match_functions(monkeypatch):
    import inspect

    import satsr.pipeline
    from satsr.accessor import SatsrAccessor

    for name, func in (("to_cog", satsr.to_cog), ("to_zarr", satsr.to_zarr)):
        f = list(inspect.signature(func).parameters.values())[1:]
        m = list(inspect.signature(getattr(SatsrAccessor, name)).parameters.values())[1:]
        assert [(p.name, p.kind, p.default) for p in f] == [(p.name, p.kind, p.default) for p in m], name
    # upscale: the model as the function's, then every keyword of satsr.upscale passed on unchanged (**options)
    f = list(inspect.signature(satsr.upscale).parameters.values())
    m = list(inspect.signature(SatsrAccessor.upscale).parameters.values())
    assert [(p.name, p.kind, p.default) for p in f[1:2]] == [(p.name, p.kind, p.default) for p in m[1:2]]
    assert [p.kind for p in m[2:]] == [inspect.Parameter.VAR_KEYWORD]
    keywords = [p.name for p in f[2:]]
    assert keywords and all(p.kind == inspect.Parameter.KEYWORD_ONLY for p in f[2:])
    calls = []
    monkeypatch.setattr(satsr.pipeline, "upscale", lambda *args, **kw: calls.append((args, kw)))
    da = xr.DataArray(np.zeros((1, 1, 2, 2)), dims=("time", "band", "y", "x"))
    sent = {k: object() for k in keywords}
    da.satsr.upscale("bicubic", **sent)
    (args, kw), = calls
    assert args[0] is da and args[1:] == ("bicubic",) and kw == sent and all(kw[k] is sent[k] for k in sent)
    da.satsr.upscale()
    assert calls[-1][0][0] is da and calls[-1][0][1:] == (f[1].default,) and calls[-1][1] == {}


def test_nudge_applies_in_blocks_without_nodata(make_geotiff):
    data = np.full((3, 20, 20), 1, np.uint8)
    data[:, 0:4, 0:4] = 255
    data[:, 2, 2] = 1  # bicubic undershoot next to the bright square clips to 0 = nodata
    sr = satsr.upscale(satsr.open_stack(make_geotiff("v.tif", data, dtype="uint8", nodata=0)), "bicubic", scale=4)
    assert (sr.values != 0).all()


def test_band_selection(make_geotiff):
    da = satsr.open_stack(make_geotiff("b4.tif", shape=(4, 10, 12), descriptions=["b", "g", "r", "n"]))
    net = models.wrap(_conv_net(2), scale=2, halo=3, bands=3)
    with pytest.raises(InputError, match=r"choose them with bands=\[\.\.\.\]"):
        satsr.upscale(da, net)
    sr = satsr.upscale(da, net, bands=[3, 2, 1])
    assert list(sr["description"].values) == ["r", "g", "b"] and list(sr["band"].values) == [3, 2, 1]
    np.testing.assert_array_equal(
        satsr.upscale(da, "nearest", scale=1, bands=[4]).values[0, 0], da.values[0, 3]
    )
    with pytest.raises(InputError, match=r"the stack has bands \[1, 2, 3, 4\]"):
        satsr.upscale(da, net, bands=[5, 1, 2])


@pytest.mark.parametrize("batch", [1, 4])
def test_feathered_tiles_are_computed_once(make_geotiff, batch):
    """Feathering needs neighbours' edge tiles; each tile is still predicted exactly once."""
    calls = []

    class Counting(torch.nn.Module):
        def forward(self, x):
            calls.append(x.shape[0])
            return torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")

    net = models.wrap(Counting(), scale=2, halo=2)
    da = satsr.open_stack(make_geotiff("f.tif", shape=(3, 64, 48)))
    sr = satsr.upscale(da, net, tile=16, blend="feather", feather=4, batch_size=batch)
    out = sr.values
    assert sum(calls) == 4 * 3  # a 4 x 3 lattice of 16 px tiles
    np.testing.assert_array_equal(out, satsr.upscale(da, net, tile=64, blend="crop").values)


def test_default_model_is_the_shipped_lgtd_s(make_geotiff):
    """No model named: satsr's trained RGB x4 model, with its shipped weights (not a random network)."""
    da = satsr.open_stack(make_geotiff(shape=(3, 12, 16), dtype="uint8"))
    sr = satsr.upscale(da, device="cpu")
    assert sr.attrs["satsr_model"] == "lgtd-s" == models.DEFAULT_MODEL
    assert sr.shape == (1, 3, 48, 64)
    trained = satsr.upscale(da, "lgtd-s", device="cpu", pretrained=bundled_weights(models.get_spec("lgtd-s")))
    np.testing.assert_array_equal(sr.values, trained.values)
    assert da.satsr.upscale(device="cpu").attrs["satsr_model"] == "lgtd-s"


def test_default_model_names_the_way_out_for_other_band_counts(make_geotiff):
    da = satsr.open_stack(make_geotiff(shape=(4, 12, 16)))
    with pytest.raises(InputError, match=r"lgtd-s takes 3 bands, the stack has 4.*bands=\[.*model='bicubic'"):
        satsr.upscale(da, device="cpu")
    assert satsr.upscale(da, "bicubic", device="cpu").sizes["band"] == 4


def test_default_tile_is_sized_to_the_halo_and_an_explicit_tile_wins(make_geotiff):
    from satsr.tiling import default_tile

    net = models.wrap(_conv_net(2), scale=2, halo=20, bands=3)
    da = satsr.open_stack(make_geotiff("t.tif", shape=(3, 300, 700), dtype="float32"))
    sr = satsr.upscale(da, net, device="cpu")
    assert default_tile(20, min_tile=256) == 286  # 14.3 halos; over 700 px: three tiles of 234
    assert sr.attrs["satsr_tile"] == default_tile(20, shape=(300, 700), min_tile=256) == 234
    assert satsr.upscale(da, net, device="cpu", tile=64).attrs["satsr_tile"] == 64
    small = satsr.open_stack(make_geotiff("s.tif", shape=(3, 40, 52), dtype="float32"))
    assert satsr.upscale(small, net, device="cpu").attrs["satsr_tile"] == 52  # one tile
