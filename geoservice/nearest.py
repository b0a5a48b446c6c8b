"""The nearest open warm station by road travel time: the engine behind ``/api/nearest``.

How it answers fast and exactly:

1. Every station is snapped once onto its nearest road and joined to the graph as a
   virtual node (from the road's start node at ``frac × edge time``, and from its end
   node through the reverse edge when the road is two-way): the pieces of
   :class:`~geoservice.network.points.RoadPoints`, the one road-point model of every job.
2. One multi-source Dijkstra per mode over the *reversed* graph
   (:func:`scipy.sparse.csgraph.dijkstra`) gives, for every station and every node, the
   travel time from that node to the station and the next node on the way
   (predecessors). Rows are cached by the station's snap position, so editing a
   station's hours or name recomputes nothing and moving one recomputes one row.
3. A query snaps the origin onto its edge (exact, STRtree), reads the two candidate
   nodes' columns, adds the partial-edge costs, masks the stations that fail the filters
   (kind, amenities, open at the requested time) and takes the k smallest. Filters only
   mask rows, so every filter combination is answered exactly.
4. Routes are rebuilt by following predecessors; geometry comes from the stored edge
   polylines.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import scipy.sparse as sp
import shapely
from scipy.sparse import csgraph

from geoservice import crs, district
from geoservice import hours as _hours
from geoservice.errors import (
    BudgetError,
    GeoserviceError,
    NetworkError,
    NetworkLoadingError,
    ParameterError,
)
from geoservice.filters import WARM_OPEN_NOW, StationFilter
from geoservice.model import AMENITIES, Station
from geoservice.network import MODE_LABELS, MODES, Network, NetworkLibrary
from geoservice.network.library import Watched
from geoservice.network.points import MAX_SNAP_M, RoadPoints
from geoservice.store import Store

if TYPE_CHECKING:
    from geoservice.responses import Stale

#: A route straight along the origin's road passes no node.
_NO_NODES = np.empty(0, dtype=np.int64)
#: Every station, open or not (the warm-up question).
_ANY = StationFilter(kinds=(), open_only=False)
log = logging.getLogger(__name__)
K_MAX = 20


@dataclass
class _Trees:
    """Per-mode station rows: time from every node to each station, and the next hop."""

    keys: list[tuple[int, float]]
    dist: np.ndarray  # (S, N) seconds from node to station
    pred: np.ndarray  # (S, N) next node toward the station; -9999 none; >= N: the station
    stations: RoadPoints  # where each station meets its road


@dataclass
class _StationTable:
    """The stations as plain arrays and records, built once per store revision."""

    stations: list[Station]
    ids: np.ndarray
    kind: np.ndarray
    amenity: np.ndarray  # (S, len(AMENITIES)) bool
    open_cache: dict[dt.datetime, np.ndarray]
    town_names: dict[str, str]

    @classmethod
    def build(
        cls, gdf: gpd.GeoDataFrame, town_names: dict[str, str] | None = None
    ) -> _StationTable:
        stations = Station.from_frame(gdf)
        keys = list(AMENITIES)
        amenity = np.zeros((len(stations), len(keys)), dtype=bool)
        for i, st in enumerate(stations):
            amenity[i, [keys.index(a) for a in st.amenities]] = True
        return cls(
            stations=stations,
            ids=np.array([st.id for st in stations], dtype=object),
            kind=np.array([st.kind for st in stations], dtype=object),
            amenity=amenity,
            open_cache={},
            town_names=town_names or {},
        )

    def is_open(self, at: dt.datetime) -> np.ndarray:
        """Open-now mask at ``at`` by the one open rule (cached per minute: hours have
        minute resolution; an unreadable value counts as closed)."""
        key = at.replace(second=0, microsecond=0)
        hit = self.open_cache.get(key)
        if hit is None:
            exprs = [st.opening_hours for st in self.stations]
            hit = _hours.open_mask(exprs, key, on_error="closed")
            if len(self.open_cache) > 256:
                self.open_cache.clear()
            self.open_cache[key] = hit
        return hit

    def record(self, s: int, at: dt.datetime) -> dict[str, Any]:
        """The station's record (:meth:`Station.record`) with its open status at ``at``, as
        a plain dict: :meth:`NearestEngine.nearest` adds the trip to it."""
        return {**self.stations[s].record(at, self.town_names)}


# -- memory budget ----------------------------------------------------------------------------

#: Bytes the routing rows keep per station and road node: a float64 time, an int32 next hop.
ROW_BYTES = 12
#: Extra bytes per station and node of the chunk being computed: scipy's float64 times and
#: int32 predecessors over the augmented graph, and the predecessors' int32 copy.
BUILD_BYTES = 16
#: Stations per Dijkstra call. Rows are computed chunk by chunk, so the temporaries stay
#: small and the peak is about ROW_BYTES (not ROW_BYTES + BUILD_BYTES) per station and node.
ROW_CHUNK = 256
#: Default of the ``ENGINE_MEMORY_BUDGET`` setting (bytes).
DEFAULT_MEMORY_BUDGET = 4 * 1024**3
_BUDGET_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE | re.ASCII)


def parse_budget(value: object) -> int:
    """A memory budget in bytes from a number or a text such as ``"4GB"``, ``"512 MiB"``.

    Units K, M, G, T (with or without ``B``/``iB``) are binary (1024-based), as memory is.

    Raises
    ------
    ValueError
        For anything else (the app refuses to start with a bad setting).
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        if math.isfinite(value) and value >= 0:
            return int(value)
        m = None
    else:
        m = _BUDGET_RE.match(value) if isinstance(value, str) else None
    if m is None:
        msg = (
            "ENGINE_MEMORY_BUDGET 应为字节数或带单位的大小（如 4GB、512MB）/ "
            f"ENGINE_MEMORY_BUDGET must be bytes or a size like 4GB or 512MB, not {value!r}"
        )
        raise ValueError(msg)
    power = " kmgt".index(m.group(2).lower() or " ")
    return int(float(m.group(1)) * 1024**power)


