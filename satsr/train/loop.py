"""Training of video SR models (one or several frames in): the task :func:`train` gives the training skeleton.

The loop itself (run folder, seed, optimiser schedule, autocast, exact resume, ``log.csv``, progress,
validation, checkpoints) is :func:`satsr.train.fit.fit`; the config is parsed at the edge into the frozen
:class:`satsr.train.config.TrainConfig`. This module adds what is particular to video models
(:class:`VideoTask`): their datasets, AdamW, the Charbonnier or L1 loss, validation on whole frames.

Why plain PyTorch rather than Lightning: the loop is ~200 lines, has one model and one optimiser, and what it
must guarantee (bit-exact resume from a checkpoint, including the data order and augmentation) is easier to
hold in code we read than in a framework's callbacks; it also keeps a heavy dependency out of the package.

Exact resume: the data of step ``k`` is a pure function of ``(seed, k)``: the sample indices and each sample's
random crop, flips and pseudo-video parameters come from ``numpy.random.default_rng([seed, k, j])``. A
checkpoint holds the model, optimiser, scheduler, step and torch RNG state, so ``resume`` continues exactly.

Reference-based models (``spec.needs_reference``, e.g. ``rgtgan``) train on Ref-SR triplets: :func:`train` runs
their configs with :class:`satsr.train.refsr.RefSRTask` (data entries ``{type: refsr, ...}``, ``frames: 1``).

Config (YAML) keys, with defaults::

    model: lgtd-s                 # a registered model name
    model_options: {}             # its builder's options
    init: null                    # optional checkpoint to start from
    grow_from: null               # or: a shallower model's checkpoint, its extra residual blocks made identity
    data_root: .                  # relative data paths start here (itself relative to the config file)
    data:                         # one or more training datasets, mixed in proportion to their lengths
      - {type: pseudo_video, images: [...], crop: 128, samples_per_image: 200}
    val: {type: jilin189, root: ., clips: [jilin1_airport], centres: [2, 3, 4]}
    scale: 4
    frames: 5
    batch_size: 8
    steps: 10000
    lr: 4.0e-4
    min_lr: 1.0e-6
    weight_decay: 0.0
    betas: [0.9, 0.99]
    schedule: cosine              # or step (step_size, gamma), or constant
    warmup: 0
    loss: charbonnier             # or l1; rgtgan-warmup for Ref-SR models
    grad_clip: 1.0
    amp: null                     # bf16 or fp16 (CUDA only)
    val_every: 500
    ckpt_every: 500
    protocol: standard
    out: runs/name
    seed: 0
    device: auto
    workers: 0
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from satsr import models
from satsr.errors import InputError
from satsr.metrics import evaluate as evaluate_pair
from satsr.models.ops import set_dcn_impl
from satsr.train.config import DataSpec, TrainConfig, load_config
from satsr.train.fit import charbonnier, fit
from satsr.train.refsr import RefSRTask
from satsr.train.spacetime import SPACETIME_FIELDS, describe_spacetime, spacetime_entry, validate_spacetime

__all__ = ["TrainConfig", "DataSpec", "load_config", "train", "build_dataset", "charbonnier", "StepBatches",
           "VideoTask", "SpaceTimeTask", "validate"]


# -- data ----------------------------------------------------------------------------------------------------
def build_dataset(spec: Mapping[str, Any], *, scale: int, frames: int, seed: int) -> Any:
    """A training or validation dataset from a config entry (``type`` plus the class's arguments, grouped ones flat)."""
    from satsr.train import data as D
    from satsr.train.video_clips import VideoClips

    kinds: dict[str, Any] = {  # data set classes (satsr.train.data.options.FlatOptions)
        "jilin189": D.Jilin189, "vimeo": D.VimeoSeptuplet, "frame_folders": D.FrameFolders,
        "geo_stacks": D.GeoStacks, "pseudo_video": D.PseudoVideo, "video_clips": VideoClips,
    }
    ds = DataSpec.parse(spec)
    if ds.kind not in kinds:
        raise InputError(f"dataset type {ds.kind!r} is not one of {', '.join(kinds)}")
    kwargs = ds.kwargs()
    kwargs.setdefault("scale", scale)
    kwargs.setdefault("frames", frames)
    kwargs.setdefault("seed", seed)
    try:
        return kinds[ds.kind].from_options(**kwargs)  # flat keys (blur_sigma, drift...) become groups
    except TypeError as err:
        raise InputError(f"dataset {ds.kind}: {err}") from None


class StepBatches:
    """Item ``k`` is the whole batch of training step ``k``: a pure function of ``(seed, k)``.

    Samples are drawn with replacement over all datasets, in proportion to their lengths; each sample's crop,
    flips and pseudo-video parameters come from ``numpy.random.default_rng([seed, k, j])``.
    """

    def __init__(self, datasets: list[Any], batch_size: int, seed: int) -> None:
        self.datasets = datasets
        self.sizes = np.array([len(d) for d in datasets])
        if not self.sizes.sum():
            raise InputError("the training data is empty")
        self.batch_size, self.seed = batch_size, seed

    def __getitem__(self, step: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, step])
        flat = rng.integers(0, int(self.sizes.sum()), self.batch_size)
        bounds = np.cumsum(self.sizes)
        samples = []
        for j, i in enumerate(flat):
            d = int(np.searchsorted(bounds, i, side="right"))
            local = int(i - (bounds[d - 1] if d else 0))
            samples.append(self.datasets[d].sample(local, np.random.default_rng([self.seed, step, j])))
        # every tensor a sample holds: lr, hr, and e.g. the flows a space-time data set adds
        return {k: torch.stack([s[k] for s in samples]) for k, v in samples[0].items() if torch.is_tensor(v)}


