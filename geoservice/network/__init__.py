"""Road networks per travel mode, converted once into arrays for fast routing.

An OSM file's roads (:func:`geoservice.network.osm.read_osm`) become one :class:`Network` per mode
(:func:`build_from_osm`, vectorised); a GraphML file or an osmnx download goes through
networkx and osmnx's ``simplify_graph`` (:func:`build`). Both give the same networks:
osmnx's way parsing and topological simplification, then the rules per mode:

``walk``
    4.5 km/h on every way a pedestrian may use (no motorways); one-way tags ignored.
``bike``
    e-bike, the delivery riders' mode: 15–20 km/h by road class, no motorways or
    pedestrian-only ways (unless ``bicycle=yes``); one-way streets respected.
``drive``
    ``maxspeed`` where tagged, else a speed per highway type; one-way respected; no
    footways, paths or tracks.

The network keeps numpy arrays (nodes with their OSM ids, edges, edge geometries), a CSR
matrix of travel times for :mod:`scipy.sparse.csgraph`, and an STRtree of edge lines for
exact snapping. It is cached as a single ``.npz`` file, beside the source's ``place=*``
table (:meth:`NetworkLibrary.places`); a missing or corrupt cache is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import pandas as pd
import pyproj
import scipy.sparse as sp
import shapely
from scipy.spatial import cKDTree

from geoservice.errors import NetworkError
from geoservice.model import CRS_STORAGE
from geoservice.network import osm, simplify

log = logging.getLogger(__name__)

MODES = ("walk", "bike", "drive")
MODE_LABELS = {"walk": "步行", "bike": "电动自行车", "drive": "驾车"}
#: Bump when the build changes, so old caches are rebuilt.
BUILD_VERSION = 3

WALK_KMH = 4.5
#: Road classes drawn as the offline basemap, most important first.
MAJOR_ROADS = (
    "motorway",
    "trunk",
    "primary",
    "secondary",
    "tertiary",
    "motorway_link",
    "trunk_link",
    "primary_link",
    "secondary_link",
)
#: Snapping cuts road segments into pieces at most this long (metres).
_PIECE_M = 30.0
_SNAP_K = 12

_WALK_EXCLUDED = {
    "motorway",
    "motorway_link",
    "trunk_link",
    "bridleway",
    "bus_guideway",
    "raceway",
    "construction",
    "proposed",
    "abandoned",
    "platform",
    "corridor",
}
_BIKE_EXCLUDED = _WALK_EXCLUDED | {"steps", "footway", "pedestrian", "corridor"}
_DRIVE_ALLOWED = {
    "motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link",
    "secondary", "secondary_link", "tertiary", "tertiary_link", "unclassified",
    "residential", "living_street", "service", "road",
}  # fmt: skip

#: e-bike speeds (km/h) by highway type; other allowed types use ``_BIKE_DEFAULT``.
BIKE_KMH = {
    "trunk": 20, "primary": 20, "primary_link": 18, "secondary": 20, "secondary_link": 18,
    "tertiary": 18, "tertiary_link": 18, "unclassified": 18, "road": 18, "cycleway": 20,
    "residential": 16, "living_street": 12, "service": 15, "track": 15, "path": 15,
    "pedestrian": 10, "footway": 10,
}  # fmt: skip
_BIKE_DEFAULT = 15.0

#: Car speeds (km/h) by highway type where no ``maxspeed`` is tagged.
DRIVE_KMH = {
    "motorway": 100, "motorway_link": 50, "trunk": 70, "trunk_link": 40, "primary": 60,
    "primary_link": 40, "secondary": 50, "secondary_link": 35, "tertiary": 40,
    "tertiary_link": 30, "unclassified": 30, "road": 30, "residential": 25,
    "living_street": 15, "service": 15,
}  # fmt: skip
_DRIVE_DEFAULT = 30.0


@dataclass
class Network:
    """One travel mode's road graph as arrays.

    Attributes
    ----------
    mode : str
        ``walk``, ``bike`` or ``drive``.
    node_xy : ndarray (N, 2)
        Node lon/lat (WGS84).
    node_osmid : ndarray (N,) int64
        The OSM id of every node (for comparisons and matching with OSM data).
    edge_u, edge_v : ndarray (E,)
        Edge endpoints as node indices.
    edge_length : ndarray (E,)
        Metres along the edge.
    edge_time : ndarray (E,)
        Travel time in seconds.
    edge_twin : ndarray (E,)
        Index of the same road traversed the other way, or -1 (one-way).
    edge_highway, edge_name : ndarray (E,) str
        ``highway`` and ``name`` of the edge (of the first OSM way along it).
    geom_xy, geom_offsets : ndarray
        Edge ``i``'s lon/lat polyline is ``geom_xy[geom_offsets[i]:geom_offsets[i + 1]]``.
    metric_crs : str
        Local UTM CRS used for snapping distances.
    meta : dict
        Source, schematic flag, build time and counts (for a clipped extract also
        ``dropped_refs`` and ``cut_ways``).
    """

    mode: str
    node_xy: np.ndarray
    node_osmid: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_length: np.ndarray
    edge_time: np.ndarray
    edge_twin: np.ndarray
    edge_highway: np.ndarray
    edge_name: np.ndarray
    geom_xy: np.ndarray
    geom_offsets: np.ndarray
    metric_crs: str
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._matrix: sp.csr_matrix | None = None
        self._csr_edge: np.ndarray | None = None
        self._tree: shapely.STRtree | None = None
        self._roads: dict | None = None
        self._lines_m: np.ndarray | None = None
        self._to_metric = pyproj.Transformer.from_crs("EPSG:4326", self.metric_crs, always_xy=True)
        # One network is shared by the routing, tour and coverage engines, which may build
        # its lazy indexes from several request threads at once.
        self._build_lock = threading.Lock()

    # -- sizes --------------------------------------------------------------------------
    @property
    def n_nodes(self) -> int:
        return len(self.node_xy)

    @property
    def n_edges(self) -> int:
        return len(self.edge_u)

    @property
    def schematic(self) -> bool:
        return bool(self.meta.get("schematic"))

    def describe(self) -> dict:
        """JSON-ready summary (the ``network`` object of API answers)."""
        return {
            "mode": self.mode,
            "mode_label": MODE_LABELS[self.mode],
            "schematic": self.schematic,
            "source": self.meta.get("source", ""),
            "nodes": self.n_nodes,
            "edges": self.n_edges,
        }

    # -- routing structures -------------------------------------------------------------
    def matrix(self) -> sp.csr_matrix:
        """CSR matrix of travel times (parallel edges reduced to the fastest)."""
        if self._matrix is None:
            self._build_matrix()
        return self._matrix

    def csr_edge(self) -> np.ndarray:
        """For every stored CSR entry, the index of the edge it stands for."""
        if self._csr_edge is None:
            self._build_matrix()
        return self._csr_edge

    def _build_matrix(self) -> None:
        n = self.n_nodes
        # Sort by (u, v, time): the first of each (u, v) run is the fastest parallel edge.
        order = np.lexsort((self.edge_time, self.edge_v, self.edge_u))
        u, v = self.edge_u[order], self.edge_v[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
        keep = order[first]
        # Zero-time edges would vanish from a sparse matrix; give them a tiny cost.
        data = np.maximum(self.edge_time[keep], 1e-6)
        m = sp.csr_matrix((data, (self.edge_u[keep], self.edge_v[keep])), shape=(n, n))
        m.sort_indices()
        # Map each CSR slot back to its edge: keep is sorted by (u, v) like the CSR layout,
        # so the keys u·n + v are sorted too and one searchsorted finds any (u, v) slot.
        self._csr_key = self.edge_u[keep].astype(np.int64) * n + self.edge_v[keep]
        self._csr_edge = keep.astype(np.int64)
        self._matrix = m

    def edge_between(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Indices of the fastest edges a[i] → b[i] (one vectorised lookup; every pair
        must be joined by an edge, as consecutive nodes of a shortest path are)."""
        self.matrix()
        keys = np.asarray(a, dtype=np.int64) * self.n_nodes + np.asarray(b, dtype=np.int64)
        return self._csr_edge[np.searchsorted(self._csr_key, keys)]

    # -- snapping -----------------------------------------------------------------------
    def to_metric(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project lon/lat to the network's metric CRS."""
        return self._to_metric.transform(lon, lat)

    def _ensure_index(self) -> None:
        """Build the snapping indexes: short segment pieces in a KD-tree, and an STRtree of
        whole edge lines as the exact fallback."""
        if self._tree is not None:
            return
        with self._build_lock:
            if self._tree is None:
                self._build_index()

    def _build_index(self) -> None:
        x, y = self.to_metric(self.geom_xy[:, 0], self.geom_xy[:, 1])
        xy = np.column_stack([x, y])
        counts = np.diff(self.geom_offsets)
        edge_of_vertex = np.repeat(np.arange(self.n_edges), counts)
        self._lines_m = shapely.linestrings(xy, indices=edge_of_vertex)
        tree = shapely.STRtree(self._lines_m)
        # Segments between consecutive vertices of the same edge, cut into pieces of at
        # most _PIECE_M metres so a piece's midpoint is never far from any of its points.
        # A two-way road is indexed once (the edge with the lower index of its twin pair):
        # routing reaches both directions from either.
        ids = np.arange(self.n_edges)
        indexed = (self.edge_twin < 0) | (ids < self.edge_twin)
        same = (edge_of_vertex[1:] == edge_of_vertex[:-1]) & indexed[edge_of_vertex[:-1]]
        a, b = xy[:-1][same], xy[1:][same]
        seg_edge = edge_of_vertex[:-1][same]
        seg_len = np.hypot(*(b - a).T)
        start_in_edge = np.concatenate([[0.0], np.cumsum(seg_len)])[:-1]
        first = np.concatenate([[True], seg_edge[1:] != seg_edge[:-1]])
        # Distance along the edge at each segment start: cumulative length minus the
        # cumulative length at the edge's first segment.
        edge_start = np.maximum.accumulate(np.where(first, start_in_edge, 0.0))
        along0 = start_in_edge - edge_start
        pieces = np.maximum(1, np.ceil(seg_len / _PIECE_M).astype(np.int64))
        rep = np.repeat(np.arange(len(a)), pieces)
        k = np.arange(len(rep)) - np.repeat(np.cumsum(pieces) - pieces, pieces)
        t0 = k / pieces[rep]
        t1 = (k + 1) / pieces[rep]
        d = b[rep] - a[rep]
        self._pa = a[rep] + d * t0[:, None]
        self._pb = a[rep] + d * t1[:, None]
        self._p_edge = seg_edge[rep]
        self._p_along = along0[rep] + seg_len[rep] * t0
        self._edge_len_m = np.bincount(seg_edge, weights=seg_len, minlength=self.n_edges)
        self._half = float(np.hypot(*(self._pb - self._pa).T).max() / 2) if len(rep) else 0.0
        self._kd = cKDTree((self._pa + self._pb) / 2)
        self._tree = tree  # last: a non-None tree means the whole index is built

    def snap(self, lon: np.ndarray, lat: np.ndarray, *, with_points: bool = True) -> Snap:
        """Snap points to their nearest edge (exact, vectorised).

        The ``_SNAP_K`` nearest short segment pieces (KD-tree on their midpoints) are
        measured exactly; the answer is provably the nearest when it is closer than the
        farthest of those midpoints minus half a piece. The few points where that bound
        fails are snapped with an STRtree over whole edges instead.

        ``with_points=False`` skips computing the snapped coordinates (batch work).

        Returns
        -------
        Snap
            Edge index, fraction along it (0 at ``edge_u``), distance in metres, and the
            snapped lon/lat.
        """
        self._ensure_index()
        lon = np.atleast_1d(np.asarray(lon, dtype=float))
        lat = np.atleast_1d(np.asarray(lat, dtype=float))
        x, y = self.to_metric(lon, lat)
        p = np.column_stack([x, y])
        k = min(_SNAP_K, len(self._pa))
        dk, ik = self._kd.query(p, k=k)
        dk, ik = dk.reshape(len(p), k), ik.reshape(len(p), k)
        a, b = self._pa[ik], self._pb[ik]
        ab = b - a
        denom = np.einsum("ijk,ijk->ij", ab, ab)
        t = np.einsum("ijk,ijk->ij", p[:, None, :] - a, ab) / np.where(denom > 0, denom, 1)
        t = np.clip(t, 0.0, 1.0)
        near = a + ab * t[..., None]
        dist = np.hypot(*(p[:, None, :] - near).transpose(2, 0, 1))
        j = np.argmin(dist, axis=1)
        rows = np.arange(len(p))
        best = ik[rows, j]
        d = dist[rows, j]
        edge = self._p_edge[best]
        along = self._p_along[best] + np.sqrt(denom[rows, j]) * t[rows, j]
        total = self._edge_len_m[edge]
        frac = np.clip(np.where(total > 0, along / np.where(total > 0, total, 1), 0.0), 0, 1)
        unsure = np.flatnonzero(d > dk[:, -1] - self._half) if k == _SNAP_K else np.arange(len(p))
        if len(unsure):
            pts = shapely.points(p[unsure])
            (qi, ei), exact = self._tree.query_nearest(pts, return_distance=True, all_matches=False)
            edge[unsure[qi]] = ei
            d[unsure[qi]] = exact
            lines = self._lines_m[edge[unsure]]
            total_u = shapely.length(lines)
            along_u = shapely.line_locate_point(lines, pts)
            frac[unsure] = np.clip(along_u / np.where(total_u > 0, total_u, 1), 0, 1)
        snapped = _interpolate(self, edge, frac) if with_points else np.full((len(edge), 2), np.nan)
        return Snap(edge=edge, frac=frac, distance_m=d, lon=snapped[:, 0], lat=snapped[:, 1])

    def edge_coords(self, i: int) -> np.ndarray:
        """Lon/lat polyline of edge ``i``."""
        return self.geom_xy[self.geom_offsets[i] : self.geom_offsets[i + 1]]

    # -- display ------------------------------------------------------------------------
    def major_roads(self, tolerance_m: float = 8.0) -> dict:
        """Major roads (tertiary and above) as a light GeoJSON FeatureCollection, one
        simplified MultiLineString per road class, for drawing a basemap offline.

        Each two-way road is drawn once; vertices closer than ``tolerance_m`` to the line
        are dropped and coordinates rounded to 1e-5° (≈1 m).
        """
        if self._roads is not None:
            return self._roads
        ids = np.arange(self.n_edges)
        once = (self.edge_twin < 0) | (ids < self.edge_twin)
        features = []
        tol = tolerance_m / 111_000  # degrees; fine at Miyun's latitude for display
        for cls in MAJOR_ROADS:
            edges = np.flatnonzero(once & (self.edge_highway == cls))
            if not len(edges):
                continue
            lines = [
                np.round(
                    shapely.get_coordinates(
                        shapely.simplify(shapely.linestrings(self.edge_coords(int(e))), tol)
                    ),
                    5,
                ).tolist()
                for e in edges
            ]
            features.append(
                {
                    "type": "Feature",
                    "properties": {"highway": cls},
                    "geometry": {"type": "MultiLineString", "coordinates": lines},
                }
            )
        self._roads = {
            "type": "FeatureCollection",
            "schematic": self.schematic,
            "features": features,
        }
        return self._roads

    # -- persistence --------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write the arrays and metadata to one ``.npz`` file (atomically)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _tmp_name(path)
        np.savez(
            tmp,
            node_xy=self.node_xy,
            node_osmid=self.node_osmid,
            edge_u=self.edge_u,
            edge_v=self.edge_v,
            edge_length=self.edge_length,
            edge_time=self.edge_time,
            edge_twin=self.edge_twin,
            edge_highway=self.edge_highway,
            edge_name=self.edge_name,
            geom_xy=self.geom_xy,
            geom_offsets=self.geom_offsets,
            meta=np.array(json.dumps({**self.meta, "mode": self.mode, "crs": self.metric_crs})),
        )
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Network:
        """Read a network written by :meth:`save`; raise :class:`NetworkError` if unusable."""
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                arrays = {k: z[k] for k in z.files if k != "meta"}
        except Exception as exc:  # zipfile, ValueError, KeyError, OSError...
            msg = f"network cache {path} is unreadable: {exc}"
            raise NetworkError(msg) from exc
        mode, crs = meta.pop("mode", None), meta.pop("crs", None)
        if mode not in MODES or not crs:
            msg = f"network cache {path} has no valid mode/crs"
            raise NetworkError(msg)
        try:
            net = cls(mode=mode, metric_crs=crs, meta=meta, **arrays)
        except TypeError as exc:  # arrays missing or unknown: another build version
            msg = f"network cache {path} has unexpected arrays: {exc}"
            raise NetworkError(msg) from exc
        net._validate()
        return net

    def _validate(self) -> None:
        n, e = self.n_nodes, self.n_edges
        ok = (
            self.node_xy.shape == (n, 2)
            and len(self.node_osmid) == n
            and all(len(a) == e for a in (self.edge_v, self.edge_length, self.edge_time))
            and len(self.geom_offsets) == e + 1
            and (e == 0 or (self.edge_u.max() < n and self.edge_v.max() < n))
            and self.geom_offsets[-1] == len(self.geom_xy)
        )
        if not ok:
            msg = "network arrays are inconsistent (corrupt cache?)"
            raise NetworkError(msg)


@dataclass
class Snap:
    """Points snapped onto network edges."""

    edge: np.ndarray
    frac: np.ndarray
    distance_m: np.ndarray
    lon: np.ndarray
    lat: np.ndarray


def _cumlen(coords: np.ndarray) -> np.ndarray:
    """Cumulative planar length along a lon/lat polyline (longitude scaled by cos φ)."""
    scaled = coords * [math.cos(math.radians(coords[0, 1])), 1.0]
    return np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(scaled, axis=0).T))])


