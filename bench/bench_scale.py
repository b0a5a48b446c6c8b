"""Scale benchmark of the nearest engine (issue 15): a synthetic city, each mode in its own process.

Run: ``.venv/bin/python bench/bench_scale.py --nodes N --stations S`` (``--quick``: N = 20,000,
S = 200), or ``--pbf FILE --raw-nodes R`` to write a synthetic city-size OSM PBF instead.

The roads come from :mod:`_synthetic` (a jittered, road-like grid around central Beijing,
generated as OSM ways and built into walk, bike and drive networks by the project's own
builder, :func:`geoservice.network.build_from_osm`, so the real access rules and speeds
apply; about N walk nodes). The S stations go into a real :class:`GpkgStore`. Both go to a
temporary folder, then every mode is measured in a fresh child process (this script with
``--child``), which prints one JSON line:

- ``precompute_s``: a fresh ``NearestEngine({mode: net}, store, budget=…)`` until it has
  answered its first question and made what it makes for a filter (``refresh()``, the
  network's snapping index, the labels of warm stations open at 10:00, made in the
  background, the compiled kernels loaded);
- ``peak_rss_mb``: the child's peak resident memory (network, engine, queries, edit and
  batch; Linux's ``VmHWM``, see :func:`peak_mb`), before the exactness check, whose brute
  force is the checker's memory; ``peak_by_step_mb`` gives it after each step;
- ``query_p50_ms``/``query_p99_ms``: ``--queries`` single queries (k = 3, routes included)
  from random points near the roads, for warm stations open at 10:00 on a weekday;
- ``batch_origins_per_s``: one ``engine.batch`` of ``--batch`` origins (halved until it fits
  in memory; ``batch_origins`` says how many);
- ``edit_s``: one station moved ~200 m in the store, then the engine's next answer and
  the filter's labels made again;
- ``exact``: the share of 200 random queries (a quarter each: open at 10:00, open at 02:00,
  a rare amenity, worker homes) whose k = 3 stations and times (±0.05 s; ties in any order)
  match a brute-force scipy Dijkstra from the origin over the graph joined with the road
  pieces of :class:`~geoservice.network.points.RoadPoints`;
- ``network_mb``: the network's arrays.

A refusal for the engine's memory budget (``--budget``, default 75 % of physical memory)
gives the line with the measured fields null and the refusal as ``note``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import shapely
from _common import load_average, percentile_ms
from scipy.sparse import csgraph

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _synthetic as syn

from geoservice import hours
from geoservice.errors import BudgetError, ParameterError
from geoservice.filters import StationFilter
from geoservice.nearest import NearestEngine, parse_budget
from geoservice.network import MODES, Network, build_from_osm
from geoservice.network.graph import lightest
from geoservice.network.points import RoadPoints
from geoservice.store import GpkgStore
from geoservice.web import DEFAULT_GPKG

KEYS = (
    "mode", "nodes", "stations", "precompute_s", "peak_rss_mb", "query_p50_ms",
    "query_p99_ms", "batch_origins_per_s", "edit_s", "exact",
)  # fmt: skip
#: A weekday morning and night (Shanghai wall time): most stations open, only 24/7 ones.
DAY = dt.datetime(2026, 12, 2, 10, 0)
NIGHT = dt.datetime(2026, 12, 2, 2, 0)
#: The exactness check's filters, in turn.
FILTERS = (
    StationFilter(at=DAY),
    StationFilter(at=NIGHT),
    StationFilter(amenities=(syn.RARE_AMENITY,), at=DAY),
    StationFilter(kinds=("worker_home",), at=DAY),
)
EXACT_QUERIES = 200
K = 3
TOLERANCE_S = 0.05
MB = 1024**2


def peak_mb() -> float:
    """This process's peak resident memory so far, in MB.

    Linux's ``VmHWM``, the high-water mark of this process's own memory: ``ru_maxrss``
    would do, but a process started by ``subprocess`` (vfork, then exec) inherits its
    parent's peak there, and the parent holds the whole synthetic city.
    """
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def default_budget() -> int:
    """75 % of the machine's physical memory, in bytes."""
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 0.75)


# -- the parent: data, then one child per mode -------------------------------------------------


