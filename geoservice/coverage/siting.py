"""Where to build the next warm stations: the maximal covering location problem.

Existing stations stay where they are. What is left uncovered within the threshold is the
*demand*: the uncovered people roads cut into pieces of at most `DEMAND_PIECE_M` (weight:
their length, objective ``roads``) or the located villages and communities beyond the
threshold (weight 1, objective ``villages``). *Candidates* are network nodes on people
roads, thinned so that no two are closer than `CANDIDATE_SPACING_M` (so at most one per
250 m of road), busiest junctions first.

A candidate covers a demand point when the travel time from the point (walking to the
road first, for a village) to the candidate is within the threshold. Times come from one
bounded Dijkstra per candidate (:func:`scipy.sparse.csgraph.dijkstra` with ``limit``, in
chunks) and the coverage matrix is kept *sparse*; demand points with the same set of
covering candidates are merged. The model

    maximise  Σ w_i y_i   subject to   y_i ≤ Σ_j a_ij x_j,   Σ_j x_j = n,   x binary

is solved by HiGHS (:mod:`highspy`), an established open-source MILP solver; a greedy
solution of the same model is reported beside it. The chosen sites are then evaluated
*exactly* by the coverage engine (the stations plus the new sites), site by site in the
order of their marginal gain, so every reported figure is an exact road length or
village count, not the model's approximation.

The set-covering answer — how many new stations would bring every located village
within the threshold — is solved on the same candidates.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from geoservice import params
from geoservice.coverage.engine import CoverageEngine, ModeCache, Snapshot
from geoservice.coverage.envelope import cost_at
from geoservice.coverage.query import DEFAULT_MINUTES, MAX_MINUTES, CoverageQuery, parse_minutes
from geoservice.errors import ParameterError
from geoservice.i18n import N_

if TYPE_CHECKING:
    import highspy

    from geoservice.coverage.result import Coverage
    from geoservice.coverage.roads import Roads
    from geoservice.network import Network
    from geoservice.responses import (
        CoverageSummary,
        GreedyInfo,
        NetworkSummary,
        Notice,
        SetCover,
        SitingAnswer,
        SitingQueryEcho,
        SolverInfo,
        SuggestedSite,
    )

__all__ = [
    "CANDIDATE_SPACING_M",
    "N_MAX",
    "OBJECTIVES",
    "Siting",
    "SitingQuery",
    "SolverRun",
    "greedy",
    "solve_mclp",
    "suggest",
]

#: Objectives: what a new station should bring within reach.
OBJECTIVES = {"roads": N_("道路长度"), "villages": N_("村庄（社区）")}
N_MAX = 50
#: No two candidate sites closer than this (metres, straight line).
CANDIDATE_SPACING_M = 250.0
#: Uncovered roads are cut into demand pieces at most this long.
DEMAND_PIECE_M = 100.0
#: Time the solver may take per model (seconds); the answer says if it stopped early.
SOLVER_TIME_LIMIT_S = 20.0
#: Candidates per bounded Dijkstra call, at most (scipy hands back a dense chunk × nodes
#: float64 array, whatever the limit) and the bytes that array may take: on a city-size
#: network the chunk shrinks (Miyun's 30,000 nodes keep all 256: 61 MB).
_CHUNK = 256
_CHUNK_BYTES = 64 * 1024**2


def _one_threshold(raw: object, name: str, default: tuple[float, ...]) -> tuple[float, ...]:
    return parse_minutes(raw, default=default)


@dataclass(frozen=True)
class SitingQuery:
    """Parameters of a siting run (a request declaration, :mod:`geoservice.params`).

    Attributes
    ----------
    n : int
        New stations to place (1–`N_MAX`).
    objective : str
        ``roads`` (uncovered people-road length) or ``villages`` (located villages).
    coverage : CoverageQuery
        Mode, station filters and the one threshold the sites must meet (default the
        mode's largest: 15 for walking).
    """

    n: int = params.param(
        params.read_integer(1, N_MAX), f"new sites (1–{N_MAX}, default 10)", default=10, example=3
    )
    objective: str = params.param(
        params.read_choice(OBJECTIVES),
        "what a new site should bring within reach: "
        + ", ".join(f"{k} {v}" for k, v in OBJECTIVES.items()),
        default="roads",
        example="roads",
    )
    coverage: CoverageQuery = params.nested(
        default_factory=lambda: CoverageQuery(minutes=DEFAULT_MINUTES["walk"][-1:]),
        override=[
            params.override(
                "minutes",
                params.read_with(
                    _one_threshold,
                    {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_MINUTES},
                ),
                "the threshold (one; default the mode's largest: walk 15, bike 10, drive 10)",
                default=DEFAULT_MINUTES["walk"][-1:],
                default_by=lambda earlier: DEFAULT_MINUTES[earlier["mode"]][-1:],
                example=15,
            )
        ],
        # Read as for the coverage answer, but not offered: the sites do not depend on it.
        undocumented=["buffer_m"],
    )

    def __post_init__(self) -> None:
        if len(self.coverage.minutes) > 1:
            name = "minutes"
            raise ParameterError(
                name,
                "选址只用一个时间阈值（如 15）",
                "siting takes one threshold (e.g. 15)",
            )

    @classmethod
    def parse(cls, args: Mapping[str, object]) -> SitingQuery:
        """Read ``n`` and ``objective`` plus the coverage parameters from CLI or JSON values
        (:meth:`CoverageQuery.parse`); ``minutes`` defaults to the mode's largest default
        threshold (15 for walking).

        Raises
        ------
        ParameterError
        """
        return params.parse_values(cls, args)

    def to_dict(self) -> SitingQueryEcho:
        return {**self.coverage.to_dict(), "n": self.n, "objective": self.objective}


@dataclass
class Siting:
    """Suggested sites with their exact marginal gains, and the set-covering answer."""

    query: SitingQuery
    network: NetworkSummary
    sites: list[SuggestedSite]
    before: CoverageSummary
    after: CoverageSummary
    set_cover: SetCover
    solver: SolverInfo
    greedy: GreedyInfo
    notices: list[Notice] = field(default_factory=list)

    def to_dict(self) -> SitingAnswer:
        """JSON-ready answer."""
        return {
            "query": self.query.to_dict(),
            "network": self.network,
            "before": self.before,
            "after": self.after,
            "sites": self.sites,
            "set_cover": self.set_cover,
            "solver": self.solver,
            "greedy": self.greedy,
            "notices": self.notices,
        }

    def to_geojson(self) -> dict[str, Any]:
        """The sites as a GeoJSON FeatureCollection with the answer as ``siting``."""
        feats = [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [s["lon"], s["lat"]]},
                "properties": {k: v for k, v in s.items() if k not in ("lon", "lat")},
            }
            for s in self.sites
        ]
        return {"type": "FeatureCollection", "features": feats, "siting": self.to_dict()}


# -- the model --------------------------------------------------------------------------------


class SolverRun(TypedDict):
    """How a solver run went (the first fields of the answer's
    :class:`~geoservice.responses.SolverInfo`)."""

    solver: str
    status: str
    objective: float
    bound: float
    gap: float | None
    seconds: float


def solve_mclp(
    cover: sp.csr_matrix, weight: np.ndarray, n: int, *, time_limit: float = SOLVER_TIME_LIMIT_S
) -> tuple[np.ndarray, SolverRun]:
    """Maximal covering: choose ``n`` columns of ``cover`` (demand × candidates, 0/1)
    maximising the weight of the rows they cover.

    Returns
    -------
    chosen : ndarray of int
        Column indices, at most ``n``.
    info : SolverRun
        ``solver``, ``status``, ``objective``, ``bound``, ``gap``, ``seconds``.
    """
    import highspy

    cover = sp.csr_matrix(cover, dtype=float)
    d, c = cover.shape
    n = min(n, c)
    if d == 0 or c == 0 or n == 0:
        return np.empty(0, dtype=np.int64), _info("optimal", 0.0, 0.0, 0.0)
    # Columns: x_0..x_{c-1} (binary), y_0..y_{d-1} (continuous in [0, 1]).
    # Rows: y_i - Σ_j a_ij x_j <= 0 for every demand row, then Σ x_j = n.
    ay = sp.hstack([-cover, sp.identity(d, format="csr")], format="csr")
    count = sp.csr_matrix(np.concatenate([np.ones(c), np.zeros(d)])[None, :])
    a = sp.vstack([ay, count], format="csc")
    lp = highspy.HighsLp()
    lp.num_col_ = c + d
    lp.num_row_ = d + 1
    lp.col_cost_ = np.concatenate([np.zeros(c), weight.astype(float)])
    lp.col_lower_ = np.zeros(c + d)
    lp.col_upper_ = np.ones(c + d)
    lp.row_lower_ = np.concatenate([np.full(d, -highspy.kHighsInf), [n]])
    lp.row_upper_ = np.concatenate([np.zeros(d), [n]])
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data
    lp.integrality_ = [highspy.HighsVarType.kInteger] * c + [highspy.HighsVarType.kContinuous] * d
    x, info = _run(lp, time_limit)
    chosen = np.flatnonzero(x[:c] > 0.5)
    return chosen, info


def solve_set_cover(
    cover: sp.csr_matrix, *, time_limit: float = SOLVER_TIME_LIMIT_S
) -> tuple[np.ndarray, SolverRun]:
    """Fewest columns of ``cover`` (demand × candidates) covering every row (rows must each
    have a candidate)."""
    import highspy

    cover = sp.csc_matrix(cover, dtype=float)
    d, c = cover.shape
    if d == 0:
        return np.empty(0, dtype=np.int64), _info("optimal", 0.0, 0.0, 0.0)
    lp = highspy.HighsLp()
    lp.num_col_ = c
    lp.num_row_ = d
    lp.col_cost_ = np.ones(c)
    lp.col_lower_ = np.zeros(c)
    lp.col_upper_ = np.ones(c)
    lp.row_lower_ = np.ones(d)
    lp.row_upper_ = np.full(d, highspy.kHighsInf)
    lp.sense_ = highspy.ObjSense.kMinimize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = cover.indptr.astype(np.int32)
    lp.a_matrix_.index_ = cover.indices.astype(np.int32)
    lp.a_matrix_.value_ = cover.data
    lp.integrality_ = [highspy.HighsVarType.kInteger] * c
    x, info = _run(lp, time_limit)
    return np.flatnonzero(x > 0.5), info


def _run(lp: highspy.HighsLp, time_limit: float) -> tuple[np.ndarray, SolverRun]:
    import highspy

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit))
    h.setOptionValue("random_seed", 0)
    h.setOptionValue("threads", 1)
    h.setOptionValue("mip_rel_gap", 1e-6)
    started = time.perf_counter()
    h.passModel(lp)
    h.run()
    seconds = time.perf_counter() - started
    status = h.modelStatusToString(h.getModelStatus())
    info = h.getInfo()
    x = np.asarray(h.getSolution().col_value, dtype=float)
    if len(x) != lp.num_col_:
        x = np.zeros(lp.num_col_)
    return x, _info(
        "optimal" if status == "Optimal" else status,
        float(info.objective_function_value),
        float(info.mip_dual_bound),
        float(info.mip_gap),
        seconds,
    )


def _info(
    status: str, objective: float, bound: float, gap: float, seconds: float = 0.0
) -> SolverRun:
    return {
        "solver": "HiGHS (highspy)",
        "status": status,
        "objective": objective,
        "bound": bound,
        "gap": gap if math.isfinite(gap) else None,
        "seconds": round(seconds, 3),
    }


def greedy(cover: sp.csr_matrix, weight: np.ndarray, n: int) -> np.ndarray:
    """The greedy baseline: ``n`` times, the column adding the most uncovered weight
    (ties: the lowest index)."""
    cover = sp.csr_matrix(cover, dtype=float)
    at = cover.T.tocsr()
    left = weight.astype(float).copy()
    chosen: list[int] = []
    for _ in range(min(n, cover.shape[1])):
        gains = at @ left
        j = int(np.argmax(gains))
        if gains[j] <= 0:
            break
        chosen.append(j)
        rows = at.indices[at.indptr[j] : at.indptr[j + 1]]
        left[rows] = 0.0
    return np.array(chosen, dtype=np.int64)


def covered_weight(cover: sp.csr_matrix, weight: np.ndarray, chosen: np.ndarray) -> float:
    """Weight of the rows covered by the columns ``chosen``."""
    if not len(chosen):
        return 0.0
    hit = np.asarray(sp.csr_matrix(cover)[:, chosen].sum(axis=1)).ravel() > 0
    return float(weight[hit].sum())


# -- candidates and demand --------------------------------------------------------------------


def _candidates(net: Network, cache: ModeCache) -> np.ndarray:
    """Nodes on people roads of ``net``, at least `CANDIDATE_SPACING_M` apart, junctions
    first."""
    hit = cache.extras.get("candidates")
    if hit is not None and hit[0] == cache.places_key:
        return hit[1]
    roads, places = cache.roads, cache.places
    people = np.flatnonzero(places.people)
    ends = np.concatenate([roads.u[people], roads.v[people]])
    nodes, degree = np.unique(ends, return_counts=True)
    order = np.lexsort((nodes, -degree))
    nodes = nodes[order]
    x, y = net.to_metric(net.node_xy[nodes, 0], net.node_xy[nodes, 1])
    tree = cKDTree(np.column_stack([x, y]))
    near = tree.query_ball_point(np.column_stack([x, y]), CANDIDATE_SPACING_M - 1e-9)
    taken = np.zeros(len(nodes), dtype=bool)
    blocked = np.zeros(len(nodes), dtype=bool)
    for i in range(len(nodes)):
        if blocked[i]:
            continue
        taken[i] = True
        blocked[near[i]] = True
    chosen = np.sort(nodes[taken])
    cache.extras["candidates"] = (cache.places_key, chosen)
    return chosen


def _times_to(rev: sp.csr_matrix, targets: np.ndarray, limit: float) -> sp.csc_matrix:
    """Sparse (targets × nodes) travel times from every node to each target, up to
    ``limit`` (bounded Dijkstra on the reversed graph, in chunks)."""
    n = rev.shape[0]
    step = max(1, min(_CHUNK, _CHUNK_BYTES // (8 * max(n, 1))))
    rows, cols, data = [], [], []
    for a in range(0, len(targets), step):
        chunk = targets[a : a + step]
        dist = csgraph.dijkstra(rev, indices=chunk, limit=limit)
        r, c = np.nonzero(np.isfinite(dist))
        rows.append(r + a)
        cols.append(c)
        # Zero (the target itself) must survive the sparse format.
        data.append(np.maximum(dist[r, c], 1e-9))
    m = sp.csr_matrix(
        (np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))),
        shape=(len(targets), n),
    )
    return m.tocsc()


def _cover(
    times: sp.csc_matrix, roads: Roads, r: np.ndarray, g: np.ndarray, access: np.ndarray, tau: float
) -> sp.csr_matrix:
    """Demand × candidate 0/1 matrix: points on roads ``r`` at ``g`` (after ``access``
    seconds) reach the candidate through either end of their road within ``tau``."""
    parts = []
    for node, extra in (
        (roads.v[r], access + (1 - g) * roads.tf[r]),
        (roads.u[r], access + g * roads.tb[r]),
    ):
        ok = np.isfinite(extra) & (extra <= tau)
        cols = times[:, node].tocsc()  # candidates × demand
        col_of = np.repeat(np.arange(len(r)), np.diff(cols.indptr))
        keep = (cols.data + extra[col_of] <= tau) & ok[col_of]
        parts.append(
            sp.csr_matrix(
                (np.ones(int(keep.sum())), (col_of[keep], cols.indices[keep])),
                shape=(len(r), times.shape[0]),
            )
        )
    out = (parts[0] + parts[1]).tocsr()
    out.data[:] = 1.0
    out.eliminate_zeros()
    return out


def _merge_rows(cover: sp.csr_matrix, weight: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """Merge demand rows covered by exactly the same candidates (weights added); drop rows
    no candidate covers."""
    cover = cover.tocsr()
    cover.sort_indices()
    keys: dict[bytes, int] = {}
    group = np.empty(cover.shape[0], dtype=np.int64)
    for i in range(cover.shape[0]):
        key = cover.indices[cover.indptr[i] : cover.indptr[i + 1]].tobytes()
        group[i] = keys.setdefault(key, len(keys))
    w = np.bincount(group, weights=weight, minlength=len(keys))
    first = np.full(len(keys), -1, dtype=np.int64)
    first[group[::-1]] = np.arange(cover.shape[0])[::-1]
    merged = cover[first]
    keep = np.diff(merged.indptr) > 0
    return merged[keep], w[keep]


# -- the answer ---------------------------------------------------------------------------------


def suggest(engine: CoverageEngine, query: SitingQuery | Mapping[str, object]) -> Siting:
    """Suggest ``n`` new sites for ``query`` (a :class:`SitingQuery` or raw parameters).

    Raises
    ------
    ParameterError
    """
    if not isinstance(query, SitingQuery):
        query = SitingQuery.parse(query)
    with engine.snapshot(query.coverage.mode) as state:
        base = state.coverage(query.coverage, geometry=False)
        return _suggest(state, query, base)


def _suggest(state: Snapshot, query: SitingQuery, base: Coverage) -> Siting:
    cq = query.coverage
    cache, net = state.cache, state.network
    roads, places = cache.roads, cache.places
    tau = float(cq.seconds[-1])
    started = time.perf_counter()
    cand = _candidates(net, cache)
    # Demand: uncovered people roads in short pieces, or uncovered located villages.
    p = base.pieces
    road_demand = (p.lvl1 > 0) & places.people[p.r]
    pr, pg0, pg1 = p.r[road_demand], p.g0[road_demand], p.g1[road_demand]
    plen = (pg1 - pg0) * roads.lf[pr]
    k = np.maximum(1, np.ceil(plen / DEMAND_PIECE_M)).astype(np.int64)
    rep = np.repeat(np.arange(len(pr)), k)
    j = np.arange(k.sum()) - np.repeat(np.cumsum(k) - k, k)
    step = (pg1 - pg0)[rep] / k[rep]
    d_r = pr[rep]
    d_g = pg0[rep] + step * (j + 0.5)
    d_w = step * roads.lf[d_r]
    d_access = np.zeros(len(d_r))
    vil = places.villages
    if len(vil):
        t, _ = cost_at(roads, state.field(cq), places.village_road, places.village_g)
        v_out = np.flatnonzero(~((t + places.village_access_s) <= tau))
    else:
        v_out = np.empty(0, dtype=np.int64)
    v_r, v_g = places.village_road[v_out], places.village_g[v_out]
    v_access = places.village_access_s[v_out]
    times = _times_to(roads.rev_time, cand, tau)
    road_cover = _cover(times, roads, d_r, d_g, d_access, tau)
    village_cover = _cover(times, roads, v_r, v_g, v_access, tau)
    if query.objective == "roads":
        model, weight = _merge_rows(road_cover, d_w)
    else:
        model, weight = _merge_rows(village_cover, np.ones(len(v_out)))
    prepared = time.perf_counter() - started
    chosen, info = solve_mclp(model, weight, query.n)
    g_started = time.perf_counter()
    g_chosen = greedy(model, weight, query.n)
    g_seconds = time.perf_counter() - g_started
    demand_points = len(d_r) if query.objective == "roads" else len(v_out)
    solver = _solver_info(info, model, len(cand), demand_points, prepared)
    # Order the chosen sites by marginal gain in the model, then measure them exactly.
    order = greedy(model[:, chosen], weight, len(chosen))
    chosen = chosen[order]
    nodes = cand[chosen]
    total_m = float(roads.lf[places.people].sum())
    before_m, before_v = state.evaluate(cq, np.empty(0, dtype=np.int64))
    steps = [(before_m, before_v)]
    for i in range(1, len(nodes) + 1):
        steps.append(state.evaluate(cq, nodes[:i]))
    n_vil = len(vil)
    lon, lat = net.node_xy[nodes, 0], net.node_xy[nodes, 1]
    node_town = _node_towns(cache, nodes)
    sites: list[SuggestedSite] = []
    for i, node in enumerate(nodes.tolist()):
        (m0, v0), (m1, v1) = steps[i], steps[i + 1]
        sites.append(
            {
                "rank": i + 1,
                "node": int(node),
                "lon": round(float(lon[i]), 7),
                "lat": round(float(lat[i]), 7),
                "town": places.town_label(int(node_town[i])),
                "town_code": places.town_code(int(node_town[i])),
                "added_road_km": round((m1 - m0) / 1000, 3),
                "added_villages": int(v1 - v0),
                "covered_km_after": round(m1 / 1000, 3),
                "covered_share_after": _share(m1, total_m),
                "villages_covered_after": int(v1),
                "villages_share_after": _share(v1, n_vil),
                "model_gain": round(
                    covered_weight(model, weight, chosen[: i + 1])
                    - covered_weight(model, weight, chosen[:i]),
                    3,
                ),
            }
        )
    after_m, after_v = steps[-1]
    g_value = covered_weight(model, weight, g_chosen)
    greedy_info: GreedyInfo = {
        "sites": len(g_chosen),
        "objective": round(g_value, 3),
        "seconds": round(g_seconds, 4),
        "nodes": [int(x) for x in cand[g_chosen]],
    }
    set_cover = _set_cover(cand, village_cover, len(v_out), n_vil)
    return Siting(
        query=query,
        network=net.describe(),
        sites=sites,
        before=_summary(before_m, before_v, total_m, n_vil),
        after=_summary(after_m, after_v, total_m, n_vil),
        set_cover=set_cover,
        solver=solver,
        greedy=greedy_info,
        notices=base.notices,
    )


def _solver_info(
    run: SolverRun, model: sp.csr_matrix, candidates: int, demand_points: int, prepared: float
) -> SolverInfo:
    """The solver's run on ``model`` (demand rows × candidates) and the model's size."""
    return {
        **run,
        "objective": round(run["objective"], 3),
        "bound": round(run["bound"], 3),
        "candidates": candidates,
        "candidates_used": int(model.shape[1] and (np.diff(model.tocsc().indptr) > 0).sum()),
        "demand_points": int(demand_points),
        "demand_rows": int(model.shape[0]),
        "nonzeros": int(model.nnz),
        "prepare_seconds": round(prepared, 3),
    }


def _node_towns(cache: ModeCache, nodes: np.ndarray) -> np.ndarray:
    roads, places = cache.roads, cache.places
    out = np.full(len(nodes), places.unassigned, dtype=np.int64)
    for i, node in enumerate(nodes.tolist()):
        at = np.flatnonzero((roads.u == node) | (roads.v == node))
        people = at[places.people[at]]
        pick = people if len(people) else at
        if len(pick):
            out[i] = places.road_town[pick[0]]
    return out


def _set_cover(cand: np.ndarray, village_cover: sp.csr_matrix, out: int, total: int) -> SetCover:
    coverable = np.diff(village_cover.tocsr().indptr) > 0
    rows = village_cover.tocsr()[coverable]
    chosen, info = solve_set_cover(rows)
    return {
        "villages": total,
        "uncovered": out,
        "coverable": int(coverable.sum()),
        "not_coverable": int((~coverable).sum()),
        "stations_needed": len(chosen),
        "optimal": info["status"] == "optimal",
        "status": info["status"],
        "nodes": [int(x) for x in cand[chosen]],
        "note_zh": (
            "尚无村庄、社区坐标" if total == 0 else
            f"另有 {int((~coverable).sum())} 个村庄（社区）距道路过远，新建站点也无法在阈值内到达"
            if (~coverable).any() else ""
        ),
    }  # fmt: skip


def _share(a: float, b: float) -> float | None:
    return round(a / b, 4) if b > 0 else None


def _summary(metres: float, villages: int, total_m: float, total_v: int) -> CoverageSummary:
    return {
        "covered_km": round(metres / 1000, 3),
        "covered_share": _share(metres, total_m),
        "road_km": round(total_m / 1000, 3),
        "villages_covered": int(villages),
        "villages": int(total_v),
        "villages_share": _share(villages, total_v),
    }
