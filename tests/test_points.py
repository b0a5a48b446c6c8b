"""One road-point model: every job places points on the roads the same way, measures the
same point at the same distance and times its way to the road at the mode's one access
speed; one watch follows the active network for every engine."""

from __future__ import annotations

import math
import os
import shutil

import geopandas as gpd
import numpy as np
import pytest
import shapely
from conftest import GRID_STATIONS, SMALL_OSM, assert_bilingual_error, make_app, stations_frame
from test_nearest import ANY_HOURS

from geoservice import crs
from geoservice.coverage import CoverageEngine
from geoservice.errors import TourError, ValidationError
from geoservice.network import (
    ACCESS_KMH,
    FAR_M,
    MAX_SNAP_M,
    WALK_KMH,
    Network,
    access_speed_ms,
    builder,
    points,
)
from geoservice.store import catalog
from geoservice.tours import routing
from geoservice.tours.request import TourRequest
from geoservice.web import COVERAGE_KEY, ENGINE_KEY, PLANNER_KEY, STORE_KEY

HELSINKI = (24.94, 60.17)


def _east_of(net, metres: float) -> tuple[float, float]:
    """A point ``metres`` east of the network's easternmost road vertex."""
    lon, lat = net.geom_xy[np.argmax(net.geom_xy[:, 0])]
    return float(lon + metres / (111_320 * math.cos(math.radians(lat)))), float(lat)


@pytest.fixture
def grid_app(tmp_path):
    return make_app(tmp_path, RATELIMIT_ENABLED=False)


@pytest.mark.parametrize("where", ["helsinki", "5 km east"])
def test_a_far_point_is_as_far_from_every_job(grid_app, where):
    engine = grid_app.extensions[ENGINE_KEY].get()
    net = engine.networks["drive"]
    lon, lat = HELSINKI if where == "helsinki" else _east_of(net, 5000)
    snapped = net.snap([lon], [lat])
    d = float(snapped.distance_m[0])
    if where == "helsinki":
        # Beyond FAR_M: the great-circle distance to the nearest road vertex.
        assert bool(snapped.far[0])
        every = crs.residual_m(lon, lat, net.geom_xy[:, 0], net.geom_xy[:, 1])
        assert d == pytest.approx(every.min(), rel=1e-12)
        assert 6_000_000 < d < 6_700_000
    else:
        # Near: exact in the network's metric CRS.
        assert not snapped.far[0]
        assert d == pytest.approx(5000, rel=0.01)
    # The routing engine: the 422 of /api/nearest and the batch answer.
    r = grid_app.test_client().get(f"/api/nearest?lon={lon}&lat={lat}&mode=drive")
    body = assert_bilingual_error(r, 422, "lon")
    assert f"{d / 1000:.1f} km" in body["message_zh"]
    assert f"{d:.0f} m" in body["message_en"]
    assert engine.batch(np.array([lon]), np.array([lat]), mode="drive")["snap_distance_m"][0] == d
    # The caravan's travel matrix and the planner's refusal of a depot there.
    assert routing.travel_matrix(net, [lon], [lat]).snap_m[0] == d
    store = grid_app.extensions[STORE_KEY]
    store.update("stations", lambda g: (stations_frame([*GRID_STATIONS, (lon, lat)]), None))
    planner = grid_app.extensions[PLANNER_KEY]
    assert planner.network() is net
    with pytest.raises(TourError) as info:
        planner.plan(TourRequest.parse({"depot": "T05", "stops": ["T00"], "days": 1}), save=False)
    assert f"{d / 1000:.1f} km" in info.value.zh
    assert f"{d:.0f} m" in info.value.en
    # A station there is as far from its road for the routing engine.
    engine.refresh()
    assert engine._routing["drive"].stations.distance_m[5] == d


def test_the_import_measures_outside_points_by_the_same_rule(store, tmp_path):
    boundary = store.read("boundary").geometry.union_all()
    ring = shapely.get_coordinates(shapely.boundary(boundary))
    lon, lat = HELSINKI
    far = float(crs.residual_m(lon, lat, ring[:, 0], ring[:, 1]).min())
    # Near the district: exact in its UTM zone, as measured before (UTM 50N for Miyun).
    near_lon, near_lat = 116.40, 39.90
    utm = gpd.GeoSeries.from_xy([near_lon], [near_lat], crs=4326).to_crs(32650)
    near = float(utm.distance(gpd.GeoSeries([boundary], crs=4326).to_crs(32650).boundary)[0])
    got = points.distance_to(shapely.boundary(boundary), [lon, near_lon], [lat, near_lat])
    assert got[0] == pytest.approx(far, rel=1e-12)
    assert got[1] == pytest.approx(near, abs=1e-6)
    path = tmp_path / "far.csv"
    path.write_text(
        f"名称,经度,纬度,开放时间\n远方,{lon},{lat},24/7\n近郊,{near_lon},{near_lat},24/7\n",
        encoding="utf-8",
    )
    with pytest.raises(ValidationError) as info:
        catalog.import_file(store, "stations", path)
    messages = [e.message for e in info.value.errors]
    assert any(f"区界外 {far / 1000:.1f} km" in m for m in messages), messages
    assert any(f"区界外 {near / 1000:.1f} km" in m for m in messages), messages


