"""Coverage's labels come from the nearest engine's one K-label search
(:func:`geoservice.network.labels.k_labels`): against brute force (one scipy Dijkstra per
source) on random graphs, with and without a limit, and on the shipped Miyun network
against scipy's multi-source Dijkstra."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse import csgraph
from test_coverage import miyun_engine  # noqa: F401 (a fixture)

from geoservice.coverage import CoverageQuery
from geoservice.coverage.engine import _field
from geoservice.coverage.paths import source_arcs
from geoservice.network import labels
from geoservice.network.graph import lightest


def _random_graph(rng: np.random.Generator, n: int, m: int) -> sp.csr_matrix:
    rows, cols = rng.integers(0, n, m), rng.integers(0, n, m)
    ok = rows != cols
    g = sp.csr_matrix((rng.uniform(1, 10, ok.sum()), (rows[ok], cols[ok])), shape=(n, n))
    g.sum_duplicates()
    return g


def _brute(graph: sp.csr_matrix, seeds, n_sources: int) -> np.ndarray:
    """(N, sources) cost from every node to every source: one Dijkstra per source on the
    graph with the source as an extra node."""
    node, source, cost = seeds
    n = graph.shape[0]
    out = np.full((n, n_sources), np.inf)
    base = graph.tocoo()
    for s in range(n_sources):
        mine = source == s
        rows = np.concatenate([base.row, np.full(mine.sum(), n)])
        cols = np.concatenate([base.col, node[mine]])
        weight = np.concatenate([base.data, np.maximum(cost[mine], 1e-12)])
        keep = lightest(rows, cols, weight)  # a sparse matrix would add parallel arcs up
        ext = sp.csr_matrix((weight[keep], (rows[keep], cols[keep])), shape=(n + 1, n + 1))
        out[:, s] = csgraph.dijkstra(ext, indices=n)[:n]
    return out


@pytest.mark.parametrize("seed", range(6))
def test_k_labels_against_brute_force_with_and_without_limit(seed):
    rng = np.random.default_rng(seed)
    n, n_sources = 60, 7
    graph = _random_graph(rng, n, 180)
    seeds = (
        rng.integers(0, n, 12),
        np.concatenate([np.arange(n_sources), rng.integers(0, n_sources, 5)]),
        rng.uniform(0, 3, 12),
    )
    every = _brute(graph, seeds, n_sources)
    ranked = np.sort(every, axis=1)
    for k in (1, 2, 3):
        time, station, nxt = labels.k_labels(graph, seeds, k)
        np.testing.assert_allclose(time, ranked[:, :k], rtol=1e-12)
        held = station >= 0
        assert (np.isfinite(time) == held).all()
        rows = np.nonzero(held)
        np.testing.assert_allclose(every[rows[0], station[held]], time[held], rtol=1e-12)
        assert (nxt[held] >= 0).all()
        # A limit keeps every node's nearest and the later labels within it, no others.
        limit = float(np.nanmedian(np.where(np.isfinite(ranked), ranked, np.nan)))
        lt, ls, _ = labels.k_labels(graph, seeds, k, limit)
        np.testing.assert_array_equal(lt[:, 0], time[:, 0])
        np.testing.assert_array_equal(ls[:, 0], station[:, 0])
        within = time[:, 1:] <= limit
        np.testing.assert_array_equal(lt[:, 1:][within], time[:, 1:][within])
        np.testing.assert_array_equal(ls[:, 1:][within], station[:, 1:][within])
        assert np.isinf(lt[:, 1:][~within]).all()
        assert (ls[:, 1:][~within] == -1).all()
        # No limit is the same search as the nearest engine's.
        same = labels.k_labels(graph, seeds, k, math.inf)
        for a, b in zip(same, (time, station, nxt), strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_coverage_field_is_scipys_multi_source_on_miyun(miyun_engine):  # noqa: F811
    """Every node's nearest station and time (and the second within the limit) as scipy's
    multi-source Dijkstra on the reversed graph with the stations as extra nodes, and no
    per-station rows: the field holds (N,) arrays."""
    cq = CoverageQuery.parse({"mode": "walk", "minutes": "5,15"})
    with miyun_engine.snapshot("walk") as state:
        src = state.sources(cq)
        roads = state.cache.roads
        cost = src.access_s("walk")
        fld = _field(state.cache, src.r, src.g, cost, second_limit=float(cq.seconds[-1]))
    n, s = roads.rev_time.shape[0], len(src.r)
    for a in (fld.d1, fld.s1, fld.d2, fld.s2):
        assert a is not None
        assert a.shape == (n,)
    origin, node, w = source_arcs(roads, src.r, src.g, cost, roads.tf, roads.tb)
    arcs = sp.csr_matrix((w, (n + origin, node)), shape=(n + s, n + s))
    aug = sp.csr_matrix(
        sp.bmat([[roads.rev_time, None], [None, sp.csr_matrix((s, s))]], format="csr") + arcs
    )
    dist, _, nearest = csgraph.dijkstra(
        aug, indices=np.arange(n, n + s), min_only=True, return_predecessors=True
    )
    np.testing.assert_allclose(fld.d1, dist[:n], rtol=1e-12, atol=1e-9)
    reached = np.isfinite(dist[:n])
    assert (fld.s1[~reached] == -1).all()
    # The station may differ on an exact tie only: its own time is the same.
    assert fld.d2 is not None
    assert fld.s2 is not None
    second = np.isfinite(fld.d2)
    assert (fld.d2[second] >= fld.d1[second]).all()
    assert (fld.d2[second] <= cq.seconds[-1]).all()
    assert (fld.s2[second] != fld.s1[second]).all()
    assert nearest[:n][reached].min() >= n
