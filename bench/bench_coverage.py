"""Coverage benchmark on the default (schematic Miyun) network.

Run: ``.venv/bin/python bench/bench_coverage.py [--cache DIR] [--baseline-stations N]``.

Prints, each beside a baseline measured in the same process:

- static preparation per mode (road tables, towns, settlement mask, cluster unions): done
  once per network, independent of the stations;
- all stations (every kind) at three thresholds per mode, polygons and statistics
  included, against the usual osmnx isochrone recipe: one networkx ``ego_graph`` per
  station and threshold plus a convex hull of its nodes (and the shortest-path part of
  each alone);
- recomputation after one station edit (a station moved 300 m);
- siting of 10 new stations (walk, 15 min) with the greedy baseline's time and result.

Wall time and this process's CPU time are both given: on a shared machine the wall time
includes waiting for a core. The machine's load average is printed first.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import networkx as nx
import numpy as np
import osmnx as ox
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geoservice import siting
from geoservice.basedata import DEFAULT_GPKG
from geoservice.coverage import CoverageEngine, CoverageQuery, _multi_source
from geoservice.model import STATION_KINDS
from geoservice.network import NetworkLibrary
from geoservice.store import GpkgStore
from geoservice.web import DEFAULT_NETWORK

THRESHOLDS = {"walk": "5,10,15", "bike": "5,10,15", "drive": "5,10,15"}
ALL_KINDS = ",".join(STATION_KINDS)


class Timer:
    """Wall and CPU seconds of a block."""

    def __enter__(self) -> Timer:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0

    def __str__(self) -> str:
        return f"{self.wall:.3f} s (cpu {self.cpu:.3f} s)"


def _graph(net) -> nx.MultiDiGraph:
    G = nx.MultiDiGraph(crs="EPSG:4326")
    for i, (x, y) in enumerate(net.node_xy):
        G.add_node(i, x=float(x), y=float(y))
    for u, v, t in zip(
        net.edge_u.tolist(), net.edge_v.tolist(), net.edge_time.tolist(), strict=True
    ):
        G.add_edge(u, v, time=t)
    return G


def _osmnx_recipe(G, net, lon, lat, minutes) -> tuple[float, float, list]:
    """The usual osmnx isochrones: per station and threshold an ego graph of the nodes
    within the time, and the convex hull of their points. Returns the total time, the
    shortest-path part alone and the hulls."""
    centres = ox.distance.nearest_nodes(G, lon, lat)
    hulls, graph_time = [], 0.0
    started = time.perf_counter()
    for centre in centres:
        for m in minutes:
            t = time.perf_counter()
            sub = nx.ego_graph(G, centre, radius=m * 60, distance="time")
            graph_time += time.perf_counter() - t
            xy = net.node_xy[list(sub.nodes)]
            hulls.append(shapely.convex_hull(shapely.multipoints(xy)))
    return time.perf_counter() - started, graph_time, hulls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=None, help="network cache folder to reuse")
    parser.add_argument("--baseline-stations", type=int, default=0, help="0: every station")
    parser.add_argument("--modes", default="walk,bike,drive")
    args = parser.parse_args()
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        cache = args.cache or tmp / "networks"
        with Timer() as t:
            nets = NetworkLibrary(cache, DEFAULT_NETWORK).load()
        print(f"networks loaded ({'cache' if args.cache else 'built'}): {t}")
        shutil.copy(DEFAULT_GPKG, tmp / "live.gpkg")
        store = GpkgStore(tmp / "live.gpkg")
        engine = CoverageEngine(nets, store)
        modes = args.modes.split(",")
        with Timer() as t:
            engine.compute({"mode": "walk", "minutes": "1"}, geometry=False)
        print(f"first computation (numba kernel compiled or loaded from its cache): {t}")
        for mode in modes:
            with Timer() as t:
                engine.warm((mode,))
            print(f"static preparation {mode} (tables, towns, people roads, cluster unions): {t}")
        stations = store.stations()
        print(
            f"\n## all {len(stations)} stations (every kind), three thresholds, "
            "polygons and figures"
        )
        for mode in modes:
            net = nets[mode]
            query = CoverageQuery.parse(
                {"mode": mode, "minutes": THRESHOLDS[mode], "kind": ALL_KINDS}
            )
            runs = []
            for _ in range(3):
                engine._modes[mode].town_polys.clear()  # a fresh computation each time
                with Timer() as t:
                    cov = engine.compute(query)
                runs.append(t)
            best = min(runs, key=lambda r: r.wall)
            med_wall = statistics.median(r.wall for r in runs)
            areas = ", ".join(f"{cov.areas[k].area / 1e6:.1f}" for k in range(3))
            print(
                f"{mode}: best {best} · median {med_wall:.3f} s · {net.n_nodes} nodes · "
                f"areas {areas} km² · road covered "
                + ", ".join(f"{th['covered_share']:.1%}" for th in cov.district["thresholds"])
            )
            # The shortest-path part alone: one multi-source run.
            cache = engine._modes[mode]
            _, r, g, d, _ = engine._sources(query, cache)
            with Timer() as sp_t:
                _multi_source(
                    cache.roads.rev_time,
                    cache.roads,
                    r,
                    g,
                    d / 1.25,
                    cache.roads.tf,
                    cache.roads.tb,
                )
            G = _graph(net)
            sel = (
                stations if not args.baseline_stations else stations.iloc[: args.baseline_stations]
            )
            total, graph_time, _ = _osmnx_recipe(
                G, net, sel["lon"].to_numpy(), sel["lat"].to_numpy(), (5, 10, 15)
            )
            scale = len(stations) / len(sel)
            note = "" if scale == 1 else f" (measured on {len(sel)} stations, scaled ×{scale:.1f})"
            print(
                f"  baseline osmnx ego_graph + convex hull per station and threshold: "
                f"{total * scale:.2f} s{note} → ratio {total * scale / best.wall:.0f}×"
            )
            print(
                f"  shortest paths alone: scipy multi-source {sp_t.wall * 1000:.1f} ms vs "
                f"ego graphs {graph_time * scale:.2f} s → {graph_time * scale / sp_t.wall:.0f}×"
            )
        print("\n## recomputation after one station edit (walk, warm stations, 5/10/15 min)")
        q = CoverageQuery.parse({"mode": "walk"})
        engine.compute(q)
        ids = stations.loc[stations["kind"] == "warm_station", "id"].tolist()[:3]
        for sid in ids:

            def move(gdf, sid=sid):
                gdf = gdf.copy()
                i = gdf.index[gdf["id"] == sid][0]
                gdf.loc[i, "lon"] = gdf.loc[i, "lon"] + 0.0035  # ≈ 300 m east
                gdf.loc[i, "geometry"] = shapely.Point(gdf.loc[i, "lon"], gdf.loc[i, "lat"])
                return gdf, None

            with Timer() as w:
                store.update("stations", move)
            with Timer() as t:
                engine.compute(q)
            print(
                f"station {sid} moved 300 m: recompute {t} (the store write itself {w.wall:.2f} s)"
            )
        print("\n## siting: 10 new stations, walk 15 min, objective roads")
        engine.compute({"mode": "walk", "minutes": "15"}, geometry=False)
        with Timer() as t:
            result = siting.suggest(engine, {"mode": "walk", "minutes": "15", "n": "10"})
        s, g = result.solver, result.greedy
        print(
            f"MCLP (HiGHS): {t} in all; model {s['candidates']} candidates, "
            f"{s['demand_points']} demand points → {s['demand_rows']} rows, "
            f"{s['nonzeros']} nonzeros; "
            f"preparation {s['prepare_seconds']:.2f} s, solver {s['seconds']:.2f} s ({s['status']})"
        )
        cq = CoverageQuery.parse({"mode": "walk", "minutes": "15"})
        greedy_m, _ = engine._evaluate(cq, np.array(g["nodes"], dtype=np.int64))
        print(
            f"  covered road {result.before['covered_km']:.1f} → "
            f"{result.after['covered_km']:.1f} km "
            f"({result.before['covered_share']:.1%} → {result.after['covered_share']:.1%}); "
            f"model objective {s['objective']:.0f} m"
        )
        print(
            f"  greedy baseline on the same model: {g['seconds'] * 1000:.1f} ms after the same "
            f"preparation; objective {g['objective']:.0f} m; "
            f"exact covered {greedy_m / 1000:.1f} km "
            f"(MCLP {result.after['covered_km']:.1f} km)"
        )
        print(
            f"  set covering: {result.set_cover['stations_needed']} stations "
            "for every located village "
            f"({result.set_cover['villages']} located)"
        )
    print(f"\nload average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
