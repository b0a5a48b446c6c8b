"""Caravan tour benchmark: the planner's solver core on Solomon VRPTW instances, and whole
tours on the default (schematic Miyun) network.

(a) The yardstick::

    .venv/bin/python bench/bench_tour.py --vrptw bench/data/solomon/*.vrptw --seconds 5

runs :func:`geoservice.tours.vrp.solve` (the code the caravan uses, with the vehicles' capacity
added) on each instance for ``--seconds`` of wall time and prints one JSON line per instance:
``{"instance", "cost_x10", "routes", "feasible", "seconds", "gap"}`` under the files'
convention (distance = floor(10 × Euclidean), travel time = distance, service and time
windows × 10; see bench/data/solomon/README.md), the gap against best_known_lkh3.csv and
"feasible" meaning every window and capacity held with at most the instance's vehicles.
When pyvroom is installed (a bench-only extra) VROOM's result on the same data is printed
beside it. A last line has the means. On a shared machine ``--cpu-clock`` limits each run
by this process's CPU time instead (what an idle 2-core machine gives in that wall time:
the search is single-threaded).

(b) Tours (default)::

    .venv/bin/python bench/bench_tour.py [--quick] [--long-seconds 60]

plans 10, 20, 50 and 100 stops (fixed random samples of the sample stations, 20-minute
service, enough days) end to end — parse, snap, travel matrix, search,
exact re-timing, JSON — with the service's own search budget, and reports the solve time,
the total driving time, the gap to the exact optimum (≤ 10 stops: a dynamic programme over
subsets on the same model, below) or to the best of a long run (larger), and a
nearest-neighbour baseline. The travel matrix is also timed against networkx Dijkstra per
stop. ``--quick`` runs 10, 20 and 50 stops with a 10-second long run.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geoservice.network import Network, NetworkLibrary  # noqa: E402
from geoservice.store import GpkgStore  # noqa: E402
from geoservice.tours import planner as tour  # noqa: E402
from geoservice.tours import routing, vrp  # noqa: E402
from geoservice.tours.request import TourRequest  # noqa: E402
from geoservice.web import DEFAULT_GPKG, DEFAULT_NETWORK  # noqa: E402

SOLOMON = ROOT / "bench" / "data" / "solomon"

# -- (a) Solomon VRPTW ------------------------------------------------------------------------


def read_vrptw(path: Path) -> dict:
    """An instance in the LKH-3 VRPTW text format (NODE_COORD, DEMAND, TIME_WINDOW sections)."""
    header: dict[str, str] = {}
    section = None
    coords, demand, windows = [], [], []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line == "EOF":
            continue
        if line.endswith("SECTION"):
            section = line
            continue
        if section is None:
            key, _, value = line.partition(":")
            header[key.strip()] = value.strip()
            continue
        parts = line.split()
        if section == "NODE_COORD_SECTION":
            coords.append((float(parts[1]), float(parts[2])))
        elif section == "DEMAND_SECTION":
            demand.append(int(parts[1]))
        elif section == "TIME_WINDOW_SECTION":
            windows.append((int(parts[1]), int(parts[2])))
    scale = int(header.get("SCALE", "1"))
    xy = np.array(coords)
    diff = xy[:, None, :] - xy[None, :, :]
    dist = np.floor(scale * np.hypot(diff[..., 0], diff[..., 1])).astype(np.int64)
    tw = np.array(windows, dtype=np.int64) * scale
    return {
        "name": header["NAME"],
        "vehicles": int(header["VEHICLES"]),
        "capacity": int(header["CAPACITY"]),
        "service": int(header["SERVICE_TIME"]) * scale,
        "dist": dist,
        "demand": np.array(demand, dtype=np.int64),
        "tw": tw,
        "xy": xy,
    }


def best_known() -> dict[str, int]:
    with open(SOLOMON / "best_known_lkh3.csv", newline="") as f:
        return {r["instance"]: int(r["best_cost_x10"]) for r in csv.DictReader(f)}


def solve_vrptw(inst: dict, seconds: float, cpu_clock: bool = False) -> dict:
    n = len(inst["dist"]) - 1
    problem = vrp.Problem(
        duration=inst["dist"],
        location=np.arange(1, n + 1),
        service=np.full(n, inst["service"]),
        tw_early=inst["tw"][1:, 0],
        tw_late=inst["tw"][1:, 1],
        demand=inst["demand"][1:, None],
        capacity=[inst["capacity"]],
        vehicles=inst["vehicles"],
        depot_tw=(int(inst["tw"][0, 0]), int(inst["tw"][0, 1])),
        xy=inst["xy"],
    )
    started, cpu = time.perf_counter(), time.process_time()
    budget = vrp.Budget(iterations=None, no_improvement=None, seconds=seconds, cpu_clock=cpu_clock)
    sol = vrp.solve(problem, budget)
    return {
        "cost_x10": sol.travel_cost,
        "routes": len(sol.routes),
        "feasible": sol.feasible and len(sol.routes) <= inst["vehicles"],
        "seconds": round(time.perf_counter() - started, 2),
        "cpu_seconds": round(time.process_time() - cpu, 2),
        "iterations": sol.iterations,
    }


def solve_vroom(inst: dict) -> dict | None:
    """VROOM (exploration level 5) on the same data, or None without pyvroom."""
    try:
        import vroom
    except ImportError:
        return None
    n = len(inst["dist"]) - 1
    problem = vroom.Input()
    problem.set_durations_matrix(profile="car", matrix_input=inst["dist"].tolist())
    problem.add_vehicle(
        [
            vroom.Vehicle(
                k + 1,
                start=0,
                end=0,
                capacity=[inst["capacity"]],
                time_window=vroom.TimeWindow(int(inst["tw"][0, 0]), int(inst["tw"][0, 1])),
            )
            for k in range(inst["vehicles"])
        ]
    )
    problem.add_job(
        [
            vroom.Job(
                i,
                location=i,
                default_service=inst["service"],
                delivery=[int(inst["demand"][i])],
                time_windows=[vroom.TimeWindow(int(inst["tw"][i, 0]), int(inst["tw"][i, 1]))],
            )
            for i in range(1, n + 1)
        ]
    )
    started = time.perf_counter()
    sol = problem.solve(exploration_level=5, nb_threads=2)
    jobs = sol.routes[sol.routes["type"] == "job"]
    return {
        "cost_x10": int(sol.summary.cost),
        "routes": int(sol.routes["vehicle_id"].nunique()),
        "feasible": len(jobs) == n,
        "seconds": round(time.perf_counter() - started, 2),
    }


def run_vrptw(files: list[str], seconds: float, cpu_clock: bool = False) -> None:
    known = best_known()
    gaps, vroom_gaps, feasible = [], [], []
    for f in files:
        inst = read_vrptw(Path(f))
        best = known.get(inst["name"])
        out = {"instance": inst["name"], **solve_vrptw(inst, seconds, cpu_clock)}
        out["gap"] = round((out["cost_x10"] - best) / best, 5) if best else None
        v = solve_vroom(inst)
        if v is not None:
            v["gap"] = round((v["cost_x10"] - best) / best, 5) if best else None
            out["vroom"] = v
            vroom_gaps.append(v["gap"])
        gaps.append(out["gap"])
        feasible.append(out["feasible"])
        print(json.dumps(out), flush=True)
    summary = {
        "instances": len(files),
        "mean_gap": round(float(np.mean([g for g in gaps if g is not None])), 5),
        "all_feasible": all(feasible),
        "seconds_each": seconds,
        "clock": "cpu" if cpu_clock else "wall",
        "target": "mean gap <= 0.003, all feasible within the fleet",
    }
    if vroom_gaps:
        summary["vroom_mean_gap"] = round(float(np.mean(vroom_gaps)), 5)
    print(json.dumps({"summary": summary}), flush=True)


# -- (b) tours on the default network -----------------------------------------------------------


def exact_optimum(p: tour.TourProblem) -> int | None:
    """Least total driving of an exact plan of ``p`` (all stops mandatory): a labelling
    dynamic programme over (visited set, last place, lunch taken) with non-dominated
    (time, driving) labels gives each subset's best single day; a DP over subsets then
    splits the stops into at most ``p.days`` days. The model is the planner's: windows,
    service, working window, and the lunch at the base before leaving, after a stop, on a
    trip back to the base, or after returning."""
    return _split_days(_ExactDays(p).solve(), p.days)


class _ExactDays:
    """Each subset's best single day of ``p`` by the labelling DP of :func:`exact_optimum`.

    A label at (visited set, last place, lunch taken) is (time ready to leave, driving);
    the last place ``p.m`` is the base after a midday trip back."""

    def __init__(self, p: tour.TourProblem) -> None:
        self.p = p
        self.depot = p.m
        self.labels: dict[tuple[int, int, int], list[tuple[int, int]]] = {}
        self.best: list[int | None] = [None] * (1 << p.m)

    def solve(self) -> list[int | None]:
        """Least driving of a day serving exactly each subset (None: no such day)."""
        p = self.p
        self._go_on(0, 0, 0, p.day_start, 0)
        lunch_start = max(p.day_start, tour.LUNCH_EARLIEST)
        if p.lunch and lunch_start <= tour.LUNCH_LATEST:  # lunch before leaving
            self._go_on(0, 0, 1, lunch_start + p.lunch, 0)
        for mask in range(1, 1 << p.m):
            for last in [*range(p.m), self.depot]:
                for lunched in (0, 1):
                    for t, d in list(self.labels.get((mask, last, lunched), ())):
                        self._extend(mask, last, lunched, t, d)
        return self.best

    def _push(self, key: tuple[int, int, int], t: int, d: int) -> None:
        """Keep label (t, d) at ``key`` unless another is as good in both."""
        lst = self.labels.setdefault(key, [])
        if any(t2 <= t and d2 <= d for t2, d2 in lst):
            return
        lst[:] = [(t2, d2) for t2, d2 in lst if not (t <= t2 and d <= d2)]
        lst.append((t, d))

    def _extend(self, mask: int, last: int, lunched: int, t: int, d: int) -> None:
        """Everything the caravan can do next from a label."""
        r = 0 if last == self.depot else last + 1  # matrix row of the last place
        self._end_day(mask, r, lunched, t, d)
        if self.p.lunch and not lunched and last != self.depot:
            self._lunch(mask, last, t, d)
        self._go_on(mask, r, lunched, t, d)

    def _end_day(self, mask: int, r: int, lunched: int, t: int, d: int) -> None:
        """Drive back to the base (and lunch there if not yet) and end the day."""
        p = self.p
        back = int(p.time[r, 0])
        finish = t + back
        if p.lunch and not lunched:
            lunch_start = max(finish, tour.LUNCH_EARLIEST)
            if lunch_start > tour.LUNCH_LATEST:
                return
            finish = lunch_start + p.lunch
        best = self.best[mask]
        if finish <= p.day_end and (best is None or d + back < best):
            self.best[mask] = d + back

    def _lunch(self, mask: int, last: int, t: int, d: int) -> None:
        """Lunch after the last stop, or on a trip back to the base."""
        p = self.p
        lunch_start = max(t, tour.LUNCH_EARLIEST)
        if lunch_start <= tour.LUNCH_LATEST:
            self._push((mask, last, 1), lunch_start + p.lunch, d)
        back = int(p.time[last + 1, 0])
        lunch_start = max(t + back, tour.LUNCH_EARLIEST)
        if lunch_start <= tour.LUNCH_LATEST:
            self._push((mask, self.depot, 1), lunch_start + p.lunch, d + back)

    def _go_on(self, mask: int, r: int, lunched: int, t: int, d: int) -> None:
        """Drive from matrix row ``r`` on to every stop not yet visited that fits."""
        p = self.p
        for j in range(p.m):
            if mask >> j & 1:
                continue
            drive = int(p.time[r, j + 1])
            start = max(t + drive, int(p.early[j]))
            if start <= p.late[j]:
                self._push((mask | 1 << j, j, lunched), start + int(p.service[j]), d + drive)


def _split_days(best_day: list[int | None], days: int) -> int | None:
    """Least total driving of at most ``days`` days that together serve every stop, each
    day one of the subsets ``best_day`` has (None: no such split)."""
    f: list[float] = [math.inf] * len(best_day)
    f[0] = 0
    for _ in range(days):
        f = [min(f[mask], _best_split(f, best_day, mask)) for mask in range(len(best_day))]
    return None if f[-1] == math.inf else int(f[-1])


def _best_split(f: list[float], best_day: list[int | None], mask: int) -> float:
    """Least ``f[rest] + best_day[day]`` over the days of ``mask`` holding its lowest stop
    (each split counted once)."""
    low = mask & -mask
    out = math.inf
    sub = mask
    while sub:
        day = best_day[sub]
        if sub & low and day is not None:
            out = min(out, f[mask ^ sub] + day)
        sub = (sub - 1) & mask
    return out


def nearest_neighbour(p: tour.TourProblem) -> tuple[int, int]:
    """Baseline: each day drive to the nearest stop that still fits (exact timing, lunch
    included), back to the base when none does. Returns (driving seconds, days)."""
    left = set(range(p.m))
    total, days = 0, 0
    while left and days < 10 * p.m:
        order: list[int] = []
        day = None  # the schedule of order
        while True:
            here = 0 if not order else order[-1] + 1
            best = None
            for j in sorted(left, key=lambda j: p.time[here, j + 1]):
                day_j = p.schedule([*order, j])
                if day_j is not None:
                    best, day = j, day_j
                    break
            if best is None:
                break
            order.append(best)
            left.discard(best)
        if day is None:
            break
        total += day.drive
        days += 1
    return total, days


def networkx_matrix_seconds(net: Network, lon: np.ndarray, lat: np.ndarray) -> float:
    """Baseline for the matrix: networkx single-source Dijkstra from every stop's nearest
    node on a networkx copy of the same graph."""
    G = nx.DiGraph()
    for u, v, t in zip(
        net.edge_u.tolist(), net.edge_v.tolist(), net.edge_time.tolist(), strict=True
    ):
        if not G.has_edge(u, v) or G[u][v]["w"] > t:
            G.add_edge(u, v, w=t)
    snap = net.snap(lon, lat, with_points=False)
    nodes = net.edge_v[snap.edge].tolist()
    started = time.perf_counter()
    for s in nodes:
        dist = nx.single_source_dijkstra_path_length(G, s, weight="w")
        _ = [dist.get(t, math.inf) for t in nodes]
    return time.perf_counter() - started


def run_tours(quick: bool, long_seconds: float, cache: Path | None) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-tour-"))
    library = NetworkLibrary(cache or work / "networks", DEFAULT_NETWORK)
    started = time.perf_counter()
    net = library.load(modes=("drive",))["drive"]
    print(f"drive network: {net.n_nodes} nodes, {net.n_edges} edges, schematic={net.schematic} "
          f"(loaded in {time.perf_counter() - started:.1f} s)")  # fmt: skip
    store = GpkgStore(work / "live.gpkg", seed=DEFAULT_GPKG)
    # The sample stations: spread over the district's towns like the villages the
    # caravan visits (the villages themselves have no positions yet).
    candidates = [i for i in store.stations()["id"] if i != "CB01"]
    sizes = (10, 20, 50) if quick else (10, 20, 50, 100)
    days_for = {10: 1, 20: 2, 50: 3, 100: 6}
    rows = []
    for n in sizes:
        rng = np.random.default_rng(1000 + n)
        ids = sorted(rng.choice(candidates, n, replace=False).tolist())
        body = {"stops": ids, "days": days_for[n], "service_minutes": 20}
        t0, c0 = time.perf_counter(), time.process_time()
        request = tour.resolve(TourRequest.parse(body), store)
        result = tour.plan(request, net)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        drive_s = sum(d["totals"]["drive_s"] for d in result["days"])
        # The same TourProblem for the reference solutions.
        t1 = time.perf_counter()
        lon = np.array([request.depot.lon] + [s.lon for s in request.stops], dtype=float)
        lat = np.array([request.depot.lat] + [s.lat for s in request.stops], dtype=float)
        m = routing.travel_matrix(net, lon, lat)
        matrix_s = time.perf_counter() - t1
        p = tour._problem(request, np.rint(m.time_s).astype(np.int64), request.stops)
        nn, _nn_days = nearest_neighbour(p)
        row: dict[str, Any] = {
            "stops": n,
            "days": days_for[n],
            "days_used": result["summary"]["days_used"],
            "seconds": round(elapsed, 2),
            "cpu_seconds": round(cpu, 2),
            "matrix_seconds": round(matrix_s, 3),
            "iterations": result["search"]["iterations"],
            "drive_min": round(drive_s / 60, 1),
            "nearest_neighbour_min": round(nn / 60, 1),
            "vs_nearest_neighbour": round(drive_s / nn, 3),
        }
        if n <= 20:
            row["networkx_matrix_seconds"] = round(networkx_matrix_seconds(net, lon, lat), 2)
            row["matrix_speedup"] = round(row["networkx_matrix_seconds"] / matrix_s, 1)
        if n <= 10:
            t2 = time.perf_counter()
            opt = exact_optimum(p)
            # The planner's plan serves every stop, so the exact programme finds one too.
            assert opt is not None, "no exact plan found"
            row["reference"] = "exact"
            row["reference_min"] = round(opt / 60, 1)
            row["reference_seconds"] = round(time.perf_counter() - t2, 1)
            row["gap"] = round((drive_s - opt) / opt, 5)
        else:
            long = vrp.Budget(
                iterations=None, no_improvement=None, seconds=long_seconds, seed=7, cpu_clock=True
            )
            days, _left, _ = p.solve(long)
            ref = p.score(days)
            assert ref[0] == 0, "the long run left mandatory stops out"
            best = min(ref[2], drive_s)
            row["reference"] = f"best of {long_seconds:.0f} s (cpu) run"
            row["reference_min"] = round(best / 60, 1)
            row["gap"] = round((drive_s - best) / best, 5)
        rows.append(row)
        print(json.dumps(row, ensure_ascii=False), flush=True)
    print()
    head = ("stops", "days", "end-to-end s (cpu)", "matrix s", "drive min", "reference", "gap",
            "nearest-neighbour min", "ratio")  # fmt: skip
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        timing = f"{r['seconds']} ({r['cpu_seconds']})"
        cells = (r["stops"], f"{r['days_used']}/{r['days']}", timing, r["matrix_seconds"],
                 r["drive_min"], f"{r['reference']} {r['reference_min']}",
                 f"{r['gap'] * 100:.2f} %", r["nearest_neighbour_min"],
                 r["vs_nearest_neighbour"])  # fmt: skip
        print("| " + " | ".join(str(c) for c in cells) + " |")
    fifty = next((r for r in rows if r["stops"] == 50), None)
    small = [r for r in rows if r["stops"] <= 10]
    print()
    if fifty:
        ok = min(fifty["seconds"], fifty["cpu_seconds"]) <= 5.0 and fifty["gap"] <= 0.01
        verdict = "met" if ok else "NOT met"
        print(f"target 50 stops / 3 days ≤ 5 s within 1 % of the long run: "
              f"{fifty['seconds']} s wall, {fifty['cpu_seconds']} s cpu, "
              f"gap {fifty['gap'] * 100:.2f} % → {verdict}")  # fmt: skip
    for r in small:
        print(f"target ≤ 10 stops exactly optimal: gap {r['gap'] * 100:.2f} % → "
              f"{'met' if r['gap'] <= 1e-9 else 'NOT met'}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vrptw", nargs="+", metavar="FILE", help="Solomon instances (part a)")
    parser.add_argument("--seconds", type=float, default=5.0, help="wall time per instance (a)")
    parser.add_argument(
        "--cpu-clock", action="store_true", help="(a) limit by this process's CPU time"
    )
    parser.add_argument("--quick", action="store_true", help="10, 20, 50 stops; 10 s long run")
    parser.add_argument("--long-seconds", type=float, default=None, help="reference run (b)")
    parser.add_argument("--network-cache", type=Path, default=None,
                        help="reuse a network cache folder (b)")  # fmt: skip
    args = parser.parse_args()
    if args.vrptw:
        run_vrptw(args.vrptw, args.seconds, args.cpu_clock)
        return
    long_seconds = args.long_seconds or (10.0 if args.quick else 60.0)
    run_tours(args.quick, long_seconds, args.network_cache)


if __name__ == "__main__":
    main()
