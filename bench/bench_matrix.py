"""Travel-matrix benchmark: the caravan's matrix between points on the default (schematic
Miyun) drive network, beside the former full Dijkstra and pandana's contraction hierarchies.

Run: ``.venv/bin/python bench/bench_matrix.py [--repeat 7] [--city 100000]``.

For 51 points (the depot and bench_tour.py's 50-stop sample) and 201 points (the depot and
200 random points near the roads), in the same process, each the median of ``--repeat``
runs:

- ``scipy full`` (baseline): the former matrix, kept here only: the whole network plus an
  exit and an entry node per point as one CSR matrix, ``scipy.sparse.csgraph.dijkstra``
  from every exit over the whole network, road metres by walking the predecessors;
- ``search``: :func:`geoservice.tours.routing.travel_matrix` (snap + one compiled Dijkstra
  per point that stops once every other point is settled, metres summed alongside), and
  its stages: snap, pieces (the search's input) and the search itself;
- ``pandana CH``: pandana 0.8's contraction hierarchies (bench-only extra,
  bench/requirements.txt) on the same nodes, edges and travel times, queried for every
  origin/destination pair of the points' nodes (the road node each point leaves by, as
  bench_tour.py's networkx baseline; a node-to-node table, no snapping, no metres); its
  precomputation is printed on a line of its own.

Every line gives the ratio to the baseline and to pandana's query. The new matrix is
checked against the baseline (times and metres), pandana's table against a node-to-node
scipy table. ``--city N`` repeats the 51-point case on a synthetic city of about ``N``
walk nodes (bench/_synthetic.py; its drive network is smaller).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from _common import load_average
from scipy.sparse import csgraph

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geoservice.network import (  # noqa: E402
    Network,
    NetworkLibrary,
    build_from_osm,
    hierarchy,
)
from geoservice.network import paths as network_paths  # noqa: E402
from geoservice.network.graph import lightest  # noqa: E402
from geoservice.network.points import Pieces, RoadPoints  # noqa: E402
from geoservice.store import GpkgStore  # noqa: E402
from geoservice.tours import planner as tour  # noqa: E402
from geoservice.tours import routing  # noqa: E402
from geoservice.tours.request import TourRequest  # noqa: E402
from geoservice.web import DEFAULT_GPKG, DEFAULT_NETWORK  # noqa: E402

# -- the baseline: the former matrix (full scipy Dijkstra on an augmented CSR graph) ----------

_EPS = 1e-6


def scipy_full(net: Network, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The former ``travel_matrix``: (P, P) seconds and metres (snap, augmented graph, one
    csgraph.dijkstra call from every exit node, predecessor walks for the metres)."""
    points = net.snap(lon, lat)
    p = len(lon)
    routed = np.flatnonzero(points.on_network)
    time_s = np.full((p, p), np.inf)
    dist_m = np.full((p, p), np.inf)
    if len(routed):
        graph, length = _augment(points, routed)
        n = net.n_nodes
        exits, entries = n + 2 * routed, n + 2 * routed + 1
        dist, pred = csgraph.dijkstra(graph, directed=True, indices=exits, return_predecessors=True)
        access = points.access_s[routed]
        time_s[np.ix_(routed, routed)] = dist[:, entries] + access[:, None] + access[None, :]
        road = _path_lengths(graph, length, pred, exits, entries)
        am = points.distance_m[routed]
        dist_m[np.ix_(routed, routed)] = road + am[:, None] + am[None, :]
    np.fill_diagonal(time_s, 0.0)
    np.fill_diagonal(dist_m, 0.0)
    return time_s, dist_m


def settled_share(net: Network, lon: np.ndarray, lat: np.ndarray) -> float:
    """The mean share of the network's nodes a stopping search settles: those no farther
    from its point than the farthest point it reaches (full searches from the exits)."""
    points = net.snap(lon, lat)
    routed = np.flatnonzero(points.on_network)
    graph, _ = _augment(points, routed)
    n = net.n_nodes
    dist = csgraph.dijkstra(graph, indices=n + 2 * routed)
    to_points = dist[:, n + 2 * routed + 1]
    np.fill_diagonal(to_points, 0.0)  # not its own target
    radius = to_points.max(axis=1)  # inf when some point is out of reach: all it reaches
    nodes = dist[:, :n]
    return float((np.isfinite(nodes) & (nodes <= radius[:, None])).mean())


