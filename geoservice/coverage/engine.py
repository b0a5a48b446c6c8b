"""The coverage engine: one network per mode, the stations of a store, cached tables.

Everything that does not depend on the station set (road tables, matrices, towns,
settlement mask, cluster buffers) is cached per network (:class:`ModeCache`), so
recomputing after one station edit costs a Dijkstra, the envelope and the changed cells'
polygons. :class:`CoverageProvider` hands out the engine of the active network.
Computations that must see the same stations (siting's many) run on a
:class:`Snapshot` of the engine (:meth:`CoverageEngine.snapshot`).
The stations' snaps are kept with each network (``Network.snap(..., cache=True)``), shared
with the routing engine, and valid as long as the stations do not move.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from functools import partial
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geoservice import hours as _hours
from geoservice.coverage.envelope import cost_at, envelope, envelope_again
from geoservice.coverage.figures import figures, notices
from geoservice.coverage.paths import Field, nearest_sources
from geoservice.coverage.places import Places, build_places
from geoservice.coverage.query import ACFTU_RADIUS_M, BUFFER_M, CoverageQuery
from geoservice.coverage.result import Coverage, gc_paused
from geoservice.coverage.roads import Roads
from geoservice.coverage.tiles import (
    Areas,
    Clusters,
    fill_areas,
    get_tiling,
    thread_pool,
    tiled_areas,
    whole_cells,
)
from geoservice.errors import ParameterError
from geoservice.model import AMENITIES
from geoservice.network import MODES, Network, NetworkLibrary, RoadPoints, places
from geoservice.network.library import Watched
from geoservice.network.points import access_speed_ms
from geoservice.store import Store

if TYPE_CHECKING:
    from geoservice.coverage.envelope import Pieces
    from geoservice.coverage.tiles import Tiling


#: Default budget of the engine's own caches (``COVERAGE_ENGINE_CACHE_BYTES``). On the Miyun
#: network the tables of the 12 tilings kept (3 modes × 4 buffers) take about 136 MB, and
#: their polygons grow with the questions (254 MB in all after 60 distinct questions,
#: unbounded; bench/bench_coverage_memory.py): this keeps every table (below them, tilings
#: are made again and again: 60 questions took 110 s at 128 MB, 68 s unbounded) and the
#: most recent polygons.
DEFAULT_CACHE_BYTES = 256 * 1024**2
#: Memory of a GEOS geometry: per vertex and per geometry (measured with shapely 2 on
#: GEOS 3.14: RSS growth over 50,000 small and 500 large polygons).
COORD_BYTES = 24
GEOMETRY_BYTES = 320


@dataclass
class ModeCache:
    """Everything about one mode that does not depend on the stations: the road tables,
    places, clusters and tilings, and the last envelope of each kind.

    The places (and the clusters and tilings made from them) follow the sites and towns:
    :meth:`use_places` replaces them together, under the key of the tables they come from.
    """

    mode: str
    roads: Roads
    places: Places
    places_key: str
    clusters: Clusters
    tilings: dict[float, Tiling] = field(default_factory=dict)  # by buffer (m)
    # The last envelope of each kind: (field, thresholds, pieces).
    envelopes: dict[tuple[str, ...], tuple[Field, np.ndarray, Pieces]] = field(default_factory=dict)
    # Other static tables by name (siting's candidates), each under its places key.
    extras: dict[str, tuple[str, np.ndarray]] = field(default_factory=dict)
    # When each tiling (by buffer) and the mode were last used: the engine's clock ticks,
    # for evicting the least recently used above the engine's budget.
    used: dict[float, int] = field(default_factory=dict)
    last: int = 0
    # Each tiling's measured bytes: (its id, polygons made, cells made, bytes).
    sizes: dict[float, tuple[int, int, int, int]] = field(default_factory=dict)

    @classmethod
    def build(cls, mode: str, roads: Roads, places: Places, key: str) -> ModeCache:
        return cls(mode, roads, places, key, Clusters.build(roads, places))

    def use_places(self, places: Places, key: str) -> None:
        """New places (the sites or towns changed): new clusters, no tiling kept."""
        self.places, self.places_key = places, key
        self.clusters = Clusters.build(self.roads, places)
        self.tilings.clear()
        self.used.clear()
        self.sizes.clear()


# -- stations ----------------------------------------------------------------------------------


@dataclass
class _Stations:
    """The stations of one store revision as arrays."""

    frame: pd.DataFrame  # id, name, kind, lon, lat, opening_hours, source, town_code
    amenity: np.ndarray  # (S, A) bool

    @classmethod
    def build(cls, gdf: gpd.GeoDataFrame) -> _Stations:
        gdf = gdf.loc[gdf.geometry.notna()].reset_index(drop=True)
        keys = list(AMENITIES)
        amenity = np.zeros((len(gdf), len(keys)), dtype=bool)
        for i, text in enumerate(gdf["amenities"].astype(str)):
            for a in text.split(";"):
                if a in AMENITIES:
                    amenity[i, keys.index(a)] = True
        frame = pd.DataFrame(
            {
                c: gdf[c].to_numpy()
                for c in (
                    "id",
                    "name",
                    "kind",
                    "lon",
                    "lat",
                    "opening_hours",
                    "source",
                    "town_code",
                )
            }
        )
        return cls(frame=frame, amenity=amenity)

    def mask(self, query: CoverageQuery) -> np.ndarray:
        """Stations matching the query's kind, amenities and (when given) open time."""
        f = self.frame
        mask = f["kind"].isin(query.kinds).to_numpy().copy()
        if query.amenities:
            cols = [list(AMENITIES).index(a) for a in query.amenities]
            mask &= self.amenity[:, cols].all(axis=1)
        if query.at is not None and mask.any():
            mask &= _hours.open_mask(f["opening_hours"].tolist(), query.at, on_error="closed")
        return mask

    def snap(self, net: Network) -> RoadPoints:
        """The stations on the roads of ``net`` (kept with the network while the stations
        stay where they are)."""
        lon, lat = self.frame["lon"].to_numpy(float), self.frame["lat"].to_numpy(float)
        return net.snap(lon, lat, with_points=False, cache=True)


