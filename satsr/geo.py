"""Raster grid geometry: an immutable :class:`Grid` and the exact arithmetic of super-resolution.

A grid is ``(height, width)`` pixels, an affine ``transform`` mapping pixel *corners* (GDAL's PixelIsArea
convention: pixel ``(row, col)`` spans ``[col, col+1) x [row, row+1)``) to CRS coordinates, and a ``crs``
(``None`` for pixel coordinates). Super-resolving by an integer ``scale`` keeps the four corners fixed and
divides every pixel into ``scale x scale`` pixels: ``transform * Affine.scale(1 / scale)``.

No I/O happens here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from affine import Affine
from pyproj import CRS
from pyproj.exceptions import CRSError

from satsr.coregistration import phase_shift  # noqa: F401 (its old home; documented there before it moved)
from satsr.errors import GeoreferenceError, InputError

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["Georef", "Grid", "read_georef", "zoom_transform", "rpc_for_pixels", "RPC_KEYS"]

# Relative tolerance under which a transform's rotation/shear terms count as zero (GDAL writes ~1e-16).
_ROT_EPS = 1e-12


def zoom_transform(transform: Affine, scale: int) -> Affine:
    """Return the transform of a grid whose pixels are ``scale`` times smaller, with the same corners.

    Parameters
    ----------
    transform : affine.Affine
        Transform of the input grid (pixel corners to CRS coordinates).
    scale : int
        Positive integer zoom factor.

    Returns
    -------
    affine.Affine
        ``transform * Affine.scale(1 / scale)``; valid for rotated grids too.

    Raises
    ------
    InputError
        If ``scale`` is not a positive integer.
    """
    if not isinstance(scale, (int, np.integer)) or isinstance(scale, bool) or scale < 1:
        raise InputError(f"scale must be a positive integer, got {scale!r}")
    return transform @ Affine.scale(1.0 / int(scale))


#: Keys of an RPC sensor model as plain numbers (GDAL's RPC metadata domain, lower case, as in ``rasterio.rpc.RPC``).
RPC_KEYS = (
    "height_off", "height_scale", "lat_off", "lat_scale", "long_off", "long_scale", "line_off", "line_scale",
    "samp_off", "samp_scale", "line_num_coeff", "line_den_coeff", "samp_num_coeff", "samp_den_coeff",
    "err_bias", "err_rand",
)


def rpc_for_pixels(rpc: dict[str, Any], transform: Affine) -> dict[str, Any]:
    """Return the RPC model of an image whose pixels sit at ``transform`` in the model's own pixel space.

    An RPC model maps ground to image ``(line, sample)`` coordinates in which *pixel centres* are whole numbers
    (GDAL's RPC transformer adds half a pixel to reach its pixel-corner convention). An array cut and zoomed from
    the model's image has pixel corners ``p`` at ``transform * p`` in that image; its own model is the same
    polynomial with ``off' = (off + 0.5 - t0) / t1 - 0.5`` and ``scale' = scale / t1`` per axis (``t1`` the pixel
    size, ``t0`` the origin). Zooming by ``s`` (``transform = Affine.scale(1 / s)``) gives
    ``off' = s * off + (s - 1) / 2``. The ground terms are unchanged.

    Parameters
    ----------
    rpc : dict
        An RPC model with the keys of :data:`RPC_KEYS` (``rasterio.rpc.RPC.to_dict()``).
    transform : affine.Affine
        Axis-aligned map from the array's pixel corners to the model image's pixel corners.

    Returns
    -------
    dict
        A new model; every pixel of the array maps to the ground point of the matching model-image position.

    Raises
    ------
    GeoreferenceError
        If the transform is rotated, sheared or flipped, or the model lacks a line/sample term.
    """
    t = transform
    if abs(t.b) > _ROT_EPS * abs(t.a) or abs(t.d) > _ROT_EPS * abs(t.e) or t.a <= 0 or t.e <= 0:
        raise GeoreferenceError(
            f"pixel grid {tuple(t)[:6]} of an RPC frame is rotated or flipped; its sensor model cannot follow it"
        )
    missing = [k for k in ("line_off", "line_scale", "samp_off", "samp_scale") if k not in rpc]
    if missing:
        raise GeoreferenceError(f"RPC model lacks {', '.join(missing)}")
    out = dict(rpc)
    for axis, size, origin in (("line", t.e, t.f), ("samp", t.a, t.c)):
        out[f"{axis}_off"] = (float(rpc[f"{axis}_off"]) + 0.5 - origin) / size - 0.5
        out[f"{axis}_scale"] = float(rpc[f"{axis}_scale"]) / size
    return out


@dataclass(frozen=True, slots=True)
class Grid:
    """An immutable raster grid: shape, affine transform and CRS.

    Parameters
    ----------
    shape : tuple of int
        ``(height, width)`` in pixels.
    transform : affine.Affine
        Maps pixel corner coordinates ``(col, row)`` to ``(x, y)`` in the CRS.
    crs : pyproj.CRS or None
        Coordinate reference system; ``None`` means pixel coordinates.

    Examples
    --------
    >>> from affine import Affine
    >>> g = Grid((100, 200), Affine(30, 0, 500000, 0, -30, 4200000), CRS.from_epsg(32621))
    >>> g.zoom(4).shape, g.zoom(4).res
    ((400, 800), (7.5, 7.5))
    """

    shape: tuple[int, int]
    transform: Affine
    crs: CRS | None = None

    def __post_init__(self) -> None:
        h, w = (int(v) for v in self.shape)
        if h < 1 or w < 1:
            raise InputError(f"grid shape must be positive, got {self.shape!r}")
        object.__setattr__(self, "shape", (h, w))
        if not isinstance(self.transform, Affine):
            object.__setattr__(self, "transform", Affine(*tuple(self.transform)[:6]))
        if self.crs is not None and not isinstance(self.crs, CRS):
            object.__setattr__(self, "crs", CRS.from_user_input(self.crs))
        if self.transform.determinant == 0:
            raise GeoreferenceError(f"transform {tuple(self.transform)[:6]} is degenerate (zero determinant)")

    # -- properties -------------------------------------------------------------------------------------------
    @property
    def height(self) -> int:
        """Number of rows."""
        return self.shape[0]

    @property
    def width(self) -> int:
        """Number of columns."""
        return self.shape[1]

    @property
    def is_rectilinear(self) -> bool:
        """True when the transform has no rotation or shear (axis-aligned pixels)."""
        t = self.transform
        size = max(abs(t.a), abs(t.e))
        return abs(t.b) <= _ROT_EPS * size and abs(t.d) <= _ROT_EPS * size

    @property
    def res(self) -> tuple[float, float]:
        """Pixel size ``(x, y)`` as positive numbers (rectilinear grids only)."""
        self.require_rectilinear()
        return abs(self.transform.a), abs(self.transform.e)

    @property
    def corners(self) -> tuple[tuple[float, float], ...]:
        """The four outer corners ``(x, y)``: top-left, top-right, bottom-right, bottom-left."""
        h, w = self.shape
        t = self.transform
        return tuple(t @ (c, r) for c, r in ((0, 0), (w, 0), (w, h), (0, h)))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(left, bottom, right, top)`` of the outer edges, whatever the axis orientation."""
        xs, ys = zip(*self.corners)
        return min(xs), min(ys), max(xs), max(ys)

    # -- derived grids ----------------------------------------------------------------------------------------
    def zoom(self, scale: int) -> Grid:
        """Grid with ``scale`` times more pixels per axis and the same outer corners.

        Parameters
        ----------
        scale : int
            Positive integer zoom factor.

        Returns
        -------
        Grid
            ``shape * scale``, ``transform * Affine.scale(1 / scale)``, same CRS.
        """
        t = zoom_transform(self.transform, scale)
        return Grid((self.height * int(scale), self.width * int(scale)), t, self.crs)

    def window(self, row_off: int, col_off: int, height: int, width: int) -> Grid:
        """Sub-grid of ``height x width`` pixels starting at ``(row_off, col_off)`` (may extend outside)."""
        return Grid((height, width), self.transform @ Affine.translation(col_off, row_off), self.crs)

    def pad(self, n: int) -> Grid:
        """Grid grown by ``n`` pixels on every side."""
        return self.window(-n, -n, self.height + 2 * n, self.width + 2 * n)

    # -- coordinates ------------------------------------------------------------------------------------------
    def require_rectilinear(self) -> None:
        """Raise :class:`GeoreferenceError` if the grid is rotated or sheared.

        Raises
        ------
        GeoreferenceError
            When the transform has non-zero rotation/shear terms.
        """
        if not self.is_rectilinear:
            raise GeoreferenceError(
                f"transform {tuple(self.transform)[:6]} is rotated or sheared; satsr handles north-up or "
                "south-up grids only: warp to a rectilinear grid first (gdalwarp or rioxarray's reproject)"
            )

    def coords(self) -> tuple[np.ndarray, np.ndarray]:
        """Pixel-centre coordinates ``(x, y)`` as 1-D float64 arrays.

        Returns
        -------
        tuple of numpy.ndarray
            ``x[j] = c + a * (j + 0.5)`` and ``y[i] = f + e * (i + 0.5)``.

        Raises
        ------
        GeoreferenceError
            For rotated or sheared grids, which have no 1-D coordinates.
        """
        self.require_rectilinear()
        t = self.transform
        x = t.c + t.a * (np.arange(self.width, dtype=np.float64) + 0.5)
        y = t.f + t.e * (np.arange(self.height, dtype=np.float64) + 0.5)
        return x, y

    @classmethod
    def from_coords(cls, x: np.ndarray, y: np.ndarray, crs: Any = None) -> Grid:
        """Rebuild a rectilinear grid from regularly spaced pixel-centre coordinates.

        Raises
        ------
        GeoreferenceError
            When fewer than two coordinates are given on an axis or their spacing is irregular.
        """
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if x.size < 2 or y.size < 2:
            raise GeoreferenceError("need at least two x and two y coordinates to infer the pixel size")
        dx, dy = np.diff(x), np.diff(y)
        for name, d in (("x", dx), ("y", dy)):
            if not np.allclose(d, d[0], rtol=1e-6, atol=0):
                raise GeoreferenceError(f"{name} coordinates are not regularly spaced; cannot form a grid")
        a, e = float(dx.mean()), float(dy.mean())
        t = Affine(a, 0.0, float(x[0]) - a / 2, 0.0, e, float(y[0]) - e / 2)
        return cls((y.size, x.size), t, crs)

    @classmethod
    def from_xarray(cls, da: xr.DataArray) -> Grid:
        """Grid of a DataArray, from whichever georeferencing convention it carries.

        Shorthand for ``read_georef(da).grid``: :func:`read_georef` lists the conventions read (satsr's,
        rioxarray's and odc-geo's ``spatial_ref``, any CF grid-mapping variable, stackstac's ``crs`` and
        ``transform`` attributes, pixel-centre or corner coordinates) and what is refused.

        Raises
        ------
        GeoreferenceError
            When the georeferencing is missing, ambiguous, unreadable or self-contradictory.
        """
        return read_georef(da).grid


# -- reading an array's georeferencing --------------------------------------------------------------------------
#: Attributes of the array itself that hold its CRS (stackstac; xarray's old open_rasterio; satsr's zarr attrs).
_CRS_ATTRS = ("crs", "crs_wkt")
#: Attributes of a grid-mapping variable that hold the CRS as WKT (CF 1.7 ``crs_wkt``; GDAL's ``spatial_ref``).
_WKT_KEYS = ("crs_wkt", "spatial_ref")
#: Attributes that mark a 0-D coordinate as a grid-mapping variable when nothing names it.
_GRID_MAPPING_KEYS = ("crs_wkt", "spatial_ref", "grid_mapping_name", "GeoTransform")
#: Metadata saying the data had a CRS without being the grid's own (stackstac's per-asset STAC properties).
_CRS_HINTS = ("epsg", "proj:epsg", "proj:code", "proj:wkt2", "proj:projjson")
# Fraction of a pixel within which coordinates count as pixel centres or corners of a stored transform.
_REG_TOL = 1e-3


@dataclass(frozen=True, slots=True)
class Georef:
    """An array's grid, and where each part of it was read.

    Attributes
    ----------
    grid : Grid
        Shape, transform (pixel corners, GDAL's convention) and CRS.
    crs_source : str or None
        Where the CRS came from, e.g. ``"grid-mapping variable 'spatial_ref'"`` or ``"attrs['crs']"``;
        ``None`` when the array has no CRS (pixel coordinates or an unknown CRS).
    transform_source : str
        ``"grid-mapping variable '<name>' (GeoTransform)"``, ``"attrs['transform']"`` or ``"x/y coordinates"``.
    registration : {"center", "corner", "none"}
        What the ``x``/``y`` coordinates mark in each pixel: its centre, or its top-left corner (stackstac's
        default); ``"none"`` when the array has no 1-D coordinates or a rotated grid (coordinates unused).
    """

    grid: Grid
    crs_source: str | None
    transform_source: str
    registration: str


def read_georef(da: xr.DataArray) -> Georef:
    """Read an array's grid from every georeferencing convention it carries, and check that they agree.

    Read (no xarray import: only ``attrs``, ``encoding``, ``coords`` and ``sizes`` are looked at):

    * a CF grid-mapping variable among the coordinates, named by ``encoding["grid_mapping"]`` or
      ``attrs["grid_mapping"]`` (CF's ``"name: x y"`` form too), else the ``spatial_ref`` coordinate, else the
      only 0-D coordinate with grid-mapping attributes: its CRS from ``crs_wkt`` or ``spatial_ref`` (WKT), else
      from its CF parameters (``grid_mapping_name``...); its transform from ``GeoTransform`` (GDAL order).
      This is what satsr, rioxarray (``open_rasterio``, ``rio.write_crs``) and odc-geo/odc-stac write.
    * ``attrs["crs"]`` / ``attrs["crs_wkt"]`` (anything pyproj reads) and ``attrs["transform"]`` (an
      ``affine.Affine`` or six numbers ``a, b, c, d, e, f``): stackstac's, satsr's zarr attributes.
    * ``x``/``y`` coordinates. With a stored transform of the same pixel size they may mark pixel centres or
      top-left corners (stackstac's ``xy_coords="topleft"``, detected from the transform), and may start
      anywhere on its pixel lattice (a sliced array). Without a stored transform they are pixel centres (CF).

    Parameters
    ----------
    da : xarray.DataArray
        An array with ``y`` and ``x`` dimensions.

    Returns
    -------
    Georef
        The grid, and which conventions gave its CRS and transform.

    Raises
    ------
    InputError
        When the array has no ``y`` or ``x`` dimension.
    GeoreferenceError
        No transform and no coordinates; a CRS or transform that cannot be parsed; two sources that disagree
        (a grid-mapping CRS and ``attrs["crs"]``, a ``GeoTransform`` and ``attrs["transform"]``, coordinates
        off a stored transform by anything but a whole or half pixel); a ``grid_mapping`` naming a variable the
        array does not carry; several unnamed grid-mapping coordinates; and an array whose grid has no CRS but
        whose metadata (an ``epsg``/``proj:*`` coordinate or attribute) says its data had one, so that nothing
        loses its CRS silently.

    Notes
    -----
    A ``spatial_ref`` transform whose pixel size differs from the coordinates' step (a strided or flipped
    selection) is stale and the coordinates, CF pixel centres, win, as rioxarray does; ``attrs["transform"]``
    in the same case is refused, because coordinates set along it (stackstac's) need not be pixel centres.
    """
    label = f"array {da.name!r}" if da.name is not None else "the array"
    if "y" not in da.dims or "x" not in da.dims:
        raise InputError(
            f"{label} has dims {tuple(da.dims)}; satsr needs 'y' and 'x' dimensions: rename them, e.g. "
            "da.rename(lat='y', lon='x')"
        )
    shape = (int(da.sizes["y"]), int(da.sizes["x"]))
    crs_found: list[tuple[CRS, str]] = []
    transforms: list[tuple[Affine, str, bool]] = []  # (transform, source, coordinates are CF pixel centres)
    gm = _grid_mapping(da, label)
    if gm is not None:
        name, attrs = gm
        where = f"grid-mapping variable {name!r}"
        crs = _grid_mapping_crs(attrs, where, label)
        if crs is not None:
            crs_found.append((crs, where))
        if not _blank(attrs.get("GeoTransform")):
            where_t = f"{where} (GeoTransform)"
            transforms.append((_gdal_transform(attrs["GeoTransform"], where_t, label), where_t, True))
    for key in _CRS_ATTRS:
        if not _blank(da.attrs.get(key)):
            crs_found.append((_parse_crs(da.attrs[key], f"attrs[{key!r}]", label), f"attrs[{key!r}]"))
    if not _blank(da.attrs.get("transform")):
        transforms.append((_affine(da.attrs["transform"], "attrs['transform']", label), "attrs['transform']", False))
    crs, crs_source = _one_crs(crs_found, label)
    if crs is None:
        _refuse_lost_crs(da, label)
    x, y = _axis(da, "x", label), _axis(da, "y", label)
    if not transforms:
        if x is None or y is None:
            raise GeoreferenceError(
                f"{label} has neither x/y coordinates nor a spatial_ref transform (GeoTransform) or "
                "attrs['transform']; open it with satsr.open_stack, or give it coordinates "
                "(satsr.io.coords.assign_grid)"
            )
        try:
            grid = Grid.from_coords(x, y, crs)
        except GeoreferenceError as err:
            raise GeoreferenceError(f"{label}: {err}") from None
        return Georef(grid, crs_source, "x/y coordinates", "center")
    placed = [(*_place(t, shape, x, y, src, cf, label), src) for t, src, cf in transforms]
    t0, reg, from_coords, src0 = placed[0]
    for t1, _, _, src1 in placed[1:]:
        if not _same_transform(t0, t1, shape):
            raise GeoreferenceError(
                f"{label}: {src0} places the array at {_fmt(t0)} but {src1} at {_fmt(t1)}; one of them is stale. "
                "Remove the wrong one (e.g. del da.attrs['transform']), or rewrite the georeferencing with "
                "satsr.io.coords.assign_grid"
            )
    return Georef(Grid(shape, t0, crs), crs_source, "x/y coordinates" if from_coords else src0, reg)


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, float) and np.isnan(value)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _crs_name(crs: CRS) -> str:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else repr(crs.name)