def rows_memory(stations: int, nodes: Mapping[str, int]) -> int:
    """Peak bytes of the routing rows of ``stations`` stations over networks with ``nodes``
    road nodes per mode: every mode's rows, plus one chunk's temporaries."""
    if stations <= 0 or not nodes:
        return 0
    chunk = min(stations, ROW_CHUNK)
    return ROW_BYTES * stations * sum(nodes.values()) + BUILD_BYTES * chunk * (
        max(nodes.values()) + chunk
    )


def check_budget(stations: int, nodes: Mapping[str, int], budget: int) -> int:
    """Bytes the rows need (see `rows_memory`); :class:`BudgetError` above ``budget``."""
    need = rows_memory(stations, nodes)
    if need > budget:
        raise BudgetError(need, budget, stations, dict(nodes))
    return need


def station_trees(
    net: Network, lon: np.ndarray, lat: np.ndarray, reuse: _Trees | None = None
) -> _Trees:
    """Snap stations and compute their reverse shortest-path rows (reusing unchanged rows).

    Rows are computed :data:`ROW_CHUNK` stations at a time, so the memory needed is the
    rows themselves plus one chunk's temporaries (:func:`rows_memory`).
    """
    stations = net.snap(lon, lat, with_points=False, cache=True)
    s = len(stations)
    n = net.n_nodes
    keys = [(int(e), round(float(f), 9)) for e, f in zip(stations.edge, stations.frac, strict=True)]
    dist = np.full((s, n), np.inf)
    pred = np.full((s, n), -9999, dtype=np.int32)
    old = {k: i for i, k in enumerate(reuse.keys)} if reuse is not None else {}
    todo = []
    for i, k in enumerate(keys):
        j = old.get(k)
        if reuse is not None and j is not None and reuse.dist.shape[1] == n:
            dist[i] = reuse.dist[j]
            pred[i] = reuse.pred[j]
        else:
            todo.append(i)
    for start in range(0, len(todo), ROW_CHUNK):
        part = todo[start : start + ROW_CHUNK]
        dist[part], pred[part] = _reverse_dijkstra(net, stations.take(np.array(part)))
    return _Trees(keys, dist, pred, stations)


def _reverse_dijkstra(net: Network, stations: RoadPoints) -> tuple[np.ndarray, np.ndarray]:
    """Rows for ``stations``: time from each node, and next hops. Each station is a virtual
    node ``n + i`` reached from the ends of its road (:meth:`RoadPoints.reaching`)."""
    n, s = net.n_nodes, len(stations)
    arcs = stations.reaching()
    data = np.maximum(stations.cost(arcs, net.edge_time), 1e-6)
    base = net.matrix().tocoo()
    aug = sp.csr_matrix(
        (
            np.concatenate([base.data, data]),
            (np.concatenate([base.row, arcs.src]), np.concatenate([base.col, n + arcs.dst])),
        ),
        shape=(n + s, n + s),
    )
    dist, pred = csgraph.dijkstra(
        aug.T.tocsr(), indices=np.arange(n, n + s), return_predecessors=True
    )
    return dist[:, :n], pred[:, :n].astype(np.int32)


