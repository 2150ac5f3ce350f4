"""The configs that train the shipped light models further (``*-video-more.yaml``): from the shipped weights, on
the same data with the same held-aside frames, with other draws, and a step or two of them runs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

import satsr
from satsr.models.registry import bundled_weights, get_spec
from satsr.train.config import load_config
from satsr.train.loop import train

CONFIGS = Path(satsr.__file__).parent / "train" / "configs"
MORE = {"mstt-s-video-more.yaml": "mstt-s-video.yaml", "lgfn-s-video-more.yaml": "lgfn-s-video.yaml",
        "mtdo-s-video-more.yaml": "mtdo-s-video.yaml", "mstt-s-video-more2.yaml": "mstt-s-video.yaml"}
#: Configs that train on from the shipped weights with some sources counted more often (``repeat``).
REWEIGHED = {"rgtgan-s-ref-more.yaml": "rgtgan-s-video.yaml"}
#: Configs that train on from the shipped weights with sharp pseudo-video added beside the base's video source.
MIXED = {"mtdo-s-mixed.yaml": "mtdo-s-video.yaml", "lgfn-s-mixed.yaml": "lgfn-s-video.yaml",
         "mtdo-s-mixed2.yaml": "mtdo-s-video.yaml", "lgfn-s-mixed2.yaml": "lgfn-s-video.yaml",
         "mstt-s-mixed.yaml": "mstt-s-video.yaml", "mstt-s-mixed2.yaml": "mstt-s-video.yaml",
         "mstt-s-mixed3.yaml": "mstt-s-video.yaml", "mstt-s-mixed3b.yaml": "mstt-s-video.yaml",
         "mstt-s-mixed4.yaml": "mstt-s-video.yaml",
         "lgtd-s-mixed2.yaml": "lgtd-s-video.yaml"}


@pytest.mark.parametrize("more", MORE)
def test_more_starts_from_the_shipped_weights_on_the_same_data(more):
    cfg, base = load_config(CONFIGS / more), load_config(CONFIGS / MORE[more])
    assert cfg.model == base.model and base.init is None
    assert Path(cfg.init).resolve() == bundled_weights(get_spec(cfg.model))  # the shipped file, checked
    assert cfg.data == base.data and cfg.val == base.val  # same sources, held-aside split and degradations
    assert cfg.seed != base.seed  # other windows and crops than the shipped run saw, step for step
    assert cfg.lr < base.lr and cfg.ckpt_every <= 100 and Path(cfg.out).name != Path(base.out).name


def test_rounds_on_one_base_draw_other_data_and_keep_their_own_run_folders():
    # a second round (``-more2``) must not replay the first round's windows and crops, nor overwrite its run
    by_base: dict[str, list] = {}
    for more, base in [*MORE.items(), *MIXED.items()]:
        by_base.setdefault(base, []).append(load_config(CONFIGS / more))
    for rounds in by_base.values():
        assert len({c.seed for c in rounds}) == len(rounds)
        assert len({Path(c.out).name for c in rounds}) == len(rounds)


def test_reweighed_starts_from_the_shipped_weights_with_the_same_sources_and_splits():
    for more, base_name in REWEIGHED.items():
        cfg, base = load_config(CONFIGS / more), load_config(CONFIGS / base_name)
        assert cfg.model == base.model and base.init is None
        assert Path(cfg.init).resolve() == bundled_weights(get_spec(cfg.model))

        def unweighted(data):
            return [{k: v for k, v in d.items() if k != "repeat"} for d in data]

        assert unweighted(cfg.data) == unweighted(base.data) and cfg.val == base.val  # sources and held-aside parts
        weights = [(d.get("repeat", 1), b.get("repeat", 1)) for d, b in zip(cfg.data, base.data, strict=True)]
        assert any(new > old for new, old in weights)  # some source weighed up
        assert cfg.seed != base.seed and cfg.lr < base.lr and cfg.ckpt_every <= 100
        assert Path(cfg.out).name != Path(base.out).name


@pytest.mark.parametrize("mixed", MIXED)
def test_mixed_adds_pseudo_video_and_keeps_the_video_and_its_held_aside_frames(mixed):
    cfg, base = load_config(CONFIGS / mixed), load_config(CONFIGS / MIXED[mixed])
    assert cfg.model == base.model
    assert Path(cfg.init).resolve() == bundled_weights(get_spec(cfg.model))
    video = [d for d in cfg.data if d["type"] == "video_clips"]
    assert len(video) == 1 and [d["type"] for d in base.data] == ["video_clips"]
    # the base's video source, its split and degradations, cropped as the pseudo-video (so they batch together)
    assert {k: v for k, v in video[0].items() if k != "crop"} == {k: v for k, v in base.data[0].items() if k != "crop"}
    pseudo = [d for d in cfg.data if d["type"] == "pseudo_video"]
    assert len(pseudo) == 1 and pseudo[0]["crop"] == video[0]["crop"]
    assert not any("jilin" in str(d).lower() for d in cfg.data)  # the test clip is never trained on
    assert cfg.val == base.val and cfg.seed != base.seed and cfg.lr < base.lr and cfg.ckpt_every <= 100
    assert Path(cfg.out).name != Path(base.out).name


@pytest.mark.slow
@pytest.mark.parametrize("more", [*MORE, *REWEIGHED, *MIXED])
def test_more_trains_two_steps_from_the_shipped_weights(more, shared_data, tmp_path):
    cfg = load_config(CONFIGS / more, data_root=str(shared_data), out=str(tmp_path / "run"), steps=2,
                      device="cpu")
    cfg = replace(cfg, batch_size=1, val=None, ckpt_every=1)
    result = train(cfg, progress=False)
    assert result["step"] == 2
    start = satsr.models.create(cfg.model)
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=False)["model"]
    moved = [k for k, v in start.state_dict().items() if v.is_floating_point() and not torch.equal(v, state[k])]
    assert moved  # trained on from the shipped weights ...
    diff = max(float((v - state[k]).abs().max()) for k, v in start.state_dict().items() if v.is_floating_point())
    assert diff < 0.05  # ... not from scratch: two small steps away from them


#: Configs that train a deeper model grown from a shipped light one, on the data of the config that made it.
GROWN = {"lgtd-m-mixed.yaml": ("lgtd-s", "lgtd-s-mixed.yaml"), "mtdo-m-mixed.yaml": ("mtdo-s", "mtdo-s-mixed.yaml"),
         "lgfn-m-mixed.yaml": ("lgfn-s", "lgfn-s-mixed.yaml"), "mstt-m-mixed.yaml": ("mstt-s", "mstt-s-mixed.yaml")}


@pytest.mark.parametrize("grown", GROWN)
def test_grown_starts_from_the_shipped_light_weights_on_their_data(grown):
    small, base_name = GROWN[grown]
    cfg, base = load_config(CONFIGS / grown), load_config(CONFIGS / base_name)
    assert cfg.init is None and Path(cfg.grow_from).resolve() == bundled_weights(get_spec(small))
    assert cfg.data == base.data and cfg.val == base.val  # same sources, held-aside frames and degradations
    assert not any("jilin" in str(d).lower() for d in cfg.data)  # the test clip is never trained on
    assert cfg.seed != base.seed and Path(cfg.out).name != Path(base.out).name


@pytest.mark.slow
@pytest.mark.parametrize("grown", GROWN)
def test_grown_trains_two_steps_from_the_light_model(grown, shared_data, tmp_path):
    cfg = load_config(CONFIGS / grown, data_root=str(shared_data), out=str(tmp_path / "run"), steps=2, device="cpu")
    cfg = replace(cfg, batch_size=1, val=None, ckpt_every=1)
    assert train(cfg, progress=False)["step"] == 2
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=False)["model"]
    start = satsr.models.create(cfg.model, pretrained=False)
    new = satsr.models.grow_weights(start, cfg.grow_from)  # step 0: the light model's tensors, and new blocks
    assert set(start.state_dict()) == set(state)
    light = {k: v for k, v in start.state_dict().items() if not any(k.startswith(f"{b}.") for b in new)}
    small = satsr.models.create(GROWN[grown][0]).state_dict()
    assert sum(v.numel() for v in light.values()) == sum(v.numel() for v in small.values())
    diff = max(float((v - state[k]).abs().max()) for k, v in light.items() if v.is_floating_point())
    assert 0 < diff < 0.05  # trained on from the light model's weights, two small steps away


#: Second rounds of the grown models: from their first round's output, on its data, another seed.
GROWN_MORE = {"lgtd-m-mixed2.yaml": "lgtd-m-mixed.yaml", "mtdo-m-mixed2.yaml": "mtdo-m-mixed.yaml",
              "lgfn-m-mixed2.yaml": "lgfn-m-mixed.yaml", "mstt-m-mixed2.yaml": "mstt-m-mixed.yaml"}


@pytest.mark.parametrize("more", GROWN_MORE)
def test_grown_rounds_start_from_their_first_round_on_the_same_data(more):
    cfg, base = load_config(CONFIGS / more), load_config(CONFIGS / GROWN_MORE[more])
    assert cfg.model == base.model and cfg.grow_from is None
    # the first round's output: in its run folder, or shipped (lgfn-m, mstt-m: the first round made the shipped file)
    assert Path(cfg.init) == Path(base.out) / "final.safetensors" or (
        Path(cfg.init).resolve() == bundled_weights(get_spec(cfg.model)))
    # the same sources, splits and degradations; a round may draw the stills more often (samples_per_image)
    def sources(data):
        return [{k: v for k, v in d.items() if k != "samples_per_image"} for d in data]

    assert sources(cfg.data) == sources(base.data) and cfg.val == base.val
    assert not any("jilin" in str(d).lower() for d in cfg.data)
    assert cfg.seed != base.seed and cfg.lr < base.lr and Path(cfg.out).name != Path(base.out).name