@dataclass(frozen=True)
class Sources:
    """The counted stations of a query, standing on their roads."""

    index: np.ndarray  # (C,) rows of the stations' table
    r: np.ndarray  # (C,) the road of each
    g: np.ndarray  # (C,) where along it (fraction from its u end)
    distance_m: np.ndarray  # (C,) from the road to the door
    far: int  # matching stations left out: farther than MAX_SNAP_M from every road

    def access_s(self, mode: str) -> np.ndarray:
        """Seconds from the road to each door, at the mode's access speed."""
        return self.distance_m / access_speed_ms(mode)


class CoverageEngine:
    """Coverage over one network per mode, for the stations of a store.

    Parameters
    ----------
    networks : dict
        Mode → :class:`~geoservice.network.Network`.
    store : Store
        Stations, sites and towns. When its revision changes the stations are re-read on
        the next computation; static tables are kept.
    library : NetworkLibrary, optional
        Passed to the site-position source.
    cache_bytes : int, optional
        Budget of the caches that grow with the questions asked (every mode's tilings with
        their polygons, envelopes and extras; see :meth:`cache_bytes`): after each
        computation the least recently used go until the rest fits. None: unbounded
        (the benchmark's baseline). The road tables, places and clusters are not counted:
        every answer needs them.
    """

    def __init__(
        self,
        networks: dict[str, Network],
        store: Store,
        library: NetworkLibrary | None = None,
        cache_bytes: int | None = DEFAULT_CACHE_BYTES,
    ) -> None:
        self.networks = networks
        self.store = store
        self.library = library
        self.budget = cache_bytes
        self._tick = 0
        self._lock = threading.RLock()
        self._modes: dict[str, ModeCache] = {}
        self._revision: str | None = None
        self._stations: _Stations | None = None
        self._sites: gpd.GeoDataFrame | None = None
        self._sites_key = ""
        self._towns: gpd.GeoDataFrame | None = None

    # -- state ----------------------------------------------------------------------------
    def network(self, mode: str) -> Network:
        if mode not in self.networks:
            known = ", ".join(m for m in MODES if m in self.networks)
            name = "mode"
            raise ParameterError(
                name, f"没有 {mode} 路网；可用：{known}", f"no {mode} network; available: {known}"
            )
        return self.networks[mode]

    def _refresh(self) -> _Stations:
        """The stations of the store's revision, read again when it changed (under the
        lock)."""
        revision = self.store.revision()
        if self._stations is not None and revision == self._revision:
            return self._stations
        stations, sites, towns = (self.store.read(x) for x in ("stations", "sites", "towns"))
        current = _Stations.build(stations)
        # Sites are matched to places again only when they or the towns changed (a station
        # edit changes the store's revision too).
        key = _frame_key(sites, _columns(sites)) + _frame_key(towns, _columns(towns))
        if key != self._sites_key:
            self._sites = places.located_sites(self.store, self.library)
            self._towns = towns
            self._sites_key = key
        self._stations = current
        self._revision = revision
        return current

    def _mode(self, mode: str) -> ModeCache:
        net = self.network(mode)
        key = _frame_key(self._sites, ("id", "kind", "town_code", "coord_source")) + _frame_key(
            self._towns, ("code", "name")
        )
        cache = self._modes.get(mode)
        if cache is None:
            roads = Roads.build(net)
            found = build_places(net, roads, self._towns, self._sites)
            cache = self._modes[mode] = ModeCache.build(mode, roads, found, key)
        elif cache.places_key != key:
            cache.use_places(build_places(net, cache.roads, self._towns, self._sites), key)
        cache.last = self.tick()
        return cache

    def tick(self) -> int:
        """The next tick of the engine's clock (orders the uses of its caches)."""
        self._tick += 1
        return self._tick

    def cache_bytes(self) -> int:
        """Bytes held by the caches under the budget (an estimate for the polygons: see
        :func:`geometry_bytes`)."""
        with self._lock:
            return sum(size for _, size, _ in self._cached())

    def _cached(self) -> list[tuple[tuple[int, int], int, Callable[[], None]]]:
        """Every cache under the budget: (when last used, bytes, how to drop it)."""
        out: list[tuple[tuple[int, int], int, Callable[[], None]]] = []
        for cache in self._modes.values():
            for buffer_m, tiling in cache.tilings.items():
                used = cache.used.get(buffer_m, 0)
                # A tiling's assembled polygons go before its tables (cheaper to make).
                out.append(((used, 0), _polys_bytes(tiling), partial(_drop_polys, tiling)))
                drop = partial(_drop_tiling, cache, buffer_m)
                out.append(((used, 1), _tables_bytes(cache, buffer_m, tiling), drop))
            out.append(((cache.last, 2), _envelope_bytes(cache), cache.envelopes.clear))
            extras = sum(a.nbytes for _, a in cache.extras.values())
            out.append(((cache.last, 3), extras, cache.extras.clear))
        return out

    def _trim(self) -> None:
        """Drop the least recently used caches until the rest fits the budget (under the
        lock, after a computation: an answer in progress keeps what it holds)."""
        if self.budget is None:
            return
        cached = self._cached()
        total = sum(size for _, size, _ in cached)
        for _, size, drop in sorted(cached, key=lambda c: c[0]):
            if total <= self.budget:
                break
            if size:
                drop()
                total -= size

    def warm(self, modes: tuple[str, ...] | None = None, buffer_m: float = BUFFER_M) -> None:
        """Build the static tables, every cluster's clipped buffers and every tile's
        polygon with all its roads reached now (else on first use)."""
        with self._lock:
            self._refresh()
            for mode in modes or tuple(self.networks):
                cache = self._mode(mode)
                tiling = get_tiling(cache, buffer_m)
                cache.used[buffer_m] = self.tick()
                whole_cells(cache, tiling, np.arange(len(tiling.cell_code)), thread_pool())
            self._trim()

    @contextlib.contextmanager
    def snapshot(self, mode: str) -> Iterator[Snapshot]:
        """The engine held for computations over ``mode`` that must see the same stations
        (siting compares many): the stations of the store's revision now and the mode's
        tables, which no other thread changes until the block ends.

        Raises
        ------
        ParameterError
            A mode the networks lack.
        """
        with self._lock:
            stations = self._refresh()
            try:
                yield Snapshot(self, stations, self._mode(mode))
            finally:
                self._trim()

    # -- computation ----------------------------------------------------------------------
    def compute(
        self, query: CoverageQuery | Mapping[str, object] | None = None, *, geometry: bool = True
    ) -> Coverage:
        """Coverage for ``query`` (a :class:`CoverageQuery` or raw parameters).

        Parameters
        ----------
        query
            What to compute; raw mappings are parsed with :meth:`CoverageQuery.parse`.
        geometry : bool
            False skips the polygons (figures only).

        Returns
        -------
        Coverage

        Raises
        ------
        ParameterError
        """
        if not isinstance(query, CoverageQuery):
            query = CoverageQuery.parse(query or {})
        with self.snapshot(query.mode) as state, gc_paused():
            return state.coverage(query, geometry=geometry)


