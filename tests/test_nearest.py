"""The nearest-station engine against brute-force Dijkstra, its filters and edge cases."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from conftest import GRID_STATIONS, SMALL_OSM, stations_frame

from geoservice import nearest, network, params, service
from geoservice.errors import ParameterError
from geoservice.filters import StationFilter
from geoservice.hours import TZ
from geoservice.network import osm

DATA = Path(__file__).resolve().parent / "data"
#: Warm stations whatever their hours.
ANY_HOURS = StationFilter(open_only=False)


def brute_force_times(net: network.Network, engine_tree, lon: float, lat: float) -> np.ndarray:
    """Travel time to every station by networkx Dijkstra on an explicit graph with the
    origin and the stations as extra nodes (independent of the engine's matrix tricks)."""
    G = nx.DiGraph()
    for i in range(net.n_edges):
        u, v, t = int(net.edge_u[i]), int(net.edge_v[i]), float(net.edge_time[i])
        if not G.has_edge(u, v) or G[u][v]["w"] > t:
            G.add_edge(u, v, w=t)
    snap = net.snap([lon], [lat])
    e, f = int(snap.edge[0]), float(snap.frac[0])
    twin = int(net.edge_twin[e])
    G.add_edge("o", int(net.edge_v[e]), w=(1 - f) * net.edge_time[e])
    if twin >= 0:
        G.add_edge("o", int(net.edge_u[e]), w=f * net.edge_time[twin])
    stations = engine_tree.stations
    for s, (es, fs) in enumerate(zip(stations.edge, stations.frac, strict=True)):
        es, fs = int(es), float(fs)
        G.add_edge(int(net.edge_u[es]), ("s", s), w=fs * net.edge_time[es])
        ts = int(net.edge_twin[es])
        if ts >= 0:
            G.add_edge(int(net.edge_u[ts]), ("s", s), w=(1 - fs) * net.edge_time[ts])
        # Same road as the origin: straight along it.
        if es == e and fs >= f:
            G.add_edge("o", ("s", s), w=(fs - f) * net.edge_time[e])
        if twin >= 0 and es == e and fs < f:
            G.add_edge("o", ("s", s), w=(f - fs) * net.edge_time[twin])
        if twin >= 0 and es == twin:
            pos = 1 - fs
            w = (pos - f) * net.edge_time[e] if pos >= f else (f - pos) * net.edge_time[twin]
            G.add_edge("o", ("s", s), w=w)
    lengths = nx.single_source_dijkstra_path_length(G, "o", weight="w")
    return np.array([lengths.get(("s", s), np.inf) for s in range(len(stations.edge))])


def expected_times(net: network.Network, tree, lon: float, lat: float):
    """(network time, total time) to every station: the total adds the ways between the
    origin and its road and between each station's road and its door, at the mode's access
    speed (walking; a slow lane when driving)."""
    on_network = brute_force_times(net, tree, lon, lat)
    lead = float(net.snap([lon], [lat]).distance_m[0])
    speed = network.access_speed_ms(net.mode)
    return on_network, on_network + (lead + tree.stations.distance_m) / speed


@pytest.fixture
def small(store):
    G = osm.read_graph(SMALL_OSM)
    nets = {m: network.build(G, m, source="gulou_small.osm") for m in network.MODES}
    store.update("stations", lambda g: (stations_frame(GRID_STATIONS), None))
    return nearest.NearestEngine(nets, store)


@pytest.mark.parametrize("mode", network.MODES)
def test_matches_brute_force_on_random_points(small, mode):
    rng = np.random.default_rng(7)
    small.refresh()
    tree = small._routing[mode]
    net = small.networks[mode]
    for lon, lat in zip(
        rng.uniform(116.8295, 116.8352, 40), rng.uniform(40.3676, 40.3720, 40), strict=True
    ):
        on_network, expected = expected_times(net, tree, lon, lat)
        got = small.nearest(lon, lat, mode=mode, k=5, stations=ANY_HOURS)
        by_id = {r["id"]: r for r in got["results"]}
        reachable = np.flatnonzero(np.isfinite(expected))
        assert len(by_id) == len(reachable)
        order = sorted(reachable, key=lambda s: expected[s])
        assert [f"T{s:02d}" for s in order] == [r["id"] for r in got["results"]] or np.allclose(
            [r["travel_time_s"] for r in got["results"]], np.sort(expected[reachable]), atol=0.1
        )
        for s in reachable:
            assert by_id[f"T{s:02d}"]["travel_time_s"] == pytest.approx(expected[s], abs=0.1)
            assert by_id[f"T{s:02d}"]["network_time_s"] == pytest.approx(on_network[s], abs=0.06)
        batch = small.batch(np.array([lon]), np.array([lat]), mode=mode, stations=ANY_HOURS)
        assert batch["travel_time_s"][0] == pytest.approx(expected[reachable].min(), abs=1e-6)


def test_one_way_street_respected_for_bike_and_drive_not_walk(small):
    # Standing on 北街 just east of station T01, which is one-way eastbound.
    lon, lat = 116.8340, 40.3716
    walk = small.nearest(lon, lat, mode="walk", k=1, stations=ANY_HOURS)["results"][0]
    drive = small.nearest(lon, lat, mode="drive", k=5, stations=ANY_HOURS)["results"]
    assert walk["id"] == "T01"
    assert walk["network_distance_m"] < 50
    t01 = next(r for r in drive if r["id"] == "T01")
    assert t01["network_distance_m"] > 400  # has to go round the block


def test_route_geometry_runs_from_origin_to_station(small):
    lon, lat = 116.8300, 40.3710
    r = small.nearest(lon, lat, mode="walk", k=1, stations=ANY_HOURS)
    res = r["results"][0]
    coords = res["route"]["coordinates"]
    assert coords[0] == pytest.approx([lon, lat])
    assert res["network_distance_m"] >= res["straight_distance_m"] - 30
    # The polyline's own length matches the network distance (plus the snap legs).
    seg = np.diff(np.radians(np.array(coords)), axis=0)
    ys = np.radians(np.array(coords)[:-1, 1])
    length = np.hypot(seg[:, 0] * np.cos(ys), seg[:, 1]).sum() * 6_371_009
    legs = r["origin"]["snap_distance_m"] + res["station_snap_distance_m"]
    assert coords[-1] == pytest.approx([res["lon"], res["lat"]])  # ends at the door
    assert length == pytest.approx(res["network_distance_m"] + legs, abs=5)


def test_filters_mask_exactly(small, store):
    kinds = ["warm_station", "worker_home", "warm_station", "warm_station", "warm_station"]
    hours = ["24/7", "24/7", "Mo-Fr 08:00-18:00", "24/7", "24/7"]
    amenities = ["hot_water", "hot_water;wifi", "hot_water;wifi", "microwave", "wifi"]
    store.update(
        "stations", lambda g: (stations_frame(GRID_STATIONS, kinds, hours, amenities), None)
    )
    lon, lat = 116.8320, 40.3700
    sunday = dt.datetime(2026, 11, 29, 10, 0, tzinfo=TZ)
    every = small.nearest(
        lon, lat, mode="walk", k=20, stations=StationFilter(kinds=(), open_only=False)
    )
    assert len(every["results"]) == 4  # T04 is on an unreachable road
    wifi = small.nearest(
        lon, lat, mode="walk", k=20, stations=StationFilter(amenities=("wifi",), open_only=False)
    )
    assert {r["id"] for r in wifi["results"]} == {"T02"}
    open_sunday = small.nearest(lon, lat, mode="walk", k=20, stations=StationFilter(at=sunday))
    assert "T02" not in {r["id"] for r in open_sunday["results"]}
    closed = next(r for r in every["results"] if r["id"] == "T02")
    assert closed["opening_hours"] == "Mo-Fr 08:00-18:00"
    home = small.nearest(
        lon, lat, mode="walk", k=3, stations=StationFilter(kinds=("worker_home",), open_only=False)
    )
    assert [r["id"] for r in home["results"]] == ["T01"]


def test_no_match_gives_empty_list_and_reason(small):
    r = small.nearest(116.832, 40.370, mode="walk", stations=StationFilter(kinds=("caravan_base",)))
    assert r["results"] == []
    assert "no station of that kind" in r["reason"]
    night = dt.datetime(2026, 11, 29, 3, 0)
    r = small.nearest(
        116.832, 40.370, mode="walk", stations=StationFilter(amenities=("microwave",), at=night)
    )
    assert r["results"] == [] or all(x["open_now"] for x in r["results"])


def test_unreachable_component(small, store):
    # Only the station on the isolated service road remains.
    store.update("stations", lambda g: (stations_frame(GRID_STATIONS[4:]), None))
    r = small.nearest(116.8320, 40.3700, mode="walk", stations=ANY_HOURS)
    assert r["results"] == []
    assert "reachable" in r["reason"]


def test_far_point_is_422_with_distance(small):
    with pytest.raises(ParameterError) as info:
        small.nearest(116.90, 40.45, mode="walk")
    assert info.value.status == 422
    assert "km" in str(info.value)


def test_outside_district_flagged_but_answered(small):
    # The small extract's origin inside the district; a fake boundary far away flags it.
    import shapely

    small.refresh()  # reads the district's boundary, which the fake one then replaces
    small.boundary = shapely.box(0, 0, 1, 1)
    r = small.nearest(116.8320, 40.3700, mode="walk", stations=ANY_HOURS)
    assert r["origin"]["outside_district"] is True
    assert r["results"]


def test_bad_parameters(small):
    # The engine takes typed values, read once by the request declaration (the engine used
    # to parse them again); it still refuses a mode its network lacks, as a 422.
    with pytest.raises(ParameterError, match="mode") as info:
        small.nearest(116.832, 40.370, mode="boat")
    assert info.value.parameter == "mode"
    assert info.value.status == 422
    point = {"lon": ["116.832"], "lat": ["40.370"]}
    for name, value in (("mode", "boat"), ("k", "21"), ("amenity", "sauna")):
        with pytest.raises(ParameterError) as info:
            params.parse_query(service.NearestQuery, {**point, name: [value]})
        assert info.value.parameter == name
        assert info.value.status == 400


def test_station_edits_refresh_without_restart(small, store):
    first = small.nearest(116.8320, 40.3700, mode="walk", k=1, stations=ANY_HOURS)["results"][0]

    def rename(g):
        g.loc[g["id"] == first["id"], "name"] = "新名字"
        return g, None

    store.update("stations", rename)
    again = small.nearest(116.8320, 40.3700, mode="walk", k=1, stations=ANY_HOURS)["results"][0]
    assert again["name"] == "新名字"
    assert again["travel_time_s"] == first["travel_time_s"]
    store.update("stations", lambda g: (g.loc[g["id"] != first["id"]], None))
    after = small.nearest(116.8320, 40.3700, mode="walk", k=1, stations=ANY_HOURS)["results"][0]
    assert after["id"] != first["id"]


def test_the_district_boundary_follows_the_store(small):
    # `flask district set` rewrites the boundary layer: the next answer flags by the new one.
    import geopandas as gpd
    import shapely

    assert (
        small.nearest(116.8320, 40.3700, mode="walk", stations=ANY_HOURS)["origin"][
            "outside_district"
        ]
        is False
    )

    def far_away(layer: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, None]:
        return layer.set_geometry([shapely.box(0, 0, 1, 1)], crs=layer.crs), None

    small.store.update("boundary", far_away)
    r = small.nearest(116.8320, 40.3700, mode="walk", stations=ANY_HOURS)
    assert r["origin"]["outside_district"] is True
