import json
import os
import traceback
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from click.testing import CliRunner

from satsr.cli import main
from satsr.errors import InputError, SatsrError
from satsr.models import interp, registry

T = Affine(30.0, 0.0, 500000.0, 0.0, -30.0, 4200000.0)
# PNG frames and previews carry no georeferencing by design.
pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


@pytest.fixture
def rgb_only_model(monkeypatch) -> str:
    """A model registered for this test only, that takes exactly 3 bands."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    name = "test-cli-rgb-only"

    @registry.register(name, scale=2, bands=3, halo=0, description="test model: 3 bands only")
    def build() -> interp.Interpolate:
        return interp.Interpolate(2, "nearest")

    return name


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())  # hidden files included


def _assert_one_line_error(result, *needles: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in result.output


# -- upscale ---------------------------------------------------------------------------------------------------
def test_upscale_single_file_to_cog(runner, make_geotiff, out):
    src = make_geotiff("scene.tif")
    dest = out / "scene_x4.tif"
    result = runner.invoke(main, ["upscale", str(src), "-o", str(dest), "--device", "cpu", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert str(dest) in result.stdout and " s" in result.stdout and "kB" in result.stdout
    assert _listing(out) == ["scene_x4.tif"]
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


def test_upscale_options_scale_gtiff_and_preview(runner, make_geotiff, out):
    src = make_geotiff("scene.tif", nodata=0)
    dest = out / "x2.tif"
    png = out / "preview.png"
    args = ["upscale", str(src), "-o", str(dest), "--model", "bilinear", "--scale", "2", "--tile", "16",
            "--halo", "3", "--blend", "feather", "--batch-size", "2", "--format", "gtiff",
            "--value-range", "0", "60000", "--device", "cpu", "--preview", str(png)]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert _listing(out) == ["preview.png", "x2.tif"]
    with rasterio.open(dest) as sr:
        assert sr.shape == (74, 106) and sr.nodata == 0
        assert sr.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") != "COG"
    with rasterio.open(png) as p:
        assert p.driver == "PNG" and p.count == 3 and p.dtypes[0] == "uint8"
        assert p.shape == (74, 2 * 106 + 4)


def test_upscale_model_options(runner, make_geotiff, out):
    src = make_geotiff("scene.tif", shape=(3, 16, 16), dtype="uint8")
    args = ["upscale", str(src), "-o", str(out / "x.tif"), "-m", "lgtd", "-O", "faithful=false",
            "--option", "align_corners=false", "--halo", "0", "--blend", "crop", "--device", "cpu"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    with rasterio.open(out / "x.tif") as sr:
        assert sr.shape == (64, 64)
    result = runner.invoke(main, ["upscale", str(src), "-o", str(out / "y.tif"), "-m", "lgtd", "-O", "faithfull=0"])
    assert result.exit_code != 0 and "unknown argument 'faithfull'; did you mean 'faithful'?" in result.output
    result = runner.invoke(main, ["upscale", str(src), "-o", str(out / "y.tif"), "-O", "faithful"])
    assert result.exit_code != 0 and "write KEY=VALUE" in result.output
    assert _listing(out) == ["x.tif"]


def test_upscale_multi_frame_glob_to_folder(runner, make_geotiff, tmp_path):
    for i in range(3):
        make_geotiff(f"frames/f{i}.tif", seed=i)
    dest = tmp_path / "sr"  # created by the writer; its parent exists
    result = runner.invoke(
        main,
        ["upscale", str(tmp_path / "frames" / "*.tif"), "-o", str(dest), "-m", "bicubic", "-s", "2", "--no-progress"],
    )
    assert result.exit_code == 0, result.output
    assert _listing(dest) == ["f0.tif", "f1.tif", "f2.tif"]
    assert "3 frames" in result.stdout and "3 files" in result.stdout
    for i in range(3):
        with rasterio.open(dest / f"f{i}.tif") as sr:
            assert sr.shape == (74, 106) and sr.crs.to_epsg() == 32621


def test_upscale_several_inputs_and_folder_input(runner, make_geotiff, tmp_path, out):
    a = make_geotiff("in/a.tif", seed=1)
    b = make_geotiff("in/b.tif", seed=2)
    result = runner.invoke(main, ["upscale", str(a), str(b), "-o", str(out), "-s", "2", "--model", "nearest"])
    assert result.exit_code == 0, result.output
    assert _listing(out) == ["a.tif", "b.tif"]
    dest = tmp_path / "from_folder"
    result = runner.invoke(main, ["upscale", str(tmp_path / "in"), "-o", str(dest), "-m", "bicubic", "-s", "2"])
    assert result.exit_code == 0, result.output
    assert _listing(dest) == ["a.tif", "b.tif"]


def test_upscale_to_zarr_with_preview(runner, make_geotiff, tmp_path, out):
    for i in range(2):
        make_geotiff(f"frames/f{i}.tif", seed=i, nodata=0)
    store = out / "sr.zarr"
    png = out / "p.png"
    args = ["upscale", str(tmp_path / "frames"), "-o", str(store), "-m", "bicubic", "-s", "2", "--preview", str(png)]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert _listing(out) == ["p.png", "sr.zarr"]
    from satsr.io.zarr_cube import open_zarr

    sr = open_zarr(store)
    assert sr.shape == (2, 3, 74, 106) and sr.attrs["_FillValue"] == 0
    with rasterio.open(png) as p:
        assert p.shape == (74, 2 * 106 + 4)
    result = runner.invoke(main, ["upscale", str(tmp_path / "frames"), "-o", str(out / "x.tif"), "-f", "zarr"])
    _assert_one_line_error(result, "--format zarr")


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


def test_upscale_bad_transform_and_crs_are_usage_errors(runner, make_geotiff, out):
    src = make_geotiff()
    result = runner.invoke(main, ["upscale", str(src), "-o", str(out / "x.tif"), "--transform", "1,2,3"])
    assert result.exit_code == 2 and "six comma-separated numbers" in result.output
    result = runner.invoke(main, ["upscale", str(src), "-o", str(out / "x.tif"), "--crs", "EPSG:99999999"])
    assert result.exit_code == 2 and "--crs" in result.output
    assert _listing(out) == []


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
def test_bad_input_is_one_line_error_and_writes_nothing(runner, make_geotiff, tmp_path, out, case):
    args, needles = case(make_geotiff, tmp_path, out)
    before = _listing(out)
    if "--device" not in args:
        args += ["--device", "cpu"]
    result = runner.invoke(main, ["upscale", *args])
    _assert_one_line_error(result, *needles)
    assert _listing(out) == before


def test_band_count_the_model_cannot_take(runner, make_geotiff, out, rgb_only_model):
    src = make_geotiff("four.tif", shape=(4, 20, 30))
    result = runner.invoke(main, ["upscale", str(src), "-o", str(out / "x.tif"), "--model", rgb_only_model])
    _assert_one_line_error(result, rgb_only_model, "takes 3 bands", "has 4")
    assert _listing(out) == []
    # The same model accepts a 3-band input.
    ok = make_geotiff("three.tif", shape=(3, 20, 30))
    result = runner.invoke(main, ["upscale", str(ok), "-o", str(out / "ok.tif"), "--model", rgb_only_model])
    assert result.exit_code == 0, result.output
    assert _listing(out) == ["ok.tif"]


def test_corrupt_block_found_while_computing_leaves_nothing(runner, make_geotiff, tmp_path, out):
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
    _assert_one_line_error(result, "corrupt.tif", "read failed")
    assert _listing(out) == []


def test_debug_shows_traceback(runner, tmp_path, out):
    args = ["--debug", "upscale", str(tmp_path / "nothing" / "*.tif"), "-o", str(out)]
    result = runner.invoke(main, args)
    assert result.exit_code == 1
    assert isinstance(result.exception, InputError) and isinstance(result.exception, SatsrError)
    text = "".join(traceback.format_exception(*result.exc_info))
    assert text.startswith("Traceback") and "no files match" in text
    assert "error:" not in result.output


# -- models, info, help ------------------------------------------------------------------------------------------
def test_models_table(runner, rgb_only_model):
    result = runner.invoke(main, ["models"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["name", "scale", "frames_in", "bands", "halo", "weights", "description"]
    bicubic = next(line for line in lines if line.startswith("bicubic "))
    assert bicubic.split()[:9] == ["bicubic", "1..16", "(default", "4)", "1", "any", "2", "none", "needed"]
    assert next(line for line in lines if line.startswith("lgtd-s ")).split()[5] == "shipped"
    assert next(line for line in lines if line.startswith("lgfn ")).split()[5] == "--pretrained"
    assert "bicubic interpolation" in bicubic
    mine = next(line for line in lines if line.startswith(rgb_only_model))
    assert mine.split()[1:5] == ["2", "1", "3", "0"]
    assert lines[-1].startswith("default model: lgtd-s ")
    lgtd_s = next(line for line in lines if line.startswith("lgtd-s "))
    assert lgtd_s.split()[1:5] == ["4", "5", "3", "40"]
    mstt = next(line for line in lines if line.startswith("mstt "))
    assert mstt.split()[1:5] == ["4", "4->7", "3", "40"]  # space-time: 4 frames in, 7 out


def test_info_text_and_json(runner, make_geotiff):
    src = make_geotiff("info.tif", nodata=0, descriptions=["red", "green", "blue"], datetime="2021:06:01 10:00:00")
    result = runner.invoke(main, ["info", str(src)])
    assert result.exit_code == 0, result.output
    text = result.stdout
    for needle in ["53 x 37", "EPSG:32621", "uint16", "nodata:", "30 x 30", "500000, 4198890, 501590, 4200000",
                   "(30, 0, 500000, 0, -30, 4200000)", "compression:", "overviews:   none", "2: green", "2021-06-01"]:
        assert needle in text, (needle, text)
    result = runner.invoke(main, ["info", str(src), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["crs"] == "EPSG:32621" and info["bands"] == 3 and info["nodata"] == 0
    assert info["transform"] == [30.0, 0.0, 500000.0, 0.0, -30.0, 4200000.0]


def test_info_shows_satsr_tag_of_outputs(runner, make_geotiff, out):
    src = make_geotiff()
    args = ["upscale", str(src), "-o", str(out / "x.tif"), "-m", "bicubic", "-s", "2"]
    assert runner.invoke(main, args).exit_code == 0
    result = runner.invoke(main, ["info", str(out / "x.tif"), "--json"])
    info = json.loads(result.stdout)
    assert info["satsr"]["model"] == "bicubic" and info["satsr"]["scale"] == 2
    assert "satsr:" in runner.invoke(main, ["info", str(out / "x.tif")]).stdout


def test_info_errors(runner, tmp_path):
    bad = tmp_path / "x.tif"
    bad.write_text("text")
    _assert_one_line_error(runner.invoke(main, ["info", str(bad)]), "x.tif", "not a readable raster")
    _assert_one_line_error(runner.invoke(main, ["info", str(tmp_path / "missing.tif")]), "missing.tif", "no such file")


def test_help_explains_every_option(runner):
    for name, command in main.commands.items():
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0, result.output
        for param in command.params:
            if param.param_type_name == "option" and param.name != "help":
                assert param.help, f"satsr {name} {param.opts} has no help"
                assert param.opts[-1] in result.output
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0 and "--debug" in result.output and "upscale" in result.output


def test_version(runner):
    result = runner.invoke(main, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("satsr ")


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
