"""Option parsing shared by the commands.

Band lists, ``KEY=VALUE`` model options, CRS and transform parameter types, and opening the INPUTS of a command
as one stack.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click
import xarray as xr
from pyproj import CRS
from pyproj.exceptions import CRSError

from satsr.cli.app import one_line
from satsr.errors import InputError

__all__ = [
    "LIST_LIMIT", "RANDOM_WEIGHTS_HELP", "CRSType", "TransformType", "load_inputs", "parse_bands", "parse_ints",
    "parse_options", "pick_weights",
]

#: Output files (or catalog items) listed one per line up to this many; beyond it, a summary.
LIST_LIMIT = 10


def parse_bands(text: str | None) -> list[int] | None:
    """Read ``--bands 4,3,2`` as band numbers; None when the option was not given.

    Raises
    ------
    InputError
        When a part is not a whole number.
    """
    if text is None:
        return None
    try:
        return [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise InputError(f"--bands {text!r}: give band numbers separated by commas, e.g. 4,3,2") from None


#: Help of ``--random-weights``, the flag of the commands that take ``--model`` and ``--pretrained``.
RANDOM_WEIGHTS_HELP = (
    "Run the model's random initialisation, on purpose (tests, benchmarks): without it, a network satsr ships no "
    "weights for stops with an error rather than run untrained."
)


#: ``--precision`` of the commands that run a model (``upscale``, ``batch``).
precision_option = click.option(
    "--precision", type=click.Choice(["auto", "fp32", "bf16", "fp16"]), default="auto", show_default=True,
    help="Autocast dtype of the forward: auto is bf16 on a CUDA GPU (fp16 where it lacks bf16), and on a CPU "
    "with native bf16 (AVX512-BF16 or AMX; SATSR_CPU_BF16=0/1 overrides), fp32 on other CPUs.",
)

#: ``--self-ensemble`` of the commands that run a model (``upscale``, ``batch``).
self_ensemble_option = click.option(
    "--self-ensemble", is_flag=True,
    help="Average the model over the 8 flips and transposes of each tile: a little better (README, "
    "'Self-ensemble'), 8 times the compute.",
)


def pick_weights(pretrained: str | None, random_weights: bool) -> str | bool | None:
    """The ``pretrained`` argument of ``--pretrained PATH`` / ``--random-weights`` (``False``), else ``None``.

    Raises
    ------
    InputError
        When both are given.
    """
    if random_weights and pretrained is not None:
        raise InputError("--pretrained and --random-weights exclude each other: give one of them")
    return False if random_weights else pretrained


def parse_options(items: tuple[str, ...]) -> dict[str, Any] | None:
    """``KEY=VALUE`` pairs; values read as JSON where they parse (true, 3, 0.5), else kept as text.

    Raises
    ------
    InputError
        When an item has no ``=`` or no key.
    """
    if not items:
        return None
    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--option {item!r}: write KEY=VALUE, e.g. --option faithful=false")
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return options


def parse_ints(text: str | None, n: int, option: str, example: str) -> tuple[int, ...] | None:
    """Read exactly ``n`` comma-separated whole numbers (``--crop 100,100,256,256``); None when not given.

    Raises
    ------
    InputError
        When the text is not ``n`` whole numbers; the message names ``option`` and shows ``example``.
    """
    if text is None:
        return None
    try:
        values = tuple(int(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        values = ()
    if len(values) != n:
        raise InputError(f"{option} {text!r}: give {n} whole numbers separated by commas, e.g. {example}")
    return values


class CRSType(click.ParamType):
    """A CRS as pyproj accepts it (``EPSG:32633``, WKT, PROJ string); returned as the user's text."""

    name = "CRS"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Check that pyproj reads ``value``; a usage error otherwise."""
        try:
            CRS.from_user_input(value)
        except CRSError as err:
            self.fail(f"{value!r} is not a CRS pyproj understands ({one_line(err)}); try EPSG:xxxx", param, ctx)
        return value


class TransformType(click.ParamType):
    """Six comma-separated numbers ``a,b,c,d,e,f`` (affine order, as rasterio's ``Affine``)."""

    name = "A,B,C,D,E,F"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Read ``value`` as six floats; a usage error otherwise."""
        if isinstance(value, tuple):
            return value
        parts = [p for p in str(value).replace(",", " ").split() if p]
        try:
            numbers = tuple(float(p) for p in parts)
        except ValueError:
            numbers = ()
        if len(numbers) != 6:
            self.fail(
                f"{value!r} is not six comma-separated numbers a,b,c,d,e,f (pixel width, row rotation, x of the "
                "upper-left corner, column rotation, pixel height (negative for north-up), y of the upper-left "
                "corner)",
                param,
                ctx,
            )
        return numbers


def load_inputs(
    inputs: Sequence[str],
    *,
    crs: str | None = None,
    transform: tuple[float, ...] | None = None,
    allow_ungeoreferenced: bool = False,
    orthorectify: bool = False,
    dem: str | None = None,
) -> xr.DataArray:
    """Open the command's INPUTS (files, glob patterns, folders) as one lazy ``(time, band, y, x)`` stack.

    Parameters
    ----------
    inputs : sequence of str
        As typed: one or more files, quoted glob patterns or folders; expanded in order.
    crs, transform : optional
        Georeferencing for frames without it (``--crs``, ``--transform``).
    allow_ungeoreferenced : bool, default False
        Work in pixel coordinates when frames have no georeferencing.
    orthorectify : bool, default False
        Warp RPC frames onto one map grid (``--orthorectify``), optionally with a DEM (``--dem``).
    dem : str, optional
        DEM raster for ``--orthorectify``.

    Returns
    -------
    xarray.DataArray
        The stack from :func:`satsr.open_stack`.

    Raises
    ------
    InputError, GeoreferenceError, GridMismatchError
        As :func:`satsr.open_stack`.
    """
    from satsr.io.read import open_stack, resolve_paths

    if not inputs:
        raise InputError("no inputs given")
    source: str | list[str]
    if len(inputs) == 1:
        source = inputs[0]
    else:
        source = [p for item in inputs for p in resolve_paths(item)]
    return open_stack(source, crs=crs, transform=transform, allow_ungeoreferenced=allow_ungeoreferenced,
                      orthorectify=orthorectify, dem=dem)