@dataclass(frozen=True)
class _Staleness:
    """Why older routing data answers, for one cause (see `NearestEngine.stale`)."""

    zh: str
    en: str
    served: int  # stations the answers use
    in_store: int | None  # stations in the store, when they are the cause


class NearestEngine:
    """Nearest stations by travel time over one network per mode.

    Parameters
    ----------
    networks : dict
        Mode → :class:`~geoservice.network.Network`.
    store : Store
        Where the stations and the district profile live; when its revision changes the
        precomputed rows and the district's boundary (which flags origins outside it) are
        refreshed on the next query (no restart needed).
    """

    def __init__(
        self,
        networks: dict[str, Network],
        store: Store,
        budget: int = DEFAULT_MEMORY_BUDGET,
    ) -> None:
        self.networks = networks
        self.store = store
        self.boundary: shapely.Geometry | None = None
        self.budget = budget
        self._lock = threading.Lock()
        self._revision: str | None = None
        self._stations: _StationTable | None = None
        self._trees: dict[str, _Trees] = {}
        # (store revision, error) of the last station list refused for the budget.
        self._refused: tuple[str, BudgetError] | None = None
        # Why answers come from older routing data: cause ("stations", "network") → details.
        self._stale: dict[str, _Staleness] = {}

    # -- station state ------------------------------------------------------------------
    def node_counts(self) -> dict[str, int]:
        """Road nodes per mode."""
        return {mode: net.n_nodes for mode, net in self.networks.items()}

    @property
    def stale(self) -> Stale | None:
        """None when the answers use the current stations and network; otherwise
        ``{"reason": "中文 / English", "causes": [...], "stations_served": n, ...}``: the
        station list (or network) is newer than the routing data, which was refused for
        the memory budget, and the last good state keeps answering."""
        if not self._stale:
            return None
        details = list(self._stale.values())
        zh = "；".join(d.zh for d in details)
        en = "; ".join(d.en for d in details)
        # The latest cause's counts win (both causes count the stations served).
        out: Stale = {
            "reason": f"{zh} / {en}",
            "causes": list(self._stale),
            "stations_served": details[-1].served,
        }
        for d in details:
            if d.in_store is not None:
                out["stations_in_store"] = d.in_store
        return out

    def mark_stale(self, cause: str, exc: BudgetError) -> None:
        """Record that ``cause`` (``"stations"`` or ``"network"``) is newer than the rows
        that answer, because building them was refused with ``exc``."""
        served = len(self._stations.ids) if self._stations is not None else 0
        if cause == "stations":
            zh = f"站点名单比路由数据新，仍按上次的 {served} 个站点作答"
            en = (
                "the station list is newer than the routing data; answers use the previous "
                f"{served} stations"
            )
            in_store: int | None = exc.stations
        else:
            zh = "路网比路由数据新，仍按原路网作答"
            en = "the road network is newer than the routing data; answers use the previous network"
            in_store = None
        self._stale[cause] = _Staleness(f"{zh}：{exc.zh}", f"{en}: {exc.en}", served, in_store)
        log.warning("routing data kept from before: %s", exc)

    def refresh(self) -> bool:
        """Recompute station rows if the stations changed; True when it did.

        The memory the rows need is checked against ``budget`` before anything is built.
        Over it, the rows of the last good station list keep answering and `stale` says
        why; with no earlier rows, :class:`~geoservice.errors.BudgetError` is raised (and
        again on every call until the stations change).
        """
        if self._settled(self.store.revision()):
            return False
        with self._lock:
            revision = self.store.revision()
            if self._settled(revision):
                return False
            gdf = self.store.stations()
            gdf = gdf.loc[gdf.geometry.notna()].reset_index(drop=True)
            try:
                check_budget(len(gdf), self.node_counts(), self.budget)
            except BudgetError as exc:
                self._refused = (revision, exc)
                if self._stations is None:
                    raise
                self.mark_stale("stations", exc)
                return False
            lon, lat = gdf["lon"].to_numpy(float), gdf["lat"].to_numpy(float)
            trees = {
                mode: station_trees(net, lon, lat, reuse=self._trees.get(mode))
                for mode, net in self.networks.items()
            }
            towns = self.store.read("towns")
            names = dict(zip(towns["code"], towns["name"], strict=True))
            self._stations = _StationTable.build(gdf, names)
            self.boundary = _prepared(district.current(self.store).boundary)
            self._trees, self._revision = trees, revision
            self._refused = None
            self._stale.pop("stations", None)
        return True

    def _settled(self, revision: str) -> bool:
        """Whether ``revision`` needs no work: built already, or refused already (which
        raises again when nothing older can answer)."""
        if revision == self._revision:
            return True
        refused = self._refused
        if refused is None or refused[0] != revision:
            return False
        if self._stations is None:
            raise refused[1]
        return True

    def _state(self) -> tuple[_StationTable, dict[str, _Trees]]:
        self.refresh()
        assert self._stations is not None  # else refresh raised the budget refusal
        return self._stations, self._trees

    @property
    def empty(self) -> bool:
        """True until station rows have been built (refused for the budget so far)."""
        return self._stations is None

    # -- filters -----------------------------------------------------------------------
    @staticmethod
    def _mask(
        table: _StationTable, stations: StationFilter, at: dt.datetime
    ) -> tuple[np.ndarray, str]:
        """Stations passing ``stations`` (open at ``at``, the local moment), and why none
        does ('' when some do)."""
        mask = np.ones(len(table.ids), dtype=bool)
        reasons = []
        kinds = ["warm_station"] if stations.kinds is None else stations.kinds
        if kinds:
            mask &= np.isin(table.kind, kinds)
            if not mask.any():
                reasons.append("没有该类型的站点 / no station of that kind")
        if stations.amenities:
            keys = list(AMENITIES)
            mask &= table.amenity[:, [keys.index(a) for a in stations.amenities]].all(axis=1)
            if not mask.any() and not reasons:
                reasons.append(
                    "没有同时提供所选设施的站点 / no station offers all the chosen amenities"
                )
        if stations.open_only:
            is_open = table.is_open(at)
            if mask.any() and not (mask & is_open).any():
                reasons.append("此时没有开放的站点 / no matching station is open at that time")
            mask &= is_open
        return mask, "; ".join(reasons)

    # -- single query ------------------------------------------------------------------
    def nearest(
        self,
        lon: float,
        lat: float,
        *,
        mode: str = "walk",
        k: int = 3,
        stations: StationFilter = WARM_OPEN_NOW,
        geometry: bool = True,
    ) -> dict[str, Any]:
        """The ``k`` nearest matching stations from a WGS84 point, by travel time.

        Returns
        -------
        dict
            ``{"origin": …, "network": …, "results": [...], "reason": str}``; each result
            has ``travel_time_s``, ``network_distance_m``, ``straight_distance_m``,
            ``route`` (GeoJSON LineString), ``open_now``, ``next_open`` and the station's
            properties.

        Parameters are typed values, read once at the boundary
        (:class:`geoservice.service.NearestQuery`): ``mode`` a key of ``MODE_LABELS``,
        ``stations`` the station filters (:class:`~geoservice.filters.StationFilter`).

        Raises
        ------
        ParameterError
            422: an origin too far from any road, or a mode the network lacks.
        """
        net = self._network(mode)
        at = _hours.as_local(stations.at)
        table, trees = self._state()
        tree = trees[mode]
        point = net.snap([lon], [lat])
        d = float(point.distance_m[0])
        if not point.on_network[0]:
            raise _too_far(d, approximate=bool(point.far[0]))
        origin = {
            "lon": lon,
            "lat": lat,
            "snapped": {"lon": float(point.lon[0]), "lat": float(point.lat[0])},
            "snap_distance_m": round(d, 1),
            "outside_district": bool(
                self.boundary is not None and not shapely.contains_xy(self.boundary, lon, lat)
            ),
        }
        mask, reason = self._mask(table, stations, at)
        mask, reason = _on_network(mask, reason, tree)
        network_times, via = _origin_times(tree, point)
        # Ranking includes the way from the road to each station's door; the way from the
        # origin to the road is the same for every station and is added after.
        times = np.where(mask, network_times + tree.stations.access_s, np.inf)
        reachable = np.isfinite(times)
        results = []
        if reachable.any():
            order = np.argsort(times)[: min(k, int(reachable.sum()))]
            for s in order.tolist():
                rec = table.record(s, at)
                total = float(times[s]) + float(point.access_s[0])
                rec["travel_time_s"] = round(total, 1)
                rec["travel_time_min"] = math.ceil(total / 60)
                rec["network_time_s"] = round(float(network_times[s]), 1)
                route, length = _route(
                    tree, s, point, (lon, lat), (rec["lon"], rec["lat"]), int(via[s])
                )
                rec["network_distance_m"] = round(length, 1)
                rec["straight_distance_m"] = 0.0  # below, for all results at once
                rec["station_snap_distance_m"] = round(float(tree.stations.distance_m[s]), 1)
                if geometry:
                    rec["route"] = {"type": "LineString", "coordinates": route}
                results.append(rec)
            straight = crs.residual_m(
                lon,
                lat,
                np.array([r["lon"] for r in results]),
                np.array([r["lat"] for r in results]),
            )
            for rec, d in zip(results, straight.tolist(), strict=True):
                rec["straight_distance_m"] = round(d, 1)
        elif mask.any() and not reason:
            reason = (
                "从该点出发无法到达任何符合条件的站点（道路不连通）/ "
                "no matching station is reachable from this point"
            )
        return {
            "origin": origin,
            "network": net.describe(),
            "evaluated_at": at.isoformat(),
            "mode": mode,
            "stale": self.stale,
            "results": results,
            "reason": reason if not results else "",
        }

    def warm(self) -> None:
        """Answer one question per mode, from a road node to any station, so that the
        compiled kernels (snapping, routes: :mod:`geoservice.network.compiled`) are loaded
        from numba's disk cache, or compiled, before the first real question."""
        for mode, net in self.networks.items():
            if net.n_nodes:
                lon, lat = (float(v) for v in net.node_xy[0])
                with contextlib.suppress(GeoserviceError):  # nothing near: nothing to warm
                    self.nearest(lon, lat, mode=mode, k=1, stations=_ANY)

    # -- batch -------------------------------------------------------------------------
    def batch(
        self,
        lon: np.ndarray,
        lat: np.ndarray,
        *,
        mode: str = "walk",
        stations: StationFilter = WARM_OPEN_NOW,
    ) -> dict[str, Any]:
        """Nearest matching station and travel time for many origins at once.

        Returns arrays: ``station`` (index into the station table, -1 none), ``station_id``,
        ``travel_time_s`` (inf when none or too far; includes the walks between the roads
        and the origin and the door, like :meth:`nearest`), ``snap_distance_m``.

        Raises
        ------
        ParameterError
            422: a mode the network lacks.
        """
        net = self._network(mode)
        lon, lat = np.atleast_1d(lon).astype(float), np.atleast_1d(lat).astype(float)
        at = _hours.as_local(stations.at)
        table, trees = self._state()
        tree = trees[mode]
        origins = net.snap(lon, lat, with_points=False)
        mask, reason = self._mask(table, stations, at)
        mask, reason = _on_network(mask, reason, tree)
        rows = np.flatnonzero(mask)
        times = _batch_times(tree.dist[rows], tree.stations.take(rows), origins)
        too_far = ~origins.on_network
        idx = np.full(len(lon), -1, dtype=np.int64)
        best = np.full(len(lon), np.inf)
        if times.size:
            arg = np.argmin(times, axis=0)
            best = times[arg, np.arange(len(lon))]
            idx = np.where(np.isfinite(best), rows[arg], -1)
        best = np.where(too_far, np.inf, best + origins.access_s)
        idx = np.where(too_far, -1, idx)
        ids = table.ids[np.maximum(idx, 0)]  # a new array (fancy indexing)
        ids[idx < 0] = None
        return {
            "station": idx,
            "station_id": ids,
            "travel_time_s": best,
            "snap_distance_m": origins.distance_m,
            "reason": reason,
        }

    def _network(self, mode: str) -> Network:
        """The mode's network (422 when the active network lacks the mode)."""
        if mode not in self.networks:
            known = ", ".join(m for m in MODES if m in self.networks)
            zh = f"当前路网没有{MODE_LABELS.get(mode, mode)}（{mode}）路网；可用：{known}"
            en = f"the active road network has no {mode} mode; available: {known}"
            parameter = "mode"
            raise ParameterError(parameter, zh, en, status=422)
        return self.networks[mode]


