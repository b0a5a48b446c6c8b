"""The scale benchmark (bench/bench_scale.py) on a tiny synthetic city, and its OSM file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import _synthetic as syn
import bench_scale

from geoservice.network import MODES, build_from_osm, osm

#: A tiny run's command line.
TINY = ["--nodes", "3000", "--stations", "50", "--queries", "40", "--batch", "2000"]


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    """A tiny synthetic city's networks and store, and each mode's node count."""
    work = tmp_path_factory.mktemp("city")
    args = bench_scale.arguments(TINY)
    return work, bench_scale.prepare(work, args.nodes, args.stations, args.seed)


def test_every_mode_is_measured_and_answers_as_the_brute_force(city):
    work, counts = city
    args = bench_scale.arguments(TINY)
    assert 2_700 < counts["walk"] < 3_300
    assert counts["drive"] < counts["bike"] < counts["walk"]  # their access rules
    for mode in MODES:
        line = json.loads(bench_scale.measure(mode, work, args).line())
        assert set(bench_scale.KEYS) <= line.keys()
        assert (line["mode"], line["nodes"], line["stations"]) == (mode, counts[mode], 50)
        for key in bench_scale.KEYS[3:]:
            assert line[key] > 0, key
        assert line["query_p50_ms"] <= line["query_p99_ms"] < 1000
        assert line["batch_origins"] == 2000
        assert line["peak_rss_mb"] >= line["network_mb"]
        assert line["exact"] == 1.0
        assert line["note"] == ""


def test_a_refusal_for_the_memory_budget_is_a_line_with_a_note(city):
    work, counts = city
    line = json.loads(
        bench_scale.measure("drive", work, bench_scale.arguments([*TINY, "--budget", "1KB"])).line()
    )
    assert line["note"].startswith("refused: ")
    assert (line["mode"], line["nodes"], line["stations"]) == ("drive", counts["drive"], 50)
    assert all(line[k] is None for k in bench_scale.KEYS[3:] if k != "peak_rss_mb")
    assert line["peak_rss_mb"] > 0


def test_the_comparison_accepts_ties_and_refuses_a_wrong_answer():
    ids = np.array(["A", "B", "C", "D", "E"])
    want = np.array([30.0, 10.0, 10.0, np.inf, 50.0])

    def results(*pairs):
        return [{"id": i, "travel_time_s": t} for i, t in pairs]

    assert bench_scale.agrees(results(("B", 10.0), ("C", 10.0), ("A", 30.0)), want, ids)
    assert bench_scale.agrees(results(("C", 10.0), ("B", 10.0), ("A", 30.04)), want, ids)
    assert not bench_scale.agrees(results(("B", 10.0), ("C", 10.0), ("A", 30.2)), want, ids)
    assert not bench_scale.agrees(results(("B", 10.0), ("A", 30.0), ("E", 50.0)), want, ids)
    assert not bench_scale.agrees(results(("B", 10.0), ("C", 10.0)), want, ids)
    # A station the filters leave out, at the time of one they count.
    assert not bench_scale.agrees(results(("B", 10.0), ("C", 10.0), ("D", 30.0)), want, ids)


def test_the_synthetic_pbf_reads_as_the_arrays_the_benchmark_builds_on(tmp_path):
    roads = syn.roads_with_raw_nodes(4_000, seed=3)
    path = tmp_path / "city.osm.pbf"
    syn.write_pbf(roads, path)
    read = osm.read_osm(path)
    direct = syn.osm_data(roads)
    assert read.n_ways == roads.n_ways == direct.n_ways
    assert read.n_refs == len(roads.refs)
    assert 3_000 < len(read.node_id) < 5_000
    np.testing.assert_array_equal(read.node_id, direct.node_id)
    np.testing.assert_array_equal(read.node_xy, direct.node_xy)
    for a in ("seg_u", "seg_v", "seg_way"):
        np.testing.assert_array_equal(getattr(read, a), getattr(direct, a))
    for tag in osm.ROUTING_TAGS:
        assert read.way_tags[tag].tolist() == direct.way_tags[tag].tolist(), tag
    assert {"motorway", "footway", "residential"} <= set(read.way_tags["highway"])
    assert "yes" in set(read.way_tags["oneway"])
    nets = build_from_osm(read)
    assert nets["walk"].n_nodes > nets["drive"].n_nodes


def test_the_synthetic_city_is_deterministic():
    a, b = syn.roads(2_000, seed=5), syn.roads(2_000, seed=5)
    np.testing.assert_array_equal(a.node_xy, b.node_xy)
    np.testing.assert_array_equal(a.refs, b.refs)
    sa, sb = syn.stations(a, 30, seed=5), syn.stations(b, 30, seed=5)
    assert sa.drop(columns="geometry").equals(sb.drop(columns="geometry"))
    assert (sa["opening_hours"] == "24/7").any()
