"""Coverage: exact figures on a hand-made network, brute force on the Miyun network,
polygon sanity, the time filter and every bad parameter."""

from __future__ import annotations

import datetime as dt

import networkx as nx
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from conftest import assert_refused, stations_frame

from geoservice import hours as _hours
from geoservice.coverage import CoverageEngine, CoverageQuery, figures, tiles
from geoservice.model import CRS_STORAGE
from geoservice.network import Network, access_speed_ms

# -- a hand-made network with known answers ---------------------------------------------------
#
#   n4 (1000, 800)                       Walk at 1.25 m/s. Metres east/north of ORIGIN.
#    | d: track, 800 m (town A)           a, b, c: residential, 1000 m each.
#   n0 --a-- n1 --b-- n2 --c-- n3         S1 on a at x = 200 (door on the road).
#    |                 |                  S2 on c at x = 2500, door 30 m north (24 s).
#    f: motorway      e: track, 600 m     V1 (town A) on d, 650 m from n1.
#    | 500 m           |                  V2 (town B) 100 m north of c at x = 2600.
#   n6 (0, -500)      n5 (2000, -600)     g: n7 (5000, 0) -- n8 (5500, 0), unconnected,
#                                            with V3 (town B) on it.

ORIGIN = (117.0, 40.45)  # > 9 km from every town seat: no seat takes part
TOWN_A, TOWN_B = "110118105", "110118104"
_TO_LONLAT = pyproj.Transformer.from_crs("EPSG:32650", CRS_STORAGE, always_xy=True)
_TO_M = pyproj.Transformer.from_crs(CRS_STORAGE, "EPSG:32650", always_xy=True)
X0, Y0 = _TO_M.transform(*ORIGIN)
NODES = [(0, 0), (1000, 0), (2000, 0), (3000, 0), (1000, 800), (2000, -600), (0, -500),
         (5000, 0), (5500, 0)]  # fmt: skip
ROADS = {  # name: (u, v, highway)
    "a": (0, 1, "residential"),
    "b": (1, 2, "residential"),
    "c": (2, 3, "residential"),
    "d": (1, 4, "track"),
    "e": (2, 5, "track"),
    "f": (0, 6, "motorway"),
    "g": (7, 8, "residential"),
}
SPEED = 4.5 / 3.6


def lonlat(x: float, y: float) -> tuple[float, float]:
    lon, lat = _TO_LONLAT.transform(X0 + x, Y0 + y)
    return float(lon), float(lat)


def toy_network() -> Network:
    """Every road both ways, lengths exactly the metric lengths, walking speed."""
    node_xy = np.array([lonlat(x, y) for x, y in NODES])
    us, vs, lengths, highways, names, parts = [], [], [], [], [], []
    for name, (u, v, hw) in ROADS.items():
        (x0, y0), (x1, y1) = NODES[u], NODES[v]
        length = float(np.hypot(x1 - x0, y1 - y0))
        # A middle vertex so that cutting works inside a polyline, not only at its ends.
        mid = lonlat((x0 + x1) / 2, (y0 + y1) / 2)
        line = np.array([node_xy[u], mid, node_xy[v]])
        for a, b, coords in ((u, v, line), (v, u, line[::-1])):
            us.append(a)
            vs.append(b)
            lengths.append(length)
            highways.append(hw)
            names.append(name)
            parts.append(coords)
    counts = [len(p) for p in parts]
    edge_u, edge_v = np.array(us), np.array(vs)
    length = np.array(lengths)
    twin = np.arange(len(us)) ^ 1
    return Network(
        mode="walk",
        node_xy=node_xy,
        edge_u=edge_u,
        edge_v=edge_v,
        edge_length=length,
        edge_time=length / SPEED,
        edge_twin=twin,
        edge_highway=np.array(highways),
        edge_name=np.array(names),
        geom_xy=np.vstack(parts),
        geom_offsets=np.concatenate([[0], np.cumsum(counts)]),
        metric_crs="EPSG:32650",
        node_osmid=np.arange(1, len(node_xy) + 1, dtype=np.int64),
        meta={"schematic": False, "source": "hand-made"},
    )


