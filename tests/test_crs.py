"""Tests for geoservice.crs (WGS84 / GCJ-02 / BD-09 conversions).

The reference values below were produced once with published implementations and are
hard-coded, so the tests need neither network access nor those packages.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from geoservice import crs

# (name, wgs_lon, wgs_lat, gcj_lon, gcj_lat, bd_lon, bd_lat)
# Produced with eviltransform 0.1.1 (PyPI): wgs2gcj(lat, lng) and wgs2bd(lat, lng); gcj2bd
# applied to the wgs2gcj output gave identical BD-09 values. Note that eviltransform 0.1.1
# uses a = 6378137.0 (WGS84) instead of the Krasovsky a = 6378245.0 when converting the
# offset from metres to degrees, so it differs from the Krasovsky formula by up to
# ~1.2e-7 degrees (about 1 cm) -- well inside the 1e-6 degree tolerance.
EVILTRANSFORM_REFERENCE = [
    ("Miyun Gulou 鼓楼",
     116.8335, 40.37, 116.8395504196, 40.3711832171, 116.8461218482, 40.3770037705),
    ("Miyun SW corner",
     116.7, 40.2, 116.7060411191, 40.2012025226, 116.7126569288, 40.2068701839),
    ("Miyun NE corner",
     117.5, 40.8, 117.5065663527, 40.8015486379, 117.5130459948, 40.8076122063),
    ("Miyun Reservoir",
     116.98, 40.5, 116.9862157733, 40.5012831719, 116.9926232965, 40.5075461821),
    ("Miyun Gubeikou",
     117.15, 40.69, 117.1566003911, 40.6915927475, 117.1631525213, 40.6974774275),
    ("Miyun Xiwengzhuang",
     116.92, 40.43, 116.9260138487, 40.4311330281, 116.932595582, 40.4368692524),
    ("Miyun Bulaotun",
     117.05, 40.62, 117.0565299468, 40.621544285, 117.0631482788, 40.6271983661),
    ("Miyun Dachengzi",
     117.12, 40.3, 117.1265828179, 40.3014494364, 117.1329534101, 40.3077747771),
    ("Beijing centre",
     116.3975, 39.9087, 116.4037436784, 39.9101035231, 116.4101166923, 39.916442773),
    ("Shanghai",
     121.4737, 31.2304, 121.4782231359, 31.2284577047, 121.4847815454, 31.2343105595),
    ("Guangzhou",
     113.2644, 23.1291, 113.2697296823, 23.1264232946, 113.2761508417, 23.1327112127),
    ("Urumqi",
     87.6168, 43.8256, 87.6196499977, 43.8268054135, 87.6260998194, 43.8329498146),
]  # fmt: skip

# (wgs_lon, wgs_lat, gcj_lon, gcj_lat, bd_lon, bd_lat) for the same points, produced with
# prcoords 1.0.2 (PyPI): wgs_gcj((lat, lon)) and wgs_bd((lat, lon)). prcoords uses the
# Krasovsky a = 6378245.0 like geoservice.crs, so the agreement is at rounding level.
PRCOORDS_REFERENCE = [
    (116.8335, 40.37, 116.839550317128, 40.371183197049, 116.846121746364, 40.377003748858),
    (116.7, 40.2, 116.706041016788, 40.201202502244, 116.712656826672, 40.206870162930),
    (117.5, 40.8, 117.506566241473, 40.801548611702, 117.513045882851, 40.807612182084),
    (116.98, 40.5, 116.986215668054, 40.501283150156, 116.992623191674, 40.507546159062),
    (117.15, 40.69, 117.156600279331, 40.691592720548, 117.163152408810, 40.697477402494),
    (116.92, 40.43, 116.926013746864, 40.431133008921, 116.932595479747, 40.436869234438),
    (117.05, 40.62, 117.056529836240, 40.621544258835, 117.063148168172, 40.627198340291),
    (117.12, 40.3, 117.126582706442, 40.301449411890, 117.132953298360, 40.307774753232),
    (116.3975, 39.9087, 116.403743572652, 39.910103499345, 116.410116586473, 39.916442749631),
    (121.4737, 31.2304, 121.478223059277, 31.228457737577, 121.484781468503, 31.234310593690),
    (113.2644, 23.1291, 113.269729592103, 23.126423339923, 113.276150751571, 23.132711257239),
    (87.6168, 43.8256, 87.619649949469, 43.826805393111, 87.626099770816, 43.832949794793),
]

_EVIL = np.array([row[1:] for row in EVILTRANSFORM_REFERENCE], dtype=np.float64)
_PRC = np.array(PRCOORDS_REFERENCE, dtype=np.float64)

# Miyun district bounding box (lon_min, lon_max, lat_min, lat_max).
MIYUN_BBOX = (116.7, 117.5, 40.2, 40.8)
PARIS = (2.3522, 48.8566)

FORWARD = [crs.wgs84_to_gcj02, crs.gcj02_to_bd09, crs.wgs84_to_bd09]
INVERSE = [crs.gcj02_to_wgs84, crs.bd09_to_gcj02, crs.bd09_to_wgs84]
ALL_FUNCS = FORWARD + INVERSE


def _miyun_points(n: int = 10_000, seed: int = 20240501) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lon_min, lon_max, lat_min, lat_max = MIYUN_BBOX
    return rng.uniform(lon_min, lon_max, n), rng.uniform(lat_min, lat_max, n)


# --------------------------------------------------------------------------------------------
# reference values
# --------------------------------------------------------------------------------------------


def test_forward_matches_eviltransform() -> None:
    wgs_lon, wgs_lat, gcj_lon, gcj_lat, bd_lon, bd_lat = _EVIL.T
    lon, lat = crs.wgs84_to_gcj02(wgs_lon, wgs_lat)
    np.testing.assert_allclose(lon, gcj_lon, rtol=0, atol=1e-6)
    np.testing.assert_allclose(lat, gcj_lat, rtol=0, atol=1e-6)

    lon, lat = crs.wgs84_to_bd09(wgs_lon, wgs_lat)
    np.testing.assert_allclose(lon, bd_lon, rtol=0, atol=1e-6)
    np.testing.assert_allclose(lat, bd_lat, rtol=0, atol=1e-6)

    lon, lat = crs.gcj02_to_bd09(gcj_lon, gcj_lat)
    np.testing.assert_allclose(lon, bd_lon, rtol=0, atol=1e-6)
    np.testing.assert_allclose(lat, bd_lat, rtol=0, atol=1e-6)


def test_forward_matches_prcoords() -> None:
    wgs_lon, wgs_lat, gcj_lon, gcj_lat, bd_lon, bd_lat = _PRC.T
    lon, lat = crs.wgs84_to_gcj02(wgs_lon, wgs_lat)
    np.testing.assert_allclose(lon, gcj_lon, rtol=0, atol=1e-9)
    np.testing.assert_allclose(lat, gcj_lat, rtol=0, atol=1e-9)
    lon, lat = crs.wgs84_to_bd09(wgs_lon, wgs_lat)
    np.testing.assert_allclose(lon, bd_lon, rtol=0, atol=1e-9)
    np.testing.assert_allclose(lat, bd_lat, rtol=0, atol=1e-9)


def test_reference_packages_agree() -> None:
    # The two published implementations agree with each other to ~1e-7 degrees.
    np.testing.assert_allclose(_EVIL, _PRC, rtol=0, atol=2e-7)


@pytest.mark.parametrize(
    "row", EVILTRANSFORM_REFERENCE, ids=[r[0] for r in EVILTRANSFORM_REFERENCE]
)
def test_scalar_forward_matches_eviltransform(row: tuple) -> None:
    _, wgs_lon, wgs_lat, gcj_lon, gcj_lat, bd_lon, bd_lat = row
    lon, lat = crs.wgs84_to_gcj02(wgs_lon, wgs_lat)
    assert lon == pytest.approx(gcj_lon, abs=1e-6)
    assert lat == pytest.approx(gcj_lat, abs=1e-6)
    lon, lat = crs.wgs84_to_bd09(wgs_lon, wgs_lat)
    assert lon == pytest.approx(bd_lon, abs=1e-6)
    assert lat == pytest.approx(bd_lat, abs=1e-6)


def test_inverses_recover_reference_wgs84() -> None:
    wgs_lon, wgs_lat, gcj_lon, gcj_lat, bd_lon, bd_lat = _EVIL.T

    lon, lat = crs.gcj02_to_wgs84(gcj_lon, gcj_lat)
    res = crs.residual_m(lon, lat, wgs_lon, wgs_lat)
    assert res.max() < 0.5
    assert res.max() < 0.05

    lon, lat = crs.bd09_to_wgs84(bd_lon, bd_lat)
    res = crs.residual_m(lon, lat, wgs_lon, wgs_lat)
    assert res.max() < 0.5
    assert res.max() < 0.05

    lon, lat = crs.bd09_to_gcj02(bd_lon, bd_lat)
    res = crs.residual_m(lon, lat, gcj_lon, gcj_lat)
    assert res.max() < 0.05


def test_inverses_recover_prcoords_wgs84_tightly() -> None:
    wgs_lon, wgs_lat, gcj_lon, gcj_lat, bd_lon, bd_lat = _PRC.T
    lon, lat = crs.gcj02_to_wgs84(gcj_lon, gcj_lat)
    assert crs.residual_m(lon, lat, wgs_lon, wgs_lat).max() < 0.01
    lon, lat = crs.bd09_to_wgs84(bd_lon, bd_lat)
    assert crs.residual_m(lon, lat, wgs_lon, wgs_lat).max() < 0.01


# --------------------------------------------------------------------------------------------
# round trips
# --------------------------------------------------------------------------------------------


def test_gcj02_round_trip_miyun() -> None:
    lon, lat = _miyun_points()
    back = crs.gcj02_to_wgs84(*crs.wgs84_to_gcj02(lon, lat))
    res = crs.residual_m(*back, lon, lat)
    assert res.max() < 0.5
    assert res.max() < 0.01


def test_bd09_round_trip_miyun() -> None:
    lon, lat = _miyun_points()
    back = crs.bd09_to_wgs84(*crs.wgs84_to_bd09(lon, lat))
    res = crs.residual_m(*back, lon, lat)
    assert res.max() < 0.5
    assert res.max() < 0.01

    gcj = crs.gcj02_to_bd09(lon, lat)
    back = crs.bd09_to_gcj02(*gcj)
    assert crs.residual_m(*back, lon, lat).max() < 0.01


@pytest.mark.parametrize(
    ("inverse", "forward"),
    [
        (crs.gcj02_to_wgs84, crs.wgs84_to_gcj02),
        (crs.bd09_to_gcj02, crs.gcj02_to_bd09),
        (crs.bd09_to_wgs84, crs.wgs84_to_bd09),
    ],
)
def test_forward_of_inverse_is_identity(inverse, forward) -> None:
    # Treat random Miyun points as *input* of the inverse: forward must reproduce them.
    lon, lat = _miyun_points(seed=7)
    res = crs.residual_m(*forward(*inverse(lon, lat)), lon, lat)
    assert res.max() < 0.01


def test_bd09_closed_form_is_refined() -> None:
    # The textbook closed form is off by up to ~0.2 m; the iterative result is not.
    lon, lat = _miyun_points(seed=3)
    bd_lon, bd_lat = crs.gcj02_to_bd09(lon, lat)
    approx = crs._bd09_to_gcj02_approx(bd_lon, bd_lat)
    refined = crs.bd09_to_gcj02(bd_lon, bd_lat)
    assert crs.residual_m(*approx, lon, lat).max() > 0.05
    assert crs.residual_m(*refined, lon, lat).max() < 0.001


def test_tight_tolerance() -> None:
    lon, lat = _miyun_points(n=1000)
    back = crs.gcj02_to_wgs84(*crs.wgs84_to_gcj02(lon, lat), tol_m=1e-6)
    assert crs.residual_m(*back, lon, lat).max() < 1e-5


# --------------------------------------------------------------------------------------------
# outside China, non-finite values, shapes and scalars
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("func", ALL_FUNCS, ids=lambda f: f.__name__)
def test_outside_china_not_shifted(func) -> None:
    lon, lat = func(*PARIS)
    assert (lon, lat) == PARIS


def test_mixed_inside_and_outside() -> None:
    lon = np.array([PARIS[0], 116.8335, -74.006])
    lat = np.array([PARIS[1], 40.37, 40.7128])
    out_lon, out_lat = crs.wgs84_to_gcj02(lon, lat)
    assert out_lon[0] == lon[0]
    assert out_lat[0] == lat[0]
    assert out_lon[2] == lon[2]
    assert out_lat[2] == lat[2]
    assert out_lon[1] == pytest.approx(_PRC[0, 2], abs=1e-9)
    assert out_lat[1] == pytest.approx(_PRC[0, 3], abs=1e-9)


@pytest.mark.parametrize("func", ALL_FUNCS, ids=lambda f: f.__name__)
def test_nan_propagates(func) -> None:
    lon = np.array([116.8335, np.nan, 116.9, np.inf, 117.0])
    lat = np.array([40.37, 40.4, np.nan, 40.5, 40.6])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out_lon, out_lat = func(lon, lat)
    assert np.isfinite(out_lon[[0, 4]]).all()
    assert np.isfinite(out_lat[[0, 4]]).all()
    assert np.isnan(out_lon[1:4]).all()
    assert np.isnan(out_lat[1:4]).all()
    # Finite points are unaffected by their non-finite neighbours.
    solo_lon, solo_lat = func(116.8335, 40.37)
    assert out_lon[0] == pytest.approx(solo_lon, abs=1e-12)
    assert out_lat[0] == pytest.approx(solo_lat, abs=1e-12)


@pytest.mark.parametrize("func", ALL_FUNCS, ids=lambda f: f.__name__)
def test_scalar_nan(func) -> None:
    lon, lat = func(float("nan"), 40.0)
    assert type(lon) is float
    assert math.isnan(lon)
    assert math.isnan(lat)


@pytest.mark.parametrize("func", ALL_FUNCS, ids=lambda f: f.__name__)
def test_shape_preserved_2d(func) -> None:
    lon, lat = _miyun_points(n=12)
    lon2, lat2 = lon.reshape(3, 4), lat.reshape(3, 4)
    out_lon, out_lat = func(lon2, lat2)
    assert out_lon.shape == (3, 4)
    assert out_lat.shape == (3, 4)
    assert out_lon.dtype == np.float64
    assert out_lat.dtype == np.float64
    flat_lon, flat_lat = func(lon, lat)
    np.testing.assert_allclose(out_lon.ravel(), flat_lon, rtol=0, atol=1e-12)
    np.testing.assert_allclose(out_lat.ravel(), flat_lat, rtol=0, atol=1e-12)


def test_list_input_and_broadcasting() -> None:
    out_lon, out_lat = crs.wgs84_to_gcj02([116.8, 116.9, 117.0], 40.4)
    assert isinstance(out_lon, np.ndarray)
    assert out_lon.shape == (3,)
    assert out_lat.shape == (3,)
    assert out_lat[0] == pytest.approx(crs.wgs84_to_gcj02(116.8, 40.4)[1], abs=1e-12)


@pytest.mark.parametrize("func", ALL_FUNCS, ids=lambda f: f.__name__)
def test_scalar_in_float_out(func) -> None:
    lon, lat = func(116.8335, 40.37)
    assert type(lon) is float
    assert type(lat) is float
    lon, lat = func(np.float64(116.8335), 40)
    assert type(lon) is float
    assert type(lat) is float
    lon, lat = func(*PARIS)
    assert type(lon) is float
    assert type(lat) is float


def test_input_not_modified() -> None:
    lon, lat = _miyun_points(n=5)
    lon_copy, lat_copy = lon.copy(), lat.copy()
    crs.gcj02_to_wgs84(lon, lat)
    crs.bd09_to_wgs84(lon, lat)
    np.testing.assert_array_equal(lon, lon_copy)
    np.testing.assert_array_equal(lat, lat_copy)


# --------------------------------------------------------------------------------------------
# dispatchers and names
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alias", "expected"),
    [
        ("wgs84", "wgs84"),
        ("WGS-84", "wgs84"),
        ("EPSG:4326", "wgs84"),
        ("gcj02", "gcj02"),
        ("GCJ-02", "gcj02"),
        ("Amap", "gcj02"),
        ("tencent", "gcj02"),
        ("bd09", "bd09"),
        ("BD-09", "bd09"),
        (" Baidu ", "bd09"),
    ],
)
def test_normalize_crs(alias: str, expected: str) -> None:
    assert crs.normalize_crs(alias) == expected


def test_crs_names() -> None:
    assert crs.CRS_NAMES == ("wgs84", "gcj02", "bd09")


@pytest.mark.parametrize("func", [crs.normalize_crs, crs.to_wgs84, crs.from_wgs84])
def test_bad_crs_name(func) -> None:
    args = ("google",) if func is crs.normalize_crs else (116.8, 40.4, "google")
    with pytest.raises(ValueError, match="google") as excinfo:
        func(*args)
    for name in crs.CRS_NAMES:
        assert name in str(excinfo.value)


def test_non_string_crs_name() -> None:
    with pytest.raises(TypeError, match="string"):
        crs.normalize_crs(4326)  # type: ignore[arg-type]


def test_dispatchers() -> None:
    lon, lat = _miyun_points(n=50)
    np.testing.assert_array_equal(crs.from_wgs84(lon, lat, "amap"), crs.wgs84_to_gcj02(lon, lat))
    np.testing.assert_array_equal(crs.from_wgs84(lon, lat, "Baidu"), crs.wgs84_to_bd09(lon, lat))
    np.testing.assert_array_equal(crs.from_wgs84(lon, lat, "EPSG:4326"), (lon, lat))

    gcj = crs.wgs84_to_gcj02(lon, lat)
    np.testing.assert_array_equal(crs.to_wgs84(*gcj, "gcj-02"), crs.gcj02_to_wgs84(*gcj))
    bd = crs.wgs84_to_bd09(lon, lat)
    np.testing.assert_array_equal(crs.to_wgs84(*bd, "bd09"), crs.bd09_to_wgs84(*bd))
    np.testing.assert_array_equal(crs.to_wgs84(lon, lat, "wgs84"), (lon, lat))

    for name in crs.CRS_NAMES:
        back = crs.to_wgs84(*crs.from_wgs84(lon, lat, name), name)
        assert crs.residual_m(*back, lon, lat).max() < 0.01


def test_dispatcher_scalar() -> None:
    lon, lat = crs.to_wgs84(116.8335, 40.37, "wgs84")
    assert (type(lon), type(lat)) == (float, float)
    assert (lon, lat) == (116.8335, 40.37)


# --------------------------------------------------------------------------------------------
# iteration parameters and residual_m
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("func", INVERSE, ids=lambda f: f.__name__)
@pytest.mark.parametrize(("tol_m", "max_iter"), [(0.0, 30), (-1.0, 30), (np.nan, 30), (0.01, 0)])
def test_bad_iteration_args(func, tol_m: float, max_iter: int) -> None:
    with pytest.raises(ValueError, match=r"tol_m|max_iter"):
        func(116.8, 40.4, tol_m=tol_m, max_iter=max_iter)


def test_non_convergence_warns() -> None:
    lon, lat = crs.wgs84_to_gcj02(*_miyun_points(n=100))
    with pytest.warns(RuntimeWarning, match="did not converge"):
        crs.gcj02_to_wgs84(lon, lat, tol_m=1e-9, max_iter=1)


def test_residual_m() -> None:
    one_degree = crs.EARTH_RADIUS_M * math.pi / 180.0
    assert crs.residual_m(116.8, 40.0, 116.8, 41.0) == pytest.approx(one_degree, rel=1e-12)
    assert crs.residual_m(0.0, 0.0, 1.0, 0.0) == pytest.approx(one_degree, rel=1e-12)
    assert crs.residual_m(116.8, 40.4, 116.8, 40.4) == 0.0
    assert type(crs.residual_m(116.8, 40.4, 116.9, 40.4)) is float
    # ~0.1 m at Miyun's latitude
    assert crs.residual_m(116.8, 40.4, 116.8, 40.4 + 1e-6) == pytest.approx(0.1112, abs=1e-3)

    out = crs.residual_m(np.zeros((2, 3)), np.zeros((2, 3)), np.ones((2, 3)), 0.0)
    assert out.shape == (2, 3)
    assert math.isnan(crs.residual_m(np.nan, 0.0, 0.0, 0.0))