def _same_crs(a: CRS, b: CRS) -> bool:
    if a == b or a.equals(b, ignore_axis_order=True):
        return True
    epsg = a.to_epsg()
    return epsg is not None and epsg == b.to_epsg()


def _parse_crs(value: Any, where: str, label: str) -> CRS:
    if isinstance(value, CRS):
        return value
    if isinstance(value, np.generic):
        value = value.item()
    try:
        return CRS.from_user_input(value)
    except (CRSError, TypeError, ValueError) as err:
        raise GeoreferenceError(
            f"{label}: {where} = {_short(value)} is not a CRS satsr can read ({err}); set a valid one, e.g. "
            "da.rio.write_crs('EPSG:32633'), or delete it to work in pixel coordinates"
        ) from None


def _grid_mapping(da: xr.DataArray, label: str) -> tuple[str, dict[str, Any]] | None:
    """``(name, attrs)`` of the array's grid-mapping coordinate, or ``None``."""
    for kind, mapping in (("encoding", da.encoding), ("attrs", da.attrs)):
        pointer = mapping.get("grid_mapping")
        if _blank(pointer):
            continue
        tokens = str(pointer).split()
        # CF's extended form "crs_a: x y crs_b: lat lon" lists mappings with their coordinates.
        names = [t[:-1] for t in tokens if t.endswith(":")] or tokens[:1]
        for name in names:
            if name in da.coords:
                return name, dict(da.coords[name].attrs)
        raise GeoreferenceError(
            f"{label}: its {kind}['grid_mapping'] names the grid-mapping variable {names[0]!r}, which the array "
            "does not carry (selecting a variable from a Dataset leaves it behind); pass the whole Dataset, "
            f"from which satsr reads it, or open the file with decode_coords='all' so that {names[0]!r} is a "
            "coordinate"
        )
    candidates = [
        str(k) for k, c in da.coords.items()
        if c.ndim == 0 and (k == "spatial_ref" or any(key in c.attrs for key in _GRID_MAPPING_KEYS))
    ]
    if "spatial_ref" in candidates:
        return "spatial_ref", dict(da.coords["spatial_ref"].attrs)
    if len(candidates) > 1:
        raise GeoreferenceError(
            f"{label} has several grid-mapping coordinates ({', '.join(candidates)}) and no grid_mapping "
            f"attribute saying which one applies; drop the others, or set da.encoding['grid_mapping'] = "
            f"{candidates[0]!r}"
        )
    return (candidates[0], dict(da.coords[candidates[0]].attrs)) if candidates else None


