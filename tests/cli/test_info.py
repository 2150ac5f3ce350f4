import json

import pytest

from satsr.cli import main

# PNG frames and previews carry no georeferencing by design.
pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")


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


def test_info_errors(runner, tmp_path, assert_one_line_error):
    bad = tmp_path / "x.tif"
    bad.write_text("text")
    assert_one_line_error(runner.invoke(main, ["info", str(bad)]), "x.tif", "not a readable raster")
    assert_one_line_error(runner.invoke(main, ["info", str(tmp_path / "missing.tif")]), "missing.tif", "no such file")