def toy_sites(store) -> pd.DataFrame:
    rows = [
        ("V1", "一号村", "village", TOWN_A, lonlat(1000, 650)),
        ("V2", "二号社区", "community", TOWN_B, lonlat(2600, 100)),
        ("V3", "三号村", "village", TOWN_B, lonlat(5200, 0)),
    ]
    import geopandas as gpd

    df = pd.DataFrame(
        {
            "id": [r[0] for r in rows],
            "name": [r[1] for r in rows],
            "kind": [r[2] for r in rows],
            "code": "",
            "lon": [r[4][0] for r in rows],
            "lat": [r[4][1] for r in rows],
            "town_code": [r[3] for r in rows],
            "service_minutes": 60,
            "official_name": "",
            "coord_source": ["import", "import", "schematic"],
            "source": "import",
        }
    )
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df.lon, df.lat), crs=CRS_STORAGE)


def toy_engine(store, names: list[str] | None = None) -> CoverageEngine:
    """Coverage on the hand-made network, with S1 and S2 (named ``names``) as the stations
    and V1–V3 as the villages of ``store``."""
    stations = stations_frame([lonlat(200, 0), lonlat(2500, 30)], names=names)
    store.update("stations", lambda _: (stations, None))
    store.update("sites", lambda _: (toy_sites(store), None))
    return CoverageEngine({"walk": toy_network()}, store)


@pytest.fixture
def toy(store):
    return toy_engine(store)


def _town(cov, code):
    return next(t for t in cov.towns if t["code"] == code)


def test_hand_made_lengths_to_the_metre(toy):
    cov = toy.compute({"mode": "walk", "minutes": "10,20"})
    d = cov.district
    assert d["road_km"] == pytest.approx(4.3, abs=1e-6)  # a, b, c, d (in V1's settlement), g
    assert d["all_road_km"] == pytest.approx(5.4, abs=1e-6)
    t10, t20 = d["thresholds"]
    assert t10["covered_km"] == pytest.approx(2.170, abs=1e-3)  # 950 + 220 + 1000
    assert t10["all_roads"]["covered_km"] == pytest.approx(2.890, abs=1e-3)  # + e 220 + f 500
    assert t10["covered_share"] == pytest.approx(2170 / 4300, abs=1e-4)
    assert t20["covered_km"] == pytest.approx(3.700, abs=1e-3)  # a, b, c, 700 m of d
    assert t20["all_roads"]["covered_km"] == pytest.approx(4.800, abs=1e-3)
    # Two distinct stations within 20 min only on b between x = 1030 and 1700.
    assert t10["cross_km"] == 0
    assert t20["cross_km"] == pytest.approx(0.670, abs=1e-3)
    # ACFTU: within 1 km of a door: a, 200 m of d, b 200 + 470, c.
    assert d["acftu_km"] == pytest.approx(2.870, abs=1e-3)
    assert d["acftu_share"] == pytest.approx(2870 / 4300, abs=1e-4)


def test_hand_made_towns_and_villages(toy):
    cov = toy.compute({"mode": "walk", "minutes": "10,20"})
    a, b = _town(cov, TOWN_A), _town(cov, TOWN_B)
    assert a["approximate"]
    assert b["approximate"]
    assert a["road_km"] == pytest.approx(2.8, abs=1e-6)  # a, b, d
    assert a["all_road_km"] == pytest.approx(3.3, abs=1e-6)  # and the motorway f
    assert a["thresholds"][0]["covered_km"] == pytest.approx(1.170, abs=1e-3)
    assert a["thresholds"][0]["all_roads"]["covered_km"] == pytest.approx(1.670, abs=1e-3)
    assert b["road_km"] == pytest.approx(1.5, abs=1e-6)  # c, g
    assert b["thresholds"][0]["covered_km"] == pytest.approx(1.0, abs=1e-3)
    assert b["thresholds"][1]["all_roads"]["covered_km"] == pytest.approx(1.6, abs=1e-3)
    # Villages: V2 is 184 s away, V1 1160 s, V3 unreachable.
    assert cov.district["villages"] == 3
    assert cov.district["villages_schematic"] == 1
    assert [t["villages_covered"] for t in cov.district["thresholds"]] == [1, 2]
    assert cov.district["thresholds"][0]["villages_share"] == pytest.approx(1 / 3, abs=1e-4)
    assert [v["id"] for v in cov.villages] == ["V3"]
    assert cov.villages[0]["travel_time_s"] is None
    assert cov.villages[0]["schematic"]
    cov10 = toy.compute({"mode": "walk", "minutes": "10"})
    times = {v["id"]: v["travel_time_s"] for v in cov10.villages}
    assert times["V1"] == pytest.approx(1160, abs=0.1)
    assert "V2" not in times
    codes = [n["code"] for n in cov.notices]
    assert {"towns_approximate", "schematic_villages"} <= set(codes)


