"""The generic vehicle-routing core: matrices, clients with time windows → routes.

One function, :func:`solve`, over PyVRP 0.14's iterated local search. Both the caravan
planner (:mod:`geoservice.tours.planner`) and the Solomon benchmark (``bench/bench_tour.py``)
call it, so the yardstick measures the code the service runs.

Reproducibility: the search is bounded by iterations (:class:`Budget`), which do not depend
on the machine's speed; with the same seed the same problem gives the same routes anywhere.
A wall-clock limit is kept as a safety net only, and the result says when it fired.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pyvrp import ProblemData

#: Matrix entry for a pair with no road between them: PyVRP's largest safe value
#: (``pyvrp.constants.MAX_VALUE``, 2**44) / 4. pyvrp itself is imported by the search only,
#: so that the web processes, which never solve, start without it.
UNREACHABLE = 2**44 // 4


@dataclass
class Problem:
    """A VRP with time windows, optional clients, client groups and an optional capacity.

    Times are integers in one unit (seconds for the caravan, 0.1 units for Solomon).
    Location 0 is the depot; each client stands at one location (several clients may
    share one, e.g. two variants of the same stop).

    Attributes
    ----------
    duration : ndarray (L, L) int
        Travel time between locations.
    cost : ndarray (L, L) int, optional
        What the objective sums per edge; the durations when None.
    location, service, tw_early, tw_late : ndarray (C,) int
        Per client: location index (1..L-1 or 0), service time, earliest and latest start.
    prize : ndarray (C,) int
        Collected when an optional client is visited (0 for required ones).
    required : ndarray (C,) bool
        Must be visited. Clients of a group are never required themselves.
    groups : list of (list of int, bool)
        Mutually exclusive client groups: at most one member is visited, exactly one when
        the group is required.
    demand : ndarray (C, K) int, optional
        Load per client and dimension; ``capacity`` gives the vehicles' K capacities.
    vehicles : int
        Routes available (all alike).
    depot_tw : (int, int)
        When vehicles may leave and must be back.
    fixed_cost : int
        Added to the objective per route used.
    shift : int, optional
        Longest route duration (from leaving the depot to returning, waits included).
    xy : ndarray (L, 2), optional
        Coordinates for display only.
    """

    duration: np.ndarray
    location: np.ndarray
    service: np.ndarray
    tw_early: np.ndarray
    tw_late: np.ndarray
    vehicles: int
    depot_tw: tuple[int, int]
    cost: np.ndarray | None = None
    prize: np.ndarray | None = None
    required: np.ndarray | None = None
    groups: list[tuple[list[int], bool]] = field(default_factory=list)
    demand: np.ndarray | None = None
    capacity: list[int] | None = None
    fixed_cost: int = 0
    shift: int | None = None
    xy: np.ndarray | None = None

    @property
    def n_clients(self) -> int:
        return len(self.location)


@dataclass(frozen=True)
class Budget:
    """How long to search: iterations (reproducible) and a wall-clock safety net.

    Attributes
    ----------
    iterations : int, optional
        Stop after this many iterations.
    no_improvement : int, optional
        Stop after this many iterations without a better solution.
    seconds : float
        Stop after this long whatever happens (the safety net; or the limit itself when
        both iteration bounds are None, as in the benchmark).
    seed : int
        Seed of the search's random numbers.
    cpu_clock : bool
        Measure ``seconds`` in this process's CPU time instead of wall time: what the
        search would get on an idle machine (benchmarks on a shared machine).
    """

    iterations: int | None = 20_000
    no_improvement: int | None = 4_000
    seconds: float = 60.0
    seed: int = 1
    cpu_clock: bool = False


@dataclass
class Solution:
    """The best routes found.

    Attributes
    ----------
    routes : list of list of int
        Client indices in visit order, one list per used vehicle.
    feasible : bool
        Every time window, capacity and required client/group is respected.
    objective : int or None
        PyVRP's cost: edge costs + fixed costs + uncollected prizes (None if infeasible).
    travel_cost : int
        Sum of the edge costs of the routes (the ``cost`` matrix).
    iterations : int
        Search iterations run.
    seconds : float
        Wall-clock time of the search.
    stopped_by : str
        ``"iterations"``, ``"no_improvement"`` or ``"time_limit"``.
    """

    routes: list[list[int]]
    feasible: bool
    objective: int | None
    travel_cost: int
    iterations: int
    seconds: float
    stopped_by: str


class _Stop:
    """PyVRP stopping criterion combining the budget's bounds; remembers which fired and
    reports progress (called once per iteration with the best cost)."""

    def __init__(self, budget: Budget, progress: Callable[[int, int], None] | None) -> None:
        self.budget = budget
        self.progress = progress
        self.calls = 0
        self.best: int | None = None
        self.since_best = 0
        self.clock = time.process_time if budget.cpu_clock else time.perf_counter
        self.started = self.clock()
        self.reason = ""
        self.total = budget.iterations or 0

    def __call__(self, best_cost: int) -> bool:
        b = self.budget
        if self.best is None or best_cost < self.best:
            self.best, self.since_best = best_cost, 0
        else:
            self.since_best += 1
        done = self.calls
        self.calls += 1
        if self.progress is not None and done % 200 == 0:
            self.progress(done, self.total)
        if b.iterations is not None and done >= b.iterations:
            self.reason = "iterations"
        elif b.no_improvement is not None and self.since_best >= b.no_improvement:
            self.reason = "no_improvement"
        elif self.clock() - self.started > b.seconds:
            self.reason = "time_limit"
        return bool(self.reason)


def solve(
    problem: Problem,
    budget: Budget = Budget(),
    progress: Callable[[int, int], None] | None = None,
) -> Solution:
    """Solve ``problem`` with PyVRP's iterated local search.

    Parameters
    ----------
    problem : Problem
        The instance.
    budget : Budget
        Iteration bounds, wall-clock safety net and seed.
    progress : callable, optional
        ``progress(iterations_done, iterations_total)``, called every 200 iterations.

    Returns
    -------
    Solution
    """
    data = _data(problem)
    stop = _Stop(budget, progress)
    started = time.perf_counter()
    from pyvrp import SolveParams
    from pyvrp import solve as _pyvrp_solve

    result = _pyvrp_solve(
        data, stop, seed=budget.seed, collect_stats=False, display=False, params=SolveParams()
    )
    seconds = time.perf_counter() - started
    if progress is not None:
        progress(stop.total or stop.calls, stop.total or stop.calls)
    best = result.best
    cost = problem.duration if problem.cost is None else problem.cost
    routes = []
    travel = 0
    for route in best.routes():
        visits = [a.idx for a in route if a.is_client()]
        if not visits:
            continue
        locs = [0, *problem.location[visits].tolist(), 0]
        travel += int(cost[locs[:-1], locs[1:]].sum())
        routes.append(visits)
    return Solution(
        routes=routes,
        feasible=bool(best.is_feasible()),
        objective=int(result.cost()) if best.is_feasible() else None,
        travel_cost=travel,
        iterations=int(result.num_iterations),
        seconds=seconds,
        stopped_by=stop.reason or "iterations",
    )


def _data(p: Problem) -> ProblemData:
    """PyVRP's ProblemData for ``p`` (matrices handed over whole, no per-edge objects)."""
    from pyvrp import Client, ClientGroup, Depot, Location, ProblemData, VehicleType

    n_loc = len(p.duration)
    xy = p.xy if p.xy is not None else np.zeros((n_loc, 2))
    locations = [Location(x=float(x), y=float(y)) for x, y in xy]
    c = p.n_clients
    prize = p.prize if p.prize is not None else np.zeros(c, dtype=np.int64)
    required = p.required if p.required is not None else np.ones(c, dtype=bool)
    demand = p.demand if p.demand is not None else np.zeros((c, 0), dtype=np.int64)
    group_of = np.full(c, -1)
    for g, (members, _) in enumerate(p.groups):
        group_of[members] = g
    clients = [
        Client(
            location=int(p.location[i]),
            delivery=[int(x) for x in demand[i]],
            service_duration=int(p.service[i]),
            tw_early=int(p.tw_early[i]),
            tw_late=int(p.tw_late[i]),
            prize=int(prize[i]),
            required=bool(required[i]) and group_of[i] < 0,
            group=int(group_of[i]) if group_of[i] >= 0 else None,
        )
        for i in range(c)
    ]
    groups = [ClientGroup(list(members), required=req) for members, req in p.groups]
    vehicle = VehicleType(
        num_available=p.vehicles,
        capacity=list(p.capacity or []),
        tw_early=int(p.depot_tw[0]),
        tw_late=int(p.depot_tw[1]),
        fixed_cost=int(p.fixed_cost),
        shift_duration=int(p.shift) if p.shift is not None else np.iinfo(np.int64).max,
    )
    depot = Depot(location=0, tw_early=int(p.depot_tw[0]), tw_late=int(p.depot_tw[1]))
    duration = np.minimum(np.asarray(p.duration, dtype=np.int64), UNREACHABLE)
    cost = duration if p.cost is None else np.minimum(np.asarray(p.cost, np.int64), UNREACHABLE)
    # PyVRP's stubs type a matrix as ``np.ndarray[int]`` (an int as the shape type), which
    # no array matches: the lists of matrices are left untyped.
    costs: list[Any] = [cost]
    durations: list[Any] = [duration]
    return ProblemData(locations, clients, [depot], [vehicle], costs, durations, groups)
