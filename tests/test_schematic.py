"""The shipped schematic road network (``data/network/miyun_schematic.osm.bz2``).

Generation is checked for byte-for-byte determinism and against the shipped file; the
shipped file is then parsed with the standard library and checked against the hard rules
(inside the district, off the reservoir, crossings share nodes, motorway crossings are
bridges), the place nodes of the 429 villages and communities, and the size and
connectivity targets. ``test_osmnx_loads_it_as_a_real_extract`` reads it with osmnx (~10 s).
"""

from __future__ import annotations

import bz2
import hashlib
import math
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import pytest
import shapely
from pyproj import Transformer
from scipy.sparse.csgraph import connected_components

from geoservice import network, osm, schematic
from geoservice.basedata import DEFAULT_GPKG, SAMPLE_ANCHORS
from geoservice.model import CRS_METRIC, CRS_STORAGE

SHIPPED = schematic.DEFAULT_OUT


@dataclass
class Parsed:
    """The shipped file as arrays: node lon/lat by id - 1, ways as (node ids, tags)."""

    root: ET.Element
    lonlat: np.ndarray
    ids: np.ndarray
    ways: list[tuple[np.ndarray, dict[str, str]]]
    seg_a: np.ndarray  # first node index (id - 1) of every way segment
    seg_b: np.ndarray
    seg_way: np.ndarray  # way index of every segment

    def highway(self) -> np.ndarray:
        return np.array([tags["highway"] for _, tags in self.ways])


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    """One fresh generation (bz2) per module: it takes several seconds."""
    path = tmp_path_factory.mktemp("schematic") / "miyun_schematic.osm.bz2"
    summary = schematic.write_osm(path)
    assert summary["bytes"] == path.stat().st_size
    return path


@pytest.fixture(scope="module")
def parsed() -> Parsed:
    assert SHIPPED.is_file(), "run `python -m geoservice.schematic` to build the network"
    with bz2.open(SHIPPED) as f:
        root = ET.parse(f).getroot()
    nodes = root.findall("node")
    ids = np.array([int(n.get("id")) for n in nodes])
    lonlat = np.array([(float(n.get("lon")), float(n.get("lat"))) for n in nodes])
    ways = [
        (
            np.array([int(nd.get("ref")) for nd in w.iter("nd")]),
            {t.get("k"): t.get("v") for t in w.iter("tag")},
        )
        for w in root.iter("way")
    ]
    a = np.concatenate([refs[:-1] for refs, _ in ways]) - 1
    b = np.concatenate([refs[1:] for refs, _ in ways]) - 1
    way = np.concatenate([np.full(len(refs) - 1, k) for k, (refs, _) in enumerate(ways)])
    return Parsed(root, lonlat, ids, ways, a, b, way)


@pytest.fixture(scope="module")
def layers() -> dict[str, shapely.Geometry]:
    return {
        name: gpd.read_file(DEFAULT_GPKG, layer=name).to_crs(CRS_STORAGE).geometry.union_all()
        for name in ("boundary", "reservoir")
    }


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- generation


def test_generation_is_deterministic_plain_and_bz2(generated, tmp_path):
    plain = tmp_path / "again.osm"
    schematic.write_osm(plain)
    data = plain.read_bytes()
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert bz2.decompress(generated.read_bytes()) == data


def test_shipped_file_equals_a_fresh_generation(generated):
    shipped = _sha(bz2.decompress(SHIPPED.read_bytes()))
    fresh = _sha(bz2.decompress(generated.read_bytes()))
    assert shipped == fresh, "data/network is stale: run `python -m geoservice.schematic`"


def test_to_xml_escapes_and_formats_fixed():
    nodes = [schematic.Node(1, 40.37, 116.8335), schematic.Node(2, 40.371, 116.83351234567)]
    ways = [schematic.Way(1, (1, 2), {"highway": "residential", "name": 'A&B "<路>"'})]
    xml = schematic.to_xml(nodes, ways, (116.8, 40.3, 116.9, 40.4)).decode()
    assert '<node id="2" lat="40.3710000" lon="116.8335123" version="1"/>' in xml
    assert "A&amp;B &quot;&lt;路&gt;&quot;" in xml
    assert "timestamp" not in xml
    root = ET.fromstring(xml)
    assert root.get("generator") == schematic.GENERATOR
    assert root.find("way/tag[@k='name']").get("v") == 'A&B "<路>"'


