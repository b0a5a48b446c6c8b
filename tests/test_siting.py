"""Siting: the MCLP answer against exhaustive search and the greedy baseline, exact gains
on the hand-made network, set covering, parameters."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import assert_refused
from test_coverage import toy_engine

from geoservice.coverage import CoverageEngine, siting


def _exhaustive(cover: sp.csr_matrix, w: np.ndarray, n: int) -> float:
    return max(
        siting.covered_weight(cover, w, np.array(c))
        for c in itertools.combinations(range(cover.shape[1]), n)
    )


def test_mclp_beats_greedy_where_greedy_is_wrong():
    # The middle column covers most alone; the two outer ones cover everything together.
    cover = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [0, 1, 1], [0, 1, 1], [1, 0, 0],
                                    [0, 0, 1]]))  # fmt: skip
    w = np.ones(6)
    g = siting.greedy(cover, w, 2)
    chosen, info = siting.solve_mclp(cover, w, 2)
    assert siting.covered_weight(cover, w, g) == 5
    assert sorted(chosen.tolist()) == [0, 2]
    assert info["status"] == "optimal"
    assert siting.covered_weight(cover, w, chosen) == 6 == _exhaustive(cover, w, 2)


@pytest.mark.parametrize("seed", range(6))
def test_mclp_equals_exhaustive_on_random_cases(seed):
    rng = np.random.default_rng(seed)
    d, c, n = 30, 9, int(rng.integers(1, 4))
    cover = sp.csr_matrix((rng.random((d, c)) < 0.2).astype(float))
    w = rng.integers(1, 100, d).astype(float)
    chosen, _ = siting.solve_mclp(cover, w, n)
    best = _exhaustive(cover, w, n)
    assert len(chosen) == n
    assert siting.covered_weight(cover, w, chosen) == pytest.approx(best)
    assert siting.covered_weight(cover, w, siting.greedy(cover, w, n)) <= best + 1e-9


def test_set_cover_is_minimal():
    rng = np.random.default_rng(7)
    cover = sp.csr_matrix((rng.random((12, 8)) < 0.3).astype(float))
    cover = cover[np.diff(cover.indptr) > 0]
    chosen, info = siting.solve_set_cover(cover)
    assert info["status"] == "optimal"
    assert (np.asarray(cover[:, chosen].sum(axis=1)).ravel() > 0).all()
    smallest = next(
        k
        for k in range(1, 9)
        if any(
            (np.asarray(cover[:, list(c)].sum(axis=1)).ravel() > 0).all()
            for c in itertools.combinations(range(8), k)
        )
    )
    assert len(chosen) == smallest


@pytest.fixture
def toy(store):
    return toy_engine(store)


def test_toy_suggestion_is_the_exhaustive_best_and_exact(toy):
    result = siting.suggest(toy, {"minutes": "10", "n": "1"})
    site = result.sites[0]
    # Exact: the gain is the difference of two exact coverage computations.
    assert result.before["covered_km"] == pytest.approx(2.170, abs=1e-3)
    assert site["added_road_km"] == pytest.approx(
        result.after["covered_km"] - result.before["covered_km"], abs=1e-3
    )
    # No other candidate node adds more road (exact evaluation of every candidate).
    q = siting.SitingQuery.parse({"minutes": "10", "n": "1"}).coverage
    with toy.snapshot("walk") as state:
        candidates = siting._candidates(state.network, state.cache)
        best = max(state.evaluate(q, np.array([c]))[0] for c in candidates)
    assert result.after["covered_km"] * 1000 == pytest.approx(best, abs=1.0)
    assert result.solver["objective"] >= result.greedy["objective"] - 1e-6


def test_toy_villages_and_set_cover(toy):
    result = siting.suggest(toy, {"minutes": "10", "n": "2", "objective": "villages"})
    # V1 (19 min away) and V3 (on an unconnected road) need one new station each.
    assert result.before["villages_covered"] == 1
    assert result.after["villages_covered"] == 3
    assert sorted(s["added_villages"] for s in result.sites) == [1, 1]
    assert result.set_cover["stations_needed"] == 2
    assert result.set_cover["uncovered"] == 2
    assert result.set_cover["optimal"]


@pytest.mark.slow
def test_miyun_suggestion_at_least_greedy(miyun_networks, store):
    engine = CoverageEngine(miyun_networks, store)
    result = siting.suggest(engine, {"mode": "walk", "minutes": "15", "n": "3"})
    assert len(result.sites) == 3
    assert len({s["node"] for s in result.sites}) == 3
    assert result.solver["status"] == "optimal"
    assert result.solver["objective"] >= result.greedy["objective"] - 1e-6
    gains = [s["added_road_km"] for s in result.sites]
    assert all(g > 0 for g in gains)
    assert sum(gains) == pytest.approx(
        result.after["covered_km"] - result.before["covered_km"], abs=2e-3
    )
    assert result.to_geojson()["features"][0]["geometry"]["type"] == "Point"


@pytest.mark.parametrize(
    ("args", "parameter"),
    [
        ({"n": "0"}, "n"),
        ({"n": "51"}, "n"),
        ({"n": "ten"}, "n"),
        ({"n": "2.5"}, "n"),
        ({"objective": "people"}, "objective"),
        ({"minutes": "5,10"}, "minutes"),
        ({"minutes": "0"}, "minutes"),
        ({"mode": "boat"}, "mode"),
        ({"open_at": "yesterday"}, "open_at"),
    ],
)
def test_bad_siting_parameters(args, parameter):
    assert_refused(siting.SitingQuery.parse, args, parameter=parameter)


def test_siting_defaults():
    q = siting.SitingQuery.parse({"mode": "bike"})
    assert (q.n, q.objective, q.coverage.minutes) == (10, "roads", (10.0,))
    assert siting.SitingQuery.parse({}).coverage.minutes == (15.0,)


def test_candidate_times_in_chunks_that_fit_the_budget(monkeypatch):
    """A network too large for whole chunks is searched a few candidates at a time (the
    dense array scipy hands back stays within the bytes allowed), with the same times."""
    rng = np.random.default_rng(3)
    n = 200
    rows, cols = rng.integers(0, n, 800), rng.integers(0, n, 800)
    ok = rows != cols
    rev = sp.csr_matrix((rng.uniform(1, 5, ok.sum()), (rows[ok], cols[ok])), shape=(n, n))
    targets = rng.choice(n, 40, replace=False)
    whole = siting._times_to(rev, targets, 12.0)
    calls = []
    real = siting.csgraph.dijkstra

    def counted(graph, indices, limit):
        calls.append(len(indices))
        return real(graph, indices=indices, limit=limit)

    monkeypatch.setattr(siting, "_CHUNK_BYTES", 3 * 8 * n)
    monkeypatch.setattr(siting.csgraph, "dijkstra", counted)
    parts = siting._times_to(rev, targets, 12.0)
    assert max(calls) == 3
    assert sum(calls) == len(targets)
    assert (whole != parts).nnz == 0