def _exact(net, lon, lat) -> np.ndarray:
    """Distance from every point to every road by shapely (brute force)."""
    x, y = net.to_metric(lon, lat)
    lines = [
        shapely.linestrings(np.column_stack(net.to_metric(*net.edge_coords(e).T)))
        for e in range(net.n_edges)
    ]
    return shapely.distance(np.array(lines)[None, :], shapely.points(x, y)[:, None])


def test_points_lie_on_the_roads_own_edges_exactly(grid_app):
    nets = grid_app.extensions[ENGINE_KEY].get().networks
    rng = np.random.default_rng(5)
    lon = rng.uniform(116.826, 116.838, 300)
    lat = rng.uniform(40.365, 40.375, 300)
    for net in nets.values():
        p = net.snap(lon, lat)
        assert np.isin(p.edge, net.road_edges()).all()
        twin = net.edge_twin[net.road_edges()]
        assert ((twin < 0) | (twin > net.road_edges())).all()
        exact = _exact(net, lon, lat)
        assert np.abs(p.distance_m - exact.min(axis=1)).max() < 1e-6
        # The point drawn at frac along its edge (interpolated in lon/lat) is about as far
        # from the origin as reported.
        x, y = net.to_metric(lon, lat)
        sx, sy = net.to_metric(p.lon, p.lat)
        assert np.abs(np.hypot(sx - x, sy - y) - p.distance_m).max() < 1.0
        assert (p.on_network == (p.distance_m <= MAX_SNAP_M)).all()
        assert p.access_s == pytest.approx(p.distance_m / access_speed_ms(net.mode))


def test_the_snapping_index_is_mapped_with_the_network_and_exact_far_off(grid_app, tmp_path):
    nets = grid_app.extensions[ENGINE_KEY].get().networks
    rng = np.random.default_rng(8)
    # On the roads, in the gaps between them, and up to ~20 km off the little grid, where
    # the search crosses hundreds of empty rings.
    lon = np.concatenate([rng.uniform(116.826, 116.838, 100), rng.uniform(116.6, 117.05, 100)])
    lat = np.concatenate([rng.uniform(40.365, 40.375, 100), rng.uniform(40.2, 40.55, 100)])
    for mode, net in nets.items():
        net.save(tmp_path / mode)
        loaded = Network.load(tmp_path / mode)
        index = loaded._index  # mapped at load, never built in this process
        assert index is not None
        assert all(isinstance(getattr(index, a), np.memmap) for a in ("pa", "cells"))
        p = loaded.snap(lon, lat)
        assert not p.far.any()
        assert np.abs(p.distance_m - _exact(loaded, lon, lat).min(axis=1)).max() < 1e-6
        assert np.array_equal(p.edge, net.snap(lon, lat).edge)


def test_a_point_at_a_node_takes_the_road_of_the_nearest_piece_midpoint(grid_app):
    """Every road meeting at a node is as near to a point at the node: the road whose
    piece has the nearer midpoint wins (the KD-tree's order before the grid), whatever
    order the grid's cells are read in."""
    for net in grid_app.extensions[ENGINE_KEY].get().networks.values():
        index = net.snap_index()
        pa, pb = np.asarray(index.pa), np.asarray(index.pb)
        lon, lat = net.node_xy[:, 0], net.node_xy[:, 1]
        x, y = net.to_metric(lon, lat)
        got = net.snap(lon, lat, with_points=False)
        for i in range(net.n_nodes):
            p = np.array([x[i], y[i]])
            ab = pb - pa
            t = np.clip(((p - pa) * ab).sum(1) / np.maximum((ab * ab).sum(1), 1e-300), 0, 1)
            d = np.hypot(*(p - (pa + ab * t[:, None])).T)
            mid = np.hypot(*(p - (pa + ab / 2)).T)
            near = np.flatnonzero(d <= d.min())
            want = near[np.lexsort((near, mid[near]))][0]
            assert got.edge[i] == index.p_edge[want]


def test_pieces_are_the_partial_edge_costs(grid_app):
    net = grid_app.extensions[ENGINE_KEY].get().networks["drive"]
    rng = np.random.default_rng(2)
    # Many points on few roads, so that points share roads.
    lon = np.concatenate([rng.uniform(116.8300, 116.8345, 60), [116.8310, 116.8340]])
    lat = np.concatenate([np.full(60, 40.36981), [40.37161, 40.37161]])
    p = net.snap(lon, lat, with_points=False)
    t, e, f, tw = net.edge_time, p.edge, p.frac, p.twin
    leave, reach = p.leaving(), p.reaching()
    expected_leave, expected_reach = set(), set()
    for i in range(len(p)):
        expected_leave.add((i, int(net.edge_v[e[i]]), round((1 - f[i]) * t[e[i]], 9)))
        expected_reach.add((int(net.edge_u[e[i]]), i, round(f[i] * t[e[i]], 9)))
        if tw[i] >= 0:
            expected_leave.add((i, int(net.edge_u[e[i]]), round(f[i] * t[tw[i]], 9)))
            expected_reach.add((int(net.edge_v[e[i]]), i, round((1 - f[i]) * t[tw[i]], 9)))
    for pieces, expected in ((leave, expected_leave), (reach, expected_reach)):
        got = zip(pieces.src, pieces.dst, p.cost(pieces, t).round(9), strict=True)
        assert {(int(a), int(b), float(c)) for a, b, c in got} == expected
    along = p.along(p)
    got = {
        (int(i), int(j)): float(c)
        for i, j, c in zip(along.src, along.dst, p.cost(along, t), strict=True)
    }
    for i in range(len(p)):
        for j in range(len(p)):
            if e[i] != e[j] or (f[j] < f[i] and tw[i] < 0):
                assert (i, j) not in got
            else:
                w = t[e[i]] if f[j] >= f[i] else t[tw[i]]
                assert got[(i, j)] == pytest.approx(abs(f[j] - f[i]) * w)
    assert any(a != b for a, b in got)  # some points do share a road


