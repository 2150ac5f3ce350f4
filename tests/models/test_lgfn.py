import numpy as np
import pytest
import torch

import satsr
from satsr.errors import InputError
from satsr.models import create, get_spec
from satsr.models.lgfn import LGFN
from satsr.tiling import time_window


@pytest.fixture(scope="module")
def lgfn():
    return LGFN().eval()


def test_state_dict_matches_the_authors_key_list(lgfn, seed_keys):
    assert {k: tuple(v.shape) for k, v in lgfn.state_dict().items()} == seed_keys("LGFN")
    assert sum(p.numel() for p in lgfn.parameters()) == 7_849_837


def test_reproduces_the_authors_network(vectors):
    """Same output as the authors' LGFN (formula weights, 7 frames of 12 x 14); see tests/data/README.md."""
    net = LGFN().eval()
    vectors.fill(net, 1.0)
    x = vectors.tensor((1, 7, 3, 12, 14), 0) * 0.5 + 0.5
    with torch.no_grad():
        y = net(x).numpy()
    assert y.shape == (1, 3, 48, 56)
    assert np.abs(y - np.load(vectors.data / "lgfn_official_formula.npz")["expected"]).max() <= 1e-4


def test_any_size_and_residual_over_bilinear():
    net = create("lgfn", pretrained=False).eval()
    for p in net.tail[1].parameters():
        torch.nn.init.zeros_(p)  # a zero last conv leaves the bilinear upsampling of the centre frame
    x = torch.rand(1, 7, 3, 9, 13)
    with torch.no_grad():
        y = net(x)
    bil = torch.nn.functional.interpolate(x[:, 3], scale_factor=4, mode="bilinear", align_corners=False)
    assert y.shape == (1, 3, 36, 52) and torch.allclose(y, bil)
    with pytest.raises(InputError, match="takes 7 frames"):
        net(torch.rand(1, 5, 3, 8, 8))


def test_authors_time_window_at_clip_ends():
    # src/data/demo.py: positions before the start take frame t + 3 - i, past the end t - 3 - i + n - 1
    assert get_spec("lgfn").time_padding == "far-side"
    assert time_window(1, 7, 7, "far-side") == [6, 5, 0, 1, 2, 3, 4]
    assert time_window(3, 7, 7, "far-side") == [0, 1, 2, 3, 4, 5, 6]
    assert time_window(5, 7, 7, "far-side") == [2, 3, 4, 5, 6, 1, 0]
    assert time_window(0, 3, 7, "far-side") == [2, 2, 2, 0, 1, 2, 0]  # short clip: clamped
    assert time_window(1, 7, 7) == [0, 0, 0, 1, 2, 3, 4]


def test_registered():
    spec = get_spec("lgfn")
    assert (spec.scale, spec.frames_in, spec.bands) == (4, 7, 3)
    assert "lgfn" in satsr.models.list_models()


@pytest.mark.slow
def test_cli_runs_lgfn_on_real_jilin_frames(jilin_pngs, tmp_path):
    """Seven real Jilin-1 PNG frames (a 12 x 16 crop of each) through 'satsr upscale --model lgfn'."""
    import rasterio
    from click.testing import CliRunner

    from satsr.cli import main

    frames, georef = jilin_pngs((60, 72), (40, 56))
    out = tmp_path / "sr"
    args = ["upscale", *frames, "-o", str(out), "--model", "lgfn", "--random-weights", *georef, "--device", "cpu"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    files = sorted(out.glob("*.tif"))
    assert len(files) == 7
    with rasterio.open(files[3]) as sr:
        assert sr.shape == (48, 64) and sr.crs.to_epsg() == 32650 and sr.transform.a == pytest.approx(0.92)
