"""Shortest paths between points on the roads: one Dijkstra per point that stops once every
other point is settled, in compiled code.

The caravan's travel matrix (:func:`geoservice.tours.routing.travel_matrix`) needs the
fastest drive between every two of a few hundred points. Each point joins the search as
pieces of its road (:class:`~geoservice.network.points.RoadPoints`): it *leaves* by the
pieces to its road's end nodes (the seeds of its own search), is *reached* by the pieces
from them (arcs into a virtual target node ``n + point``), and reaches the points on its
own road straight along it. Targets are settled but never expanded, so no path runs
through another point.

A search stops once all its targets are settled (or nothing more can be reached), and
touches only the nodes it reached: per-node state carries the search's stamp instead of
being reset, so a search costs what it settles, not the network's size, and a request
holds O(nodes) of state whatever the number of points (no row per point). It gives the
times and the road metres summed along the same paths (updated with the time: the same tie
rule). A leg's path is the same search run again up to its target (:func:`path`).

Where the points are spread over the network, each search still settles most of it before
its farthest point (bench/bench_matrix.py: 83 % of the Miyun drive network for the
caravan's 50-stop sample), so the network's contraction hierarchy
(:mod:`geoservice.network.hierarchy`) answers tables once it is built; these searches
answer until then, and draw the legs.
"""

from __future__ import annotations

import numba
import numpy as np

#: An index as numba hands it over (numpy integers inside the kernels).
_Int = int | np.integer
#: Four arrays (the kernels' inputs: see :func:`between`).
_Quad = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


#: A search's state: per node its seconds, metres, predecessor, stamp (reached in search
#: ``gen``), settled (in search ``gen``) and heap slot; the heap's keys and nodes.
_State = tuple[
    np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray
]


@numba.njit(cache=True, nogil=True)
def _search(ctx: tuple, state: _State, r: _Int, stop: _Int) -> None:  # noqa: C901
    """Dijkstra from point ``r`` until every other point is settled, or point ``stop``
    (when >= 0), or nothing more can be reached; ``state`` is stamped ``r + 1``.

    Every offer (the point's own pieces, then a node's edges and its arcs into points)
    goes through the one relaxation below, into a 4-ary heap with decrease-key ordered by
    (seconds, node): a total order, so a search stopped early settles the same nodes with
    the same predecessors up to there.

    One flat loop, over the complexity the house allows: split into helpers (relax, sift
    up, pop), it took four times as long (numba counts references on every array a call
    passes, once per relaxation; inlining did not help).
    """
    graph, seeds, arcs, along, first_arc = ctx
    indptr, indices, seconds, slot_m = graph
    seed_start, seed_node, seed_s, seed_m = seeds
    arc_node, arc_point, arc_s, arc_m = arcs
    along_start, along_point, along_s, along_m = along
    dist, length, pred, stamp, done, slot, heap_key, heap_node = state
    n = len(indptr) - 1
    gen = r + 1
    size = 0
    left = len(seed_start) - 2  # the other points
    y, t, m = -1, 0.0, 0.0  # -1: the point itself, whose offers are its own pieces
    n_seeds = seed_start[r + 1] - seed_start[r]
    n_offers = n_seeds + along_start[r + 1] - along_start[r]
    while True:
        # -- the offers of y, one at a time (i counts them); a point offers nothing --
        i = 0
        a = first_arc[y] if 0 <= y < n else -1
        while y < n:
            if y < 0 and i < n_offers:
                k = seed_start[r] + i  # seed k (pred -1 - k), then along piece k
                if i < n_seeds:
                    z, tz, mz, pz = seed_node[k], seed_s[k], seed_m[k], -1 - k
                else:
                    k = along_start[r] + i - n_seeds
                    z, tz, mz, pz = n + along_point[k], along_s[k], along_m[k], -1 - k
            elif y >= 0 and i < indptr[y + 1] - indptr[y]:
                e = indptr[y] + i
                z, tz, mz, pz = indices[e], t + seconds[e], m + slot_m[e], y
            elif 0 <= a < len(arc_node) and arc_node[a] == y:
                # arc a (pred a); none into the point's own entry: it never stays settled
                z, tz, mz, pz = n + arc_point[a], t + arc_s[a], m + arc_m[a], a
                a += 1
                if z == n + r:
                    continue
            else:
                break
            i += 1
            # -- relax z: a new node or a faster way (the first offer wins a tie) --
            if done[z] == gen:
                continue
            if stamp[z] != gen:
                stamp[z] = gen
                h = size
                size += 1
            elif tz < dist[z]:
                h = slot[z]
            else:
                continue
            dist[z], length[z], pred[z] = tz, mz, pz
            while h > 0:  # sift up
                up = (h - 1) >> 2
                if heap_key[up] < tz or (heap_key[up] == tz and heap_node[up] < z):
                    break
                heap_key[h], heap_node[h] = heap_key[up], heap_node[up]
                slot[heap_node[h]] = h
                h = up
            heap_key[h], heap_node[h], slot[z] = tz, z, h
        # -- settle the first node of the heap --
        if size == 0 or left == 0:
            return
        y = heap_node[0]
        t, m = dist[y], length[y]
        done[y] = gen
        size -= 1
        tz, z = heap_key[size], heap_node[size]  # the last slot's node sifts down
        h = 0
        while 4 * h + 1 < size:
            best = 4 * h + 1
            for c in range(best + 1, min(best + 4, size)):
                if heap_key[c] < heap_key[best] or (
                    heap_key[c] == heap_key[best] and heap_node[c] < heap_node[best]
                ):
                    best = c
            if tz < heap_key[best] or (tz == heap_key[best] and z < heap_node[best]):
                break
            heap_key[h], heap_node[h] = heap_key[best], heap_node[best]
            slot[heap_node[h]] = h
            h = best
        heap_key[h], heap_node[h], slot[z] = tz, z, h
        if y >= n:  # a point: settled, never passed through
            if y - n == stop:
                return
            left -= 1


