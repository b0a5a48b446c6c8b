"""Shortest paths from many stations at once: the nearest and second-nearest station of
every node, from the one K-label search of the nearest-station engine.

The stations stand on their roads as sources of the *reversed* graph (the network's own,
:meth:`~geoservice.network.Network.reverse_matrix`, or coverage's length graphs): each is
reached from the end nodes of its road, after the way from the road to its door. One
multi-source K-label Dijkstra (:func:`geoservice.network.labels.k_labels`, numba) settles
labels in order of cost and gives every node its ``k`` nearest *distinct* sources: ``k =
1`` for the nearest alone (catchments, towns), ``k = 2`` for cross-coverage, the second
kept only within the largest threshold (a bounded search: beyond it no road is
cross-covered). Memory is O(nodes × k), whatever the number of stations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from geoservice.network import labels
from geoservice.network.points import ends

if TYPE_CHECKING:
    import scipy.sparse as sp

    from geoservice.coverage.roads import Roads


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


def nearest_sources(
    rev: sp.csr_matrix,
    roads: Roads,
    sources: tuple[np.ndarray, np.ndarray, np.ndarray],
    weights: tuple[np.ndarray, np.ndarray],
    k: int,
    limit: float = math.inf,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest distinct sources of every node (one K-label search).

    Parameters
    ----------
    rev : scipy.sparse.csr_matrix
        The reversed graph (times or lengths).
    roads : Roads
    sources : tuple of ndarray
        Each source's road ``r``, fraction ``g`` along it and ``cost`` at it.
    weights : tuple of ndarray
        The roads' weights forwards and backwards (inf: one-way), as ``rev``'s.
    k : int
        Sources per node.
    limit : float
        Sources after a node's nearest only within this cost (default: no limit).

    Returns
    -------
    cost, source : ndarray (N, k)
        Each node's cost to its nearest sources, nearest first, and which (index into
        ``r``; inf and -1 for none).
    """
    src, node, w = source_arcs(roads, *sources, *weights)
    time, source, _ = labels.k_labels(rev, (node, src, w), k, limit)
    return time, source.astype(np.int64)


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