def _augment(points: RoadPoints, routed: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """The network's CSR graph plus an exit ``n + 2i`` and an entry ``n + 2i + 1`` node per
    routed point, and every slot's metres."""
    net = points.net
    n = net.n_nodes
    size = n + 2 * (int(routed.max()) + 1)
    base = net.matrix().tocoo()
    base_edge = net.csr_edge()
    rows, cols = [base.row.astype(np.int64)], [base.col.astype(np.int64)]
    times, lengths = [base.data], [net.edge_length[base_edge]]
    on = points.take(routed)
    out, inn = n + 2 * routed, n + 2 * routed + 1

    def add(row: np.ndarray, col: np.ndarray, pieces: Pieces) -> None:
        rows.append(np.asarray(row))
        cols.append(np.asarray(col))
        times.append(on.cost(pieces, net.edge_time))
        lengths.append(on.cost(pieces, net.edge_length))

    leave, reach = on.leaving(), on.reaching()
    add(out[leave.src], leave.dst, leave)
    add(reach.src, inn[reach.dst], reach)
    along = on.along(on)
    along = along.take(along.src != along.dst)
    add(out[along.src], inn[along.dst], along)
    row, col = np.concatenate(rows), np.concatenate(cols)
    time_ = np.maximum(np.concatenate(times), _EPS)
    keep = lightest(row, col, time_)
    row, col = row[keep], col[keep]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(row, minlength=size))])
    matrix = sp.csr_matrix((time_[keep], col, indptr), shape=(size, size))
    return matrix, np.concatenate(lengths)[keep]


def _path_lengths(
    graph: sp.csr_matrix,
    length: np.ndarray,
    pred: np.ndarray,
    sources: np.ndarray,
    entries: np.ndarray,
) -> np.ndarray:
    """Road metres along every shortest path, all predecessor chains walked at once."""
    size = graph.shape[0]
    row = np.repeat(np.arange(size), np.diff(graph.indptr)).astype(np.int64)
    keys = row * size + graph.indices
    s = len(sources)
    r = np.repeat(np.arange(s), len(entries))
    c = np.tile(np.arange(len(entries)), s)
    total = np.zeros(len(r))
    cur = entries[c].astype(np.int64)
    prev = pred[r, cur].astype(np.int64)
    active = np.flatnonzero(prev >= 0)
    total[prev < 0] = np.inf
    for _ in range(pred.shape[1]):
        if not len(active):
            break
        cur_a, prev_a = cur[active], prev[active]
        total[active] += length[np.searchsorted(keys, prev_a * size + cur_a)]
        cur[active] = prev_a
        done = prev_a == sources[r[active]]
        active = active[~done]
        prev[active] = pred[r[active], cur[active]]
    return total.reshape(s, len(entries))


# -- pandana -------------------------------------------------------------------------------


def pandana_network(net: Network) -> tuple[object, float]:
    """pandana's Network on the same nodes and (fastest parallel) edges, and its build
    (contraction) seconds."""
    import pandana
    import pandas as pd

    coo = net.matrix().tocoo()
    nodes = pd.DataFrame({"x": net.node_xy[:, 0], "y": net.node_xy[:, 1]})
    edges = pd.DataFrame({"from": coo.row, "to": coo.col, "time": coo.data})
    started = time.perf_counter()
    pnet = pandana.Network(
        nodes["x"], nodes["y"], edges["from"], edges["to"], edges[["time"]], twoway=False
    )
    return pnet, time.perf_counter() - started


