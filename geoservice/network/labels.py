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
stations from a point are among the ``K`` of each end node by the same argument.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numba
import numpy as np

if TYPE_CHECKING:
    from geoservice.network.graph import Network
    from geoservice.network.points import RoadPoints

#: An index as numba hands it over (numpy integers inside the kernels).
_Int = int | np.integer

#: Labels per node by default (the ``k`` a question may ask without a search of its own).
K_DEFAULT = 4


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

    @property
    def nbytes(self) -> int:
        return int(self.time.nbytes + self.station.nbytes + self.next.nbytes)

    def hops(self, s: int, via: int) -> np.ndarray:
        """The road nodes from ``via`` to station ``s`` (``via`` must hold a label of
        ``s``), for :meth:`Network.route`."""
        return _hops(self.station, self.next, s, via)


def build(
    net: Network,
    stations: RoadPoints,
    door_s: np.ndarray,
    mask: np.ndarray | None = None,
    k: int = K_DEFAULT,
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
    mask : ndarray (S,) bool, optional
        The stations to label (a question's filters); the others are left out.
    k : int
        Labels per node.
    """
    arcs = stations.reaching()
    # As the graph's own edges: no zero-cost arc (a station at a node stays after it).
    cost = np.maximum(stations.cost(arcs, net.edge_time), 1e-6) + door_s[arcs.dst]
    keep = stations.on_network[arcs.dst] & np.isfinite(cost)
    if mask is not None:
        keep &= mask[arcs.dst]
    rev = net.reverse_matrix()
    graph = (rev.indptr.astype(np.int64), rev.indices.astype(np.int64), rev.data)
    seeds = (arcs.src[keep].astype(np.int64), arcs.dst[keep].astype(np.int64), cost[keep])
    time, station, nxt = _k_labels(graph, seeds, net.n_nodes, int(k))
    return Labels(time, station, nxt)


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
    along = origin.along(stations)
    on_road = np.flatnonzero(mask[along.dst] & stations.on_network[along.dst])
    road_cost = origin.cost(along, net.edge_time) + door_s[along.dst]
    for i in on_road.tolist():
        s, t = int(along.dst[i]), float(road_cost[i])
        if s not in best or t < best[s][0]:
            best[s] = (t, -1 if along.forward[i] else -2)
    order = sorted(best.items(), key=lambda item: (item[1][0], item[0]))[: labels.k]
    station = np.array([s for s, _ in order], dtype=np.int64)
    time = np.array([t for _, (t, _) in order], dtype=float)
    via = np.array([v for _, (_, v) in order], dtype=np.int64)
    return station, time, via


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
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The K-label search (see the module docstring) on the reversed graph's CSR arrays
    from ``seeds`` (node, station, cost)."""
    indptr, indices, data = graph
    seed_node, seed_station, seed_cost = seeds
    time = np.full((n, k), np.inf)
    station = np.full((n, k), -1, dtype=np.int32)
    nxt = np.full((n, k), -1, dtype=np.int32)
    count = np.zeros(n, dtype=np.int64)
    heap = [(0.0, np.int64(0), np.int64(0), np.int64(0))]
    heap.pop()
    for i in range(len(seed_node)):
        heapq.heappush(heap, (seed_cost[i], seed_node[i], seed_station[i], n + seed_station[i]))
    while heap:
        t, y, s, x = heapq.heappop(heap)
        m = count[y]
        if m == k or _has(station, y, m, s):
            continue
        time[y, m], station[y, m], nxt[y, m] = t, s, x
        count[y] = m + 1
        for e in range(indptr[y], indptr[y + 1]):  # edges z -> y of the graph
            z = indices[e]
            if count[z] < k and not _has(station, z, count[z], s):
                heapq.heappush(heap, (t + data[e], z, s, y))
    return time, station, nxt


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
