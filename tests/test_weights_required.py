"""No silent random weights: a network satsr ships no weights for runs only with a checkpoint or on purpose."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner
from torch import nn

import satsr
from satsr import models
from satsr.batch import JobConfig, run_batch
from satsr.cli import main
from satsr.engine import make_runner
from satsr.errors import InputError, ModelError
from satsr.models import registry
from satsr.models.factory import resolve_weights

CPU = torch.device("cpu")
# Networks without shipped weights, and the shipped variant of their family the message points to.
WEIGHTLESS = {"lgfn": "lgfn-s", "lgtd": "lgtd-s", "lgtd-arc": "lgtd-s", "mtdo": "mtdo-s", "mstt": "mstt-s",
              "mstt-40": "mstt-s", "rgtgan": "rgtgan-s", "lgtd-m": "lgtd-s"}


class _Tiny(nn.Module):
    """A two-times network with parameters (so it needs weights), quick to run."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 12, 3, padding=1)
        self.up = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.conv(x))


@pytest.fixture
def tiny(monkeypatch) -> str:
    """A small network registered for this test only, without weights."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    registry.register("test-tiny-net", scale=2, bands=3, halo=1)(_Tiny)
    return "test-tiny-net"


def _assert_ways_out(msg: str, name: str, variant: str | None) -> None:
    assert "\n" not in msg and msg.startswith(f"{name}: satsr ships no trained weights"), msg
    assert "authors' checkpoint (pretrained=PATH" in msg and "--pretrained PATH" in msg, msg
    assert "pretrained=False" in msg and "--random-weights" in msg and "on purpose" in msg, msg
    if variant:
        assert f"small variant satsr ships trained weights for, {variant!r}" in msg, msg
    else:
        assert "small variant" not in msg, msg


def _ours(spec: registry.ModelSpec) -> bool:
    """Registered by satsr itself (other tests register networks of their own in the same registry)."""
    return spec.build.__module__.startswith("satsr.")


def test_the_registry_has_these_weightless_networks():
    weightless = [s.name for s in registry.iter_specs()
                  if _ours(s) and registry.needs_weights(s) and registry.bundled_weights(s) is None]
    assert sorted(weightless) == sorted(WEIGHTLESS)
    assert [s for s in models.list_models()
            if _ours(models.get_spec(s)) and not registry.needs_weights(models.get_spec(s))] == [
        "bicubic", "bilinear", "nearest"]
    assert registry.shipped_variants(models.get_spec("lgtd")) == ["lgtd-s"]
    assert registry.shipped_variants(models.get_spec("mtdo")) == ["mtdo-m", "mtdo-s"]
    assert registry.shipped_variants(models.get_spec("lgfn")) == ["lgfn-m", "lgfn-s"]
    assert registry.shipped_variants(models.get_spec("mstt")) == ["mstt-m", "mstt-s"]
    assert registry.shipped_variants(models.get_spec("rgtgan")) == ["rgtgan-s"]
    assert models.get_spec("lgtd-arc").family == "lgtd" and models.get_spec("mstt-40").family == "mstt"


@pytest.mark.parametrize("name", sorted(WEIGHTLESS))
def test_create_refuses_random_weights_unless_asked(name):
    for pretrained in (None, True):
        with pytest.raises(ModelError) as err:
            models.create(name, pretrained=pretrained)
        _assert_ways_out(str(err.value), name, WEIGHTLESS[name])
    with pytest.raises(ModelError):
        resolve_weights(name)
    assert resolve_weights(name, pretrained=False) is None


@pytest.mark.parametrize("name", sorted(WEIGHTLESS))
def test_upscale_refuses_random_weights(name, make_geotiff):
    da = satsr.open_stack(make_geotiff("s.tif", shape=(3, 16, 16), dtype="uint8"))
    with pytest.raises(ModelError) as err:
        satsr.upscale(da, name, device="cpu")
    _assert_ways_out(str(err.value), name, WEIGHTLESS[name])
    with pytest.raises(ModelError, match="pretrained=False"):
        da.satsr.upscale(name, device="cpu")
    with pytest.raises(ModelError, match="pretrained=False"):
        make_runner(name, None, None, CPU, None)


def test_pretrained_false_runs_the_initialisation_on_purpose(tiny, make_geotiff):
    torch.manual_seed(0)
    net = models.create("lgfn", pretrained=False)
    assert isinstance(net, nn.Module) and net.spec.name == "lgfn"
    da = satsr.open_stack(make_geotiff("s.tif", shape=(3, 12, 10), dtype="float32"))
    with pytest.raises(ModelError, match="test-tiny-net: satsr ships no trained weights"):
        satsr.upscale(da, tiny, device="cpu")
    sr = satsr.upscale(da, tiny, device="cpu", pretrained=False)
    assert sr.shape == (1, 3, 24, 20)
    assert da.satsr.upscale(tiny, device="cpu", pretrained=False).shape == sr.shape
    # a user's module runs as it is: pretrained=False asks nothing of it; a checkpoint is still refused
    wrapped = models.wrap(_Tiny(), scale=2, halo=1)
    assert satsr.upscale(da, wrapped, device="cpu", pretrained=False).shape == sr.shape
    with pytest.raises(ModelError, match="registered model names only"):
        satsr.upscale(da, wrapped, device="cpu", pretrained=True)


def test_models_without_parameters_need_no_weights(make_geotiff):
    for name in ("bicubic", "bilinear", "nearest"):
        assert isinstance(models.create(name), nn.Module) and isinstance(models.create(name, pretrained=False),
                                                                          nn.Module)
        assert resolve_weights(name) is None
        with pytest.raises(ModelError, match=f"satsr ships no weights for {name}"):
            models.create(name, pretrained=True)
    da = satsr.open_stack(make_geotiff("s.tif", shape=(3, 8, 8)))
    assert satsr.upscale(da, "bicubic", pretrained=False).shape == satsr.upscale(da, "bicubic").shape


def test_shipped_weights_by_default_and_with_their_own_options():
    shipped = registry.bundled_weights(models.get_spec("lgtd-s"))
    assert resolve_weights("lgtd-s") == shipped == resolve_weights("lgtd-s", pretrained=True)
    # options equal to those the weights were trained with (the builder's defaults) keep them
    assert resolve_weights("lgtd-s", faithful=False, align_corners=False) == shipped
    trained = models.create("lgtd-s")
    same = models.create("lgtd-s", align_corners=False)
    assert torch.equal(same.conv_last.weight, trained.conv_last.weight)
    # other options would silently pair the weights with another network: refused, with the ways out
    with pytest.raises(ModelError) as err:
        models.create("lgtd-s", faithful=True)
    msg = str(err.value)
    assert "\n" not in msg and "faithful=True" in msg and "pretrained=PATH" in msg and "pretrained=False" in msg
    assert not models.create("lgtd-s", faithful=True, pretrained=False).conv_last.weight.any()
    # a typo is named as a typo, not as a question of weights
    with pytest.raises(ModelError, match="unknown argument 'faithfull'"):
        models.create("lgfn", faithfull=True)


def test_runners_with_and_without_random_weights_are_distinct():
    shipped = make_runner("lgtd-s", None, None, CPU, None)
    random = make_runner("lgtd-s", None, None, CPU, None, pretrained=False)
    assert shipped is make_runner("lgtd-s", None, None, CPU, None) and shipped is not random
    assert shipped.model.conv_last.weight.any() and not random.model.conv_last.weight.any()


def test_cli_upscale_stops_with_one_line_and_writes_nothing(make_geotiff, tmp_path, tiny):
    src = make_geotiff("s.tif", shape=(3, 12, 10), dtype="uint8")
    out = tmp_path / "out"
    out.mkdir()
    runner = CliRunner()
    for name in ("lgfn", "lgtd"):
        result = runner.invoke(main, ["upscale", str(src), "-o", str(out / "x.tif"), "--model", name,
                                      "--device", "cpu", "--no-progress"])
        assert result.exit_code == 1, result.output
        lines = result.output.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {name}: satsr ships no trained weights"), lines
        assert "--pretrained PATH" in lines[0] and "--random-weights" in lines[0]
        assert ("'lgtd-s'" in lines[0]) == (name == "lgtd")
        assert list(out.iterdir()) == []
    result = runner.invoke(main, ["upscale", str(src), "-o", str(out / "x.tif"), "--model", tiny, "--pretrained",
                                  str(src), "--random-weights"])
    assert result.exit_code == 1 and "exclude each other" in result.output and list(out.iterdir()) == []
    result = runner.invoke(main, ["upscale", str(src), "-o", str(out / "x.tif"), "--model", tiny,
                                  "--random-weights", "--device", "cpu", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert [p.name for p in out.iterdir()] == ["x.tif"]


def test_cli_models_weights_column_follows_the_rule():
    result = CliRunner().invoke(main, ["models"])
    assert result.exit_code == 0, result.output
    column = {line.split()[0]: line.split()[5] for line in result.stdout.splitlines()[1:] if line.strip()
              and not line.startswith("default model")}
    for name in WEIGHTLESS:
        assert column[name] == "--pretrained", name
    assert column["lgtd-s"] == "shipped"
    assert all(" none needed " in line for line in result.stdout.splitlines()
               if line.split()[:1] in (["bicubic"], ["bilinear"], ["nearest"]))


def test_batch_refuses_before_making_its_folder(tmp_path, make_geotiff):
    from satsr.catalog import init_catalog

    scenes = tmp_path / "scenes"
    scenes.mkdir()
    make_geotiff("scenes/a.tif", shape=(3, 12, 10), dtype="uint8")
    cat = tmp_path / "catalog.json"
    init_catalog(scenes, cat)
    with pytest.raises(ModelError, match="lgfn: satsr ships no trained weights"):
        run_batch(cat, tmp_path / "out", JobConfig(model="lgfn", device="cpu"), workers=0, progress=False)
    assert not (tmp_path / "out").exists()
    result = CliRunner().invoke(main, ["batch", str(cat), "-o", str(tmp_path / "out"), "-m", "lgfn"])
    assert result.exit_code == 1 and "--random-weights" in result.output and not (tmp_path / "out").exists()
    result = CliRunner().invoke(main, ["batch", str(cat), "-o", str(tmp_path / "out"), "-m", "lgfn",
                                       "--pretrained", "w.pth", "--random-weights"])
    assert result.exit_code == 1 and "exclude each other" in result.output


def test_evaluate_takes_random_weights(monkeypatch):
    import satsr.train.evaluate as ev

    seen = {}

    def fake(data, candidates, **kw):
        seen.update(kw)
        return []

    monkeypatch.setattr(ev, "evaluate_clips", fake)
    monkeypatch.setattr(ev, "format_table", lambda *a, **k: "")
    monkeypatch.setattr(ev, "format_gains", lambda *a, **k: "")
    CliRunner().invoke(main, ["evaluate", "-m", "lgfn", "-m", "mtdo", "--pretrained", "w.pth", "--random-weights",
                              "--data", "."])
    assert seen["pretrained"] == {"lgfn": "w.pth", "mtdo": False, "bicubic": False}
    with pytest.raises(InputError, match="exclude each other"):
        from satsr.cli.params import pick_weights

        pick_weights("w.pth", True)
