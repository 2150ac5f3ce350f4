"""Model registry: typed :class:`ModelSpec` entries, ``register``, ``get_spec``, ``list_models``, ``wrap``.

Every model the pipeline runs carries a ``spec`` attribute (a :class:`ModelSpec`) describing what it needs:
``scale``, ``frames_in``, ``bands``, ``halo``. :func:`satsr.models.factory.create` attaches it to registered
models and ``wrap`` to a user's own ``nn.Module``. The layout follows timm's: specs and lookup here, the factory in
:mod:`satsr.models.factory`, checkpoint I/O in :mod:`satsr.models.checkpoint`; this module imports neither.

Tensor convention: single-frame models (``frames_in == 1``) take ``(B, C, H, W)``; video models take
``(B, T, C, H, W)`` with ``T == frames_in`` and return the centre frame. Outputs are ``(B, C, H*s, W*s)``.
Values are in ``spec.value_range`` (``[0, 1]`` for every model so far).
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from torch import nn

from satsr.errors import ModelError, RegistryError, UnknownModelError

__all__ = [
    "ModelSpec", "Weights", "register", "list_models", "get_spec", "iter_specs", "wrap", "bundled_weights",
    "needs_weights", "shipped_variants",
]


@dataclass(frozen=True, slots=True)
class Weights:
    """Published weights of a registered model."""

    tag: str
    source: str
    sha256: str
    license: str
    citation: str = ""
    file: str = ""  # shipped in the package, under satsr/weights/


def bundled_weights(spec: ModelSpec) -> Path | None:
    """Path of the weights shipped with satsr for ``spec`` (checked against their SHA-256), or ``None``.

    Raises
    ------
    CheckpointError
        When the shipped file does not match its recorded digest (a damaged install).
    """
    import hashlib

    from satsr.errors import CheckpointError

    for w in spec.weights:
        if w.file:
            path = Path(__file__).resolve().parents[1] / "weights" / w.file
            if path.is_file():
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                if w.sha256 and digest != w.sha256:
                    raise CheckpointError(f"{path}: SHA-256 {digest[:12]}... differs from the recorded "
                                          f"{w.sha256[:12]}...; reinstall satsr")
                return path
    return None


def needs_weights(spec: ModelSpec) -> bool:
    """Whether the model is a network with parameters, so that it needs trained weights to be of any use.

    Interpolators (``bicubic``...) have none. The network is built on the meta device (no memory, no
    initialisation); a builder that cannot be built there counts as needing weights.
    """
    import torch

    try:
        with torch.device("meta"):
            return any(True for _ in spec.build().parameters())
    except Exception:  # a builder that needs arguments or real data: assume a network
        return True


def shipped_variants(spec: ModelSpec) -> list[str]:
    """Registered models of ``spec``'s family (``spec.family``) whose trained weights ship with satsr, sorted."""
    return sorted(s.name for s in _REGISTRY.values()
                  if s.family == spec.family and any(w.file for w in s.weights))


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """What a model is and what it needs from the pipeline.

    Attributes
    ----------
    name : str
        Registry key (kebab-case).
    build : callable
        Returns a fresh ``nn.Module``; its keyword arguments are the model's options.
    scale : int
        Default upscaling factor.
    scales : tuple of int
        Every factor the model supports (a trained network supports one; interpolators many).
    frames_in : int
        Frames per sample: odd, the output being the centre frame; or, for a space-time model
        (``time_scale > 1``), consecutive frames whose outputs include the frames in between.
    time_scale : int
        1 for spatial models. ``r > 1``: the model also makes ``r - 1`` frames between each pair of input frames;
        it returns ``frames_out = (frames_in - 1) * r + 1`` frames per sample, and ``satsr.upscale`` returns
        ``(N - 1) * r + 1`` frames for ``N``.
    bands : int or None
        Number of bands the model takes; ``None`` means any.
    halo : int
        LR pixels of context each side of a tile needs so that tiled output equals whole-image output.
    multiple_of : int
        The model's input height/width must be a multiple of this (the pipeline pads), and tiles start on
        multiples of it (windowed attention and strided pooling then see the whole image's grid).
    feather : int
        Default overlap (LR pixels) for cross-fading tiles; ``0`` means tiles are cropped. Set for models whose
        tiles cannot match the whole image exactly (a global term in the network), to hide the seams.
    time_padding : {"clamp", "far-side"}
        How a video model's window is filled past the ends of a clip: repeat the end frame, or LGFN's rule
        (frames from the window's other side); see :func:`satsr.tiling.time_window`.
    needs_reference : bool
        A reference-based model: called ``model(lr, ref)`` with ``ref`` ``(B, C, H*scale, W*scale)``, a sharper
        image of the same place on the output grid (``satsr.upscale(..., reference=...)``).
    tile : int
        Smallest default tile in input pixels (:func:`satsr.tiling.default_tile` grows it to the halo, within
        the device's memory budget); smaller for models whose memory grows fast with the tile.
    bytes_per_pixel : int
        Peak memory of a forward per input pixel (frames x rows x cols of a window), measured in fp32 on the
        CPU (``benchmarks/window_memory.py``); sets how large a default tile fits a device's memory. ``0``:
        unknown (the default tile's window then stays within four of the CPU's batched windows).
    cpu_bf16 : bool
        Whether ``precision="auto"`` may pick bf16 on a CPU with native bf16; ``False`` for models measured
        slower in bf16 there (``benchmarks/precision.py``: rgtgan 3.25 s against 1.96 s in fp32 per forward).
    value_range : tuple of float
        Range of input/output values the model works in.
    description : str
        One line for ``satsr models``.
    family : str
        The architecture the model belongs to, for pointing from a model without weights to a variant that has
        some (``lgtd`` and ``lgtd-arc`` to ``lgtd-s``). Default the name up to its first ``-``.
    """

    name: str
    build: Callable[..., nn.Module]
    scale: int
    scales: tuple[int, ...] = ()
    frames_in: int = 1
    frames_out: int = 1
    bands: int | None = 3
    halo: int = 0
    multiple_of: int = 1
    feather: int = 0
    time_padding: str = "clamp"
    time_scale: int = 1
    needs_reference: bool = False
    tile: int = 256
    bytes_per_pixel: int = 0
    cpu_bf16: bool = True
    value_range: tuple[float, float] = (0.0, 1.0)
    description: str = ""
    weights: tuple[Weights, ...] = ()
    scale_is_argument: bool = field(default=False)
    family: str = ""

    def __post_init__(self) -> None:
        if not self.family:
            object.__setattr__(self, "family", self.name.split("-")[0])
        if not self.scales:
            object.__setattr__(self, "scales", (self.scale,))
        if self.time_scale < 1:
            raise RegistryError(f"{self.name}: time_scale must be >= 1, got {self.time_scale}")
        if self.time_scale == 1 and (self.frames_in < 1 or self.frames_in % 2 == 0):
            raise RegistryError(f"{self.name}: frames_in must be odd and positive, got {self.frames_in}")
        if self.time_scale > 1:
            if self.frames_in < 2:
                raise RegistryError(f"{self.name}: a space-time model takes at least 2 frames, got {self.frames_in}")
            object.__setattr__(self, "frames_out", (self.frames_in - 1) * self.time_scale + 1)
        if self.time_padding not in ("clamp", "far-side"):
            raise RegistryError(f"{self.name}: time_padding must be 'clamp' or 'far-side', got {self.time_padding!r}")
        if self.halo < 0 or self.multiple_of < 1 or self.feather < 0:
            raise RegistryError(f"{self.name}: halo and feather must be >= 0 and multiple_of >= 1")