def _prepared(geometry: shapely.Geometry | None) -> shapely.Geometry | None:
    if geometry is not None:
        shapely.prepare(geometry)  # many point-in-district tests against one polygon
    return geometry


def _too_far(d: float, *, approximate: bool = False) -> ParameterError:
    """The 422 for an origin more than :data:`MAX_SNAP_M` from every road."""
    about_zh, about_en = ("约 ", "about ") if approximate else ("", "")
    zh = f"该点距最近道路{about_zh}{d / 1000:.1f} km，超过 {MAX_SNAP_M / 1000:g} km"
    en = f"the point is {about_en}{d:.0f} m from the nearest road (limit {MAX_SNAP_M:.0f} m)"
    return ParameterError("lon", zh, en, status=422)


def _on_network(mask: np.ndarray, reason: str, tree: _Trees) -> tuple[np.ndarray, str]:
    """Leave out stations farther than :data:`MAX_SNAP_M` from every road of the network
    (e.g. a network imported for another area): a route to them would be fiction."""
    near = tree.stations.on_network
    if mask.any() and not (mask & near).any() and not reason:
        reason = (
            "符合条件的站点都不在该路网覆盖范围内 / "
            "no matching station lies within 2 km of this road network"
        )
    return mask & near, reason


def _batch_times(dist: np.ndarray, stations: RoadPoints, origins: RoadPoints) -> np.ndarray:
    """Seconds (S, P) from every origin to every station (``dist``: their rows), the ways
    between the roads and the stations' doors included: through either end of the
    origin's road, or straight along it to a station on the same road."""
    net = origins.net
    p = len(origins)
    leave = origins.leaving()  # the forward pieces first, one per origin
    cost = origins.cost(leave, net.edge_time)
    # The backward pieces spread to one per origin (inf on one-way roads), so that both
    # ways are two whole-row gathers rather than a scatter into columns.
    back_node = leave.dst[:p].copy()
    back_cost = np.full(p, np.inf)
    back_node[leave.src[p:]] = leave.dst[p:]
    back_cost[leave.src[p:]] = cost[p:]
    times = np.minimum(dist[:, leave.dst[:p]] + cost[:p], dist[:, back_node] + back_cost)
    along = origins.along(stations)
    np.minimum.at(times, (along.dst, along.src), origins.cost(along, net.edge_time))
    times += stations.access_s[:, None]
    return times