# --------------------------------------------------------------------------- structure


def test_header_ids_and_references(parsed):
    root = parsed.root
    assert root.tag == "osm"
    assert root.get("version") == "0.6"
    assert root.get("generator") == "geoservice.schematic"
    assert root.find("bounds") is not None
    np.testing.assert_array_equal(parsed.ids, np.arange(1, len(parsed.ids) + 1))
    way_ids = [int(w.get("id")) for w in root.iter("way")]
    assert way_ids == list(range(1, len(way_ids) + 1))
    refs = np.concatenate([refs for refs, _ in parsed.ways])
    assert refs.min() >= 1
    assert refs.max() <= len(parsed.ids)
    assert all(len(r) >= 2 for r, _ in parsed.ways)
    assert all(el.get("version") == "1" for el in root if el.tag in ("node", "way"))


def test_sizes_in_target_ranges(parsed):
    assert 100_000 <= len(parsed.ids) <= 300_000
    assert 5_000 <= len(parsed.ways) <= 50_000


def test_every_way_is_tagged_and_marked_schematic(parsed):
    for _, tags in parsed.ways:
        assert tags["highway"] in schematic.HIGHWAY_TYPES
        assert tags["note"] == schematic.NOTE
    present = set(parsed.highway())
    assert present == set(schematic.HIGHWAY_TYPES)
    tracks = [tags for _, tags in parsed.ways if tags["highway"] == "track"]
    assert all(t["tracktype"].startswith("grade") and "surface" in t for t in tracks)


def test_motorway_and_trunk_tags(parsed):
    motorway = [t for _, t in parsed.ways if t["highway"] == "motorway"]
    assert {(t["name"], t["ref"], t["oneway"], t["maxspeed"]) for t in motorway} == {
        ("京承高速", "G45", "yes", "120")
    }
    links = [t for _, t in parsed.ways if t["highway"] == "motorway_link"]
    assert 12 <= len(links) <= 40  # four ramps at each of 3–5 interchanges (maybe split)
    assert all(t["oneway"] == "yes" and t["maxspeed"] == "60" for t in links)
    trunk = [t for _, t in parsed.ways if t["highway"] == "trunk"]
    assert all(t["ref"] == "G101" and t["maxspeed"] == "80" for t in trunk)
    named = {t.get("name") for _, t in parsed.ways if t["highway"] in ("primary", "secondary")}
    assert "环库路" in named
    assert len(named) >= 15


def test_some_urban_streets_are_one_way(parsed):
    hw = parsed.highway()
    oneway = np.array([t.get("oneway") == "yes" for _, t in parsed.ways])
    streets = np.isin(hw, ["residential", "secondary"])
    assert 10 <= (oneway & streets).sum() <= 0.2 * streets.sum()


def test_walk_only_links_exist_and_touch_roads(parsed):
    hw = parsed.highway()
    counts = Counter(hw)
    assert counts["footway"] >= 20
    assert counts["path"] >= 1
    drive_nodes = set(
        np.concatenate(
            [r for (r, _), h in zip(parsed.ways, hw, strict=True) if h not in ("footway", "path")]
        )
    )
    footways = [r for (r, _), h in zip(parsed.ways, hw, strict=True) if h == "footway"]
    touching = sum(r[0] in drive_nodes and r[-1] in drive_nodes for r in footways)
    assert touching >= 0.8 * len(footways)