@dataclass(frozen=True)
class Snapshot:
    """The engine's stations and one mode's tables, held (see
    :meth:`CoverageEngine.snapshot`; use it only inside that block)."""

    engine: CoverageEngine
    stations: _Stations
    cache: ModeCache

    @property
    def network(self) -> Network:
        return self.engine.networks[self.cache.mode]

    def sources(self, query: CoverageQuery) -> Sources:
        """The stations ``query`` counts, on their roads."""
        self._check(query)
        points = self.stations.snap(self.network)
        r, g = self.cache.roads.on_road(points)
        mask = self.stations.mask(query)
        on = points.on_network
        idx = np.flatnonzero(mask & on)
        return Sources(idx, r[idx], g[idx], points.distance_m[idx], int((mask & ~on).sum()))

    def field(self, query: CoverageQuery) -> Field:
        """Every node's travel time to the nearest station ``query`` counts, and which."""
        src = self.sources(query)
        return _field(self.cache, src.r, src.g, src.access_s(query.mode), second_limit=None)

    def evaluate(self, query: CoverageQuery, nodes: np.ndarray) -> tuple[float, int]:
        """People-road metres and located villages within the largest threshold of the
        counted stations plus new stations at ``nodes`` (door on the road). For siting."""
        roads, found = self.cache.roads, self.cache.places
        src = self.sources(query)
        nr, ng = _node_positions(roads, np.asarray(nodes, dtype=np.int64))
        r = np.concatenate([src.r, nr])
        g = np.concatenate([src.g, ng])
        cost = np.concatenate([src.access_s(query.mode), np.zeros(len(nr))])
        tau = query.seconds[-1:]
        fld = _field(self.cache, r, g, cost, second_limit=None)
        p = envelope(roads, fld, tau, reached_only=True)
        ok = (p.lvl1 == 0) & found.people[p.r]
        metres = float(p.length(roads)[ok].sum())
        villages = 0
        if len(found.villages):
            t, _ = cost_at(roads, fld, found.village_road, found.village_g)
            villages = int(((t + found.village_access_s) <= tau[0]).sum())
        return metres, villages

    def coverage(self, query: CoverageQuery, *, geometry: bool = True) -> Coverage:
        """Coverage for ``query`` (see :meth:`CoverageEngine.compute`)."""
        cache, net = self.cache, self.network
        roads, found = cache.roads, cache.places
        src = self.sources(query)
        taus = query.seconds
        fld = _field(cache, src.r, src.g, src.access_s(query.mode), second_limit=float(taus[-1]))
        pieces = envelope_again(cache, ("time",), fld, taus)
        # ACFTU: network distance (metres) to the nearest station door.
        dist = _field(cache, src.r, src.g, src.distance_m, second_limit=None, metric="length")
        radius = np.array([ACFTU_RADIUS_M])
        acftu = envelope_again(cache, ("length",), dist, radius, reached_only=True)
        frame = self.stations.frame.iloc[src.index].reset_index(drop=True)
        stations = frame.assign(snap_m=src.distance_m)
        result = figures(query, roads, found, pieces, acftu, fld, stations)
        cov = Coverage(
            query=query,
            network=net.describe(),
            stations=stations,
            excluded_far=src.far,
            district=result["district"],
            towns=result["towns"],
            villages=result["villages"],
            gaps=result["gaps"],
            notices=notices(net, stations, found),
            pieces=pieces,
            _roads=roads,
            _places=found,
            _gap_pieces=result["gap_pieces"],
            _gap_groups=result["gap_groups"],
        )
        if geometry:
            K = len(taus)
            tiling = get_tiling(cache, query.buffer_m)
            cache.used[query.buffer_m] = self.engine.tick()
            tiled = tiled_areas(cache, tiling, pieces, pieces.lvl1, K)
            lock = self.engine._lock
            # Display polygons are dissolved from the tiles when asked for (Coverage.areas),
            # cross-coverage shading likewise (Coverage.cross).
            cov.areas = Areas(tiled.tiles, lock)
            cov.town_areas = dict(enumerate(tiled.towns))
            cov.area_m2 = tiled.district
            cov._cross_source = (cache, K, lock)
            fill_areas(cov, tiled)
        return cov

    def _check(self, query: CoverageQuery) -> None:
        if query.mode != self.cache.mode:
            msg = f"a snapshot of the {self.cache.mode} tables cannot answer for {query.mode}"
            raise ValueError(msg)


