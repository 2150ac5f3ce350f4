"""Formula-defined weights and inputs shared by the tests that compare with the authors' classes.

The scratch generators that made ``tests/data/*_official_*.npz`` used the same formulas (tests/data/README.md).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from satsr.testing import JILIN1_CRS, JILIN1_TRANSFORM


def fill(model: torch.nn.Module, amp: float) -> None:
    """Parameter number ``i`` (sorted state_dict order): ``sin(0.7 k + 1.3 i)`` scaled by ``amp / sqrt(fan_in)``."""
    with torch.no_grad():
        for i, (name, p) in enumerate(sorted(model.state_dict().items())):
            if "relative_position_index" in name:
                continue
            fan = p[0].numel() if p.dim() > 1 else 1
            vals = np.sin(np.arange(p.numel()) * 0.7 + i * 1.3) * (amp / np.sqrt(fan) if p.dim() > 1 else 0.05)
            if name.endswith("act.weight"):
                vals = np.full(p.numel(), 0.25)
            if name.endswith(("norm.weight", "norm1.weight", "norm2.weight")):
                vals = 1 + 0.05 * np.sin(np.arange(p.numel()))
            p.copy_(torch.from_numpy(vals.reshape(p.shape)).to(p.dtype))


def tensor(shape: tuple[int, ...], k: int) -> torch.Tensor:
    """``cos((0.37 + 0.11 k) i)`` over the flattened ``shape``."""
    vals = np.cos(np.arange(int(np.prod(shape))) * (0.37 + 0.11 * k))
    return torch.from_numpy(vals.reshape(shape).astype(np.float32))


def frames(h: int, w: int) -> torch.Tensor:
    """Five RGB frames ``0.5 + 0.5 cos(0.37 i)``, shape (1, 5, 3, h, w)."""
    return tensor((1, 5, 3, h, w), 0) * 0.5 + 0.5


@pytest.fixture(scope="session")
def vectors() -> SimpleNamespace:
    """``fill``, ``tensor``, ``frames`` and the ``data`` folder of committed vectors."""
    return SimpleNamespace(fill=fill, tensor=tensor, frames=frames, data=Path(__file__).parents[1] / "data")


@pytest.fixture
def jilin_pngs(shared_data: Path, tmp_path: Path):
    """``make(rows, cols)``: the seven real Jilin-1 LR frames cropped to ``rows`` x ``cols`` as PNGs in tmp_path;
    returns their paths, and the CLI arguments that georeference them (an illustrative UTM grid)."""
    import rasterio

    def make(rows: tuple[int, int], cols: tuple[int, int]) -> tuple[list[str], list[str]]:
        paths = []
        for p in sorted((shared_data / "jilin1_airport" / "LR4x").glob("*.png")):
            with rasterio.open(p) as src:
                data = src.read(window=(rows, cols))
            dest = tmp_path / p.name
            with rasterio.open(dest, "w", driver="PNG", width=data.shape[2], height=data.shape[1], count=3,
                               dtype="uint8") as d:
                d.write(data)
            paths.append(str(dest))
        return paths, ["--crs", JILIN1_CRS, "--transform", ",".join(f"{v:.10g}" for v in JILIN1_TRANSFORM[:6])]

    return make
