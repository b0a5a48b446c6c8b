"""The nearest open warm station by road travel time: the engine behind ``/api/nearest``.

How it answers fast and exactly:

1. Every station is snapped once onto its nearest road edge and joined to the graph as a
   virtual node (from the edge's start node at ``frac × edge time``, and from its end
   node through the reverse edge when the road is two-way).
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

import datetime as dt
import logging
import math
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import scipy.sparse as sp
import shapely
from scipy.sparse import csgraph

from geoservice import crs
from geoservice import hours as _hours
from geoservice.errors import BudgetError, ParameterError
from geoservice.model import AMENITIES, Station
from geoservice.network import MODE_LABELS, MODES, Network, NetworkLibrary, sub_coords
from geoservice.store import Store

log = logging.getLogger(__name__)
#: Origins farther than this from any road get an error, not a guess.
MAX_SNAP_M = 2000.0
K_MAX = 20
#: Origins farther than this from a network's bounding box are not snapped (its metric
#: projection is meaningless across the globe): they are out of reach, at about that gap.
FAR_M = 50_000.0
#: Off the road network (from the origin to the road, from the road to a station's door)
#: people walk: those legs are timed at walking speed in every mode.
ACCESS_SPEED_MS = 4.5 / 3.6


@dataclass
class _Trees:
    """Per-mode station rows: time from every node to each station, and the next hop."""

    keys: list[tuple[int, float]]
    dist: np.ndarray  # (S, N) seconds from node to station
    pred: np.ndarray  # (S, N) next node toward the station; -9999 none; >= N: the station
    edge: np.ndarray  # (S,) snap edge
    frac: np.ndarray  # (S,) snap fraction
    snap_m: np.ndarray  # (S,) station-to-road distance


@dataclass
class _Catalog:
    """The stations as plain arrays and records, built once per store revision."""

    stations: list[Station]
    ids: np.ndarray
    kind: np.ndarray
    amenity: np.ndarray  # (S, len(AMENITIES)) bool
    open_cache: dict

    town_names: dict

    @classmethod
    def build(cls, gdf: gpd.GeoDataFrame, town_names: dict | None = None) -> _Catalog:
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
    snap = net.snap(lon, lat, with_points=False)
    s = len(snap.edge)
    n = net.n_nodes
    keys = [(int(e), round(float(f), 9)) for e, f in zip(snap.edge, snap.frac, strict=True)]
    dist = np.full((s, n), np.inf)
    pred = np.full((s, n), -9999, dtype=np.int32)
    old = {k: i for i, k in enumerate(reuse.keys)} if reuse is not None else {}
    todo = []
    for i, k in enumerate(keys):
        j = old.get(k)
        if j is not None and reuse.dist.shape[1] == n:
            dist[i] = reuse.dist[j]
            pred[i] = reuse.pred[j]
        else:
            todo.append(i)
    for start in range(0, len(todo), ROW_CHUNK):
        part = todo[start : start + ROW_CHUNK]
        dist[part], pred[part] = _reverse_dijkstra(net, snap.edge[part], snap.frac[part])
    return _Trees(keys, dist, pred, snap.edge, snap.frac, snap.distance_m)


def _reverse_dijkstra(
    net: Network, edge: np.ndarray, frac: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Rows for stations on ``edge`` at ``frac``: time from each node, and next hops."""
    n, s = net.n_nodes, len(edge)
    rows, cols, data = [], [], []
    for i, (e, f) in enumerate(zip(edge.tolist(), frac.tolist(), strict=True)):
        rows.append(net.edge_u[e])
        cols.append(n + i)
        data.append(max(f * net.edge_time[e], 1e-6))
        t = net.edge_twin[e]
        if t >= 0:
            rows.append(net.edge_u[t])
            cols.append(n + i)
            data.append(max((1 - f) * net.edge_time[t], 1e-6))
    base = net.matrix().tocoo()
    aug = sp.csr_matrix(
        (
            np.concatenate([base.data, data]),
            (np.concatenate([base.row, rows]), np.concatenate([base.col, cols])),
        ),
        shape=(n + s, n + s),
    )
    dist, pred = csgraph.dijkstra(
        aug.T.tocsr(), indices=np.arange(n, n + s), return_predecessors=True
    )
    return dist[:, :n], pred[:, :n].astype(np.int32)