def _point_at(coords: np.ndarray, cum: np.ndarray, frac: float) -> tuple[np.ndarray, int]:
    """The point at ``frac`` of the length, and the index of the segment it lies on."""
    target = frac * cum[-1]
    j = int(np.clip(np.searchsorted(cum, target, side="right") - 1, 0, len(cum) - 2))
    seg = cum[j + 1] - cum[j]
    t = 0.0 if seg == 0 else (target - cum[j]) / seg
    return coords[j] + t * (coords[j + 1] - coords[j]), j


def sub_coords(coords: np.ndarray, f0: float, f1: float) -> np.ndarray:
    """The part of a polyline between fractions ``f0 <= f1`` of its length."""
    cum = _cumlen(coords)
    p0, j0 = _point_at(coords, cum, f0)
    p1, j1 = _point_at(coords, cum, f1)
    return np.vstack([p0, coords[j0 + 1 : j1 + 1], p1])


def _interpolate(net: Network, edge: np.ndarray, frac: np.ndarray) -> np.ndarray:
    """Lon/lat at fraction ``frac`` (by length) along each edge's polyline."""
    out = np.empty((len(edge), 2))
    for i, (e, f) in enumerate(zip(edge.tolist(), frac.tolist(), strict=True)):
        coords = net.edge_coords(e)
        out[i] = _point_at(coords, _cumlen(coords), f)[0]
    return out