def prepare(work: Path, nodes: int, stations: int, seed: int) -> dict[str, int]:
    """Write each mode's network (``{mode}.npz``) and the stations' store (``store.gpkg``)
    into ``work``; return the node count of each mode."""
    t = time.perf_counter()
    roads = syn.roads(syn.junctions_for(nodes, seed), seed=seed)
    nets = build_from_osm(syn.osm_data(roads))
    for mode, net in nets.items():
        net.save(work / f"{mode}.npz")
    store = GpkgStore(work / "store.gpkg", seed=DEFAULT_GPKG)
    frame = syn.stations(roads, stations, seed)
    store.update("stations", lambda _: (frame, None))
    counts = {mode: net.n_nodes for mode, net in nets.items()}
    print(
        f"synthetic city: {len(roads.node_id):,} OSM nodes, {roads.n_ways:,} ways; "
        + ", ".join(f"{m} {n.n_nodes:,} nodes / {n.n_edges:,} edges" for m, n in nets.items())
        + f"; {stations:,} stations; {time.perf_counter() - t:.1f} s",
        file=sys.stderr,
        flush=True,
    )
    return counts


def run_child(work: Path, mode: str, args: argparse.Namespace) -> None:
    """Measure ``mode`` in a fresh process; pass its JSON line on."""
    cmd = [
        sys.executable, __file__, "--child", "--mode", mode, "--work", str(work),
        "--budget", str(args.budget), "--queries", str(args.queries),
        "--batch", str(args.batch), "--seed", str(args.seed),
    ]  # fmt: skip
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
    line = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    if done.returncode or not line:
        line = json.dumps(
            {**dict.fromkeys(KEYS), "mode": mode, "note": f"child exited {done.returncode}"}
        )
    print(line, flush=True)


# -- the child: one mode --------------------------------------------------------------------


@dataclass
class Result:
    """One mode's JSON line."""

    mode: str
    nodes: int
    stations: int
    precompute_s: float | None = None
    peak_rss_mb: float | None = None
    query_p50_ms: float | None = None
    query_p99_ms: float | None = None
    batch_origins_per_s: float | None = None
    edit_s: float | None = None
    exact: float | None = None
    network_mb: float | None = None
    batch_origins: int | None = None
    peak_by_step_mb: dict | None = None
    note: str = ""

    def line(self) -> str:
        return json.dumps({f.name: getattr(self, f.name) for f in fields(self)})