_REGISTRY: dict[str, ModelSpec] = {}
B = TypeVar("B", bound=Callable[..., nn.Module])


def register(name: str, **spec: Any) -> Callable[[B], B]:
    """Register a model builder under ``name`` with the given :class:`ModelSpec` fields.

    Parameters
    ----------
    name : str
        Registry key, kebab-case.
    **spec
        Fields of :class:`ModelSpec` other than ``name`` and ``build``.

    Returns
    -------
    callable
        A decorator that registers the builder and returns it unchanged.

    Raises
    ------
    RegistryError
        When ``name`` is already registered.
    """

    def deco(build: B) -> B:
        if name in _REGISTRY:
            raise RegistryError(f"model {name!r} is already registered")
        _REGISTRY[name] = ModelSpec(name=name, build=build, **spec)
        return build

    return deco


def iter_specs() -> list[ModelSpec]:
    """Every registered :class:`ModelSpec`, in registration order."""
    return list(_REGISTRY.values())


def list_models(pattern: str = "*") -> list[str]:
    """Names of registered models matching a shell-style ``pattern``, sorted.

    Examples
    --------
    >>> "bicubic" in list_models()
    True
    """
    return sorted(n for n in _REGISTRY if fnmatch.fnmatch(n, pattern))


def get_spec(name_or_model: str | nn.Module) -> ModelSpec:
    """Return the :class:`ModelSpec` of a registered name or of a model built by ``create``/``wrap``.

    Raises
    ------
    UnknownModelError
        For an unknown name (close matches are suggested) or a module without a ``spec``.
    """
    if isinstance(name_or_model, nn.Module):
        spec = getattr(name_or_model, "spec", None)
        if not isinstance(spec, ModelSpec):
            raise UnknownModelError(
                f"{type(name_or_model).__name__} has no satsr spec; use satsr.models.wrap(module, scale=..., "
                "frames_in=..., halo=...) to describe it"
            )
        return spec
    try:
        return _REGISTRY[name_or_model]
    except KeyError:
        close = difflib.get_close_matches(str(name_or_model), _REGISTRY, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownModelError(
            f"unknown model {name_or_model!r}{hint} (registered: {', '.join(list_models())})"
        ) from None


def wrap(
    module: nn.Module,
    *,
    scale: int,
    frames_in: int = 1,
    halo: int = 0,
    bands: int | None = None,
    multiple_of: int = 1,
    value_range: tuple[float, float] = (0.0, 1.0),
    name: str | None = None,
    time_scale: int = 1,
    needs_reference: bool = False,
) -> nn.Module:
    """Describe a user's own network so that :func:`satsr.upscale` can run it.

    Parameters
    ----------
    module : torch.nn.Module
        Takes ``(B, C, H, W)`` (or ``(B, T, C, H, W)`` when ``frames_in > 1``) and returns
        ``(B, C, H*scale, W*scale)``.
    scale : int
        Upscaling factor of the network.
    frames_in : int, default 1
        Frames per sample (odd); the output is the centre frame.
    halo : int, default 0
        LR pixels of context per tile side; at least the network's receptive-field radius for seamless tiles.
    bands : int, optional
        Band count the network takes; ``None`` means any.
    multiple_of : int, default 1
        Required divisor of the input height and width.
    value_range : tuple of float, default (0, 1)
        Range of values the network works in.
    name : str, optional
        Name shown in outputs; default the class name.
    time_scale : int, default 1
        ``r > 1`` for a space-time network: it takes ``frames_in`` consecutive frames and returns
        ``(B, (frames_in - 1) * r + 1, C, H*scale, W*scale)``, the inputs and ``r - 1`` frames between each pair.
    needs_reference : bool, default False
        A reference-based network, called ``module(lr, ref)`` with ``ref`` ``(B, C, H*scale, W*scale)`` on the
        output grid (``satsr.upscale(..., reference=...)``).

    Returns
    -------
    torch.nn.Module
        The same module, with a ``spec`` attribute; put in eval mode.

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 48, 3, padding=1), torch.nn.PixelShuffle(4))  # doctest: +SKIP
    >>> sr = satsr.upscale(stack, model=wrap(net, scale=4, halo=1))  # doctest: +SKIP
    """
    if not isinstance(module, nn.Module):
        raise ModelError(f"wrap expects a torch.nn.Module, got {type(module).__name__}")
    label = name or type(module).__name__
    module.spec = ModelSpec(  # type: ignore[assignment]  # torch types Module attributes as tensors or modules
        name=label,
        build=lambda: module,
        scale=int(scale),
        frames_in=frames_in,
        bands=bands,
        halo=halo,
        multiple_of=multiple_of,
        value_range=value_range,
        description=f"user model {label}",
        time_scale=int(time_scale),
        needs_reference=bool(needs_reference),
    )
    return module.eval()
