"""Coverage benchmark on the default (schematic Miyun) network.

Run: ``.venv/bin/python bench/bench_coverage.py [--cache DIR] [--repeat N]
[--modes walk,bike,drive] [--edits N] [--skip cold,paths,edits,siting,publish]``
(pandana, for the shortest-path baseline: ``bench/requirements.txt``).

Prints, each measure beside a baseline measured in the same process:

- the K-label kernel (coverage's arguments): loaded from numba's disk cache, against
  compiling it;
- static preparation per mode (road tables, towns, people roads, cluster buffers clipped
  to tiles, tiles with every road reached): once per network, whatever the stations;
- all stations (every kind) at three thresholds per mode, polygons and statistics
  included (the figures, the areas per town and the district, the dissolved polygon of
  each threshold and its GeoJSON, as ``GET /api/coverage`` sends it), with the polygon
  caches empty, against the usual osmnx isochrone recipe run once on every station:
  the ego graph of each station and threshold, made into the project's polygon (the
  reached roads buffered and dissolved; see :func:`_recipe` for what differs);
- the shortest paths alone, every node's nearest station and its time: the one K-label
  kernel against the same search in networkx (``multi_source_dijkstra``) and pandana 0.8
  (``nearest_pois`` on its contraction hierarchy), on the same graph and seeds, medians
  of ``--repeat`` runs, with the largest difference of their times from the kernel's;
- recomputation after one station edit (a station moved 300 m; walk, warm stations,
  5/10/15 min, polygons and statistics included), the median over several edits in
  鼓楼 (the dense urban subdistrict) and in rural towns, against a computation from
  empty polygon caches after the same edit — the two must give the same figures;
- siting of 10 new stations (walk, 15 min) with the greedy baseline's time and result;
- publishing the static site (every file, from a fresh engine and again from a warm
  one), its size against the unsimplified layers, and its two formerly slowest stages
  against their former way (a figure laid out per chart; the map's layers simplified
  feature by feature through GeoJSON text).

Wall time and this process's CPU time (all threads) are both given: on a shared machine
the wall time includes waiting for a core. The machine's load average is printed first
and last.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import networkx as nx
import numpy as np
import osmnx as ox
import pandas as pd
import scipy.sparse as sp
import shapely
from _common import load_average, networkx_graph

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geoservice import coverage, district
from geoservice.coverage import CoverageEngine, CoverageQuery, paths, publish, siting
from geoservice.model import STATION_KINDS
from geoservice.network import NetworkLibrary, labels
from geoservice.store import GpkgStore
from geoservice.web import DEFAULT_GPKG, DEFAULT_NETWORK

THRESHOLDS = "5,10,15"
ALL_KINDS = ",".join(STATION_KINDS)
URBAN_TOWN = "110118001"  # 鼓楼街道
TARGETS = {"walk": 1.0, "bike": 3.0, "drive": 3.0, "edit": 0.3, "siting": 30.0}


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


def _forget(engine: CoverageEngine, mode: str) -> None:
    """Empty the polygon caches of ``mode`` (the static tables stay, as after warm-up)."""
    for tiling in engine._modes[mode].tilings.values():
        tiling.polys.clear()
        tiling.coords = 0


def _answer(engine: CoverageEngine, query: CoverageQuery) -> tuple[coverage.Coverage, dict]:
    """What ``GET /api/coverage`` needs: figures, tile areas, dissolved areas, GeoJSON."""
    cov = engine.compute(query)
    return cov, cov.to_geojson()


def _recipe(G, net, roads, lon, lat, minutes, buffer_m) -> tuple[float, float, list]:
    """The usual osmnx isochrones, once per station: the ego graph of the nodes within
    each time (``nx.ego_graph(G, centre, radius, distance="travel_time")``: the induced
    subgraph of one networkx Dijkstra with the time as cutoff; here one Dijkstra per
    station with the largest time, each threshold's nodes taken from it, as the ego graphs
    would), turned into the project's polygon instead of a convex hull: every edge of the
    ego graphs of a threshold (the road whole, never cut), its geometry buffered by
    ``buffer_m`` and dissolved, once per threshold for all the stations (not once per
    station, as the recipe's ``make_iso_polys`` would). Both shortcuts favour the
    baseline. Returns the total time, the ego graphs' part and the polygons."""
    started = time.perf_counter()
    centres = ox.distance.nearest_nodes(G, lon, lat)
    edges = np.zeros((len(minutes), net.n_edges), dtype=bool)
    graph_time = 0.0
    for centre in centres:
        t = time.perf_counter()
        dist = nx.single_source_dijkstra_path_length(
            G, centre, cutoff=max(minutes) * 60, weight="travel_time"
        )
        graph_time += time.perf_counter() - t
        node = np.fromiter(dist.keys(), dtype=np.int64, count=len(dist))
        secs = np.fromiter(dist.values(), dtype=float, count=len(dist))
        within = np.full(net.n_nodes, np.inf)
        within[node] = secs
        for k, m in enumerate(minutes):
            inside = within <= m * 60
            edges[k] |= inside[net.edge_u] & inside[net.edge_v]  # the ego graph's edges
    polys = []
    for k in range(len(minutes)):
        r = np.unique(roads.road_of_edge[edges[k]])
        counts = np.diff(roads.offsets)[r]
        first = np.cumsum(counts) - counts
        take = np.repeat(roads.offsets[r] - first, counts) + np.arange(counts.sum())
        lines = shapely.linestrings(roads.xy[take], indices=np.repeat(np.arange(len(r)), counts))
        polys.append(shapely.union_all(shapely.buffer(lines, buffer_m)))
    return time.perf_counter() - started, graph_time, polys


def _reverse_graph(net, seeds) -> tuple[nx.DiGraph, list[int]]:
    """networkx's graph of the same search: the reversed network (the fastest of parallel
    edges, as the project's matrix) and each station a node of its own, joined to its
    road's end nodes by the same arcs (from the road to the door) as the kernel's seeds."""
    rev = net.reverse_matrix().tocoo()
    G = nx.DiGraph()
    G.add_weighted_edges_from(
        zip(rev.row.tolist(), rev.col.tolist(), rev.data.tolist(), strict=True)
    )
    src, node, w = seeds
    sources = sorted({net.n_nodes + s for s in src.tolist()})
    best: dict[tuple[int, int], float] = {}
    for s, y, c in zip(src.tolist(), node.tolist(), w.tolist(), strict=True):
        key = (net.n_nodes + s, y)
        best[key] = min(c, best.get(key, np.inf))
    G.add_weighted_edges_from((a, b, c) for (a, b), c in best.items())
    return G, sources


def _pandana_network(net, seeds):
    """pandana's network of the same search (forwards: from each node to the stations),
    each station a node of its own at its coordinates, joined from its road's end nodes
    by the kernel's seed arcs; the contraction hierarchy is made here (not timed)."""
    import pandana

    src, node, w = seeds
    n, s = net.n_nodes, int(src.max()) + 1
    # The stations' nodes apart from the roads, where their points of interest are set.
    xy = np.concatenate([net.node_xy, _station_xy(s)])
    x = pd.Series(xy[:, 0])
    y = pd.Series(xy[:, 1])
    frm = np.concatenate([net.edge_u, node])
    to = np.concatenate([net.edge_v, n + src])
    weight = np.concatenate([np.maximum(net.edge_time, 1e-6), np.maximum(w, 1e-6)])
    with _quiet():  # its progress bar
        return pandana.Network(
            x, y, pd.Series(frm), pd.Series(to), pd.DataFrame({"t": weight}), twoway=False
        )


def bench_paths(engine, nets, modes, repeat: int) -> None:
    print(
        "\n## shortest paths alone: every node's nearest station and its time (all "
        f"stations; median of {repeat})"
    )
    for mode in modes:
        _paths_one(engine, nets[mode], repeat)


def _paths_one(engine, net, repeat: int) -> None:
    mode = net.mode
    query = CoverageQuery.parse({"mode": mode, "minutes": THRESHOLDS, "kind": ALL_KINDS})
    with engine.snapshot(mode) as state:
        src = state.sources(query)
        roads = state.cache.roads
    cost = src.access_s(mode)
    sources = (src.r, src.g, cost)
    weights = (roads.tf, roads.tb)
    rev = roads.rev_time

    def ours(k=1, limit=math.inf):
        return paths.nearest_sources(rev, roads, sources, weights, k, limit)

    ours()
    mine = statistics.median(_wall(ours) for _ in range(repeat))
    cross = statistics.median(_wall(lambda: ours(2, 900.0)) for _ in range(repeat))
    d1, s1 = (a[:, 0] for a in ours())
    seeds = paths.source_arcs(roads, src.r, src.g, cost, roads.tf, roads.tb)
    G, stations = _reverse_graph(net, seeds)
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        dist, way = nx.multi_source_dijkstra(G, stations)
        runs.append(time.perf_counter() - t)
    nx_t = statistics.median(runs)
    nx_d = np.array([dist.get(v, np.inf) for v in range(net.n_nodes)])
    nx_s = np.array([way[v][0] - net.n_nodes if v in way else -1 for v in range(net.n_nodes)])
    same = np.isfinite(d1) == np.isfinite(nx_d)
    reached = np.isfinite(d1)
    dev = np.abs(d1[reached] - nx_d[reached]).max()
    ties = int((nx_s != s1).sum())
    print(
        f"{mode} ({net.n_nodes} nodes, {len(src.r)} stations): the K-label kernel, k = 1 "
        f"{mine * 1000:.1f} ms (k = 2 within 15 min, as cross-coverage: "
        f"{cross * 1000:.1f} ms)"
    )
    print(
        f"  networkx multi_source_dijkstra (same graph, stations as nodes): "
        f"{nx_t * 1000:.0f} ms → {nx_t / mine:.0f}×; same reach {bool(same.all())}, "
        f"times max |Δ| {dev:.1e} s, station differs at {ties} nodes (ties)"
    )
    t = time.perf_counter()
    pn = _pandana_network(net, seeds)
    ch = time.perf_counter() - t
    pxy = _station_xy(len(src.r))

    def pandana_query():
        pn.set_pois("st", 900.0, 1, pd.Series(pxy[:, 0]), pd.Series(pxy[:, 1]))
        return pn.nearest_pois(900.0, "st", num_pois=1, include_poi_ids=True)

    with _quiet():
        pandana_query()
        runs = [_wall(pandana_query) for _ in range(repeat)]
        found = pandana_query()
    pd_t = statistics.median(runs)
    pd_d = found[1].to_numpy()[: net.n_nodes]
    inside = d1 <= 900.0
    pd_dev = np.abs(pd_d[inside] - d1[inside]).max()
    print(
        f"  pandana 0.8 set_pois + nearest_pois within 15 min (its bound; contraction "
        f"hierarchy made before, {ch:.1f} s, not counted): {pd_t * 1000:.0f} ms → "
        f"{pd_t / mine:.0f}×; times within 15 min max |Δ| {pd_dev:.1e} s"
    )


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Standard output silenced, down to the file descriptor (pandana's C++ prints)."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


def _station_xy(s: int) -> np.ndarray:
    """Coordinates of ``s`` station nodes, far from any road and 1° apart."""
    return np.column_stack([1000.0 + np.arange(s), np.zeros(s)])


def _wall(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def bench_kernel() -> None:
    import numba

    with Timer() as t:
        state = coverage.warm_kernel()
    # Baseline: the same kernel compiled from scratch (no disk cache).
    fresh = numba.njit(nogil=True)(labels._k_labels.py_func)
    two = sp.csr_matrix((np.ones(2), np.array([1, 0]), np.array([0, 1, 2])), shape=(2, 2))
    ids = np.arange(2)
    csr = (two.indptr.astype(np.int64), two.indices.astype(np.int64), two.data)
    with Timer() as c:
        fresh(csr, (ids, ids, np.ones(2)), 2, 2, 1.0)
    print(
        f"K-label kernel (coverage's arguments): {state} in {t}; baseline: compiled without "
        f"the disk cache {c} → {c.wall / t.wall:.1f}×"
    )


def bench_cold(engine, nets, stations, modes) -> None:
    print(
        f"\n## all {len(stations)} stations (every kind), 5/10/15 min, polygons and figures "
        "(polygon caches empty)"
    )
    for mode in modes:
        net = nets[mode]
        query = CoverageQuery.parse({"mode": mode, "minutes": THRESHOLDS, "kind": ALL_KINDS})
        runs = []
        for _ in range(3):
            _forget(engine, mode)
            with Timer() as t:
                with Timer() as tc:
                    cov = engine.compute(query)
                with Timer() as td:
                    polys = [cov.areas[k] for k in range(len(query.minutes))]
                with Timer() as tg:
                    cov.layer("areas")
            runs.append((t, tc, td, tg))
        best = min(runs, key=lambda r: r[0].wall)
        med = statistics.median(r[0].wall for r in runs)
        shares = ", ".join(f"{th['covered_share']:.1%}" for th in cov.district["thresholds"])
        areas = ", ".join(f"{p.area / 1e6:.1f}" for p in polys)
        ok = "within" if med <= TARGETS[mode] else "OVER"
        print(
            f"{mode}: median {med:.3f} s, best {best[0]} [{ok} the {TARGETS[mode]:g} s target] · "
            f"of which figures and tile areas {best[1].wall:.3f} s, dissolved polygons "
            f"{best[2].wall:.3f} s, GeoJSON {best[3].wall:.3f} s · {net.n_nodes} nodes · "
            f"areas {areas} km² · road covered {shares}"
        )
        with engine.snapshot(mode) as state:
            roads = state.cache.roads
        G = networkx_graph(net)
        with Timer() as rt:
            total, graph_time, recipe = _recipe(
                G, net, roads, stations["lon"].to_numpy(), stations["lat"].to_numpy(),
                query.minutes, query.buffer_m,
            )  # fmt: skip
        theirs = ", ".join(f"{p.area / 1e6:.1f}" for p in recipe)
        print(
            f"  baseline, the osmnx recipe once on every station ({len(stations)}): "
            f"ego graphs (one networkx Dijkstra per station), the project's polygon (reached "
            f"roads buffered {query.buffer_m:g} m, dissolved) from their edges: {total:.2f} s "
            f"(cpu {rt.cpu:.2f} s) → {total / med:.0f}× (Dijkstras alone {graph_time:.2f} s); "
            f"areas {theirs} km² "
            "(whole edges between reached nodes, stations at their nearest node, no way to "
            "the door)"
        )


def bench_edits(engine, store, n_edits: int) -> None:
    print(
        "\n## recomputation after one station edit (walk, warm stations, 5/10/15 min, "
        "polygons and figures, GeoJSON of the areas)"
    )
    q = CoverageQuery.parse({"mode": "walk"})
    _answer(engine, q)
    frame = store.stations()
    warm = frame.loc[frame["kind"] == "warm_station"]
    urban = warm.loc[warm["town_code"] == URBAN_TOWN, "id"].tolist()
    rural = warm.loc[warm["town_code"] != URBAN_TOWN]
    rural = rural.drop_duplicates("town_code")["id"].tolist()
    picks = [("鼓楼", s) for s in urban[:n_edits]] + [("rural", s) for s in rural[:n_edits]]
    results: dict[str, list[tuple[float, float]]] = {"鼓楼": [], "rural": []}
    towns = dict(zip(frame["id"], frame["town_code"], strict=True))
    for group, sid in picks:

        def move(gdf, sid=sid):
            gdf = gdf.copy()
            i = gdf.index[gdf["id"] == sid][0]
            gdf.loc[i, "lon"] = gdf.loc[i, "lon"] + 0.0035  # ≈ 300 m east
            gdf.loc[i, "geometry"] = shapely.Point(gdf.loc[i, "lon"], gdf.loc[i, "lat"])
            return gdf, None

        with Timer() as w:
            store.update("stations", move)
        with Timer() as t:
            cov, gj = _answer(engine, q)
        # Baseline: the same answer from empty polygon caches.
        _forget(engine, "walk")
        with Timer() as c:
            cold, cold_gj = _answer(engine, q)
        same = gj == cold_gj and cov.town_areas == cold.town_areas
        results[group].append((t.wall, c.wall))
        print(
            f"  {group} {sid} (town {towns[sid]}) moved 300 m: recompute {t}; baseline from "
            f"empty caches {c} → {c.wall / t.wall:.1f}×; same answer: {same} "
            f"(store write {w.wall:.2f} s, not counted)"
        )
    every = [x for v in results.values() for x in v]
    for group, vals in [*results.items(), ("all", every)]:
        if not vals:
            continue
        inc = statistics.median(v[0] for v in vals)
        cold = statistics.median(v[1] for v in vals)
        ok = "within" if inc <= TARGETS["edit"] else "OVER"
        print(
            f"recompute median ({group}, {len(vals)} edits): {inc:.3f} s [{ok} the "
            f"{TARGETS['edit']:g} s target]; baseline {cold:.3f} s → {cold / inc:.1f}×"
        )


def bench_siting(engine) -> None:
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
    with engine.snapshot(cq.mode) as state:
        greedy_m, _ = state.evaluate(cq, np.array(g["nodes"], dtype=np.int64))
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


def _size(folder: Path, pattern: str = "*") -> int:
    return sum(p.stat().st_size for p in folder.rglob(pattern) if p.is_file())


def _json_size(value: object) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def _charts_one_figure_each(folder: Path, cov, font: str) -> None:
    """The former way: a new figure per chart, laid out and drawn whole."""
    from matplotlib import font_manager
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    prop = font_manager.FontProperties(fname=font)
    minutes = cov.query.to_dict()["minutes"]
    entries = [("district", cov.district)] + [
        (t["code"], t) for t in cov.towns if t["all_road_km"] > 0 or t["villages"] > 0
    ]
    for key, data in entries:
        fig = Figure(figsize=(6.4, 3.6), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        x = np.arange(len(minutes))
        for i, field in enumerate(("covered_share", "cross_share", "villages_share")):
            vals = [100 * (th[field] or 0) for th in data["thresholds"]]
            ax.bar(x + (i - 1) * 0.26, vals, 0.26, label=field)
        ax.set_xticks(x, [f"{m} 分钟" for m in minutes], fontproperties=prop)
        ax.set_ylim(0, 100)
        ax.set_ylabel("百分比 %", fontproperties=prop)
        ax.set_title(f"{key} · 覆盖", fontproperties=prop)
        ax.axhline(100 * (data["acftu_share"] or 0), color="#555", ls="--", lw=1)
        ax.legend(prop=prop, fontsize=8, loc="upper left")
        ax.text(0.99, 0.97, "1 公里内道路", transform=ax.transAxes, ha="right", va="top",
                fontproperties=prop, fontsize=8)  # fmt: skip
        fig.tight_layout()
        fig.savefig(folder / f"{key}.png", format="png", metadata={"Software": None})


def _simplified_per_feature(fc: dict) -> dict:
    """The former way: each feature through GeoJSON text, simplified in degrees."""
    feats = []
    for f in fc["features"]:
        g = shapely.simplify(shapely.from_geojson(json.dumps(f["geometry"])), 3 / 111_000)
        geom = json.loads(shapely.to_geojson(shapely.set_precision(g, 1e-6)))
        feats.append({**f, "geometry": geom})
    return {"type": "FeatureCollection", "features": feats}


def bench_publish(nets, library, tmp: Path) -> None:
    print("\n## publishing the static site (walk, warm stations, 5/10/15 min, 10 sites)")
    shutil.copy(DEFAULT_GPKG, tmp / "publish.gpkg")
    engine = CoverageEngine(nets, GpkgStore(tmp / "publish.gpkg"), library)
    now = dt.datetime(2026, 1, 1, 9, 0)
    with Timer() as cold:
        publish.publish(engine, tmp / "site", {}, allow_sample=True, now=now)
    with Timer() as warm:
        publish.publish(engine, tmp / "site", {}, allow_sample=True, now=now)
    site = tmp / "site"
    print(
        f"publish from a fresh engine (as `flask coverage publish` after loading the "
        f"networks): {cold}; again with the engine warm (after an edit, from the service): "
        f"{warm}"
    )
    cov = engine.compute({"mode": "walk"})
    full = sum(_json_size(v) for v in cov.layers().values())
    files = _size(site, "*.geojson")
    print(
        f"  size {_size(site) / 1e6:.1f} MB: GeoJSON layers {files / 1e6:.2f} MB "
        f"(unsimplified {full / 1e6:.2f} MB → {full / files:.2f}×; "
        f"{publish.FILE_TOLERANCE_M:g} m, 6 decimals), index.html "
        f"{(site / 'index.html').stat().st_size / 1e6:.2f} MB (map layers "
        f"{publish.MAP_TOLERANCE_M:g} m, {publish.MAP_DECIMALS} decimals), charts "
        f"{_size(site / 'charts') / 1e6:.2f} MB, vendor {_size(site / 'vendor') / 1e6:.2f} MB"
    )
    font = publish.find_cjk_font()
    (tmp / "charts-new").mkdir()
    (tmp / "charts-old").mkdir()
    with Timer() as new:
        names = publish._charts(tmp / "charts-new", cov, font, district.current(engine.store))
    with Timer() as old:
        _charts_one_figure_each(tmp / "charts-old", cov, font)
    print(
        f"  {len(names)} charts over one drawn background: {new}; baseline a figure laid out "
        f"and drawn per chart {old} → {old.wall / new.wall:.1f}×"
    )
    with Timer() as new:
        light = cov.layers(tolerance_m=publish.MAP_TOLERANCE_M, decimals=publish.MAP_DECIMALS)
    full_layers = cov.layers()
    with Timer() as old:
        for name in ("areas", "cross", "catchments", "uncovered"):
            _simplified_per_feature(full_layers[name])
    print(
        f"  map layers simplified in metres, all features at once: {new} "
        f"({sum(_json_size(v) for v in light.values()) / 1e6:.2f} MB); baseline per feature "
        f"through GeoJSON text {old} → {old.wall / new.wall:.1f}×"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=None, help="network cache folder to reuse")
    parser.add_argument(
        "--repeat", type=int, default=5, help="repetitions of the shortest-path measures"
    )
    parser.add_argument("--modes", default="walk,bike,drive")
    parser.add_argument("--edits", type=int, default=3, help="edits in 鼓楼 and in rural towns")
    parser.add_argument(
        "--skip",
        default="",
        help="comma-separated: cold,paths,edits,siting,publish",
    )
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    print(f"load average: {load_average()} ({os.cpu_count()} cores)")
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        cache = args.cache or tmp / "networks"
        library = NetworkLibrary(cache, DEFAULT_NETWORK)
        with Timer() as t:
            nets = library.load()
        print(f"networks loaded ({'cache' if args.cache else 'built'}): {t}")
        bench_kernel()
        shutil.copy(DEFAULT_GPKG, tmp / "live.gpkg")
        store = GpkgStore(tmp / "live.gpkg")
        engine = CoverageEngine(nets, store, library)
        modes = args.modes.split(",")
        for mode in modes:
            with Timer() as t:
                engine.warm((mode,))
            print(f"static preparation {mode} (tables, towns, people roads, tiles): {t}")
        stations = store.stations()
        if "cold" not in skip:
            bench_cold(engine, nets, stations, modes)
        if "paths" not in skip:
            bench_paths(engine, nets, modes, args.repeat)
        if "edits" not in skip:
            bench_edits(engine, store, args.edits)
        if "siting" not in skip:
            bench_siting(engine)
        if "publish" not in skip:
            bench_publish(nets, library, tmp)
    print(f"\nload average: {load_average()}")


if __name__ == "__main__":
    main()
