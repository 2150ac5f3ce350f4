"""RGTGAN's val.py protocol on Ref-SR test sets: `evaluate_refsr` and `satsr evaluate --protocol rgtgan`."""

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from torch import nn

from satsr.cli import main
from satsr.errors import InputError
from satsr.models import create, wrap
from satsr.models.rgtgan import RGTNet
from satsr.train.data import RefSRTriplets
from satsr.train.evaluate import SUPPLIED_UX4, evaluate_refsr, format_table, gains


@pytest.fixture
def kaggle1(shared_data: Path) -> Path:
    return shared_data / "refsr" / "kagglesrd" / "val_1"


class _Oracle(nn.Module):
    """A reference model that knows the answer: the HR of the LR it is given, plus ``offset``, with a spoilt border."""

    def __init__(self, folder: Path, offset: float = 0.0, border: int = 0) -> None:
        super().__init__()
        ds = RefSRTriplets(folder)
        self.pairs = [(d["lr"], d["hr"]) for d in map(ds.load, range(2))]
        self.offset, self.border = offset, border

    def forward(self, lr: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        hr = next(h for a, h in self.pairs if np.array_equal(a, lr[0].numpy()))
        out = torch.from_numpy(hr + np.float32(self.offset))[None]
        if self.border:
            b = self.border
            spoilt = torch.zeros_like(out)
            spoilt[..., b:-b, b:-b] = out[..., b:-b, b:-b]
            out = spoilt
        return out


def _oracle(folder: Path, **kw) -> nn.Module:
    return wrap(_Oracle(folder, **kw), scale=4, bands=3, needs_reference=True)


def test_scores_round_to_8bit_crop_4px_and_bicubic_is_plausible(kaggle1):
    candidates = {
        "bicubic": SUPPLIED_UX4,
        "perfect": _oracle(kaggle1),
        "off-0.4": _oracle(kaggle1, offset=0.4 / 255),  # rounds back to HR
        "off-0.6": _oracle(kaggle1, offset=-0.6 / 255),  # rounds to HR - 1 except where HR is 0
        "border-4": _oracle(kaggle1, border=4),  # the spoilt border is cropped away
        "border-5": _oracle(kaggle1, border=5),  # one spoilt pixel ring is scored
        "bicubic-model": "bicubic",  # single-image model, sees the LR alone
    }
    scores = {s.model: s for s in evaluate_refsr(kaggle1, candidates, limit=2)}
    assert list(scores) == list(candidates)
    assert all(s.clip == "val_1" and s.frames == (0, 1) for s in scores.values())
    bic = scores["bicubic"].scores
    assert set(bic) == {"psnr", "ssim"}
    assert 20.0 < bic["psnr"] < 40.0 and 0.3 < bic["ssim"] < 0.99
    for exact in ("perfect", "off-0.4", "border-4"):
        assert scores[exact].scores == {"psnr": math.inf, "ssim": 1.0}, exact
    one_level = 10 * math.log10(255.0**2)  # every scored value off by exactly 1 of 255
    assert one_level <= scores["off-0.6"].scores["psnr"] < one_level + 3
    assert 0.99 < scores["off-0.6"].scores["ssim"] < 1.0
    assert scores["border-5"].scores["psnr"] < 30.0 and scores["border-5"].scores["ssim"] < 1.0
    # satsr's (torch) bicubic of the LR: close to the data set's MATLAB bicubic, not the same
    assert abs(scores["bicubic-model"].scores["psnr"] - bic["psnr"]) < 1.5
    assert gains(list(scores.values()))["perfect"]["ssim"] == pytest.approx(1.0 - bic["ssim"])
    table = format_table(list(scores.values()), unit="set")
    assert table.splitlines()[0].startswith("| set | model | images | psnr | ssim |")
    assert "| val_1 | bicubic | 2 |" in table and "| **mean** | bicubic | 1 sets |" in table


def test_rgtgan_gets_the_supplied_helper_images(kaggle1, monkeypatch):
    seen = []

    def forward(self, lr, lr_ux4, ref, ref_dux4):
        seen.append((lr.shape, lr_ux4.shape, ref.shape, ref_dux4.shape))
        return lr_ux4  # the network adding nothing: must score as the supplied bicubic

    monkeypatch.setattr(RGTNet, "forward", forward)
    model = create("rgtgan", n_blocks=1, pretrained=False)
    scores = evaluate_refsr(kaggle1, {"rgtgan": model, "bicubic": SUPPLIED_UX4}, limit=1)
    assert seen == [((1, 3, 120, 120), (1, 3, 480, 480), (1, 3, 480, 480), (1, 3, 480, 480))]
    assert scores[0].scores == scores[1].scores


def test_several_roots_and_name_clashes(shared_data, tmp_path):
    src = shared_data / "refsr" / "kagglesrd" / "val_2"
    for folder in ("a", "b"):  # two one-image sets, both called val_2
        for sub in ("HR", "LR", "Ref"):  # no LR_UX4 / Ref_DUX4: made with MATLAB bicubic
            (tmp_path / folder / "val_2" / sub).mkdir(parents=True)
            first = sorted((src / sub).iterdir())[0]
            shutil.copy(first, tmp_path / folder / "val_2" / sub / first.name)
    scores = evaluate_refsr([tmp_path / "a", tmp_path / "b"], {"bicubic": SUPPLIED_UX4})
    assert [s.clip for s in scores] == ["a/val_2", "b/val_2"]
    assert scores[0].scores == scores[1].scores and 20 < scores[0].scores["psnr"] < 40


def test_bad_folders_and_limit(tmp_path, kaggle1):
    missing = tmp_path / "nowhere"
    with pytest.raises(InputError, match="nowhere"):
        evaluate_refsr(missing, {"bicubic": SUPPLIED_UX4})
    (tmp_path / "set" / "HR").mkdir(parents=True)
    (tmp_path / "set" / "LR").mkdir()
    with pytest.raises(InputError, match=r"set: no Ref or google_Ref/"):
        evaluate_refsr(tmp_path / "set", {"bicubic": SUPPLIED_UX4})
    with pytest.raises(InputError, match="limit"):
        evaluate_refsr(kaggle1, {"bicubic": SUPPLIED_UX4}, limit=0)


# -- CLI ------------------------------------------------------------------------------------------------------------
@pytest.fixture
def small_set(kaggle1: Path, tmp_path: Path) -> Path:
    """Two images of KaggleSRD val_1 cut to 24 x 24 LR pixels (PNG), so that RGTGAN runs in seconds on a CPU."""
    set_dir = tmp_path / "val_1"
    for sub in ("HR", "LR", "LR_UX4", "Ref", "Ref_DUX4"):
        (set_dir / sub).mkdir(parents=True)
        k = 1 if sub == "LR" else 4
        for path in sorted((kaggle1 / sub).iterdir())[:2]:
            img = Image.open(path).convert("RGB")
            img.crop((40 * k, 48 * k, 64 * k, 72 * k)).save(set_dir / sub / f"{path.stem}.png")
    return set_dir


def test_cli_protocol_rgtgan(small_set, tmp_path):
    out = tmp_path / "scores.json"
    # A one-block RGTGAN with random weights (satsr ships none): the full one takes minutes per 480 x 480 image.
    result = CliRunner().invoke(main, ["evaluate", "--protocol", "rgtgan", "--data", str(small_set), "--limit", "1",
                                       "-m", "rgtgan", "--random-weights", "-O", "n_blocks=1", "--device", "cpu",
                                       "--json", str(out)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "| set | model | images | psnr | ssim |"
    assert any(line.startswith("| val_1 | rgtgan | 1 | ") for line in lines)
    assert any(line.startswith("| val_1 | bicubic | 1 | ") for line in lines)
    assert lines[-1].startswith("rgtgan over bicubic: ")
    payload = json.loads(out.read_text())
    assert payload["protocol"] == "rgtgan" and payload["data"] == str(small_set)
    assert [(r["set"], r["model"], r["images"]) for r in payload["scores"]] == [("val_1", "rgtgan", 1),
                                                                                  ("val_1", "bicubic", 1)]
    assert 15 < payload["scores"][1]["psnr"] < 45 and 0 < payload["scores"][1]["ssim"] < 1


def test_cli_protocol_rgtgan_errors(tmp_path, kaggle1):
    runner = CliRunner()
    result = runner.invoke(main, ["evaluate", "--protocol", "rgtgan", "--data", str(tmp_path / "nowhere"),
                                  "-m", "bicubic"])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith("error: ") and "nowhere" in result.stderr and "Traceback" not in result.output
    result = runner.invoke(main, ["evaluate", "--protocol", "rgtgan", "--data", str(kaggle1), "--centres", "1",
                                  "-m", "bicubic"])
    assert result.exit_code == 1 and "--limit" in result.stderr
