"""The K-label search (geoservice/network/labels.py) against brute force (networkx, and scipy on
the graph with the origin and the stations as extra nodes):
the same k nearest stations and times, with filters that leave few stations, and routes that
follow the labels."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pytest
import scipy.sparse as sp
import shapely
from conftest import GRID_STATIONS, SMALL_OSM, stations_frame
from scipy.sparse import csgraph
from test_nearest import expected_times

from geoservice import nearest, network
from geoservice.filters import StationFilter
from geoservice.hours import TZ
from geoservice.network import MODES, labels, osm
from geoservice.network.graph import lightest


def _door_s(tree) -> np.ndarray:
    return np.asarray(tree.stations.access_s, dtype=float)


def _reference_best(tree, origin, mask: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best stations of ``mask`` (times from the origin's road to the door), by one
    scipy Dijkstra on the graph with the origin and every station as extra nodes."""
    stations, net = tree.stations, origin.net
    n, s = net.n_nodes, len(stations)
    leave, arcs, along = origin.leaving(), stations.reaching(), origin.along(stations)
    base = net.matrix().tocoo()
    o = n + s  # the origin
    rows = np.concatenate([base.row, arcs.src, np.full(len(leave) + len(along), o)])
    cols = np.concatenate([base.col, n + arcs.dst, leave.dst, n + along.dst])
    weight = np.concatenate(
        [
            base.data,
            np.maximum(stations.cost(arcs, net.edge_time), 1e-6),
            origin.cost(leave, net.edge_time),
            origin.cost(along, net.edge_time),
        ]
    )
    keep = lightest(rows, cols, weight)  # a sparse matrix would add parallel arcs up
    graph = sp.csr_matrix(
        (np.maximum(weight[keep], 1e-12), (rows[keep], cols[keep])), shape=(o + 1, o + 1)
    )
    times = csgraph.dijkstra(graph, indices=o)[n : n + s] + _door_s(tree)
    times = np.where(mask & stations.on_network, times, np.inf)
    order = np.argsort(times, kind="stable")[:k]
    order = order[np.isfinite(times[order])]
    return times[order], order


def _check_point(net, tree, found: labels.Labels, mask, lon, lat) -> None:
    """Labels and brute force give the same k best for the point, and each route through the
    labels' next nodes costs what its label says."""
    origin = net.snap([lon], [lat])
    station, time, via = labels.nearest(found, origin, tree.stations, _door_s(tree), mask)
    want_t, want_s = _reference_best(tree, origin, mask, found.k)
    assert time == pytest.approx(want_t, abs=1e-6)
    # The same stations, up to the order of equal times.
    assert sorted(zip(np.round(time, 6), station, strict=True)) == sorted(
        zip(np.round(want_t, 6), want_s, strict=True)
    )
    for s, t, v in zip(station.tolist(), time.tolist(), via.tolist(), strict=True):
        if v < 0:
            continue
        nodes = found.hops(s, v)
        matrix = net.matrix()
        road = sum(float(matrix[a, b]) for a, b in itertools.pairwise(nodes))
        arcs = tree.stations.take(np.array([s])).reaching()
        last = np.maximum(tree.stations.take(np.array([s])).cost(arcs, net.edge_time), 1e-6)
        into = float(last[arcs.src == nodes[-1]].min())
        assert _leave_cost(origin, v) + road + into + _door_s(tree)[s] == pytest.approx(t, abs=1e-6)
        start = (int(origin.edge[0]), float(origin.frac[0]), lon, lat)
        end = (int(tree.stations.edge[s]), float(tree.stations.frac[s]))
        line, _ = net.route(nodes, v, start, end)
        assert line[0] == pytest.approx([lon, lat])


def _leave_cost(origin, node: int) -> float:
    leave = origin.leaving()
    cost = origin.cost(leave, origin.net.edge_time)
    return float(cost[leave.dst == node].min())


@pytest.fixture
def small(store):
    """The engine on the small 鼓楼 grid of test_nearest, built."""
    graph = osm.read_graph(SMALL_OSM)
    nets = {m: network.build(graph, m, source="gulou_small.osm") for m in MODES}
    store.update("stations", lambda g: (stations_frame(GRID_STATIONS), None))
    engine = nearest.NearestEngine(nets, store)
    engine.refresh()
    return engine