def _origin_times(tree: _Trees, origin: RoadPoints) -> tuple[np.ndarray, np.ndarray]:
    """Travel time from a point on the roads to every station, and how: the node it leaves
    its road by, or -1 / -2 for straight along the same road forwards / backwards."""
    net = origin.net
    leave = origin.leaving()  # forwards first: it wins a tie
    options = tree.dist[:, leave.dst] + origin.cost(leave, net.edge_time)
    best = np.argmin(options, axis=1)
    a = options[np.arange(len(options)), best]
    via = leave.dst[best].astype(np.int64)
    along = origin.along(tree.stations)
    cost = origin.cost(along, net.edge_time)
    better = cost < a[along.dst]
    a[along.dst[better]] = cost[better]
    via[along.dst[better]] = np.where(along.forward[better], -1, -2)
    return a, via


def _route(
    tree: _Trees,
    s: int,
    origin: RoadPoints,
    start: tuple[float, float],
    door: tuple[float, float],
    via: int,
) -> tuple[np.ndarray, float]:
    """Route polyline (lon/lat, (V, 2), rounded to 1e-7°) from ``start`` to station ``s``'s
    ``door``, and its road length.

    ``via`` is the node the origin leaves its road by, or -1 / -2 for a station on the
    origin's own road reached forwards / backwards (both lie on its representative edge).
    The array goes into the answer as it is: JSON answers write arrays directly (a list of
    a few hundred points took longer to make than the rest of the route).
    """
    from geoservice.network import compiled  # numba, loaded with the networks

    nodes = compiled.hops(tree.pred[s], via, origin.net.n_nodes) if via >= 0 else _NO_NODES
    line, length = origin.net.route(
        nodes,
        via,
        (int(origin.edge[0]), float(origin.frac[0]), *start),
        (int(tree.stations.edge[s]), float(tree.stations.frac[s])),
    )
    out = np.empty((len(line) + 1, 2))
    np.round(line, 7, out=out[:-1])
    out[-1] = round(door[0], 7), round(door[1], 7)
    return out, length