@numba.njit(cache=True, nogil=True)
def _prepare(ctx_in: tuple) -> tuple[tuple, _State]:
    """The search's context (with every node's first arc) and fresh state."""
    graph, seeds, arcs, along = ctx_in
    n = len(graph[0]) - 1
    size = n + len(seeds[0]) - 1
    first_arc = np.full(n, -1, dtype=np.int64)
    arc_node = arcs[0]
    for a in range(len(arc_node) - 1, -1, -1):
        first_arc[arc_node[a]] = a
    state = (
        np.empty(size),
        np.empty(size),
        np.empty(size, dtype=np.int64),
        np.zeros(size, dtype=np.int64),
        np.zeros(size, dtype=np.int64),
        np.empty(size, dtype=np.int64),
        np.empty(size),
        np.empty(size, dtype=np.int64),
    )
    return (graph, seeds, arcs, along, first_arc), state


@numba.njit(cache=True, nogil=True)
def between(
    graph: _Quad,
    seeds: _Quad,
    arcs: _Quad,
    along: _Quad,
    lo: int,
    hi: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Fastest paths from points ``lo:hi`` of ``R`` points to every other (searches of
    their own: threads may share the rows out).

    Parameters
    ----------
    graph : tuple
        (indptr, indices, seconds, metres) of the network's CSR matrix (the fastest of
        parallel edges: :meth:`Network.matrix`, the metres of :meth:`Network.csr_edge`).
    seeds : tuple
        (start, node, seconds, metres): point ``r`` leaves by pieces
        ``start[r]:start[r + 1]`` to road nodes ``node``.
    arcs : tuple
        (node, point, seconds, metres) of every piece reaching a point from a road node,
        sorted by node.
    along : tuple
        (start, point, seconds, metres): point ``r``'s pieces ``start[r]:start[r + 1]``
        straight along its road to other points.

    lo, hi : int
        The rows to compute.

    Returns
    -------
    time, metres : ndarray (hi - lo, R)
        Seconds and road metres from row point to column point (inf: unreachable; the
        diagonal is left inf).
    """
    ctx, state = _prepare((graph, seeds, arcs, along))
    dist, length, done = state[0], state[1], state[4]
    n = len(graph[0]) - 1
    r_count = len(seeds[0]) - 1
    time = np.full((hi - lo, r_count), np.inf)
    metres = np.full((hi - lo, r_count), np.inf)
    for r in range(lo, hi):
        _search(ctx, state, r, -1)
        for c in range(r_count):
            if done[n + c] == r + 1:
                time[r - lo, c], metres[r - lo, c] = dist[n + c], length[n + c]
    return time, metres


@numba.njit(cache=True, nogil=True)
def path(
    graph: _Quad,
    seeds: _Quad,
    arcs: _Quad,
    along: _Quad,
    r: int,
    c: int,
) -> tuple[np.ndarray, int, int]:
    """The path of :func:`between`'s answer from point ``r`` to point ``c`` (reachable):
    the same search, stopped once ``c`` is settled (settling order is a total order, so
    the path is the one whose time and metres :func:`between` gave).

    Returns
    -------
    nodes : ndarray
        The road nodes in order (empty straight along one road).
    first, last : int
        The seed the path leaves by (-1 along one road) and how it reaches ``c``: arc
        ``a >= 0``, or along piece ``-1 - k``.
    """
    ctx, state = _prepare((graph, seeds, arcs, along))
    _search(ctx, state, r, c)
    pred = state[2]
    n = len(graph[0]) - 1
    last = pred[n + c]
    if last < 0:
        return np.empty(0, dtype=np.int64), -1, last
    out = np.empty(n, dtype=np.int64)
    m = 0
    x = arcs[0][last]
    while x >= 0 and m < n:  # at most n nodes: a cycle would be a bug, not a hang
        out[m] = x
        m += 1
        x = pred[x]
    return out[:m][::-1].copy(), -1 - x, last