class NearestEngine:
    """Nearest stations by travel time over one network per mode.

    Parameters
    ----------
    networks : dict
        Mode → :class:`~geoservice.network.Network`.
    store : Store
        Where the stations live; when its revision changes the precomputed rows are
        refreshed on the next query (no restart needed).
    boundary : shapely geometry, optional
        District polygon, to flag origins outside it.
    """

    def __init__(
        self,
        networks: dict[str, Network],
        store: Store,
        boundary=None,
        budget: int = DEFAULT_MEMORY_BUDGET,
    ) -> None:
        self.networks = networks
        self.store = store
        self.boundary = boundary
        self.budget = budget
        if boundary is not None:
            shapely.prepare(boundary)
        self._lock = threading.Lock()
        self._revision: str | None = None
        self._stations: _Catalog | None = None
        self._trees: dict[str, _Trees] = {}
        # (store revision, error) of the last station list refused for the budget.
        self._refused: tuple[str, BudgetError] | None = None
        # Why answers come from older routing data: cause ("stations", "network") → details.
        self._stale: dict[str, dict] = {}
        self._bounds: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    # -- station state ------------------------------------------------------------------
    def node_counts(self) -> dict[str, int]:
        """Road nodes per mode."""
        return {mode: net.n_nodes for mode, net in self.networks.items()}

    @property
    def stale(self) -> dict | None:
        """None when the answers use the current stations and network; otherwise
        ``{"reason": "中文 / English", "causes": [...], "stations_served": n, ...}``: the
        station list (or network) is newer than the routing data, which was refused for
        the memory budget, and the last good state keeps answering."""
        if not self._stale:
            return None
        details = list(self._stale.values())
        zh = "；".join(d["zh"] for d in details)
        en = "; ".join(d["en"] for d in details)
        out = {"reason": f"{zh} / {en}", "causes": list(self._stale)}
        for d in details:
            out.update(d["extra"])
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
            extra = {"stations_served": served, "stations_in_store": exc.stations}
        else:
            zh = "路网比路由数据新，仍按原路网作答"
            en = "the road network is newer than the routing data; answers use the previous network"
            extra = {"stations_served": served}
        self._stale[cause] = {"zh": f"{zh}：{exc.zh}", "en": f"{en}: {exc.en}", "extra": extra}
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
            self._stations = _Catalog.build(gdf, names)
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

    def _state(self) -> tuple[_Catalog, dict[str, _Trees]]:
        self.refresh()
        return self._stations, self._trees

    # -- filters -----------------------------------------------------------------------
    @staticmethod
    def _mask(stations: _Catalog, kinds, amenities, at, open_only) -> tuple[np.ndarray, str]:
        mask = np.ones(len(stations.ids), dtype=bool)
        reasons = []
        if kinds:
            mask &= np.isin(stations.kind, kinds)
            if not mask.any():
                reasons.append("没有该类型的站点 / no station of that kind")
        if amenities:
            keys = list(AMENITIES)
            mask &= stations.amenity[:, [keys.index(a) for a in amenities]].all(axis=1)
            if not mask.any() and not reasons:
                reasons.append(
                    "没有同时提供所选设施的站点 / no station offers all the chosen amenities"
                )
        if open_only:
            is_open = stations.is_open(at)
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
        kinds: Sequence[str] | None = None,
        amenities: Sequence[str] | None = None,
        at: dt.datetime | None = None,
        open_only: bool = True,
        geometry: bool = True,
    ) -> dict:
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
        ``kinds``/``amenities`` vocabulary keys (``kinds`` None: ``warm_station``).

        Raises
        ------
        ParameterError
            422: an origin too far from any road, or a mode the network lacks.
        """
        net = self._network(mode)
        kinds = ["warm_station"] if kinds is None else kinds
        at = _hours.as_local(at)
        stations, trees = self._state()
        tree = trees[mode]
        gap = float(self._gap_m(mode, np.array([lon]), np.array([lat]))[0])
        if gap > FAR_M:
            raise _too_far(gap, approximate=True)
        snap = net.snap([lon], [lat])
        e, f, d = int(snap.edge[0]), float(snap.frac[0]), float(snap.distance_m[0])
        if d > MAX_SNAP_M:
            raise _too_far(d)
        origin = {
            "lon": lon,
            "lat": lat,
            "snapped": {"lon": float(snap.lon[0]), "lat": float(snap.lat[0])},
            "snap_distance_m": round(d, 1),
            "outside_district": bool(
                self.boundary is not None and not shapely.contains_xy(self.boundary, lon, lat)
            ),
        }
        answer = {
            "origin": origin,
            "network": net.describe(),
            "evaluated_at": at.isoformat(),
            "mode": mode,
            "stale": self.stale,
        }
        mask, reason = self._mask(stations, kinds, amenities, at, open_only)
        mask, reason = _on_network(mask, reason, tree)
        network_times, via = _origin_times(net, tree, e, f)
        # Ranking includes the walk from the road to each station's door; the walk from the
        # origin to the road is the same for every station and is added after.
        times = np.where(mask, network_times + tree.snap_m / ACCESS_SPEED_MS, np.inf)
        reachable = np.isfinite(times)
        if not reachable.any():
            if mask.any() and not reason:
                reason = (
                    "从该点出发无法到达任何符合条件的站点（道路不连通）/ "
                    "no matching station is reachable from this point"
                )
            answer.update(results=[], reason=reason)
            return answer
        n_ok = int(reachable.sum())
        order = np.argsort(times)[: min(k, n_ok)]
        results = []
        for s in order.tolist():
            rec = stations.record(s, at)
            total = float(times[s]) + d / ACCESS_SPEED_MS
            rec["travel_time_s"] = round(total, 1)
            rec["travel_time_min"] = math.ceil(total / 60)
            rec["network_time_s"] = round(float(network_times[s]), 1)
            route, length = _route(net, tree, s, e, f, via[s], (lon, lat))
            route.append([round(rec["lon"], 7), round(rec["lat"], 7)])  # the door
            rec["network_distance_m"] = round(length, 1)
            rec["straight_distance_m"] = round(
                float(crs.residual_m(lon, lat, rec["lon"], rec["lat"])), 1
            )
            rec["station_snap_distance_m"] = round(float(tree.snap_m[s]), 1)
            if geometry:
                rec["route"] = {"type": "LineString", "coordinates": route}
            results.append(rec)
        answer.update(results=results, reason=reason if not results else "")
        return answer

    # -- batch -------------------------------------------------------------------------
    def batch(
        self,
        lon: np.ndarray,
        lat: np.ndarray,
        *,
        mode: str = "walk",
        kinds: Sequence[str] | None = None,
        amenities: Sequence[str] | None = None,
        at: dt.datetime | None = None,
        open_only: bool = True,
    ) -> dict:
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
        kinds = ["warm_station"] if kinds is None else kinds
        at = _hours.as_local(at)
        stations, trees = self._state()
        tree = trees[mode]
        gap = self._gap_m(mode, lon, lat)
        far = gap > FAR_M
        if far.any():  # stand-ins, so that the network's projection stays finite
            lon = np.where(far, net.node_xy[0, 0], lon)
            lat = np.where(far, net.node_xy[0, 1], lat)
        snap = net.snap(lon, lat, with_points=False)
        snap_m = np.where(far, gap, snap.distance_m)
        mask, reason = self._mask(stations, kinds, amenities, at, open_only)
        mask, reason = _on_network(mask, reason, tree)
        e = snap.edge
        f = snap.frac
        tv = (1 - f) * net.edge_time[e]
        twin = net.edge_twin[e]
        tu = np.where(twin >= 0, f * net.edge_time[np.maximum(twin, 0)], np.inf)
        dist = tree.dist[mask]
        times = np.minimum(dist[:, net.edge_v[e]] + tv, dist[:, net.edge_u[e]] + tu)
        r, o, cost, _ = _same_road(net, tree, np.flatnonzero(mask), e, f)
        np.minimum.at(times, (r, o), cost)
        times += (tree.snap_m[mask] / ACCESS_SPEED_MS)[:, None]
        too_far = snap_m > MAX_SNAP_M
        idx = np.full(len(lon), -1, dtype=np.int64)
        best = np.full(len(lon), np.inf)
        if times.size:
            arg = np.argmin(times, axis=0)
            best = times[arg, np.arange(len(lon))]
            candidates = np.flatnonzero(mask)
            idx = np.where(np.isfinite(best), candidates[arg], -1)
        best = np.where(too_far, np.inf, best + snap_m / ACCESS_SPEED_MS)
        idx = np.where(too_far, -1, idx)
        ids = np.where(idx >= 0, stations.ids[np.maximum(idx, 0)], None)
        return {
            "station": idx,
            "station_id": ids,
            "travel_time_s": best,
            "snap_distance_m": snap_m,
            "reason": reason,
        }

    def _gap_m(self, mode: str, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Approximate distance (m) from each point to the network's bounding box (0 inside)."""
        if mode not in self._bounds:
            xy = self.networks[mode].node_xy
            self._bounds[mode] = (xy.min(axis=0), xy.max(axis=0))
        lo, hi = self._bounds[mode]
        cx, cy = np.clip(lon, lo[0], hi[0]), np.clip(lat, lo[1], hi[1])
        gap = np.zeros(len(lon))
        off = (cx != lon) | (cy != lat)
        if off.any():
            gap[off] = crs.residual_m(lon[off], lat[off], cx[off], cy[off])
        return gap

    def _network(self, mode: str) -> Network:
        """The mode's network (422 when the active network lacks the mode)."""
        if mode not in self.networks:
            known = ", ".join(m for m in MODES if m in self.networks)
            zh = f"当前路网没有{MODE_LABELS.get(mode, mode)}（{mode}）路网；可用：{known}"
            en = f"the active road network has no {mode} mode; available: {known}"
            parameter = "mode"
            raise ParameterError(parameter, zh, en, status=422)
        return self.networks[mode]


