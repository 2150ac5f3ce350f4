"""Grouped settings of the training data sets, and the flat form the config files give them in.

A data set takes related settings as one frozen object (:class:`Degradation`, :class:`satsr.train.pseudo.Motion`,
:class:`satsr.train.video_clips.VideoDegradation`); a config entry lists them flat (``blur_sigma: 1.2``,
``drift: [0.4, 0.4]``), and :meth:`FlatOptions.from_options` groups them back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np

from satsr.errors import InputError

__all__ = ["Sigma", "Degradation", "FlatOptions", "draw_sigma"]

Sigma = float | tuple[float, float] | None


def _check_sigma(value: Any, what: str) -> Sigma:
    """``None``, a float or a ``(low, high)`` tuple, all >= 0 (lists from YAML become tuples)."""
    if value is None:
        return None
    if np.ndim(value) == 0:
        sig: float | tuple[float, float] = float(value)
    elif len(value) == 2:
        sig = (float(value[0]), float(value[1]))
    else:
        sig = -1.0  # neither a value nor a range
    if not all(v >= 0 for v in np.atleast_1d(sig)):
        raise InputError(f"Degradation: {what} must be >= 0 or a (low, high) range, got {value!r}")
    return sig


def draw_sigma(sig: Sigma, rng: np.random.Generator) -> float:
    """A fixed sigma, or one drawn uniformly from a ``(low, high)`` range (``rng`` is used only then); 0 for none."""
    if sig is None:
        return 0.0
    if np.ndim(sig) == 0:
        return float(sig)  # type: ignore[arg-type]
    lo, hi = sig  # type: ignore[misc]
    return float(rng.uniform(lo, hi))


@dataclass(frozen=True)
class Degradation:
    """What is done to the LR beyond MATLAB bicubic: Gaussian blur of the HR before it, noise of the LR after.

    Parameters
    ----------
    blur_sigma : float or (float, float), optional
        Standard deviation of the blur, HR pixels; a range draws one per sample. Default: none.
    noise_sigma : float or (float, float), optional
        Standard deviation of additive Gaussian noise (in ``[0, 1]`` units); a range draws one per sample.

    Raises
    ------
    InputError
        A negative sigma, or a range that is not ``(low, high)``.
    """

    blur_sigma: Sigma = None
    noise_sigma: Sigma = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "blur_sigma", _check_sigma(self.blur_sigma, "blur_sigma"))
        object.__setattr__(self, "noise_sigma", _check_sigma(self.noise_sigma, "noise_sigma"))

    @property
    def max_blur(self) -> float:
        """The largest blur sigma it can draw (0 without blur)."""
        return float(np.max(self.blur_sigma or 0.0))

    def draw(self, rng: np.random.Generator) -> tuple[float, float]:
        """``(blur, noise)`` sigmas of one sample, drawn in that order; 0 means none."""
        return draw_sigma(self.blur_sigma, rng), draw_sigma(self.noise_sigma, rng)


class FlatOptions:
    """Mixin of data sets built from config entries, whose grouped settings come as flat keys.

    ``option_groups`` maps a constructor argument to its dataclass, e.g. ``{"degradation": Degradation}``.
    """

    option_groups: ClassVar[Mapping[str, type]] = MappingProxyType({})

    @classmethod
    def from_options(cls, *args: Any, **options: Any) -> Any:
        """The data set from a config entry's keys: ``blur_sigma=1.2`` becomes ``degradation=Degradation(1.2)``.

        Parameters
        ----------
        *args, **options
            The constructor's arguments, with the fields of each group given flat.

        Raises
        ------
        InputError
            A group given both whole and by its fields.
        """
        for name, group in cls.option_groups.items():
            fields = {f.name for f in dataclasses.fields(group)}
            flat = {key: options.pop(key) for key in list(options) if key in fields}
            if flat and name in options:
                raise InputError(f"{cls.__name__}: give {name} or {', '.join(sorted(flat))}, not both")
            if flat:
                options[name] = group(**flat)
        return cls(*args, **options)
