"""The embedded base data: reproducible from data/raw, in WGS84, with honest provenance."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geoservice import crs
from tools import basedata
from tools.basedata import DEFAULT_GPKG, RAW_DIR


@pytest.fixture(scope="module")
def shipped():
    return {n: gpd.read_file(DEFAULT_GPKG, layer=n) for n in basedata.LAYER_NAMES}


@pytest.fixture(scope="module")
def rebuilt():
    return basedata.build_layers(RAW_DIR)


def test_shipped_gpkg_is_exactly_what_the_script_builds(shipped, rebuilt, tmp_path):
    out = tmp_path / "rebuilt.gpkg"
    basedata.write_gpkg(rebuilt, out)
    for name in basedata.LAYER_NAMES:
        a = shipped[name]
        b = gpd.read_file(out, layer=name)
        assert list(a.columns) == list(b.columns), name
        assert a.drop(columns="geometry").equals(b.drop(columns="geometry")), name
        same = a.geometry.geom_equals_exact(b.geometry, tolerance=1e-12)
        assert (same | (a.geometry.isna() & b.geometry.isna())).all(), name


def test_all_layers_wgs84(shipped):
    for name, gdf in shipped.items():
        assert gdf.crs.to_epsg() == 4326, name


def test_boundary_converted_from_gcj02_with_small_residual(shipped):
    b = shipped["boundary"].geometry.iloc[0]
    assert 2200 < shipped["boundary"]["area_km2"].iloc[0] < 2260
    minx, miny, maxx, maxy = b.bounds
    # GCJ bbox 116.666–117.515 E, 40.220–40.801 N moves ~0.006° west and ~0.001° south.
    assert 116.655 < minx < 116.662
    assert 117.50 < maxx < 117.512
    assert 40.217 < miny < 40.221
    assert 40.797 < maxy < 40.801
    # Converting back to GCJ-02 reproduces the source vertices within 0.5 m.
    xy = shapely.get_coordinates(b)
    gx, gy = crs.wgs84_to_gcj02(xy[:, 0], xy[:, 1])
    raw = gpd.read_file(RAW_DIR / "miyun_district_gcj02_cnmaps.geojson").geometry.iloc[0]
    src = shapely.get_coordinates(raw)
    assert len(src) == len(xy)
    assert crs.residual_m(gx, gy, src[:, 0], src[:, 1]).max() < 0.5


def test_towns_and_villages(shipped):
    towns = shipped["towns"]
    assert len(towns) == 21
    assert towns["code"].str.match(r"^110118\d{3}$").all()
    seats = towns.loc[towns["coord_source"] == "geonames"]
    assert len(seats) == 15
    assert seats.geometry.notna().all()
    wiki = towns.loc[towns["coord_source"] == "wikipedia"].set_index("name")
    assert set(wiki.index) == {"穆家峪镇", "冯家峪镇"}
    assert (wiki.loc["冯家峪镇", "geometry"].x, wiki.loc["冯家峪镇", "geometry"].y) == (
        116.87028,
        40.61861,
    )
    assert wiki.loc["穆家峪镇", "seat_name_en"] == "Mujiayu"
    missing = towns.loc[towns["coord_source"] == "missing"]
    assert set(missing["name"]) == {"密云镇", "果园街道", "檀营地区", "中关村科技园区密云园"}
    assert missing.geometry.isna().all()
    sites = shipped["sites"]
    villages = sites.loc[sites["kind"].isin(["village", "community"])]
    assert len(villages) == 429
    assert villages["code"].str.match(r"^110118\d{6}$").all()
    assert (villages["coord_source"] == "missing").all()
    assert villages.geometry.isna().all()
    assert villages["official_name"].str.endswith("委员会").sum() == 426
    assert villages["town_code"].isin(towns["code"]).all()


def test_reservoir_is_marked_approximate(shipped):
    r = shipped["reservoir"]
    assert bool(r["approximate"].iloc[0])
    assert 95 < r["area_km2"].iloc[0] < 110


def test_sample_stations_as_specified(shipped):
    s = shipped["stations"]
    assert (s["source"] == "sample").all()
    counts = s["kind"].value_counts().to_dict()
    assert counts == {
        "warm_station": 92,
        "worker_home": 9,
        "public_worker_home": 2,
        "caravan_base": 1,
    }
    warm = s.loc[s["kind"] == "warm_station"]
    core = warm["town_code"].isin(["110118001", "110118002", "110118003", "110118100"])
    assert core.sum() > len(warm) / 2
    assert warm["town_code"].nunique() == 21
    assert s.loc[s["kind"] == "caravan_base", "town_code"].tolist() == ["110118001"]
    hours = set(s["opening_hours"])
    assert "24/7" in hours
    assert any("Mo-Fr" in h for h in hours)
    assert any("," in h for h in hours)
    assert s["id"].is_unique
    assert s["name"].is_unique


def test_no_point_in_the_reservoir_or_outside_the_district(shipped):
    boundary = shipped["boundary"].geometry.iloc[0]
    water = shipped["reservoir"].geometry.iloc[0]
    for name in ("stations", "sites"):
        pts = shipped[name].geometry.dropna()
        assert pts.within(boundary).all(), name
        assert not pts.intersects(water).any(), name


def test_reservoir_sites_near_the_shore(shipped):
    sites = shipped["sites"].loc[shipped["sites"]["kind"] == "reservoir_site"]
    assert 18 <= len(sites) <= 22
    assert (sites["source"] == "sample").all()
    water = shipped["reservoir"].to_crs(32650).geometry.iloc[0]
    d = sites.to_crs(32650).distance(water)
    assert d.max() < 2000
    assert np.all(d > 0)