def test_access_speed_is_the_modes_for_every_job(grid_app):
    assert builder.WALK_KMH is WALK_KMH  # the walk network's speed is the walking speed
    assert ACCESS_KMH == {"walk": 4.5, "bike": 4.5, "drive": 15.0}
    engine = grid_app.extensions[ENGINE_KEY].get()
    lon, lat = 116.8300, 40.3700  # off the roads, in the middle of a block
    for mode in ("walk", "drive"):
        got = engine.nearest(lon, lat, mode=mode, k=1, stations=ANY_HOURS)
        res = got["results"][0]
        ways = got["origin"]["snap_distance_m"] + res["station_snap_distance_m"]
        assert res["travel_time_s"] - res["network_time_s"] == pytest.approx(
            ways / (ACCESS_KMH[mode] / 3.6), abs=0.15
        )
    net = engine.networks["drive"]
    m = routing.travel_matrix(net, [lon, 116.8340], [lat, 40.37161])
    p = net.snap([lon, 116.8340], [lat, 40.37161])
    assert m.time_s[0, 1] > p.distance_m.sum() / (15 / 3.6) > 0
    store = grid_app.extensions[STORE_KEY]
    store.update("stations", lambda g: (stations_frame(GRID_STATIONS), None))
    plan = grid_app.extensions[PLANNER_KEY].plan(
        TourRequest.parse({"depot": "T00", "stops": ["T02"], "days": 1}), save=False
    )
    assert plan["result"]["parameters"]["access_kmh"] == 15.0


def test_snaps_kept_with_the_network_are_shared_and_read_only(grid_app):
    engine = grid_app.extensions[ENGINE_KEY].get()
    coverage = grid_app.extensions[COVERAGE_KEY].get()
    assert isinstance(coverage, CoverageEngine)
    coverage.compute({"mode": "walk", "minutes": "5"}, geometry=False)
    stations = coverage._stations.snap(coverage.networks["walk"])
    assert engine._routing["walk"].stations is stations  # one snap for both engines
    assert not stations.edge.flags.writeable
    net = engine.networks["walk"]
    n = len(stations)
    moved = net.snap(np.full(n, 116.83), np.full(n, 40.37), with_points=False, cache=True)
    assert moved is not stations
    assert net.snap(np.full(n, 116.83), np.full(n, 40.37), with_points=False, cache=True) is moved


def test_one_watch_follows_the_active_network_for_every_engine(tmp_path):
    source = tmp_path / "net.osm"
    shutil.copyfile(SMALL_OSM, source)
    app = make_app(tmp_path, NETWORK_DEFAULT=str(source))
    routing_engine, coverage, planner = (
        app.extensions[k] for k in (ENGINE_KEY, COVERAGE_KEY, PLANNER_KEY)
    )
    first = routing_engine.get()
    assert routing_engine.get() is first
    assert coverage.get() is coverage.get()
    assert coverage.get().networks["drive"] is first.networks["drive"] is planner.network()
    os.utime(source, ns=(1, 1))  # the active network changes, as after an import
    second = routing_engine.get()
    assert second is not first
    assert coverage.get().networks["drive"] is second.networks["drive"] is planner.network()
    assert planner.network() is not first.networks["drive"]
    assert app.extensions[STORE_KEY] is second.store


def test_the_watch_keeps_the_previous_value_when_told(tmp_path):
    from geoservice.network import NetworkLibrary
    from geoservice.network.library import Watched

    source = tmp_path / "net.osm"
    shutil.copyfile(SMALL_OSM, source)
    library = NetworkLibrary(tmp_path / "networks", source)
    calls = []

    def make(nets, previous):
        calls.append(previous)
        return None if previous is not None and len(calls) < 4 else {"nets": nets}

    watched = Watched(library, make, modes=("walk",))
    value = watched.get()
    assert watched.get() is value
    assert len(calls) == 1
    os.utime(source, ns=(1, 1))
    assert watched.get() is value  # kept, and asked again on the next call
    assert watched.get() is value
    assert not watched.current()
    assert watched.get() is not value
    assert len(calls) == 4
    assert watched.current()
    assert FAR_M > MAX_SNAP_M
