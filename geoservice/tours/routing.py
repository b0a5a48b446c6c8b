"""Shortest paths between arbitrary points on a road network: matrices and leg geometry.

The planner's routing layer (framework-free). Given a :class:`~geoservice.network.Network`
and a few hundred WGS84 points (stops and a depot):

1. Every point is snapped once onto its nearest road (:meth:`Network.snap`).
2. Each point joins the network by pieces of its road, with no graph built per request:
   it leaves by the pieces to its road's end nodes (:meth:`RoadPoints.leaving`: the
   partial edge time, both ways when the road is two-way), is reached by the pieces from
   them (:meth:`RoadPoints.reaching`) and reaches the points on its own road straight
   along it (:meth:`RoadPoints.along`: forwards, or backwards on a two-way road). No path
   runs through another point.
3. The travel times and the road metres along the same paths come from the network's
   contraction hierarchy (:func:`geoservice.network.hierarchy.table`: each point climbs
   it once backwards into buckets and once forwards reading them). Until the hierarchy
   is built (once per network, by a background thread the first matrix starts), one
   compiled Dijkstra per point (:func:`geoservice.network.paths.between`) answers: it
   stops once every other point is settled and touches only the nodes it reached. Both
   are exact; neither keeps a row per point.
4. A leg runs its row's Dijkstra again up to its target and follows the predecessors
   over the stored edge polylines.

A point's own way to its road (``snap distance``) is a lane the network does not know,
timed at the mode's access speed (:func:`~geoservice.network.points.access_speed_ms`: for
the caravan's drive network, :data:`~geoservice.network.points.LANE_KMH`), and it is part
of every leg's time and distance. Points farther than
:data:`~geoservice.network.points.MAX_SNAP_M` from every road are not routed at all.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from geoservice.network import Network, sub_coords
from geoservice.network.graph import MIN_WEIGHT
from geoservice.network.points import Pieces, RoadPoints

#: Threads computing a matrix's rows, and the fewest rows worth a thread of their own.
_THREADS = max(1, min(4, os.cpu_count() or 1))
_ROWS_PER_THREAD = 8


@dataclass
class _Pieces:
    """The pieces a request joins its points by (:class:`Pieces` of the routed points,
    in the order the search numbers them): seed ``k`` is ``leave`` piece ``k``, arc ``a``
    ``reach`` piece ``a``, along piece ``k`` ``along`` piece ``k``."""

    leave: Pieces
    reach: Pieces
    along: Pieces


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
    distance_m : ndarray (P, P)
        Metres along the same fastest paths, access lanes included (``inf`` and 0 alike).
    """

    net: Network
    lon: np.ndarray
    lat: np.ndarray
    snapped: np.ndarray
    snap_m: np.ndarray
    on_network: np.ndarray
    time_s: np.ndarray
    distance_m: np.ndarray
    _rows: np.ndarray  # point → its index among the routed points (-1 off the network)
    _pieces: _Pieces | None  # None when no point is routed
    _inputs: tuple = ()  # the search's arguments (paths.between), for the legs

    @property
    def size(self) -> int:
        return len(self.lon)

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
        pieces = self._pieces
        if pieces is None or not np.isfinite(self.time_s[i, j]):  # no point routed
            msg = f"point {j} is not reachable from point {i}"
            raise ValueError(msg)
        parts = [start, self.snapped[i : i + 1]]
        for e, a, b in self._route(pieces, int(self._rows[i]), int(self._rows[j])):
            coords = self.net.edge_coords(e)
            parts.append(sub_coords(coords, a, b) if a <= b else sub_coords(coords, b, a)[::-1])
        parts += [self.snapped[j : j + 1], end]
        line = np.vstack(parts)
        keep = np.ones(len(line), dtype=bool)
        keep[1:] = np.any(np.abs(np.diff(line, axis=0)) > 1e-10, axis=1)
        line = line[keep]
        if len(line) == 1:
            line = np.vstack([line, line])
        return Leg(line, float(self.distance_m[i, j]), float(self.time_s[i, j]))

    def _route(self, pieces: _Pieces, r: int, c: int) -> list[tuple[int, float, float]]:
        """The path from routed point ``r`` to ``c`` as (edge, from, to fraction) parts:
        the matrix's own search again, stopped at ``c``."""
        from geoservice.network import paths

        graph, seeds, arcs, along = self._inputs
        nodes, first, last = paths.path(graph, seeds, arcs, along, r, c)
        if last < 0:  # straight along the road
            return [_part(pieces.along, -1 - last)]
        edges = self.net.edge_between(nodes[:-1], nodes[1:]).tolist()
        return [
            _part(pieces.leave, first),
            *((e, 0.0, 1.0) for e in edges),
            _part(pieces.reach, last),
        ]


def _part(pieces: Pieces, k: int) -> tuple[int, float, float]:
    """Piece ``k`` as (edge, from, to fraction): drawn on its road's representative edge,
    reversed when it runs against it (from > to)."""
    return int(pieces.road[k]), float(pieces.start[k]), float(pieces.end[k])


