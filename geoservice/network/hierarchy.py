"""Contraction hierarchies: a network's nodes in an order with shortcuts, and many-to-many
tables between points on the roads from them (buckets).

A node is *contracted* by joining its neighbours with a shortcut wherever the way through
it is the only fastest one (a *witness* search from each neighbour that avoids it, a
bounded Dijkstra, finds the others); nodes go in the order of the shortcuts they add less
the edges they remove (lazy updates). Every shortest path then climbs the order and
descends it, so a search from a point that only climbs (forwards) meets a search towards a
point that only climbs (backwards) on the path's highest node: each touches a few hundred
nodes where a plain Dijkstra settles most of the network.

Many-to-many (:func:`table`): one backward climb per point leaves (point, seconds, metres)
in a *bucket* at every node it settles; one forward climb per point reads the buckets of
the nodes it settles. The points join as in :mod:`geoservice.network.paths` (seeds, arcs,
along pieces), so the answers are the stopping searches' (metres summed alongside the
seconds; on an exact tie of two paths, the metres of either).

A network's hierarchy is built once, in memory, by one background thread that the first
question starts (:func:`of`; about 1.5 s for the Miyun drive network); questions meanwhile
take the stopping searches. It holds the edges and shortcuts, O(edges), whatever the
number of points.
"""

from __future__ import annotations

import heapq
import os
import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numba
import numpy as np

if TYPE_CHECKING:
    from geoservice.network.graph import Network

#: An index as numba hands it over (numpy integers inside the kernels).
_Int = int | np.integer
_Quad = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
#: A witness search gives up after settling this many nodes (a shortcut too many is
#: harmless; exactness never depends on the witnesses).
_WITNESS_SETTLED = 80


@numba.njit(cache=True, nogil=True)
def _witness(pool: tuple, head_out: np.ndarray, contracted: np.ndarray, work: tuple,
             u: _Int, skip: _Int, limit: float) -> None:  # fmt: skip
    """Seconds from ``u`` over the nodes not contracted, avoiding ``skip``, up to
    ``limit`` or ``_WITNESS_SETTLED`` settled nodes (``work`` stamped with its gen)."""
    _, e_v, e_w, _, _, _, next_out, _ = pool
    dist, stamp, gen = work
    g = gen[0]
    stamp[u] = g
    dist[u] = 0.0
    heap = [(0.0, np.int64(u))]
    settled = 0
    while heap:
        t, y = heapq.heappop(heap)
        if t > dist[y]:
            continue
        if t > limit or settled >= _WITNESS_SETTLED:
            return
        settled += 1
        e = head_out[y]
        while e >= 0:
            z = e_v[e]
            if z != skip and not contracted[z]:
                tz = t + e_w[e]
                if stamp[z] != g or tz < dist[z]:
                    stamp[z] = g
                    dist[z] = tz
                    heapq.heappush(heap, (tz, np.int64(z)))
            e = next_out[e]


@numba.njit(cache=True, nogil=True)
def _shortcuts(pool: tuple, heads: tuple, contracted: np.ndarray, work: tuple,
               x: _Int, used: np.ndarray) -> tuple[int, int]:  # fmt: skip
    """Contract node ``x`` (``used[0] >= 0``: add the shortcuts to ``pool``, which holds
    ``used[0]`` edges; -1: only count them). Returns (shortcuts, edges removed)."""
    e_u, e_v, e_w, e_m, e_c1, e_c2, next_out, next_in = pool
    head_out, head_in = heads
    dist, stamp, gen = work
    count, removed = 0, 0
    max_out = 0.0
    e = head_out[x]
    while e >= 0:
        if not contracted[e_v[e]]:
            max_out = max(max_out, e_w[e])
            removed += 1
        e = next_out[e]
    f = head_in[x]
    while f >= 0:
        a = e_u[f]
        if not contracted[a]:
            removed += 1
            gen[0] += 1
            _witness(pool, head_out, contracted, work, a, x, e_w[f] + max_out)
            e = head_out[x]
            while e >= 0:
                b = e_v[e]
                t = e_w[f] + e_w[e]
                if b != a and not contracted[b] and (stamp[b] != gen[0] or dist[b] > t):
                    count += 1
                    if used[0] >= 0:
                        k = used[0]
                        if k >= len(e_u):
                            used[0] = -2  # out of room: the caller grows the pool
                            return count, removed
                        e_u[k], e_v[k], e_w[k], e_m[k] = a, b, t, e_m[f] + e_m[e]
                        e_c1[k], e_c2[k] = f, e
                        next_out[k], head_out[a] = head_out[a], k
                        next_in[k], head_in[b] = head_in[b], k
                        used[0] = k + 1
                e = next_out[e]
        f = next_in[f]
    return count, removed


