"""Village and community positions: stored coordinates first, else the active network's
``place`` nodes (by NBS code, else by name within the town); never written to the store."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from conftest import SMALL_OSM

from geoservice.district import current
from geoservice.network import NetworkLibrary, places
from geoservice.store import catalog
from geoservice.web import DEFAULT_NETWORK

pytestmark = pytest.mark.skipif(not DEFAULT_NETWORK.exists(), reason="no shipped network")

SETTLEMENTS = ("village", "community")


@pytest.fixture(scope="module")
def schematic_library(tmp_path_factory) -> NetworkLibrary:
    """The shipped schematic network (only its places are read: no network build)."""
    return NetworkLibrary(tmp_path_factory.mktemp("networks"), DEFAULT_NETWORK)


def _settlements(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return frame[frame["kind"].isin(SETTLEMENTS)]


# -- the schematic network ------------------------------------------------------------------------


@pytest.mark.slow
def test_every_village_and_community_gets_a_schematic_position(schematic_library, store):
    placed = places.site_positions(store, schematic_library)
    villages = _settlements(placed)
    assert len(villages) == 429
    assert (villages["matched_by"] == "code").all()
    assert (villages["coord_source"] == "schematic").all()
    assert places.SCHEMATIC_LABEL == "示意位置"
    assert (villages["coord_note"] == places.SCHEMATIC_LABEL).all()
    assert villages["place_osmid"].is_unique
    boundary = store.read("boundary").geometry.union_all()
    assert shapely.contains_xy(boundary, villages["lon"], villages["lat"]).all()
    np.testing.assert_allclose(villages.geometry.x, villages["lon"])
    # Reservoir sites keep their stored (sample) coordinates.
    reservoir = placed[placed["kind"] == "reservoir_site"]
    assert (reservoir["coord_source"] == "sample").all()
    assert (reservoir["matched_by"] == "").all()
    stored = store.read("sites").set_index("id")
    np.testing.assert_array_equal(reservoir["lon"], stored.loc[reservoir["id"], "lon"])


def test_places_are_cached_beside_the_networks(schematic_library):
    first = schematic_library.places()
    assert len(first) == 429
    assert first.attrs["schematic"] is True
    assert list(schematic_library.cache_dir.glob("*-places.npz"))
    again = schematic_library.places()
    assert again.drop(columns="geometry").equals(first.drop(columns="geometry"))
    assert set(first["place"]) == {"village", "neighbourhood"}


def test_imported_coordinates_always_win(schematic_library, store):
    def give_coordinates(sites):
        row = sites.index[sites["code"] == "110118103205"][0]  # 十里堡村
        sites.loc[row, ["lon", "lat", "coord_source"]] = [116.79, 40.36, "import"]
        sites.loc[row, "geometry"] = shapely.Point(116.79, 40.36)
        return sites, None

    store.update("sites", give_coordinates)
    placed = places.site_positions(store, schematic_library).set_index("code")
    village = placed.loc["110118103205"]
    assert (village["lon"], village["lat"]) == (116.79, 40.36)
    assert village["coord_source"] == "import"
    assert village["matched_by"] == ""
    assert (placed.loc[placed.index != "110118103205"]["matched_by"] != "").sum() == 428


def test_schematic_positions_are_never_stored(schematic_library, store, tmp_path):
    before = store.revision()
    placed = places.site_positions(store, schematic_library)
    assert (_settlements(placed)["coord_source"] == "schematic").all()
    assert store.revision() == before
    assert (_settlements(store.read("sites"))["coord_source"] == "missing").all()
    # An export and re-import cannot turn them into imported coordinates.
    out = tmp_path / "sites.csv"
    catalog.export_file(store, "sites", out)
    catalog.import_file(store, "sites", out, catalog.ImportOptions(mode="upsert"))
    sites = _settlements(store.read("sites"))
    assert (sites["coord_source"] == "missing").all()
    assert sites.geometry.isna().all()
    again = _settlements(places.site_positions(store, schematic_library))
    assert (again["coord_source"] == "schematic").all()


# -- a real extract -------------------------------------------------------------------------------


def _node(osmid: int, lon: float, lat: float, **tags: str) -> str:
    body = "".join(f'<tag k="{k.replace("_", ":")}" v="{v}"/>' for k, v in tags.items())
    return f'  <node id="{osmid}" lat="{lat}" lon="{lon}" version="1">{body}</node>\n'


@pytest.fixture
def real_extract(tmp_path):
    """鼓楼's small street grid with place nodes as a real Miyun extract might have them."""
    nodes = (
        # By code (the OSM wiki's ref:cadc:2020 key), under another spelling of the name.
        _node(9001, 116.8312, 40.3689, place="neighbourhood", name="鼓楼社区居委会",
              ref_cadc_2020="110118001002")
        # By name, in the town its own tags name (at 十里堡's seat).
        + _node(9002, 116.7957, 40.3587, place="village", name="十里堡村", is_in_town="十里堡镇")
        # By name, in the town of the nearest seat (鼓楼).
        + _node(9003, 116.8336, 40.3707, place="neighbourhood", name="宾阳里社区")
        # By name in a town without a seat point: only its tags can say so.
        + _node(9004, 116.9250, 40.4180, place="village", name="刘林池村", addr_town="穆家峪镇")
        # 南沟村 exists in 太师屯镇 and 大城子镇, not in 鼓楼: no match.
        + _node(9005, 116.8340, 40.3700, place="village", name="南沟村")
        # A matching code far outside the district: clipped away with the roads.
        + _node(9006, 116.3975, 39.9087, place="village", name="清水潭村", ref="110118103200")
        # Not a settlement the caravan visits.
        + _node(9007, 116.8300, 40.3700, place="city", name="白檀社区")
    )  # fmt: skip
    text = SMALL_OSM.read_text(encoding="utf-8")
    path = tmp_path / "miyun_real.osm"
    path.write_text(text.replace("  <way id=", nodes + "  <way id=", 1), encoding="utf-8")
    return path


