"""Convert coordinates between WGS84, GCJ-02 and BD-09.

Chinese web maps do not publish coordinates in WGS84 (EPSG:4326). Amap (高德) and Tencent
use GCJ-02, the "Mars" coordinates (火星坐标) of the national surveying administration, and
Baidu uses BD-09, a further obfuscation applied on top of GCJ-02. This module converts
longitude/latitude pairs between the three systems:

* ``wgs84`` -> ``gcj02``: the published closed-form series. A smooth offset field (a few
  hundred metres, roughly 300 m east and 100 m south around 105E 35N) is evaluated in metres
  at the WGS84 point and turned into degrees with the meridian and prime-vertical radii of
  the Krasovsky 1940 ellipsoid (a = 6378245.0 m, e^2 = 0.00669342162296594323).
* ``gcj02`` -> ``bd09``: the published closed form. The point is treated as a polar vector
  in degree space, its radius and angle are perturbed by small periodic terms with the
  angular frequency ``x_pi = pi * 3000 / 180``, and a constant (0.0065, 0.006) is added.
* Inverses (``gcj02`` -> ``wgs84``, ``bd09`` -> ``gcj02``) have no closed form. Both forward
  maps are the identity plus a slowly varying offset (Jacobian within a few percent of the
  identity), so the inverse is found by fixed-point iteration: start from
  ``w = p - (f(p) - p)`` and repeat ``w -= f(w) - p`` until the largest residual
  ``|f(w) - p|`` drops below ``tol_m`` metres. Each step shrinks the error by a factor of
  more than 100 (the starting error is up to ~5 m for GCJ-02 and ~0.2 m for the BD-09
  closed form), so the default 1 cm tolerance is reached in two or three steps and the
  returned point is typically better than 0.2 mm.

Conventions
-----------
* Argument order is always ``(lon, lat)`` in decimal degrees, unlike many published
  implementations that take ``(lat, lon)``.
* Inputs may be scalars or array-likes; ``lon`` and ``lat`` are broadcast against each
  other. Array input returns a tuple of ``numpy.float64`` arrays with the broadcast shape;
  scalar input (both arguments 0-d) returns a tuple of Python floats.
* GCJ-02 is only defined inside China. Points outside the customary rough bounding box of
  mainland China (longitude 72.004..137.8347, latitude 0.8293..55.8271, bounds inclusive) are
  returned unchanged by every conversion, including the BD-09 ones. The test is applied to
  the *input* of each conversion, as in the reference implementations. The box is coarse (it
  contains e.g. Korea, Japan, Taiwan and parts of neighbouring countries), and near its edges
  a forward/inverse pair can disagree because the shifted point may fall on the other side
  of the edge; the edges lie far from Chinese territory, so this never matters in practice.
* Non-finite input: a point with a NaN or infinite longitude *or* latitude yields NaN for
  both output coordinates. No exception is raised and other points are unaffected.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "CRS_NAMES",
    "EARTH_RADIUS_M",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "from_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "in_china",
    "normalize_crs",
    "residual_m",
    "to_wgs84",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

#: Canonical names of the supported coordinate systems.
CRS_NAMES = ("wgs84", "gcj02", "bd09")

# Accepted spellings (compared after stripping and lower-casing) -> canonical name.
_CRS_ALIASES: dict[str, str] = {
    "wgs84": "wgs84",
    "wgs-84": "wgs84",
    "epsg:4326": "wgs84",
    "gcj02": "gcj02",
    "gcj-02": "gcj02",
    "amap": "gcj02",
    "tencent": "gcj02",
    "bd09": "bd09",
    "bd-09": "bd09",
    "baidu": "bd09",
}

# Krasovsky 1940 ellipsoid, as used by the GCJ-02 algorithm.
_KRASOVSKY_A = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323

# BD-09 constants: angular frequency of the perturbations and the constant offset (degrees).
_BD_X_PI = np.pi * 3000.0 / 180.0
_BD_DLON = 0.0065
_BD_DLAT = 0.006
_BD_DRADIUS = 0.00002
_BD_DTHETA = 0.000003

# Rough bounding box of mainland China outside which no shift is applied.
_CHINA_LON_MIN = 72.004
_CHINA_LON_MAX = 137.8347
_CHINA_LAT_MIN = 0.8293
_CHINA_LAT_MAX = 55.8271

#: Mean Earth radius in metres, used by `residual_m` and the convergence test.
EARTH_RADIUS_M = 6_371_009.0
_M_PER_DEG = EARTH_RADIUS_M * np.pi / 180.0

_DEFAULT_TOL_M = 0.01
_DEFAULT_MAX_ITER = 30

_FloatArray = NDArray[np.float64]
_Pair = tuple[_FloatArray, _FloatArray]
_Transform = Callable[[_FloatArray, _FloatArray], _Pair]


# --------------------------------------------------------------------------------------------
# input/output plumbing
# --------------------------------------------------------------------------------------------


def _prepare(lon: ArrayLike, lat: ArrayLike) -> tuple[_FloatArray, _FloatArray, bool]:
    """
    Convert inputs to broadcast float64 arrays.

    Parameters
    ----------
    lon, lat
        Longitudes and latitudes in decimal degrees.

    Returns
    -------
    lon_arr, lat_arr, is_scalar
        Broadcast (possibly read-only) float64 arrays and whether both inputs were 0-d.
    """
    lon_arr = np.asarray(lon, dtype=np.float64)
    lat_arr = np.asarray(lat, dtype=np.float64)
    is_scalar = lon_arr.ndim == 0 and lat_arr.ndim == 0
    lon_arr, lat_arr = np.broadcast_arrays(lon_arr, lat_arr)
    return lon_arr, lat_arr, is_scalar


def _finish(lon: _FloatArray, lat: _FloatArray, is_scalar: bool) -> tuple[Any, Any]:
    """
    Return arrays, or Python floats when the caller passed scalars.

    Parameters
    ----------
    lon, lat
        Converted coordinates.
    is_scalar
        Whether the caller passed scalars.

    Returns
    -------
    lon, lat
        ``float`` values for scalar input, otherwise the float64 arrays.
    """
    if is_scalar:
        return float(lon), float(lat)
    return lon, lat


def _in_china(lon: _FloatArray, lat: _FloatArray) -> NDArray[np.bool_]:
    """
    Test whether points lie inside the rough bounding box of mainland China.

    Parameters
    ----------
    lon, lat
        Longitudes and latitudes in decimal degrees.

    Returns
    -------
    numpy.ndarray
        Boolean mask, ``False`` for points outside the box and for NaN coordinates.
    """
    return (
        (lon >= _CHINA_LON_MIN)
        & (lon <= _CHINA_LON_MAX)
        & (lat >= _CHINA_LAT_MIN)
        & (lat <= _CHINA_LAT_MAX)
    )


def in_china(lon: ArrayLike, lat: ArrayLike) -> Any:
    """
    Test whether points lie where GCJ-02 applies (the box of `_in_china`).

    Parameters
    ----------
    lon, lat
        Longitudes and latitudes in decimal degrees.

    Returns
    -------
    bool or numpy.ndarray
        A bool for scalar input, else a boolean array; False for NaN coordinates.
    """
    lon_arr, lat_arr, is_scalar = _prepare(lon, lat)
    inside = _in_china(lon_arr, lat_arr)
    return bool(inside.item()) if is_scalar else inside


def _apply_in_china(transform: _Transform, lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """
    Apply a raw transform to the points inside China and pass the others through.

    Parameters
    ----------
    transform
        Vectorised ``(lon, lat) -> (lon, lat)`` function without any masking.
    lon, lat
        Input coordinates (scalars or array-likes).

    Returns
    -------
    lon, lat
        Transformed coordinates; unchanged outside China and NaN for non-finite points.
    """
    lon_arr, lat_arr, is_scalar = _prepare(lon, lat)
    inside = _in_china(lon_arr, lat_arr)
    if inside.all():
        out_lon, out_lat = transform(lon_arr, lat_arr)
    else:
        out_lon = lon_arr.copy()
        out_lat = lat_arr.copy()
        if inside.any():
            out_lon[inside], out_lat[inside] = transform(lon_arr[inside], lat_arr[inside])
        invalid = ~(np.isfinite(lon_arr) & np.isfinite(lat_arr))
        out_lon[invalid] = np.nan
        out_lat[invalid] = np.nan
    return _finish(out_lon, out_lat, is_scalar)


def _check_iteration_args(tol_m: float, max_iter: int) -> None:
    """
    Validate the parameters of the iterative inverses.

    Parameters
    ----------
    tol_m
        Convergence tolerance in metres; must be positive and finite.
    max_iter
        Maximum number of refinement steps; must be at least 1.
    """
    if not (np.isfinite(tol_m) and tol_m > 0):
        msg = f"tol_m must be a positive finite number of metres, got {tol_m!r}"
        raise ValueError(msg)
    if int(max_iter) != max_iter or max_iter < 1:
        msg = f"max_iter must be an integer >= 1, got {max_iter!r}"
        raise ValueError(msg)


# --------------------------------------------------------------------------------------------
# raw (unmasked) forward transforms
# --------------------------------------------------------------------------------------------


def _gcj02_offset_m(lon: _FloatArray, lat: _FloatArray) -> _Pair:
    """
    Evaluate the GCJ-02 offset field in metres.

    The published series is written in coordinates relative to 105E 35N. It consists of a
    low-order polynomial (about +300 m east and -100 m north at the origin) plus sums of
    sines with periods of 1/3, 1, 2, 6, 24 and 60 degrees.

    Parameters
    ----------
    lon, lat
        WGS84 longitudes and latitudes in decimal degrees.

    Returns
    -------
    east_m, north_m
        Eastward and northward offsets in metres.
    """
    x = lon - 105.0
    y = lat - 35.0
    xp = x * np.pi
    yp = y * np.pi
    xy = x * y
    sqrt_abs_x = np.sqrt(np.abs(x))

    # Short-period terms in x appear in both components.
    shared = 20.0 * np.sin(6.0 * xp) + 20.0 * np.sin(2.0 * xp)
    east_waves = (
        shared
        + 20.0 * np.sin(xp)
        + 40.0 * np.sin(xp / 3.0)
        + 150.0 * np.sin(xp / 12.0)
        + 300.0 * np.sin(xp / 30.0)
    )
    north_waves = (
        shared
        + 20.0 * np.sin(yp)
        + 40.0 * np.sin(yp / 3.0)
        + 160.0 * np.sin(yp / 12.0)
        + 320.0 * np.sin(yp / 30.0)
    )
    east_m = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * xy + 0.1 * sqrt_abs_x
    east_m += east_waves * (2.0 / 3.0)
    north_m = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * xy + 0.2 * sqrt_abs_x
    north_m += north_waves * (2.0 / 3.0)
    return east_m, north_m


def _wgs84_to_gcj02_raw(lon: _FloatArray, lat: _FloatArray) -> _Pair:
    """
    Shift WGS84 to GCJ-02 without the China bounding-box test.

    The metric offsets of `_gcj02_offset_m` are converted to degrees with the length of one
    degree of latitude (meridian radius ``M``) and of longitude (``N cos(lat)``) on the
    Krasovsky 1940 ellipsoid, evaluated at the WGS84 latitude.

    Parameters
    ----------
    lon, lat
        WGS84 longitudes and latitudes in decimal degrees.

    Returns
    -------
    lon, lat
        GCJ-02 longitudes and latitudes.
    """
    east_m, north_m = _gcj02_offset_m(lon, lat)
    phi = np.radians(lat)
    w2 = 1.0 - _KRASOVSKY_EE * np.sin(phi) ** 2
    w = np.sqrt(w2)
    meridian_radius = _KRASOVSKY_A * (1.0 - _KRASOVSKY_EE) / (w2 * w)
    prime_vertical_radius = _KRASOVSKY_A / w
    deg = np.pi / 180.0
    dlat = north_m / (meridian_radius * deg)
    dlon = east_m / (prime_vertical_radius * np.cos(phi) * deg)
    return lon + dlon, lat + dlat


def _gcj02_to_bd09_raw(lon: _FloatArray, lat: _FloatArray) -> _Pair:
    """
    Shift GCJ-02 to BD-09 without the China bounding-box test.

    Parameters
    ----------
    lon, lat
        GCJ-02 longitudes and latitudes in decimal degrees.

    Returns
    -------
    lon, lat
        BD-09 longitudes and latitudes.
    """
    radius = np.hypot(lon, lat) + _BD_DRADIUS * np.sin(lat * _BD_X_PI)
    theta = np.arctan2(lat, lon) + _BD_DTHETA * np.cos(lon * _BD_X_PI)
    return radius * np.cos(theta) + _BD_DLON, radius * np.sin(theta) + _BD_DLAT


def _bd09_to_gcj02_approx(lon: _FloatArray, lat: _FloatArray) -> _Pair:
    """
    Approximate BD-09 to GCJ-02 with the well-known closed form.

    The closed form subtracts the perturbations evaluated at the BD-09 point instead of the
    unknown GCJ-02 point; the resulting error is up to about 0.2 m.

    Parameters
    ----------
    lon, lat
        BD-09 longitudes and latitudes in decimal degrees.

    Returns
    -------
    lon, lat
        Approximate GCJ-02 longitudes and latitudes.
    """
    x = lon - _BD_DLON
    y = lat - _BD_DLAT
    radius = np.hypot(x, y) - _BD_DRADIUS * np.sin(y * _BD_X_PI)
    theta = np.arctan2(y, x) - _BD_DTHETA * np.cos(x * _BD_X_PI)
    return radius * np.cos(theta), radius * np.sin(theta)


def _local_distance_m(
    lon: _FloatArray, lat: _FloatArray, target_lon: _FloatArray, target_lat: _FloatArray
) -> _FloatArray:
    """
    Distance between nearby points, using a local flat-earth approximation.

    Accurate to a relative ~1e-4 for the sub-kilometre distances it is used for, and much
    cheaper than `residual_m`.

    Parameters
    ----------
    lon, lat
        Points reached by the forward transform.
    target_lon, target_lat
        Points that should have been reached.

    Returns
    -------
    numpy.ndarray
        Distances in metres.
    """
    dy = (lat - target_lat) * _M_PER_DEG
    dx = (lon - target_lon) * (_M_PER_DEG * np.cos(np.radians(target_lat)))
    return np.sqrt(dx * dx + dy * dy)


def _invert(
    forward: _Transform,
    lon: _FloatArray,
    lat: _FloatArray,
    first_guess: _Pair,
    tol_m: float,
    max_iter: int,
) -> _Pair:
    """
    Invert a near-identity transform by fixed-point iteration.

    Each point is iterated until its own residual ``|f(w) - p|`` is below `tol_m`, so a
    point's result does not depend on the other points of the batch.

    Parameters
    ----------
    forward
        Raw forward transform ``f``.
    lon, lat
        Target points ``p`` (finite values only).
    first_guess
        Starting point ``w0`` of the iteration.
    tol_m
        Tolerance in metres on the residual.
    max_iter
        Maximum number of refinement steps.

    Returns
    -------
    lon, lat
        Points ``w`` with ``f(w)`` equal to ``p`` within `tol_m`, shaped like `lon`.
    """
    shape = lon.shape
    target_lon = lon.ravel()
    target_lat = lat.ravel()
    w_lon = np.array(first_guess[0], dtype=np.float64).ravel()
    w_lat = np.array(first_guess[1], dtype=np.float64).ravel()
    active = np.arange(target_lon.size)
    for _ in range(max_iter):
        if active.size == 0:
            break
        t_lon = target_lon[active]
        t_lat = target_lat[active]
        f_lon, f_lat = forward(w_lon[active], w_lat[active])
        # The correction found while measuring the residual is applied even to points that
        # have converged: it costs nothing and shrinks their error by a further factor of
        # ~100, so returned residuals are far below tol_m.
        w_lon[active] -= f_lon - t_lon
        w_lat[active] -= f_lat - t_lat
        residual = _local_distance_m(f_lon, f_lat, t_lon, t_lat)
        active = active[residual >= tol_m]
    else:
        if active.size:
            worst = float(residual.max())
            msg = (
                f"inverse transform did not converge to {tol_m} m in {max_iter} iterations "
                f"for {active.size} point(s) (max residual {worst:.3g} m)"
            )
            warnings.warn(msg, RuntimeWarning, stacklevel=6)
    return w_lon.reshape(shape), w_lat.reshape(shape)


def _gcj02_to_wgs84_raw(lon: _FloatArray, lat: _FloatArray, tol_m: float, max_iter: int) -> _Pair:
    """
    Invert `_wgs84_to_gcj02_raw` iteratively (no bounding-box test).

    Parameters
    ----------
    lon, lat
        GCJ-02 longitudes and latitudes in decimal degrees.
    tol_m
        Convergence tolerance in metres.
    max_iter
        Maximum number of refinement steps.

    Returns
    -------
    lon, lat
        WGS84 longitudes and latitudes.
    """
    # Subtracting the offset evaluated at the GCJ point is already good to a few metres.
    g_lon, g_lat = _wgs84_to_gcj02_raw(lon, lat)
    first_guess = (2.0 * lon - g_lon, 2.0 * lat - g_lat)
    return _invert(_wgs84_to_gcj02_raw, lon, lat, first_guess, tol_m, max_iter)


def _bd09_to_gcj02_raw(lon: _FloatArray, lat: _FloatArray, tol_m: float, max_iter: int) -> _Pair:
    """
    Invert `_gcj02_to_bd09_raw` iteratively (no bounding-box test).

    Parameters
    ----------
    lon, lat
        BD-09 longitudes and latitudes in decimal degrees.
    tol_m
        Convergence tolerance in metres.
    max_iter
        Maximum number of refinement steps.

    Returns
    -------
    lon, lat
        GCJ-02 longitudes and latitudes.
    """
    first_guess = _bd09_to_gcj02_approx(lon, lat)
    return _invert(_gcj02_to_bd09_raw, lon, lat, first_guess, tol_m, max_iter)


# --------------------------------------------------------------------------------------------
# public conversions
# --------------------------------------------------------------------------------------------


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """
    Convert WGS84 coordinates to GCJ-02 (Amap/Tencent).

    Points outside the rough bounding box of China are returned unchanged; points with a
    non-finite coordinate become NaN (see the module docstring).

    Parameters
    ----------
    lon, lat
        WGS84 longitudes and latitudes in decimal degrees (scalars or array-likes,
        broadcast against each other).

    Returns
    -------
    lon, lat
        GCJ-02 coordinates: float64 arrays of the broadcast shape, or floats for scalars.
    """
    return _apply_in_china(_wgs84_to_gcj02_raw, lon, lat)


def gcj02_to_wgs84(
    lon: ArrayLike,
    lat: ArrayLike,
    tol_m: float = _DEFAULT_TOL_M,
    max_iter: int = _DEFAULT_MAX_ITER,
) -> tuple[Any, Any]:
    """
    Convert GCJ-02 (Amap/Tencent) coordinates to WGS84.

    The inverse is computed by fixed-point iteration so that ``wgs84_to_gcj02`` of the result
    reproduces the input to within ``tol_m`` metres (typically to well under a millimetre,
    because the correction found in the last convergence check is applied as well). If the
    tolerance is not reached within ``max_iter`` steps a ``RuntimeWarning`` is issued and
    the last iterate is returned. Points outside the rough bounding box of China (tested on
    the GCJ-02 input) are returned unchanged; non-finite points become NaN.

    Parameters
    ----------
    lon, lat
        GCJ-02 longitudes and latitudes in decimal degrees (scalars or array-likes,
        broadcast against each other).
    tol_m
        Convergence tolerance in metres (positive).
    max_iter
        Maximum number of refinement steps (at least 1).

    Returns
    -------
    lon, lat
        WGS84 coordinates: float64 arrays of the broadcast shape, or floats for scalars.
    """
    _check_iteration_args(tol_m, max_iter)

    def transform(x: _FloatArray, y: _FloatArray) -> _Pair:
        return _gcj02_to_wgs84_raw(x, y, tol_m, max_iter)

    return _apply_in_china(transform, lon, lat)


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """
    Convert GCJ-02 (Amap/Tencent) coordinates to BD-09 (Baidu).

    Points outside the rough bounding box of China are returned unchanged; points with a
    non-finite coordinate become NaN.

    Parameters
    ----------
    lon, lat
        GCJ-02 longitudes and latitudes in decimal degrees (scalars or array-likes,
        broadcast against each other).

    Returns
    -------
    lon, lat
        BD-09 coordinates: float64 arrays of the broadcast shape, or floats for scalars.
    """
    return _apply_in_china(_gcj02_to_bd09_raw, lon, lat)


def bd09_to_gcj02(
    lon: ArrayLike,
    lat: ArrayLike,
    tol_m: float = _DEFAULT_TOL_M,
    max_iter: int = _DEFAULT_MAX_ITER,
) -> tuple[Any, Any]:
    """
    Convert BD-09 (Baidu) coordinates to GCJ-02.

    Starts from the well-known closed-form approximation (error up to about 0.2 m) and
    refines it by fixed-point iteration until ``gcj02_to_bd09`` of the result reproduces the
    input to within ``tol_m`` metres. If that is not reached within ``max_iter`` steps a
    ``RuntimeWarning`` is issued. Points outside the rough bounding box of China (tested on
    the BD-09 input) are returned unchanged; non-finite points become NaN.

    Parameters
    ----------
    lon, lat
        BD-09 longitudes and latitudes in decimal degrees (scalars or array-likes,
        broadcast against each other).
    tol_m
        Convergence tolerance in metres (positive).
    max_iter
        Maximum number of refinement steps (at least 1).

    Returns
    -------
    lon, lat
        GCJ-02 coordinates: float64 arrays of the broadcast shape, or floats for scalars.
    """
    _check_iteration_args(tol_m, max_iter)

    def transform(x: _FloatArray, y: _FloatArray) -> _Pair:
        return _bd09_to_gcj02_raw(x, y, tol_m, max_iter)

    return _apply_in_china(transform, lon, lat)


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """
    Convert WGS84 coordinates to BD-09 (Baidu), via GCJ-02.

    Points outside the rough bounding box of China are returned unchanged; points with a
    non-finite coordinate become NaN.

    Parameters
    ----------
    lon, lat
        WGS84 longitudes and latitudes in decimal degrees (scalars or array-likes,
        broadcast against each other).

    Returns
    -------
    lon, lat
        BD-09 coordinates: float64 arrays of the broadcast shape, or floats for scalars.
    """

    def transform(x: _FloatArray, y: _FloatArray) -> _Pair:
        return _gcj02_to_bd09_raw(*_wgs84_to_gcj02_raw(x, y))

    return _apply_in_china(transform, lon, lat)


def bd09_to_wgs84(
    lon: ArrayLike,
    lat: ArrayLike,
    tol_m: float = _DEFAULT_TOL_M,
    max_iter: int = _DEFAULT_MAX_ITER,
) -> tuple[Any, Any]:
    """
    Convert BD-09 (Baidu) coordinates to WGS84, via GCJ-02.

    Both inverse steps are iterated to ``tol_m`` metres, so ``wgs84_to_bd09`` of the result
    reproduces the input to within about ``2 * tol_m`` (in practice far better). Points
    outside the rough bounding box of China (tested on the BD-09 input) are returned
    unchanged; non-finite points become NaN.

    Parameters
    ----------
    lon, lat
        BD-09 longitudes and latitudes in decimal degrees (scalars or array-likes,
        broadcast against each other).
    tol_m
        Convergence tolerance in metres for each inverse step (positive).
    max_iter
        Maximum number of refinement steps per inverse step (at least 1).

    Returns
    -------
    lon, lat
        WGS84 coordinates: float64 arrays of the broadcast shape, or floats for scalars.
    """
    _check_iteration_args(tol_m, max_iter)

    def transform(x: _FloatArray, y: _FloatArray) -> _Pair:
        gcj_lon, gcj_lat = _bd09_to_gcj02_raw(x, y, tol_m, max_iter)
        return _gcj02_to_wgs84_raw(gcj_lon, gcj_lat, tol_m, max_iter)

    return _apply_in_china(transform, lon, lat)


# --------------------------------------------------------------------------------------------
# dispatchers and helpers
# --------------------------------------------------------------------------------------------


def normalize_crs(name: str) -> str:
    """
    Map a coordinate-system name or alias to its canonical name.

    Matching ignores case and surrounding whitespace. Accepted aliases: ``wgs84``,
    ``wgs-84``, ``epsg:4326`` (-> ``"wgs84"``); ``gcj02``, ``gcj-02``, ``amap``, ``tencent``
    (-> ``"gcj02"``); ``bd09``, ``bd-09``, ``baidu`` (-> ``"bd09"``).

    Parameters
    ----------
    name
        Coordinate-system name.

    Returns
    -------
    str
        One of `CRS_NAMES`.

    Raises
    ------
    TypeError
        If `name` is not a string.
    ValueError
        If `name` is not a known name or alias.
    """
    if not isinstance(name, str):
        msg = f"crs must be a string, got {type(name).__name__}"
        raise TypeError(msg)
    canonical = _CRS_ALIASES.get(name.strip().lower())
    if canonical is None:
        aliases = ", ".join(repr(alias) for alias in _CRS_ALIASES)
        msg = (
            f"Unknown crs {name!r}: expected one of {', '.join(map(repr, CRS_NAMES))} "
            f"(accepted aliases, case-insensitive: {aliases})"
        )
        raise ValueError(msg)
    return canonical


def to_wgs84(
    lon: ArrayLike,
    lat: ArrayLike,
    crs: str,
    *,
    tol_m: float = _DEFAULT_TOL_M,
    max_iter: int = _DEFAULT_MAX_ITER,
) -> tuple[Any, Any]:
    """
    Convert coordinates from `crs` to WGS84.

    Parameters
    ----------
    lon, lat
        Longitudes and latitudes in decimal degrees in the source system.
    crs
        Source system: a name or alias accepted by `normalize_crs`.
    tol_m
        Convergence tolerance in metres for the iterative inverses.
    max_iter
        Maximum number of refinement steps for the iterative inverses.

    Returns
    -------
    lon, lat
        WGS84 coordinates: float64 arrays of the broadcast shape, or floats for scalars.
        For ``crs="wgs84"`` the input is returned as a copy (non-finite points as NaN).
    """
    canonical = normalize_crs(crs)
    if canonical == "wgs84" and isinstance(lon, float | int) and isinstance(lat, float | int):
        # Every /api/nearest converts one point: no arrays for two numbers.
        if math.isfinite(lon) and math.isfinite(lat):
            return float(lon), float(lat)
        return math.nan, math.nan
    if canonical == "gcj02":
        return gcj02_to_wgs84(lon, lat, tol_m=tol_m, max_iter=max_iter)
    if canonical == "bd09":
        return bd09_to_wgs84(lon, lat, tol_m=tol_m, max_iter=max_iter)
    return _apply_in_china(_identity, lon, lat)


def from_wgs84(lon: ArrayLike, lat: ArrayLike, crs: str) -> tuple[Any, Any]:
    """
    Convert WGS84 coordinates to `crs`.

    Parameters
    ----------
    lon, lat
        WGS84 longitudes and latitudes in decimal degrees.
    crs
        Target system: a name or alias accepted by `normalize_crs`.

    Returns
    -------
    lon, lat
        Coordinates in `crs`: float64 arrays of the broadcast shape, or floats for scalars.
        For ``crs="wgs84"`` the input is returned as a copy (non-finite points as NaN).
    """
    canonical = normalize_crs(crs)
    if canonical == "gcj02":
        return wgs84_to_gcj02(lon, lat)
    if canonical == "bd09":
        return wgs84_to_bd09(lon, lat)
    return _apply_in_china(_identity, lon, lat)


def _identity(lon: _FloatArray, lat: _FloatArray) -> _Pair:
    """
    Return copies of the coordinates (the WGS84 -> WGS84 "transform").

    Parameters
    ----------
    lon, lat
        Coordinates.

    Returns
    -------
    lon, lat
        Copies of the input.
    """
    return lon.copy(), lat.copy()


def residual_m(lon1: ArrayLike, lat1: ArrayLike, lon2: ArrayLike, lat2: ArrayLike) -> Any:
    """
    Great-circle (haversine) distance in metres between two sets of points.

    Uses a spherical Earth of radius `EARTH_RADIUS_M`; intended for small distances such
    as conversion residuals. NaN coordinates give NaN distances.

    Parameters
    ----------
    lon1, lat1
        First points in decimal degrees.
    lon2, lat2
        Second points in decimal degrees (broadcast against the first).

    Returns
    -------
    numpy.ndarray or float
        Distances in metres; a Python float when all inputs are scalars.
    """
    lon1_r, lat1_r, lon2_r, lat2_r = (
        np.radians(np.asarray(v, dtype=np.float64)) for v in (lon1, lat1, lon2, lat2)
    )
    h = (
        np.sin((lat2_r - lat1_r) / 2.0) ** 2
        + np.cos(lat1_r) * np.cos(lat2_r) * np.sin((lon2_r - lon1_r) / 2.0) ** 2
    )
    dist = 2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
    if np.ndim(dist) == 0:
        return float(dist)
    return dist


def utm_crs(lon: float, lat: float) -> str:
    """The UTM zone (WGS84) of a point as an EPSG code, e.g. ``"EPSG:32650"`` for Miyun
    (zone 50N): the metric CRS of a district or network, as osmnx's ``projection`` picks it.
    """
    zone = int((lon + 180) // 6) + 1
    return f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"