@numba.njit(cache=True, nogil=True)
def _contract(pool: tuple, n: int, n_edges: int) -> tuple[np.ndarray, int]:
    """The order of every node (rank) and the edges in ``pool`` (-1: out of room)."""
    e_u, e_v, _, _, e_c1, e_c2, next_out, next_in = pool
    head_out = np.full(n, -1, dtype=np.int64)
    head_in = np.full(n, -1, dtype=np.int64)
    for k in range(n_edges):
        e_c1[k], e_c2[k] = -1, -1
        next_out[k], head_out[e_u[k]] = head_out[e_u[k]], k
        next_in[k], head_in[e_v[k]] = head_in[e_v[k]], k
    heads = (head_out, head_in)
    contracted = np.zeros(n, dtype=np.bool_)
    work = (np.empty(n), np.zeros(n, dtype=np.int64), np.zeros(1, dtype=np.int64))
    gone = np.zeros(n, dtype=np.int64)  # contracted neighbours
    rank = np.full(n, -1, dtype=np.int64)
    count_only = np.full(1, -1, dtype=np.int64)
    used = np.full(1, n_edges, dtype=np.int64)
    heap = [(0.0, np.int64(0))]
    heap.pop()
    for i in range(n):
        s, r = _shortcuts(pool, heads, contracted, work, i, count_only)
        heapq.heappush(heap, (float(s - r + gone[i]), np.int64(i)))
    order = 0
    while heap:
        _, x = heapq.heappop(heap)
        if contracted[x]:
            continue
        s, r = _shortcuts(pool, heads, contracted, work, x, count_only)
        p = float(s - r + gone[x])
        if heap and p > heap[0][0]:
            heapq.heappush(heap, (p, np.int64(x)))
            continue
        _shortcuts(pool, heads, contracted, work, x, used)
        if used[0] < 0:
            return rank, -1
        contracted[x] = True
        rank[x] = order
        order += 1
        for head, nxt, other in ((head_out, next_out, e_v), (head_in, next_in, e_u)):
            e = head[x]
            while e >= 0:
                gone[other[e]] += 1
                e = nxt[e]
    return rank, used[0]


@numba.njit(cache=True, nogil=True)
def _climb(up: _Quad, starts: _Quad, p: _Int, state: tuple, gen: _Int) -> np.ndarray:
    """Dijkstra over the climbing edges ``up`` from point ``p``'s pieces ``starts``:
    the nodes settled, in order, with their seconds and metres."""
    indptr, to, w, m = up
    start, node, s0, m0 = starts
    dist, met, stamp = state
    heap = [(0.0, np.int64(0))]
    heap.pop()
    for k in range(start[p], start[p + 1]):
        z = node[k]
        if stamp[z] != gen or s0[k] < dist[z]:
            stamp[z], dist[z], met[z] = gen, s0[k], m0[k]
            heapq.heappush(heap, (s0[k], np.int64(z)))
    out_n = np.empty(64, dtype=np.int64)
    used = 0
    while heap:
        t, y = heapq.heappop(heap)
        if t > dist[y] or stamp[y] == -gen:
            continue
        stamp[y] = -gen  # settled
        if used == len(out_n):
            grown = np.empty(2 * used, dtype=np.int64)
            grown[:used] = out_n
            out_n = grown
        out_n[used] = y
        used += 1
        for e in range(indptr[y], indptr[y + 1]):
            z = to[e]
            tz = t + w[e]
            if stamp[z] != -gen and (stamp[z] != gen or tz < dist[z]):
                stamp[z], dist[z], met[z] = gen, tz, met[y] + m[e]
                heapq.heappush(heap, (tz, np.int64(z)))
    return out_n[:used]


