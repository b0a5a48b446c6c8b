"""osmnx's topological graph simplification, on edge arrays.

:func:`simplify` gives the same graph as osmnx 2.x ``simplify_graph(G,
edge_attr_aggs={"length": sum, "travel_time": sum})`` (strict mode, ``remove_rings=True``)
applied to a MultiDiGraph whose edges were added in the order of the input arrays, without
building that graph:

1. A node is an *endpoint* when it has a self-loop, or no incoming or no outgoing edge,
   or does not have exactly two neighbours with degree 2 or 4 (osmnx's rules 1–3).
2. From every endpoint ``e`` and each successor ``s`` that is not an endpoint, a path
   is followed through non-endpoints to the next endpoint. osmnx's ``_build_path`` steps
   from ``x`` (reached from ``p``) to ``x``'s other neighbour ``q`` when ``x → q`` exists;
   when it does not, the path stops at ``x`` (an OSM digitisation quirk). Directed node
   pairs therefore form chains: a pair ``(p, x)`` has at most one successor pair and one
   predecessor pair, and the chains are walked for all starts at once, one step per loop.
3. Each path becomes one edge; its length and travel time are the sums over its node
   pairs, taking for each pair the *first* parallel edge in input order (osmnx keeps
   ``next(iter(G.get_edge_data(u, v).values()))``). The interior nodes of all paths are
   removed, with every edge that touches them.
4. Weakly connected components in which no node is an endpoint any more (isolated rings)
   are removed.

The simplified graph's other attributes (highway, name) are taken from the first edge of a
path: osmnx keeps the *set* of distinct values there, in no defined order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, overload

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components


@dataclass
class Simplified:
    """A simplified graph as arrays (node indices refer to the input's node space).

    Attributes
    ----------
    u, v : ndarray (E,) int64
        Edge end nodes.
    length, time : ndarray (E,)
        Summed along each edge's path.
    first : ndarray (E,) int64
        Index (into the input edges) of the edge whose other attributes the edge carries:
        the first edge of its path, or the input edge itself when it was kept unchanged.
    path_nodes, path_offsets : ndarray
        Edge ``i`` runs through nodes ``path_nodes[path_offsets[i]:path_offsets[i + 1]]``.
    """

    u: np.ndarray
    v: np.ndarray
    length: np.ndarray
    time: np.ndarray
    first: np.ndarray
    path_nodes: np.ndarray
    path_offsets: np.ndarray


@overload
def unique(
    a: np.ndarray, *, return_index: Literal[False] = ..., return_inverse: Literal[False] = ...
) -> np.ndarray: ...
@overload
def unique(
    a: np.ndarray, *, return_index: Literal[True], return_inverse: Literal[False] = ...
) -> tuple[np.ndarray, np.ndarray]: ...
@overload
def unique(
    a: np.ndarray, *, return_index: Literal[False] = ..., return_inverse: Literal[True]
) -> tuple[np.ndarray, np.ndarray]: ...
@overload
def unique(
    a: np.ndarray, *, return_index: Literal[True], return_inverse: Literal[True]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
def unique(
    a: np.ndarray, *, return_index: bool = False, return_inverse: bool = False
) -> np.ndarray | tuple[np.ndarray, ...]:
    """``np.unique`` for integer arrays by a stable sort (numpy 2.4's hash-based
    ``np.unique`` is two orders of magnitude slower on large id arrays).

    ``return_index`` gives the first occurrence of each value, ``return_inverse`` the index
    of every element's value, as in ``np.unique``.
    """
    order = np.argsort(a, kind="stable")
    s = a[order]
    head = np.ones(len(s), dtype=bool)
    head[1:] = s[1:] != s[:-1]
    out: list[np.ndarray] = [s[head]]
    if return_index:
        out.append(order[head])
    if return_inverse:
        inverse = np.empty(len(a), dtype=np.int64)
        inverse[order] = np.cumsum(head) - 1
        out.append(inverse)
    return out[0] if len(out) == 1 else tuple(out)


def endpoints(u: np.ndarray, v: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """osmnx's endpoint rules 1–3 for every node of a directed multigraph.

    Parameters
    ----------
    u, v : ndarray
        Edges (parallel edges and self-loops allowed).
    n : int
        Size of the node index space.

    Returns
    -------
    endpoint : ndarray (n,) bool
        True for nodes with edges that are endpoints.
    neighbours : ndarray (n, 2) int64
        For nodes with exactly two neighbours, both of them (ascending); else -1.
    """
    indeg = np.bincount(v, minlength=n)
    outdeg = np.bincount(u, minlength=n)
    present = (indeg + outdeg) > 0
    loop = np.zeros(n, dtype=bool)
    loop[u[u == v]] = True
    # Distinct neighbours (predecessors and successors together).
    a = np.concatenate([u, v])
    b = np.concatenate([v, u])
    key = unique(a * n + b)
    na, nb = key // n, key % n
    count = np.bincount(na, minlength=n)
    deg = indeg + outdeg
    endpoint = present & (
        loop | (indeg == 0) | (outdeg == 0) | ~((count == 2) & ((deg == 2) | (deg == 4)))
    )
    neighbours = np.full((n, 2), -1, dtype=np.int64)
    two = np.flatnonzero(count == 2)
    start = np.searchsorted(na, two)
    neighbours[two, 0] = nb[start]
    neighbours[two, 1] = nb[start + 1]
    return endpoint, neighbours


def simplify(
    u: np.ndarray, v: np.ndarray, length: np.ndarray, time: np.ndarray, n: int
) -> Simplified:
    """Simplify a directed multigraph given as edge arrays, exactly as osmnx 2.x does.

    Parameters
    ----------
    u, v : ndarray (E,) int64
        Edges, in the order they were added to the graph (this decides which of several
        parallel edges a path takes, as in osmnx).
    length, time : ndarray (E,)
        Edge attributes summed along paths.
    n : int
        Size of the node index space (every ``u``, ``v`` < ``n``).

    Returns
    -------
    Simplified
    """
    u = np.asarray(u, dtype=np.int64)
    v = np.asarray(v, dtype=np.int64)
    endpoint, nbrs = endpoints(u, v, n)
    interstitial = np.zeros(n, dtype=bool)
    interstitial[np.concatenate([u, v])] = True
    interstitial &= ~endpoint

    # Distinct directed pairs, each with its first edge in input order.
    key = u * n + v
    pair_key, pair_first = unique(key, return_index=True)
    del key  # (temporaries are dropped as soon as they are used: a city's build peaks here)
    pair_u, pair_v = pair_key // n, pair_key % n
    # A pair (p, x) into a non-endpoint x continues with (x, q), q = x's other neighbour.
    succ = np.full(len(pair_key), -1, dtype=np.int64)
    inner = np.flatnonzero(interstitial[pair_v])
    x = pair_v[inner]
    q = nbrs[x, 0] + nbrs[x, 1] - pair_u[inner]
    j = np.searchsorted(pair_key, x * n + q)
    j_ok = j < len(pair_key)
    found = np.zeros(len(inner), dtype=bool)
    found[j_ok] = pair_key[j[j_ok]] == (x * n + q)[j_ok]
    succ[inner[found]] = j[found]
    del inner, x, q, j, j_ok, found

    # Walk all chains at once from the pairs that leave an endpoint into a non-endpoint.
    starts = np.flatnonzero(endpoint[pair_u] & interstitial[pair_v])
    steps_chain, steps_pair = [], []
    chain = np.arange(len(starts))
    cur = starts
    for _ in range(len(pair_key) + 1):  # chains never cycle; the bound is a safety net
        if not len(cur):
            break
        steps_chain.append(chain)
        steps_pair.append(cur)
        nxt = succ[cur]
        go = nxt >= 0
        chain, cur = chain[go], nxt[go]
    if steps_pair:
        step_chain = np.concatenate(steps_chain)
        step_pair = np.concatenate(steps_pair)
        # Steps were recorded one position at a time: a stable sort by chain orders them.
        order = np.argsort(step_chain, kind="stable")
        step_chain, step_pair = step_chain[order], step_pair[order]
        del order
    else:
        step_chain = step_pair = np.empty(0, dtype=np.int64)
    del steps_chain, steps_pair, chain, cur, succ, pair_key
    n_steps = np.bincount(step_chain, minlength=len(starts))
    chain_start = np.concatenate([[0], np.cumsum(n_steps)])[:-1]
    chain_last = chain_start + n_steps - 1
    step_edge = pair_first[step_pair]
    # Interior nodes: the head of every step but the last of its chain.
    not_last = np.ones(len(step_pair), dtype=bool)
    not_last[chain_last] = False
    removed = np.zeros(n, dtype=bool)
    removed[pair_v[step_pair[not_last]]] = True

    if len(starts):
        c_len = np.add.reduceat(length[step_edge], chain_start)
        c_time = np.add.reduceat(time[step_edge], chain_start)
    else:
        c_len = c_time = np.empty(0)
    c_u = pair_u[step_pair[chain_start]]
    c_v = pair_v[step_pair[chain_last]]
    c_first = step_edge[chain_start]
    # A chain's nodes: its start node, then the head of each step.
    c_nodes = np.insert(pair_v[step_pair], chain_start, c_u)
    c_offsets = np.concatenate([[0], np.cumsum(n_steps + 1)])
    del step_chain, step_pair, step_edge, not_last, pair_u, pair_v, pair_first

    # The graph after simplification: input edges and path edges not touching a removed node.
    keep_in = ~(removed[u] | removed[v])
    keep_c = ~(removed[c_u] | removed[c_v])
    k_in = np.flatnonzero(keep_in)
    k_c = np.flatnonzero(keep_c)
    out_u = np.concatenate([u[k_in], c_u[k_c]])
    out_v = np.concatenate([v[k_in], c_v[k_c]])
    out_len = np.concatenate([length[k_in], c_len[k_c]])
    out_time = np.concatenate([time[k_in], c_time[k_c]])
    out_first = np.concatenate([k_in, c_first[k_c]])
    sizes = np.concatenate([np.full(len(k_in), 2), n_steps[k_c] + 1])
    pieces = np.concatenate(
        [np.column_stack([u[k_in], v[k_in]]).ravel(), _gather(c_nodes, c_offsets, k_c)]
    )
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    del keep_in, keep_c, k_in, k_c, c_nodes, c_offsets, removed

    # Remove rings: weakly connected components where no node is an endpoint.
    end2, _ = endpoints(out_u, out_v, n)
    graph = sp.csr_matrix((np.ones(len(out_u)), (out_u, out_v)), shape=(n, n))
    _, label = connected_components(graph, directed=True, connection="weak")
    has_end = np.zeros(label.max() + 1 if n else 0, dtype=bool)
    has_end[label[end2]] = True
    ok = has_end[label[out_u]]
    keep = np.flatnonzero(ok)
    return Simplified(
        u=out_u[keep],
        v=out_v[keep],
        length=out_len[keep],
        time=out_time[keep],
        first=out_first[keep],
        path_nodes=_gather(pieces, offsets, keep),
        path_offsets=np.concatenate([[0], np.cumsum(sizes[keep])]),
    )


def _gather(values: np.ndarray, offsets: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Concatenate the ragged rows ``values[offsets[r]:offsets[r + 1]]`` for ``rows``."""
    if not len(rows):
        return np.empty(0, dtype=values.dtype)
    lo, hi = offsets[rows], offsets[rows + 1]
    sizes = hi - lo
    base = np.repeat(lo - np.concatenate([[0], np.cumsum(sizes)])[:-1], sizes)
    return values[base + np.arange(sizes.sum())]