def test_hand_made_gaps_and_areas(toy):
    cov = toy.compute({"mode": "walk", "minutes": "10"})
    # People roads beyond 10 min: a and b from 950 to 1780, all of d (town A) and g (town
    # B): one gap per road in its town, not one stretch under the town that has most of it.
    got = [(g["town"], g["road"], g["length_km"]) for g in cov.gaps]
    assert got == [
        ("巨各庄镇", "d", pytest.approx(0.8, abs=1e-3)),
        ("巨各庄镇", "b", pytest.approx(0.78, abs=1e-3)),
        ("河南寨镇", "g", pytest.approx(0.5, abs=1e-3)),
        ("巨各庄镇", "a", pytest.approx(0.05, abs=1e-3)),
    ]
    assert cov.gaps[2]["nearest_station_min"] is None  # unconnected road
    assert cov.gaps[0]["road_named"]
    assert cov.gaps[0]["summary"] == "巨各庄镇 d：超过 10 分钟可达的道路 0.8 公里"
    # A road without a name goes by its class.
    assert figures._road_label("track", "") == "无名田间小路"
    assert figures._road_label("primary_link", "") == "主干道连接道"
    assert figures._road_label("residential", "檀营路") == "檀营路"
    # The area is the reached pieces buffered by 50 m, computed here independently.
    pieces = [((0, 0), (950, 0)), ((1780, 0), (3000, 0)), ((0, 0), (0, -500)),
              ((2000, 0), (2000, -220))]  # fmt: skip
    expected = shapely.union_all(
        [shapely.buffer(shapely.LineString(p), 50, quad_segs=tiles._QUAD_SEGS) for p in pieces]
    )
    assert cov.areas[0].area == pytest.approx(expected.area, rel=2e-3)
    layers = cov.layers()
    assert len(layers["areas"]["features"]) == 1
    assert {f["properties"]["station_id"] for f in layers["catchments"]["features"]} == {
        "T00",
        "T01",
    }
    assert len(layers["uncovered"]["features"]) == 4  # one per gap


def test_hand_made_time_filter(toy, store):
    hours = ["24/7", "Mo-Su 08:00-18:00"]
    stations = stations_frame([lonlat(200, 0), lonlat(2500, 30)], hours=hours)
    store.update("stations", lambda _: (stations, None))
    night = toy.compute({"minutes": "10", "open_at": "2026-11-25T02:00"})
    day = toy.compute({"minutes": "10", "open_at": "2026-11-25T12:00"})
    anytime = toy.compute({"minutes": "10"})
    assert list(night.stations["id"]) == ["T00"]
    assert list(day.stations["id"]) == ["T00", "T01"]
    assert night.district["thresholds"][0]["covered_km"] == pytest.approx(0.950, abs=1e-3)
    assert day.district == anytime.district


# -- parameters ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "parameter"),
    [
        ({"mode": "plane"}, "mode"),
        ({"minutes": "0"}, "minutes"),
        ({"minutes": "-5"}, "minutes"),
        ({"minutes": "121"}, "minutes"),
        ({"minutes": "abc"}, "minutes"),
        ({"minutes": "nan"}, "minutes"),
        ({"minutes": "5,10,15,20,25,30,35"}, "minutes"),
        ({"minutes": True}, "minutes"),
        ({"open_at": "02:00 tomorrow"}, "open_at"),
        ({"open_at": "2026-13-01T02:00"}, "open_at"),
        ({"kind": "bakery"}, "kind"),
        ({"amenity": "sauna"}, "amenity"),
        ({"buffer_m": "0"}, "buffer_m"),
        ({"buffer_m": "501"}, "buffer_m"),
    ],
)
def test_bad_parameters_name_the_parameter(args, parameter):
    assert_refused(CoverageQuery.parse, args, parameter=parameter)


