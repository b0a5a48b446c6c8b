"""The ``K`` nearest stations of every road node, as labels: one multi-source K-label
Dijkstra in compiled code, instead of one row of times per station.

Every node keeps up to ``K`` labels, nearest first: the time from the node to a station's
door, the station, and the next node on the way (``n + s`` when the next stop is station
``s`` itself). Memory is O(nodes × K), whatever the number of stations.

One search from all the stations at once (on the reversed graph, seeded where each station
meets its road) settles labels in order of time; a node takes a station's label only while
it has fewer than ``K`` and none for that station. That is exact: if node ``y`` reaches
station ``s`` through ``x``, and ``x`` has ``K`` stations nearer than ``s``, then ``y`` has
those ``K`` nearer too, so ``s`` is not among ``y``'s ``K``. For the same reason the next
node of a label has that station among its own labels, so a route follows labels from
node to node.

A question for ``k <= K`` stations from a point on a road is answered from the labels of
its road's two end nodes and the stations on its own road (:func:`nearest`); ``k``
stations from a point are among the ``K`` of each end node by the same argument. Many
points at once take each end node's first label (:func:`nearest_many`). A question for
more than ``K`` searches from the point itself, within a time limit it widens until
``k`` stations lie inside (:func:`search`).

A station edit repairs only the catchment it changes (:func:`repair`): the labels of the
stations that left are taken out, and only the nodes that held one search again, from
their neighbours' labels; a station that came in is searched from alone, and stops at
every node whose ``K`` labels are all nearer than it.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numba
import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

from geoservice.network.graph import MIN_WEIGHT

if TYPE_CHECKING:
    from geoservice.network.graph import Network
    from geoservice.network.points import RoadPoints

#: An index as numba hands it over (numpy integers inside the kernels).
_Int = int | np.integer


@dataclass(frozen=True)
class Labels:
    """The ``K`` nearest stations of every node of one network.

    Attributes
    ----------
    time : ndarray (N, K) float64
        Seconds from the node to the station's door (inf: no label).
    station : ndarray (N, K) int32
        The station (index into the stations labelled), -1 for none.
    next : ndarray (N, K) int32
        The next node on the way, or ``N + station`` when the station comes next.
    """

    time: np.ndarray
    station: np.ndarray
    next: np.ndarray

    @property
    def k(self) -> int:
        return int(self.time.shape[1])

    def hops(self, s: int, via: int) -> np.ndarray:
        """The road nodes from ``via`` to station ``s`` (``via`` must hold a label of
        ``s``), for :meth:`Network.route`."""
        return _hops(self.station, self.next, s, via)


def build(
    net: Network,
    stations: RoadPoints,
    door_s: np.ndarray,
    mask: np.ndarray | None,
    k: int,
) -> Labels:
    """Labels of ``net``'s nodes for the ``stations`` (those of ``mask``, when given).

    Parameters
    ----------
    net : Network
    stations : RoadPoints
        Where each station meets its road (stations far from every road get no label).
    door_s : ndarray (S,)
        Seconds from each station's road to its door, part of every label's time: what
        ranks stations.
    mask : ndarray (S,) bool or None
        The stations to label (a question's filters; None: all); the others are left out.
    k : int
        Labels per node (:data:`geoservice.nearest.K_LABELS` by default).
    """
    return Labels(*k_labels(net.reverse_matrix(), _entries(stations, door_s, mask), k))


def repair(
    labels: Labels,
    stations: RoadPoints,
    door_s: np.ndarray,
    renumber: np.ndarray,
    mask: np.ndarray,
) -> Labels | None:
    """The labels of ``mask`` after a station edit, from the ``labels`` made before it.

    Parameters
    ----------
    labels : Labels
        Labels made before the edit (station indices of then).
    stations : RoadPoints
        The stations after the edit (``door_s`` their seconds to the door).
    renumber : ndarray (S_before,) int
        Each earlier station's index now, -1 for one taken out of the labels: deleted,
        moved, or otherwise changed so that it is labelled again if ``mask`` holds it.
    mask : ndarray (S,) bool
        The stations to label now. Those that ``renumber`` keeps must be exactly the
        labelled stations of before that ``mask`` holds.

    Returns
    -------
    Labels or None
        The same labels :func:`build` makes for ``mask`` (ties aside), or None when a tie
        leaves a label whose next node lost that station (then :func:`build`).
    """
    net = stations.net
    fwd, rev = net.matrix(), net.reverse_matrix()
    forward, graph = _csr(fwd), _csr(rev)
    old = labels.station
    station = np.where(old >= 0, renumber[np.maximum(old, 0)], -1).astype(np.int32)
    time = labels.time.copy()
    nxt = labels.next.copy()
    gone = (old >= 0) & (station < 0)
    nxt[nxt >= net.n_nodes] = net.n_nodes + station[nxt >= net.n_nodes]  # renumbered too
    kept = np.zeros(len(mask), dtype=bool)
    kept[renumber[renumber >= 0]] = True
    touched = np.flatnonzero(gone.any(axis=1))
    _drop(graph, forward, _entries(stations, door_s, kept), (time, station, nxt), touched)
    added = mask & ~kept
    if added.any() and not _add(graph, _entries(stations, door_s, added), (time, station, nxt)):
        return None
    return Labels(time, station, nxt)


def k_labels(
    graph: sp.csr_matrix,
    seeds: tuple[np.ndarray, np.ndarray, np.ndarray],
    k: int,
    limit: float = math.inf,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` nearest sources of every node of ``graph``: the search of :func:`build`
    for any sources and weights (coverage's stations and sites, by time or by length).

    Parameters
    ----------
    graph : scipy.sparse.csr_matrix (N, N)
        The *reversed* graph (row ``y`` lists the edges ``z -> y``, weight > 0), such as
        :meth:`Network.reverse_matrix`.
    seeds : tuple of ndarray
        Where the search reaches each source: (node, source, cost) per arc.
    k : int
        Labels per node.
    limit : float
        A node's labels after its first are kept only within this cost (its first, the
        nearest source, always): a bounded search for what is needed only near the
        sources. Default: no limit.

    Returns
    -------
    time, source, next : ndarray (N, k)
        As :class:`Labels` (``N + source`` as next: the source comes next).
    """
    node, source, cost = seeds
    csr = _csr(graph)
    arcs = (node.astype(np.int64), source.astype(np.int64), cost.astype(np.float64))
    return _k_labels(csr, arcs, graph.shape[0], int(k), float(limit))


def warm_routes() -> None:
    """Load the kernel that walks a route along the labels (:meth:`Labels.hops`) now, so
    that the first answer from labels does not wait for it."""
    empty = np.full((1, 1), -1, dtype=np.int32)
    _hops(empty, empty, 0, 0)


def warm_kernel() -> str:
    """Compile :func:`k_labels`'s kernel, or load it from numba's disk cache, now (the
    set-up command does, so that the service's first coverage answer does not).

    Returns
    -------
    str
        ``"compiled"``, ``"loaded from cache"`` or ``"ready"`` (already in this process),
        and numba's cache folder.
    """
    known = len(_k_labels.signatures)
    hits = sum(_k_labels.stats.cache_hits.values())
    two = sp.csr_matrix((np.ones(2), np.array([1, 0]), np.array([0, 1, 2])), shape=(2, 2))
    ids = np.arange(2)
    k_labels(two, (ids, ids, np.ones(2)), 2, 1.0)
    stats = _k_labels.stats
    if sum(stats.cache_hits.values()) > hits:
        state = "loaded from cache"
    elif len(_k_labels.signatures) > known:
        state = "compiled"
    else:
        state = "ready"
    return f"{state} ({stats.cache_path})"


def _csr(matrix: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A graph's CSR arrays as the kernels take them: as they are (no int64 copies of a
    city's millions of edges), the weights as float64."""
    return matrix.indptr, matrix.indices, np.asarray(matrix.data, dtype=np.float64)


def _entries(
    stations: RoadPoints, door_s: np.ndarray, mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where a search reaches the stations of ``mask`` (None: all) that lie near a road:
    (node, station, seconds to the door) of every arc from an end node of a station's
    road to the station."""
    arcs = stations.reaching()
    # As the graph's own edges: no zero-cost arc (a station at a node stays after it).
    cost = np.maximum(stations.cost(arcs, stations.net.edge_time), MIN_WEIGHT) + door_s[arcs.dst]
    keep = stations.on_network[arcs.dst] & np.isfinite(cost)
    if mask is not None:
        keep &= mask[arcs.dst]
    return arcs.src[keep].astype(np.int64), arcs.dst[keep].astype(np.int64), cost[keep]


def _on_road(
    origins: RoadPoints, stations: RoadPoints, door_s: np.ndarray, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Straight along each point's own road to the stations of ``mask`` on it (the way
    through the road's end nodes misses these): (point, station, seconds to the door,
    forwards) per piece."""
    along = origins.along(stations)
    ok = mask[along.dst] & stations.on_network[along.dst]
    cost = origins.cost(along, origins.net.edge_time) + door_s[along.dst]
    return along.src[ok], along.dst[ok], cost[ok], along.forward[ok]


def nearest(
    labels: Labels,
    origin: RoadPoints,
    stations: RoadPoints,
    door_s: np.ndarray,
    mask: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The stations of ``mask`` nearest to one point on the roads, up to ``labels.k``,
    nearest first.

    Returns
    -------
    station, time, via : ndarray
        The stations, their times from the origin's road to the door (the origin's own
        way to its road not included), and the node each route leaves the origin's road
        by (-1 / -2: straight along it to a station on the same road, forwards /
        backwards), as :func:`geoservice.network.compiled.route` takes it.
    """
    net = origin.net
    leave = origin.leaving()  # forwards first: it wins a tie
    cost = origin.cost(leave, net.edge_time)
    best: dict[int, tuple[float, int]] = {}
    for node, c in zip(leave.dst.tolist(), cost.tolist(), strict=True):
        for t, s in zip(labels.time[node].tolist(), labels.station[node].tolist(), strict=True):
            if s >= 0 and (s not in best or c + t < best[s][0]):
                best[s] = (c + t, node)
    _, on_road, road_cost, forward = _on_road(origin, stations, door_s, mask)
    for s, t, ahead in zip(on_road.tolist(), road_cost.tolist(), forward.tolist(), strict=True):
        if s not in best or t < best[s][0]:
            best[s] = (t, -1 if ahead else -2)
    order = sorted(best.items(), key=lambda item: (item[1][0], item[0]))[: labels.k]
    station = np.array([s for s, _ in order], dtype=np.int64)
    time = np.array([t for _, (t, _) in order], dtype=float)
    via = np.array([v for _, (_, v) in order], dtype=np.int64)
    return station, time, via


def nearest_many(
    labels: Labels,
    origins: RoadPoints,
    stations: RoadPoints,
    door_s: np.ndarray,
    mask: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The nearest station of ``mask`` (the one ``labels`` were built for) from each of
    many points on the roads, vectorised.

    Returns
    -------
    station, time : ndarray (P,)
        The station (-1: none reachable) and the time from each point's road to its door
        (inf: none).
    """
    net = origins.net
    leave = origins.leaving()  # the forward pieces first, one per point
    cost = origins.cost(leave, net.edge_time) + labels.time[leave.dst, 0]
    station = labels.station[leave.dst, 0].astype(np.int64)
    p = len(origins)
    best, best_station = cost[:p].copy(), station[:p].copy()
    back = leave.src[p:]  # the backward pieces of two-way roads, by point
    better = cost[p:] < best[back]
    best[back[better]] = cost[p:][better]
    best_station[back[better]] = station[p:][better]
    src, dst, road, _ = _on_road(origins, stations, door_s, mask)
    for i in np.argsort(road, kind="stable")[::-1].tolist():  # the nearest written last
        if road[i] < best[src[i]]:
            best[src[i]], best_station[src[i]] = road[i], dst[i]
    best_station[~np.isfinite(best)] = -1
    return best_station, best


def search(
    origin: RoadPoints,
    stations: RoadPoints,
    door_s: np.ndarray,
    mask: np.ndarray,
    k: int,
    limit: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
    """The ``k`` stations of ``mask`` nearest to one point, by a search from the point
    (for more stations than the labels hold).

    Dijkstra from the two end nodes of the point's road, bounded by ``limit`` seconds
    (a time no answer is below: the labels' farthest), widened four times over until ``k``
    stations lie within it or nothing more can be reached. Every station within the limit
    is found, so the ``k`` found then are the nearest.

    Returns
    -------
    station, time, via, nodes
        As :func:`nearest`, and each route's road nodes from ``via``.
    """
    net = origin.net
    leave = origin.leaving()
    start = leave.dst
    start_cost = origin.cost(leave, net.edge_time)
    arc_node, arc_station, arc_cost = _entries(stations, door_s, mask)
    _, on_road, road, forward = _on_road(origin, stations, door_s, mask)
    limit = max(float(limit), 1.0)
    while True:
        dist, pred = csgraph.dijkstra(
            net.matrix(), indices=start, limit=limit, return_predecessors=True
        )
        via_time = start_cost[:, None] + dist[:, arc_node]  # (ends, arcs)
        end = np.argmin(via_time, axis=0)
        t = via_time[end, np.arange(len(arc_node))] + arc_cost
        time = np.full(len(stations), np.inf)
        how = np.full(len(stations), -1, dtype=np.int64)  # an arc, or -2 - along piece
        by_time = np.argsort(t, kind="stable")
        _, first = np.unique(arc_station[by_time], return_index=True)  # each one's best arc
        chosen = by_time[first]
        time[arc_station[chosen]], how[arc_station[chosen]] = t[chosen], chosen
        for i, s in enumerate(on_road.tolist()):
            if road[i] < time[s]:
                time[s], how[s] = road[i], -2 - i
        inside = np.flatnonzero(np.isfinite(time) & (time <= limit))
        if len(inside) >= k or math.isinf(limit):
            break
        limit = limit * 4 if limit * 4 < 1e9 else math.inf
    order = inside[np.lexsort((inside, time[inside]))][:k]
    vias, chains = [], []
    for s in order.tolist():
        a = int(how[s])
        if a < 0:  # straight along the origin's road
            vias.append(-1 if forward[-2 - a] else -2)
            chains.append(np.empty(0, dtype=np.int64))
            continue
        e = int(end[a])
        vias.append(int(start[e]))
        chains.append(_chain(pred[e], int(start[e]), int(arc_node[a])))
    return order.astype(np.int64), time[order], np.array(vias, dtype=np.int64), chains


def _chain(pred: np.ndarray, first: int, last: int) -> np.ndarray:
    """The nodes from ``first`` to ``last`` along a search's predecessors."""
    nodes = [last]
    while nodes[-1] != first and len(nodes) <= len(pred):
        nodes.append(int(pred[nodes[-1]]))
    return np.array(nodes[::-1], dtype=np.int64)


@numba.njit(cache=True, nogil=True)
def _has(station: np.ndarray, y: _Int, m: _Int, s: _Int) -> bool:
    """Whether node ``y``'s first ``m`` labels include station ``s``."""
    for j in range(m):  # noqa: SIM110 (a loop numba compiles; any() of a generator it does not)
        if station[y, j] == s:
            return True
    return False


@numba.njit(cache=True, nogil=True)
def _k_labels(
    graph: tuple[np.ndarray, np.ndarray, np.ndarray],
    seeds: tuple[np.ndarray, np.ndarray, np.ndarray],
    n: int,
    k: int,
    limit: float = math.inf,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The K-label search (see the module docstring) on the reversed graph's CSR arrays
    from ``seeds`` (node, station, cost); a node's labels after its first only within
    ``limit``."""
    time = np.full((n, k), np.inf)
    station = np.full((n, k), -1, dtype=np.int32)
    nxt = np.full((n, k), -1, dtype=np.int32)
    inside = np.ones(n, dtype=np.bool_)
    heap = _seeded(seeds, n, inside)
    count = np.zeros(n, dtype=np.int64)
    _spread(heap, graph, (time, station, nxt), count, (inside, limit))
    return time, station, nxt


@numba.njit(cache=True, nogil=True)
def _seeded(
    seeds: tuple[np.ndarray, np.ndarray, np.ndarray], n: int, inside: np.ndarray
) -> list[tuple[float, np.int64, np.int64, np.int64]]:
    """A search's heap of (time, node, station, next) holding the ``seeds`` (node,
    station, cost) at the nodes ``inside``, the station itself next (``n + station``)."""
    heap = [(0.0, np.int64(0), np.int64(0), np.int64(0))]
    heap.pop()  # a typed, empty list
    seed_node, seed_station, seed_cost = seeds
    for i in range(len(seed_node)):
        if inside[seed_node[i]]:
            s = np.int64(seed_station[i])
            heapq.heappush(heap, (seed_cost[i], np.int64(seed_node[i]), s, n + s))
    return heap


@numba.njit(cache=True, nogil=True)
def _spread(
    heap: list[tuple[float, np.int64, np.int64, np.int64]],
    graph: tuple[np.ndarray, np.ndarray, np.ndarray],
    labels: tuple[np.ndarray, np.ndarray, np.ndarray],
    count: np.ndarray,
    bounds: tuple[np.ndarray, float],
) -> None:
    """The K-label search's loop: settle the ``heap``'s (time, node, station, next) in
    order of time into the nodes ``inside``, ``count[y]`` labels at node ``y`` so far, a
    node's labels after its first only within ``limit`` (``bounds``)."""
    inside, limit = bounds
    time, station, nxt = labels
    k = station.shape[1]
    indptr, indices, data = graph
    while heap:
        t, y, s, x = heapq.heappop(heap)
        m = count[y]
        if m == k or (m > 0 and t > limit) or _has(station, y, m, s):
            continue
        time[y, m], station[y, m], nxt[y, m] = t, s, x
        count[y] = m + 1
        for e in range(indptr[y], indptr[y + 1]):  # edges z -> y of the graph
            z = np.int64(indices[e])
            c = count[z]
            if (
                inside[z]
                and c < k
                and (c == 0 or t + data[e] <= limit)
                and not _has(station, z, c, s)
            ):
                heapq.heappush(heap, (t + data[e], z, s, y))


@numba.njit(cache=True, nogil=True)
def _hops(station: np.ndarray, nxt: np.ndarray, s: int, via: int) -> np.ndarray:
    """The nodes from ``via`` to station ``s`` along the labels (at most N: a cycle
    would be a bug, not a hang)."""
    n = station.shape[0]
    nodes = np.empty(n + 1, dtype=np.int64)
    nodes[0] = via
    m = 1
    while m <= n:
        x = nodes[m - 1]
        step = -1
        for j in range(station.shape[1]):
            if station[x, j] == s:
                step = nxt[x, j]
                break
        if step < 0 or step >= n:
            break
        nodes[m] = step
        m += 1
    return nodes[:m]


@numba.njit(cache=True, nogil=True)
def _drop(
    graph: tuple[np.ndarray, np.ndarray, np.ndarray],
    forward: tuple[np.ndarray, np.ndarray, np.ndarray],
    seeds: tuple[np.ndarray, np.ndarray, np.ndarray],
    labels: tuple[np.ndarray, np.ndarray, np.ndarray],
    touched: np.ndarray,
) -> None:
    """Take the labels of stations gone (station -1) out of the ``touched`` nodes and
    fill them again, in place: a node's remaining labels are still its nearest, and the
    next nearest come from its neighbours' labels (the untouched ones final) or its own
    stations, by the K-label search confined to the touched nodes."""
    time, station = labels[0], labels[1]
    n, k = station.shape
    inside = np.zeros(n, dtype=np.bool_)
    count = np.zeros(n, dtype=np.int64)
    for y in touched:
        inside[y] = True
        count[y] = _compact(labels, y)
    heap = _seeded(seeds, n, inside)
    indptr, indices, data = forward
    for z in touched:  # each way z -> y to a neighbour's labels
        for e in range(indptr[z], indptr[z + 1]):
            y = np.int64(indices[e])
            for j in range(k):
                if station[y, j] >= 0:
                    heapq.heappush(heap, (time[y, j] + data[e], z, np.int64(station[y, j]), y))
    _spread(heap, graph, labels, count, (inside, math.inf))  # only the touched nodes


@numba.njit(cache=True, nogil=True)
def _compact(labels: tuple[np.ndarray, np.ndarray, np.ndarray], y: _Int) -> int:
    """Close the gaps the stations gone left in node ``y``'s labels; how many remain."""
    time, station, nxt = labels
    m = 0
    for j in range(station.shape[1]):
        if station[y, j] >= 0:
            time[y, m], station[y, m], nxt[y, m] = time[y, j], station[y, j], nxt[y, j]
            m += 1
    for j in range(m, station.shape[1]):
        time[y, j], station[y, j], nxt[y, j] = np.inf, -1, -1
    return m


@numba.njit(cache=True, nogil=True)
def _add(
    graph: tuple[np.ndarray, np.ndarray, np.ndarray],
    seeds: tuple[np.ndarray, np.ndarray, np.ndarray],
    labels: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> bool:
    """Label new stations from ``seeds``, in place: a node takes one while it is nearer
    than the node's ``K``-th label (which it then drops), and the search stops at every
    node that does not take it. False when a dropped label was some node's way to that
    station (a tie: the caller builds the labels again)."""
    time, station, nxt = labels
    n, k = station.shape
    heap = _seeded(seeds, n, np.ones(n, dtype=np.bool_))
    dropped_node = []
    dropped_station = []
    indptr, indices, data = graph
    while heap:
        t, y, s, x = heapq.heappop(heap)
        if _has(station, y, k, s) or not t < time[y, k - 1]:
            continue
        if station[y, k - 1] >= 0:
            dropped_node.append(y)
            dropped_station.append(np.int64(station[y, k - 1]))
        j = k - 1
        while j > 0 and time[y, j - 1] > t:  # after its equals: they were there first
            time[y, j], station[y, j], nxt[y, j] = time[y, j - 1], station[y, j - 1], nxt[y, j - 1]
            j -= 1
        time[y, j], station[y, j], nxt[y, j] = t, s, x
        for e in range(indptr[y], indptr[y + 1]):
            heapq.heappush(heap, (t + data[e], np.int64(indices[e]), s, y))
    for i in range(len(dropped_node)):
        y, s = dropped_node[i], dropped_station[i]
        for e in range(indptr[y], indptr[y + 1]):
            z = indices[e]
            for j in range(k):
                if station[z, j] == s and nxt[z, j] == y:
                    return False
    return True