def _grid_mapping_crs(attrs: dict[str, Any], where: str, label: str) -> CRS | None:
    for key in _WKT_KEYS:
        if not _blank(attrs.get(key)):
            return _parse_crs(attrs[key], f"{where} attrs[{key!r}]", label)
    if not _blank(attrs.get("grid_mapping_name")):
        try:
            return CRS.from_cf({k: v.item() if isinstance(v, np.generic) else v for k, v in attrs.items()})
        except (CRSError, KeyError, TypeError, ValueError) as err:
            raise GeoreferenceError(
                f"{label}: the CF parameters of {where} do not make a CRS ({err}); add its WKT as "
                "attrs['crs_wkt'], or rewrite it with da.rio.write_crs(...)"
            ) from None
    return None


def _numbers(value: Any, where: str, label: str) -> list[float]:
    try:
        items = value.split() if isinstance(value, str) else list(value)
        return [float(v) for v in items]
    except (TypeError, ValueError):
        raise GeoreferenceError(
            f"{label}: {where} = {_short(value)} is not a list of numbers; fix or remove it"
        ) from None


def _gdal_transform(value: Any, where: str, label: str) -> Affine:
    """A GDAL geotransform ``c a b f d e`` (string or sequence)."""
    v = _numbers(value, where, label)
    if len(v) != 6:
        raise GeoreferenceError(f"{label}: {where} = {_short(value)} must hold 6 numbers (GDAL order c a b f d e)")
    c, a, b, f, d, e = v
    return Affine(a, b, c, d, e, f)


