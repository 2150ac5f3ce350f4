"""Project-wide defaults that light modules (the accessor, the CLI) need without importing torch."""

from __future__ import annotations

#: The model ``satsr.upscale`` runs when none is named: satsr's own small LGTD trained on pseudo-video from real
#: satellite images (weights and model card in ``satsr/weights/``). RGB, 5 frames in (a single image works: its
#: frame is repeated), x4. +1.8 dB PSNR over bicubic on the real Jilin-1 clip (README, "Weights").
DEFAULT_MODEL = "lgtd-s"