def point_nodes(net: Network, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """The road node each point leaves by (its road's ``v``), as bench_tour's networkx
    baseline."""
    snap = net.snap(lon, lat, with_points=False)
    return net.edge_v[snap.edge].astype(np.int64)


def pandana_table(pnet: object, nodes: np.ndarray) -> np.ndarray:
    """pandana's (P, P) table of seconds between ``nodes`` (every pair one CH query)."""
    orig = np.repeat(nodes, len(nodes))
    dest = np.tile(nodes, len(nodes))
    out = pnet.shortest_path_lengths(orig, dest, imp_name="time")  # type: ignore[attr-defined]
    return np.asarray(out, dtype=float).reshape(len(nodes), len(nodes))


# -- the run -------------------------------------------------------------------------------


def median_seconds(fn: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def tour_points(store: GpkgStore) -> tuple[np.ndarray, np.ndarray]:
    """The depot and bench_tour.py's 50-stop sample (the same rng)."""
    candidates = [i for i in store.stations()["id"] if i != "CB01"]
    rng = np.random.default_rng(1000 + 50)
    ids = sorted(rng.choice(candidates, 50, replace=False).tolist())
    request = tour.resolve(TourRequest.parse({"stops": ids, "days": 3}), store)
    lon = np.array([request.depot.lon] + [s.lon for s in request.stops], dtype=float)
    lat = np.array([request.depot.lat] + [s.lat for s in request.stops], dtype=float)
    return lon, lat


def random_points(net: Network, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points within a few hundred metres of random road vertices."""
    rng = np.random.default_rng(seed)
    xy = net.geom_xy[rng.integers(0, len(net.geom_xy), n)] + rng.normal(0, 0.0015, (n, 2))
    return xy[:, 0], xy[:, 1]


def run(net: Network, lon: np.ndarray, lat: np.ndarray, pnet: object, repeat: int) -> None:
    p = len(lon)
    old_t, old_m = scipy_full(net, lon, lat)
    points = net.snap(lon, lat)
    on = points.take(points.on_network)
    r = len(on)
    _, inputs = routing._search_input(on)
    _, seeds, arcs, along = inputs
    up = hierarchy.of(net, wait=True).up  # type: ignore[union-attr]
    routing.travel_matrix(net, lon, lat)  # kernels compiled or loaded, indexes built

    def searches() -> tuple[np.ndarray, np.ndarray]:
        return routing._rows(network_paths.between, inputs, r)

    def table() -> tuple[np.ndarray, np.ndarray]:
        return hierarchy.table(up, seeds, routing._by_point(arcs, r), along)

    routed = np.flatnonzero(points.on_network)
    ok = np.isfinite(old_t[np.ix_(routed, routed)]) & ~np.eye(r, dtype=bool)
    checks = []
    for name, (t, m) in (("search", searches()), ("hierarchy", table())):
        assert np.array_equal(np.isfinite(t) & ~np.eye(r, dtype=bool), ok), name
        access_s, access_m = on.access_s, on.distance_m
        dt = t + access_s[:, None] + access_s[None, :] - old_t[np.ix_(routed, routed)]
        dm = m + access_m[:, None] + access_m[None, :] - old_m[np.ix_(routed, routed)]
        checks.append(
            f"{name} max |Δt| {np.abs(dt[ok]).max():.2g} s, |Δm| {np.abs(dm[ok]).max():.2g} m"
        )
    nodes = point_nodes(net, lon, lat)
    ref = csgraph.dijkstra(net.matrix(), indices=nodes)[:, nodes]
    ch = pandana_table(pnet, nodes)
    finite = np.isfinite(ref) & (ch < 4e9)  # pandana marks unreachable by a huge value
    dch = float(np.abs(ch[finite] - ref[finite]).max()) if finite.any() else 0.0

    base = median_seconds(lambda: scipy_full(net, lon, lat), repeat)
    query = median_seconds(lambda: pandana_table(pnet, nodes), repeat)
    between, matrix = network_paths.between, routing.travel_matrix
    rows = [
        ("scipy full (baseline)", base),
        ("matrix (hierarchy)", median_seconds(lambda: matrix(net, lon, lat), repeat)),
        ("  stage snap", median_seconds(lambda: net.snap(lon, lat), repeat)),
        ("  stage pieces", median_seconds(lambda: routing._search_input(on), repeat)),
        ("  stage hierarchy table", median_seconds(table, repeat)),
        ("  stopping searches", median_seconds(searches, repeat)),
        ("  the same, 1 thread", median_seconds(lambda: between(*inputs, 0, r), repeat)),
        ("pandana CH query", query),
    ]  # fmt: skip
    share = settled_share(net, lon, lat)
    print(f"-- {p} × {p} points, {net.n_nodes} nodes, {net.n_edges} edges; each stopping "
          f"search settles {share:.0%} of the nodes; vs baseline: {'; '.join(checks)}; "
          f"pandana vs scipy node table: max |Δt| {dch:.2g} s")  # fmt: skip
    for name, sec in rows:
        print(f"{name:24s} {sec * 1e3:9.2f} ms   ×{base / sec:7.1f} vs baseline   "
              f"{sec / query:6.2f} × pandana query")  # fmt: skip


def hierarchy_build(net: Network, label: str, times: int) -> None:
    """Time the network's hierarchy (the fastest of ``times`` builds)."""
    best = min(median_seconds(lambda: hierarchy.build(net), 1) for _ in range(times))
    print(f"hierarchy build ({label}): {best * 1e3:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--network-cache", type=Path, default=None)
    parser.add_argument("--city", type=int, default=0, help="walk nodes of a synthetic city")
    args = parser.parse_args()
    print(f"load average {load_average()}")
    work = Path(tempfile.mkdtemp(prefix="bench-matrix-"))
    library = NetworkLibrary(args.network_cache or work / "networks", DEFAULT_NETWORK)
    net = library.load(modes=("drive",))["drive"]
    store = GpkgStore(work / "live.gpkg", seed=DEFAULT_GPKG)
    pnet, pre = pandana_network(net)
    print(f"pandana CH precompute (Miyun drive): {pre * 1e3:.0f} ms")
    hierarchy_build(net, "Miyun drive", 2)
    lon, lat = tour_points(store)
    run(net, lon, lat, pnet, args.repeat)
    x, y = random_points(net, 200, seed=7)
    run(net, np.concatenate([lon[:1], x]), np.concatenate([lat[:1], y]), pnet, args.repeat)
    if args.city:
        import _synthetic as syn

        started = time.perf_counter()
        roads = syn.roads(syn.junctions_for(args.city), seed=0)
        city = build_from_osm(syn.osm_data(roads), ("drive",))["drive"]
        print(f"synthetic city drive network built in {time.perf_counter() - started:.0f} s")
        cnet, pre = pandana_network(city)
        print(f"pandana CH precompute (city drive): {pre * 1e3:.0f} ms")
        hierarchy_build(city, "city drive", 1)
        x, y = random_points(city, 51, seed=7)
        run(city, x, y, cnet, args.repeat)
    print(f"load average {load_average()}")


if __name__ == "__main__":
    main()