# -- mode rules -----------------------------------------------------------------------------


def _first(value: object) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _allowed(mode: str, d: dict) -> bool:
    hw = _first(d.get("highway"))
    if not hw or _first(d.get("area")) == "yes":
        return False
    access = _first(d.get("access"))
    if mode == "walk":
        foot = _first(d.get("foot"))
        if foot in ("no", "private") or (access in ("no", "private") and foot != "yes"):
            return False
        return hw not in _WALK_EXCLUDED or foot == "yes"
    if mode == "bike":
        bicycle = _first(d.get("bicycle"))
        if bicycle in ("no", "private") or (access in ("no", "private") and bicycle != "yes"):
            return False
        return hw not in _BIKE_EXCLUDED or (bicycle == "yes" and hw not in ("motorway",))
    motor = _first(d.get("motor_vehicle")) or _first(d.get("motorcar"))
    if motor in ("no", "private") or (access in ("no", "private") and motor != "yes"):
        return False
    return hw in _DRIVE_ALLOWED


_MAXSPEED = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph)?\s*$", re.IGNORECASE)


def parse_maxspeed(value: object) -> float | None:
    """``"60"`` → 60.0, ``"30 mph"`` → 48.3; anything else (``CN:urban``, ``none``) → None."""
    m = _MAXSPEED.match(_first(value))
    if not m:
        return None
    speed = float(m.group(1)) * (1.609344 if (m.group(2) or "").lower() == "mph" else 1.0)
    return speed if speed > 0 else None


