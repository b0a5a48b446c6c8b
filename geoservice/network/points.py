"""Points on the roads: where a point meets its road, and the pieces of road to its ends.

One model for every job that puts points on a network: the nearest-station engine (the
stations and each origin), the caravan's travel matrix (the depot and the stops) and
coverage (the stations and the villages).

* :func:`snap` (:meth:`Network.snap <geoservice.network.Network.snap>`) places points on
  their nearest road, exactly: short pieces of the roads sorted into a grid
  (:class:`SnapIndex`), searched ring by ring around each point. A two-way road is one
  place: a point lies on the road's *representative* edge (:meth:`Network.road_edges`,
  the lower index of a twin pair) at ``frac`` of its length from ``edge_u``, so an edge
  fraction is a road fraction (coverage's ``g``).
* How far a point is from the network is one rule, whoever asks: within :data:`FAR_M` of
  the network's bounding box it is measured exactly in the network's metric CRS; beyond,
  where a UTM projection means nothing, it is the great-circle distance to the nearest
  road vertex (:func:`distance_to` applies the same rule to any lines, e.g. the district
  boundary of the import check).
* :class:`RoadPoints` gives the partial-edge pieces every job joins to its graph: from each
  point to the two ends of its road (:meth:`~RoadPoints.leaving`), from the ends to the
  point (:meth:`~RoadPoints.reaching`) and straight along one road between points
  (:meth:`~RoadPoints.along`), with their costs in any edge weight (time or length).

The stretch between a point and its road is not on the network; it is timed at
:func:`access_speed_ms` of the trip's mode, the same for every job. What lies off the walk
and bike networks are footpaths and yards, walked (a rider pushes): walking speed. What lies
off the drive network are tracks and service lanes, driven slowly: :data:`LANE_KMH`. So a
driver's way to a station's door, the caravan's van to a village and the drive coverage's
door all take the lane speed, and every walk or bike trip walks that stretch.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyproj
import shapely
from scipy.spatial import cKDTree

from geoservice import crs

if TYPE_CHECKING:
    from geoservice.network.graph import Network

#: Points farther than this from every road are off the network: no job routes them (no
#: invented roads).
MAX_SNAP_M = 2000.0
#: Points farther than this from a network's bounding box are not projected into its metric
#: CRS (meaningless across the globe): their distance is the great-circle one.
FAR_M = 50_000.0
#: Walking speed: the walk network's speed, and the access speed of walk and bike trips.
WALK_KMH = 4.5
#: Speed of a vehicle on an unmapped lane: the access speed of drive trips.
LANE_KMH = 15.0
#: Speed on the stretch between a point and its road, per mode (see the module docstring).
ACCESS_KMH = {"walk": WALK_KMH, "bike": WALK_KMH, "drive": LANE_KMH}

#: Snapping cuts road segments into pieces at most this long (metres).
_PIECE_M = 30.0
#: The snapping grid's cell (metres), and the most cells it has per piece.
_CELL_M = 60.0
_CELLS_PER_PIECE = 4
#: Point sets kept per network by ``snap(..., cache=True)`` (station lists; small).
_CACHE_SIZE = 8


def access_speed_ms(mode: str) -> float:
    """Metres per second on the stretch between a point and its road in ``mode``."""
    return ACCESS_KMH[mode] / 3.6


# -- far points --------------------------------------------------------------------------------


class _Vertices:
    """Lon/lat vertices of some lines, for the far-point rule: their bounding box, and (built
    on first use) a KD-tree of their unit vectors, whose nearest neighbour by chord is the
    nearest vertex by great-circle distance."""

    def __init__(self, xy: np.ndarray, box: np.ndarray | None = None) -> None:
        self.xy = np.asarray(xy, dtype=float)
        if box is None:
            box = np.concatenate([self.xy.min(axis=0), self.xy.max(axis=0)])
        self.lo, self.hi = np.asarray(box[:2]), np.asarray(box[2:])
        self._tree: cKDTree | None = None
        self._lock = threading.Lock()

    def gap_m(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Great-circle distance (m) to the bounding box (0 inside): which rule applies."""
        cx = np.clip(lon, self.lo[0], self.hi[0])
        cy = np.clip(lat, self.lo[1], self.hi[1])
        gap = np.zeros(len(lon))
        off = (cx != lon) | (cy != lat)
        if off.any():
            gap[off] = crs.residual_m(lon[off], lat[off], cx[off], cy[off])
        return gap

    def nearest_m(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Great-circle distance (m) to the nearest vertex."""
        if self._tree is None:
            with self._lock:
                if self._tree is None:
                    self._tree = cKDTree(_unit(self.xy[:, 0], self.xy[:, 1]))
        _, i = self._tree.query(_unit(lon, lat))
        return np.asarray(crs.residual_m(lon, lat, self.xy[i, 0], self.xy[i, 1]), dtype=float)


def _unit(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    x, y = np.radians(lon), np.radians(lat)
    return np.column_stack([np.cos(y) * np.cos(x), np.cos(y) * np.sin(x), np.sin(y)])


def distance_to(lines: shapely.Geometry, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Metres from points to lon/lat ``lines`` by the network's rule (see the module
    docstring): exact in the lines' UTM zone within :data:`FAR_M` of their bounding box,
    else the great-circle distance to their nearest vertex.

    Parameters
    ----------
    lines : shapely geometry
        WGS84 lines (e.g. a polygon's boundary).
    lon, lat : array-like
        WGS84 points.

    Returns
    -------
    ndarray
    """
    lon, lat = _coords(lon, lat)
    vertices = _Vertices(shapely.get_coordinates(lines))
    out = np.empty(len(lon))
    far = vertices.gap_m(lon, lat) > FAR_M
    if far.any():
        out[far] = vertices.nearest_m(lon[far], lat[far])
    near = ~far
    if near.any():
        metric = crs.utm_crs(*((vertices.lo + vertices.hi) / 2))
        to_m = pyproj.Transformer.from_crs("EPSG:4326", metric, always_xy=True)
        x, y = to_m.transform(lon[near], lat[near])
        lines_m = shapely.transform(lines, lambda c: np.column_stack(to_m.transform(*c.T)))
        out[near] = shapely.distance(lines_m, shapely.points(x, y))
    return out


def _coords(lon: object, lat: object) -> tuple[np.ndarray, np.ndarray]:
    return (
        np.atleast_1d(np.asarray(lon, dtype=float)),
        np.atleast_1d(np.asarray(lat, dtype=float)),
    )


# -- snapping ----------------------------------------------------------------------------------


class SnapIndex:
    """One network's snapping index: short pieces of the road segments, sorted into the
    cells of a square grid, the far-point vertices, and the point sets kept by
    ``snap(..., cache=True)``.

    Plain arrays only, so that :meth:`save` writes them beside the network and
    :meth:`load` maps them read-only: every process serving the network shares one copy
    in the page cache, and none builds it at start (a KD-tree cannot be mapped, and took
    0.9 GB and seconds per process at 1.5 million nodes). A point is measured against the
    pieces of the cells around it, ring by ring, until no piece of a farther ring can be
    nearer (:func:`geoservice.network.compiled.grid_closest`): exact, whatever the gaps.

    Attributes
    ----------
    pa, pb : ndarray (P, 2)
        Each piece's start and end (metres, the network's CRS), by cell.
    p_edge, p_along : ndarray (P,)
        Its edge, and the metres along the edge at its start.
    cells : ndarray (C + 1,)
        Where each cell's pieces start (cell ``x * ny + y``).
    grid : ndarray (6,)
        The grid's west and south edges, cell size, columns, rows, and the half length of
        the longest piece (how far a piece reaches beyond its midpoint's cell).
    edge_len_m : ndarray (E,)
        Every edge's length in metres.
    box : ndarray (4,)
        The network's lon/lat bounding box (west, south, east, north): the far-point rule's.
    """

    _FILES = ("pa", "pb", "p_edge", "p_along", "cells", "grid", "edge_len_m", "box")

    def __init__(self, net: Network, arrays: dict[str, np.ndarray]) -> None:
        self.pa, self.pb = arrays["pa"], arrays["pb"]
        self.p_edge, self.p_along = arrays["p_edge"], arrays["p_along"]
        self.cells, self.grid = arrays["cells"], arrays["grid"]
        self.edge_len_m = arrays["edge_len_m"]
        # The bounding box is kept, not found again: that would read every vertex at start.
        self.box = arrays["box"]
        self.vertices = _Vertices(net.geom_xy, self.box)
        self.kept: dict[tuple[bytes, bytes, bool], RoadPoints] = {}
        self.kept_lock = threading.Lock()

    @classmethod
    def build(cls, net: Network) -> SnapIndex:
        """Cut ``net``'s roads into pieces and sort them into the grid."""
        pa, pb, p_edge, p_along, edge_len_m = _pieces(net)
        mid = (pa + pb) / 2
        grid, cell = _grid(mid, float(np.hypot(*(pb - pa).T).max() / 2) if len(pa) else 0.0)
        order = np.argsort(cell, kind="stable")
        counts = np.bincount(cell, minlength=int(grid[3] * grid[4]))
        arrays = {
            "pa": pa[order],
            "pb": pb[order],
            "p_edge": p_edge[order].astype(np.int32 if net.n_edges < 2**31 else np.int64),
            "p_along": p_along[order],
            "cells": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            "grid": grid,
            "edge_len_m": edge_len_m,
            "box": np.concatenate([net.geom_xy.min(axis=0), net.geom_xy.max(axis=0)])
            if len(net.geom_xy)
            else np.zeros(4),
        }
        return cls(net, arrays)

    def nbytes(self) -> int:
        """Bytes of the index's arrays."""
        return int(sum(getattr(self, name).nbytes for name in self._FILES))

    def save(self, folder: Path) -> None:
        """Write the arrays into ``folder`` (a network's, see :meth:`Network.save`)."""
        for name in self._FILES:
            np.save(folder / f"snap_{name}.npy", np.ascontiguousarray(getattr(self, name)))

    @classmethod
    def load(cls, net: Network, folder: Path) -> SnapIndex | None:
        """Map the arrays :meth:`save` wrote (None when the folder has none)."""
        if not (folder / "snap_grid.npy").exists():
            return None
        arrays = {
            name: np.load(folder / f"snap_{name}.npy", mmap_mode="r", allow_pickle=False)
            for name in cls._FILES
        }
        return cls(net, arrays)

    def nearest(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Edge, fraction and distance of the nearest road to metric points ``p`` (P, 2)."""
        from geoservice.network import compiled  # numba, imported on first use

        pieces = (self.pa, self.pb, self.p_edge, self.p_along)
        return compiled.grid_closest(
            np.ascontiguousarray(p, dtype=float), pieces, self.cells, self.grid, self.edge_len_m
        )


def _pieces(net: Network) -> tuple[np.ndarray, ...]:
    """Every road's segments cut into pieces of at most :data:`_PIECE_M` metres (so that
    a piece's points are never far from its midpoint): their ends, edge and metres along
    the edge at the start, with every edge's length."""
    x, y = net.to_metric(net.geom_xy[:, 0], net.geom_xy[:, 1])
    xy = np.column_stack([x, y])
    counts = np.diff(net.geom_offsets)
    edge_of_vertex = np.repeat(np.arange(net.n_edges), counts)
    # Each road once (its representative edge): routing reaches both directions from it.
    indexed = np.zeros(net.n_edges, dtype=bool)
    indexed[net.road_edges()] = True
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
    edge_len_m = np.bincount(seg_edge, weights=seg_len, minlength=net.n_edges)
    return (
        a[rep] + d * t0[:, None],
        a[rep] + d * t1[:, None],
        seg_edge[rep],
        along0[rep] + seg_len[rep] * t0,
        edge_len_m,
    )


def _grid(mid: np.ndarray, half: float) -> tuple[np.ndarray, np.ndarray]:
    """The grid over the pieces' midpoints (see :class:`SnapIndex`), and each one's cell.

    Cells of :data:`_CELL_M`, larger where the roads are sparse: at most
    :data:`_CELLS_PER_PIECE` cells a piece, so that empty land costs little memory."""
    if not len(mid):
        return np.array([0.0, 0.0, _CELL_M, 1, 1, 0.0]), np.empty(0, dtype=np.int64)
    lo, hi = mid.min(axis=0), mid.max(axis=0)
    extent = np.maximum(hi - lo, 1.0)
    size = max(_CELL_M, float(np.sqrt(extent[0] * extent[1] / (_CELLS_PER_PIECE * len(mid)))))
    nx, ny = (int(v) for v in np.floor(extent / size) + 1)
    ix = np.minimum(((mid[:, 0] - lo[0]) // size).astype(np.int64), nx - 1)
    iy = np.minimum(((mid[:, 1] - lo[1]) // size).astype(np.int64), ny - 1)
    return np.array([lo[0], lo[1], size, nx, ny, half]), ix * ny + iy


def snap(
    net: Network, lon: object, lat: object, *, with_points: bool = True, cache: bool = False
) -> RoadPoints:
    """Place points on their nearest road of ``net`` (exact, vectorised).

    Parameters
    ----------
    net : Network
    lon, lat : array-like
        WGS84 points.
    with_points : bool
        Also compute where each point meets its road (``lon``/``lat`` of the result; a
        loop over the points, so batch work skips it).
    cache : bool
        Keep the result with the network and hand the same object out for the same
        coordinates (the stations, which the routing and coverage engines both snap). Its
        arrays are read-only.

    Returns
    -------
    RoadPoints
    """
    lon, lat = _coords(lon, lat)
    index = net.snap_index()
    key = (lon.tobytes(), lat.tobytes(), with_points) if cache else None
    if key is not None and (hit := index.kept.get(key)) is not None:
        return hit
    far = index.vertices.gap_m(lon, lat) > FAR_M
    edge = np.zeros(len(lon), dtype=np.int64)  # edge 0 stands in for far points
    frac = np.zeros(len(lon))
    dist = np.empty(len(lon))
    if far.any():
        dist[far] = index.vertices.nearest_m(lon[far], lat[far])
    near = np.flatnonzero(~far)
    at = np.full((len(lon), 2), np.nan)
    if len(near):
        x, y = net.to_metric(lon[near], lat[near])
        edge[near], frac[near], dist[near] = index.nearest(np.column_stack([x, y]))
        if with_points:
            at[near] = net.points_at(edge[near], frac[near])
    points = RoadPoints(net, edge, frac, dist, far, at[:, 0], at[:, 1])
    if key is not None:
        for a in (edge, frac, dist, far, points.lon, points.lat):
            a.flags.writeable = False
        with index.kept_lock:
            if len(index.kept) >= _CACHE_SIZE:
                index.kept.pop(next(iter(index.kept)))
            index.kept[key] = points
    return points


# -- pieces of road ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Pieces:
    """Straight pieces of roads between points and nodes (or other points), flat arrays.

    Piece ``k`` runs from ``src[k]`` to ``dst[k]`` over a ``share[k]`` of road ``road[k]``'s
    length, in the road's direction (``forward``, from its ``u`` to its ``v``) or against
    it, from road fraction ``start[k]`` to ``end[k]``.
    """

    src: np.ndarray
    dst: np.ndarray
    road: np.ndarray
    share: np.ndarray
    forward: np.ndarray
    start: np.ndarray
    end: np.ndarray

    def __len__(self) -> int:
        return len(self.src)

    def take(self, idx: np.ndarray) -> Pieces:
        """The pieces ``idx`` (indices or a mask)."""
        return Pieces(*(getattr(self, f)[idx] for f in _PIECE_FIELDS))

    def weigh(self, fwd: np.ndarray, back: np.ndarray) -> np.ndarray:
        """Cost of each piece for per-road weights each way (``back`` inf: one-way)."""
        return self.share * np.where(self.forward, fwd[self.road], back[self.road])


_PIECE_FIELDS = ("src", "dst", "road", "share", "forward", "start", "end")


def ends(
    road: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    g: np.ndarray,
    two_way: np.ndarray,
    *,
    leaving: bool,
) -> Pieces:
    """The pieces between points at fraction ``g`` of roads ``road`` (from ``u`` to ``v``)
    and the roads' end nodes: the one partial-edge rule of every job.

    Leaving, a point reaches ``v`` forwards over ``1 - g`` of its road and, on a two-way
    road, ``u`` backwards over ``g``; reaching, it is reached from ``u`` forwards over
    ``g`` and from ``v`` backwards over ``1 - g``. Point ``k`` is ``src`` (leaving) or
    ``dst`` (reaching). The first ``len(g)`` pieces are the forward ones, point by point;
    the backward ones of the two-way roads follow.
    """
    k = np.arange(len(g))
    b = np.flatnonzero(two_way)
    ones, zeros = np.ones(len(k)), np.zeros(len(b))
    if leaving:
        src = np.concatenate([k, b])
        dst = np.concatenate([v, u[b]])
        share = np.concatenate([1 - g, g[b]])
        start = np.concatenate([g, g[b]])
        end = np.concatenate([ones, zeros])
    else:
        src = np.concatenate([u, v[b]])
        dst = np.concatenate([k, b])
        share = np.concatenate([g, 1 - g[b]])
        start = np.concatenate([np.zeros(len(k)), np.ones(len(b))])
        end = np.concatenate([g, g[b]])
    forward = np.concatenate([np.ones(len(k), dtype=bool), np.zeros(len(b), dtype=bool)])
    return Pieces(src, dst, np.concatenate([road, road[b]]), share, forward, start, end)


@dataclass(frozen=True)
class RoadPoints:
    """Points placed on a network's roads (:func:`snap`).

    Attributes
    ----------
    net : Network
    edge : ndarray (P,) int64
        The road's representative edge (:meth:`Network.road_edges`).
    frac : ndarray (P,)
        Fraction of its length from ``edge_u``.
    distance_m : ndarray (P,)
        From the point to the road (the one rule of the module docstring).
    far : ndarray (P,) bool
        Measured by great circle (beyond :data:`FAR_M`): ``edge`` and ``frac`` mean
        nothing there.
    lon, lat : ndarray (P,)
        Where the point meets its road (NaN unless asked for, and for far points).
    """

    net: Network
    edge: np.ndarray
    frac: np.ndarray
    distance_m: np.ndarray
    far: np.ndarray
    lon: np.ndarray
    lat: np.ndarray

    def __len__(self) -> int:
        return len(self.edge)

    @property
    def on_network(self) -> np.ndarray:
        """Within :data:`MAX_SNAP_M` of a road: the points any job routes."""
        return self.distance_m <= MAX_SNAP_M

    @property
    def access_s(self) -> np.ndarray:
        """Seconds between each point and its road (:func:`access_speed_ms`)."""
        return self.distance_m / access_speed_ms(self.net.mode)

    @property
    def twin(self) -> np.ndarray:
        """The edge of each point's road the other way (-1 on a one-way road)."""
        return self.net.edge_twin[self.edge]

    def take(self, idx: np.ndarray) -> RoadPoints:
        """The points ``idx`` (indices or a mask)."""
        return replace(
            self,
            edge=self.edge[idx],
            frac=self.frac[idx],
            distance_m=self.distance_m[idx],
            far=self.far[idx],
            lon=self.lon[idx],
            lat=self.lat[idx],
        )

    def leaving(self) -> Pieces:
        """From each point to the end nodes of its road (see :func:`ends`)."""
        return self._ends(leaving=True)

    def reaching(self) -> Pieces:
        """From the end nodes of each point's road to the point (see :func:`ends`)."""
        return self._ends(leaving=False)

    def _ends(self, *, leaving: bool) -> Pieces:
        net, e = self.net, self.edge
        return ends(e, net.edge_u[e], net.edge_v[e], self.frac, self.twin >= 0, leaving=leaving)

    def along(self, other: RoadPoints) -> Pieces:
        """Straight along one road from these points (``src``) to the points of ``other``
        on the same road (``dst``): forwards, or backwards on a two-way road. The way
        through the road's end nodes misses these (the few metres between two points on a
        long road). Vectorised as a sorted join of the roads."""
        order, keys = other._by_road
        lo = np.searchsorted(keys, self.edge, "left")
        counts = np.searchsorted(keys, self.edge, "right") - lo
        i = np.repeat(np.arange(len(self)), counts)
        starts = np.repeat(lo - (np.cumsum(counts) - counts), counts)
        j = order[np.arange(len(i)) + starts]
        fi, fj = self.frac[i], other.frac[j]
        ahead = fj >= fi
        ok = ahead | (self.twin[i] >= 0)
        i, j, fi, fj, ahead = i[ok], j[ok], fi[ok], fj[ok], ahead[ok]
        share = np.where(ahead, fj - fi, fi - fj)
        return Pieces(i, j, self.edge[i], share, ahead, fi, fj)

    @cached_property
    def _by_road(self) -> tuple[np.ndarray, np.ndarray]:
        """The points in the order of their roads, and those roads (for joins; kept with
        the stations, which every query joins against)."""
        order = np.argsort(self.edge, kind="stable")
        return order, self.edge[order]

    def cost(self, pieces: Pieces, weight: np.ndarray) -> np.ndarray:
        """Cost of ``pieces`` of these points' roads in an edge weight (``edge_time``,
        ``edge_length``): backward pieces run on the road's twin edge."""
        back = weight[np.maximum(self.net.edge_twin[pieces.road], 0)]
        return pieces.share * np.where(pieces.forward, weight[pieces.road], back)