def test_real_extract_places_match_by_code_and_by_name(app, store, real_extract):
    library = app.extensions["geoservice.engine"].library
    library.import_file(real_extract)
    table = library.places()
    assert table.attrs["schematic"] is False
    assert sorted(table["osmid"]) == [9001, 9002, 9003, 9004, 9005]  # 9006 clipped, 9007 city
    placed = places.site_positions(store, library).set_index("code")
    got = placed[placed["matched_by"] != ""]
    assert dict(zip(got.index, got["matched_by"], strict=True)) == {
        "110118001002": "code",
        "110118103205": "name",
        "110118001004": "name",
        "110118106200": "name",
    }
    assert dict(zip(got.index, got["place_osmid"], strict=True)) == {
        "110118001002": 9001,
        "110118103205": 9002,
        "110118001004": 9003,
        "110118106200": 9004,
    }
    assert (got["coord_source"] == "osm").all()
    assert (got["coord_note"] == "").all()
    assert placed.loc["110118001002", "lon"] == pytest.approx(116.8312)
    assert placed.loc["110118103200", "coord_source"] == "missing"  # its place was outside
    assert placed.loc["110118107229", "coord_source"] == "missing"  # 南沟村
    assert store.read("sites").set_index("code").loc["110118001002", "coord_source"] == "missing"


def test_a_graphml_network_has_no_places(app, store, tmp_path):
    import osmnx as ox

    from geoservice.network import osm

    path = tmp_path / "gulou.graphml"
    ox.save_graphml(osm.read_graph(SMALL_OSM), path)
    library = app.extensions["geoservice.engine"].library
    library.import_file(path)
    assert len(library.places()) == 0
    placed = places.site_positions(store, library)
    assert (_settlements(placed)["coord_source"] == "missing").all()


def test_match_sites_leaves_its_inputs_alone(schematic_library, store):
    sites = store.read("sites")
    table = schematic_library.places()
    copy_sites, copy_places = sites.copy(), table.copy()
    out = places.match_sites(
        sites, table, store.read("towns"), schematic=True, metric_crs=current(store).metric_crs
    )
    assert out is not sites
    assert sites.equals(copy_sites)
    assert table.equals(copy_places)