def _speed_kmh(mode: str, d: dict) -> float:
    hw = _first(d.get("highway"))
    if mode == "walk":
        return WALK_KMH
    if mode == "bike":
        return float(BIKE_KMH.get(hw, _BIKE_DEFAULT))
    tagged = parse_maxspeed(d.get("maxspeed"))
    return tagged if tagged else float(DRIVE_KMH.get(hw, _DRIVE_DEFAULT))


#: The way tags the mode rules read (``name`` is not one of them).
_RULE_TAGS = tuple(k for k in osm.ROUTING_TAGS if k != "name")


def _way_rules(data: osm.OsmData, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_allowed` and :func:`_speed_kmh` of every way, evaluated once per distinct
    combination of the tags they read."""
    allowed = np.zeros(data.n_ways, dtype=bool)
    speed = np.zeros(data.n_ways)
    seen: dict[tuple, tuple[bool, float]] = {}
    columns = [data.way_tags[k] for k in _RULE_TAGS]
    for i, combo in enumerate(zip(*columns, strict=True)):
        rule = seen.get(combo)
        if rule is None:
            d = {k: v for k, v in zip(_RULE_TAGS, combo, strict=True) if v != ""}
            rule = seen[combo] = (_allowed(mode, d), _speed_kmh(mode, d))
        allowed[i], speed[i] = rule
    return allowed, speed


# -- building from arrays (OSM files) --------------------------------------------------------

#: osmnx's ``oneway`` values for a one-way way, and those meaning "against the node order".
_ONEWAY_VALUES = ("yes", "true", "1", "-1", "reverse", "T", "F")
_REVERSED_VALUES = ("-1", "reverse", "T")
#: osmnx's ``distance.EARTH_RADIUS_M``.
EARTH_RADIUS_M = 6_371_009


def great_circle(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Haversine distance in metres, computed exactly as osmnx's ``distance.great_circle``
    (same operations in the same order, so lengths agree to the last bit)."""
    y1, y2 = np.deg2rad(lat1), np.deg2rad(lat2)
    dy = y2 - y1
    x1, x2 = np.deg2rad(lon1), np.deg2rad(lon2)
    dx = x2 - x1
    h = np.sin(dy / 2) ** 2 + np.cos(y1) * np.cos(y2) * np.sin(dx / 2) ** 2
    h = np.minimum(1, h)
    return 2 * np.arcsin(np.sqrt(h)) * EARTH_RADIUS_M


@dataclass
class _RawGraph:
    """The unsimplified directed road graph of all highway ways (osmnx's ``G``) as edges in
    osmnx's insertion order: way by way, the way's direction then (two-way) the reverse."""

    u: np.ndarray
    v: np.ndarray
    way: np.ndarray
    length: np.ndarray
    n: int


def _raw_graph(data: osm.OsmData, inside: np.ndarray | None) -> _RawGraph:
    oneway = data.way_tags["oneway"]
    one_way = np.isin(oneway, _ONEWAY_VALUES) | (data.way_tags["junction"] == "roundabout")
    backwards = one_way & np.isin(oneway, _REVERSED_VALUES)
    su, sv, sw = data.seg_u, data.seg_v, data.seg_way
    flip = backwards[sw]
    fwd_u, fwd_v = np.where(flip, sv, su), np.where(flip, su, sv)
    two = ~one_way[sw]
    u = np.concatenate([fwd_u, sv[two]])
    v = np.concatenate([fwd_v, su[two]])
    way = np.concatenate([sw, sw[two]])
    # Stable by way: a way's own direction precedes its reverse, as in osmnx's _add_paths.
    order = np.argsort(way, kind="stable")
    u, v, way = u[order], v[order], way[order]
    if inside is not None:
        keep = inside[u] & inside[v]
        u, v, way = u[keep], v[keep], way[keep]
    lon, lat = data.node_xy[:, 0], data.node_xy[:, 1]
    length = great_circle(lat[u], lon[u], lat[v], lon[v])
    return _RawGraph(u, v, way, length, len(data.node_id))


def build_from_osm(
    data: osm.OsmData,
    modes: tuple[str, ...] = MODES,
    *,
    source: str | None = None,
    clip: shapely.Geometry | None = None,
) -> dict[str, Network]:
    """Build the :class:`Network` of each mode from the arrays of :func:`osm.read_osm`.

    Gives the same networks as :func:`build` on the osmnx graph of the same file (same
    nodes and edges, travel times equal to rounding), vectorised: osmnx's way parsing
    (one-way values, roundabouts, reversed ways), great-circle edge lengths, the mode
    rules, the walk rule that adds the reverse of a one-way edge when the raw graph has no
    edge back, and :func:`geoservice.network.simplify.simplify` for osmnx's ``simplify_graph``.
    A merged edge takes ``highway`` and ``name`` from the first edge of its path.

    Parameters
    ----------
    data : OsmData
        The file's roads.
    modes : tuple of str
        Modes to build.
    source : str, optional
        Recorded in the metadata (default ``data.source``).
    clip : shapely geometry, optional
        WGS84 polygon; nodes outside are dropped (extracts larger than the district).

    Raises
    ------
    NetworkError
        A mode has no roads.
    """
    for mode in modes:
        if mode not in MODES:
            msg = f"unknown mode {mode!r}; expected one of {', '.join(MODES)}"
            raise ValueError(msg)
    started = time.perf_counter()
    inside = None
    if clip is not None:
        inside = shapely.contains_xy(clip, data.node_xy[:, 0], data.node_xy[:, 1])
    raw = _raw_graph(data, inside)
    shared = time.perf_counter() - started
    out = {}
    for mode in modes:
        t0 = time.perf_counter()
        net = _build_mode(data, raw, mode, source or data.source)
        net.meta.update(
            source=source or data.source,
            schematic=data.schematic,
            build_seconds=round(shared + time.perf_counter() - t0, 2),
            built_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
            version=BUILD_VERSION,
            **{k: v for k, v in data.report().items() if k != "places"},
        )
        out[mode] = net
    return out


def _build_mode(data: osm.OsmData, raw: _RawGraph, mode: str, label: str) -> Network:
    allowed, speed = _way_rules(data, mode)
    ok = allowed[raw.way]
    u, v, way, length = raw.u[ok], raw.v[ok], raw.way[ok], raw.length[ok]
    t = length / (speed[way] / 3.6)
    if mode == "walk":
        # Walking ignores one-way: add the reverse of every edge the raw graph has no
        # edge back for (after the mode's own edges, as in _mode_graph).
        n = raw.n
        back = simplify.unique(raw.u * n + raw.v)
        key = v * n + u
        pos = np.clip(np.searchsorted(back, key), 0, max(len(back) - 1, 0))
        lonely = back[pos] != key
        u, v = np.concatenate([u, v[lonely]]), np.concatenate([v, u[lonely]])
        way = np.concatenate([way, way[lonely]])
        length = np.concatenate([length, length[lonely]])
        t = np.concatenate([t, t[lonely]])
    if not len(u):
        msg = f"没有可用于{MODE_LABELS[mode]}的道路 / no {mode} roads in {label or 'the network'}"
        raise NetworkError(msg)
    s = simplify.simplify(u, v, length, t, raw.n)
    if not len(s.u):
        msg = f"没有可用于{MODE_LABELS[mode]}的道路 / no {mode} roads in {label or 'the network'}"
        raise NetworkError(msg)
    nodes = simplify.unique(np.concatenate([s.u, s.v]))
    node_xy = data.node_xy[nodes]
    edge_u = np.searchsorted(nodes, s.u)
    edge_v = np.searchsorted(nodes, s.v)
    first_way = way[s.first]
    return Network(
        mode=mode,
        node_xy=node_xy,
        node_osmid=data.node_id[nodes],
        edge_u=edge_u,
        edge_v=edge_v,
        edge_length=s.length,
        edge_time=s.time,
        edge_twin=_twins(edge_u, edge_v, s.length),
        edge_highway=data.way_tags["highway"][first_way].astype(str),
        edge_name=data.way_tags["name"][first_way].astype(str),
        geom_xy=data.node_xy[s.path_nodes],
        geom_offsets=s.path_offsets,
        metric_crs=_utm_crs(*node_xy.mean(axis=0)),
    )


# -- building from an osmnx graph (GraphML files, downloads) ---------------------------------


def _mode_graph(G: nx.MultiDiGraph, mode: str) -> nx.MultiDiGraph:
    """The raw (unsimplified) graph of one mode, with ``travel_time`` on every edge."""
    H = nx.MultiDiGraph()
    H.graph.update(G.graph)
    H.graph["simplified"] = False
    for u, v, k, d in G.edges(keys=True, data=True):
        if not _allowed(mode, d):
            continue
        t = d["length"] / (_speed_kmh(mode, d) / 3.6)
        attrs = {
            key: d[key] for key in ("highway", "name", "length", "geometry", "osmid") if key in d
        }
        attrs["travel_time"] = t
        H.add_edge(u, v, key=k, **attrs)
        if mode == "walk" and not G.has_edge(v, u):
            # Walking ignores one-way: add the reverse of one-way ways.
            back = dict(attrs)
            if "geometry" in back:
                back["geometry"] = shapely.reverse(back["geometry"])
            H.add_edge(v, u, **back)
    for n in H.nodes:
        H.nodes[n].update(G.nodes[n])
    return H


def build(G: nx.MultiDiGraph, mode: str, *, source: str = "", schematic: bool = False,
          clip: shapely.Geometry | None = None) -> Network:  # fmt: skip
    """Build a mode's :class:`Network` from an osmnx graph (the networkx path).

    Used for GraphML files and downloads, and as the baseline :func:`build_from_osm` is
    checked against (``bench/bench_osm.py``, ``tests/test_osm_reader.py``).

    Parameters
    ----------
    G : MultiDiGraph
        Unsimplified osmnx graph from :func:`geoservice.network.osm.read_graph` (a simplified
        GraphML graph is accepted and not simplified again).
    mode : str
        ``walk``, ``bike`` or ``drive``.
    clip : shapely geometry, optional
        WGS84 polygon; nodes outside are dropped (extracts larger than the district).
    """
    if mode not in MODES:
        msg = f"unknown mode {mode!r}; expected one of {', '.join(MODES)}"
        raise ValueError(msg)
    started = time.perf_counter()
    if clip is not None:
        xs, ys = _graph_xy(G)
        inside = shapely.contains_xy(clip, xs, ys)
        if not inside.all():
            G = G.subgraph([n for n, ok in zip(G.nodes, inside, strict=True) if ok]).copy()
    H = _mode_graph(G, mode)
    if H.number_of_edges() == 0:
        msg = f"没有可用于{MODE_LABELS[mode]}的道路 / no {mode} roads in {source or 'the network'}"
        raise NetworkError(msg)
    if not G.graph.get("simplified"):
        H = ox.simplify_graph(H, edge_attr_aggs={"length": sum, "travel_time": sum})
    net = _to_arrays(H, mode)
    net.meta.update(
        source=source,
        schematic=schematic,
        build_seconds=round(time.perf_counter() - started, 2),
        built_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
        version=BUILD_VERSION,
    )
    return net


def _graph_xy(G: nx.MultiDiGraph) -> tuple[np.ndarray, np.ndarray]:
    xs = np.array([d["x"] for _, d in G.nodes(data=True)], dtype=float)
    ys = np.array([d["y"] for _, d in G.nodes(data=True)], dtype=float)
    return xs, ys


def _utm_crs(lon: float, lat: float) -> str:
    zone = int((lon + 180) // 6) + 1
    return f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"


def _osmid(node: object) -> int:
    try:
        return int(node)
    except (TypeError, ValueError):  # a GraphML graph whose nodes are not OSM ids
        return -1


def _to_arrays(H: nx.MultiDiGraph, mode: str) -> Network:
    nodes = list(H.nodes)
    index = {n: i for i, n in enumerate(nodes)}
    node_xy = np.array([[H.nodes[n]["x"], H.nodes[n]["y"]] for n in nodes], dtype=float)
    us, vs, lengths, times, highways, names, parts = [], [], [], [], [], [], []
    for u, v, d in H.edges(data=True):
        iu, iv = index[u], index[v]
        us.append(iu)
        vs.append(iv)
        lengths.append(float(d["length"]))
        times.append(float(d["travel_time"]))
        highways.append(_first(d.get("highway")))
        names.append(_first(d.get("name")))
        g = d.get("geometry")
        parts.append(np.asarray(g.coords, dtype=float) if g is not None else node_xy[[iu, iv]])
    counts = np.array([len(p) for p in parts], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    geom_xy = np.vstack(parts) if parts else np.empty((0, 2))
    edge_u = np.array(us, dtype=np.int64)
    edge_v = np.array(vs, dtype=np.int64)
    edge_length = np.array(lengths)
    return Network(
        mode=mode,
        node_xy=node_xy,
        node_osmid=np.array([_osmid(n) for n in nodes], dtype=np.int64),
        edge_u=edge_u,
        edge_v=edge_v,
        edge_length=edge_length,
        edge_time=np.array(times),
        edge_twin=_twins(edge_u, edge_v, edge_length),
        edge_highway=np.array(highways, dtype=str),
        edge_name=np.array(names, dtype=str),
        geom_xy=geom_xy,
        geom_offsets=offsets,
        metric_crs=_utm_crs(*node_xy.mean(axis=0)),
    )


def _twins(u: np.ndarray, v: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Pair each edge with the same road traversed the other way (same end nodes swapped,
    same length to the centimetre), or -1 for one-way edges.

    Among several candidates the k-th edge u→v (by index) pairs with the k-th edge v→u;
    self-loops of the same length pair up in index order. Pairs are symmetric.
    """
    e = len(u)
    twin = np.full(e, -1, dtype=np.int64)
    if not e:
        return twin
    rounded = np.round(length, 2)
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    orient = np.where(u < v, 0, np.where(u > v, 1, 2))
    order = np.lexsort((np.arange(e), orient, rounded, hi, lo))
    lo, hi, rounded, orient = lo[order], hi[order], rounded[order], orient[order]
    step = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1]) | (rounded[1:] != rounded[:-1])
    group = np.concatenate([[0], np.cumsum(step)])
    sub_start = np.flatnonzero(np.concatenate([[True], step | (orient[1:] != orient[:-1])]))
    rank = np.arange(e) - np.repeat(sub_start, np.diff(np.append(sub_start, e)))
    # u→v with v→u, rank by rank.
    a = np.flatnonzero(orient == 0)
    b = np.flatnonzero(orient == 1)
    if len(a) and len(b):
        ka = group[a] * e + rank[a]
        kb = group[b] * e + rank[b]  # sorted: by group, then rank
        pos = np.clip(np.searchsorted(kb, ka), 0, len(kb) - 1)
        hit = kb[pos] == ka
        ia, ib = order[a[hit]], order[b[pos[hit]]]
        twin[ia], twin[ib] = ib, ia
    # Self-loops: ranks 2k and 2k + 1 of the same group.
    p = np.flatnonzero((orient == 2) & (rank % 2 == 0))
    p = p[p + 1 < e]
    p = p[(orient[p + 1] == 2) & (group[p + 1] == group[p])]
    twin[order[p]], twin[order[p + 1]] = order[p + 1], order[p]
    return twin


# -- sources and caching --------------------------------------------------------------------


def file_digest(path: Path) -> str:
    """SHA-256 of a file (the cache key of networks built from it)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def cache_path(cache_dir: Path, source: Path, mode: str, digest: str | None = None) -> Path:
    """Where the network of ``mode`` (or the ``places`` table) built from ``source`` is
    cached."""
    digest = digest or file_digest(source)
    return Path(cache_dir) / f"{digest[:16]}-v{BUILD_VERSION}-{mode}.npz"


def _tmp_name(path: Path) -> Path:
    """A temporary file beside ``path``, unique per writer: two threads or processes
    building the same cache at once (the routing and the coverage engine on a cold cache)
    each write their own and the last rename wins, with the same content."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp.npz")


def save_places(places: pd.DataFrame, path: Path, meta: dict) -> None:
    """Write a places table (:func:`osm.places_frame`) and its metadata to ``.npz``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(path)
    arrays = {
        c: places[c].to_numpy(dtype=str if c not in ("osmid", "lon", "lat") else None)
        for c in osm.PLACE_COLUMNS
    }
    np.savez(tmp, meta=np.array(json.dumps(meta)), **arrays)
    tmp.replace(path)


def load_places(path: Path) -> tuple[pd.DataFrame, dict]:
    """Read a table written by :func:`save_places`; raise :class:`NetworkError` if unusable."""
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            frame = osm.places_frame(
                [dict(zip(osm.PLACE_COLUMNS, row, strict=True))
                 for row in zip(*(z[c].tolist() for c in osm.PLACE_COLUMNS), strict=True)]
            )  # fmt: skip
    except Exception as exc:  # zipfile, ValueError, KeyError, OSError...
        msg = f"places cache {path} is unreadable: {exc}"
        raise NetworkError(msg) from exc
    return frame, meta


@dataclass
class Built:
    """Everything built from one source file: the networks, its places, what was cut."""

    networks: dict[str, Network]
    places: pd.DataFrame
    meta: dict


def _effective_clip(
    clip: shapely.Geometry | None, xy: np.ndarray
) -> tuple[shapely.Geometry | None, bool]:
    """The clip to apply, and whether the source lies wholly outside it (kept whole)."""
    if clip is None or not len(xy):
        return None, False
    if not shapely.contains_xy(clip, xy[:, 0], xy[:, 1]).any():
        return None, True  # an extract from elsewhere: keep it whole
    return clip, False


def build_source(
    source: Path,
    modes: tuple[str, ...] = MODES,
    *,
    clip: shapely.Geometry | None = None,
    label: str | None = None,
) -> Built:
    """Read ``source`` once and build the networks of ``modes`` (none: only the places)
    and its places table.

    OSM files go through :func:`osm.read_osm` and :func:`build_from_osm`; GraphML files
    through osmnx and :func:`build`. ``clip`` is applied only when the source touches it.
    """
    source = Path(source)
    label = label or source.name
    if osm.source_kind(source) == "graphml":
        G = osm.read_graph(source, name=label)
        xs, ys = _graph_xy(G)
        clip, outside = _effective_clip(clip, np.column_stack([xs, ys]))
        nets = {m: build(G, m, source=label, clip=clip) for m in modes}
        places = osm.places_frame([])
        meta = {"source": label, "schematic": False}
    else:
        data = osm.read_osm(source, name=label)
        clip, outside = _effective_clip(clip, data.node_xy)
        nets = build_from_osm(data, modes, source=label, clip=clip)
        places = data.places
        if clip is not None and len(places):
            places = places[shapely.contains_xy(clip, places["lon"], places["lat"])]
            places = places.reset_index(drop=True)
        meta = {"source": label, "schematic": data.schematic} | data.report()
        meta["places"] = len(places)
    for net in nets.values():
        net.meta["outside_district"] = outside
    meta["outside_district"] = outside
    return Built(nets, places, meta)


def load_networks(
    source: Path,
    cache_dir: Path,
    *,
    modes: tuple[str, ...] = MODES,
    clip: shapely.Geometry | None = None,
) -> dict[str, Network]:
    """Networks for ``modes`` built from ``source``, from the cache when it is valid.

    A missing, stale or corrupt cache file is rebuilt (and logged), never fatal. A build
    also caches the source's places table.
    """
    source = Path(source)
    digest = file_digest(source)
    out: dict[str, Network] = {}
    missing = []
    for mode in modes:
        path = cache_path(cache_dir, source, mode, digest)
        if path.exists():
            try:
                out[mode] = Network.load(path)
                continue
            except NetworkError as exc:
                log.warning("%s; rebuilding", exc)
        missing.append(mode)
    if missing:
        log.info("building %s network(s) from %s", ", ".join(missing), source.name)
        built = build_source(source, tuple(missing), clip=clip)
        _save(built, cache_dir, source, digest)
        out.update(built.networks)
    return {m: out[m] for m in modes}


def _save(built: Built, cache_dir: Path, source: Path, digest: str) -> None:
    for mode, net in built.networks.items():
        net.save(cache_path(cache_dir, source, mode, digest))
    save_places(built.places, cache_path(cache_dir, source, "places", digest), built.meta)


class NetworkLibrary:
    """The road networks a service uses: the active source, its per-mode caches, imports.

    Layout of ``directory`` (the Flask instance's ``networks/`` folder)::

        active.json        {"source": "<file name in sources/>"}; absent → the default
        sources/           imported or downloaded extracts
        cache/             built networks and place tables,
                           ``<digest>-v<version>-<mode|places>.npz``

    Parameters
    ----------
    directory : Path
        Where imports and caches live (created on demand).
    default_source : Path
        The shipped network (the schematic Miyun network).
    clip : shapely geometry, optional
        District polygon (WGS84). Extracts that reach beyond it are clipped to it
        (buffered by ~1 km so border roads stay whole); extracts that do not touch it at all
        are kept whole and flagged.
    """

    def __init__(
        self, directory: Path, default_source: Path, clip: shapely.Geometry | None = None
    ) -> None:
        self.directory = Path(directory)
        self.default_source = Path(default_source)
        self.clip = None if clip is None else shapely.buffer(clip, 0.01)
        self._places: tuple[str, gpd.GeoDataFrame] | None = None  # (token, table)
        # The loaded networks of the active source, shared by every engine: (token, nets).
        self._nets: tuple[str, dict[str, Network]] | None = None
        self._nets_lock = threading.Lock()

    @property
    def cache_dir(self) -> Path:
        return self.directory / "cache"

    def active_source(self) -> Path:
        """The file the networks are built from."""
        try:
            name = json.loads((self.directory / "active.json").read_text())["source"]
        except (OSError, ValueError, KeyError):
            return self.default_source
        path = self.directory / "sources" / name
        return path if path.is_file() else self.default_source

    def token(self) -> str:
        """Changes whenever the active source changes (for reloading)."""
        src = self.active_source()
        try:
            st = src.stat()
        except OSError as exc:
            msg = f"road network file is missing: {src}"
            raise NetworkError(msg) from exc
        return f"{src}:{st.st_mtime_ns}:{st.st_size}"

    def load(self, modes: tuple[str, ...] = MODES) -> dict[str, Network]:
        """Networks of the active source (from the cache when valid).

        The same :class:`Network` objects are handed to every caller until the active
        source changes, so the routing, tour and coverage engines share one copy in memory.
        """
        token = self.token()
        with self._nets_lock:
            held = self._nets[1] if self._nets is not None and self._nets[0] == token else {}
            missing = tuple(m for m in modes if m not in held)
            if missing:
                source = self.active_source()
                held = held | load_networks(
                    source, self.cache_dir, modes=missing, clip=self._clip_for(source)
                )
                self._nets = (token, held)
        return {m: held[m] for m in modes}

    def places(self) -> gpd.GeoDataFrame:
        """The ``place=*`` nodes (villages, neighbourhoods …) of the active source.

        Returns
        -------
        GeoDataFrame
            Columns of :func:`osm.places_frame` with point geometry (WGS84); empty for a
            GraphML or downloaded network. ``attrs`` holds ``source`` and ``schematic``.
            Clipped to the district like the networks. Cached beside the networks (and in
            memory until the active source changes); a copy is returned.
        """
        token = self.token()
        if self._places is not None and self._places[0] == token:
            return self._places[1].copy()
        source = self.active_source()
        digest = file_digest(source)
        path = cache_path(self.cache_dir, source, "places", digest)
        try:
            frame, meta = load_places(path)
        except NetworkError as exc:
            if path.exists():
                log.warning("%s; rebuilding", exc)
            built = build_source(source, (), clip=self._clip_for(source))  # places only
            _save(built, self.cache_dir, source, digest)
            frame, meta = built.places, built.meta
        gdf = gpd.GeoDataFrame(
            frame, geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs=CRS_STORAGE
        )
        gdf.attrs.update(source=meta.get("source", source.name), schematic=meta.get("schematic"))
        self._places = (token, gdf)
        return gdf.copy()

    def _clip_for(self, source: Path) -> shapely.Geometry | None:
        if self.clip is None or source == self.default_source:
            return None
        return self.clip

    def import_file(self, path: Path) -> dict[str, Network]:
        """Build every mode from ``path`` and, if that works, make it the active source.

        All or nothing: a file that cannot be read or has no roads for some mode leaves
        the active network unchanged. The networks' ``meta`` says how many node references
        a clipped extract lacked (``dropped_refs``) and how many ways were cut there.
        """
        path = Path(path)
        osm.source_kind(path)  # clear error for an unsupported extension
        sources = self.directory / "sources"
        sources.mkdir(parents=True, exist_ok=True)
        target = sources / path.name
        # The temporary copy keeps the real suffix: the reader picks the format by it.
        tmp = sources / f".tmp-{path.name}"
        shutil.copyfile(path, tmp)
        try:
            built = build_source(tmp, clip=self.clip, label=target.name)
            _save(built, self.cache_dir, tmp, file_digest(tmp))
        except Exception:
            tmp.unlink(missing_ok=True)
            raise
        self._activate(tmp, target)
        return built.networks

    def fetch(self, place: str, timeout: float = 20.0) -> dict[str, Network]:
        """Download ``place`` with osmnx, save it as GraphML and make it active."""
        G = osm.fetch_graph(place, timeout=timeout)
        sources = self.directory / "sources"
        sources.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^\w.-]+", "_", place).strip("_") or "place"
        target = sources / f"{safe}.graphml"
        tmp = sources / f".tmp-{safe}.graphml"
        ox.save_graphml(G, tmp)
        try:
            built = build_source(tmp, clip=self.clip, label=target.name)
            _save(built, self.cache_dir, tmp, file_digest(tmp))
        except Exception:
            tmp.unlink(missing_ok=True)
            raise
        self._activate(tmp, target)
        return built.networks

    def _activate(self, tmp: Path, target: Path) -> None:
        tmp.replace(target)
        active = self.directory / "active.json"
        tmp_active = active.with_name(".active.json.tmp")
        tmp_active.write_text(json.dumps({"source": target.name}))
        tmp_active.replace(active)

    def reset(self) -> None:
        """Go back to the shipped default network."""
        (self.directory / "active.json").unlink(missing_ok=True)
