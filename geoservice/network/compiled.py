"""The road network's compiled kernels: where points meet their roads, pieces of edges
and whole routes.

An ``/api/nearest`` answer snaps one point and joins, per station, a piece of the origin's
road, whole edges along a shortest path and a piece of the station's road. In numpy each
of these is a dozen small calls on a few elements, and they were most of the answer's
time; these numba kernels do the same arithmetic in one call each. Lengths along a
lon/lat polyline are planar with the longitude scaled by cos φ of its first vertex
(enough to place a point at a fraction of an edge's length).

numba is imported with this module, which the network imports on first use
(:meth:`geoservice.nearest.NearestEngine.warm` has the kernels compiled, or loaded from
numba's disk cache, ahead of the first question).
"""

from __future__ import annotations

import math

import numba
import numpy as np

_RADIANS = math.pi / 180.0
#: Consecutive vertices closer than this (degrees, each axis) are one: joins repeat points.
_SAME = 1e-10


@numba.njit(cache=True, nogil=True)
def _cumlen(xy: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Cumulative length along the polyline ``xy[lo:hi]`` (0 first)."""
    scale = math.cos(xy[lo, 1] * _RADIANS)
    cum = np.empty(hi - lo)
    cum[0] = 0.0
    for i in range(lo + 1, hi):
        cum[i - lo] = cum[i - lo - 1] + math.hypot(
            (xy[i, 0] - xy[i - 1, 0]) * scale, xy[i, 1] - xy[i - 1, 1]
        )
    return cum


@numba.njit(cache=True, nogil=True)
def _point_at(xy: np.ndarray, lo: int, cum: np.ndarray, frac: float) -> tuple[float, float, int]:
    """The point at ``frac`` of the length of ``xy[lo:]`` (described by ``cum``), and the
    index (from ``lo``) of the segment it lies on."""
    target = frac * cum[-1]
    j = np.searchsorted(cum, target, side="right") - 1
    j = min(max(j, 0), len(cum) - 2)
    seg = cum[j + 1] - cum[j]
    t = 0.0 if seg == 0 else (target - cum[j]) / seg
    a, b = lo + j, lo + j + 1
    return xy[a, 0] + t * (xy[b, 0] - xy[a, 0]), xy[a, 1] + t * (xy[b, 1] - xy[a, 1]), j


@numba.njit(cache=True, nogil=True)
def _piece(
    out: np.ndarray, m: int, xy: np.ndarray, lo: int, hi: int, f0: float, f1: float, rev: bool
) -> int:
    """Write the part of ``xy[lo:hi]`` between fractions ``f0 <= f1`` of its length into
    ``out`` from row ``m`` (backwards when ``rev``); return the next free row."""
    cum = _cumlen(xy, lo, hi)
    x0, y0, j0 = _point_at(xy, lo, cum, f0)
    x1, y1, j1 = _point_at(xy, lo, cum, f1)
    count = max(j1 - j0, 0) + 2
    for k in range(count):
        r = m + (count - 1 - k if rev else k)
        if k == 0:
            out[r, 0], out[r, 1] = x0, y0
        elif k == count - 1:
            out[r, 0], out[r, 1] = x1, y1
        else:
            out[r, 0], out[r, 1] = xy[lo + j0 + k, 0], xy[lo + j0 + k, 1]
    return m + count


@numba.njit(cache=True, nogil=True)
def sub_line(xy: np.ndarray, f0: float, f1: float) -> np.ndarray:
    """The part of the polyline ``xy`` (V, 2) between fractions ``f0 <= f1`` of its length."""
    out = np.empty((len(xy) + 2, 2))
    m = _piece(out, 0, xy, 0, len(xy), f0, f1, False)
    return out[:m].copy()


@numba.njit(cache=True, nogil=True)
def points_at(
    geom_xy: np.ndarray, offsets: np.ndarray, edge: np.ndarray, frac: np.ndarray
) -> np.ndarray:
    """Lon/lat (P, 2) at fraction ``frac[i]`` along edge ``edge[i]``'s polyline."""
    out = np.empty((len(edge), 2))
    for i in range(len(edge)):
        lo, hi = offsets[edge[i]], offsets[edge[i] + 1]
        x, y, _ = _point_at(geom_xy, lo, _cumlen(geom_xy, lo, hi), frac[i])
        out[i, 0], out[i, 1] = x, y
    return out


@numba.njit(cache=True, nogil=True)
def grid_closest(
    p: np.ndarray,
    pieces: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    cells: np.ndarray,
    grid: np.ndarray,
    edge_len: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each metric point ``p[i]``, the closest piece of road of a snapping grid
    (:class:`~geoservice.network.points.SnapIndex`): its edge, the fraction along the edge
    and the distance.

    The cells are searched ring by ring from the point's; a piece lies within half the
    longest piece of its midpoint's cell, so once a ring's cells are farther than the
    closest piece found by more than that, no farther piece can be closer, nor as close
    (ties: :func:`_closest_in`).
    """
    x0, y0, size, nx, ny, half = grid[0], grid[1], grid[2], int(grid[3]), int(grid[4]), grid[5]
    n = len(p)
    edge = np.empty(n, dtype=np.int64)
    frac = np.empty(n)
    dist = np.empty(n)
    for i in range(n):
        cx = math.floor((p[i, 0] - x0) / size)
        cy = math.floor((p[i, 1] - y0) / size)
        # Rings wholly outside the grid hold nothing: start at the first that is not.
        r = max(0, -cx, cx - (nx - 1), -cy, cy - (ny - 1))
        last = max(cx, nx - 1 - cx, cy, ny - 1 - cy)  # the ring that holds every cell
        best = (-1, np.inf, 0.0, np.inf)
        while r <= last and not (best[0] >= 0 and (r - 1) * size - half > best[1]):
            for x in range(max(cx - r, 0), min(cx + r, nx - 1) + 1):
                # The ring's west and east columns whole; between them its two ends.
                step = 1 if x in (cx - r, cx + r) else 2 * r
                for y in range(cy - r, cy + r + 1, step):
                    if 0 <= y < ny:
                        c = x * ny + y
                        best = _closest_in(p[i], pieces, cells[c], cells[c + 1], best)
            r += 1
        q, d, along, _ = best
        edge[i] = pieces[2][q] if q >= 0 else 0
        dist[i] = d
        total = edge_len[edge[i]]
        frac[i] = min(max(along / total, 0.0), 1.0) if total > 0 else 0.0
    return edge, frac, dist


@numba.njit(cache=True, nogil=True, inline="always")
def _closest_in(
    point: np.ndarray,
    pieces: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    start: int,
    stop: int,
    best: tuple[int, float, float, float],
) -> tuple[int, float, float, float]:
    """The closest of ``best`` (piece, distance, metres along its edge, distance to the
    piece's midpoint) and the pieces ``start:stop``. Of equally close pieces (a point
    nearest to a node is as near to every road that meets there) the one whose midpoint
    is nearer wins, then the lower piece: the same whatever order the cells are read in."""
    pa, pb, _, p_along = pieces
    for q in range(start, stop):
        ax, ay = pa[q, 0], pa[q, 1]
        bx, by = pb[q, 0] - ax, pb[q, 1] - ay
        denom = bx * bx + by * by
        t = ((point[0] - ax) * bx + (point[1] - ay) * by) / (denom if denom > 0 else 1.0)
        t = min(max(t, 0.0), 1.0)
        d = math.hypot(point[0] - (ax + bx * t), point[1] - (ay + by * t))
        if d > best[1]:
            continue
        mid = math.hypot(point[0] - (ax + bx / 2), point[1] - (ay + by / 2))
        if d < best[1] or mid < best[3] or (mid == best[3] and q < best[0]):
            best = (q, d, p_along[q] + math.sqrt(denom) * t, mid)
    return best


@numba.njit(cache=True, nogil=True)
def route(
    graph: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int],
    slots: tuple[np.ndarray, np.ndarray],
    nodes: np.ndarray,
    via: int,
    origin: tuple[int, float, float, float],
    station: tuple[int, float],
) -> tuple[np.ndarray, float]:
    """A route's polyline from the origin to where the station meets its road, and its
    length along the roads in metres.

    ``graph`` is (edge_u, edge_v, edge_length, geom_xy, geom_offsets, n_nodes),
    ``slots`` the CSR's sorted keys u·n + v and their edges
    (:meth:`Network.edge_between`), ``nodes`` the road nodes from ``via`` to the
    station's road (the labels' next nodes or a search's; ignored when ``via < 0``),
    ``via`` the node the origin leaves its road by (-1 / -2: straight along it forwards /
    backwards to a station on the same road), ``origin`` its (edge, fraction, lon, lat),
    ``station`` its (edge, fraction). Consecutive repeated points are dropped.
    """
    edge_u, edge_v, edge_length, geom_xy, offsets, n = graph
    key, key_edge = slots
    e, f, x, y = origin
    es, fs = station
    edges = np.empty(max(len(nodes) - 1, 0) if via >= 0 else 0, dtype=np.int64)
    rows = 3 + offsets[e + 1] - offsets[e] + offsets[es + 1] - offsets[es]
    for i in range(len(edges)):
        edges[i] = key_edge[np.searchsorted(key, nodes[i] * n + nodes[i + 1])]
        rows += offsets[edges[i] + 1] - offsets[edges[i]]
    out = np.empty((rows + 2, 2))
    out[0, 0], out[0, 1] = x, y
    lo, hi = offsets[e], offsets[e + 1]
    if via < 0:
        if via == -1:
            m = _piece(out, 1, geom_xy, lo, hi, f, fs, False)
        else:
            m = _piece(out, 1, geom_xy, lo, hi, fs, f, True)
        length = abs(fs - f) * edge_length[e]
    else:
        if via == edge_v[e]:
            m = _piece(out, 1, geom_xy, lo, hi, f, 1.0, False)
            length = (1 - f) * edge_length[e]
        else:
            m = _piece(out, 1, geom_xy, lo, hi, 0.0, f, True)
            length = f * edge_length[e]
        for pe in edges:  # whole edges, lengths summed in path order
            for k in range(offsets[pe], offsets[pe + 1]):
                out[m, 0], out[m, 1] = geom_xy[k, 0], geom_xy[k, 1]
                m += 1
            length += edge_length[pe]
        lo, hi = offsets[es], offsets[es + 1]
        if nodes[-1] == edge_u[es]:
            m = _piece(out, m, geom_xy, lo, hi, 0.0, fs, False)
            length += fs * edge_length[es]
        else:
            m = _piece(out, m, geom_xy, lo, hi, fs, 1.0, True)
            length += (1 - fs) * edge_length[es]
    kept = 1
    px, py = out[0, 0], out[0, 1]
    for i in range(1, m):
        qx, qy = out[i, 0], out[i, 1]
        if abs(qx - px) > _SAME or abs(qy - py) > _SAME:
            out[kept, 0], out[kept, 1] = qx, qy
            kept += 1
        px, py = qx, qy
    return out[:kept].copy(), length