# -- validation ------------------------------------------------------------------------------------------------
def validate(model: nn.Module, dataset: Any, device: torch.device, protocol: str, scale: int) -> dict[str, float]:
    """Mean metrics of ``model`` over every sample of ``dataset`` (whole frames, padded to the model's rule)."""
    was_training = model.training
    model.eval()
    m = models.get_spec(model).multiple_of
    scores: list[dict[str, float]] = []
    with torch.inference_mode():
        for i in range(len(dataset)):
            s = dataset[i]
            lr = s["lr"][None].to(device)
            h, w = lr.shape[-2:]
            ph, pw = (-h) % m, (-w) % m
            if ph or pw:
                lr = F.pad(lr.flatten(0, 1), (0, pw, 0, ph), mode="reflect").unflatten(0, lr.shape[:2])
            sr = model(lr)[0, :, : h * scale, : w * scale].float().clamp(0, 1).cpu().numpy()
            scores.append(evaluate_pair(sr, s["hr"].numpy(), protocol=protocol, scale=scale))
    model.train(was_training)
    return {k: float(np.mean([s[k] for s in scores])) for k in scores[0]}


# -- the task --------------------------------------------------------------------------------------------------
class VideoTask:
    """The training task of video SR models (``model(lr)``, ``lr`` of ``frames`` frames).

    AdamW, the Charbonnier or L1 loss, validation on whole frames with the config's protocol.
    """

    val_fields: tuple[str, ...] = ("psnr", "ssim")

    def __init__(self, cfg: TrainConfig) -> None:
        if cfg.loss not in ("l1", "charbonnier"):
            raise InputError(f"loss {cfg.loss!r} is for reference models; use 'l1' or 'charbonnier'")
        self.cfg = cfg
        self.loss_fn = charbonnier if cfg.loss == "charbonnier" else F.l1_loss
        self.val_ds: Any = None

    def build(self, cfg: TrainConfig, device: torch.device) -> nn.Module:
        """Check the config against the model, build it and the validation set."""
        model = models.create(cfg.model, pretrained=cfg.init or False, **cfg.model_options)
        if cfg.grow_from:
            models.grow_weights(model, cfg.grow_from)
        model = model.to(device).train()
        if device.type == "cpu":
            set_dcn_impl(model, "grid_sample")  # same forward; its backward is several times faster on a CPU
        spec = models.get_spec(model)
        if spec.scale != cfg.scale or spec.frames_in != cfg.frames:
            raise InputError(f"{cfg.model} takes {spec.frames_in} frames at x{spec.scale}; the config says "
                             f"frames={cfg.frames}, scale={cfg.scale}")
        if cfg.val is not None:
            self.val_ds = self.dataset(cfg.val, cfg, train=False)
        return model

    def dataset(self, entry: Mapping[str, Any], cfg: TrainConfig, *, train: bool = True) -> Any:
        """A training (or, ``train=False``, validation) data set from a config entry."""
        return build_dataset(entry, scale=cfg.scale, frames=cfg.frames, seed=cfg.seed)

    def optimizer(self, model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
        """AdamW over all parameters, with the config's learning rate, betas and weight decay."""
        return torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)

    def batches(self, cfg: TrainConfig) -> StepBatches:
        """The batch of each step, a pure function of ``(seed, step)``."""
        datasets = [self.dataset(d, cfg) for d in cfg.data]
        return StepBatches(datasets, cfg.batch_size, cfg.seed)

    def loss(self, model: nn.Module, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The loss of one batch."""
        return self.loss_fn(model(batch["lr"]).float(), batch["hr"])

    def validate(self, model: nn.Module, device: torch.device) -> dict[str, float] | None:
        """Mean scores on the validation set (``None`` without one)."""
        if self.val_ds is None:
            return None
        return validate(model, self.val_ds, device, self.cfg.protocol, self.cfg.scale)

    def describe(self, val: Mapping[str, float]) -> str:
        """One progress line for a validation."""
        return f"val PSNR {val['psnr']:.3f} dB, SSIM {val['ssim']:.4f}"


class SpaceTimeTask(VideoTask):
    """The training task of space-time models (``time_scale > 1``): all output frames compared, by kind scored.

    As :class:`VideoTask`, with ``video_clips`` (and ``pseudo_video``) data read as space-time windows (for MSTT:
    LR of frames 0, 2, 4, 6 in, all 7 HR frames out, and Ce Liu's flows computed with each training sample), the
    loss over every output frame, and validation of the key frames and the frames in between apart
    (:mod:`satsr.train.spacetime`).
    """

    val_fields = SPACETIME_FIELDS

    def __init__(self, cfg: TrainConfig) -> None:
        super().__init__(cfg)
        self.time_scale = models.get_spec(cfg.model).time_scale
        self.flow_options: dict[str, Any] | None = None

    def build(self, cfg: TrainConfig, device: torch.device) -> nn.Module:
        """As :meth:`VideoTask.build`; a model that takes flows (``flow_options``) gets them from the data."""
        model = super().build(cfg, device)  # builds the validation set, which needs no flows
        options = getattr(model, "flow_options", None)
        self.flow_options = dict(options) if isinstance(options, Mapping) else None
        return model

    def dataset(self, entry: Mapping[str, Any], cfg: TrainConfig, *, train: bool = True) -> Any:
        """A ``video_clips`` or ``pseudo_video`` entry read as space-time windows (``spacetime_entry``)."""
        flows = self.flow_options if train else None  # validation: the model computes its own
        return build_dataset(spacetime_entry(entry, cfg.model, self.time_scale, flows), scale=cfg.scale,
                             frames=cfg.frames, seed=cfg.seed)

    def loss(self, model: nn.Module, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The loss over every output frame of one batch (the batch's flows passed on where it has them)."""
        flows = (batch["f_flow"], batch["b_flow"]) if "f_flow" in batch else ()
        return self.loss_fn(model(batch["lr"], *flows).float(), batch["hr"])

    def validate(self, model: nn.Module, device: torch.device) -> dict[str, float] | None:
        """Mean scores on the validation set, key frames and frames in between apart (``None`` without one)."""
        if self.val_ds is None:
            return None
        return validate_spacetime(model, self.val_ds, device, self.cfg.protocol, self.cfg.scale)

    def describe(self, val: Mapping[str, float]) -> str:
        """One progress line for a validation."""
        return describe_spacetime(val)


def train(cfg: TrainConfig, *, resume: bool = False, progress: bool = True, until: int | None = None,
          log: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Train ``cfg.model`` on ``cfg.data``; write checkpoints, ``log.csv`` and ``final.safetensors`` under ``out``.

    Video models train as :class:`VideoTask`, space-time models (``time_scale > 1``) as
    :class:`SpaceTimeTask`, reference-based models (``needs_reference``) as
    :class:`satsr.train.refsr.RefSRTask`, all through the one skeleton :func:`satsr.train.fit.fit`.

    Parameters
    ----------
    cfg : TrainConfig
        The run (see :func:`load_config`).
    resume : bool, default False
        Continue from ``out/last.pt`` exactly where it stopped.
    progress : bool, default True
        Show progress (a bar on a terminal, log lines elsewhere; :mod:`satsr.progress`) with the loss and speed.
    until : int, optional
        Stop after this step (checkpointed) instead of ``cfg.steps``, e.g. to split a run across sessions; the
        schedule still spans ``cfg.steps``. ``final.safetensors`` is written only at ``cfg.steps``.
    log : callable, optional
        Called with each logged row (for notebooks and tests).

    Returns
    -------
    dict
        ``{"step", "loss", "val", "model", "seconds", "config"}`` at the end (``val`` is the last validation, or
        ``None``).
    """
    spec = models.get_spec(cfg.model)
    task = RefSRTask(cfg) if spec.needs_reference else SpaceTimeTask(cfg) if spec.time_scale > 1 else VideoTask(cfg)
    return fit(cfg, task, resume=resume, progress=progress, until=until, log=log)