@pytest.mark.parametrize("mode", MODES)
def test_labels_match_brute_force_on_the_small_network(small, mode):
    net = small.networks[mode]
    tree = small._routing[mode]
    found = labels.build(net, tree.stations, _door_s(tree), None, 4)
    assert found.time.shape == (net.n_nodes, 4)
    every = np.ones(len(tree.stations), dtype=bool)
    rng = np.random.default_rng(11)
    for lon, lat in zip(
        rng.uniform(116.8295, 116.8352, 30), rng.uniform(40.3676, 40.3720, 30), strict=True
    ):
        _, expected = expected_times(net, tree, lon, lat)
        origin = net.snap([lon], [lat])
        _, time, _ = labels.nearest(found, origin, tree.stations, _door_s(tree), every)
        lead = float(origin.access_s[0])
        reachable = np.sort(expected[np.isfinite(expected)])[:4]
        assert time + lead == pytest.approx(reachable, abs=1e-6)
        _check_point(net, tree, found, every, lon, lat)


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_labels_match_brute_force_on_miyun_with_filters_that_leave_few_stations(
    miyun_networks, store, mode
):
    engine = nearest.NearestEngine(miyun_networks, store)
    engine.refresh()
    net, tree, table = miyun_networks[mode], engine._routing[mode], engine._stations
    night = StationFilter(at=dt.datetime(2026, 12, 2, 2, 0, tzinfo=TZ), open_only=True)
    homes = StationFilter(kinds=("worker_home",), open_only=False)
    masks = {
        "all": np.ones(len(table.ids), dtype=bool),
        "open at 02:00": engine._mask(table, night, night.at)[0],
        "worker homes": engine._mask(table, homes, night.at)[0],
    }
    assert 0 < masks["open at 02:00"].sum() < len(table.ids) / 2
    rng = np.random.default_rng({"walk": 1, "bike": 2, "drive": 3}[mode])
    idx = rng.integers(0, len(net.geom_xy), 120)
    points = net.geom_xy[idx] + rng.normal(0, 0.002, (120, 2))
    for name, mask in masks.items():
        found = labels.build(net, tree.stations, _door_s(tree), mask, 4)
        assert np.isin(found.station[found.station >= 0], np.flatnonzero(mask)).all(), name
        for lon, lat in points[:40]:
            _check_point(net, tree, found, mask, float(lon), float(lat))
        origins = net.snap(points[:, 0], points[:, 1], with_points=False)
        _, many = labels.nearest_many(found, origins, tree.stations, _door_s(tree), mask)
        for i, (lon, lat) in enumerate(points[:40]):
            origin = net.snap([lon], [lat])
            want_t, _ = _reference_best(tree, origin, mask, 12)
            assert many[i] == pytest.approx(want_t[0] if len(want_t) else np.inf, abs=1e-6)
            got_t = labels.search(origin, tree.stations, _door_s(tree), mask, 12, limit=60.0)[1]
            assert got_t == pytest.approx(want_t, abs=1e-6), name


@pytest.mark.parametrize("mode", MODES)
def test_many_points_and_more_than_k_stations_match_brute_force(small, mode):
    net, tree = small.networks[mode], small._routing[mode]
    door = _door_s(tree)
    every = np.ones(len(tree.stations), dtype=bool)
    some = np.arange(len(tree.stations)) % 3 == 0  # a filter that leaves a third
    rng = np.random.default_rng(5)
    lon, lat = rng.uniform(116.8295, 116.8352, 60), rng.uniform(40.3676, 40.3720, 60)
    origins = net.snap(lon, lat, with_points=False)
    for mask in (every, some):
        found = labels.build(net, tree.stations, door, mask, 4)
        station, time = labels.nearest_many(found, origins, tree.stations, door, mask)
        for i in range(len(lon)):
            origin = net.snap([lon[i]], [lat[i]])
            want_t, want_s = _reference_best(tree, origin, mask, 1)
            if not len(want_t):
                assert station[i] == -1
                assert np.isinf(time[i])
                continue
            assert time[i] == pytest.approx(want_t[0], abs=1e-6)
            # k beyond the labels: a search from the point, limited by the labels' farthest.
            k = int(min(mask.sum(), 7))
            got_s, got_t, via, chains = labels.search(
                origin,
                tree.stations,
                door,
                mask,
                k,
                limit=float(found.time[found.time < np.inf].min()),
            )
            want_t, want_s = _reference_best(tree, origin, mask, k)
            assert got_t == pytest.approx(want_t, abs=1e-6)
            assert sorted(zip(np.round(got_t, 6), got_s, strict=True)) == sorted(
                zip(np.round(want_t, 6), want_s, strict=True)
            )
            for t, v, nodes in zip(got_t, via, chains, strict=True):
                if v >= 0:
                    assert nodes[0] == v
                    matrix = net.matrix()
                    road = sum(float(matrix[a, b]) for a, b in itertools.pairwise(nodes))
                    assert _leave_cost(origin, int(v)) + road <= t + 1e-9