def test_parameters_defaults_and_lists():
    q = CoverageQuery.parse({})
    assert (q.mode, q.minutes, q.kinds, q.at) == (
        "walk",
        (5.0, 10.0, 15.0),
        ("warm_station",),
        None,
    )
    assert CoverageQuery.parse({"mode": "bike"}).minutes == (5.0, 10.0)
    assert CoverageQuery.parse({"mode": "DRIVE"}).minutes == (10.0,)
    assert CoverageQuery.parse({"minutes": ["15", "5"]}).minutes == (5.0, 15.0)
    assert CoverageQuery.parse({"minutes": 7.5}).minutes == (7.5,)
    q = CoverageQuery.parse({"kind": "warm_station,worker_home", "open_at": "2026-11-25T02:00"})
    assert q.kinds == ("warm_station", "worker_home")
    assert q.at == _hours.as_local(dt.datetime(2026, 11, 25, 2, 0))
    assert q.to_dict()["open_at"].startswith("2026-11-25T02:00")


# -- the Miyun network: brute force, polygons, time filter ------------------------------------


@pytest.fixture(scope="module")
def miyun_engine(miyun_networks, tmp_path_factory):
    from geoservice.store import GpkgStore
    from geoservice.web import DEFAULT_GPKG

    path = tmp_path_factory.mktemp("coverage") / "live.gpkg"
    return CoverageEngine(miyun_networks, GpkgStore(path, seed=DEFAULT_GPKG))


@pytest.fixture(scope="module")
def walk15(miyun_engine):
    return miyun_engine.compute({"mode": "walk", "minutes": "5,15"})


def _brute_force(net, roads, stations, taus, metric="time"):
    """Per-station networkx Dijkstra; per road the union (and pairwise overlap) of each
    station's exact reached intervals. Returns reached and cross lengths per threshold."""
    w = net.edge_time if metric == "time" else net.edge_length
    G = nx.DiGraph()
    for u, v, c in zip(net.edge_u.tolist(), net.edge_v.tolist(), w.tolist(), strict=True):
        if not G.has_edge(v, u) or G[v][u]["w"] > c:
            G.add_edge(v, u, w=c)  # reversed: distances to the station
    tmax = float(max(taus))
    per_station = []
    for r, g, cost in stations:
        src = ("s", r, g)
        G.add_edge(src, int(roads.u[r]), w=cost + g * roads.tf[r])
        G.add_edge(src, int(roads.v[r]), w=cost + (1 - g) * roads.tb[r])
        dist = nx.single_source_dijkstra_path_length(G, src, cutoff=tmax + 1, weight="w")
        G.remove_node(src)
        per_station.append((r, g, cost, dist))
    reached = np.zeros(len(taus))
    cross = np.zeros(len(taus))
    for k, tau in enumerate(taus):
        intervals: dict[int, list[list[tuple[float, float]]]] = {}
        for station in per_station:
            for rr, ivs in _station_spans(roads, station, tau).items():
                intervals.setdefault(rr, []).append(_merge(ivs))
        for rr, lists in intervals.items():
            L = roads.lf[rr]
            reached[k] += _measure(_merge([iv for ivs in lists for iv in ivs])) * L
            pairs = [
                (max(a0, b0), min(a1, b1))
                for i in range(len(lists))
                for j in range(i + 1, len(lists))
                for a0, a1 in lists[i]
                for b0, b1 in lists[j]
                if min(a1, b1) > max(a0, b0)
            ]
            cross[k] += _measure(_merge(pairs)) * L
    return reached, cross


def _station_spans(roads, station, tau):
    """Road → the intervals (fractions from its u end) one station reaches within ``tau``:
    from each end node it reaches, and along its own road."""
    r0, g0, cost, dist = station
    touched = {}
    for node, d in dist.items():
        if isinstance(node, tuple) or d > tau:
            continue
        for rr in roads_at[node]:
            touched.setdefault(rr, []).append(node)
    spans = {}
    for rr, nodes in touched.items():
        tf, tb = roads.tf[rr], roads.tb[rr]
        ivs = []
        if int(roads.v[rr]) in nodes:
            ivs.append((max(0.0, 1 - (tau - dist[int(roads.v[rr])]) / tf), 1.0))
        if int(roads.u[rr]) in nodes:
            ivs.append((0.0, min(1.0, (tau - dist[int(roads.u[rr])]) / tb)))
        spans[rr] = ivs
    if cost <= tau:
        ivs = spans.setdefault(r0, [])
        ivs.append((max(0.0, g0 - (tau - cost) / roads.tf[r0]), g0))
        ivs.append((g0, min(1.0, g0 + (tau - cost) / roads.tb[r0])))
    return spans


