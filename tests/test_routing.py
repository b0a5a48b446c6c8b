"""Travel matrices between snapped points against networkx Dijkstra on the small 鼓楼 network,
and the leg geometry and distances that follow the predecessors."""

from __future__ import annotations

import itertools
import math

import networkx as nx
import numpy as np
import pytest
from conftest import SMALL_OSM

from geoservice import network
from geoservice.network import hierarchy, osm, paths
from geoservice.network.points import RoadPoints
from geoservice.tours import routing


@pytest.fixture(scope="module")
def drive():
    return network.build(osm.read_graph(SMALL_OSM), "drive", source="gulou_small.osm")


def brute_force(
    net: network.Network, lon: np.ndarray, lat: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Seconds and metres between every pair of points by networkx Dijkstra on an explicit
    graph: each point is a source node with edges to its road's ends and a target node
    with edges from them; points on the same road get a direct edge along it. Independent
    of the CSR augmentation in geoservice.tours.routing."""
    snap = net.snap(lon, lat)
    G = nx.DiGraph()
    for i in range(net.n_edges):
        u, v = int(net.edge_u[i]), int(net.edge_v[i])
        _add(G, u, v, float(net.edge_time[i]), float(net.edge_length[i]))
    for i in range(len(lon)):
        _join(G, net, snap, i)
    times, metres = _dijkstra(G, snap)
    access = np.asarray(snap.distance_m)
    times += (access[:, None] + access[None, :]) / network.access_speed_ms(net.mode)
    metres += access[:, None] + access[None, :]
    np.fill_diagonal(times, 0.0)
    np.fill_diagonal(metres, 0.0)
    return times, metres


def _add(G: nx.DiGraph, a: object, b: object, w: float, m: float) -> None:
    """An edge of ``w`` seconds and ``m`` metres, unless a faster one is there."""
    if not G.has_edge(a, b) or G[a][b]["w"] > w:
        G.add_edge(a, b, w=w, m=m)


def _join(G: nx.DiGraph, net: network.Network, snap: RoadPoints, i: int) -> None:
    """Point ``i``'s exit ``("o", i)`` and entry ``("i", i)`` nodes: to and from its road's
    ends (both ways on a two-way road), and straight along it to the points after it."""
    e, f = int(snap.edge[i]), float(snap.frac[i])
    t, length = float(net.edge_time[e]), float(net.edge_length[e])
    _add(G, ("o", i), int(net.edge_v[e]), (1 - f) * t, (1 - f) * length)
    _add(G, int(net.edge_u[e]), ("i", i), f * t, f * length)
    tw = int(net.edge_twin[e])
    if tw >= 0:
        t2, l2 = float(net.edge_time[tw]), float(net.edge_length[tw])
        _add(G, ("o", i), int(net.edge_v[tw]), f * t2, f * l2)
        _add(G, int(net.edge_u[tw]), ("i", i), (1 - f) * t2, (1 - f) * l2)
    roads = [e] + ([tw] if tw >= 0 else [])
    for j in range(len(snap)):
        if j == i:
            continue
        for road in roads:
            pos_i = f if road == e else 1 - f
            pos_j = _position(net, snap, j, road)
            if pos_j is not None and pos_j >= pos_i:
                d = pos_j - pos_i
                _add(G, ("o", i), ("i", j), d * float(net.edge_time[road]),
                     d * float(net.edge_length[road]))  # fmt: skip


def _position(net: network.Network, snap: RoadPoints, j: int, road: int) -> float | None:
    """Where point ``j`` lies along ``road`` (0–1), None when on another road."""
    ej, fj = int(snap.edge[j]), float(snap.frac[j])
    if ej == road:
        return fj
    if int(net.edge_twin[ej]) == road:
        return 1 - fj
    return None


def _dijkstra(G: nx.DiGraph, snap: RoadPoints) -> tuple[np.ndarray, np.ndarray]:
    """Seconds and road metres from every exit to every other entry, both within
    MAX_SNAP_M of a road (inf otherwise)."""
    p = len(snap)
    near = np.asarray(snap.distance_m) <= network.MAX_SNAP_M
    times = np.full((p, p), np.inf)
    metres = np.full((p, p), np.inf)
    for i in np.flatnonzero(near).tolist():
        dist, paths = nx.single_source_dijkstra(G, ("o", i), weight="w")
        for j in range(p):
            if j != i and ("i", j) in dist and near[j]:
                times[i, j] = dist[("i", j)]
                metres[i, j] = sum(G[a][b]["m"] for a, b in itertools.pairwise(paths[("i", j)]))
    return times, metres


def _points(rng, n):
    lon = rng.uniform(116.8292, 116.8356, n)
    lat = rng.uniform(40.3674, 40.3722, n)
    # Two on the one-way 北街 (eastbound), one behind the other; two on the same two-way
    # 中街; one on the isolated service road; one on the unreachable motorway; one far away.
    extra = [
        (116.8310, 40.37161), (116.8340, 40.37161), (116.8304, 40.36981), (116.8344, 40.36981),
        (116.8315, 40.3760), (116.8420, 40.3700), (116.9200, 40.4500),
    ]  # fmt: skip
    return np.concatenate([lon, [x for x, _ in extra]]), np.concatenate(
        [lat, [y for _, y in extra]]
    )


def test_matrix_matches_networkx_on_random_points(drive):
    lon, lat = _points(np.random.default_rng(11), 30)
    m = routing.travel_matrix(drive, lon, lat)
    times, metres = brute_force(drive, lon, lat)
    assert np.array_equal(np.isfinite(m.time_s), np.isfinite(times))
    ok = np.isfinite(times)
    assert np.abs(m.time_s[ok] - times[ok]).max() < 1e-3
    assert np.abs(m.distance_m[ok] - metres[ok]).max() < 1e-2
    assert (m.time_s[ok & ~np.eye(len(lon), dtype=bool)] > 0).all()


def test_one_way_and_same_road(drive):
    lon, lat = _points(np.random.default_rng(1), 0)
    m = routing.travel_matrix(drive, lon, lat)
    west, east = 0, 1  # on the one-way street, eastbound
    straight = m.distance_m[west, east] - m.snap_m[west] - m.snap_m[east]
    assert straight == pytest.approx(
        abs(lon[east] - lon[west]) * 111_320 * math.cos(math.radians(40.3716)), rel=0.02
    )
    assert m.time_s[east, west] > 2 * m.time_s[west, east]  # must go around the block
    a, b = 2, 3  # same two-way street: straight along it both ways
    assert m.time_s[a, b] == pytest.approx(m.time_s[b, a], rel=1e-6)


def test_reachability_and_far_points(drive):
    lon, lat = _points(np.random.default_rng(1), 0)
    m = routing.travel_matrix(drive, lon, lat)
    service, motorway, far = 4, 5, 6
    assert not m.on_network[far]
    assert m.snap_m[far] > network.MAX_SNAP_M
    assert np.isinf(m.time_s[far, :far]).all()
    assert np.isinf(m.time_s[:far, far]).all()
    reach = m.reachable(0)
    assert reach[[0, 1, 2, 3]].all()
    assert not reach[service]
    assert not reach[motorway]
    assert not reach[far]
    with pytest.raises(ValueError, match="not reachable"):
        m.leg(0, service)


def _polyline_m(coords: np.ndarray) -> float:
    lon, lat = np.radians(coords[:, 0]), np.radians(coords[:, 1])
    dlon, dlat = np.diff(lon), np.diff(lat)
    a = np.sin(dlat / 2) ** 2 + np.cos(lat[:-1]) * np.cos(lat[1:]) * np.sin(dlon / 2) ** 2
    return float((2 * 6_371_009 * np.arcsin(np.sqrt(a))).sum())


def test_leg_geometry_follows_the_roads(drive):
    lon, lat = _points(np.random.default_rng(5), 12)
    m = routing.travel_matrix(drive, lon, lat)
    for i in range(12):
        for j in range(12):
            leg = m.leg(i, j)
            assert leg.coords[0] == pytest.approx([lon[i], lat[i]])
            assert leg.coords[-1] == pytest.approx([lon[j], lat[j]])
            assert leg.distance_m == pytest.approx(m.distance_m[i, j], abs=1e-6)
            assert leg.time_s == m.time_s[i, j]
            if i != j:
                # The drawn line is as long as the metres reported (within 1 %).
                assert _polyline_m(leg.coords) == pytest.approx(leg.distance_m, rel=0.01, abs=1.0)
                # Every vertex between the access lanes lies on the road network.
                inner = leg.coords[2:-2]
                if len(inner):
                    d = drive.snap(inner[:, 0], inner[:, 1]).distance_m
                    assert d.max() < 0.5


def test_empty_and_single_point(drive):
    m = routing.travel_matrix(drive, [116.8312], [40.3698])
    assert m.time_s.shape == (1, 1)
    assert m.time_s[0, 0] == 0
    assert m.leg(0, 0).distance_m == 0


def test_no_point_on_the_network(drive):
    # Nothing routed: no graph is built, and every leg between two points is refused.
    m = routing.travel_matrix(drive, [116.9200, 116.9300], [40.4500, 40.4600])
    assert not m.on_network.any()
    assert np.isinf(m.time_s[0, 1])
    assert np.isinf(m.distance_m[0, 1])
    assert m.distance_m[0, 0] == 0
    assert m.leg(1, 1).distance_m == 0
    with pytest.raises(ValueError, match="not reachable"):
        m.leg(0, 1)


def _check_against_brute_force(net: network.Network, lon: np.ndarray, lat: np.ndarray) -> None:
    """The hierarchy's table and the stopping searches both give networkx's times and
    metres, and every leg is the path the matrix timed."""
    assert hierarchy.of(net, wait=True) is not None
    m = routing.travel_matrix(net, lon, lat)  # from the hierarchy
    times, metres = brute_force(net, lon, lat)
    ok = np.isfinite(times)
    routed = np.flatnonzero(m.on_network)
    access_s = m.snap_m[routed] / network.access_speed_ms(net.mode)
    access_m = m.snap_m[routed]
    seconds, road_m = paths.between(*m._inputs, 0, len(routed))
    searched_t, searched_m = np.full_like(times, np.inf), np.full_like(times, np.inf)
    searched_t[np.ix_(routed, routed)] = seconds + access_s[:, None] + access_s[None, :]
    searched_m[np.ix_(routed, routed)] = road_m + access_m[:, None] + access_m[None, :]
    np.fill_diagonal(searched_t, 0.0)
    np.fill_diagonal(searched_m, 0.0)
    for got_t, got_m in ((m.time_s, m.distance_m), (searched_t, searched_m)):
        assert np.array_equal(np.isfinite(got_t), ok)
        assert np.abs(got_t[ok] - times[ok]).max() < 1e-3
        assert np.abs(got_m[ok] - metres[ok]).max() < 1e-2
    for i, j in itertools.product(range(0, len(lon), 3), range(1, len(lon), 4)):
        if ok[i, j] and i != j:
            leg = m.leg(i, j)
            assert leg.distance_m == pytest.approx(m.distance_m[i, j], abs=1e-6)
            assert _polyline_m(leg.coords) == pytest.approx(leg.distance_m, rel=0.01, abs=1.0)


def test_stopping_searches_match_networkx_on_the_small_network(drive):
    # Many points on few roads: same-road pairs both ways, the one-way street, points at
    # nodes (zero-length pieces), a duplicate point, unreachable and far points.
    rng = np.random.default_rng(23)
    lon, lat = _points(rng, 25)
    nodes = drive.node_xy[rng.integers(0, drive.n_nodes, 4)]
    lon = np.concatenate([lon, nodes[:, 0], lon[:1]])
    lat = np.concatenate([lat, nodes[:, 1], lat[:1]])
    _check_against_brute_force(drive, lon, lat)


@pytest.mark.slow
def test_stopping_searches_match_networkx_on_miyun(miyun_networks):
    net = miyun_networks["drive"]
    rng = np.random.default_rng(3)
    xy = net.geom_xy[rng.integers(0, len(net.geom_xy), 24)] + rng.normal(0, 0.002, (24, 2))
    # Two points on one road (both ways along it), and one far from every road.
    e = int(net.road_edges()[rng.integers(0, len(net.road_edges()))])
    road = net.edge_coords(e)
    extra = np.vstack([road[0] * 0.7 + road[-1] * 0.3, road[0] * 0.4 + road[-1] * 0.6])
    lon = np.concatenate([xy[:, 0], extra[:, 0], [net.geom_xy[:, 0].max() + 0.5]])
    lat = np.concatenate([xy[:, 1], extra[:, 1], [net.geom_xy[:, 1].mean()]])
    _check_against_brute_force(net, lon, lat)


def test_rows_shared_among_threads_are_the_single_search_rows(drive):
    lon, lat = _points(np.random.default_rng(8), 30)
    m = routing.travel_matrix(drive, lon, lat)
    r = int(m.on_network.sum())
    assert r > 2 * routing._ROWS_PER_THREAD  # more than one thread where there are
    shared = routing._rows(paths.between, m._inputs, r)
    alone = paths.between(*m._inputs, 0, r)
    for a, b in zip(shared, alone, strict=True):
        assert a.shape == (r, r)
        assert np.array_equal(a, b)


def test_the_hierarchy_is_built_in_the_background_meanwhile_the_searches_answer():
    net = network.build(osm.read_graph(SMALL_OSM), "drive", source="gulou_small.osm")
    lon, lat = _points(np.random.default_rng(4), 10)
    first = routing.travel_matrix(net, lon, lat)  # starts the build, answered by searches
    built = hierarchy.of(net, wait=True)
    assert built is not None
    assert hierarchy.of(net) is built  # once per network
    again = routing.travel_matrix(net, lon, lat)
    ok = np.isfinite(first.time_s)
    assert np.array_equal(np.isfinite(again.time_s), ok)
    assert np.abs(again.time_s[ok] - first.time_s[ok]).max() < 1e-9
    assert np.abs(again.distance_m[ok] - first.distance_m[ok]).max() < 1e-6
    # Every node has a rank, each once; edges climb in each direction's table.
    assert np.array_equal(np.sort(built.rank), np.arange(net.n_nodes))
    fwd, bwd = built.up
    for indptr, to, _, _ in (fwd, bwd):
        src = np.repeat(np.arange(net.n_nodes), np.diff(indptr))
        assert (built.rank[to] > built.rank[src]).all()
