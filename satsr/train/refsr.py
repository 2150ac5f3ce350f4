"""Training of reference-based SR models (RGTGAN's generator) on HR / LR / Ref triplets.

:class:`RefSRTask` is the task of the one training skeleton (:func:`satsr.train.fit.fit`) for models called
``model(lr, ref)`` (``spec.needs_reference``): the same config file, checkpoints, ``log.csv``, learning-rate
schedules, autocast and exact resume as video models, with these differences:

* data and validation sets are Ref-SR folders (:class:`satsr.train.data.RefSRTriplets`), config entries
  ``{type: refsr, root: [...], crop: 64, augment: true}``;
* the loss is RGTGAN's warm-up (``loss: rgtgan-warmup``): L1 pixel (weight 1.0) + MSE of the gradient maps
  (1.0), :class:`satsr.train.gan.GeneratorLoss` with ``warmup=True``; no discriminator and no VGG term (those
  need ImageNet VGG19 weights that satsr cannot ship), or plain ``l1`` / ``charbonnier``;
* Adam (not AdamW) with the authors' ``lr=1e-4, betas=(0.9, 0.99)`` by default;
* the network is trained through the pair interface ``model(lr, ref)``, which derives ``lr_ux4`` and
  ``ref_dux4`` with MATLAB bicubic inside (:func:`satsr.models.rgtgan.derive_inputs`), exactly as
  :func:`satsr.upscale` runs it; the supplied ``LR_UX4`` / ``Ref_DUX4`` files are not fed to the network;
* validation reports the model's PSNR / SSIM beside the supplied ``LR_UX4`` (bicubic) on the same samples, with
  RGTGAN's ``val.py`` protocol (:func:`satsr.metrics.evaluate` ``protocol="rgtgan"``: RGB, 8-bit rounded, 4 px
  border crop).

Data order: step ``k`` takes the samples at positions ``k * batch .. k * batch + batch - 1`` of an endless
sequence of epochs; epoch ``e`` is the permutation ``default_rng([seed, e])`` of all training samples, and its
crops and flips are those of ``RefSRTriplets.set_epoch(e)``. So every image is seen once per epoch and the data of
a step is a pure function of ``(seed, k)``, as :mod:`satsr.train.loop` needs for exact resume.

Example config (``satsr/train/configs/rgtgan-2blocks.yaml``)::

    model: rgtgan
    model_options: {n_blocks: 2}
    data: [{type: refsr, root: [refsr/rrssrd/val_1st, refsr/rrssrd/val_2nd], crop: 64, augment: true}]
    val: {type: refsr, root: refsr/rrssrd/val_3rd, crop: 96, limit: 8}
    frames: 1
    loss: rgtgan-warmup
    lr: 1.0e-4
    schedule: constant
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from satsr import models
from satsr.errors import InputError
from satsr.metrics import evaluate as evaluate_pair
from satsr.models.ops import set_dcn_impl, zero_conv_
from satsr.train.config import DataSpec, TrainConfig
from satsr.train.fit import charbonnier, fit

__all__ = ["train_refsr", "train_refsr_config", "refsr_config", "validate_refsr", "build_refsr_dataset",
           "RefSRSteps", "RefSRTask", "zero_last_conv", "REFSR_DEFAULTS"]

PathLike = str | os.PathLike[str]

#: Settings of :func:`refsr_config` (and :func:`train_refsr`) whose defaults differ from
#: :class:`~satsr.train.config.TrainConfig`'s: a short run at the authors' optimiser settings.
REFSR_DEFAULTS: Mapping[str, Any] = MappingProxyType({
    "model": "rgtgan", "steps": 300, "batch_size": 2, "lr": 1e-4, "betas": (0.9, 0.99), "schedule": "constant",
    "loss": "rgtgan-warmup", "grad_clip": None, "val_every": 100, "ckpt_every": 50,
})
# Fixed by the task: RGTGAN's x4, one frame, its validation protocol; data and val come from the folders.
_FIXED = {"scale": 4, "frames": 1, "protocol": "rgtgan"}


def zero_last_conv(model: nn.Module) -> nn.Module:
    """Zero the last convolution of RGTNet's texture transfer (``texture_transfer.tail_large.2``); returns ``model``.

    The generator's output is that convolution's output plus ``lr_ux4``, so the model then returns exactly the
    bicubic upsampling until training moves the convolution. The authors keep PyTorch's default initialisation;
    starting at bicubic suits short runs, which can then only add to the baseline.
    """
    try:
        conv = model.get_submodule("texture_transfer.tail_large.2")
    except AttributeError:
        raise InputError(f"{type(model).__name__} has no texture_transfer.tail_large.2 (not an RGTNet)") from None
    zero_conv_(conv)  # a Conv2d with a bias
    return model


# -- data ----------------------------------------------------------------------------------------------------
def build_refsr_dataset(spec: Mapping[str, Any], *, scale: int, seed: int, train: bool) -> Any:
    """A :class:`~satsr.train.data.RefSRTriplets` from a config entry ``{type: refsr, root, crop, augment, limit}``.

    Types ``video_ref`` and ``bitemporal`` make :mod:`satsr.train.data.refpairs` data sets (real satellite video
    with a reference from another time, bi-temporal pairs) from their own options.

    ``limit`` (validation only) keeps that many samples, evenly spaced over the sorted list, for a quick check.
    ``augment`` defaults to ``True`` for training and ``False`` for validation.
    """
    from satsr.train.data import RefSRTriplets

    ds_spec = DataSpec.parse(spec)
    kind = ds_spec.kind
    spec = ds_spec.kwargs()
    from satsr.train.data.refpairs import REF_PAIR_TYPES, build_ref_pairs

    if kind in REF_PAIR_TYPES:  # real video and bi-temporal pairs (satsr.train.data.refpairs)
        return build_ref_pairs(kind, spec, scale=scale, seed=seed, train=train)
    if kind != "refsr":
        raise InputError(f"dataset type {kind!r}: a reference-based model trains on 'refsr' data (or "
                         f"{', '.join(repr(k) for k in REF_PAIR_TYPES)})")
    if "root" not in spec:
        raise InputError("dataset refsr: give root (one or more Ref-SR set folders)")
    limit = spec.pop("limit", None)
    spec.setdefault("augment", train)
    spec.setdefault("scale", scale)
    spec.setdefault("seed", seed)
    try:
        ds = RefSRTriplets(spec.pop("root"), **spec)
    except TypeError as err:
        raise InputError(f"dataset refsr: {err}") from None
    if limit is not None and int(limit) < len(ds):
        keep = np.unique(np.linspace(0, len(ds) - 1, int(limit)).round().astype(int))
        ds.items = [ds.items[i] for i in keep]
    if not len(ds):
        raise InputError(f"dataset refsr: no samples under {spec.get('root')}")
    return ds


class RefSRSteps:
    """Item ``k`` is the batch of training step ``k`` (``lr``, ``ref``, ``hr``), a pure function of ``(seed, k)``.

    Samples are drawn epoch by epoch without replacement (see the module docstring).
    """

    def __init__(self, datasets: Sequence[Any], batch_size: int, seed: int) -> None:
        self.datasets = list(datasets)
        self.bounds = np.cumsum([len(d) for d in self.datasets])
        if not len(self.bounds) or not self.bounds[-1]:
            raise InputError("the training data is empty")
        self.batch_size, self.seed = batch_size, seed

    def sample(self, position: int) -> dict[str, Any]:
        """The training sample at ``position`` of the endless epoch sequence."""
        n = int(self.bounds[-1])
        epoch, k = divmod(position, n)
        i = int(np.random.default_rng([self.seed, epoch]).permutation(n)[k])
        d = int(np.searchsorted(self.bounds, i, side="right"))
        ds = self.datasets[d]
        ds.set_epoch(epoch)
        return ds[i - (int(self.bounds[d - 1]) if d else 0)]

    def __getitem__(self, step: int) -> dict[str, torch.Tensor]:
        samples = [self.sample(step * self.batch_size + j) for j in range(self.batch_size)]
        return {k: torch.stack([s[k] for s in samples]) for k in ("lr", "ref", "hr")}


# -- validation ------------------------------------------------------------------------------------------------
def validate_refsr(model: nn.Module, dataset: Any, device: torch.device | str = "cpu", *,
                   baseline: bool = True, each: Callable[[dict[str, Any]], None] | None = None) -> dict[str, float]:
    """Mean PSNR / SSIM of ``model(lr, ref)`` over ``dataset``, and of its supplied ``lr_ux4`` (bicubic).

    RGTGAN's ``val.py`` protocol (:func:`satsr.metrics.evaluate` with ``protocol="rgtgan"``): RGB, outputs clamped
    and rounded to 8 bit, 4 px border crop. Samples are scored whole (or at the dataset's crop); the LR size must
    be a multiple of the model's ``multiple_of``.

    Parameters
    ----------
    model : torch.nn.Module
        A reference model (``model(lr, ref)``).
    dataset : RefSRTriplets
        Samples with ``lr``, ``ref``, ``hr`` and ``lr_ux4``.
    device : torch.device or str, default "cpu"
    baseline : bool, default True
        Also score the samples' ``lr_ux4`` (keys ``bicubic_psnr``, ``bicubic_ssim``).
    each : callable, optional
        Called with each sample's scores (``{"key", "psnr", "ssim", ...}``), e.g. to save them as they come.

    Returns
    -------
    dict of str to float
        ``psnr``, ``ssim`` and, with ``baseline``, ``bicubic_psnr``, ``bicubic_ssim``: means over the samples.
    """
    device = torch.device(device)
    was_training = model.training
    model.eval()
    rows: list[dict[str, Any]] = []
    with torch.inference_mode():
        for i in range(len(dataset)):
            s = dataset[i]
            sr = model(s["lr"][None].to(device), s["ref"][None].to(device))[0].float().clamp(0, 1).cpu().numpy()
            hr = s["hr"].numpy()
            row: dict[str, Any] = {"key": s["key"], **evaluate_pair(sr, hr, protocol="rgtgan")}
            if baseline:
                bic = evaluate_pair(s["lr_ux4"].numpy(), hr, protocol="rgtgan")
                row.update(bicubic_psnr=bic["psnr"], bicubic_ssim=bic["ssim"])
            rows.append(row)
            if each is not None:
                each(row)
    model.train(was_training)
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "key"}


# -- the loop ----------------------------------------------------------------------------------------------------
def _roots(paths: PathLike | Sequence[PathLike]) -> list[str]:
    return [os.fspath(paths)] if isinstance(paths, (str, os.PathLike)) else [os.fspath(p) for p in paths]


def refsr_config(
    data: PathLike | Sequence[PathLike],
    *,
    out: PathLike,
    val: PathLike | Sequence[PathLike] | None = None,
    n_blocks: int | None = 2,
    crop: int = 64,
    augment: bool = True,
    val_crop: int | None = 96,
    val_limit: int | None = 8,
    **settings: Any,
) -> TrainConfig:
    """The :class:`~satsr.train.config.TrainConfig` of a Ref-SR training on folders of Ref-SR sets.

    Parameters
    ----------
    data : path or sequence of paths
        Ref-SR set folders to train on (``HR``, ``LR``, ``Ref``/``google_Ref``; see
        :class:`satsr.train.data.RefSRTriplets`), or folders of such sets.
    out : path
        Run folder: ``last.pt`` (checkpoint), ``log.csv``, ``final.safetensors`` (:func:`satsr.models.save`).
    val : path or sequence of paths, optional
        Held-aside Ref-SR sets scored every ``val_every`` steps and at the end (never trained on).
    n_blocks : int or None, default 2
        RGTGAN's residual blocks per body (the authors' 16); ``None`` leaves the builder's default. The widths are
        fixed (64) by the architecture. A checkpoint loads only into a model with the same ``n_blocks``.
    crop : int, default 64
        HR patch size of the training samples (a multiple of 16: the LR patch must be a multiple of 4).
    augment : bool, default True
        Random flips and transposes, as the authors.
    val_crop : int or None, default 96
        HR size of the validation patches (one fixed patch per sample); ``None`` scores whole images, which on a
        CPU takes about 100 s per 480 x 480 output.
    val_limit : int or None, default 8
        Validate on that many samples, evenly spaced over ``val``; ``None``: all.
    **settings
        Any other :class:`~satsr.train.config.TrainConfig` setting. Those whose defaults differ here
        (:data:`REFSR_DEFAULTS`): ``model="rgtgan"`` (a registered reference model), ``steps=300``,
        ``batch_size=2``, ``lr=1e-4`` and ``betas=(0.9, 0.99)`` (Adam; the authors'), ``schedule="constant"``
        (``"cosine"`` ends at ``min_lr``), ``loss="rgtgan-warmup"`` (L1 pixel + gradient-map MSE, both weight 1:
        RGTGAN's warm-up phase, no GAN, no VGG; or ``"l1"``, ``"charbonnier"``), ``grad_clip=None`` (the authors
        do not clip), ``val_every=100``, ``ckpt_every=50``. ``model_options`` are further builder options,
        ``init`` a checkpoint to start from, ``seed`` seeds the initialisation, the data order, the crops and
        flips. ``scale=4``, ``frames=1`` and ``protocol="rgtgan"`` are fixed.

    Returns
    -------
    TrainConfig

    Raises
    ------
    TypeError
        A setting that is not a :class:`~satsr.train.config.TrainConfig` field (or one fixed here).
    InputError
        Bad settings.
    """
    known = {f.name for f in dataclasses.fields(TrainConfig)} - set(_FIXED) - {"data", "val", "out"}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise TypeError(f"refsr_config() got unexpected keyword argument(s) {', '.join(unknown)}")
    options = dict(settings.pop("model_options", None) or {})
    if n_blocks is not None:
        options["n_blocks"] = int(n_blocks)
    init = settings.pop("init", None)
    val_spec = None
    if val is not None:
        val_spec = {"type": "refsr", "root": _roots(val), "crop": val_crop, "limit": val_limit}
    return TrainConfig(  # data and val as mappings: TrainConfig parses them (DataSpec.parse)
        **{**REFSR_DEFAULTS, **settings, **_FIXED},
        data=[{"type": "refsr", "root": _roots(data), "crop": crop, "augment": augment}], val=val_spec,  # type: ignore[arg-type]
        out=os.fspath(out), model_options=options, init=os.fspath(init) if init else None,
    )


def train_refsr(
    data: PathLike | Sequence[PathLike] | TrainConfig,
    *,
    zero_init: bool = True,
    resume: bool = False,
    until: int | None = None,
    progress: bool = True,
    log: Callable[[dict[str, Any]], None] | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """Train a reference-based SR model (RGTGAN's generator by default) on Ref-SR triplets.

    ``train_refsr(cfg)`` runs a :class:`~satsr.train.config.TrainConfig` (as :func:`train_refsr_config`);
    ``train_refsr(folders, out=..., **settings)`` first makes one with :func:`refsr_config`.

    Parameters
    ----------
    data : TrainConfig, path or sequence of paths
        The run's config, or the Ref-SR set folders to train on.
    zero_init : bool, default True
        Zero the generator's last convolution (:func:`zero_last_conv`) so that training starts exactly at the
        bicubic ``lr_ux4``, unless ``init`` is given; the authors use PyTorch's default initialisation.
    resume : bool, default False
        Continue exactly from ``out/last.pt``.
    until : int, optional
        Stop (checkpointed) after this step; ``final.safetensors`` is written only at ``steps``.
    progress : bool, default True
        Show progress (a bar on a terminal, log lines elsewhere; :mod:`satsr.progress`).
    log : callable, optional
        Called with each logged row.
    **settings
        With folders: the arguments of :func:`refsr_config` (``out`` is required; ``val``, ``n_blocks``,
        ``crop``, ``steps``, ``lr``, ``device``...). With a config: none.

    Returns
    -------
    dict
        ``{"step", "loss", "val", "model", "seconds"}``; ``val`` is the last validation (``psnr``, ``ssim``,
        ``bicubic_psnr``, ``bicubic_ssim``) or ``None``.

    Raises
    ------
    InputError
        Bad settings, missing data, or a model that takes no reference.
    """
    if isinstance(data, TrainConfig):
        if settings:
            raise TypeError(f"train_refsr(cfg): change {', '.join(sorted(settings))} in the config instead "
                            "(dataclasses.replace)")
        cfg = data
    else:
        cfg = refsr_config(data, **settings)
    return train_refsr_config(cfg, resume=resume, until=until, progress=progress, log=log, zero_init=zero_init)


class RefSRTask:
    """The training task of reference-based models (``model(lr, ref)``).

    Adam (the authors'), RGTGAN's warm-up loss (or L1 / Charbonnier), validation beside the supplied bicubic
    ``LR_UX4`` with RGTGAN's protocol.

    Parameters
    ----------
    cfg : TrainConfig
        The run; checked here (a model that takes a reference, one frame, crops the model can take, the loss).
    zero_init : bool, default True
        Zero the generator's last convolution (:func:`zero_last_conv`) unless ``cfg.init`` is given.
    """

    val_fields: tuple[str, ...] = ("psnr", "ssim", "bicubic_psnr", "bicubic_ssim")

    def __init__(self, cfg: TrainConfig, zero_init: bool = True) -> None:
        spec = models.get_spec(cfg.model)
        if not spec.needs_reference:
            raise InputError(f"{cfg.model} takes no reference image; train it with satsr.train.loop.train")
        if spec.scale != cfg.scale or cfg.frames != 1:
            raise InputError(f"{cfg.model} takes 1 frame at x{spec.scale}; the config says frames={cfg.frames}, "
                             f"scale={cfg.scale}")
        if cfg.loss not in ("rgtgan-warmup", "l1", "charbonnier"):
            raise InputError(f"loss must be 'rgtgan-warmup', 'l1' or 'charbonnier' for a Ref-SR model, got "
                             f"{cfg.loss!r}")
        for d in cfg.data:
            crop = d.get("crop")
            if crop is not None and int(crop) % (cfg.scale * spec.multiple_of):
                raise InputError(f"crop {crop}: the HR patch must be a multiple of {cfg.scale * spec.multiple_of} "
                                 f"(LR patches a multiple of {spec.multiple_of})")
        self.cfg, self.zero_init = cfg, zero_init
        self.val_ds: Any = None
        if cfg.loss == "rgtgan-warmup":
            from satsr.train.gan import GeneratorLoss

            warm = GeneratorLoss(perceptual_weight=0.0, gan_weight=0.0, gradient_gan_weight=0.0)
            self.loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = (
                lambda a, b: warm(a, b, warmup=True)[0]
            )
        else:
            self.loss_fn = charbonnier if cfg.loss == "charbonnier" else F.l1_loss

    def build(self, cfg: TrainConfig, device: torch.device) -> nn.Module:
        """Check the config against the model, build it and the validation set."""
        if cfg.grow_from:
            raise InputError("grow_from is for video models; Ref-SR runs start from init")
        model = models.create(cfg.model, pretrained=cfg.init or False, **cfg.model_options)
        if self.zero_init and not cfg.init:
            zero_last_conv(model)
        if device.type == "cpu":
            set_dcn_impl(model, "grid_sample")  # same forward; its backward is many times faster on a CPU
        if cfg.val is not None:
            self.val_ds = build_refsr_dataset(cfg.val, scale=cfg.scale, seed=cfg.seed, train=False)
        return model.to(device).train()

    def optimizer(self, model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
        """Adam (the authors') over all parameters, with the config's learning rate, betas and weight decay."""
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)

    def batches(self, cfg: TrainConfig) -> RefSRSteps:
        """The batch of each step, a pure function of ``(seed, step)``."""
        return RefSRSteps([build_refsr_dataset(d, scale=cfg.scale, seed=cfg.seed, train=True) for d in cfg.data],
                          cfg.batch_size, cfg.seed)

    def loss(self, model: nn.Module, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The loss of one batch."""
        return self.loss_fn(model(batch["lr"], batch["ref"]).float(), batch["hr"])

    def validate(self, model: nn.Module, device: torch.device) -> dict[str, float] | None:
        """Mean scores on the validation set (``None`` without one)."""
        return None if self.val_ds is None else validate_refsr(model, self.val_ds, device)

    def describe(self, val: Mapping[str, float]) -> str:
        """One progress line for a validation."""
        return (f"val PSNR {val['psnr']:.3f} dB (bicubic {val['bicubic_psnr']:.3f}), "
                f"SSIM {val['ssim']:.4f} (bicubic {val['bicubic_ssim']:.4f})")


def train_refsr_config(cfg: TrainConfig, *, resume: bool = False, progress: bool = True, until: int | None = None,
                       log: Callable[[dict[str, Any]], None] | None = None, zero_init: bool = True
                       ) -> dict[str, Any]:
    """Run a Ref-SR training from a :class:`~satsr.train.config.TrainConfig`.

    :func:`satsr.train.loop.train` does the same for any model.

    See :func:`train_refsr` for the parameters; ``zero_init`` applies unless ``cfg.init`` is given.
    """
    return fit(cfg, RefSRTask(cfg, zero_init), resume=resume, progress=progress, until=until, log=log)
