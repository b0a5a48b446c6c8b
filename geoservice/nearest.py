"""The nearest open warm station by road travel time: the engine behind ``/api/nearest``.

How it answers fast and exactly:

1. Every station is snapped once onto its nearest road (the pieces of
   :class:`~geoservice.network.points.RoadPoints`, the one road-point model of every job).
2. Per mode and per station filter (kind, amenities, open at a moment), one multi-source
   K-label search in compiled code gives every road node its ``K`` nearest matching
   stations, the time to each door and the next node on the way
   (:mod:`geoservice.network.labels`): memory O(nodes × K), whatever the number of
   stations. Labels are made on a filter's first question and kept (opening hours change
   the "open now" filter a few times a day), as many filters as the memory budget holds.
3. A question snaps the origin onto its road and reads the labels of the road's two end
   nodes (and the stations on the same road): ``k <= K`` stations exactly. More (up to
   :data:`K_MAX`) are found by a search from the origin bounded by the labels' farthest
   time. Many origins at once (``batch``) read each end node's first label.
4. Routes follow the labels' next nodes (or the search's predecessors); their geometry
   comes from the stored edge polylines (:mod:`geoservice.network.compiled`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import shapely

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
    from geoservice.network.labels import Labels
    from geoservice.responses import Stale

#: A route straight along the origin's road passes no node.
_NO_NODES = np.empty(0, dtype=np.int64)
#: Every station, open or not (the warm-up question).
_ANY = StationFilter(kinds=(), open_only=False)
log = logging.getLogger(__name__)
K_MAX = 20
#: Labels per road node by default (``ROUTING_LABELS``): questions for up to this many
#: stations are answered from them, more by a search of their own.
K_LABELS = 4
#: The first time limit (seconds) of a search while a filter's labels are made: widened
#: four times over until it holds the stations asked for.
_FIRST_LIMIT_S = 600.0


class _Routing:
    """One mode's routing data: where the stations meet the roads, and the labels per
    station filter, the least recently used dropped beyond ``masks``.

    A question whose filter has no labels yet never waits for them (at city size they
    take seconds, and each new filter, such as another ``open_at`` minute, would cost
    one): it is answered by a search of its own while one background thread makes them.
    """

    def __init__(
        self, stations: RoadPoints, k: int, masks: int, before: _Before | None = None
    ) -> None:
        self.stations = stations
        self.door_s = np.asarray(stations.access_s, dtype=float)
        self.k = k
        self.masks = masks
        self._cache: OrderedDict[bytes, Labels] = OrderedDict()
        self._lock = threading.Lock()
        self._pending: dict[bytes, Future[Labels]] = {}
        self._builder: ThreadPoolExecutor | None = None
        self._before = before

    def made(self) -> list[tuple[np.ndarray, Labels]]:
        """The filters whose labels are made, with them, most recently used last."""
        with self._lock:
            return [(_mask_of(key), found) for key, found in self._cache.items()]

    def cached(self, mask: np.ndarray) -> Labels | None:
        """The labels of ``mask`` if they are made; else None, and they are made in the
        background (one filter at a time, at most ``masks`` waiting)."""
        key = _mask_key(mask)
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
            elif key not in self._pending and len(self._pending) < self.masks:
                if self._builder is None:
                    self._builder = ThreadPoolExecutor(1, thread_name_prefix="labels")
                self._pending[key] = self._builder.submit(self.labels, mask.copy())
        return found

    def labels(self, mask: np.ndarray) -> Labels:
        """The labels of the stations of ``mask``, made now if they are not (outside the
        lock: the other filters' questions go on meanwhile)."""
        from geoservice.network import labels  # numba, loaded with the networks

        key = _mask_key(mask)
        with self._lock:
            found = self._cache.get(key)
        if found is None:
            found = self._repaired(mask)
        if found is None:
            found = labels.build(self.stations.net, self.stations, self.door_s, mask, self.k)
        with self._lock:
            self._cache[key] = found
            self._cache.move_to_end(key)
            while len(self._cache) + self._kept() > self.masks:
                if self._kept():  # the labels of before the edit go first
                    assert self._before is not None
                    self._before.made.pop(0)
                else:
                    self._cache.popitem(last=False)
            self._pending.pop(key, None)
        return found

    def _kept(self) -> int:
        return len(self._before.made) if self._before is not None else 0

    def _repaired(self, mask: np.ndarray) -> Labels | None:
        """The labels of ``mask`` repaired from those of the same filter before the last
        station edit, if they were made (None: make them anew)."""
        from geoservice.network import labels

        before = self._before
        if before is None:
            return None
        with self._lock:
            made = list(before.made)
        kept = before.renumber >= 0
        for old_mask, old in made:
            then = np.zeros(len(mask), dtype=bool)
            then[before.renumber[kept]] = old_mask[kept]
            if not np.array_equal(mask & before.unchanged, then):
                continue
            with self._lock:  # repaired once: these labels are not kept for another
                before.made[:] = [pair for pair in before.made if pair[1] is not old]
            renumber = np.where(old_mask, before.renumber, -1)
            return labels.repair(old, self.stations, self.door_s, renumber, mask)
        return None

    def settle(self) -> None:
        """Wait until the labels being made in the background are made."""
        with self._lock:
            pending = list(self._pending.values())
        for future in pending:
            future.result()


def _mask_key(mask: np.ndarray) -> bytes:
    return np.packbits(mask).tobytes() + len(mask).to_bytes(4, "little")


def _mask_of(key: bytes) -> np.ndarray:
    size = int.from_bytes(key[-4:], "little")
    return np.unpackbits(np.frombuffer(key[:-4], dtype=np.uint8), count=size).astype(bool)


@dataclass
class _Before:
    """The labels a mode had made before a station edit, and how the stations changed,
    so that each filter's labels are repaired rather than made anew
    (:func:`geoservice.network.labels.repair`)."""

    made: list[tuple[np.ndarray, Labels]]
    renumber: np.ndarray  # (S before,) each station's index now; -1: deleted or changed
    unchanged: np.ndarray  # (S,) bool: the stations renumber keeps


def _before(old: _StationTable, new: _StationTable) -> tuple[np.ndarray, np.ndarray]:
    """How each earlier station is numbered now (-1 when it is gone, or changed in what
    places it or picks it: position, kind, amenities, hours), and which are unchanged."""
    now = {st.id: i for i, st in enumerate(new.stations)}
    renumber = np.full(len(old.stations), -1, dtype=np.int64)
    for i, st in enumerate(old.stations):
        j = now.get(st.id)
        if j is not None and _routed(new.stations[j]) == _routed(st):
            renumber[i] = j
    unchanged = np.zeros(len(new.stations), dtype=bool)
    unchanged[renumber[renumber >= 0]] = True
    return renumber, unchanged


def _routed(st: Station) -> tuple:
    """What of a station its labels depend on."""
    return (st.lon, st.lat, st.kind, st.amenities, st.opening_hours)


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

#: Bytes a label takes: a float64 time, an int32 station and an int32 next node.
LABEL_BYTES = 16
#: Station filters whose labels a mode keeps at most (fewer when the budget holds fewer).
LABEL_MASKS = 16
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


def parse_labels(value: object) -> int:
    """Labels per road node (``ROUTING_LABELS``): a whole number from 1 to :data:`K_MAX`.

    Raises
    ------
    ValueError
        For anything else (the app refuses to start with a bad setting).
    """
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= K_MAX:
        return value
    msg = (
        f"ROUTING_LABELS 应为 1 到 {K_MAX} 的整数 / "
        f"ROUTING_LABELS must be a whole number from 1 to {K_MAX}, not {value!r}"
    )
    raise ValueError(msg)


def labels_memory(nodes: Mapping[str, int], k: int = K_LABELS) -> int:
    """Bytes of one station filter's labels over networks with ``nodes`` road nodes per
    mode (its search's queue is freed when it ends)."""
    return LABEL_BYTES * k * sum(nodes.values())


def check_budget(nodes: Mapping[str, int], budget: int, k: int = K_LABELS, network: int = 0) -> int:
    """How many station filters' labels ``budget`` holds (at most :data:`LABEL_MASKS`)
    beside the ``network`` bytes (arrays and snapping indexes) and one more filter's
    labels: those being made, or repaired after an edit, while the kept ones answer.

    Raises
    ------
    BudgetError
        When not even one filter's labels fit.
    """
    one = labels_memory(nodes, k)
    need = network + 2 * one
    if need > budget:
        raise BudgetError(need, budget, dict(nodes), k, network)
    return int(min(LABEL_MASKS, (budget - network) // max(one, 1) - 1))


@dataclass(frozen=True)
class _Staleness:
    """Why an older network answers (see `NearestEngine.stale`)."""

    zh: str
    en: str
    served: int  # stations the answers use


class NearestEngine:
    """Nearest stations by travel time over one network per mode.

    Parameters
    ----------
    networks : dict
        Mode → :class:`~geoservice.network.Network`.
    store : Store
        Where the stations and the district profile live; when its revision changes the
        stations, their labels and the district's boundary (which flags origins outside
        it) are taken again on the next query (no restart needed).
    budget : int
        Bytes the engine may take: its networks, their snapping indexes and labels, with
        one filter's labels being made or repaired (:func:`check_budget`).
    k : int
        Labels per road node (questions for more search from the origin).
    """

    def __init__(
        self,
        networks: dict[str, Network],
        store: Store,
        budget: int = DEFAULT_MEMORY_BUDGET,
        k: int = K_LABELS,
    ) -> None:
        self.networks = networks
        self.store = store
        self.boundary: shapely.Geometry | None = None
        self.budget = budget
        self.k = k
        self._lock = threading.Lock()
        self._revision: str | None = None
        self._stations: _StationTable | None = None
        self._routing: dict[str, _Routing] = {}
        # Why answers come from an older network: the newer one's refusal for the budget.
        self._stale: _Staleness | None = None

    # -- station state ------------------------------------------------------------------
    def node_counts(self) -> dict[str, int]:
        """Road nodes per mode."""
        return {mode: net.n_nodes for mode, net in self.networks.items()}

    @property
    def stale(self) -> Stale | None:
        """None when the answers use the current network; otherwise ``{"reason":
        "中文 / English", "causes": ["network"], "stations_served": n}``: the active network
        is newer than this engine's (its engine is being built, or was refused for the
        memory budget), and this one keeps answering."""
        if self._stale is None:
            return None
        d = self._stale
        return {"reason": f"{d.zh} / {d.en}", "causes": ["network"], "stations_served": d.served}

    def mark_loading(self) -> None:
        """Record that a newer active network is loading while this engine answers."""
        if self._stale is None:
            served = len(self._stations.ids) if self._stations is not None else 0
            zh = "新路网正在加载，仍按原路网作答"
            en = "a newer road network is loading; answers use the previous network"
            self._stale = _Staleness(zh, en, served)

    def mark_stale(self, exc: BudgetError) -> None:
        """Record that the active network is newer than this engine's, because its labels
        were refused with ``exc``."""
        served = len(self._stations.ids) if self._stations is not None else 0
        zh = "路网比路由数据新，仍按原路网作答"
        en = "the road network is newer than the routing data; answers use the previous network"
        self._stale = _Staleness(f"{zh}：{exc.zh}", f"{en}: {exc.en}", served)
        log.warning("routing data kept from before: %s", exc)

    def refresh(self) -> bool:
        """Take the stations again if the store changed; True when it did.

        Each filter's labels are made again on its next question, repaired from those
        made before where only the edited stations' catchments change. The memory the labels
        need is checked against ``budget`` first: over it,
        :class:`~geoservice.errors.BudgetError` is raised (on every call until stations
        were taken once: the network does not fit).
        """
        revision = self.store.revision()
        if revision == self._revision:
            return False
        with self._lock:
            revision = self.store.revision()
            if revision == self._revision:
                return False
            # Only here: the labels' size depends on the network, fixed for this engine.
            size = sum(net.nbytes() for net in self.networks.values())
            masks = check_budget(self.node_counts(), self.budget, self.k, size)
            gdf = self.store.stations()
            gdf = gdf.loc[gdf.geometry.notna()].reset_index(drop=True)
            lon, lat = gdf["lon"].to_numpy(float), gdf["lat"].to_numpy(float)
            towns = self.store.read("towns")
            names = dict(zip(towns["code"], towns["name"], strict=True))
            table = _StationTable.build(gdf, names)
            change = _before(self._stations, table) if self._stations is not None else None
            routing = {}
            for mode, net in self.networks.items():
                before = None
                if change is not None and mode in self._routing:
                    before = _Before(self._routing[mode].made(), *change)
                stations = net.snap(lon, lat, with_points=False, cache=True)
                routing[mode] = _Routing(stations, self.k, masks, before)
            self._stations = table
            self.boundary = _prepared(district.current(self.store).boundary)
            self._routing, self._revision = routing, revision
        return True

    def _state(self) -> tuple[_StationTable, dict[str, _Routing]]:
        self.refresh()
        assert self._stations is not None  # else refresh raised the budget refusal
        return self._stations, self._routing

    @property
    def empty(self) -> bool:
        """True until the stations have been taken (refused for the budget so far)."""
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
        table, routing = self._state()
        road = routing[mode]
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
        mask, reason = _on_network(mask, reason, road.stations)
        found, picked, times, via, chains = _best(road, point, mask, k)
        results = []
        for i, s in enumerate(picked.tolist()):
            rec = table.record(s, at)
            total = float(times[i]) + float(point.access_s[0])
            rec["travel_time_s"] = round(total, 1)
            rec["travel_time_min"] = math.ceil(total / 60)
            rec["network_time_s"] = round(float(times[i] - road.door_s[s]), 1)
            ends = ((lon, lat), (rec["lon"], rec["lat"]))
            route, length = _route(road, found, s, point, ends, (int(via[i]), chains[i]))
            rec["network_distance_m"] = round(length, 1)
            rec["straight_distance_m"] = 0.0  # below, for all results at once
            rec["station_snap_distance_m"] = round(float(road.stations.distance_m[s]), 1)
            if geometry:
                rec["route"] = {"type": "LineString", "coordinates": route}
            results.append(rec)
        if results:
            straight = crs.residual_m(
                lon,
                lat,
                np.array([r["lon"] for r in results]),
                np.array([r["lat"] for r in results]),
            )
            for rec, dist in zip(results, straight.tolist(), strict=True):
                rec["straight_distance_m"] = round(dist, 1)
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
        """Start making the labels of the default filter (warm stations open now) and of
        every station in the background, and answer a question per mode from a road node,
        so that the query's compiled kernels (snapping, search, routes along the labels or
        the search) are loaded from numba's disk cache, or compiled, before the first real
        question. Questions asked before the labels are made are answered by a search of
        their own."""
        from geoservice.network import labels

        table, routing = self._state()
        at = _hours.as_local(None)
        labels.warm_routes()
        for mode, net in self.networks.items():
            for stations in (WARM_OPEN_NOW, _ANY):
                mask, _ = self._mask(table, stations, at)
                routing[mode].cached(_on_network(mask, "", routing[mode].stations)[0])
            if net.n_nodes:
                lon, lat = (float(v) for v in net.node_xy[0])
                with contextlib.suppress(GeoserviceError):  # nothing near: nothing to warm
                    self.nearest(lon, lat, mode=mode, k=1, stations=_ANY)

    def settle(self) -> None:
        """Wait until the labels being made in the background are made (benchmarks and
        tests; questions never wait for them)."""
        for road in self._routing.values():
            road.settle()

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
        table, routing = self._state()
        road = routing[mode]
        origins = net.snap(lon, lat, with_points=False)
        mask, reason = self._mask(table, stations, at)
        mask, reason = _on_network(mask, reason, road.stations)
        from geoservice.network import labels

        idx, best = labels.nearest_many(
            road.labels(mask), origins, road.stations, road.door_s, mask
        )
        too_far = ~origins.on_network
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


def _on_network(mask: np.ndarray, reason: str, stations: RoadPoints) -> tuple[np.ndarray, str]:
    """Leave out stations farther than :data:`MAX_SNAP_M` from every road of the network
    (e.g. a network imported for another area): a route to them would be fiction."""
    near = stations.on_network
    if mask.any() and not (mask & near).any() and not reason:
        reason = (
            "符合条件的站点都不在该路网覆盖范围内 / "
            "no matching station lies within 2 km of this road network"
        )
    return mask & near, reason


def _best(
    road: _Routing, point: RoadPoints, mask: np.ndarray, k: int
) -> tuple[Labels | None, np.ndarray, np.ndarray, np.ndarray, list[np.ndarray | None]]:
    """The ``k`` stations of ``mask`` nearest to ``point``: from the filter's labels when
    they are made and hold ``k``, else by a search from the point (bounded by the labels'
    farthest, or :data:`_FIRST_LIMIT_S` while they are made).

    Returns the filter's labels (None: not made yet), the stations, their times from the
    point's road to the door, how each route leaves the point's road
    (:func:`geoservice.network.labels.nearest`) and its road nodes when the search found
    them (None: follow the labels).
    """
    from geoservice.network import labels

    found = road.cached(mask)
    limit = _FIRST_LIMIT_S
    if found is not None:
        station, time, via = labels.nearest(found, point, road.stations, road.door_s, mask)
        if k <= found.k:
            return found, station[:k], time[:k], via[:k], [None] * min(k, len(station))
        if len(station) < found.k:  # the labels hold every reachable station already
            return found, station, time, via, [None] * len(station)
        limit = float(time[-1])
    station, time, via, chains = labels.search(
        point, road.stations, road.door_s, mask, k, limit=limit
    )
    return found, station, time, via, list(chains)


def _route(
    road: _Routing,
    found: Labels | None,
    s: int,
    origin: RoadPoints,
    ends: tuple[tuple[float, float], tuple[float, float]],
    how: tuple[int, np.ndarray | None],
) -> tuple[np.ndarray, float]:
    """Route polyline (lon/lat, (V, 2), rounded to 1e-7°) from the origin to station
    ``s``'s door (``ends``: the two as given), and its road length.

    ``how`` is the node the origin leaves its road by (-1 / -2 for a station on the
    origin's own road reached forwards / backwards), with the road nodes from it when a
    search found them (None: along the labels' next nodes). The array goes into the answer
    as it is: JSON answers write arrays directly (a list of a few hundred points took
    longer to make than the rest of the route).
    """
    via, nodes = how
    if via < 0:
        nodes = _NO_NODES
    elif nodes is None:
        assert found is not None  # (no labels: the search gave the nodes)
        nodes = found.hops(s, via)
    start, door = ends
    line, length = origin.net.route(
        nodes,
        via,
        (int(origin.edge[0]), float(origin.frac[0]), *start),
        (int(road.stations.edge[s]), float(road.stations.frac[s])),
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
        Memory budget of the labels (``ENGINE_MEMORY_BUDGET``: bytes, or a size such as
        ``"4GB"``; see :func:`parse_budget`). A network whose labels would exceed it is
        not switched to: the previous engine keeps answering, flagged `stale`.
    k : int
        Labels per road node (``ROUTING_LABELS``).
    """

    def __init__(
        self,
        library: NetworkLibrary,
        store: Store,
        budget: object = DEFAULT_MEMORY_BUDGET,
        k: int = K_LABELS,
    ) -> None:
        self.library = library
        self.store = store
        self.budget = parse_budget(budget)
        self.k = parse_labels(k)
        self._engines: Watched[NearestEngine] = Watched(library, self._make)
        self._build_guard = threading.Lock()
        self._build: threading.Thread | None = None
        self._build_error: Exception | None = None
        # ((network token, budget), error) of a network refused for the budget.
        self._refused: tuple[tuple[str, int], BudgetError] | None = None

    def get(self) -> NearestEngine:
        """The engine for the current active network (thread-safe).

        Raises
        ------
        BudgetError
            When no engine can answer: the first network's labels exceed the budget.
        """
        engine = self._engines.get()
        if engine.empty:
            engine.refresh()  # raises the refusal again until the budget allows
        return engine

    def _make(
        self, networks: dict[str, Network], previous: NearestEngine | None
    ) -> NearestEngine | None:
        """The engine of new networks; None keeps ``previous`` answering (flagged stale)
        when the new one's labels would exceed the budget."""
        key = (self.library.token(), self.budget)
        if previous is not None and self._refused is not None and self._refused[0] == key:
            return None  # refused already; the previous engine answers
        engine = NearestEngine(networks, self.store, budget=self.budget, k=self.k)
        try:
            engine.refresh()
            engine.warm()
        except BudgetError as exc:
            if previous is None:
                return engine  # nothing older: it answers 503 until the budget allows
            self._refused = (key, exc)
            previous.mark_stale(exc)
            return None
        self._refused = None
        return engine

    def get_within(self, seconds: float | None) -> NearestEngine:
        """The engine if it is ready within ``seconds``; its build (or rebuild) goes on in
        a background thread meanwhile, so a request never holds a thread for minutes. While
        the engine of a new active network is built, the previous one answers (``stale``).

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
        previous = self._engines.built
        if build.is_alive() and previous is not None:
            # A new active network (an import): the previous one answers until its engine
            # is built, and says so. The first network has nothing older: 503.
            previous.mark_loading()
            return previous
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