class EngineProvider:
    """Hands out a :class:`NearestEngine` for the active network, building it on first
    use and rebuilding it when the active network changes (``flask network import``).

    Parameters
    ----------
    library : NetworkLibrary
        The road networks.
    store : Store
        The stations.
    budget : int or str
        Memory budget of the station rows (``ENGINE_MEMORY_BUDGET``: bytes, or a size
        such as ``"4GB"``; see :func:`parse_budget`). A network whose rows would exceed it
        is not switched to: the previous engine keeps answering, flagged `stale`.
    """

    def __init__(
        self, library: NetworkLibrary, store: Store, budget: object = DEFAULT_MEMORY_BUDGET
    ) -> None:
        self.library = library
        self.store = store
        self.budget = parse_budget(budget)
        self._engines: Watched[NearestEngine] = Watched(library, self._make)
        self._build_guard = threading.Lock()
        self._build: threading.Thread | None = None
        self._build_error: Exception | None = None
        # ((network token, store revision), error) of a network refused for the budget.
        self._refused: tuple[tuple[str, str], BudgetError] | None = None

    def get(self) -> NearestEngine:
        """The engine for the current active network (thread-safe).

        Raises
        ------
        BudgetError
            When no engine can answer: the first network's rows exceed the budget.
        """
        engine = self._engines.get()
        if engine.empty:
            engine.refresh()  # raises the refusal again until the stations fit
        return engine

    def _make(
        self, networks: dict[str, Network], previous: NearestEngine | None
    ) -> NearestEngine | None:
        """The engine of new networks; None keeps ``previous`` answering (flagged stale)
        when the new one's rows would exceed the budget."""
        key = (self.library.token(), self.store.revision())
        if previous is not None and self._refused is not None and self._refused[0] == key:
            return None  # refused already; the previous engine answers
        engine = NearestEngine(networks, self.store, budget=self.budget)
        try:
            engine.refresh()
            engine.warm()
        except BudgetError as exc:
            if previous is None:
                return engine  # nothing older: it answers 503 until the stations fit
            self._refused = (key, exc)
            previous.mark_stale("network", exc)
            return None
        self._refused = None
        return engine

    def get_within(self, seconds: float | None) -> NearestEngine:
        """The engine if it is ready within ``seconds``; its build (or rebuild) goes on in
        a background thread meanwhile, so a request never holds a thread for minutes.

        Parameters
        ----------
        seconds : float or None
            How long to wait for a build under way (0: not at all; None: until it is done).

        Raises
        ------
        NetworkLoadingError
            The engine is not ready yet (answered 503 with ``Retry-After``).
        NetworkError, BudgetError
            The last build failed (tried again by the next call).
        """
        if self.ready():
            return self.get()
        with self._build_guard:
            if self._build is None or not self._build.is_alive():
                self._build_error = None
                self._build = threading.Thread(
                    target=self._build_now, name="build-routing", daemon=True
                )
                self._build.start()
            build = self._build
        build.join(seconds)
        if build.is_alive():
            raise NetworkLoadingError(retry_after=5)
        if self._build_error is not None:
            raise self._build_error
        return self.get()

    def _build_now(self) -> None:
        try:
            self.get()
        except Exception as exc:  # kept for the request that waits on it, and logged there
            self._build_error = exc

    @property
    def built(self) -> NearestEngine | None:
        """The engine built so far, if any (never builds one)."""
        return self._engines.built

    def ready(self) -> bool:
        """Whether the engine of the active network is built (never builds one)."""
        try:
            return self._engines.current()
        except NetworkError:  # the active network's file is missing
            return False

    def node_counts(self) -> dict[str, int]:
        """Road nodes per mode of the active network (from its cache when no engine for it
        is loaded)."""
        engine = self._engines.built
        if engine is not None and self._engines.current():
            return engine.node_counts()
        return {mode: net.n_nodes for mode, net in self.library.load().items()}

    def station_check(self) -> Callable[[gpd.GeoDataFrame], None]:
        """A check for :func:`geoservice.store.catalog.import_file`: it refuses (with
        :class:`BudgetError`) a stations layer whose rows on the active network would
        exceed the budget, before the import writes anything."""
        nodes = self.node_counts()
        budget = self.budget

        def check(stations: gpd.GeoDataFrame) -> None:
            check_budget(int(stations.geometry.notna().sum()), nodes, budget)

        return check
