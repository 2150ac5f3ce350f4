import json
import os

import numpy as np
import pytest
import rasterio
from affine import Affine

from satsr.cli import main

T = Affine(30.0, 0.0, 500000.0, 0.0, -30.0, 4200000.0)
# PNG frames and previews carry no georeferencing by design.
pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")


# -- upscale ---------------------------------------------------------------------------------------------------
def test_upscale_single_file_to_cog(runner, make_geotiff, out, listing):
    src = make_geotiff("scene.tif")
    dest = out / "scene_x4.tif"
    result = runner.invoke(main, ["upscale", str(src), "-o", str(dest), "--device", "cpu", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert str(dest) in result.stdout and " s" in result.stdout and "kB" in result.stdout
    assert listing(out) == ["scene_x4.tif"]
    with rasterio.open(src) as lr, rasterio.open(dest) as sr:
        assert sr.shape == (lr.height * 4, lr.width * 4) == (148, 212)
        assert sr.count == 3 and sr.dtypes[0] == "uint16"
        assert sr.crs == lr.crs
        assert sr.transform.almost_equals(lr.transform @ Affine.scale(0.25))
        assert sr.bounds == lr.bounds
        assert sr.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert json.loads(sr.tags()["satsr"])["model"] == "lgtd-s"  # the default model


def test_upscale_precision_threads_and_compile_options(runner, make_geotiff, out, monkeypatch):
    monkeypatch.delenv("SATSR_THREADS", raising=False)
    src = make_geotiff("scene.tif", shape=(3, 24, 24))
    args = ["upscale", str(src), "-o", str(out / "bf16.tif"), "-m", "bicubic", "--precision", "bf16", "--threads",
            "1", "--no-compile", "--device", "cpu"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert os.environ.pop("SATSR_THREADS") == "1"
    with rasterio.open(out / "bf16.tif") as sr:
        assert json.loads(sr.tags()["satsr"])["precision"] == "bf16"
    result = runner.invoke(main, [*args[:7], "fp64"])
    assert result.exit_code != 0 and "'fp64' is not one of" in result.output


def test_upscale_self_ensemble_is_recorded_and_changes_a_network(runner, make_geotiff, out):
    src = make_geotiff("scene.tif", shape=(3, 20, 24))
    base = ["upscale", str(src), "--device", "cpu", "--no-progress", "--precision", "fp32", "-m", "lgtd-s"]
    result = runner.invoke(main, [*base, "-o", str(out / "se.tif"), "--self-ensemble"])
    assert result.exit_code == 0, result.output
    assert "self-ensemble x8" in result.stdout
    assert runner.invoke(main, [*base, "-o", str(out / "plain.tif")]).exit_code == 0
    with rasterio.open(out / "se.tif") as se, rasterio.open(out / "plain.tif") as plain:
        assert json.loads(se.tags()["satsr"])["self_ensemble"] == 8
        assert "self_ensemble" not in json.loads(plain.tags()["satsr"])
        assert se.transform == plain.transform and se.crs == plain.crs
        assert np.abs(se.read().astype(np.int64) - plain.read()).max() > 0  # another output, same grid


def test_upscale_options_scale_gtiff_and_preview(runner, make_geotiff, out, listing):
    src = make_geotiff("scene.tif", nodata=0)
    dest = out / "x2.tif"
    png = out / "preview.png"
    args = ["upscale", str(src), "-o", str(dest), "--model", "bilinear", "--scale", "2", "--tile", "16",
            "--halo", "3", "--blend", "feather", "--batch-size", "2", "--format", "gtiff",
            "--value-range", "0", "60000", "--device", "cpu", "--preview", str(png)]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert listing(out) == ["preview.png", "x2.tif"]
    with rasterio.open(dest) as sr:
        assert sr.shape == (74, 106) and sr.nodata == 0
        assert sr.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") != "COG"
    with rasterio.open(png) as p:
        assert p.driver == "PNG" and p.count == 3 and p.dtypes[0] == "uint8"
        assert p.shape == (74, 2 * 106 + 4)


def test_upscale_model_options(runner, make_geotiff, out, listing):
    src = make_geotiff("scene.tif", shape=(3, 16, 16), dtype="uint8")
    args = ["upscale", str(src), "-o", str(out / "x.tif"), "-m", "lgtd", "--random-weights", "-O", "faithful=false",
            "--option", "align_corners=false", "--halo", "0", "--blend", "crop", "--device", "cpu"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    with rasterio.open(out / "x.tif") as sr:
        assert sr.shape == (64, 64)
    result = runner.invoke(main, ["upscale", str(src), "-o", str(out / "y.tif"), "-m", "lgtd", "-O", "faithfull=0"])
    assert result.exit_code != 0 and "unknown argument 'faithfull'; did you mean 'faithful'?" in result.output
    result = runner.invoke(main, ["upscale", str(src), "-o", str(out / "y.tif"), "-O", "faithful"])
    assert result.exit_code != 0 and "write KEY=VALUE" in result.output
    assert listing(out) == ["x.tif"]


def test_upscale_multi_frame_glob_to_folder(runner, make_geotiff, tmp_path, listing):
    for i in range(3):
        make_geotiff(f"frames/f{i}.tif", seed=i)
    dest = tmp_path / "sr"  # created by the writer; its parent exists
    result = runner.invoke(
        main,
        ["upscale", str(tmp_path / "frames" / "*.tif"), "-o", str(dest), "-m", "bicubic", "-s", "2", "--no-progress"],
    )
    assert result.exit_code == 0, result.output
    assert listing(dest) == ["f0.tif", "f1.tif", "f2.tif"]
    assert "3 frames" in result.stdout and "3 files" in result.stdout
    for i in range(3):
        with rasterio.open(dest / f"f{i}.tif") as sr:
            assert sr.shape == (74, 106) and sr.crs.to_epsg() == 32621


def test_upscale_several_inputs_and_folder_input(runner, make_geotiff, tmp_path, out, listing):
    a = make_geotiff("in/a.tif", seed=1)
    b = make_geotiff("in/b.tif", seed=2)
    result = runner.invoke(main, ["upscale", str(a), str(b), "-o", str(out), "-s", "2", "--model", "nearest"])
    assert result.exit_code == 0, result.output
    assert listing(out) == ["a.tif", "b.tif"]
    dest = tmp_path / "from_folder"
    result = runner.invoke(main, ["upscale", str(tmp_path / "in"), "-o", str(dest), "-m", "bicubic", "-s", "2"])
    assert result.exit_code == 0, result.output
    assert listing(dest) == ["a.tif", "b.tif"]


def test_upscale_to_zarr_with_preview(runner, make_geotiff, tmp_path, out, listing, assert_one_line_error):
    for i in range(2):
        make_geotiff(f"frames/f{i}.tif", seed=i, nodata=0)
    store = out / "sr.zarr"
    png = out / "p.png"
    args = ["upscale", str(tmp_path / "frames"), "-o", str(store), "-m", "bicubic", "-s", "2", "--preview", str(png)]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert listing(out) == ["p.png", "sr.zarr"]
    from satsr.io.zarr_cube import open_zarr

    sr = open_zarr(store)
    assert sr.shape == (2, 3, 74, 106) and sr.attrs["_FillValue"] == 0
    with rasterio.open(png) as p:
        assert p.shape == (74, 2 * 106 + 4)
    result = runner.invoke(main, ["upscale", str(tmp_path / "frames"), "-o", str(out / "x.tif"), "-f", "zarr"])
    assert_one_line_error(result, "--format zarr")


@pytest.mark.parametrize("names", [None, ["blue", "green", "red", "nir"]])
def test_preview_shows_the_chosen_bands_on_both_sides(runner, make_geotiff, out, names):
    src = make_geotiff(shape=(4, 20, 30), descriptions=names)
    png = out / "p.png"
    args = ["upscale", str(src), "-o", str(out / "x.tif"), "-m", "nearest", "-s", "2", "--bands", "3,2,1",
            "--preview", str(png), "--no-progress"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    with rasterio.open(png) as p:
        img = p.read()
    assert img.shape == (3, 40, 2 * 60 + 4)
    assert np.array_equal(img[:, :, :60], img[:, :, 64:])  # nearest x2: the same bands, the same picture


def test_upscale_png_with_user_georeferencing(runner, tmp_path, out):
    png = tmp_path / "frame.png"
    data = np.random.default_rng(0).integers(0, 255, (3, 20, 30), dtype=np.uint8)
    with rasterio.open(png, "w", driver="PNG", width=30, height=20, count=3, dtype="uint8") as dst:
        dst.write(data)
    dest = out / "frame_x2.tif"
    args = ["upscale", str(png), "-o", str(dest), "-m", "bicubic", "-s", "2", "--crs", "EPSG:32633",
            "--transform", "10,0,500000,0,-10,4200000"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    with rasterio.open(dest) as sr:
        assert sr.crs.to_epsg() == 32633 and sr.shape == (40, 60)
        assert sr.transform.almost_equals(Affine(5, 0, 500000, 0, -5, 4200000))


def test_upscale_bad_transform_and_crs_are_usage_errors(runner, make_geotiff, out, listing):
    src = make_geotiff()
    result = runner.invoke(main, ["upscale", str(src), "-o", str(out / "x.tif"), "--transform", "1,2,3"])
    assert result.exit_code == 2 and "six comma-separated numbers" in result.output
    result = runner.invoke(main, ["upscale", str(src), "-o", str(out / "x.tif"), "--crs", "EPSG:99999999"])
    assert result.exit_code == 2 and "--crs" in result.output
    assert listing(out) == []


# -- bad inputs: one line, exit code 1, nothing written ---------------------------------------------------------
def _mismatched_crs(make_geotiff, tmp_path, out):
    make_geotiff("in/a.tif")
    make_geotiff("in/b.tif", crs="EPSG:32633")
    return [str(tmp_path / "in" / "*.tif"), "-o", str(out / "frames")], ["b.tif", "CRS", "EPSG:32633"]


def _not_a_raster(make_geotiff, tmp_path, out):
    bad = tmp_path / "x.tif"
    bad.write_text("not a raster at all\n")
    return [str(bad), "-o", str(out / "x4.tif")], ["x.tif", "not a readable raster"]


def _truncated(make_geotiff, tmp_path, out):
    full = tmp_path / "full.tif"
    data = np.random.default_rng(0).integers(0, 65535, (3, 256, 256), dtype=np.uint16)
    with rasterio.open(full, "w", driver="GTiff", width=256, height=256, count=3, dtype="uint16", tiled=True,
                       blockxsize=256, blockysize=256, compress="deflate", crs="EPSG:32621", transform=T) as dst:
        dst.write(data)
    cut = tmp_path / "cut.tif"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    return [str(cut), "-o", str(out / "cut_x4.tif")], ["cut.tif", "truncated"]


def _png_without_georeferencing(make_geotiff, tmp_path, out):
    png = tmp_path / "frame.png"
    with rasterio.open(png, "w", driver="PNG", width=30, height=20, count=3, dtype="uint8") as dst:
        dst.write(np.zeros((3, 20, 30), dtype=np.uint8))
    return [str(png), "-o", str(out / "frame.tif")], ["frame.png", "no CRS or geotransform", "--crs"]


def _unknown_model(make_geotiff, tmp_path, out):
    return [str(make_geotiff()), "-o", str(out / "x.tif"), "--model", "bicubik"], ["unknown model 'bicubik'", "bicubic"]


def _unsupported_scale(make_geotiff, tmp_path, out):
    args = [str(make_geotiff()), "-o", str(out / "x.tif"), "-m", "bicubic", "--scale", "40"]
    return args, ["scale 40 is not supported", "1..16"]


def _empty_glob(make_geotiff, tmp_path, out):
    return [str(tmp_path / "nothing" / "*.tif"), "-o", str(out)], ["no files match"]


def _output_below_a_file(make_geotiff, tmp_path, out):
    (out / "afile").write_text("x")
    return [str(make_geotiff()), "-o", str(out / "afile" / "x.tif")], [str(out / "afile"), "is a file, not a folder"]


def _several_frames_to_one_tif(make_geotiff, tmp_path, out):
    make_geotiff("in/a.tif")
    make_geotiff("in/b.tif")
    return [str(tmp_path / "in"), "-o", str(out / "x.tif")], ["2 input frames", ".tif"]


def _output_replaces_inputs(make_geotiff, tmp_path, out):
    src = make_geotiff("out/scene.tif")
    return [str(src), "-o", str(out)], ["input files", "another output folder"]


def _unknown_device(make_geotiff, tmp_path, out):
    return [str(make_geotiff()), "-o", str(out / "x.tif"), "--device", "tpu"], ["unknown device 'tpu'"]


BAD_INPUTS = [
    _mismatched_crs, _not_a_raster, _truncated, _png_without_georeferencing, _unknown_model, _unsupported_scale,
    _empty_glob, _output_below_a_file, _several_frames_to_one_tif,
    _output_replaces_inputs, _unknown_device,
]


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[f.__name__.strip("_") for f in BAD_INPUTS])
def test_bad_input_is_one_line_error_and_writes_nothing(runner, make_geotiff, tmp_path, out, case, listing,
                                                        assert_one_line_error):
    args, needles = case(make_geotiff, tmp_path, out)
    before = listing(out)
    if "--device" not in args:
        args += ["--device", "cpu"]
    result = runner.invoke(main, ["upscale", *args])
    assert_one_line_error(result, *needles)
    assert listing(out) == before


def test_band_count_the_model_cannot_take(runner, make_geotiff, out, rgb_only_model, listing, assert_one_line_error):
    src = make_geotiff("four.tif", shape=(4, 20, 30))
    result = runner.invoke(main, ["upscale", str(src), "-o", str(out / "x.tif"), "--model", rgb_only_model])
    assert_one_line_error(result, rgb_only_model, "takes 3 bands", "has 4")
    assert listing(out) == []
    # The same model accepts a 3-band input.
    ok = make_geotiff("three.tif", shape=(3, 20, 30))
    result = runner.invoke(main, ["upscale", str(ok), "-o", str(out / "ok.tif"), "--model", rgb_only_model])
    assert result.exit_code == 0, result.output
    assert listing(out) == ["ok.tif"]


def test_corrupt_block_found_while_computing_leaves_nothing(runner, make_geotiff, tmp_path, out, listing,
                                                            assert_one_line_error):
    """A block that fails to decode mid-run (after the open-time checks passed) leaves no output."""
    src = tmp_path / "corrupt.tif"
    data = np.random.default_rng(0).integers(0, 65535, (3, 64, 64), dtype=np.uint16)
    with rasterio.open(src, "w", driver="GTiff", width=64, height=64, count=3, dtype="uint16", tiled=True,
                       blockxsize=16, blockysize=16, compress="deflate", crs="EPSG:32621", transform=T) as dst:
        dst.write(data)
    with rasterio.open(src) as ds:
        offset = int(ds.get_tag_item("BLOCK_OFFSET_1_1", "TIFF", bidx=1))
        size = int(ds.get_tag_item("BLOCK_SIZE_1_1", "TIFF", bidx=1))
    raw = bytearray(src.read_bytes())
    raw[offset : offset + size] = b"\xff" * size
    src.write_bytes(bytes(raw))
    result = runner.invoke(main, ["upscale", str(src), "-o", str(out / "x.tif"), "--device", "cpu", "--tile", "16"])
    assert_one_line_error(result, "corrupt.tif", "read failed")
    assert listing(out) == []



def test_upscale_band_selection(runner, make_geotiff, out):
    src = make_geotiff("four.tif", shape=(4, 9, 11), descriptions=["b", "g", "r", "n"])
    dest = out / "rgb.tif"
    res = runner.invoke(main, ["upscale", str(src), "-o", str(dest), "--model", "nearest", "--scale", "2",
                               "--bands", "3,2,1", "--no-progress"])
    assert res.exit_code == 0, res.output
    with rasterio.open(dest) as ds, rasterio.open(src) as s:
        assert ds.count == 3 and ds.descriptions == ("r", "g", "b")
        np.testing.assert_array_equal(ds.read(1)[::2, ::2], s.read(3))
    res = runner.invoke(main, ["upscale", str(src), "-o", str(out / "x.tif"), "--bands", "3,x"])
    assert res.exit_code == 1 and "error: --bands '3,x'" in res.output


def test_missing_output_folders_are_created_by_every_output_option(runner, make_geotiff, tmp_path):
    src = make_geotiff()
    new = tmp_path / "new"
    res = runner.invoke(main, ["upscale", str(src), "-m", "bicubic", "-o", str(new / "a" / "x.tif"),
                               "--preview", str(new / "b" / "p.png"), "--device", "cpu", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert (new / "a" / "x.tif").is_file() and (new / "b" / "p.png").is_file()
    res = runner.invoke(main, ["upscale", str(src), "-m", "bicubic", "-o", str(new / "c" / "frames"), "--device",
                               "cpu", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert [p.name for p in (new / "c" / "frames").iterdir()] == [src.name]
    res = runner.invoke(main, ["catalog", "init", str(src.parent), "-o", str(new / "products" / "catalog.json")])
    assert res.exit_code == 0, res.output
    assert (new / "products" / "catalog.json").is_file()