def _affine(value: Any, where: str, label: str) -> Affine:
    """An ``affine.Affine``, or 6 (or 9) numbers in affine's order ``a b c d e f``."""
    if isinstance(value, Affine):
        return value
    v = _numbers(value, where, label)
    if len(v) not in (6, 9):
        raise GeoreferenceError(
            f"{label}: {where} = {_short(value)} must be an affine.Affine or 6 numbers (a, b, c, d, e, f)"
        )
    return Affine(*v[:6])


def _one_crs(found: list[tuple[CRS, str]], label: str) -> tuple[CRS | None, str | None]:
    if not found:
        return None, None
    crs, src = found[0]
    for other, other_src in found[1:]:
        if not _same_crs(crs, other):
            raise GeoreferenceError(
                f"{label}: {src} says the CRS is {_crs_name(crs)} but {other_src} says {_crs_name(other)}; remove "
                "the wrong one (e.g. del da.attrs['crs']), or set both at once with da.rio.write_crs(...)"
            )
    return crs, src


def _refuse_lost_crs(da: xr.DataArray, label: str) -> None:
    """Refuse an array whose grid has no CRS although its metadata says its data had one."""
    for key in _CRS_HINTS:
        for kind, mapping in (("attribute", da.attrs), ("coordinate", da.coords)):
            if key not in mapping:
                continue
            values = np.asarray(getattr(mapping[key], "values", mapping[key]), dtype=object).ravel()
            present = [v for v in values.tolist() if not _blank(v)]
            if present:
                raise GeoreferenceError(
                    f"{label} has no CRS for its grid, but its {kind} {key!r} = {_short(present[0])} says its data "
                    "had one: an operation dropped the georeferencing (e.g. xarray with keep_attrs=False drops "
                    "stackstac's 'crs' and 'transform' attributes). Restore it, e.g. "
                    "da.rio.write_crs(...) (and attrs['transform'] for corner coordinates), or drop the "
                    f"{key!r} {kind} to work in pixel coordinates"
                )