def travel_matrix(net: Network, lon: ArrayLike, lat: ArrayLike) -> TravelMatrix:
    """Snap ``lon``/``lat`` onto ``net`` and compute all travel times and distances.

    Parameters
    ----------
    net : Network
        The road network (the ``drive`` network for the caravan).
    lon, lat : array-like
        WGS84 points; at most a few hundred (one search each).

    Returns
    -------
    TravelMatrix
    """
    lons = np.atleast_1d(np.asarray(lon, dtype=float))
    lats = np.atleast_1d(np.asarray(lat, dtype=float))
    points = net.snap(lons, lats)
    return snapped_matrix(points, lons, lats)


def snapped_matrix(points: RoadPoints, lon: np.ndarray, lat: np.ndarray) -> TravelMatrix:
    """The travel matrix of points already snapped (:func:`travel_matrix`'s search)."""
    net = points.net
    p = len(points)
    on_network = points.on_network
    routed = np.flatnonzero(on_network)
    rows = np.full(p, -1, dtype=np.int64)
    rows[routed] = np.arange(len(routed))
    time_s = np.full((p, p), np.inf)
    distance = np.full((p, p), np.inf)
    pieces: _Pieces | None = None
    inputs: tuple = ()
    if len(routed):
        from geoservice.network import hierarchy, paths  # numba, imported on first use

        on = points.take(routed)
        r = len(on)
        pieces, inputs = _search_input(on)
        _, seeds, arcs, along = inputs
        ch = hierarchy.of(net)
        if ch is not None:
            seconds, metres = hierarchy.table(ch.up, seeds, _by_point(arcs, r), along)
        else:  # until the network's hierarchy is built
            seconds, metres = _rows(paths.between, inputs, len(routed))
        ix = np.ix_(routed, routed)
        access_s, access_m = on.access_s, on.distance_m
        time_s[ix] = seconds + access_s[:, None] + access_s[None, :]
        distance[ix] = metres + access_m[:, None] + access_m[None, :]
    np.fill_diagonal(time_s, 0.0)
    np.fill_diagonal(distance, 0.0)
    return TravelMatrix(
        net=net,
        lon=lon,
        lat=lat,
        snapped=np.column_stack([points.lon, points.lat]),
        snap_m=points.distance_m,
        on_network=on_network,
        time_s=time_s,
        distance_m=distance,
        _rows=rows,
        _pieces=pieces,
        _inputs=inputs,
    )


def _rows(
    kernel: Callable[..., tuple[np.ndarray, np.ndarray]], inputs: tuple, r: int
) -> tuple[np.ndarray, np.ndarray]:
    """All ``r`` rows of :func:`geoservice.network.paths.between`, shared out among
    threads (the kernel runs without the GIL; each search is independent)."""
    parts = max(1, min(_THREADS, r // _ROWS_PER_THREAD))
    bounds = np.linspace(0, r, parts + 1).astype(int).tolist()
    if parts == 1:
        return kernel(*inputs, 0, r)
    with ThreadPoolExecutor(parts, thread_name_prefix="matrix") as pool:
        done = list(pool.map(lambda lo, hi: kernel(*inputs, lo, hi), bounds[:-1], bounds[1:]))
    return np.vstack([t for t, _ in done]), np.vstack([m for _, m in done])


def _by_point(arcs: tuple, r: int) -> tuple:
    """The arcs into the points (node, point, seconds, metres), as the hierarchy's
    backward climbs take them: (start, node, seconds, metres) grouped by point."""
    node, point, seconds, metres = arcs
    order = np.argsort(point, kind="stable")
    start = np.searchsorted(point[order], np.arange(r + 1)).astype(np.int64)
    return start, node[order], seconds[order], metres[order]


def _search_input(on: RoadPoints) -> tuple[_Pieces, tuple]:
    """The pieces joining the routed points ``on`` to the network, numbered as
    :func:`geoservice.network.paths.between` takes them, and its arguments."""
    net = on.net
    leave, reach = on.leaving(), on.reaching()
    along = on.along(on)
    along = along.take(along.src != along.dst)
    # Seeds and along pieces grouped by their point, arcs by their node (stable: on a tie
    # the forward piece, listed first, wins as before).
    leave = leave.take(np.argsort(leave.src, kind="stable"))
    along = along.take(np.argsort(along.src, kind="stable"))
    reach = reach.take(np.argsort(reach.src, kind="stable"))
    csr = net.matrix()
    graph = (csr.indptr, csr.indices, csr.data, net.edge_length[net.csr_edge()])
    r = len(on)

    def costs(pieces: Pieces) -> tuple[np.ndarray, np.ndarray]:
        # The search's costs as the network's own edges have them: none below MIN_WEIGHT.
        seconds = np.maximum(on.cost(pieces, net.edge_time), MIN_WEIGHT)
        return seconds, on.cost(pieces, net.edge_length)

    def start(src: np.ndarray) -> np.ndarray:
        return np.searchsorted(src, np.arange(r + 1)).astype(np.int64)

    seeds = (start(leave.src), leave.dst.astype(np.int64), *costs(leave))
    arcs = (reach.src.astype(np.int64), reach.dst.astype(np.int64), *costs(reach))
    on_road = (start(along.src), along.dst.astype(np.int64), *costs(along))
    return _Pieces(leave, reach, along), (graph, seeds, arcs, on_road)
