import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from satsr import models
from satsr.errors import CheckpointError, ModelError


class _Net(nn.Module):
    def __init__(self, feats: int = 8) -> None:
        super().__init__()
        self.head = nn.Conv2d(3, feats, 3, padding=1)
        self.tail = nn.Conv2d(feats, 3, 3, padding=1)

    def forward(self, x):
        return self.tail(self.head(x))


class _Other(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 1), nn.Conv2d(4, 3, 1))

    def forward(self, x):
        return self.body(x)


models.register("test-ckpt-net", scale=1, bands=3, halo=2)(_Net)
models.register("test-ckpt-other", scale=1, bands=3, halo=0)(_Other)


def _same(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


def _trained():
    torch.manual_seed(3)
    return models.create("test-ckpt-net", feats=6, pretrained=False)


@pytest.mark.parametrize(
    "layout",
    ["bare", "state_dict", "params", "params_ema", "model", "module_prefix", "compiled_prefix", "safetensors"],
)
def test_layouts_load(tmp_path, layout):
    net = _trained()
    sd = net.state_dict()
    path = tmp_path / ("w.safetensors" if layout == "safetensors" else "w.pth")
    if layout == "safetensors":
        save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    elif layout == "bare":
        torch.save(sd, path)
    elif layout == "module_prefix":
        torch.save({"module." + k: v for k, v in sd.items()}, path)
    elif layout == "compiled_prefix":
        torch.save({"_orig_mod." + k: v for k, v in sd.items()}, path)
    else:
        torch.save({layout: sd, "epoch": 7}, path)
    loaded = models.create("test-ckpt-net", feats=6, pretrained=path)
    assert _same(net, loaded)


def test_save_round_trip_restores_options(tmp_path):
    net = _trained()
    path = models.save(net, tmp_path / "mine")
    assert path.name == "mine.safetensors" and not list(tmp_path.glob(".*tmp"))
    loaded = models.create("test-ckpt-net", pretrained=path)  # feats=6 comes back from the file
    assert loaded.head.out_channels == 6 and _same(net, loaded)


def test_strict_errors_name_keys_and_the_matching_model(tmp_path):
    other = models.create("test-ckpt-other", pretrained=False)
    path = tmp_path / "other.pth"
    torch.save(other.state_dict(), path)
    with pytest.raises(CheckpointError) as err:
        models.create("test-ckpt-net", pretrained=path)
    msg = str(err.value)
    assert "4 missing: head.weight" in msg and "4 unexpected: body.0.weight" in msg
    assert "matches the registered model 'test-ckpt-other'" in msg
    torch.save(_trained().state_dict(), path)
    with pytest.raises(CheckpointError, match=r"shape mismatch: head.weight \(6, 3, 3, 3\) vs \(8, 3, 3, 3\)"):
        models.create("test-ckpt-net", pretrained=path)


def test_unsafe_or_missing_files(tmp_path):
    path = tmp_path / "pickled.pth"
    torch.save({"state_dict": _Net()}, path)  # a whole module: needs code to unpickle
    with pytest.raises(CheckpointError, match="pass trusted=True"):
        models.create("test-ckpt-net", pretrained=path)
    assert _same(models.create("test-ckpt-net", pretrained=path, trusted=True), models.create("test-ckpt-net",
                 pretrained=path, trusted=True))
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        models.create("test-ckpt-net", pretrained=tmp_path / "nope.pth")
    (tmp_path / "junk.pth").write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot be read"):
        models.create("test-ckpt-net", pretrained=tmp_path / "junk.pth")


def test_pretrained_through_upscale_and_cli(tmp_path, make_geotiff):
    import numpy as np
    from click.testing import CliRunner

    import satsr
    from satsr.cli import main

    net = _trained()
    path = models.save(net, tmp_path / "w")
    da = satsr.open_stack(make_geotiff("in.tif", shape=(3, 20, 24), dtype="float32"))
    a = satsr.upscale(da, "test-ckpt-net", pretrained=path, tile=8).values
    b = satsr.upscale(da, models.wrap(net, scale=1, halo=2), tile=8).values
    np.testing.assert_allclose(a, b, atol=1e-6)
    bad = tmp_path / "bad.pth"
    torch.save(models.create("test-ckpt-other", pretrained=False).state_dict(), bad)
    out = tmp_path / "out"
    out.mkdir()
    res = CliRunner().invoke(main, ["upscale", str(tmp_path / "in.tif"), "-o", str(out / "x.tif"), "--model",
                                    "test-ckpt-net", "--pretrained", str(bad)])
    assert res.exit_code == 1 and res.output.count("error:") == 1 and "does not fit test-ckpt-net" in res.output
    assert list(out.iterdir()) == []
    with pytest.raises(ModelError, match="pretrained"):
        satsr.upscale(da, models.wrap(net, scale=1), pretrained=path)


@pytest.mark.slow
def test_authors_checkpoint_of_another_video_model_is_named(tmp_path):
    """An MTDO state_dict offered to LGTD: refused, with MTDO named as the model it fits."""
    path = tmp_path / "MTDO_best.pth"
    torch.save({"params": models.create("mtdo", pretrained=False).state_dict()}, path)
    with pytest.raises(CheckpointError, match=r"matches the registered model 'mtdo'"):
        models.create("lgtd", pretrained=path)
    model = models.create("mtdo", pretrained=path)
    assert model.spec.name == "mtdo" and not model.training


class _Deep(nn.Module):
    """A head, ``n`` residual blocks and a tail: deeper ``n`` grow from shallower ones."""

    def __init__(self, n: int = 1) -> None:
        super().__init__()
        from satsr.models.ops import ResnetBlock

        self.head = nn.Conv2d(3, 4, 3, padding=1)
        self.body = nn.Sequential(*[ResnetBlock(4) for _ in range(n)])
        self.tail = nn.Conv2d(4, 3, 3, padding=1)

    def forward(self, x):
        return self.tail(self.body(self.head(x)))


def test_grown_model_starts_as_the_shallower_one(tmp_path):
    torch.manual_seed(0)
    small = _Deep(1)
    models.save(small, tmp_path / "small.safetensors")
    deep = _Deep(3)
    assert models.grow_weights(deep, tmp_path / "small.safetensors") == ["body.1", "body.2"]
    x = torch.rand(1, 3, 12, 12) - 0.5  # negative values too: the new blocks' PReLU must pass them unchanged
    with torch.no_grad():
        assert torch.equal(deep(x), small(x))
    assert torch.equal(deep.body[0].conv1.weight, small.body[0].conv1.weight)
    # ... and the new blocks train: conv2 (zero) gets a gradient at once
    deep(x).square().mean().backward()
    assert deep.body[2].conv2.weight.grad.abs().sum() > 0


def test_grow_refuses_what_is_not_new_residual_blocks(tmp_path):
    torch.manual_seed(0)
    models.save(_Deep(3), tmp_path / "deep.safetensors")
    shrink = "deep.safetensors: cannot grow _Deep from it: 10 tensor.*lacks.*body.1.act"
    with pytest.raises(CheckpointError, match=shrink):
        models.grow_weights(_Deep(1), tmp_path / "deep.safetensors")  # shrinking is not growing
    sd = _Deep(1).state_dict()
    del sd["head.bias"]
    save_file(sd, tmp_path / "no_head_bias.safetensors")
    with pytest.raises(CheckpointError, match="missing tensor.*outside new residual blocks.*head.bias"):
        models.grow_weights(_Deep(2), tmp_path / "no_head_bias.safetensors")
    other = _Other()
    save_file(other.state_dict(), tmp_path / "other.safetensors")
    with pytest.raises(CheckpointError, match="cannot grow"):
        models.grow_weights(_Deep(2), tmp_path / "other.safetensors")


class _Closed(nn.Module):
    """Sequences of each of satsr's other block kinds, each closed by a convolution (as LGFN's are)."""

    def __init__(self, n: int = 1) -> None:
        super().__init__()
        from satsr.models.lgfn import RCAB, ResBlock
        from satsr.models.mstt import ResidualBlockNoBN

        self.head = nn.Conv2d(3, 8, 3, padding=1)
        self.res = nn.Sequential(*[ResBlock(8) for _ in range(n)], nn.Conv2d(8, 8, 3, padding=1))
        self.rcab = nn.Sequential(*[RCAB(8, attention=True) for _ in range(n)], nn.ReLU(), nn.Conv2d(8, 8, 1))
        self.nobn = nn.Sequential(*[ResidualBlockNoBN(8) for _ in range(n)], nn.Conv2d(8, 3, 3, padding=1))

    def forward(self, x):
        return self.nobn(self.rcab(self.res(self.head(x))))


def test_grow_renumbers_the_layers_that_close_a_sequence(tmp_path):
    torch.manual_seed(0)
    small = _Closed(2)
    for p in small.parameters():  # no zero-initialised layer: every tensor of the file must count
        nn.init.normal_(p, std=0.2)
    models.save(small, tmp_path / "small.safetensors")
    deep = _Closed(5)
    new = models.grow_weights(deep, tmp_path / "small.safetensors")
    assert new == [f"{seq}.{i}" for seq in ("nobn", "rcab", "res") for i in (2, 3, 4)]
    # the closing layers moved after the new blocks, with the file's values
    assert torch.equal(deep.res[5].weight, small.res[2].weight)
    assert torch.equal(deep.rcab[6].weight, small.rcab[3].weight)
    x = torch.rand(2, 3, 10, 10) - 0.5
    with torch.no_grad():
        assert torch.allclose(deep(x), small(x), atol=1e-6)
    deep(x).square().mean().backward()
    assert deep.res[4].body[2].weight.grad.abs().sum() > 0 and deep.rcab[4].body[2].weight.grad.abs().sum() > 0
    assert deep.nobn[4].conv2.weight.grad.abs().sum() > 0
    # growing to the same depth renames nothing: the file loads as it is
    same = _Closed(2)
    assert models.grow_weights(same, tmp_path / "small.safetensors") == []
    with torch.no_grad():
        assert torch.equal(same(x), small(x))


@pytest.mark.parametrize("small,deep,n_new,frames", [("lgtd-s", "lgtd-m", 10, 5), ("mtdo-s", "mtdo-m", 10, 5),
                                                     ("lgfn-s", "lgfn-m", 11, 7), ("mstt-s", "mstt-m", 8, 4)])
def test_registered_deeper_variants_grow_from_the_shipped_light_weights(small, deep, n_new, frames):
    from satsr.models.registry import bundled_weights, get_spec

    torch.manual_seed(0)
    base = models.create(small)
    grown = models.create(deep, pretrained=False)
    new = models.grow_weights(grown, bundled_weights(get_spec(small)))
    # lgtd/mtdo: one more block before and after fusion, eight more in the reconstruction; lgfn: one more feature
    # block, ten more RCABs in the reconstruction; mstt: eight more reconstruction blocks
    assert len(new) == n_new
    side = max(16, get_spec(small).multiple_of)  # mstt takes multiples of 32
    x = torch.rand(1, frames, 3, side, side)
    with torch.no_grad():
        assert torch.allclose(grown(x), base(x), atol=1e-6)