roads_at: dict[int, list[int]] = {}


def _merge(ivs):
    out = []
    for a, b in sorted(ivs):
        if b <= a:
            continue
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _measure(ivs):
    return sum(b - a for a, b in ivs)


@pytest.mark.slow
def test_coverage_matches_brute_force_per_station(miyun_engine, walk15):
    """Reached and cross-covered road length: one multi-source run and the envelope
    against one networkx Dijkstra per station."""
    cache = miyun_engine._modes["walk"]
    roads = cache.roads
    net = miyun_engine.networks["walk"]
    roads_at.clear()
    for rr, (u, v) in enumerate(zip(roads.u.tolist(), roads.v.tolist(), strict=True)):
        roads_at.setdefault(u, []).append(rr)
        roads_at.setdefault(v, []).append(rr)
    q = walk15.query
    with miyun_engine.snapshot("walk") as state:
        src = state.sources(q)
    cost = src.distance_m / access_speed_ms("walk")
    stations = list(zip(src.r.tolist(), src.g.tolist(), cost.tolist(), strict=True))
    reached, cross = _brute_force(net, roads, stations, q.seconds)
    p = walk15.pieces
    length = p.length(roads)
    for k in range(len(q.seconds)):
        assert length[p.lvl1 <= k].sum() == pytest.approx(reached[k], abs=1e-3)
        assert length[p.lvl2 <= k].sum() == pytest.approx(cross[k], abs=1e-3)
        assert walk15.district["thresholds"][k]["all_roads"]["covered_km"] == pytest.approx(
            reached[k] / 1000, abs=1e-3
        )


@pytest.mark.slow
def test_polygons_sane_on_miyun(miyun_engine, walk15, store):
    """Every covered node is inside the polygon; no node farther than the buffer from the
    reached roads is; nothing claims the reservoir beyond the buffer."""
    roads = miyun_engine._modes["walk"].roads
    net = miyun_engine.networks["walk"]
    p = walk15.pieces
    poly = walk15.areas[1]
    x, y = net.to_metric(net.node_xy[:, 0], net.node_xy[:, 1])
    with miyun_engine.snapshot("walk") as state:
        fld = state.field(walk15.query)
    covered = np.flatnonzero(fld.d1 <= 900)
    assert len(covered) > 1000
    shapely.prepare(poly)
    assert shapely.covers(poly, shapely.points(x[covered], y[covered])).all()
    reached = p.take(p.lvl1 <= 1)
    lines = shapely.union_all(roads.cut(reached.r, reached.g0, reached.g1))
    far = np.flatnonzero(fld.d1 > 900)
    pts = shapely.points(x[far], y[far])
    beyond = shapely.distance(lines, pts) > walk15.query.buffer_m + 1
    assert beyond.sum() > 1000
    assert not shapely.intersects(poly, pts[beyond]).any()
    water = store.read("reservoir").to_crs(net.metric_crs).geometry.union_all()
    inner = water.buffer(-(walk15.query.buffer_m + 5))
    assert shapely.area(shapely.intersection(poly, inner)) < 1.0


def test_time_filter_counts_only_stations_open_then(miyun_engine):
    at = "2026-11-25T02:00"  # a Wednesday night
    night = miyun_engine.compute({"mode": "walk", "minutes": "15", "open_at": at}, geometry=False)
    anytime = miyun_engine.compute({"mode": "walk", "minutes": "15"}, geometry=False)
    frame = miyun_engine._stations.frame
    warm = frame.loc[frame["kind"] == "warm_station"]
    expected = {
        sid
        for sid, h in zip(warm["id"], warm["opening_hours"], strict=True)
        if _hours.status(h, _hours.parse_time(at)).open
    }
    assert set(night.stations["id"]) == expected
    assert 0 < len(expected) < len(anytime.stations)
    n15 = night.district["thresholds"][0]["covered_km"]
    a15 = anytime.district["thresholds"][0]["covered_km"]
    assert 0 < n15 < a15


def test_figures_are_json_ready(walk15):
    import json

    text = json.dumps(walk15.to_dict(), ensure_ascii=False, allow_nan=False)
    assert "近似" in text or "approximate" in text
    assert walk15.to_geojson()["type"] == "FeatureCollection"
    codes = {n["code"] for n in walk15.notices}
    assert {"schematic_network", "sample_stations", "no_villages"} <= codes
