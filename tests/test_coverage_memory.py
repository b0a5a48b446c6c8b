"""The coverage engine's own caches stay within their budget (issue 14: RSS grew by about
0.8 MB per distinct coverage question): many distinct questions on the small 鼓楼 network,
the caches' total checked after each, the answers the same as with unbounded caches.

RSS itself is measured in bench/bench_coverage_memory.py (Miyun network, against the
unbounded caches in the same run).
"""

from __future__ import annotations

import pytest
from conftest import SMALL_OSM

from geoservice.coverage import CoverageEngine
from geoservice.coverage.engine import DEFAULT_CACHE_BYTES, geometry_bytes
from geoservice.network import NetworkLibrary
from geoservice.web import create_app

#: Distinct questions: every mode, five buffers, two sets of thresholds.
QUESTIONS = [
    {"mode": mode, "minutes": minutes, "buffer_m": buffer_m, "kind": "warm_station,worker_home"}
    for mode in ("walk", "bike", "drive")
    for buffer_m in (25, 50, 100, 200, 150)
    for minutes in ("5,10", "3,7,12")
]
#: Below what the questions leave in unbounded caches (about 360 kB on this network).
BUDGET = 120_000


@pytest.fixture(scope="module")
def networks(tmp_path_factory):
    library = NetworkLibrary(tmp_path_factory.mktemp("networks"), SMALL_OSM)
    return library, library.load()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_the_caches_stay_within_the_budget_under_distinct_questions(store, networks):
    library, nets = networks
    bounded = CoverageEngine(nets, store, library, cache_bytes=BUDGET)
    unbounded = CoverageEngine(nets, store, library, cache_bytes=None)
    for q in QUESTIONS:
        got, want = bounded.compute(q), unbounded.compute(q)
        assert bounded.cache_bytes() <= BUDGET
        # Evicted tables are made again: the same answer.
        assert got.district == want.district
        assert got.towns == want.towns
        assert got.area_m2 == pytest.approx(want.area_m2)
        assert len(got.areas) == len(want.areas)
        for k in range(len(want.areas)):
            assert got.areas[k].equals(want.areas[k])
    # The questions would have held far more (the bound is what kept them under).
    assert unbounded.cache_bytes() > 2 * BUDGET
    # And a budget the questions fit in keeps everything: the same total as unbounded.
    roomy = CoverageEngine(nets, store, library, cache_bytes=10 * unbounded.cache_bytes())
    for q in QUESTIONS:
        cov = roomy.compute(q)
        cov.areas.dissolve_all()  # as the unbounded engine's were (their snapped copies)
    assert roomy.cache_bytes() == unbounded.cache_bytes()


def test_geometry_bytes_counts_vertices_and_geometries():
    import shapely

    square = shapely.box(0, 0, 1, 1)  # 5 vertices
    assert geometry_bytes([square, None, square]) == 2 * (5 * 24 + 320)
    assert geometry_bytes([]) == geometry_bytes([None]) == 0


def test_the_app_passes_its_budget(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "STORE_PATH": str(tmp_path / "live.gpkg"),
            "NETWORK_DIR": str(tmp_path / "networks"),
            "NETWORK_DEFAULT": str(SMALL_OSM),
            "COVERAGE_ENGINE_CACHE_BYTES": "5000000",
        }
    )
    with app.app_context():
        from geoservice.web import get_coverage

        assert get_coverage().budget == 5_000_000
    assert (
        create_app({"TESTING": True, "STORE_PATH": str(tmp_path / "b.gpkg")}).config[
            "COVERAGE_ENGINE_CACHE_BYTES"
        ]
        == DEFAULT_CACHE_BYTES
    )
