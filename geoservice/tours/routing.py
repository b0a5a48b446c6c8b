"""Shortest paths between arbitrary points on a road network: matrices and leg geometry.

The planner's routing layer (framework-free). Given a :class:`~geoservice.network.Network`
and a few hundred WGS84 points (stops and a depot):

1. Every point is snapped once onto its nearest road (:meth:`Network.snap`).
2. Each point joins the graph as two virtual nodes: an *exit* node with edges to the ends
   of its road (the pieces :meth:`RoadPoints.leaving` gives: the partial edge time, both
   ways when the road is two-way) and an *entry* node reached from them
   (:meth:`RoadPoints.reaching`). Exits have no incoming and entries no outgoing edges, so
   no path ever runs through another point. Two points on the same road also get a direct
   edge along it (:meth:`RoadPoints.along`: forwards, or backwards on a two-way road).
3. One :func:`scipy.sparse.csgraph.dijkstra` call with every exit node as a source gives
   the travel time from each point to every other point. Road lengths along the same
   shortest paths are summed on demand by walking all predecessor chains at once
   (vectorised), or per leg.
4. Leg geometry follows the predecessors over the stored edge polylines.

A point's own way to its road (``snap distance``) is a lane the network does not know,
timed at the mode's access speed (:func:`~geoservice.network.points.access_speed_ms`: for
the caravan's drive network, :data:`~geoservice.network.points.LANE_KMH`), and it is part
of every leg's time and distance. Points farther than
:data:`~geoservice.network.points.MAX_SNAP_M` from every road are not routed at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike
from scipy.sparse import csgraph

from geoservice.network import Network, sub_coords
from geoservice.network.graph import lightest
from geoservice.network.points import Pieces, RoadPoints

#: Smallest edge cost: csgraph drops zero entries of a sparse matrix.
_EPS = 1e-6


@dataclass
class _Graph:
    """The road graph with every point's exit and entry node, as a CSR matrix with
    per-slot length and geometry (``edge`` polyline from fraction ``f0`` to ``f1``,
    reversed when ``f0 > f1``)."""

    matrix: sp.csr_matrix
    keys: np.ndarray  # row * size + col of every CSR slot, ascending
    length: np.ndarray
    edge: np.ndarray
    f0: np.ndarray
    f1: np.ndarray

    def slots(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """CSR slot index of each edge ``rows[i] → cols[i]`` (all must exist)."""
        size = self.matrix.shape[0]
        return np.searchsorted(self.keys, rows.astype(np.int64) * size + cols)


@dataclass
class Leg:
    """One drive between two points: road-following lon/lat polyline, metres, seconds."""

    coords: np.ndarray
    distance_m: float
    time_s: float


@dataclass
class TravelMatrix:
    """Travel times and distances between snapped points, with leg geometry on demand.

    Attributes
    ----------
    lon, lat : ndarray (P,)
        The points as given (WGS84).
    snapped : ndarray (P, 2)
        Where each point meets its road.
    snap_m : ndarray (P,)
        Distance from each point to its road (metres; :class:`RoadPoints` ``distance_m``).
    on_network : ndarray (P,) bool
        Within ``MAX_SNAP_M`` of a road; the others have infinite rows and columns.
    time_s : ndarray (P, P)
        Seconds from row point to column point, including both access lanes; ``inf`` when
        unreachable; 0 on the diagonal.
    """

    net: Network
    lon: np.ndarray
    lat: np.ndarray
    snapped: np.ndarray
    snap_m: np.ndarray
    on_network: np.ndarray
    time_s: np.ndarray
    _graph: _Graph | None
    _rows: np.ndarray  # point → row of the Dijkstra result (-1 off the network)
    _pred: np.ndarray  # (routed points, graph size) predecessors
    _distance: np.ndarray | None = None

    @property
    def size(self) -> int:
        return len(self.lon)

    @property
    def distance_m(self) -> np.ndarray:
        """(P, P) metres along the fastest paths (incl. access lanes), computed on first
        use: planning needs only the times, and leg distances come with :meth:`leg`."""
        if self._distance is None:
            p = self.size
            out = np.full((p, p), np.inf)
            routed = np.flatnonzero(self.on_network)
            if self._graph is not None:  # some point is routed
                n = self.net.n_nodes
                road = _path_lengths(self._graph, self._pred, n + 2 * routed, n + 2 * routed + 1)
                access = self.snap_m[routed]
                out[np.ix_(routed, routed)] = road + access[:, None] + access[None, :]
            np.fill_diagonal(out, 0.0)
            self._distance = out
        return self._distance

    def reachable(self, hub: int) -> np.ndarray:
        """Points reachable from point ``hub`` and back (``hub`` itself included)."""
        ok = np.isfinite(self.time_s[hub]) & np.isfinite(self.time_s[:, hub])
        return ok & self.on_network & bool(self.on_network[hub])

    def leg(self, i: int, j: int) -> Leg:
        """The fastest drive from point ``i`` to point ``j``, from door to door.

        Raises
        ------
        ValueError
            When ``j`` cannot be reached from ``i``.
        """
        start = np.array([[self.lon[i], self.lat[i]]])
        end = np.array([[self.lon[j], self.lat[j]]])
        if i == j:  # the diagonal is 0, on the network or not
            return Leg(np.vstack([start, end]), 0.0, 0.0)
        g = self._graph
        if g is None or not np.isfinite(self.time_s[i, j]):  # no graph: no point routed
            msg = f"point {j} is not reachable from point {i}"
            raise ValueError(msg)
        n = self.net.n_nodes
        row = self._rows[i]
        source, target = n + 2 * i, n + 2 * j + 1
        chain = [target]
        while chain[-1] != source and len(chain) <= len(self._pred[row]):
            chain.append(int(self._pred[row, chain[-1]]))
        chain.reverse()
        slots = g.slots(np.array(chain[:-1]), np.array(chain[1:]))
        parts = [start, self.snapped[i : i + 1]]
        road_m = float(g.length[slots].sum())
        for s in slots.tolist():
            coords = self.net.edge_coords(int(g.edge[s]))
            a, b = float(g.f0[s]), float(g.f1[s])
            parts.append(sub_coords(coords, a, b) if a <= b else sub_coords(coords, b, a)[::-1])
        parts += [self.snapped[j : j + 1], end]
        line = np.vstack(parts)
        keep = np.ones(len(line), dtype=bool)
        keep[1:] = np.any(np.abs(np.diff(line, axis=0)) > 1e-10, axis=1)
        line = line[keep]
        if len(line) == 1:
            line = np.vstack([line, line])
        distance = road_m + float(self.snap_m[i] + self.snap_m[j])
        return Leg(line, distance, float(self.time_s[i, j]))


def travel_matrix(net: Network, lon: ArrayLike, lat: ArrayLike) -> TravelMatrix:
    """Snap ``lon``/``lat`` onto ``net`` and compute all travel times and distances.

    Parameters
    ----------
    net : Network
        The road network (the ``drive`` network for the caravan).
    lon, lat : array-like
        WGS84 points; at most a few hundred (one Dijkstra source each).

    Returns
    -------
    TravelMatrix
    """
    lons = np.atleast_1d(np.asarray(lon, dtype=float))
    lats = np.atleast_1d(np.asarray(lat, dtype=float))
    p = len(lons)
    points = net.snap(lons, lats)
    on_network = points.on_network
    snapped = np.column_stack([points.lon, points.lat])
    time_s = np.full((p, p), np.inf)
    rows = np.full(p, -1, dtype=np.int64)
    routed = np.flatnonzero(on_network)
    graph = None
    pred = np.empty((0, 0), dtype=np.int32)
    if len(routed):
        graph = _augment(points, routed)
        n = net.n_nodes
        entries = n + 2 * routed + 1
        dist, pred = csgraph.dijkstra(
            graph.matrix, directed=True, indices=n + 2 * routed, return_predecessors=True
        )
        rows[routed] = np.arange(len(routed))
        access = points.access_s[routed]
        time_s[np.ix_(routed, routed)] = dist[:, entries] + access[:, None] + access[None, :]
    np.fill_diagonal(time_s, 0.0)
    return TravelMatrix(
        net=net,
        lon=lons,
        lat=lats,
        snapped=snapped,
        snap_m=points.distance_m,
        on_network=on_network,
        time_s=time_s,
        _graph=graph,
        _rows=rows,
        _pred=pred,
    )


def _augment(points: RoadPoints, routed: np.ndarray) -> _Graph:
    """The network's CSR graph plus an exit node ``n + 2i`` and an entry node ``n + 2i + 1``
    for every routed point ``i`` (indices over all points, so lookups need no remapping)."""
    net = points.net
    n = net.n_nodes
    size = n + 2 * (int(routed.max()) + 1)
    base = net.matrix().tocoo()
    base_edge = net.csr_edge()
    # CSR order equals COO order here, so csr_edge lines up with base.row/base.col.
    parts = {
        "row": [base.row.astype(np.int64)],
        "col": [base.col.astype(np.int64)],
        "time": [base.data],
        "length": [net.edge_length[base_edge]],
        "edge": [base_edge],
        "f0": [np.zeros(len(base_edge))],
        "f1": [np.ones(len(base_edge))],
    }
    on = points.take(routed)
    out, inn = n + 2 * routed, n + 2 * routed + 1

    def add(row: np.ndarray, col: np.ndarray, pieces: Pieces) -> None:
        # A piece runs on its road's edge from f0 to f1 (drawn reversed when f0 > f1).
        values = (
            row,
            col,
            on.cost(pieces, net.edge_time),
            on.cost(pieces, net.edge_length),
            pieces.road,
            pieces.start,
            pieces.end,
        )
        for key, value in zip(parts, values, strict=True):
            parts[key].append(np.asarray(value))

    leave, reach = on.leaving(), on.reaching()
    add(out[leave.src], leave.dst, leave)
    add(reach.src, inn[reach.dst], reach)
    along = on.along(on)
    along = along.take(along.src != along.dst)
    add(out[along.src], inn[along.dst], along)
    row = np.concatenate(parts["row"])
    col = np.concatenate(parts["col"])
    time = np.maximum(np.concatenate(parts["time"]), _EPS)
    keep = lightest(row, col, time)  # the fastest of parallel entries
    row, col = row[keep], col[keep]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(row, minlength=size))])
    matrix = sp.csr_matrix((time[keep], col, indptr), shape=(size, size))
    return _Graph(
        matrix=matrix,
        keys=row * size + col,
        length=np.concatenate(parts["length"])[keep],
        edge=np.concatenate(parts["edge"])[keep],
        f0=np.concatenate(parts["f0"])[keep],
        f1=np.concatenate(parts["f1"])[keep],
    )


def _path_lengths(
    graph: _Graph, pred: np.ndarray, sources: np.ndarray, entries: np.ndarray
) -> np.ndarray:
    """Road metres along every shortest path ``sources[r] → entries[c]``: all predecessor
    chains are walked back at once, one vectorised step per edge of the longest path."""
    s = len(sources)
    # Every (source, entry) pair, row-major.
    r = np.repeat(np.arange(s), len(entries))
    c = np.tile(np.arange(len(entries)), s)
    total = np.zeros(len(r))
    cur = entries[c].astype(np.int64)
    prev = pred[r, cur].astype(np.int64)
    active = np.flatnonzero(prev >= 0)
    total[prev < 0] = np.inf
    limit = pred.shape[1]
    for _ in range(limit):
        if not len(active):
            break
        cur_a, prev_a = cur[active], prev[active]
        total[active] += graph.length[graph.slots(prev_a, cur_a)]
        cur[active] = prev_a
        done = prev_a == sources[r[active]]
        active = active[~done]
        prev[active] = pred[r[active], cur[active]]
    return total.reshape(s, len(entries))
