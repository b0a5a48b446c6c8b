"""Nearest-station benchmark on the default (schematic Miyun) network.

Run: ``.venv/bin/python bench/bench_nearest.py [--queries 1000] [--network FILE]``.

Prints, each beside a baseline measured in the same process and the ratio:

- network build from OSM (cold cache) and load from the cache (memory-mapped ``.npy`` files);
- station precomputation (reverse Dijkstra rows for every station, all modes);
- in-process single query latency p50/p99 (k=3, route geometry included) vs. the
  baseline per query: ``osmnx.distance.nearest_nodes`` + networkx single-source Dijkstra;
- HTTP ``GET /api/nearest`` p50/p99 through the Flask test client;
- ``POST /api/nearest/batch`` style throughput for 10,000 origins (origins/s).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

import networkx as nx
import numpy as np
import osmnx as ox
from _common import networkx_graph, percentile_ms

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geoservice import network
from geoservice.errors import ParameterError
from geoservice.filters import StationFilter
from geoservice.web import DEFAULT_NETWORK, ENGINE_KEY, create_app

#: Warm stations whatever their hours.
ANY_HOURS = StationFilter(open_only=False)


def _origins(net: network.Network, n: int, rng: np.random.Generator) -> np.ndarray:
    """Random points within ~300 m of random road vertices (where workers stand)."""
    idx = rng.integers(0, len(net.geom_xy), n)
    jitter = rng.normal(0, 0.0015, (n, 2)) * [1.3, 1.0]
    return net.geom_xy[idx] + jitter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--baseline-queries", type=int, default=30)
    parser.add_argument("--network", type=Path, default=DEFAULT_NETWORK)
    args = parser.parse_args()
    rng = np.random.default_rng(42)

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            {
                "STORE_PATH": f"{tmp}/live.gpkg",
                "NETWORK_DIR": f"{tmp}/networks",
                "NETWORK_DEFAULT": str(args.network),
                "TILES": "",
            }
        )
        provider = app.extensions[ENGINE_KEY]
        library = provider.library

        t = time.perf_counter()
        nets = library.load()
        cold = time.perf_counter() - t
        # A fresh library: the app's own hands out the networks it already holds.
        t = time.perf_counter()
        network.NetworkLibrary(library.directory, library.default_source).load()
        warm = time.perf_counter() - t
        print(
            f"network {args.network.name}: "
            + ", ".join(f"{m} {n.n_nodes:,} nodes / {n.n_edges:,} edges" for m, n in nets.items())
        )
        print(
            f"build from OSM (cold cache) {cold:.1f} s; load from cache {warm:.2f} s; "
            f"ratio {cold / warm:.0f}×"
        )

        t = time.perf_counter()
        engine = provider.get()
        ready = time.perf_counter() - t
        engine.settle()  # the default filters' labels, made in the background meanwhile
        print(
            f"engine ready (cache load, {len(engine._stations.ids)} stations snapped, kernels "
            f"loaded; it answers by searches of its own until the labels are made) {ready:.2f} s;"
            f" labels of two filters × {len(nets)} modes made {time.perf_counter() - t:.2f} s"
        )
        engine.refresh()

        walk = engine.networks["walk"]
        origins = _origins(walk, args.queries, rng)
        # Keep origins that are on the network (the engine rejects > 2 km).
        for mode in ("walk", "bike", "drive"):
            samples = []
            for lon, lat in origins:
                t = time.perf_counter()
                with contextlib.suppress(ParameterError):  # too far from a road: still a query
                    engine.nearest(float(lon), float(lat), mode=mode, k=3, stations=ANY_HOURS)
                samples.append(time.perf_counter() - t)
            print(
                f"in-process query {mode:5s} (k=3, routes): "
                f"p50 {percentile_ms(samples, 50):.2f} ms, p99 {percentile_ms(samples, 99):.2f} ms"
            )
            if mode == "walk":
                engine_walk_p50 = percentile_ms(samples, 50)

        # Baseline: osmnx nearest_nodes + networkx Dijkstra per query (walk).
        G = networkx_graph(walk)
        st = engine._stations.stations
        station_nodes = ox.distance.nearest_nodes(
            G, np.array([s.lon for s in st]), np.array([s.lat for s in st])
        )
        base = []
        for lon, lat in origins[: args.baseline_queries]:
            t = time.perf_counter()
            node = ox.distance.nearest_nodes(G, float(lon), float(lat))
            dist = nx.single_source_dijkstra_path_length(G, node, weight="travel_time")
            best = sorted((dist.get(s, np.inf), s) for s in station_nodes)[:3]
            nx.shortest_path(G, node, best[0][1], weight="travel_time")
            base.append(time.perf_counter() - t)
        base_p50 = percentile_ms(base, 50)
        print(
            f"baseline walk query (osmnx nearest_nodes + networkx Dijkstra): p50 "
            f"{base_p50:.0f} ms, p99 {percentile_ms(base, 99):.0f} ms; ratio p50 "
            f"{base_p50 / engine_walk_p50:.0f}×"
        )

        client = app.test_client()
        http = []
        for lon, lat in origins[:300]:
            t = time.perf_counter()
            client.get(f"/api/nearest?lon={lon:.6f}&lat={lat:.6f}&mode=bike&k=3&open=0")
            http.append(time.perf_counter() - t)
        print(
            f"HTTP GET /api/nearest (test client, bike, k=3): "
            f"p50 {percentile_ms(http, 50):.2f} ms, p99 {percentile_ms(http, 99):.2f} ms"
        )

        many = _origins(walk, 10_000, rng)
        t = time.perf_counter()
        out = engine.batch(many[:, 0], many[:, 1], mode="walk", stations=ANY_HOURS)
        dt_batch = time.perf_counter() - t
        per_query = dt_batch / len(many)
        print(
            f"batch 10,000 origins (walk): {dt_batch * 1000:.0f} ms = "
            f"{len(many) / dt_batch:,.0f} origins/s "
            f"({np.isfinite(out['travel_time_s']).mean():.1%} reached); baseline "
            f"{1000 / base_p50:,.1f} origins/s; ratio {base_p50 / 1000 / per_query:,.0f}×"
        )
        posts = []
        for _ in range(5):  # the median of five: one answer is 1 MB of JSON, GC varies
            t = time.perf_counter()
            r = client.post("/api/nearest/batch", json={"origins": many.tolist(), "open": False})
            posts.append(time.perf_counter() - t)
            assert r.status_code == 200
        print(
            "HTTP POST /api/nearest/batch 10,000 origins: "
            f"median {percentile_ms(posts, 50):.0f} ms (of 5)"
        )


if __name__ == "__main__":
    main()