def _too_far(d: float, *, approximate: bool = False) -> ParameterError:
    """The 422 for an origin more than :data:`MAX_SNAP_M` from every road."""
    about_zh, about_en = ("约 ", "about ") if approximate else ("", "")
    zh = f"该点距最近道路{about_zh}{d / 1000:.1f} km，超过 {MAX_SNAP_M / 1000:g} km"
    en = f"the point is {about_en}{d:.0f} m from the nearest road (limit {MAX_SNAP_M:.0f} m)"
    return ParameterError("lon", zh, en, status=422)


def _on_network(mask: np.ndarray, reason: str, tree: _Trees) -> tuple[np.ndarray, str]:
    """Leave out stations farther than :data:`MAX_SNAP_M` from every road of the network
    (e.g. a network imported for another area): a route to them would be fiction."""
    near = tree.snap_m <= MAX_SNAP_M
    if mask.any() and not (mask & near).any() and not reason:
        reason = (
            "符合条件的站点都不在该路网覆盖范围内 / "
            "no matching station lies within 2 km of this road network"
        )
    return mask & near, reason


def _same_road(
    net: Network, tree: _Trees, rows: np.ndarray, e: np.ndarray, f: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Direct trips along a road for origins that stand on a station's road.

    Returns ``(r, o, cost, forward)``: station row ``rows[r]`` can be reached from origin
    ``o`` in ``cost`` seconds straight along the origin's edge (``forward``) or back along
    its twin. Vectorised as a sorted join of origin edges against station edges.
    """
    es, fs = tree.edge[rows], tree.frac[rows]
    tw = net.edge_twin[es]
    two = tw >= 0
    r_all = np.arange(len(rows))
    t = net.edge_time
    # Each station appears under its own edge, and under the twin with the position flipped.
    keys = np.concatenate([es, tw[two]])
    pos = np.concatenate([fs, 1 - fs[two]])
    r_of = np.concatenate([r_all, r_all[two]])
    t_fwd = np.concatenate([t[es], t[tw[two]]])
    t_back = np.concatenate([np.where(two, t[np.maximum(tw, 0)], np.inf), t[es[two]]])
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    lo = np.searchsorted(keys, e, "left")
    hi = np.searchsorted(keys, e, "right")
    counts = hi - lo
    o = np.repeat(np.arange(len(e)), counts)
    if not len(o):
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, np.empty(0), np.empty(0, dtype=bool)
    starts = np.repeat(lo - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    j = order[np.arange(len(o)) + starts]
    ahead = pos[j] >= f[o]
    cost = np.where(ahead, (pos[j] - f[o]) * t_fwd[j], (f[o] - pos[j]) * t_back[j])
    return r_of[j], o, cost, ahead


def _origin_times(net: Network, tree: _Trees, e: int, f: float) -> tuple[np.ndarray, np.ndarray]:
    """Travel time from a point on edge ``e`` at ``f`` to every station, and how (the
    start node, or -1 / -2 for straight along the same road forwards / backwards)."""
    tv = (1 - f) * net.edge_time[e]
    twin = int(net.edge_twin[e])
    a = tree.dist[:, net.edge_v[e]] + tv
    via = np.full(len(a), net.edge_v[e], dtype=np.int64)
    if twin >= 0:
        b = tree.dist[:, net.edge_u[e]] + f * net.edge_time[twin]
        via = np.where(b < a, net.edge_u[e], via)
        a = np.minimum(a, b)
    r, _, cost, ahead = _same_road(net, tree, np.arange(len(a)), np.array([e]), np.array([f]))
    better = cost < a[r]
    a[r[better]] = cost[better]
    via[r[better]] = np.where(ahead[better], -1, -2)
    return a, via


def _route(
    net: Network, tree: _Trees, s: int, e: int, f: float, via: int, origin: tuple[float, float]
) -> tuple[list, float]:
    """Route polyline (lon/lat list) and its road length from the origin to station ``s``.

    ``via`` is the node the origin leaves its edge by, or -1 / -2 for a station on the
    origin's own road reached forwards / backwards.
    """
    es, fs = int(tree.edge[s]), float(tree.frac[s])
    ge = net.edge_coords(e)
    parts = [np.array([origin])]
    if via < 0:
        pos = fs if es == e else 1 - fs  # the station's place on edge e
        if via == -1:
            parts.append(sub_coords(ge, f, pos))
        else:
            parts.append(sub_coords(ge, pos, f)[::-1])
        length = abs(pos - f) * float(net.edge_length[e])
    else:
        if via == net.edge_v[e]:
            parts.append(sub_coords(ge, f, 1.0))
            length = (1 - f) * float(net.edge_length[e])
        else:
            parts.append(sub_coords(ge, 0.0, f)[::-1])
            length = f * float(net.edge_length[e])
        nodes = [via]
        n = net.n_nodes
        while len(nodes) <= n:  # bounded: a cycle would be a bug, never a hang
            nxt = int(tree.pred[s, nodes[-1]])
            if nxt < 0 or nxt >= n:
                break
            nodes.append(nxt)
        if len(nodes) > 1:
            for pe in net.edge_between(np.array(nodes[:-1]), np.array(nodes[1:])).tolist():
                parts.append(net.edge_coords(pe))
                length += float(net.edge_length[pe])
        gs = net.edge_coords(es)
        if nodes[-1] == net.edge_u[es]:
            parts.append(sub_coords(gs, 0.0, fs))
            length += fs * float(net.edge_length[es])
        else:
            parts.append(sub_coords(gs, fs, 1.0)[::-1])
            length += (1 - fs) * float(net.edge_length[es])
    line = np.vstack(parts)
    # Drop the consecutive duplicates the joins create.
    keep = np.ones(len(line), dtype=bool)
    keep[1:] = np.any(np.abs(np.diff(line, axis=0)) > 1e-10, axis=1)
    return np.round(line[keep], 7).tolist(), length


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
        self._lock = threading.Lock()
        self._token: str | None = None
        self._engine: NearestEngine | None = None
        # ((network token, store revision), error) of a network refused for the budget.
        self._refused: tuple[tuple[str, str], BudgetError] | None = None

    def get(self) -> NearestEngine:
        """The engine for the current active network (thread-safe).

        Raises
        ------
        BudgetError
            When no engine can answer: the first network's rows exceed the budget.
        """
        token = self.library.token()
        if token != self._token:
            with self._lock:
                if token != self._token:
                    self._switch(token)
        return self._engine

    def _switch(self, token: str) -> None:
        key = (token, self.store.revision())
        if self._engine is not None and self._refused is not None and self._refused[0] == key:
            return  # refused already; the previous engine answers
        boundary = self.store.read("boundary").geometry.union_all()
        engine = NearestEngine(
            self.library.load(), self.store, boundary=boundary, budget=self.budget
        )
        try:
            engine.refresh()
        except BudgetError as exc:
            if self._engine is None:
                # Nothing older: this engine answers 503 until the stations fit.
                self._engine, self._token = engine, token
                raise
            self._refused = (key, exc)
            self._engine.mark_stale("network", exc)
            return
        self._engine, self._token, self._refused = engine, token, None

    @property
    def built(self) -> NearestEngine | None:
        """The engine built so far, if any (never builds one)."""
        return self._engine

    def node_counts(self) -> dict[str, int]:
        """Road nodes per mode of the active network (from its cache when no engine for it
        is loaded)."""
        engine = self._engine
        if engine is not None and self._token == self.library.token():
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