def _edited(net, rng, xy: np.ndarray, mask: np.ndarray):
    """A random station edit: two deleted, two moved, two added, two whose filter
    membership flips; the stations after it, their mask and each earlier one's index now
    (-1: gone or changed, as the engine numbers them)."""
    s = len(xy)
    keep = np.ones(s, dtype=bool)
    keep[rng.choice(s, 2, replace=False)] = False
    renumber = np.full(s, -1)
    renumber[keep] = np.arange(keep.sum())
    moved = rng.choice(np.flatnonzero(keep), 2, replace=False)
    xy = xy.copy()
    xy[moved] += rng.normal(0, 0.003, (2, 2))
    renumber[moved] = -1
    flip = rng.choice(np.flatnonzero(renumber >= 0), 2, replace=False)
    new_mask = np.concatenate([mask[keep], rng.random(2) < 0.7])
    new_mask[renumber[flip]] = ~new_mask[renumber[flip]]
    renumber[flip] = -1
    new_xy = np.vstack([xy[keep], net.node_xy[rng.integers(0, net.n_nodes, 2)]])
    return new_xy, new_mask, np.where(mask, renumber, -1)


def _same_labels(got: labels.Labels, want: labels.Labels) -> None:
    assert np.array_equal(np.isfinite(got.time), np.isfinite(want.time))
    finite = np.isfinite(want.time)
    assert got.time[finite] == pytest.approx(want.time[finite], abs=1e-9)
    assert np.array_equal(got.station[finite], want.station[finite])
    # Every label's next node holds that station, down to the station itself.
    n = got.station.shape[0]
    y, j = np.nonzero(finite)
    nxt, s = got.next[y, j], got.station[y, j]
    at_station = nxt >= n
    assert np.array_equal(nxt[at_station] - n, s[at_station])
    holds = (got.station[nxt[~at_station]] == s[~at_station, None]).any(axis=1)
    assert holds.all()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["walk", "drive"])
def test_repair_after_station_edits_equals_labels_made_anew(miyun_networks, mode):
    net = miyun_networks[mode]
    rng = np.random.default_rng(5)
    xy = net.node_xy[rng.integers(0, net.n_nodes, 200)] + rng.normal(0, 5e-4, (200, 2))
    mask = rng.random(200) < 0.7
    points = net.snap(xy[:, 0], xy[:, 1], with_points=False)
    found = labels.build(net, points, _door_s_of(points), mask, 4)
    for _ in range(6):  # edits one after another, each repaired from the last
        xy, mask, renumber = _edited(net, rng, xy, mask)
        points = net.snap(xy[:, 0], xy[:, 1], with_points=False)
        door = _door_s_of(points)
        repaired = labels.repair(found, points, door, renumber, mask)
        assert repaired is not None
        found = labels.build(net, points, door, mask, 4)
        _same_labels(repaired, found)


def _door_s_of(points) -> np.ndarray:
    return np.asarray(points.access_s, dtype=float)


def test_an_edit_repairs_the_labels_made_before_it(small, store, monkeypatch):
    every = nearest._ANY
    for mode in MODES:
        small.nearest(116.831, 40.369, mode=mode, k=2, stations=every)
    small.settle()
    made = {mode: len(small._routing[mode].made()) for mode in MODES}
    assert all(made.values())

    def move(gdf):
        gdf.loc[0, "lon"] += 0.0008
        gdf.loc[0, "geometry"] = shapely.Point(gdf.loc[0, "lon"], gdf.loc[0, "lat"])
        gdf.loc[1, "name"] = "改名不改位置"
        return gdf, None

    store.update("stations", move)
    built = []
    monkeypatch.setattr(labels, "build", lambda *a, **kw: built.append(a) or None)
    assert small.refresh()
    for mode in MODES:
        road = small._routing[mode]
        mask = np.ones(len(road.stations), dtype=bool) & road.stations.on_network
        got = road.labels(mask)
        assert not built  # repaired, not made anew
        monkeypatch.undo()
        _same_labels(got, labels.build(road.stations.net, road.stations, road.door_s, mask, 4))
        monkeypatch.setattr(labels, "build", lambda *a, **kw: built.append(a) or None)
        assert len(road.made()) == 1