def test_one_place_node_per_village_and_community(parsed):
    """Every village/community of the NBS list has one ``place`` node, named and coded,
    standing on a node of the roads drawn for it."""
    nodes = [n for n in parsed.root.findall("node") if n.find("tag") is not None]
    tags = [{t.get("k"): t.get("v") for t in n.iter("tag")} for n in nodes]
    sites = gpd.read_file(DEFAULT_GPKG, layer="sites")
    sites = sites[sites["kind"].isin(["village", "community"])].set_index("code")
    assert len(sites) == 429
    assert sorted(t["ref"] for t in tags) == sorted(sites.index)
    for t in tags:
        site = sites.loc[t["ref"]]
        assert t["name"] == site["name"]
        community = site["kind"] == "community"
        assert t["place"] == ("neighbourhood" if community else "village")
        assert t["place:CN"] == ("neighborhood" if community else "village")
        assert t["note"] == schematic.NOTE
    # Place nodes come after the road nodes and stand exactly on a road node.
    ids = np.array([int(n.get("id")) for n in nodes])
    np.testing.assert_array_equal(
        ids, np.arange(len(parsed.ids) - len(ids) + 1, len(parsed.ids) + 1)
    )
    road = np.unique(np.concatenate([refs for refs, _ in parsed.ways])) - 1
    road_xy = {tuple(xy) for xy in parsed.lonlat[road].tolist()}
    assert all(tuple(parsed.lonlat[i - 1].tolist()) in road_xy for i in ids)


def test_communities_near_their_town_centre_villages_further_out(parsed):
    nodes = [n for n in parsed.root.findall("node") if n.find("tag") is not None]
    towns = gpd.read_file(DEFAULT_GPKG, layer="towns")
    centre = {r.code: (r.geometry.x, r.geometry.y) for r in towns.itertuples() if r.geometry}
    centre |= {c: ll for c, ll in SAMPLE_ANCHORS.items() if c not in centre}
    t = Transformer.from_crs(CRS_STORAGE, CRS_METRIC, always_xy=True)
    dist: dict[str, list[float]] = {"village": [], "neighbourhood": []}
    for n in nodes:
        tags = {x.get("k"): x.get("v") for x in n.iter("tag")}
        cx, cy = t.transform(*centre[tags["ref"][:9]])
        px, py = t.transform(float(n.get("lon")), float(n.get("lat")))
        dist[tags["place"]].append(math.hypot(px - cx, py - cy))
    assert max(dist["neighbourhood"]) < 6_000
    assert np.median(dist["neighbourhood"]) < 2_500 < np.median(dist["village"])
    assert max(dist["village"]) < 25_000


# --------------------------------------------------------------------------- hard rules


def test_all_nodes_inside_the_district(parsed, layers):
    x, y = parsed.lonlat.T
    assert shapely.contains_xy(layers["boundary"], x, y).all()


def test_no_way_touches_the_reservoir(parsed, layers):
    reservoir = layers["reservoir"]
    shapely.prepare(reservoir)
    segs = shapely.linestrings(
        np.stack([parsed.lonlat[parsed.seg_a], parsed.lonlat[parsed.seg_b]], axis=1)
    )
    assert not shapely.intersects(reservoir, segs).any()


def _metric_segments(parsed: Parsed) -> tuple[np.ndarray, shapely.STRtree, np.ndarray, np.ndarray]:
    t = Transformer.from_crs(CRS_STORAGE, CRS_METRIC, always_xy=True)
    x, y = t.transform(parsed.lonlat[:, 0], parsed.lonlat[:, 1])
    xy = np.column_stack([x, y])
    segs = shapely.linestrings(np.stack([xy[parsed.seg_a], xy[parsed.seg_b]], axis=1))
    tree = shapely.STRtree(segs)
    i, j = tree.query(segs, predicate="intersects")
    keep = i < j
    i, j = i[keep], j[keep]
    a, b = parsed.seg_a, parsed.seg_b
    shared = (a[i] == a[j]) | (a[i] == b[j]) | (b[i] == a[j]) | (b[i] == b[j])
    return xy, tree, i[~shared], j[~shared]