def _field(
    cache: ModeCache,
    r: np.ndarray,
    g: np.ndarray,
    cost: np.ndarray,
    *,
    second_limit: float | None,
    metric: str = "time",
) -> Field:
    """Labels of sources on roads ``r`` at ``g`` after ``cost`` (``metric``: time or
    length): every node's cost to the nearest source, and to the second-nearest distinct
    one up to ``second_limit`` (None: not asked for)."""
    roads = cache.roads
    rev, wf, wb = (
        (roads.rev_time, roads.tf, roads.tb)
        if metric == "time"
        else (roads.rev_len, roads.lf, roads.lb)
    )
    k = 1 if second_limit is None else 2
    limit = math.inf if second_limit is None else second_limit
    time, source = nearest_sources(rev, roads, (r, g, cost), (wf, wb), k, limit)
    d1, s1 = np.ascontiguousarray(time[:, 0]), np.ascontiguousarray(source[:, 0])
    d2 = s2 = None
    if second_limit is not None:
        d2, s2 = np.ascontiguousarray(time[:, 1]), np.ascontiguousarray(source[:, 1])
    return Field(d1, s1, d2, s2, r, g, cost, wf, wb)


def _node_positions(roads: Roads, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A road position standing for each node: the start of a road leaving it (g = 0),
    else the end of one arriving at it (g = 1)."""
    n = int(max(roads.u.max(), roads.v.max(), nodes.max() if len(nodes) else 0)) + 1
    ids = np.arange(roads.n)
    leaving = np.full(n, -1, dtype=np.int64)
    leaving[roads.u[::-1]] = ids[::-1]
    arriving = np.full(n, -1, dtype=np.int64)
    arriving[roads.v[::-1]] = ids[::-1]
    r = np.where(leaving[nodes] >= 0, leaving[nodes], arriving[nodes])
    if (r < 0).any():
        msg = "a node without roads cannot host a station"
        raise ValueError(msg)
    return r, np.where(leaving[nodes] >= 0, 0.0, 1.0)


# -- the budget of the caches ---------------------------------------------------------------


def geometry_bytes(geoms: Iterable[shapely.Geometry | None]) -> int:
    """Estimated memory of ``geoms`` (None skipped)."""
    held = np.array([g for g in geoms if g is not None], dtype=object)
    if not len(held):
        return 0
    return int(shapely.get_num_coordinates(held).sum()) * COORD_BYTES + len(held) * GEOMETRY_BYTES


def _polys_bytes(tiling: Tiling) -> int:
    return geometry_bytes(g for p in tiling.polys.values() for g in (p.poly, p.snapped))


_NONE = np.array(None, dtype=object)


def _tables_bytes(cache: ModeCache, buffer_m: float, tiling: Tiling) -> int:
    """A tiling's tables' bytes, measured again only when polygons were made since (they
    are only ever added): the trim runs after every computation, and measuring means
    visiting each of the tens of thousands of polygons of a Miyun tiling."""
    made = (
        id(tiling),
        int(np.count_nonzero(~np.equal(tiling.clipped, _NONE))),
        int(np.count_nonzero(~np.equal(tiling.whole, _NONE))),
    )
    known = cache.sizes.get(buffer_m)
    if known is not None and known[:3] == made:
        return known[3]
    size = _measure_tables(tiling)
    cache.sizes[buffer_m] = (*made, size)
    return size


def _measure_tables(tiling: Tiling) -> int:
    arrays = sum(
        a.nbytes
        for a in (
            tiling.cell_code,
            tiling.cell_start,
            tiling.cell_hash,
            tiling.inc_cluster,
            tiling.inc_hash,
            tiling.inc_order,
            tiling.cluster_inc,
            tiling.clipped,
            tiling.whole,
        )
    )
    # Each cell's polygon counted twice: with the snapped copy it gets once an answer
    # draws it (made later, without changing the counts the measure is kept under).
    whole = geometry_bytes(p.poly for p in tiling.whole if p is not None)
    return arrays + geometry_bytes(tiling.clipped) + 2 * whole


def _envelope_bytes(cache: ModeCache) -> int:
    """The envelopes' own arrays (the road weights they refer to are the road tables')."""
    total = 0
    for f, taus, pieces in cache.envelopes.values():
        own = (f.d1, f.s1, f.d2, f.s2, f.src_r, f.src_g, f.src_cost, taus)
        total += sum(a.nbytes for a in own if a is not None)
        total += sum(getattr(pieces, x.name).nbytes for x in fields(pieces))
    return total


def _drop_polys(tiling: Tiling) -> None:
    tiling.polys.clear()
    tiling.coords = 0


def _drop_tiling(cache: ModeCache, buffer_m: float) -> None:
    cache.tilings.pop(buffer_m, None)
    cache.used.pop(buffer_m, None)
    cache.sizes.pop(buffer_m, None)


def _columns(gdf: gpd.GeoDataFrame) -> tuple[str, ...]:
    """The attribute columns of a frame (its geometry is hashed as WKB)."""
    return tuple(c for c in gdf.columns if c != gdf.geometry.name)


def _frame_key(gdf: gpd.GeoDataFrame | None, columns: tuple[str, ...]) -> str:
    if gdf is None:
        return ""
    h = hashlib.sha256()
    for c in columns:
        if c in gdf:
            h.update("\x1f".join(map(str, gdf[c].tolist())).encode())
    for wkb in shapely.to_wkb(np.asarray(gdf.geometry.values)):
        h.update(wkb or b"-")
    return h.hexdigest()


# -- Flask-free provider ------------------------------------------------------------------------


class CoverageProvider(Watched[CoverageEngine]):
    """Hands out a :class:`CoverageEngine` for the active network, made again when the
    active network changes (:class:`~geoservice.network.library.Watched`); ``cache_bytes``
    the budget of its caches (:class:`CoverageEngine`)."""

    def __init__(
        self, library: NetworkLibrary, store: Store, cache_bytes: int | None = DEFAULT_CACHE_BYTES
    ) -> None:
        super().__init__(library, lambda nets, _: CoverageEngine(nets, store, library, cache_bytes))