@numba.njit(cache=True, nogil=True)
def table(up: tuple, seeds: _Quad, targets: _Quad, along: _Quad) -> tuple[np.ndarray, np.ndarray]:
    """Seconds and road metres from every one of ``R`` points to every other.

    Parameters
    ----------
    up : tuple
        (forwards, backwards) climbing edges as (indptr, to, seconds, metres).
    seeds, targets : tuple
        (start, node, seconds, metres) by point: the pieces leaving the point (to road
        nodes) and reaching it (from road nodes, backwards).
    along : tuple
        (start, point, seconds, metres): straight along a point's road to other points.
    """
    fwd, bwd = up
    n = len(fwd[0]) - 1
    r_count = len(seeds[0]) - 1
    state = (np.empty(n), np.empty(n), np.zeros(n, dtype=np.int64))
    dist, met, _ = state
    # Backward climbs: buckets (node, point, seconds, metres).
    parts = []
    total = 0
    for c in range(r_count):
        nodes = _climb(bwd, targets, c, state, c + 1)
        parts.append((nodes, dist[nodes].copy(), met[nodes].copy()))
        total += len(nodes)
    b_node = np.empty(total, dtype=np.int64)
    b_point = np.empty(total, dtype=np.int64)
    b_s = np.empty(total)
    b_m = np.empty(total)
    k = 0
    for c in range(r_count):
        nodes, s, m = parts[c]
        b_node[k : k + len(nodes)], b_point[k : k + len(nodes)] = nodes, c
        b_s[k : k + len(nodes)], b_m[k : k + len(nodes)] = s, m
        k += len(nodes)
    order = np.argsort(b_node, kind="mergesort")
    b_node, b_point, b_s, b_m = b_node[order], b_point[order], b_s[order], b_m[order]
    first = np.searchsorted(b_node, np.arange(n + 1))
    time = np.full((r_count, r_count), np.inf)
    metres = np.full((r_count, r_count), np.inf)
    a_start, a_point, a_s, a_m = along
    for r in range(r_count):
        for j in range(a_start[r], a_start[r + 1]):
            c = a_point[j]
            if a_s[j] < time[r, c]:
                time[r, c], metres[r, c] = a_s[j], a_m[j]
    stamp = state[2]
    stamp[:] = 0
    for r in range(r_count):
        nodes = _climb(fwd, seeds, r, state, r + 1)
        for y in nodes:
            t, m = dist[y], met[y]
            for j in range(first[y], first[y + 1]):
                c = b_point[j]
                if c != r and t + b_s[j] < time[r, c]:
                    time[r, c], metres[r, c] = t + b_s[j], m + b_m[j]
    return time, metres


@dataclass(frozen=True)
class Hierarchy:
    """One network's contraction hierarchy: the climbing edges forwards and backwards
    (indptr, to, seconds, metres), and every node's rank."""

    up: tuple[_Quad, _Quad]
    rank: np.ndarray


def build(net: Network) -> Hierarchy:
    """Contract ``net`` (its CSR graph: the fastest of parallel edges) into a hierarchy."""
    csr = net.matrix()
    n = net.n_nodes
    u = np.repeat(np.arange(n, dtype=np.int64), np.diff(csr.indptr))
    e = len(u)
    cap = 3 * e + 16  # shortcuts; doubled when they do not fit
    while True:
        pool = (
            *(np.empty(cap, dtype=np.int64) for _ in range(2)),
            np.empty(cap),
            np.empty(cap),
            *(np.empty(cap, dtype=np.int64) for _ in range(4)),
        )
        pool[0][:e], pool[1][:e] = u, csr.indices
        pool[2][:e], pool[3][:e] = csr.data, net.edge_length[net.csr_edge()]
        rank, used = _contract(pool, n, e)
        if used >= 0:
            break
        cap *= 2
    eu, ev, ew, em = (a[:used] for a in pool[:4])
    up = rank[eu] < rank[ev]
    fwd = _csr(n, eu[up], ev[up], ew[up], em[up])
    bwd = _csr(n, ev[~up], eu[~up], ew[~up], em[~up])
    return Hierarchy((fwd, bwd), rank)


def _csr(n: int, src: np.ndarray, dst: np.ndarray, w: np.ndarray, m: np.ndarray) -> _Quad:
    order = np.argsort(src, kind="stable")
    indptr = np.searchsorted(src[order], np.arange(n + 1)).astype(np.int64)
    return indptr, dst[order].astype(np.int64), w[order], m[order]


# -- one hierarchy per network, built in the background -------------------------------------

_BUILT: dict[int, Hierarchy] = {}
_BUILDING: dict[int, threading.Thread] = {}
_LOCK = threading.Lock()


def of(net: Network, *, wait: bool = False) -> Hierarchy | None:
    """``net``'s hierarchy, or None while one background thread builds it (started by the
    first call: a question meanwhile is answered without it). ``wait``: build it or wait
    for it first."""
    key = id(net)
    with _LOCK:
        done = _BUILT.get(key)
        thread = _BUILDING.get(key)
        if done is None and thread is None:
            thread = threading.Thread(target=_build, args=(net,), name="hierarchy", daemon=True)
            _BUILDING[key] = thread
            weakref.finalize(net, _forget, key)
            thread.start()
    if done is None and wait and thread is not None:
        thread.join()
        return _BUILT.get(key)
    return done


def _build(net: Network) -> None:
    built = None
    try:
        built = build(net)
    finally:  # a failed build is tried again by the next question
        with _LOCK:
            if built is not None:
                _BUILT[id(net)] = built
            _BUILDING.pop(id(net), None)


def _forget(key: int) -> None:
    with _LOCK:
        _BUILT.pop(key, None)


def _forget_threads() -> None:
    # A forked process (a job's child) has none of the parent's threads: it builds its own.
    global _LOCK
    _BUILDING.clear()
    _LOCK = threading.Lock()


os.register_at_fork(after_in_child=_forget_threads)
