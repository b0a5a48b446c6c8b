"""Shortest paths from many stations at once: the nearest and second-nearest station of
every node.

One multi-source Dijkstra (:func:`scipy.sparse.csgraph.dijkstra`, ``min_only``) on the
*reversed* graph, the stations joined to it as virtual sources standing on their roads,
gives every node its cost to the nearest station and which station that is. The
second-nearest *distinct* station has no scipy kernel: :func:`second_label` is a small numba
Dijkstra seeded from the first labels (the predecessor on a node's second-best path has that
station among its own two best, so one label per node suffices). numba is imported only when
the kernel is first needed (:func:`warm_kernel` does it ahead of time).
"""

from __future__ import annotations

import heapq
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

from geoservice.network.points import ends

if TYPE_CHECKING:
    from geoservice.coverage.roads import Roads


#: The reversed graph as CSR arrays (indptr, indices, data), as the kernel takes it.
Csr = tuple[np.ndarray, np.ndarray, np.ndarray]
#: The sources' arcs (source, node, cost) of :func:`source_arcs`.
Seeds = tuple[np.ndarray, np.ndarray, np.ndarray]


def source_arcs(
    roads: Roads, r: np.ndarray, g: np.ndarray, cost: np.ndarray, wf: np.ndarray, wb: np.ndarray
) -> Seeds:
    """Arcs (source k → node, weight) of virtual sources standing on roads ``r`` at ``g``
    in the *reversed* graph: a node reaches the source along the road (the pieces
    :func:`~geoservice.network.points.ends` reaching it, from ``u`` forwards and, where
    the road runs both ways, from ``v`` backwards), after ``cost`` at the source."""
    p = ends(r, roads.u[r], roads.v[r], g, np.isfinite(wb[r]), leaving=False)
    return p.dst, p.src, cost[p.dst] + p.weigh(wf, wb)


def multi_source(
    rev: sp.csr_matrix,
    roads: Roads,
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
    src, node, w = source_arcs(roads, r, g, cost, wf, wb)
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


def _second_label_py(
    graph: Csr, d1: np.ndarray, s1: np.ndarray, seeds: Seeds, limit: float
) -> tuple[np.ndarray, np.ndarray]:
    """Second-nearest distinct source per node (see the module docstring); numba-compiled.
    Arrays come grouped as tuples, which numba unpacks at no cost."""
    indptr, indices, data = graph
    seed_src, seed_node, seed_cost = seeds
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
        c, z = heapq.heappop(heap)
        if c > d2[z]:
            continue
        for k in range(indptr[z], indptr[z + 1]):
            y = np.int64(indices[k])
            nc = c + data[k]
            if s2[z] != s1[y] and nc < d2[y] and nc <= limit:
                d2[y] = nc
                s2[y] = s2[z]
                heapq.heappush(heap, (nc, y))
    return d2, s2


_KERNEL = None
_KERNEL_LOCK = threading.Lock()


def _kernel():
    """The numba-compiled :func:`_second_label_py`. ``cache=True`` keeps the machine code
    in ``geoservice/coverage/__pycache__`` (or numba's user cache folder when that is
    read-only, or ``NUMBA_CACHE_DIR``), so it is compiled once per installation, not once
    per start."""
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
    kernel(*warm_arguments())
    state = "loaded from cache" if kernel.stats.cache_hits else "compiled"
    return f"{state} ({kernel.stats.cache_path})"


def warm_arguments() -> tuple[Csr, np.ndarray, np.ndarray, Seeds, float]:
    """Arguments of every type the real calls pass, on a two-node graph with one source per
    node: calling the kernel with them compiles it (or loads it from the cache)."""
    one = np.ones(2)
    ids = np.arange(2, dtype=np.int64)
    return (np.array([0, 1, 2]), ids[::-1].copy(), one), one, ids, (ids, ids, one), 1.0


def second_label(
    rev: sp.csr_matrix,
    d1: np.ndarray,
    s1: np.ndarray,
    seeds: Seeds,
    limit: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Distance to and index of the second-nearest distinct source of every node, up to
    ``limit`` (numba; compiled once and cached on disk, see :func:`_kernel`)."""
    src, node, w = seeds
    return _kernel()(
        (rev.indptr.astype(np.int64), rev.indices.astype(np.int64), rev.data.astype(np.float64)),
        np.ascontiguousarray(d1, dtype=np.float64),
        np.ascontiguousarray(s1, dtype=np.int64),
        (src.astype(np.int64), node.astype(np.int64), w.astype(np.float64)),
        float(limit),
    )


@dataclass
class Field:
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