def test_crossings_share_a_node_unless_a_bridge_passes_over_the_motorway(parsed):
    _, _, i, j = _metric_segments(parsed)
    hw = parsed.highway()[parsed.seg_way]
    bridge = np.array([t.get("bridge") == "yes" for _, t in parsed.ways])[parsed.seg_way]
    motorway = np.isin(hw, ["motorway", "motorway_link"])
    # Every crossing without a shared node is a bridge over the motorway (or its ramps).
    over = (motorway[i] & bridge[j]) | (motorway[j] & bridge[i])
    assert over.all(), f"{(~over).sum()} crossings without a shared node"
    assert over.sum() >= 10
    bridges = [t for _, t in parsed.ways if t.get("bridge") == "yes"]
    assert all(t["layer"] == "1" for t in bridges)


def test_motorway_shares_nodes_only_with_its_ramps(parsed):
    hw = parsed.highway()
    motorway_nodes = set(
        np.concatenate([r for (r, _), h in zip(parsed.ways, hw, strict=True) if h == "motorway"])
    )
    for (refs, _), h in zip(parsed.ways, hw, strict=True):
        if h not in ("motorway", "motorway_link"):
            assert not motorway_nodes.intersection(refs.tolist())


def test_drive_network_is_strongly_connected_raw(parsed):
    """Largest strongly connected component of the raw drive graph (one-way respected)."""
    g = nx.DiGraph()
    for refs, tags in parsed.ways:
        if tags["highway"] in schematic.WALK_ONLY:
            continue
        pairs = list(zip(refs[:-1].tolist(), refs[1:].tolist(), strict=True))
        g.add_edges_from(pairs)
        if tags.get("oneway") != "yes":
            g.add_edges_from((v, u) for u, v in pairs)
    biggest = max(nx.strongly_connected_components(g), key=len)
    assert len(biggest) / len(g) >= 0.99


# --------------------------------------------------------------------------- osmnx


def test_osmnx_loads_it_as_a_real_extract():
    """The file is plain OSM XML: osmnx reads it (the service itself reads it with
    pyosmium, see tests/test_osm_reader.py)."""
    G = ox.graph_from_xml(SHIPPED, simplify=True, retain_all=False, bidirectional=True)
    assert 20_000 <= len(G) <= 60_000


def test_drive_network_strongly_connected_as_built():
    """The drive network the service builds from the file (one-way respected)."""
    net = network.build_from_osm(osm.read_osm(SHIPPED), ("drive",))["drive"]
    _, label = connected_components(net.matrix(), directed=True, connection="strong")
    assert np.bincount(label).max() / net.n_nodes >= 0.99


# --------------------------------------------------------------------------- helpers


def test_arc_takes_the_shorter_way_round():
    square = np.array([[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]], dtype=float)
    arc = schematic._arc(square, np.array([5.0, 0.0]), np.array([0.0, 5.0]))
    np.testing.assert_array_equal(arc, [[5, 0], [0, 0], [0, 5]])
    arc = schematic._arc(square, np.array([5.0, 0.0]), np.array([10.0, 5.0]))
    np.testing.assert_array_equal(arc, [[5, 0], [10, 0], [10, 5]])


def test_a_line_leaving_the_district_is_rerouted_inside():
    builder = schematic._Builder(DEFAULT_GPKG, schematic.DEFAULT_SEED)
    inner = builder.inner
    # Points 100 m inside the inner boundary; some chords between them leave it.
    shrunk = max(shapely.get_parts(inner.buffer(-100)), key=lambda g: g.area).exterior
    pts = [
        np.asarray(shrunk.interpolate(f, normalized=True).coords[0]) for f in np.linspace(0, 1, 80)
    ]
    pair = next(
        (a, b)
        for a, b in zip(pts, pts[3:], strict=False)
        if not inner.covers(shapely.LineString([a, b]))
    )
    xy = builder.detour_boundary(np.array(pair))
    assert xy is not None
    np.testing.assert_array_equal(xy[[0, -1]], np.array(pair))
    assert builder.land.covers(shapely.LineString(xy))  # the simplified ring is ~250 m inside
