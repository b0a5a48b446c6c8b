"""Coverage of the roads by warm stations: isochrones, catchments, cross-coverage, gaps and
the figures against the ACFTU standard (1 km service radius, 15-minute walk).

How it is computed, exactly and fast:

1. The matching stations (``kind``, ``amenity``, and open at ``open_at`` when given —
   the same filters and names as the nearest-station answer) are snapped onto their road
   and joined to the *reversed* graph as virtual sources, the walk from the road to the
   door included. **One** multi-source Dijkstra (:func:`scipy.sparse.csgraph.dijkstra`,
   ``min_only``) gives every node its travel time to the nearest station and which
   station that is (its catchment).
2. Cross-coverage needs the second-nearest *distinct* station of every node, which scipy
   has no kernel for: :func:`_second_label` is a small numba Dijkstra seeded from the
   first labels (the predecessor on a node's second-best path has that station among
   its own two best, so one label per node suffices).
3. Along each road the time to a station is the lower envelope of a few linear
   functions: through either end node (best and second-best station) and straight to a
   station standing on that road. The envelope is split at every crossing and
   threshold, so partially reached roads are cut at the exact cut-off point and lengths
   are exact to floating-point precision.
4. Polygons are the reached road pieces buffered (50 m by default) and dissolved — never
   hulls, so no polygon claims water or a valley no road joins. Dissolving is the
   expensive part, so it is done per *cell* (one town's roads around a 1 km tile) and
   clipped to the tile: tiles never overlap, so town and district areas are sums over
   tiles, and an edit re-dissolves only the few cells whose inputs changed (each cell
   polygon is cached under a fingerprint of its inputs). Within a cell, a cluster of
   roads reached whole (a town's roads in a 250 m cell) brings its dissolved buffer,
   made once since it does not depend on the stations; only the frontier is buffered
   per query. The display polygon of a threshold is assembled from its tiles when asked
   for (:func:`shapely.coverage_union_all` on the tiles snapped to 1 mm).
5. Towns have no polygons in any source: each road takes the town of the nearest
   *located* village, community or town seat along the network (approximate, 近似).
   Figures are given over the roads where people live and work (see `people_roads`)
   with the whole network's beside them.

Everything that does not depend on the station set (road tables, matrices, towns,
settlement mask, cluster buffers) is cached per network, so recomputing after one
station edit costs a Dijkstra, the envelope and the changed cells' polygons.

Parameters are parsed here (:meth:`CoverageQuery.parse`), with the same names as the
nearest-station answer; `open_at` absent means every matching station counts whatever
its hours (the planning view), present means only those open then. Results are
JSON-ready (:meth:`Coverage.to_dict`, :meth:`Coverage.layer`, :meth:`Coverage.to_geojson`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import hashlib
import heapq
import itertools
import json
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import scipy.sparse as sp
import shapely
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from geoservice import hours as _hours
from geoservice import params
from geoservice.errors import ParameterError
from geoservice.model import AMENITIES, SITE_KINDS, STATION_KINDS
from geoservice.nearest import ACCESS_SPEED_MS, MAX_SNAP_M
from geoservice.network import MODE_LABELS, MODES, Network, NetworkLibrary, places
from geoservice.store import Store

__all__ = [
    "ACFTU_RADIUS_M",
    "BUFFER_M",
    "DEFAULT_MINUTES",
    "MAX_MINUTES",
    "Coverage",
    "CoverageEngine",
    "CoverageProvider",
    "CoverageQuery",
    "people_roads",
    "warm_kernel",
]

#: Default thresholds (minutes) per mode.
DEFAULT_MINUTES: dict[str, tuple[float, ...]] = {
    "walk": (5.0, 10.0, 15.0),
    "bike": (5.0, 10.0),
    "drive": (10.0,),
}
MAX_MINUTES = 120.0
MAX_THRESHOLDS = 6
#: Reached roads are buffered by this many metres to draw coverage areas.
BUFFER_M = 50.0
MAX_BUFFER_M = 500.0
#: ACFTU service radius: network distance from a road to a station's door.
ACFTU_RADIUS_M = 1000.0
#: Default station kinds (as for the nearest-station answer).
DEFAULT_KINDS = ("warm_station",)

#: Roads that never count as roads where people live and work.
MOTORWAYS = frozenset({"motorway", "motorway_link"})
#: Tracks and paths: they count only inside settlements.
PATHS = frozenset({"track", "path", "footway", "bridleway", "steps", "cycleway"})
#: Streets that mark a settlement.
SETTLEMENT_STREETS = frozenset({"residential", "living_street"})
#: A settlement is the land within these distances (m) of a residential street, a located
#: village or community, or a located town seat.
SETTLEMENT_STREET_M = 200.0
SETTLEMENT_VILLAGE_M = 300.0
SETTLEMENT_SEAT_M = 1000.0

#: Site ``coord_source`` values whose positions are schematic (derived, not surveyed).
SCHEMATIC_COORD_SOURCES = frozenset({"schematic"})
VILLAGE_KINDS = ("village", "community")
UNASSIGNED_LABEL = "未归属"

#: Roads are grouped into clusters of this size (m) whose dissolved buffers are cached.
_CLUSTER_M = 250.0
#: Coarse clusters are this many fine cells across (1 km).
_COARSE = 4
#: Lines are simplified by this much (m) before buffering (display geometry only).
_SIMPLIFY_M = 1.0
_QUAD_SEGS = 3
#: Threads dissolving polygons (GEOS runs without the GIL).
_WORKERS = max(1, min(4, os.cpu_count() or 1))
#: Gaps returned with geometry (all are counted).
MAX_GAP_FEATURES = 300
#: The layers of :meth:`Coverage.layer`.
LAYERS = ("areas", "cross", "catchments", "uncovered", "stations")
#: Coordinates of published geometry are rounded to this many decimals (≈0.1 m).
_DECIMALS = 6

NOTICES = {
    "towns_approximate": (
        "乡镇（街道）数据为近似值：没有乡镇界线，每条道路按路网上最近的已定位村庄、社区或"
        "乡镇驻地归属。",
        "Per-town figures are approximate: no town boundaries exist, so each road is given "
        "the town of the nearest located village, community or town seat along the network.",
    ),
    "schematic_network": (
        "路网为示意路网，并非真实道路，覆盖结果仅供演示。",
        "The road network is schematic, not real roads: coverage figures are illustrative.",
    ),
    "sample_stations": (
        "驿站为示例数据，并非总工会正式名录。",
        "The stations are sample data, not the union's official list.",
    ),
    "schematic_villages": (
        "部分村庄、社区位置为示意位置（非实测坐标），相关数字为示意。",
        "Some village/community positions are schematic (not surveyed): the village "
        "figures are illustrative.",
    ),
    "no_villages": (
        "尚无村庄、社区坐标，无法统计村庄覆盖率；可用 `flask sites import --upsert` 导入坐标。",
        "No village or community has a position yet, so village coverage cannot be counted; "
        "import coordinates with `flask sites import --upsert`.",
    ),
}


# -- parameters ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CoverageQuery:
    """What to compute: mode, thresholds, station filters and the polygon buffer.

    Build it with :meth:`parse` from query-string, JSON or CLI values: every check lives
    there (and raises :class:`~geoservice.errors.ParameterError` naming the parameter).

    Attributes
    ----------
    mode : str
        ``walk``, ``bike`` or ``drive``.
    minutes : tuple of float
        Thresholds in minutes, ascending, each in (0, `MAX_MINUTES`].
    kinds : tuple of str
        Station kinds counted (default ``warm_station``, as the nearest-station answer).
    amenities : tuple of str
        Amenities a station must all offer (empty: any).
    at : datetime or None
        Count only the stations open at this moment (Asia/Shanghai); None counts every
        matching station whatever its hours (the planning view).
    buffer_m : float
        Buffer around reached roads for the polygons.
    """

    mode: str = "walk"
    minutes: tuple[float, ...] = DEFAULT_MINUTES["walk"]
    kinds: tuple[str, ...] = DEFAULT_KINDS
    amenities: tuple[str, ...] = ()
    at: dt.datetime | None = None
    buffer_m: float = BUFFER_M

    @classmethod
    def parse(cls, args: Mapping[str, object]) -> CoverageQuery:
        """Parse ``mode``, ``minutes``, ``kind``, ``amenity``, ``open_at``, ``buffer_m``.

        Parameters
        ----------
        args : mapping
            Raw values (text from a query string or the CLI, or JSON values); ``minutes``
            may be one number, a comma-separated list or a list.

        Returns
        -------
        CoverageQuery

        Raises
        ------
        ParameterError
            Unknown mode, kind or amenity; minutes not numbers, ≤ 0 or > 120; a bad time;
            a buffer outside (0, 500] m.
        """
        mode = params.choice(args.get("mode"), "mode", MODE_LABELS, default="walk")
        minutes = parse_minutes(args.get("minutes"), default=DEFAULT_MINUTES[mode])
        kinds = params.names(args.get("kind"), "kind", STATION_KINDS)
        amenities = params.names(args.get("amenity"), "amenity", AMENITIES)
        at = params.time(args.get("open_at"), "open_at")
        buffer_m = params.number(
            args.get("buffer_m"), "buffer_m", 0, MAX_BUFFER_M, default=BUFFER_M
        )
        if buffer_m <= 0:
            name = "buffer_m"
            raise ParameterError(
                name,
                f"buffer_m 应大于 0 且不超过 {MAX_BUFFER_M:g}",
                f"buffer_m must be greater than 0 and at most {MAX_BUFFER_M:g}",
            )
        return cls(
            mode=mode,
            minutes=minutes,
            kinds=tuple(kinds) if kinds else DEFAULT_KINDS,
            amenities=tuple(amenities or ()),
            at=at,
            buffer_m=buffer_m,
        )

    @property
    def seconds(self) -> np.ndarray:
        return np.array(self.minutes, dtype=float) * 60.0

    def to_dict(self) -> dict:
        """JSON-ready echo of the parameters."""
        return {
            "mode": self.mode,
            "mode_label": MODE_LABELS[self.mode],
            "minutes": [_num(m) for m in self.minutes],
            "kind": list(self.kinds),
            "amenity": list(self.amenities),
            "open_at": None if self.at is None else self.at.isoformat(),
            "buffer_m": _num(self.buffer_m),
        }


def parse_minutes(raw: object, *, default: tuple[float, ...]) -> tuple[float, ...]:
    """Thresholds in minutes: one number, ``"5,10,15"`` or a list; each in (0, 120].

    Raises
    ------
    ParameterError
    """
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return tuple(default)
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        items: list[object] = [raw]
    elif isinstance(raw, list | tuple):
        items = []
        for part in raw:
            items.extend(part.split(",") if isinstance(part, str) else [part])
    elif isinstance(raw, str):
        items = raw.split(",")
    else:
        items = [raw]
    items = [i for i in items if not (isinstance(i, str) and not i.strip())]
    if not items:
        return tuple(default)
    name = "minutes"
    if len(items) > MAX_THRESHOLDS:
        raise ParameterError(
            name,
            f"minutes 最多 {MAX_THRESHOLDS} 个阈值",
            f"minutes takes at most {MAX_THRESHOLDS} thresholds",
        )
    values = []
    for item in items:
        x = params.number(item, name, 0, MAX_MINUTES)
        if x <= 0:
            raise ParameterError(
                name,
                f"minutes 应大于 0 且不超过 {MAX_MINUTES:g}，而不是 {_num(x)}",
                f"minutes must be greater than 0 and at most {MAX_MINUTES:g}, not {_num(x)}",
            )
        values.append(x)
    return tuple(sorted(set(values)))


def _num(x: float) -> float | int:
    return int(x) if float(x).is_integer() else float(x)


_GC_LOCK = threading.Lock()
_GC_HOLDS = [0, True]  # pauses held, and whether the collector ran before the first


@contextlib.contextmanager
def _gc_paused():
    """Pause the cyclic garbage collector: building large GeoJSON or many small lists makes
    no reference cycles, yet triggers full collections that rescan the whole heap (several
    hundred thousand objects here), which used to cost more than the building itself.
    Nested and concurrent pauses are counted; the collector resumes after the last."""
    with _GC_LOCK:
        if _GC_HOLDS[0] == 0:
            _GC_HOLDS[1] = gc.isenabled()
            gc.disable()
        _GC_HOLDS[0] += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _GC_HOLDS[0] -= 1
            if _GC_HOLDS[0] == 0 and _GC_HOLDS[1]:
                gc.enable()


# -- static per-network tables ---------------------------------------------------------------


def _min_csr(rows: np.ndarray, cols: np.ndarray, w: np.ndarray, n: int) -> sp.csr_matrix:
    """CSR matrix keeping the smallest weight of duplicate (row, col) entries."""
    order = np.lexsort((w, cols, rows))
    r, c = rows[order], cols[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (r[1:] != r[:-1]) | (c[1:] != c[:-1])
    keep = order[first]
    # Zero weights would vanish from a sparse matrix.
    m = sp.csr_matrix((np.maximum(w[keep], 1e-9), (rows[keep], cols[keep])), shape=(n, n))
    m.sort_indices()
    return m


@dataclass
class _Roads:
    """One network's roads (each two-way road once) and everything static about them."""

    edge: np.ndarray  # (R,) representative edge
    u: np.ndarray
    v: np.ndarray
    tf: np.ndarray  # seconds u → v
    tb: np.ndarray  # seconds v → u (inf: one-way)
    lf: np.ndarray  # metres u → v (the road's length)
    lb: np.ndarray  # metres v → u (inf: one-way)
    highway: np.ndarray
    name: np.ndarray
    road_of_edge: np.ndarray  # (E,) road of each directed edge
    flipped: np.ndarray  # (E,) True when the edge runs v → u of its road
    rev_time: sp.csr_matrix  # reversed travel-time graph (N × N)
    rev_len: sp.csr_matrix  # reversed length graph
    sym_len: sp.csr_matrix  # undirected length graph
    xy: np.ndarray  # (P, 2) metric vertices of every road
    offsets: np.ndarray  # (R + 1,)
    vkey: np.ndarray  # (P,) 2 * road + fraction of length: sorted, for cutting
    mid: np.ndarray  # (R, 2) metric midpoints
    bounds: np.ndarray  # (R, 4) metric xmin, ymin, xmax, ymax
    to_wgs: pyproj.Transformer

    @property
    def n(self) -> int:
        return len(self.edge)

    @classmethod
    def build(cls, net: Network) -> _Roads:
        ids = np.arange(net.n_edges)
        rep = (net.edge_twin < 0) | (ids < net.edge_twin)
        edge = ids[rep]
        twin = net.edge_twin[edge]
        road_of_edge = np.empty(net.n_edges, dtype=np.int64)
        road_of_edge[edge] = np.arange(len(edge))
        has_twin = twin >= 0
        road_of_edge[twin[has_twin]] = np.flatnonzero(has_twin)
        flipped = np.zeros(net.n_edges, dtype=bool)
        flipped[twin[has_twin]] = True
        tw = np.maximum(twin, 0)
        n = net.n_nodes
        rev_time = _min_csr(net.edge_v, net.edge_u, net.edge_time, n)
        rev_len = _min_csr(net.edge_v, net.edge_u, net.edge_length, n)
        sym_len = _min_csr(
            np.concatenate([net.edge_u, net.edge_v]),
            np.concatenate([net.edge_v, net.edge_u]),
            np.concatenate([net.edge_length, net.edge_length]),
            n,
        )
        # Metric polylines of the representative edges.
        counts = np.diff(net.geom_offsets)[edge]
        starts = net.geom_offsets[edge]
        offsets = np.concatenate([[0], np.cumsum(counts)])
        take = np.repeat(starts - offsets[:-1], counts) + np.arange(offsets[-1])
        lon, lat = net.geom_xy[take, 0], net.geom_xy[take, 1]
        x, y = net.to_metric(lon, lat)
        xy = np.column_stack([x, y])
        road_of_vertex = np.repeat(np.arange(len(edge)), counts)
        seg = np.hypot(*np.diff(xy, axis=0).T)
        seg[road_of_vertex[1:] != road_of_vertex[:-1]] = 0.0
        cum = np.concatenate([[0.0], np.cumsum(seg)])
        cum -= np.repeat(cum[offsets[:-1]], counts)
        total = np.repeat(cum[offsets[1:] - 1], counts)
        frac = np.where(total > 0, cum / np.where(total > 0, total, 1.0), 0.0)
        frac[offsets[1:] - 1] = 1.0
        vkey = 2.0 * road_of_vertex + frac
        mid = _interpolate(xy, offsets, vkey, np.arange(len(edge)), np.full(len(edge), 0.5))
        bounds = np.column_stack(
            [
                np.minimum.reduceat(x, offsets[:-1]),
                np.minimum.reduceat(y, offsets[:-1]),
                np.maximum.reduceat(x, offsets[:-1]),
                np.maximum.reduceat(y, offsets[:-1]),
            ]
        )
        return cls(
            edge=edge,
            u=net.edge_u[edge],
            v=net.edge_v[edge],
            tf=net.edge_time[edge].astype(float),
            tb=np.where(has_twin, net.edge_time[tw], np.inf),
            lf=net.edge_length[edge].astype(float),
            lb=np.where(has_twin, net.edge_length[tw], np.inf),
            highway=net.edge_highway[edge],
            name=net.edge_name[edge],
            road_of_edge=road_of_edge,
            flipped=flipped,
            rev_time=rev_time,
            rev_len=rev_len,
            sym_len=sym_len,
            xy=xy,
            offsets=offsets,
            vkey=vkey,
            mid=mid,
            bounds=bounds,
            to_wgs=pyproj.Transformer.from_crs(net.metric_crs, "EPSG:4326", always_xy=True),
        )

    def on_road(self, edge: np.ndarray, frac: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Road index and road-relative fraction of snapped points."""
        r = self.road_of_edge[edge]
        g = np.where(self.flipped[edge], 1.0 - frac, frac)
        return r, g

    def cut(self, r: np.ndarray, g0: np.ndarray, g1: np.ndarray) -> np.ndarray:
        """Metric LineStrings of road ``r`` between fractions ``g0 < g1`` (vectorised)."""
        if not len(r):
            return np.empty(0, dtype=object)
        lo = self.offsets[r] + 1
        hi = self.offsets[r + 1] - 1
        j0 = np.clip(np.searchsorted(self.vkey, 2.0 * r + g0, side="right"), lo, hi)
        j1 = np.clip(np.searchsorted(self.vkey, 2.0 * r + g1, side="left"), lo, hi)
        p0 = _point_in_segment(self.xy, self.vkey, j0, 2.0 * r + g0)
        p1 = _point_in_segment(self.xy, self.vkey, j1, 2.0 * r + g1)
        inner = np.maximum(j1 - j0, 0)
        counts = inner + 2
        piece = np.repeat(np.arange(len(r)), counts)
        k = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        src = np.clip(j0[piece] + k - 1, 0, len(self.xy) - 1)
        coords = self.xy[src].copy()
        first = k == 0
        last = k == counts[piece] - 1
        coords[first] = p0
        coords[last] = p1
        return shapely.linestrings(coords, indices=piece)


def _point_in_segment(
    xy: np.ndarray, vkey: np.ndarray, j: np.ndarray, key: np.ndarray
) -> np.ndarray:
    a, b = xy[j - 1], xy[j]
    ka, kb = vkey[j - 1], vkey[j]
    span = kb - ka
    t = np.clip(np.where(span > 0, (key - ka) / np.where(span > 0, span, 1.0), 0.0), 0.0, 1.0)
    return a + (b - a) * t[:, None]


def _interpolate(
    xy: np.ndarray, offsets: np.ndarray, vkey: np.ndarray, r: np.ndarray, g: np.ndarray
) -> np.ndarray:
    """Metric points at fraction ``g`` along roads ``r``."""
    lo = offsets[r] + 1
    hi = offsets[r + 1] - 1
    j = np.clip(np.searchsorted(vkey, 2.0 * r + g, side="right"), lo, hi)
    return _point_in_segment(xy, vkey, j, 2.0 * r + g)


# -- places: towns, settlements and located villages -----------------------------------------


@dataclass
class _Places:
    """Per network and located-site set: road towns, the people-roads mask, villages."""

    towns: list[dict]  # code, name; index len(towns) is "unassigned"
    road_town: np.ndarray  # (R,) index into towns (len(towns): unassigned)
    people: np.ndarray  # (R,) roads where people live and work
    villages: pd.DataFrame  # located villages/communities on this network
    village_road: np.ndarray
    village_g: np.ndarray
    village_access_s: np.ndarray
    village_access_m: np.ndarray
    far_villages: int  # located but > MAX_SNAP_M from every road
    seats: int  # located town seats used

    @property
    def unassigned(self) -> int:
        return len(self.towns)

    def town_label(self, i: int) -> str:
        return self.towns[i]["name"] if i < len(self.towns) else UNASSIGNED_LABEL

    def town_code(self, i: int) -> str:
        return self.towns[i]["code"] if i < len(self.towns) else ""


def people_roads(
    roads: _Roads,
    streets_xy: np.ndarray | None = None,
    villages_xy: np.ndarray | None = None,
    seats_xy: np.ndarray | None = None,
) -> np.ndarray:
    """The roads where people live and work.

    Every road except motorways (and their ramps) and except tracks and paths outside
    settlements. A *settlement* is the land within `SETTLEMENT_STREET_M` (200 m) of a
    residential street or living street, within `SETTLEMENT_VILLAGE_M` (300 m) of a
    located village or community, or within `SETTLEMENT_SEAT_M` (1 km) of a located town
    seat; a track or path counts when its midpoint lies in one.

    Parameters
    ----------
    roads : _Roads
    streets_xy, villages_xy, seats_xy : ndarray (k, 2), optional
        Metric positions; streets default to the network's residential roads.

    Returns
    -------
    ndarray of bool
    """
    hw = roads.highway
    keep = ~np.isin(hw, list(MOTORWAYS))
    path = np.isin(hw, list(PATHS))
    if not path.any():
        return keep
    mid = roads.mid[path]
    inside = np.zeros(len(mid), dtype=bool)
    streets = np.flatnonzero(np.isin(hw, list(SETTLEMENT_STREETS)))
    if len(streets):
        lines = roads.cut(streets, np.zeros(len(streets)), np.ones(len(streets)))
        tree = shapely.STRtree(lines)
        pts = shapely.points(mid)
        hit, _ = tree.query(pts, predicate="dwithin", distance=SETTLEMENT_STREET_M)
        inside[np.unique(hit)] = True
    for xy, radius in ((villages_xy, SETTLEMENT_VILLAGE_M), (seats_xy, SETTLEMENT_SEAT_M)):
        if xy is not None and len(xy):
            d, _ = cKDTree(xy).query(mid, k=1)
            inside |= d <= radius
    keep[np.flatnonzero(path)[~inside]] = False
    return keep


def _build_places(
    net: Network, roads: _Roads, towns: gpd.GeoDataFrame, sites: gpd.GeoDataFrame
) -> _Places:
    towns = towns.sort_values("code").reset_index(drop=True)
    town_list = [
        {"code": str(c), "name": str(n)} for c, n in zip(towns["code"], towns["name"], strict=True)
    ]
    town_index = {t["code"]: i for i, t in enumerate(town_list)}
    # Sources for the town assignment: located villages/communities and town seats.
    vil = sites.loc[sites["kind"].isin(VILLAGE_KINDS)].reset_index(drop=True)
    seats = towns.loc[towns.geometry.notna()].reset_index(drop=True)
    src_lon = np.concatenate([vil.geometry.x.to_numpy(), seats.geometry.x.to_numpy()])
    src_lat = np.concatenate([vil.geometry.y.to_numpy(), seats.geometry.y.to_numpy()])
    src_town = np.array(
        [town_index.get(str(c), len(town_list)) for c in vil["town_code"]]
        + [town_index[str(c)] for c in seats["code"]],
        dtype=np.int64,
    )
    n_vil = len(vil)
    road_town = np.full(roads.n, len(town_list), dtype=np.int64)
    vr = np.empty(0, dtype=np.int64)
    vg = np.empty(0)
    vd = np.empty(0)
    ok = np.zeros(len(src_lon), dtype=bool)
    if len(src_lon):
        snap = net.snap(src_lon, src_lat, with_points=False)
        ok = snap.distance_m <= MAX_SNAP_M
        r, g = roads.on_road(snap.edge, snap.frac)
        use = np.flatnonzero(ok & (src_town < len(town_list)))
        if len(use):
            # Undirected: a road belongs to the place nearest to it, whichever way one-way
            # streets run.
            dist, src = _multi_source(
                roads.sym_len, roads, r[use], g[use], snap.distance_m[use], roads.lf, roads.lf
            )
            node_town = np.where(src >= 0, src_town[use][np.maximum(src, 0)], len(town_list))
            # A road belongs where its nearer end belongs.
            by_u = dist[roads.u] <= dist[roads.v]
            road_town = np.where(by_u, node_town[roads.u], node_town[roads.v])
            road_town[~np.isfinite(np.minimum(dist[roads.u], dist[roads.v]))] = len(town_list)
        vr, vg, vd = r[:n_vil], g[:n_vil], snap.distance_m[:n_vil]
    vok = ok[:n_vil]
    x, y = net.to_metric(src_lon, src_lat) if len(src_lon) else (np.empty(0), np.empty(0))
    xy = np.column_stack([x, y])
    people = people_roads(roads, villages_xy=xy[:n_vil][vok], seats_xy=xy[n_vil:][ok[n_vil:]])
    villages = vil.loc[vok].reset_index(drop=True)
    villages = pd.DataFrame(
        {
            "id": villages["id"].astype(str),
            "name": villages["name"].astype(str),
            "kind": villages["kind"].astype(str),
            "town": [town_index.get(str(c), len(town_list)) for c in villages["town_code"]],
            "lon": villages.geometry.x.to_numpy(),
            "lat": villages.geometry.y.to_numpy(),
            "schematic": villages["coord_source"].isin(SCHEMATIC_COORD_SOURCES).to_numpy()
            if "coord_source" in villages
            else np.zeros(len(villages), dtype=bool),
        }
    )
    return _Places(
        towns=town_list,
        road_town=road_town,
        people=people,
        villages=villages,
        village_road=vr[vok],
        village_g=vg[vok],
        village_access_s=vd[vok] / ACCESS_SPEED_MS,
        village_access_m=vd[vok],
        far_villages=int((~vok).sum()),
        seats=int(ok[n_vil:].sum()),
    )


# -- shortest paths ----------------------------------------------------------------------------


def _source_arcs(
    roads: _Roads, r: np.ndarray, g: np.ndarray, cost: np.ndarray, wf: np.ndarray, wb: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arcs (source k → node, weight) of virtual sources standing on roads ``r`` at ``g``
    in the *reversed* graph: a node reaches the source along the road."""
    k = np.arange(len(r))
    # From u forwards (g of the road), from v backwards (needs the reverse direction).
    back = np.isfinite(wb[r])
    src = np.concatenate([k, k[back]])
    node = np.concatenate([roads.u[r], roads.v[r][back]])
    w = np.concatenate([cost + g * wf[r], cost[back] + (1 - g[back]) * wb[r][back]])
    return src, node, w


def _multi_source(
    rev: sp.csr_matrix,
    roads: _Roads,
    r: np.ndarray,
    g: np.ndarray,
    cost: np.ndarray,
    wf: np.ndarray,
    wb: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """One multi-source Dijkstra: for every node, the cost to the nearest source and
    which source (index into ``r``; -1 when none is reachable)."""
    n = rev.shape[0]
    s = len(r)
    src, node, w = _source_arcs(roads, r, g, cost, wf, wb)
    # The sources' rows appended to the graph's CSR arrays as they are (no re-sorting of
    # the whole graph).
    order = np.lexsort((node, src))
    indptr = np.concatenate([rev.indptr, rev.indptr[-1] + np.cumsum(np.bincount(src, minlength=s))])
    aug = sp.csr_matrix(
        (
            np.concatenate([rev.data, np.maximum(w[order], 1e-9)]),
            np.concatenate([rev.indices, node[order]]),
            indptr,
        ),
        shape=(n + s, n + s),
    )
    dist, _, nearest = csgraph.dijkstra(
        aug, indices=np.arange(n, n + s), min_only=True, return_predecessors=True
    )
    nearest = nearest[:n].astype(np.int64)
    nearest = np.where(nearest >= n, nearest - n, -1)
    return dist[:n], nearest


def _second_label_py(indptr, indices, data, d1, s1, seed_node, seed_src, seed_cost, limit):
    """Second-nearest distinct source per node (see the module docstring); numba-compiled."""
    n = len(d1)
    d2 = np.full(n, np.inf)
    s2 = np.full(n, -1, dtype=np.int64)
    heap = [(0.0, np.int64(0))]
    heap.pop()
    for k in range(len(seed_node)):
        y = seed_node[k]
        c = seed_cost[k]
        if seed_src[k] != s1[y] and c < d2[y] and c <= limit:
            d2[y] = c
            s2[y] = seed_src[k]
            heapq.heappush(heap, (c, y))
    for x in range(n):
        if s1[x] < 0:
            continue
        for k in range(indptr[x], indptr[x + 1]):
            y = np.int64(indices[k])
            c = d1[x] + data[k]
            if s1[x] != s1[y] and c < d2[y] and c <= limit:
                d2[y] = c
                s2[y] = s1[x]
                heapq.heappush(heap, (c, y))
    while heap:
        c, x = heapq.heappop(heap)
        if c > d2[x]:
            continue
        for k in range(indptr[x], indptr[x + 1]):
            y = np.int64(indices[k])
            nc = c + data[k]
            if s2[x] != s1[y] and nc < d2[y] and nc <= limit:
                d2[y] = nc
                s2[y] = s2[x]
                heapq.heappush(heap, (nc, y))
    return d2, s2


_KERNEL = None
_KERNEL_LOCK = threading.Lock()


def _kernel():
    """The numba-compiled :func:`_second_label_py`. ``cache=True`` keeps the machine code
    in ``geoservice/__pycache__`` (or numba's user cache folder when that is read-only, or
    ``NUMBA_CACHE_DIR``), so it is compiled once per installation, not once per start."""
    global _KERNEL
    if _KERNEL is None:
        with _KERNEL_LOCK:
            if _KERNEL is None:
                import numba  # imported lazily: it costs half a second

                _KERNEL = numba.njit(cache=True, nogil=True)(_second_label_py)
    return _KERNEL


def warm_kernel() -> str:
    """Compile the cross-coverage kernel, or load it from numba's disk cache, now (the
    set-up command does, so that the service's first coverage answer does not).

    Returns
    -------
    str
        ``"compiled"`` or ``"loaded from cache"``, and numba's cache folder.
    """
    kernel = _kernel()
    # A two-node graph, one source per node: every argument type of the real calls.
    one = np.ones(2)
    ids = np.arange(2, dtype=np.int64)
    kernel(np.array([0, 1, 2]), ids[::-1].copy(), one, one, ids, ids, ids, one, 1.0)
    state = "loaded from cache" if kernel.stats.cache_hits else "compiled"
    return f"{state} ({kernel.stats.cache_path})"


def _second_label(
    rev: sp.csr_matrix,
    d1: np.ndarray,
    s1: np.ndarray,
    seeds: tuple[np.ndarray, np.ndarray, np.ndarray],
    limit: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Distance to and index of the second-nearest distinct source of every node, up to
    ``limit`` (numba; compiled once and cached on disk, see :func:`_kernel`)."""
    src, node, w = seeds
    return _kernel()(
        rev.indptr.astype(np.int64),
        rev.indices.astype(np.int64),
        rev.data.astype(np.float64),
        np.ascontiguousarray(d1, dtype=np.float64),
        np.ascontiguousarray(s1, dtype=np.int64),
        node.astype(np.int64),
        src.astype(np.int64),
        w.astype(np.float64),
        float(limit),
    )


# -- the envelope along roads --------------------------------------------------------------


@dataclass
class _Pieces:
    """Road pieces with constant coverage: road ``r`` from ``g0`` to ``g1`` (fractions
    from its ``u`` end), reached at threshold index ``lvl1`` (``K``: beyond every
    threshold) by nearest source ``s1``; ``lvl2`` likewise for the second-nearest distinct
    source; ``t0``/``t1`` the cost to the nearest source at the two ends."""

    r: np.ndarray
    g0: np.ndarray
    g1: np.ndarray
    lvl1: np.ndarray
    lvl2: np.ndarray
    s1: np.ndarray
    t0: np.ndarray
    t1: np.ndarray

    def length(self, roads: _Roads) -> np.ndarray:
        return (self.g1 - self.g0) * roads.lf[self.r]

    def take(self, mask: np.ndarray) -> _Pieces:
        return _Pieces(*(getattr(self, f)[mask] for f in _FIELDS))


_FIELDS = ("r", "g0", "g1", "lvl1", "lvl2", "s1", "t0", "t1")


@dataclass
class _Field:
    """Node labels of one multi-source run, and the sources standing on roads."""

    d1: np.ndarray
    s1: np.ndarray
    d2: np.ndarray | None
    s2: np.ndarray | None
    src_r: np.ndarray
    src_g: np.ndarray
    src_cost: np.ndarray
    wf: np.ndarray
    wb: np.ndarray


def _functions(roads: _Roads, f: _Field, todo: np.ndarray) -> tuple[np.ndarray, ...]:
    """The linear cost functions ``a + b·g`` on ``[lo, hi]`` of roads ``todo``, sorted by
    road: through each end (first and second label) and to each source on the road."""
    u, v = roads.u[todo], roads.v[todo]
    wf, wb = f.wf[todo], f.wb[todo]
    parts = [
        (todo, f.d1[v] + wf, -wf, np.zeros(len(todo)), np.ones(len(todo)), f.s1[v]),
        (todo, f.d1[u], wb, np.zeros(len(todo)), np.ones(len(todo)), f.s1[u]),
    ]
    if f.d2 is not None:
        parts += [
            (todo, f.d2[v] + wf, -wf, np.zeros(len(todo)), np.ones(len(todo)), f.s2[v]),
            (todo, f.d2[u], wb, np.zeros(len(todo)), np.ones(len(todo)), f.s2[u]),
        ]
    # Sources on the roads themselves: straight along the road to them.
    pos = np.searchsorted(todo, f.src_r)
    # A sentinel end (no road is -1): `todo` may be empty (a threshold nothing reaches).
    on = np.append(todo, -1)[pos] == f.src_r
    k = np.flatnonzero(on)
    if len(k):
        r, g, c = f.src_r[k], f.src_g[k], f.src_cost[k]
        parts.append((r, c + g * f.wf[r], -f.wf[r], np.zeros(len(k)), g, k))
        parts.append((r, c - g * f.wb[r], f.wb[r], g, np.ones(len(k)), k))
    fr, fa, fb, flo, fhi, fs = (np.concatenate(x) for x in zip(*parts, strict=True))
    # Infinite intercepts (unreachable end, one-way) and NaN (inf - inf) drop out.
    ok = np.isfinite(fa) & np.isfinite(fb) & (fs >= 0)
    fr, fa, fb, flo, fhi, fs = fr[ok], fa[ok], fb[ok], flo[ok], fhi[ok], fs[ok]
    order = np.argsort(fr, kind="stable")
    return fr[order], fa[order], fb[order], flo[order], fhi[order], fs[order]


def _envelope(
    roads: _Roads,
    f: _Field,
    taus: np.ndarray,
    *,
    reached_only: bool = False,
    only: np.ndarray | None = None,
) -> _Pieces:
    """Split every road into pieces of constant coverage (exact, vectorised).

    Breakpoints are the domain ends, every crossing of two functions of a road and every
    crossing of a threshold; between two breakpoints the order of the functions is fixed,
    so evaluating at the midpoint is exact for the whole interval. ``reached_only`` leaves
    out the roads nothing reaches within the largest threshold (their one piece each);
    ``only`` (a boolean mask) limits the work to those roads. A road's pieces depend on
    nothing but its own functions.
    """
    K = len(taus)
    tmax = float(taus[-1])
    # Roads something reaches within the largest threshold.
    near_u = (f.d1[roads.u] <= tmax) & np.isfinite(f.wb)
    near_v = f.d1[roads.v] <= tmax
    touched = near_u | near_v
    touched[f.src_r[f.src_cost <= tmax]] = True
    if only is not None:
        touched &= only
    todo = np.flatnonzero(touched)
    rest = np.flatnonzero(~touched if only is None else only & ~touched)
    # Untouched roads: one unreached piece; costs at the ends for the gap figures.
    rest_t0 = np.minimum(f.d1[roads.u[rest]], f.d1[roads.v[rest]] + f.wf[rest])
    rest_t1 = np.minimum(f.d1[roads.u[rest]] + f.wb[rest], f.d1[roads.v[rest]])
    fr, fa, fb, flo, fhi, fs = _functions(roads, f, todo)
    nf = len(fr)
    gstart = np.searchsorted(fr, todo, side="left")
    gend = np.searchsorted(fr, todo, side="right")
    # Pairs of functions of the same road.
    pos_in = np.arange(nf) - np.repeat(gstart, gend - gstart)
    size = np.repeat(gend - gstart, gend - gstart)
    npair = size - pos_in - 1
    i = np.repeat(np.arange(nf), npair)
    j = i + 1 + (np.arange(len(i)) - np.repeat(np.cumsum(npair) - npair, npair))
    db = fb[i] - fb[j]
    with np.errstate(divide="ignore", invalid="ignore"):
        gx = np.where(db != 0, (fa[j] - fa[i]) / np.where(db != 0, db, 1.0), -1.0)
        gt = np.where(fb[:, None] != 0, (taus[None, :] - fa[:, None]) / fb[:, None], -1.0)
    bp_r = np.concatenate([todo, todo, fr, fr, fr[i], np.repeat(fr, K)])
    bp_g = np.concatenate([np.zeros(len(todo)), np.ones(len(todo)), flo, fhi, gx, gt.ravel()])
    inside = (bp_g >= 0) & (bp_g <= 1)
    bp_r, bp_g = bp_r[inside], bp_g[inside]
    # By road, then position: exactly (one float key 2r + g would round positions 1e-11
    # apart together on high road numbers, and order them by chance).
    order = np.lexsort((bp_g, bp_r))
    bp_r, bp_g = bp_r[order], bp_g[order]
    new = np.ones(len(bp_r), dtype=bool)
    new[1:] = (bp_r[1:] != bp_r[:-1]) | (bp_g[1:] != bp_g[:-1])
    bp_r, bp_g = bp_r[new], bp_g[new]
    same = bp_r[1:] == bp_r[:-1]
    ir = bp_r[:-1][same]
    g0 = bp_g[:-1][same]
    g1 = bp_g[1:][same]
    mid = (g0 + g1) / 2
    # Evaluate every function of the interval's road at its midpoint.
    slot = np.searchsorted(todo, ir)
    cnt = gend[slot] - gstart[slot]
    starts = np.concatenate([[0], np.cumsum(cnt)[:-1]])
    iv = np.repeat(np.arange(len(ir)), cnt)
    fi = np.repeat(gstart[slot] - starts, cnt) + np.arange(cnt.sum())
    m = mid[iv]
    val = np.where((m >= flo[fi]) & (m <= fhi[fi]), fa[fi] + fb[fi] * m, np.inf)
    # Every touched road has at least one function, so no group is empty.
    v1 = np.minimum.reduceat(val, starts) if len(val) else np.empty(0)
    # The first function attaining the minimum.
    cand = np.where(val == v1[iv], np.arange(len(val)), len(val))
    first = np.minimum.reduceat(cand, starts) if len(val) else np.empty(0, dtype=np.int64)
    bf = fi[np.minimum(first, max(len(val) - 1, 0))]
    finite = np.isfinite(v1)
    s1 = np.where(finite, fs[bf], -1)
    t0 = np.where(finite, fa[bf] + fb[bf] * g0, np.inf)
    t1 = np.where(finite, fa[bf] + fb[bf] * g1, np.inf)
    lvl1 = np.searchsorted(taus, v1, side="left")
    if f.d2 is not None and len(val):
        v2 = np.minimum.reduceat(np.where(fs[fi] == s1[iv], np.inf, val), starts)
        lvl2 = np.searchsorted(taus, v2, side="left")
    else:
        lvl2 = np.full(len(ir), K)
    s1 = np.where(lvl1 < K, s1, -1)
    # Merge neighbouring intervals with the same coverage.
    keep = np.ones(len(ir), dtype=bool)
    keep[1:] = (
        (ir[1:] != ir[:-1])
        | (lvl1[1:] != lvl1[:-1])
        | (lvl2[1:] != lvl2[:-1])
        | (s1[1:] != s1[:-1])
    )
    head = np.flatnonzero(keep)
    # [: len(head)]: no interval at all (no station reaches any road) gives no tail.
    tail = (np.concatenate([head[1:], [len(ir)]]) - 1)[: len(head)]
    if reached_only:
        ends = (ir[head], g0[head], g1[tail], lvl1[head], lvl2[head], s1[head], t0[head])
        pieces = _Pieces(*ends, t1[tail])
        return pieces.take(pieces.g1 > pieces.g0)
    pieces = _Pieces(
        r=np.concatenate([ir[head], rest]),
        g0=np.concatenate([g0[head], np.zeros(len(rest))]),
        g1=np.concatenate([g1[tail], np.ones(len(rest))]),
        lvl1=np.concatenate([lvl1[head], np.full(len(rest), K)]),
        lvl2=np.concatenate([lvl2[head], np.full(len(rest), K)]),
        s1=np.concatenate([s1[head], np.full(len(rest), -1)]),
        t0=np.concatenate([t0[head], rest_t0]),
        t1=np.concatenate([t1[tail], rest_t1]),
    )
    # Pieces of a road are already in order: a stable sort by road merges the two lists.
    pieces = pieces.take(np.argsort(pieces.r, kind="stable"))
    return pieces.take(pieces.g1 > pieces.g0)


def _envelope_again(
    cache: _ModeCache, key: tuple, f: _Field, taus: np.ndarray, *, reached_only: bool = False
) -> _Pieces:
    """:func:`_envelope`, redoing only the roads whose functions changed since the last
    call with the same ``key`` and thresholds (after a station edit, the roads near it):
    the others keep their pieces, which a full run would make again bit for bit."""
    roads = cache.roads
    last = cache.envelopes.get(key)
    changed = None
    if last is not None and np.array_equal(last[1], taus) and len(last[0].src_r) == len(f.src_r):
        old = last[0]
        node = (old.d1 != f.d1) | (old.s1 != f.s1)
        if f.d2 is not None:
            node |= (old.d2 != f.d2) | (old.s2 != f.s2)
        changed = node[roads.u] | node[roads.v]
        moved = (old.src_r != f.src_r) | (old.src_g != f.src_g) | (old.src_cost != f.src_cost)
        changed[old.src_r[moved]] = True
        changed[f.src_r[moved]] = True
    if changed is None or changed.mean() > 0.5:
        pieces = _envelope(roads, f, taus, reached_only=reached_only)
    else:
        kept = last[2].take(~changed[last[2].r])
        new = _envelope(roads, f, taus, reached_only=reached_only, only=changed)
        pieces = _Pieces(*(np.concatenate([getattr(kept, x), getattr(new, x)]) for x in _FIELDS))
        # Both runs are in road order: a stable sort merges them.
        pieces = pieces.take(np.argsort(pieces.r, kind="stable"))
    cache.envelopes[key] = (f, np.array(taus, dtype=float), pieces)
    return pieces


def _cost_at(
    roads: _Roads, f: _Field, r: np.ndarray, g: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Cost from points on roads ``r`` at ``g`` to the nearest source, and which source."""
    a = f.d1[roads.v[r]] + (1 - g) * f.wf[r]
    b = f.d1[roads.u[r]] + g * f.wb[r]
    cost = np.where(b < a, b, a)
    src = np.where(b < a, f.s1[roads.u[r]], f.s1[roads.v[r]])
    cost = np.where(np.isnan(cost), np.inf, cost)
    if len(f.src_r) and len(r):
        order = np.argsort(f.src_r, kind="stable")
        sr = f.src_r[order]
        lo = np.searchsorted(sr, r, "left")
        hi = np.searchsorted(sr, r, "right")
        for p in np.flatnonzero(hi > lo):
            for k in order[lo[p] : hi[p]]:
                gs = f.src_g[k]
                c = f.src_cost[k] + (
                    (gs - g[p]) * f.wf[r[p]] if gs >= g[p] else (g[p] - gs) * f.wb[r[p]]
                )
                if c < cost[p]:
                    cost[p], src[p] = c, k
    return cost, np.where(np.isfinite(cost), src, -1)


# -- stations ----------------------------------------------------------------------------------


@dataclass
class _Stations:
    """The stations of one store revision as arrays."""

    frame: pd.DataFrame  # id, name, kind, lon, lat, opening_hours, source, town_code
    amenity: np.ndarray  # (S, A) bool
    snaps: dict = field(default_factory=dict)  # mode → (road, g, snap_m)

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

    def snap(
        self, mode: str, net: Network, roads: _Roads
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        hit = self.snaps.get(mode)
        if hit is None:
            if len(self.frame):
                s = net.snap(
                    self.frame["lon"].to_numpy(float),
                    self.frame["lat"].to_numpy(float),
                    with_points=False,
                )
                r, g = roads.on_road(s.edge, s.frac)
                hit = (r, g, s.distance_m)
            else:
                hit = (np.empty(0, dtype=np.int64), np.empty(0), np.empty(0))
            self.snaps[mode] = hit
        return hit


# -- the result ------------------------------------------------------------------------------


@dataclass
class Coverage:
    """Coverage of one query: figures, layers and the arrays they come from.

    Use :meth:`to_dict` for the JSON figures, :meth:`layers` for GeoJSON layers
    (``areas``, ``cross``, ``catchments``, ``uncovered``, ``stations``) and
    :meth:`to_geojson` for the areas with the figures (``GET /api/coverage``).
    """

    query: CoverageQuery
    network: dict
    stations: pd.DataFrame  # the stations counted, with their snap distance
    excluded_far: int
    district: dict
    towns: list[dict]
    villages: list[dict]
    gaps: list[dict]
    notices: list[dict]
    areas: Mapping[int, shapely.Geometry] = field(repr=False, default_factory=dict)
    area_m2: list[float] = field(repr=False, default_factory=list)  # by threshold
    town_areas: dict[int, dict[int, float]] = field(repr=False, default_factory=dict)
    _cross_poly: shapely.Geometry | None = field(repr=False, default=None)
    _cross_source: tuple | None = field(repr=False, default=None)
    _pieces: _Pieces | None = field(repr=False, default=None)
    _roads: _Roads | None = field(repr=False, default=None)
    _places: _Places | None = field(repr=False, default=None)
    _gap_pieces: _Pieces | None = field(repr=False, default=None)
    _gap_groups: list = field(repr=False, default_factory=list)

    @property
    def cross(self) -> shapely.Geometry | None:
        """Dissolved buffer of the roads reached by two or more stations within the largest
        threshold (metric CRS), computed on first use; None without geometry."""
        if self._cross_poly is None and self._cross_source is not None:
            cache, K, lock = self._cross_source
            lvl = np.where(self._pieces.lvl2 <= K - 1, 0, 1)
            with lock:  # the engine's caches
                tiling = _tiling(cache, self.query.buffer_m)
                tiled = _tiled_areas(cache, tiling, self._pieces, lvl, 1)
                self._cross_poly = _dissolve(tiled.tiles[0])
        return self._cross_poly

    @property
    def sample(self) -> bool:
        return bool((self.stations["source"] == "sample").any()) if len(self.stations) else False

    def to_dict(self) -> dict:
        """The figures as JSON-ready data (no geometry)."""
        return {
            "query": self.query.to_dict(),
            "network": self.network,
            "stations": {
                "count": len(self.stations),
                "excluded_far_from_roads": self.excluded_far,
                "sample": self.sample,
            },
            "district": self.district,
            "towns": self.towns,
            "uncovered_villages": self.villages,
            "gaps": self.gaps,
            "notices": self.notices,
        }

    def layer(self, name: str, *, tolerance_m: float = 0.0, decimals: int = _DECIMALS) -> dict:
        """One GeoJSON FeatureCollection (WGS84): ``areas`` (one polygon per threshold,
        largest first), ``cross`` (reached by two or more stations within the largest
        threshold), ``catchments`` (reached roads by nearest station), ``uncovered``
        (gaps, longest first) or ``stations``.

        Parameters
        ----------
        name : str
        tolerance_m : float
            0 (default): the geometry as computed. Above 0, lighter geometry for display:
            simplified by that many metres in the metric CRS (polygons keeping their
            topology), the pieces of a line layer merged where they meet.
        decimals : int
            Coordinates are rounded to this many decimals (6 ≈ 0.1 m, 5 ≈ 1 m).
        """
        builders = {
            "areas": self._areas,
            "cross": self._cross_layer,
            "catchments": self._catchments,
            "uncovered": self._uncovered,
            "stations": self._station_points,
        }
        if name not in builders:
            msg = f"unknown layer {name!r}; expected one of {', '.join(builders)}"
            raise ValueError(msg)
        with _gc_paused():
            if name == "stations":
                return self._station_points()
            return builders[name](_Shape(self._roads, tolerance_m, decimals))

    def layers(self, *, tolerance_m: float = 0.0, decimals: int = _DECIMALS) -> dict[str, dict]:
        """Every layer of :meth:`layer` by name."""
        return {
            name: self.layer(name, tolerance_m=tolerance_m, decimals=decimals) for name in LAYERS
        }

    def to_geojson(self) -> dict:
        """The coverage areas as a FeatureCollection with the figures as ``coverage``."""
        return {**self.layer("areas"), "coverage": self.to_dict()}

    def _areas(self, shape: _Shape) -> dict:
        K = len(self.query.minutes)
        if isinstance(self.areas, _Areas):
            self.areas.dissolve_all()
        geoms = shape.geojson([self.areas.get(k) for k in range(K)])
        feats = [
            _feature(
                geoms[k],
                {
                    "minutes": _num(minutes),
                    "label": f"{_num(minutes)} 分钟{MODE_LABELS[self.query.mode]}",
                    "area_km2": None
                    if k >= len(self.area_m2)
                    else round(float(self.area_m2[k]) / 1e6, 3),
                },
            )
            for k, minutes in enumerate(self.query.minutes)
        ]
        # Largest first, so smaller areas are drawn on top.
        return {"type": "FeatureCollection", "features": feats[::-1]}

    def _cross_layer(self, shape: _Shape) -> dict:
        feats = []
        if self.cross is not None and not self.cross.is_empty:
            minutes = _num(self.query.minutes[-1])
            feats.append(
                _feature(
                    shape.geojson([self.cross])[0],
                    {
                        "minutes": minutes,
                        "label": f"{minutes} 分钟内可达 2 个及以上站点",
                        "area_km2": round(float(self.cross.area) / 1e6, 3),
                    },
                )
            )
        return {"type": "FeatureCollection", "features": feats}

    # -- layer builders --------------------------------------------------------------------
    def _catchments(self, shape: _Shape) -> dict:
        p, roads = self._pieces, self._roads
        K = len(self.query.minutes)
        reached = p.take(p.lvl1 < K)
        if not len(reached.r):
            return {"type": "FeatureCollection", "features": []}
        order = np.argsort(reached.s1, kind="stable")
        reached = reached.take(order)
        lengths = reached.length(roads)
        people = self._places.people[reached.r]
        cuts = np.flatnonzero(np.r_[True, reached.s1[1:] != reached.s1[:-1]])
        ends = np.r_[cuts[1:], len(order)]
        lines = roads.cut(reached.r, reached.g0, reached.g1)
        which = np.repeat(np.arange(len(cuts)), ends - cuts)
        geoms = shape.geojson(shapely.multilinestrings(lines, indices=which), lines=True)
        ids = self.stations["id"].astype(str).tolist()
        names = self.stations["name"].astype(str).tolist()
        feats = []
        for j, (a, b) in enumerate(zip(cuts.tolist(), ends.tolist(), strict=True)):
            s = int(reached.s1[a])
            length, on_people = lengths[a:b], people[a:b]
            feats.append(
                _feature(
                    geoms[j],
                    {
                        "station_id": ids[s],
                        "name": names[s],
                        "color": _palette(s),
                        "road_km": round(float(length.sum()) / 1000, 3),
                        "people_road_km": round(float(length[on_people].sum()) / 1000, 3),
                    },
                )
            )
        return {"type": "FeatureCollection", "features": feats}

    def _uncovered(self, shape: _Shape) -> dict:
        roads, p = self._roads, self._gap_pieces
        if not self._gap_groups:
            return {"type": "FeatureCollection", "features": []}
        idx = np.concatenate(self._gap_groups)
        which = np.repeat(np.arange(len(self._gap_groups)), [len(g) for g in self._gap_groups])
        lines = roads.cut(p.r[idx], p.g0[idx], p.g1[idx])
        geoms = shape.geojson(shapely.multilinestrings(lines, indices=which), lines=True)
        feats = [_feature(g, props) for g, props in zip(geoms, self.gaps, strict=True)]
        return {"type": "FeatureCollection", "features": feats}

    def _station_points(self) -> dict:
        feats = []
        for i, rec in enumerate(self.stations.to_dict("records")):
            feats.append(
                {
                    "type": "Feature",
                    "geometry": {
                        "type": "Point",
                        "coordinates": [round(rec["lon"], 7), round(rec["lat"], 7)],
                    },
                    "properties": {
                        "id": str(rec["id"]),
                        "name": str(rec["name"]),
                        "kind": str(rec["kind"]),
                        "kind_label": STATION_KINDS.get(rec["kind"], rec["kind"]),
                        "opening_hours": str(rec["opening_hours"]),
                        "color": _palette(i),
                        "snap_distance_m": round(float(rec["snap_m"]), 1),
                        "sample": rec["source"] == "sample",
                    },
                }
            )
        return {"type": "FeatureCollection", "features": feats}


_PALETTE = (
    "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d",
    "#1f78b4", "#b2df8a", "#fb9a99", "#cab2d6", "#6a3d9a", "#b15928", "#33a02c",
)  # fmt: skip


def _palette(i: int) -> str:
    return _PALETTE[i % len(_PALETTE)]


def _feature(geometry: dict | None, props: dict) -> dict:
    return {"type": "Feature", "geometry": geometry, "properties": props}


@dataclass
class _Shape:
    """How layer geometry is written: metric geometry to WGS84 GeoJSON, optionally lighter
    (see :meth:`Coverage.layer`)."""

    roads: _Roads
    tolerance_m: float = 0.0
    decimals: int = _DECIMALS

    def geojson(self, geoms, *, lines: bool = False) -> list[dict | None]:
        """GeoJSON geometries (None for a missing or empty one), all projected at once."""
        geoms = np.asarray(geoms, dtype=object)
        out: list[dict | None] = [None] * len(geoms)
        ok = np.flatnonzero(~(shapely.is_missing(geoms) | shapely.is_empty(geoms)))
        if not len(ok):
            return out
        g = geoms[ok]
        if self.tolerance_m > 0:
            if lines:
                g = shapely.line_merge(g)
            g = shapely.simplify(g, self.tolerance_m, preserve_topology=not lines)
        xy = shapely.get_coordinates(g)
        lon, lat = self.roads.to_wgs.transform(xy[:, 0], xy[:, 1])
        xy = np.round(np.column_stack([lon, lat]), self.decimals)
        for i, geom in zip(ok.tolist(), _geojson_geometries(g, xy), strict=True):
            out[i] = geom
        return out


def _geojson_geometries(geoms: np.ndarray, xy: np.ndarray) -> list[dict]:
    """GeoJSON geometries of ``geoms`` with their coordinates replaced by ``xy`` (in
    :func:`shapely.get_coordinates` order), built from the arrays: parsing GeoJSON text
    would cost a float object per number."""
    types = shapely.get_type_id(geoms)
    polygonal = np.isin(types, (3, 6)).all()
    if not (polygonal or np.isin(types, (1, 5)).all()):
        g = shapely.set_coordinates(geoms.copy(), xy)
        return [json.loads(text) for text in shapely.to_geojson(g).tolist()]
    # Offsets of lines or rings into the coordinates, of polygons into the rings, and of
    # parts into the geometries when there is a multi-part one (then all are promoted).
    kind, _, offsets = shapely.to_ragged_array(geoms)
    points = xy.tolist()
    runs = [points[a:b] for a, b in itertools.pairwise(offsets[0].tolist())]
    if polygonal:
        runs = [runs[a:b] for a, b in itertools.pairwise(offsets[1].tolist())]
    single, multi = ("Polygon", "MultiPolygon") if polygonal else ("LineString", "MultiLineString")
    if kind not in (shapely.GeometryType.MULTIPOLYGON, shapely.GeometryType.MULTILINESTRING):
        return [{"type": single, "coordinates": run} for run in runs]
    out = []
    for t, (a, b) in zip(types.tolist(), itertools.pairwise(offsets[-1].tolist()), strict=True):
        if t in (1, 3):
            out.append({"type": single, "coordinates": runs[a]})
        else:
            out.append({"type": multi, "coordinates": runs[a:b]})
    return out


# -- the engine --------------------------------------------------------------------------------


@dataclass
class _ModeCache:
    mode: str
    roads: _Roads
    places: _Places | None = None
    places_key: str = ""
    cluster: np.ndarray | None = None  # (R,) cluster of each road
    cluster_town: np.ndarray | None = None  # (F,) town of each cluster
    cluster_order: np.ndarray | None = None  # (R,) roads ordered by cluster
    cluster_start: np.ndarray | None = None  # (F + 1,) each cluster's run in cluster_order
    tilings: dict[float, _Tiling] = field(default_factory=dict)  # by buffer (m)
    envelopes: dict[tuple, tuple] = field(default_factory=dict)  # the last of each kind
    extras: dict = field(default_factory=dict)  # other static tables (siting candidates)


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
    """

    def __init__(
        self, networks: dict[str, Network], store: Store, library: NetworkLibrary | None = None
    ) -> None:
        self.networks = networks
        self.store = store
        self.library = library
        self._lock = threading.RLock()
        self._modes: dict[str, _ModeCache] = {}
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

    def _refresh(self) -> None:
        revision = self.store.revision()
        if revision == self._revision:
            return
        stations, sites, towns = (self.store.read(x) for x in ("stations", "sites", "towns"))
        stations = _Stations.build(stations)
        old = self._stations
        if old is not None and _same_positions(old.frame, stations.frame):
            stations.snaps = old.snaps  # hours or names changed: positions still valid
        # Sites are matched to places again only when they or the towns changed (a station
        # edit changes the store's revision too).
        key = _frame_key(sites, _columns(sites)) + _frame_key(towns, _columns(towns))
        if key != self._sites_key:
            self._sites = places.located_sites(self.store, self.library)
            self._towns = towns
            self._sites_key = key
        self._stations = stations
        self._revision = revision

    def _mode(self, mode: str) -> _ModeCache:
        net = self.network(mode)
        cache = self._modes.get(mode)
        if cache is None:
            cache = _ModeCache(mode=mode, roads=_Roads.build(net))
            self._modes[mode] = cache
        key = _frame_key(self._sites, ("id", "kind", "town_code", "coord_source")) + _frame_key(
            self._towns, ("code", "name")
        )
        if cache.places_key != key:
            cache.places = _build_places(net, cache.roads, self._towns, self._sites)
            cache.places_key = key
            _clusters(cache)
            cache.tilings.clear()
        return cache

    def warm(self, modes: tuple[str, ...] | None = None, buffer_m: float = BUFFER_M) -> None:
        """Build the static tables, every cluster's clipped buffers and every tile's
        polygon with all its roads reached now (else on first use)."""
        with self._lock:
            self._refresh()
            for mode in modes or tuple(self.networks):
                cache = self._mode(mode)
                tiling = _tiling(cache, buffer_m)
                _whole_cells(cache, tiling, np.arange(len(tiling.cell_code)), _pool())

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
        with self._lock, _gc_paused():
            self._refresh()
            return self._compute(query, geometry=geometry)

    def _sources(
        self, query: CoverageQuery, cache: _ModeCache
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
        """Indices of the counted stations and their road, position and snap distance."""
        st = self._stations
        r, g, d = st.snap(query.mode, self.networks[query.mode], cache.roads)
        mask = st.mask(query)
        far = mask & (d > MAX_SNAP_M)
        idx = np.flatnonzero(mask & (d <= MAX_SNAP_M))
        return idx, r[idx], g[idx], d[idx], int(far.sum())

    def _field(
        self, cache: _ModeCache, r, g, cost, *, second_limit: float | None, metric: str = "time"
    ) -> _Field:
        roads = cache.roads
        rev, wf, wb = (
            (roads.rev_time, roads.tf, roads.tb)
            if metric == "time"
            else (roads.rev_len, roads.lf, roads.lb)
        )
        n = rev.shape[0]
        if len(r):
            d1, s1 = _multi_source(rev, roads, r, g, cost, wf, wb)
        else:
            d1, s1 = np.full(n, np.inf), np.full(n, -1, dtype=np.int64)
        d2 = s2 = None
        if second_limit is not None:
            if len(r) > 1:
                d2, s2 = _second_label(
                    rev, d1, s1, _source_arcs(roads, r, g, cost, wf, wb), second_limit
                )
            else:
                d2, s2 = np.full(n, np.inf), np.full(n, -1, dtype=np.int64)
        return _Field(d1, s1, d2, s2, r, g, cost, wf, wb)

    def _evaluate(self, query: CoverageQuery, nodes: np.ndarray) -> tuple[float, int]:
        """People-road metres and located villages within the largest threshold of the
        counted stations plus new stations at ``nodes`` (door on the road). For siting."""
        cache = self._mode(query.mode)
        roads, places = cache.roads, cache.places
        _, r, g, d, _ = self._sources(query, cache)
        nr, ng = _node_positions(roads, np.asarray(nodes, dtype=np.int64))
        r = np.concatenate([r, nr])
        g = np.concatenate([g, ng])
        cost = np.concatenate([d / ACCESS_SPEED_MS, np.zeros(len(nr))])
        tau = query.seconds[-1:]
        fld = self._field(cache, r, g, cost, second_limit=None)
        p = _envelope(roads, fld, tau, reached_only=True)
        ok = (p.lvl1 == 0) & places.people[p.r]
        metres = float(p.length(roads)[ok].sum())
        villages = 0
        if len(places.villages):
            t, _ = _cost_at(roads, fld, places.village_road, places.village_g)
            villages = int(((t + places.village_access_s) <= tau[0]).sum())
        return metres, villages

    def _compute(self, query: CoverageQuery, *, geometry: bool) -> Coverage:
        cache = self._mode(query.mode)
        roads, places = cache.roads, cache.places
        net = self.networks[query.mode]
        idx, r, g, d, far = self._sources(query, cache)
        cost = d / ACCESS_SPEED_MS
        taus = query.seconds
        fld = self._field(cache, r, g, cost, second_limit=float(taus[-1]))
        pieces = _envelope_again(cache, ("time",), fld, taus)
        # ACFTU: network distance (metres) to the nearest station door.
        dist = self._field(cache, r, g, d, second_limit=None, metric="length")
        radius = np.array([ACFTU_RADIUS_M])
        acftu = _envelope_again(cache, ("length",), dist, radius, reached_only=True)
        stations = self._stations.frame.iloc[idx].reset_index(drop=True).assign(snap_m=d)
        result = _figures(query, roads, places, pieces, acftu, fld, stations)
        cov = Coverage(
            query=query,
            network=net.describe(),
            stations=stations,
            excluded_far=far,
            district=result["district"],
            towns=result["towns"],
            villages=result["villages"],
            gaps=result["gaps"],
            notices=_notices(net, stations, places),
            _pieces=pieces,
            _roads=roads,
            _places=places,
            _gap_pieces=result["gap_pieces"],
            _gap_groups=result["gap_groups"],
        )
        if geometry:
            K = len(taus)
            tiled = _tiled_areas(cache, _tiling(cache, query.buffer_m), pieces, pieces.lvl1, K)
            # Display polygons are dissolved from the tiles when asked for (Coverage.areas),
            # cross-coverage shading likewise (Coverage.cross).
            cov.areas = _Areas(tiled.tiles, self._lock)
            cov.town_areas = dict(enumerate(tiled.towns))
            cov.area_m2 = tiled.district
            cov._cross_source = (cache, K, self._lock)
            _fill_areas(cov, tiled)
        return cov


def _node_positions(roads: _Roads, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def _same_positions(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    return len(a) == len(b) and bool(
        np.array_equal(a["lon"].to_numpy(float), b["lon"].to_numpy(float))
        and np.array_equal(a["lat"].to_numpy(float), b["lat"].to_numpy(float))
    )


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


# -- polygons -------------------------------------------------------------------------------
#
# A coverage area is the union of the reached road pieces buffered by ``buffer_m``. It is
# assembled per *cell* — one town's roads around one square tile of `_TILE_M` — and each
# cell's polygon is clipped to its tile. Tiles never overlap, so town and district areas
# are sums over tiles (no district-wide dissolve), and a station edit redoes only the
# cells whose inputs changed. A cell's inputs are the *clusters* whose roads come near its
# tile (one town's roads whose midpoints share a 250 m cell): a cluster reached whole
# brings its dissolved buffer, made once since it does not depend on the stations, a
# cluster reached in part brings the buffers of its reached pieces. Cell polygons are
# cached under a 64-bit fingerprint of their inputs, so what one query has dissolved
# serves the next (another edit elsewhere, another threshold).

#: Side (m) of the square tiles polygons are assembled in and clipped to.
_TILE_M = 1000.0
#: Tile pieces are snapped to this grid (m) before the display polygon is dissolved, so
#: that the edges of neighbouring tiles match exactly (areas are summed before snapping).
_GRID_M = 1e-3
#: Cached cell polygons are evicted, least recently used first, above this many vertices.
_CACHE_COORDS = 3_000_000
#: Buffer sizes whose tables are kept per mode.
_MAX_TILINGS = 4
#: Positions along a road are fingerprinted to 1e-9 of its length: Dijkstra's summation
#: order may differ by an ulp between runs without anything having changed.
_QUANTUM = 1e9
_SEED_CLUSTER = np.uint64(0x5DEECE66D)
_SEED_PIECE = np.uint64(0x2545F4914F6CDD1D)
_SEED_TILE = np.uint64(0x9E3779B97F4A7C15)
_SEED_UNION = np.uint64(0xD1B54A32D192ED03)
_EMPTY = shapely.Polygon()


def _mix(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, vectorised: 64-bit integers to well-spread fingerprints."""
    x = np.asarray(x).astype(np.uint64)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _ranges(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(lo[i], hi[i])``."""
    n = hi - lo
    return np.repeat(lo - np.cumsum(n) + n, n) + np.arange(n.sum())


_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    """The threads polygons are dissolved in (GEOS releases the GIL), made once."""
    global _POOL
    if _POOL is None:
        with _KERNEL_LOCK:
            if _POOL is None:
                _POOL = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="coverage")
    return _POOL


def _chunks(n: int, pool: ThreadPoolExecutor, job) -> None:
    """Run ``job(range)`` over ``range(n)`` in a few chunks on ``pool`` (GEOS releases the
    GIL: chunks run in parallel)."""
    if n == 0:
        return
    size = max(1, math.ceil(n / (4 * _WORKERS)))
    list(pool.map(job, [range(i, min(n, i + size)) for i in range(0, n, size)]))


class _Poly:
    """A cached polygon with its area (m²) and, once asked for, its snapped copy."""

    __slots__ = ("area", "poly", "snapped")

    def __init__(self, poly: shapely.Geometry) -> None:
        self.poly = poly
        self.area = float(shapely.area(poly))
        self.snapped: shapely.Geometry | None = None

    def snap(self) -> shapely.Geometry:
        if self.snapped is None:
            self.snapped = shapely.set_precision(self.poly, _GRID_M)
        return self.snapped


def _clusters(cache: _ModeCache) -> None:
    """Group the roads by town and 250 m cell of their midpoint (clusters 0…F-1)."""
    roads, town = cache.roads, cache.places.road_town
    fx = np.floor(roads.mid[:, 0] / _CLUSTER_M).astype(np.int64)
    fy = np.floor(roads.mid[:, 1] / _CLUSTER_M).astype(np.int64)
    keys, cluster = np.unique(np.column_stack([fx, fy, town]), axis=0, return_inverse=True)
    cache.cluster = cluster.ravel()
    cache.cluster_town = keys[:, 2].copy()
    cache.cluster_order = np.argsort(cache.cluster, kind="stable")
    cache.cluster_start = np.searchsorted(
        cache.cluster[cache.cluster_order], np.arange(len(keys) + 1)
    )


@dataclass
class _Tiling:
    """The stations-independent tables of the tiled polygons of one mode and buffer.

    Cells are (tile, town) pairs; an *incidence* is a cluster whose buffered roads may
    reach into a cell's tile (by bounding box), ordered by cell. Each cluster's buffer
    clipped to each of its tiles (`clipped`) and each cell's polygon with every cluster
    reached (`whole`) are made once, when first needed.
    """

    buffer_m: float
    origin: tuple[float, float]
    ny: int  # tile rows: tile = column * ny + row
    n_town: int  # towns + 1 (unassigned): cell code = tile * n_town + town
    cell_code: np.ndarray  # (G,) ascending
    cell_start: np.ndarray  # (G + 1,) each cell's incidences
    cell_hash: np.ndarray  # (G,) uint64 fingerprint of the cell's tile
    inc_cluster: np.ndarray  # (I,)
    inc_hash: np.ndarray  # (I,) uint64 fingerprint of the cluster
    inc_order: np.ndarray  # (I,) incidences ordered by cluster
    cluster_inc: np.ndarray  # (F + 1,) each cluster's run in inc_order
    clipped: np.ndarray  # (I,) object
    whole: np.ndarray  # (G,) object: _Poly
    polys: OrderedDict = field(default_factory=OrderedDict)  # fingerprint → _Poly
    coords: int = 0  # vertices held in `polys`

    @classmethod
    def build(cls, cache: _ModeCache, buffer_m: float) -> _Tiling:
        starts = cache.cluster_start[:-1]
        b = cache.roads.bounds[cache.cluster_order]
        margin = buffer_m + 1.0
        bounds = np.column_stack(
            [
                np.minimum.reduceat(b[:, 0], starts) - margin,
                np.minimum.reduceat(b[:, 1], starts) - margin,
                np.maximum.reduceat(b[:, 2], starts) + margin,
                np.maximum.reduceat(b[:, 3], starts) + margin,
            ]
        )
        # Tile edges on round coordinates, one empty tile around everything.
        ox = (math.floor(bounds[:, 0].min() / _TILE_M) - 1) * _TILE_M
        oy = (math.floor(bounds[:, 1].min() / _TILE_M) - 1) * _TILE_M
        ny = math.ceil((bounds[:, 3].max() - oy) / _TILE_M) + 2
        n_town = len(cache.places.towns) + 1
        f, tile = _tiles_of(bounds, (ox, oy), ny)
        code = tile * n_town + cache.cluster_town[f]
        order = np.lexsort((f, code))
        f, code = f[order], code[order]
        cells, inc_cell = np.unique(code, return_inverse=True)
        inc_order = np.argsort(f, kind="stable")
        return cls(
            buffer_m=buffer_m,
            origin=(ox, oy),
            ny=ny,
            n_town=n_town,
            cell_code=cells,
            cell_start=np.searchsorted(inc_cell.ravel(), np.arange(len(cells) + 1)),
            cell_hash=_mix(_mix(cells // n_town) ^ _SEED_TILE),
            inc_cluster=f,
            inc_hash=_mix(_mix(f) ^ _SEED_CLUSTER),
            inc_order=inc_order,
            cluster_inc=np.searchsorted(f[inc_order], np.arange(len(cache.cluster_town) + 1)),
            clipped=np.full(len(f), None, dtype=object),
            whole=np.full(len(cells), None, dtype=object),
        )

    def box(self, cell: int) -> tuple[float, float, float, float]:
        tile = int(self.cell_code[cell]) // self.n_town
        x = self.origin[0] + (tile // self.ny) * _TILE_M
        y = self.origin[1] + (tile % self.ny) * _TILE_M
        return x, y, x + _TILE_M, y + _TILE_M

    def get(self, key: int) -> _Poly | None:
        hit = self.polys.get(key)
        if hit is not None:
            self.polys.move_to_end(key)
        return hit

    def put(self, key: int, poly: shapely.Geometry) -> _Poly:
        entry = _Poly(poly)
        old = self.polys.pop(key, None)
        if old is not None:
            self.coords -= int(shapely.get_num_coordinates(old.poly))
        self.polys[key] = entry
        self.coords += int(shapely.get_num_coordinates(poly))
        return entry

    def trim(self, keep: int) -> None:
        """Evict the least recently used polygons above `_CACHE_COORDS` (the ``keep`` most
        recent stay whatever their size: the current answer's)."""
        while self.coords > _CACHE_COORDS and len(self.polys) > keep:
            _, entry = self.polys.popitem(last=False)
            self.coords -= int(shapely.get_num_coordinates(entry.poly))


def _tiles_of(
    bounds: np.ndarray, origin: tuple[float, float], ny: int
) -> tuple[np.ndarray, np.ndarray]:
    """(item, tile) pairs of every tile each bounding box (n, 4) overlaps."""
    ix0 = np.floor((bounds[:, 0] - origin[0]) / _TILE_M).astype(np.int64)
    iy0 = np.floor((bounds[:, 1] - origin[1]) / _TILE_M).astype(np.int64)
    ix1 = np.floor((bounds[:, 2] - origin[0]) / _TILE_M).astype(np.int64)
    iy1 = np.floor((bounds[:, 3] - origin[1]) / _TILE_M).astype(np.int64)
    w = ix1 - ix0 + 1
    counts = w * (iy1 - iy0 + 1)
    item = np.repeat(np.arange(len(bounds)), counts)
    k = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return item, (ix0[item] + k % w[item]) * ny + iy0[item] + k // w[item]


def _tiling(cache: _ModeCache, buffer_m: float) -> _Tiling:
    """The tiling of ``cache``'s roads for ``buffer_m`` (built once per buffer size)."""
    tiling = cache.tilings.get(buffer_m)
    if tiling is None:
        tiling = cache.tilings[buffer_m] = _Tiling.build(cache, buffer_m)
        while len(cache.tilings) > _MAX_TILINGS:
            cache.tilings.pop(next(iter(cache.tilings)))
    return tiling


def _polygonal(geoms: shapely.Geometry | np.ndarray) -> np.ndarray:
    """The polygons of clipped geometries (clipping may leave lines along a tile edge)."""
    parts = shapely.get_parts(geoms)
    return parts[shapely.get_type_id(parts) == 3]


def _merge(parts: list | np.ndarray) -> shapely.Geometry:
    if len(parts) == 0:
        return _EMPTY
    if len(parts) == 1:
        return parts[0]
    return shapely.union_all(parts)


def _buffers(
    roads: _Roads, r: np.ndarray, g0: np.ndarray, g1: np.ndarray, buffer_m: float
) -> np.ndarray:
    """Buffered road pieces (display geometry: lines simplified by `_SIMPLIFY_M` first)."""
    lines = shapely.simplify(roads.cut(r, g0, g1), _SIMPLIFY_M)
    return shapely.buffer(lines, buffer_m, quad_segs=_QUAD_SEGS)


def _clip_clusters(
    cache: _ModeCache, tiling: _Tiling, incidences: np.ndarray, pool: ThreadPoolExecutor
) -> None:
    """Make the clipped buffers of the clusters of ``incidences``: each cluster's buffers
    are dissolved once and clipped to every tile the cluster touches."""
    todo = incidences[np.equal(tiling.clipped[incidences], None)]
    if not len(todo):
        return
    clusters = np.unique(tiling.inc_cluster[todo])
    lo, hi = cache.cluster_start[clusters], cache.cluster_start[clusters + 1]
    members = cache.cluster_order[_ranges(lo, hi)]
    ones = np.ones(len(members))
    bufs = _buffers(cache.roads, members, 0 * ones, ones, tiling.buffer_m)
    at = np.r_[0, np.cumsum(hi - lo)]
    inc_cell = np.searchsorted(tiling.cell_start, np.arange(len(tiling.inc_cluster)), "right") - 1

    def job(chunk: range) -> None:
        for i in chunk:
            union = _merge(bufs[at[i] : at[i + 1]])
            f = clusters[i]
            for inc in tiling.inc_order[tiling.cluster_inc[f] : tiling.cluster_inc[f + 1]]:
                box = tiling.box(inc_cell[inc])
                tiling.clipped[inc] = _merge(_polygonal(shapely.clip_by_rect(union, *box)))

    _chunks(len(clusters), pool, job)


def _whole_cells(
    cache: _ModeCache, tiling: _Tiling, cells: np.ndarray, pool: ThreadPoolExecutor
) -> None:
    """Make the polygons of ``cells`` with every cluster reached."""
    cells = cells[np.equal(tiling.whole[cells], None)]
    if not len(cells):
        return
    lo, hi = tiling.cell_start[cells], tiling.cell_start[cells + 1]
    _clip_clusters(cache, tiling, _ranges(lo, hi), pool)

    def job(chunk: range) -> None:
        for i in chunk:
            tiling.whole[cells[i]] = _Poly(_merge(list(tiling.clipped[lo[i] : hi[i]])))

    _chunks(len(cells), pool, job)


def _piece_bounds(roads: _Roads, r: np.ndarray, g0: np.ndarray, g1: np.ndarray) -> np.ndarray:
    """Bounding boxes (n, 4) of the road pieces ``r`` from ``g0`` to ``g1``."""
    p0 = _interpolate(roads.xy, roads.offsets, roads.vkey, r, g0)
    p1 = _interpolate(roads.xy, roads.offsets, roads.vkey, r, g1)
    out = np.column_stack([np.minimum(p0, p1), np.maximum(p0, p1)])
    # And the road's vertices strictly inside the piece.
    lo = np.searchsorted(roads.vkey, 2.0 * r + g0, side="right")
    hi = np.searchsorted(roads.vkey, 2.0 * r + g1, side="left")
    inner = np.flatnonzero(hi > lo)
    if len(inner):
        idx = np.column_stack([lo[inner], hi[inner]]).ravel()
        for axis in (0, 1):
            coord = roads.xy[:, axis]
            low = np.minimum.reduceat(coord, idx)[::2]
            high = np.maximum.reduceat(coord, idx)[::2]
            out[inner, axis] = np.minimum(out[inner, axis], low)
            out[inner, axis + 2] = np.maximum(out[inner, axis + 2], high)
    return out


@dataclass
class _Tiled:
    """The polygons of one computation: per level, the district's tile pieces, the
    district's area and the area per town (m²)."""

    tiles: list[list[_Poly]]
    district: list[float]
    towns: list[dict[int, float]]


def _tiled_areas(
    cache: _ModeCache, tiling: _Tiling, pieces: _Pieces, lvl: np.ndarray, K: int
) -> _Tiled:
    """The buffered roads reached at each level (``lvl <= k`` for ``k < K``), tile by tile.

    A cell's polygon at level k is its polygon at level k-1 united with what level k adds
    (clusters reached whole at k, pieces reached at k of clusters not whole at k), clipped
    to its tile. Its fingerprint chains its tile's, then at each level the sum of what the
    level adds: equal fingerprints mean the same computation, so a cached polygon is the
    very one a fresh computation would make (publishing stays byte-for-byte repeatable).
    A tile shared by towns is the union of its cells.
    """
    roads, places = cache.roads, cache.places
    # The level at which each road, then each cluster, is reached whole (K: never).
    road_lvl = np.full(roads.n, K, dtype=np.int64)
    if len(pieces.r):
        first = np.flatnonzero(np.r_[True, pieces.r[1:] != pieces.r[:-1]])
        road_lvl[pieces.r[first]] = np.maximum.reduceat(np.minimum(lvl, K), first)
    cl_lvl = np.maximum.reduceat(road_lvl[cache.cluster_order], cache.cluster_start[:-1])
    # Pieces count where their cluster is not whole yet; consecutive pieces of a road at
    # the same level are merged.
    sel = (lvl < K) & (cl_lvl[cache.cluster[pieces.r]] > lvl)
    p, pl = pieces.take(sel), lvl[sel]
    brk = np.ones(len(p.r), dtype=bool)
    brk[1:] = (p.r[1:] != p.r[:-1]) | (p.g0[1:] != p.g1[:-1]) | (pl[1:] != pl[:-1])
    head = np.flatnonzero(brk)
    tail = (np.r_[head[1:], len(p.r)] - 1)[: len(head)].astype(np.int64)
    rr, a, b, rl = p.r[head], p.g0[head], p.g1[tail], pl[head]
    # Every input's cell, levels [lo, hi) and fingerprint: clusters reached whole, ...
    inc = np.flatnonzero(cl_lvl[tiling.inc_cluster] < K)
    c_cell = np.searchsorted(tiling.cell_start, inc, side="right") - 1
    c_lo = cl_lvl[tiling.inc_cluster[inc]]
    # ... and pieces, in every tile their buffer's bounding box overlaps.
    margin = tiling.buffer_m + 0.5
    pb = _piece_bounds(roads, rr, a, b) + np.array([-margin, -margin, margin, margin])
    item, tile = _tiles_of(pb, tiling.origin, tiling.ny)
    p_cell = np.searchsorted(tiling.cell_code, tile * tiling.n_town + places.road_town[rr[item]])
    p_lo = rl[item]
    h = _mix(_mix(rr) ^ _SEED_PIECE)
    h = _mix(h ^ np.round(a * _QUANTUM).astype(np.int64).astype(np.uint64))
    h = _mix(h ^ np.round(b * _QUANTUM).astype(np.int64).astype(np.uint64))
    p_hash = h[item]
    cells, local = np.unique(np.concatenate([c_cell, p_cell]), return_inverse=True)
    local = local.ravel()
    c_loc, p_loc = local[: len(inc)], local[len(inc) :]
    n = len(cells)
    if n == 0:
        return _Tiled(tiles=[[] for _ in range(K)], district=[0.0] * K, towns=[{}] * K)
    # Fingerprints and input counts per cell and level (what each level adds, then running
    # sums: a level's polygon holds every lower level's, even the pieces of a cluster
    # reached whole since, whose buffers may stand out of the cluster's by a few dm).
    acc = np.zeros((n, K), dtype=np.uint64)
    np.add.at(acc, (c_loc, c_lo), tiling.inc_hash[inc])
    np.add.at(acc, (p_loc, p_lo), p_hash)
    n_cl = np.zeros((n, K), dtype=np.int64)
    np.add.at(n_cl, (c_loc, c_lo), 1)
    n_p = np.zeros((n, K), dtype=np.int64)
    np.add.at(n_p, (p_loc, p_lo), 1)
    added = (n_cl + n_p) > 0
    key = np.empty((n, K), dtype=np.uint64)
    prev = tiling.cell_hash[cells]
    for k in range(K):
        # A level that adds nothing keeps the previous level's polygon and fingerprint.
        prev = key[:, k] = np.where(added[:, k], _mix(prev + acc[:, k]), prev)
    n_cl, n_p = np.cumsum(n_cl, axis=1), np.cumsum(n_p, axis=1)
    filled = (n_cl + n_p) > 0
    # Every cluster reached whole and never a piece: the tile's stations-free polygon.
    whole = (n_cl == np.diff(tiling.cell_start)[cells][:, None]) & (n_p == 0)
    # Look every cell and level up.
    keys = key.tolist()
    entries: list[list[_Poly | None]] = [[None] * K for _ in range(n)]
    todo = []
    for i, k in zip(*np.nonzero(filled & ~whole), strict=True):
        hit = tiling.get(keys[i][k])
        if hit is None:
            todo.append(i)
        else:
            entries[i][k] = hit
    todo = np.unique(np.array(todo, dtype=np.int64))
    pool = _pool()
    need = np.flatnonzero(whole.any(axis=1))
    _whole_cells(cache, tiling, cells[need], pool)
    for i, k in zip(*np.nonzero(whole), strict=True):
        entries[i][k] = tiling.whole[cells[i]]
    # The new inputs of the cells to make, level by level.
    groups = (todo[:, None] * (K + 1) + np.arange(K)).ravel()
    c_group = c_loc * (K + 1) + c_lo
    c_order = np.argsort(c_group, kind="stable")
    c_at = np.searchsorted(c_group[c_order], np.r_[groups, groups + 1])
    p_group = p_loc * (K + 1) + p_lo
    p_order = np.argsort(p_group, kind="stable")
    p_at = np.searchsorted(p_group[p_order], np.r_[groups, groups + 1])
    m = len(groups)
    c_need = c_order[_ranges(c_at[:m], c_at[m:])]
    _clip_clusters(cache, tiling, inc[c_need], pool)
    p_need = np.unique(item[p_order[_ranges(p_at[:m], p_at[m:])]])
    bufs = np.full(len(rr), None, dtype=object)
    if len(p_need):
        bufs[p_need] = _buffers(roads, rr[p_need], a[p_need], b[p_need], tiling.buffer_m)
    made: dict[tuple[int, int], shapely.Geometry] = {}

    def job(chunk: range) -> None:
        for t in chunk:
            i = int(todo[t])
            box = tiling.box(cells[i])
            prev = _EMPTY
            for k in range(K):
                if entries[i][k] is not None:
                    prev = entries[i][k].poly
                    continue
                if not filled[i, k]:
                    continue
                g = t * K + k
                parts = list(tiling.clipped[inc[c_order[c_at[g] : c_at[m + g]]]])
                ps = item[p_order[p_at[g] : p_at[m + g]]]
                if len(ps):
                    parts += list(_polygonal(shapely.clip_by_rect(bufs[ps], *box)))
                poly = _merge([x for x in parts if not x.is_empty])
                if not prev.is_empty:
                    # One overlay with the (larger) previous level, not one per part.
                    poly = shapely.union(prev, poly) if not poly.is_empty else prev
                prev = made[(i, k)] = poly

    _chunks(len(todo), pool, job)
    for (i, k), poly in made.items():
        entries[i][k] = tiling.put(keys[i][k], poly)
    # Tiles: most hold one town's cell; a shared tile is the union of its cells.
    tiles = tiling.cell_code[cells] // tiling.n_town
    first = np.flatnonzero(np.r_[True, tiles[1:] != tiles[:-1]])
    last = np.r_[first[1:], n]
    shared_key = _mix(np.add.reduceat(_mix(key ^ _SEED_UNION) * filled, first, axis=0))
    # In tile order whatever was cached: the dissolved polygon's bytes depend on it.
    out: list[list[_Poly | None]] = [[] for _ in range(K)]
    unions = []
    for j, (s, e) in enumerate(zip(first.tolist(), last.tolist(), strict=True)):
        for k in range(K):
            polys = [entries[i][k] for i in range(s, e) if entries[i][k] is not None]
            polys = [x for x in polys if x.area > 0]
            if len(polys) == 1:
                out[k].append(polys[0])
            elif polys:
                kk = int(shared_key[j, k])
                hit = tiling.get(kk)
                if hit is None:
                    unions.append((k, len(out[k]), kk, polys))
                out[k].append(hit)
    done = list(pool.map(lambda u: shapely.union_all([x.poly for x in u[3]]), unions))
    for (k, at, kk, _), poly in zip(unions, done, strict=True):
        out[k][at] = tiling.put(kk, poly)
    town = (tiling.cell_code[cells] % tiling.n_town).tolist()
    towns: list[dict[int, float]] = [{} for _ in range(K)]
    for i in range(n):
        for k in range(K):
            e = entries[i][k]
            if e is not None and e.area > 0:
                towns[k][town[i]] = towns[k].get(town[i], 0.0) + e.area
    tiling.trim(keep=sum(len(x) for x in out) + len(made))
    return _Tiled(tiles=out, district=[sum(x.area for x in lv) for lv in out], towns=towns)


def _snap(tiles: list[_Poly]) -> None:
    """Give the tiles their copies snapped to `_GRID_M` (all missing ones in one call)."""
    todo = [t for t in {id(t): t for t in tiles}.values() if t.snapped is None]
    if todo:
        snapped = shapely.set_precision(np.array([t.poly for t in todo]), _GRID_M)
        for t, g in zip(todo, snapped, strict=True):
            t.snapped = g


def _dissolve(tiles: list[_Poly]) -> shapely.Geometry:
    """One polygon of non-overlapping tile pieces: their edges snapped to `_GRID_M` and
    matched (:func:`shapely.coverage_union_all`, linear time), or a full union should
    they not match (a snapped crossing of a tile edge may, rarely, round apart)."""
    if not tiles:
        return _EMPTY
    if len(tiles) == 1:
        return tiles[0].poly
    _snap(tiles)
    snapped = [t.snapped for t in tiles]
    total = sum(t.area for t in tiles)
    slack = _GRID_M * float(shapely.length(np.array(snapped)).sum())
    try:
        out = shapely.coverage_union_all(snapped)
    except shapely.errors.GEOSException:
        out = None
    if out is None or abs(out.area - total) > slack or not out.is_valid:
        out = shapely.union_all([t.poly for t in tiles])
    return out


class _Areas(Mapping):
    """The coverage areas by level (index of the threshold): dissolved on first use."""

    def __init__(self, tiles: list[list[_Poly]], lock: threading.RLock) -> None:
        self._tiles = tiles
        self._lock = lock
        self._done: dict[int, shapely.Geometry] = {}

    def __getitem__(self, k: int) -> shapely.Geometry:
        if k not in self._done:
            if k not in self:
                raise KeyError(k)
            self.dissolve_all((k,))
        return self._done[k]

    def dissolve_all(self, levels: tuple[int, ...] | None = None) -> None:
        """Dissolve these levels (default: all) side by side."""
        levels = range(len(self._tiles)) if levels is None else levels
        todo = [k for k in levels if k not in self._done]
        if not todo:
            return
        with self._lock:  # the snapped copies live in the engine's caches
            _snap([t for k in todo for t in self._tiles[k]])
            polys = list(_pool().map(_dissolve, [self._tiles[k] for k in todo]))
        self._done.update(zip(todo, polys, strict=True))

    def __contains__(self, k: object) -> bool:
        return isinstance(k, int) and 0 <= k < len(self._tiles)

    def __len__(self) -> int:
        return len(self._tiles)

    def __iter__(self):
        return iter(range(len(self._tiles)))


def _fill_areas(cov: Coverage, tiled: _Tiled) -> None:
    """Put the polygon areas into the figures."""
    for k, row in enumerate(cov.district["thresholds"]):
        row["area_km2"] = round(tiled.district[k] / 1e6, 4)
    for t, town in enumerate(cov.towns):
        for k, row in enumerate(town["thresholds"]):
            row["area_km2"] = round(tiled.towns[k].get(t, 0.0) / 1e6, 4)


# -- figures ----------------------------------------------------------------------------------


def _share(a: float, b: float) -> float | None:
    return round(a / b, 4) if b > 0 else None


def _figures(
    query: CoverageQuery,
    roads: _Roads,
    places: _Places,
    pieces: _Pieces,
    acftu: _Pieces,
    fld: _Field,
    stations: pd.DataFrame,
) -> dict:
    K = len(query.minutes)
    T = len(places.towns) + 1
    length = pieces.length(roads)
    town = places.road_town[pieces.r]
    people = places.people[pieces.r]

    def by_town(mask: np.ndarray) -> np.ndarray:
        return np.bincount(town[mask], weights=length[mask], minlength=T)

    total_people = by_town(people)
    total_all = by_town(np.ones(len(length), dtype=bool))
    cov_people = [by_town(people & (pieces.lvl1 <= k)) for k in range(K)]
    cov_all = [by_town(pieces.lvl1 <= k) for k in range(K)]
    cross_people = [by_town(people & (pieces.lvl2 <= k)) for k in range(K)]
    cross_all = [by_town(pieces.lvl2 <= k) for k in range(K)]
    a_len = acftu.length(roads)
    a_town = places.road_town[acftu.r]
    a_people = places.people[acftu.r] & (acftu.lvl1 == 0)
    acftu_people = np.bincount(a_town[a_people], weights=a_len[a_people], minlength=T)
    # Villages: travel time from their position to the nearest counted station.
    vil = places.villages
    if len(vil):
        t_net, src = _cost_at(roads, fld, places.village_road, places.village_g)
        vtime = t_net + places.village_access_s
    else:
        vtime = np.empty(0)
        src = np.empty(0, dtype=np.int64)
    vtown = vil["town"].to_numpy(np.int64) if len(vil) else np.empty(0, dtype=np.int64)
    v_total = np.bincount(vtown, minlength=T)
    v_cov = [np.bincount(vtown[vtime <= query.seconds[k]], minlength=T) for k in range(K)]
    v_schem = (
        np.bincount(vtown[vil["schematic"].to_numpy(bool)], minlength=T)
        if len(vil)
        else np.zeros(T, dtype=np.int64)
    )

    def sums(x: np.ndarray) -> list[float]:
        """Per town, then the district (index T)."""
        return [*(float(v) for v in x), float(np.sum(x))]

    people_m, all_m = sums(total_people), sums(total_all)
    cov_p, cov_a = [sums(x) for x in cov_people], [sums(x) for x in cov_all]
    cross_p, cross_a = [sums(x) for x in cross_people], [sums(x) for x in cross_all]
    vil_cov, vil_total, vil_schem = [sums(x) for x in v_cov], sums(v_total), sums(v_schem)
    acftu_m = sums(acftu_people)
    minutes = [_num(m) for m in query.minutes]

    def row(t: int) -> dict:
        return {
            "road_km": round(people_m[t] / 1000, 3),
            "all_road_km": round(all_m[t] / 1000, 3),
            "villages": int(vil_total[t]),
            "villages_schematic": int(vil_schem[t]),
            "acftu_km": round(acftu_m[t] / 1000, 3),
            "acftu_share": _share(acftu_m[t], people_m[t]),
            "thresholds": [
                {
                    "minutes": minutes[k],
                    "covered_km": round(cov_p[k][t] / 1000, 3),
                    "covered_share": _share(cov_p[k][t], people_m[t]),
                    "cross_km": round(cross_p[k][t] / 1000, 3),
                    "cross_share": _share(cross_p[k][t], people_m[t]),
                    "area_km2": None,
                    "villages_covered": int(vil_cov[k][t]),
                    "villages_share": _share(vil_cov[k][t], vil_total[t]),
                    "all_roads": {
                        "covered_km": round(cov_a[k][t] / 1000, 3),
                        "covered_share": _share(cov_a[k][t], all_m[t]),
                        "cross_km": round(cross_a[k][t] / 1000, 3),
                    },
                }
                for k in range(K)
            ],
        }

    district = row(T)
    district["approximate"] = False
    # Every town (a town with no road has no located seat or village near a road), then
    # the roads no located place reaches, if any.
    last = T if total_all[T - 1] > 0 or v_total[T - 1] > 0 else T - 1
    towns = [
        {"code": places.town_code(t), "name": places.town_label(t), "approximate": True, **row(t)}
        for t in range(last)
    ]
    villages = []
    tmax = query.seconds[-1]
    far = np.flatnonzero(~(vtime <= tmax)).tolist() if len(vil) else []
    if far:
        cols = {c: vil[c].to_numpy()[far].tolist() for c in vil.columns}
        ids, names = stations["id"].tolist(), stations["name"].tolist()
    for j, i in enumerate(far):
        v = {c: values[j] for c, values in cols.items()}
        t = float(vtime[i])
        s = int(src[i])
        known = s >= 0 and math.isfinite(t)
        villages.append(
            {
                "id": str(v["id"]),
                "name": str(v["name"]),
                "kind": str(v["kind"]),
                "kind_label": SITE_KINDS.get(v["kind"], v["kind"]),
                "town": places.town_label(int(v["town"])),
                "town_code": places.town_code(int(v["town"])),
                "lon": round(float(v["lon"]), 7),
                "lat": round(float(v["lat"]), 7),
                "schematic": bool(v["schematic"]),
                "travel_time_s": round(t, 1) if math.isfinite(t) else None,
                "travel_time_min": math.ceil(t / 60) if math.isfinite(t) else None,
                "nearest_station_id": str(ids[s]) if known else None,
                "nearest_station": str(names[s]) if known else None,
            }
        )
    villages.sort(key=lambda v: (v["travel_time_s"] is None, -(v["travel_time_s"] or 0), v["id"]))
    gaps, gap_pieces, gap_groups = _gaps(query, roads, places, pieces)
    return {
        "district": district,
        "towns": towns,
        "villages": villages,
        "gaps": gaps,
        "gap_pieces": gap_pieces,
        "gap_groups": gap_groups,
    }


def _gaps(
    query: CoverageQuery, roads: _Roads, places: _Places, pieces: _Pieces
) -> tuple[list[dict], _Pieces, list[np.ndarray]]:
    """Connected stretches of people roads beyond the largest threshold, longest first.

    Returns the gap records (at most `MAX_GAP_FEATURES`), the uncovered pieces and, per
    gap, the indices of its pieces (geometry is cut only when a layer is asked for).
    """
    K = len(query.minutes)
    out = pieces.take((pieces.lvl1 == K) & places.people[pieces.r])
    m = len(out.r)
    if not m:
        return [], out, []
    n = int(max(roads.u.max(), roads.v.max())) + 1
    # Pieces are joined through the nodes they reach (g0 = 0 at u, g1 = 1 at v).
    at_u = out.g0 == 0
    at_v = out.g1 == 1
    rows = np.concatenate([np.flatnonzero(at_u), np.flatnonzero(at_v)])
    cols = np.concatenate([roads.u[out.r[at_u]], roads.v[out.r[at_v]]]) + m
    graph = sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(m + n, m + n))
    _, label = csgraph.connected_components(graph, directed=False)
    _, comp = np.unique(label[:m], return_inverse=True)
    comp = comp.ravel()
    length = out.length(roads)
    glen = np.bincount(comp, weights=length)
    order = np.lexsort((np.arange(len(glen)), -glen))[:MAX_GAP_FEATURES]
    gtime = np.full(len(glen), np.inf)
    np.minimum.at(gtime, comp, np.minimum(out.t0, out.t1))
    T = len(places.towns) + 1
    town_len = np.zeros((len(glen), T))
    np.add.at(town_len, (comp, places.road_town[out.r]), length)
    gtown = town_len.argmax(axis=1)
    members = np.argsort(comp, kind="stable")
    bounds = np.searchsorted(comp[members], np.arange(len(glen) + 1))
    gaps, groups = [], []
    for rank, c in enumerate(order.tolist(), start=1):
        idx = members[bounds[c] : bounds[c + 1]]
        t = float(gtime[c])
        gaps.append(
            {
                "rank": rank,
                "length_km": round(float(glen[c]) / 1000, 3),
                "town": places.town_label(int(gtown[c])),
                "town_code": places.town_code(int(gtown[c])),
                "nearest_station_min": round(t / 60, 1) if math.isfinite(t) else None,
                "pieces": len(idx),
            }
        )
        groups.append(idx)
    return gaps, out, groups


def _notices(net: Network, stations: pd.DataFrame, places: _Places) -> list[dict]:
    codes = ["towns_approximate"]
    if net.schematic:
        codes.append("schematic_network")
    if len(stations) and (stations["source"] == "sample").any():
        codes.append("sample_stations")
    if len(places.villages) == 0:
        codes.append("no_villages")
    elif places.villages["schematic"].any():
        codes.append("schematic_villages")
    return [{"code": c, "zh": NOTICES[c][0], "en": NOTICES[c][1]} for c in codes]


# -- Flask-free provider ------------------------------------------------------------------------


class CoverageProvider:
    """Hands out a :class:`CoverageEngine` for the active network, rebuilding it when the
    active network changes (as :class:`geoservice.nearest.EngineProvider` does)."""

    def __init__(self, library: NetworkLibrary, store: Store) -> None:
        self.library = library
        self.store = store
        self._lock = threading.Lock()
        self._token: str | None = None
        self._engine: CoverageEngine | None = None

    def get(self) -> CoverageEngine:
        token = self.library.token()
        if token != self._token:
            with self._lock:
                if token != self._token:
                    self._engine = CoverageEngine(self.library.load(), self.store, self.library)
                    self._token = token
        return self._engine