def _axis(da: xr.DataArray, name: str, label: str) -> np.ndarray | None:
    if name not in da.coords or tuple(da.coords[name].dims) != (name,):
        return None
    values = np.asarray(da.coords[name].values)
    if values.dtype.kind not in "iuf":
        raise GeoreferenceError(f"{label}: its {name} coordinate has dtype {values.dtype}, not numbers")
    return values.astype(np.float64)


def _place(t: Affine, shape: tuple[int, int], x: np.ndarray | None, y: np.ndarray | None, src: str, cf: bool,
           label: str) -> tuple[Affine, str, bool]:
    """Fit a stored transform to the coordinates: ``(transform, registration, rebuilt from coordinates)``."""
    if not Grid(shape, t).is_rectilinear:
        return t, "none", False  # rotated: no 1-D coordinates can describe it, the transform alone does
    steps = (("x", x, t.c, t.a), ("y", y, t.f, t.e))
    stale = [
        (axis, float(np.diff(v).mean())) for axis, v, _, step in steps
        if v is not None and v.size > 1 and not np.allclose(np.diff(v), step, rtol=0, atol=1e-6 * abs(step))
    ]
    if stale:
        if cf and x is not None and y is not None:
            # CF coordinates are pixel centres: the stored transform predates a strided or flipped selection.
            try:
                return Grid.from_coords(x, y).transform, "center", True
            except GeoreferenceError as err:
                raise GeoreferenceError(f"{label}: {err}") from None
        axis, d = stale[0]
        raise GeoreferenceError(
            f"{label}: its {axis} coordinates step by {d:g} but {src} has pixels of {t.a:g} x {t.e:g}; the array was "
            f"strided, coarsened, flipped or resampled after {src} was set. Remove {src} (the coordinates are then "
            "taken as pixel centres) or set it to the array's grid"
        )
    shift, regs = [0, 0], set()
    for i, (axis, v, origin, step) in enumerate(steps):
        if v is None:
            continue
        f = (float(v[0]) - origin) / step
        k = math.floor(f + _REG_TOL)
        frac = f - k
        if abs(frac) <= _REG_TOL:
            regs.add("corner")
        elif abs(frac - 0.5) <= _REG_TOL:
            regs.add("center")
        else:
            raise GeoreferenceError(
                f"{label}: its first {axis} coordinate {float(v[0])!r} lies {frac:.3f} pixel past a pixel edge of "
                f"{src}, neither a pixel centre (0.5) nor a corner (0); the coordinates or {src} are wrong: fix "
                f"the wrong one, or remove {src} to take the coordinates as pixel centres"
            )
        shift[i] = k
    if len(regs) > 1:
        raise GeoreferenceError(
            f"{label}: its x and y coordinates disagree on what they mark in a pixel of {src} (one the centre, "
            "the other a corner); fix the coordinates"
        )
    return t @ Affine.translation(shift[0], shift[1]), regs.pop() if regs else "none", False


def _same_transform(a: Affine, b: Affine, shape: tuple[int, int]) -> bool:
    pixel = max(math.hypot(a.a, a.d), math.hypot(a.b, a.e))
    ga, gb = Grid(shape, a).corners, Grid(shape, b).corners
    return all(math.hypot(p[0] - q[0], p[1] - q[1]) <= _REG_TOL * pixel for p, q in zip(ga, gb))


def _fmt(t: Affine) -> str:
    return "(" + ", ".join(f"{v:g}" for v in tuple(t)[:6]) + ")"