def origins(net: Network, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random points within ~30 m of random road vertices (lon, lat)."""
    idx = rng.integers(0, len(net.geom_xy), n)
    metres = rng.normal(0, 30, (n, 2))
    return net.geom_xy[idx] + metres / [111_320 * np.cos(np.radians(syn.CENTRE[1])), 110_574]


def measure(mode: str, work: Path, args: argparse.Namespace) -> Result:
    """Every measurement of one mode, in this (fresh) process."""
    net = Network.load(work / f"{mode}.npz")
    store = GpkgStore(work / mode / "live.gpkg", seed=work / "store.gpkg")
    frame = store.stations()
    out = Result(mode, net.n_nodes, len(frame))
    out.network_mb = round(net.nbytes(index=False) / MB, 1)
    steps = {"network": peak_mb()}
    engine = NearestEngine({mode: net}, store, budget=args.budget)
    first = origins(net, 1, np.random.default_rng(args.seed))[0]
    t = time.perf_counter()
    try:
        engine.refresh()
        _ask(engine, mode, first)
        engine.settle()  # the filter's labels, made in the background meanwhile
    except BudgetError as exc:
        out.note = f"refused: {exc.en}"
        out.peak_rss_mb = peak_mb()
        return out
    out.precompute_s = round(time.perf_counter() - t, 2)
    steps["precompute"] = peak_mb()
    engine.warm()
    rng = np.random.default_rng(args.seed + MODES.index(mode))
    out.query_p50_ms, out.query_p99_ms = query_latency(
        engine, mode, origins(net, args.queries, rng)
    )
    steps["queries"] = peak_mb()
    checks = origins(net, EXACT_QUERIES, rng)
    out.edit_s = edit_seconds(engine, store, first)
    steps["edit"] = peak_mb()
    out.batch_origins, out.batch_origins_per_s = batch_rate(
        engine, mode, origins(net, args.batch, rng)
    )
    steps["batch"] = peak_mb()
    out.peak_rss_mb = peak_mb()
    # Last: the brute force's own graph and searches are the checker's memory, not the
    # engine's (its step shows it).
    out.exact = exactness(engine, mode, store.stations(), checks)  # as edited
    steps["exact"] = peak_mb()
    out.peak_by_step_mb = steps
    if out.batch_origins < args.batch:
        out.note = f"batch of {args.batch:,} origins did not fit in memory"
    return out


def query_latency(engine: NearestEngine, mode: str, points: np.ndarray) -> tuple[float, float]:
    """p50 and p99 (ms) of single queries, k = 3 with routes, warm stations open at 10:00."""
    samples = []
    for point in points:
        t = time.perf_counter()
        _ask(engine, mode, point)
        samples.append(time.perf_counter() - t)
    return round(percentile_ms(samples, 50), 3), round(percentile_ms(samples, 99), 3)


def _ask(engine: NearestEngine, mode: str, point: np.ndarray) -> None:
    """One question: k = 3 with routes, warm stations open at 10:00."""
    with contextlib.suppress(ParameterError):  # too far from a road: still a question
        engine.nearest(float(point[0]), float(point[1]), mode=mode, k=K, stations=FILTERS[0])


def batch_rate(engine: NearestEngine, mode: str, points: np.ndarray) -> tuple[int, float]:
    """Origins and origins per second of one batch (halved while it does not fit)."""
    while True:
        try:
            t = time.perf_counter()
            engine.batch(points[:, 0], points[:, 1], mode=mode, stations=FILTERS[0])
            return len(points), round(len(points) / (time.perf_counter() - t), 1)
        except MemoryError:
            if len(points) <= 1000:
                raise
            points = points[: len(points) // 2]


def edit_seconds(engine: NearestEngine, store: GpkgStore, point: np.ndarray) -> float:
    """Seconds from one station moved ~200 m (north-east) to the engine's next answer."""

    def move(gdf: Any) -> tuple[Any, None]:
        gdf.loc[0, "lon"] += 140 / 85_300  # 140 m east and north at Beijing's latitude
        gdf.loc[0, "lat"] += 140 / 110_574
        gdf.loc[0, "geometry"] = shapely.Point(gdf.loc[0, "lon"], gdf.loc[0, "lat"])
        return gdf, None

    store.update("stations", move)
    t = time.perf_counter()
    engine.refresh()
    _ask(engine, next(iter(engine.networks)), point)
    engine.settle()
    return round(time.perf_counter() - t, 3)


# -- exactness ------------------------------------------------------------------------------


@dataclass
class _Stations:
    """The stations as the brute force sees them: placed on the roads, with attributes."""

    ids: np.ndarray
    kind: np.ndarray
    amenities: list[set[str]]
    hours: list[str]
    points: RoadPoints
    #: The network's arcs and those from the ends of each station's road to the station
    #: (node ``n + 1 + s``), as (rows, cols, seconds); node ``n`` is the origin.
    arcs: tuple[np.ndarray, np.ndarray, np.ndarray]

    @classmethod
    def from_frame(cls, net: Network, frame: Any) -> _Stations:
        points = net.snap(frame["lon"].to_numpy(float), frame["lat"].to_numpy(float))
        base, reach = net.matrix().tocoo(), points.reaching()
        rows, cols = [base.row, reach.src], [base.col, net.n_nodes + 1 + reach.dst]
        time_s = points.cost(reach, net.edge_time)
        keep = lightest(rows[1], cols[1], time_s)  # a sparse matrix would add parallel arcs
        return cls(
            frame["id"].to_numpy(),
            frame["kind"].to_numpy(),
            [set(a.replace(",", ";").split(";")) for a in frame["amenities"]],
            list(frame["opening_hours"]),
            points,
            (
                np.concatenate([rows[0], rows[1][keep]]),
                np.concatenate([cols[0], cols[1][keep]]),
                np.concatenate([base.data, time_s[keep]]),
            ),
        )

    def matching(self, f: StationFilter) -> np.ndarray:
        """Mask of the stations ``f`` counts (the filter's documented meaning)."""
        mask = self.points.on_network.copy()
        kinds = ("warm_station",) if f.kinds is None else f.kinds  # None: warm stations
        if kinds:
            mask &= np.isin(self.kind, kinds)
        for a in f.amenities or ():
            mask &= np.array([a in have for have in self.amenities])
        if f.open_only:
            mask &= hours.open_mask(self.hours, f.at, on_error="closed")
        return mask


def exactness(engine: NearestEngine, mode: str, frame: Any, points: np.ndarray) -> float:
    """Share of queries (filters of :data:`FILTERS` in turn) the engine answers as the
    brute force does."""
    net = engine.networks[mode]
    st = _Stations.from_frame(net, frame)
    good = 0
    for i, (lon, lat) in enumerate(points.tolist()):
        f = FILTERS[i % len(FILTERS)]
        try:
            got = engine.nearest(lon, lat, mode=mode, k=K, stations=f, geometry=False)
        except ParameterError:  # too far from any road: the brute force agrees if so
            good += not net.snap([lon], [lat]).on_network[0]
            continue
        want = brute_force(net, st, net.snap([lon], [lat]))
        want[~st.matching(f)] = np.inf
        good += agrees(got["results"], want, st.ids)
    return round(good / len(points), 4)


def brute_force(net: Network, st: _Stations, origin: RoadPoints) -> np.ndarray:
    """Total seconds from the origin (one point) to every station: scipy Dijkstra over the
    network joined with the stations (:attr:`_Stations.arcs`) and the origin (its road's
    pieces to the road's ends, and straight along it to stations on the same road), plus
    the ways between the roads and the origin and each door."""
    n, s = net.n_nodes, len(st.ids)
    leave, along = origin.leaving(), origin.along(st.points)
    cols = np.concatenate([leave.dst, n + 1 + along.dst])
    time_s = np.concatenate([origin.cost(leave, net.edge_time), origin.cost(along, net.edge_time)])
    keep = lightest(np.zeros(len(cols), dtype=np.int64), cols, time_s)
    rows, all_cols, data = st.arcs
    graph = sp.csr_matrix(
        (
            np.maximum(np.concatenate([data, time_s[keep]]), 1e-9),
            (np.concatenate([rows, np.full(len(keep), n)]), np.concatenate([all_cols, cols[keep]])),
        ),
        shape=(n + 1 + s,) * 2,
    )
    dist = csgraph.dijkstra(graph, indices=n)[n + 1 :]
    return dist + st.points.access_s + origin.access_s[0]


def agrees(results: list[dict], want: np.ndarray, ids: np.ndarray) -> bool:
    """Whether the engine's results are the k best of ``want`` (seconds per station, inf
    for those not counted): as many, at the same times, each at its own brute-force time
    (so stations tied at equal times may come in any order)."""
    finite = np.flatnonzero(np.isfinite(want))
    best = np.sort(want[finite])[:K]
    if len(results) != len(best):
        return False
    by_id = dict(zip(ids.tolist(), want.tolist(), strict=True))
    for r, t in zip(results, best.tolist(), strict=True):
        # Answers are rounded to 0.1 s: off by at most TOLERANCE_S (and float noise).
        off = max(abs(r["travel_time_s"] - t), abs(r["travel_time_s"] - by_id.get(r["id"], np.inf)))
        if not off <= TOLERANCE_S + 1e-9:
            return False
    return True


# -- the PBF writer -------------------------------------------------------------------------


def write_pbf(path: Path, raw_nodes: int, seed: int) -> None:
    """Write a synthetic city of about ``raw_nodes`` OSM nodes; print its size and time."""
    t = time.perf_counter()
    roads = syn.roads_with_raw_nodes(raw_nodes, seed)
    syn.write_pbf(roads, path)
    print(
        f"{path}: {len(roads.node_id):,} nodes, {roads.n_ways:,} ways, "
        f"{path.stat().st_size / MB:.1f} MB in {time.perf_counter() - t:.1f} s",
        flush=True,
    )


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (``--quick`` applied)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100_000, help="walk nodes (about)")
    parser.add_argument("--stations", type=int, default=1_000)
    parser.add_argument("--quick", action="store_true", help="N = 20,000, S = 200")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--budget", type=parse_budget, default=default_budget())
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pbf", type=Path, help="write a synthetic OSM PBF here instead")
    parser.add_argument("--raw-nodes", type=int, default=5_000_000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.nodes, args.stations = 20_000, 200
    return args


def main(argv: list[str] | None = None) -> None:
    args = arguments(argv)
    if args.child:
        print(measure(args.mode, args.work, args).line(), flush=True)
        return
    if args.pbf:
        write_pbf(args.pbf, args.raw_nodes, args.seed)
        return
    print(f"load average {load_average()}", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp:
        prepare(Path(tmp), args.nodes, args.stations, args.seed)
        for mode in args.modes.split(","):
            run_child(Path(tmp), mode, args)
    print(f"load average {load_average()}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
