"""``GET /api/coverage`` and ``GET /api/coverage/suggest``: answers on the small 鼓楼 extract
and on the Miyun network, every bad parameter, the answer cache (ETag, 304, gzip), limits.
"""

from __future__ import annotations

import gzip
import json

import pytest
import shapely
from conftest import GRID_STATIONS, assert_bilingual_error, make_app, stations_frame

from geoservice import service
from geoservice.coverage import LAYERS, CoverageEngine
from geoservice.web import COVERAGE_KEY, DEFAULT_NETWORK, STORE_KEY, get_library

#: The grid stations; T03 opens on weekday daytimes only (closed at night).
HOURS = ["24/7", "24/7", "24/7", "Mo-Fr 08:00-18:00", "24/7"]
NIGHT = "2026-11-25T02:00"  # a Wednesday


def _app(tmp, **config):
    """The conftest app on the grid stations, T03 with weekday daytime HOURS."""
    return make_app(tmp, stations=stations_frame(GRID_STATIONS, hours=HOURS), **config)


@pytest.fixture(scope="module")
def cov_app(tmp_path_factory):
    return _app(tmp_path_factory.mktemp("coverage_api"), RATELIMIT_ENABLED=False)


@pytest.fixture(scope="module")
def c(cov_app):
    return cov_app.test_client()


def _positions(geometry: dict) -> list[list[float]]:
    """Every position of a GeoJSON geometry."""
    out: list[list[float]] = []

    def walk(x):
        if x and isinstance(x[0], int | float):
            out.append(x)
        else:
            for y in x:
                walk(y)

    walk(geometry["coordinates"])
    return out


# -- answers on the small extract ---------------------------------------------------------------


def test_coverage_answer_is_geojson_with_the_figures(c, cov_app):
    r = c.get("/api/coverage?mode=walk&minutes=5,10,15")
    assert r.status_code == 200
    assert r.mimetype == "application/json"
    doc = r.get_json()
    assert doc["type"] == "FeatureCollection"
    assert doc["layer"] == "areas"
    # One polygon per threshold, the largest first (smaller ones are drawn on top).
    assert [f["properties"]["minutes"] for f in doc["features"]] == [15, 10, 5]
    assert {f["geometry"]["type"] for f in doc["features"]} <= {"Polygon", "MultiPolygon"}
    assert list(doc["layers"]) == list(service.COVERAGE_DEFAULT_LAYERS)
    assert len(doc["layers"]["stations"]["features"]) == len(GRID_STATIONS)
    cov = doc["coverage"]
    assert cov["query"]["minutes"] == [5, 10, 15]
    assert cov["stations"]["count"] == len(GRID_STATIONS)
    assert doc["revision"] == cov_app.extensions[STORE_KEY].revision()
    # The figures are the engine's own, unchanged.
    engine = cov_app.extensions[COVERAGE_KEY].get()
    direct = engine.compute({"mode": "walk", "minutes": "5,10,15"}).to_dict()
    assert cov == json.loads(json.dumps(direct))
    rows = cov["district"]["thresholds"]
    assert rows[0]["covered_km"] <= rows[1]["covered_km"] <= rows[2]["covered_km"]
    assert all(t["approximate"] for t in cov["towns"])
    # Every station stands inside the smallest area; coordinates have 5 decimals.
    smallest = shapely.geometry.shape(doc["features"][-1]["geometry"])
    for lon, lat in GRID_STATIONS:
        assert smallest.buffer(1e-4).contains(shapely.Point(lon, lat))
    for f in doc["features"]:
        for x, y in _positions(f["geometry"]):
            assert round(x, 5) == x
            assert round(y, 5) == y


def test_one_layer_and_no_other(c):
    doc = c.get("/api/coverage?layer=catchments&layers=none").get_json()
    assert doc["layer"] == "catchments"
    assert doc["layers"] == {}
    assert {f["properties"]["station_id"] for f in doc["features"]} == {
        f"T{i:02d}" for i in range(len(GRID_STATIONS))
    }
    assert {f["geometry"]["type"] for f in doc["features"]} <= {"MultiLineString", "LineString"}
    # Chinese layer names are accepted; a layer named twice is sent once.
    doc = c.get("/api/coverage?layer=未覆盖道路&layers=uncovered,双站覆盖").get_json()
    assert doc["layer"] == "uncovered"
    assert list(doc["layers"]) == ["cross"]
    every = c.get("/api/coverage?layers=" + ",".join(LAYERS)).get_json()
    assert list(every["layers"]) == [x for x in LAYERS if x != "areas"]


def test_simplification_only_thins_the_geometry(c):
    exact = c.get("/api/coverage?minutes=5&simplify_m=0").get_json()
    thin = c.get("/api/coverage?minutes=5&simplify_m=50").get_json()
    assert exact["coverage"] == thin["coverage"]
    n_exact = len(_positions(exact["features"][0]["geometry"]))
    n_thin = len(_positions(thin["features"][0]["geometry"]))
    assert n_thin < n_exact
    a = shapely.geometry.shape(exact["features"][0]["geometry"])
    b = shapely.geometry.shape(thin["features"][0]["geometry"])
    assert b.hausdorff_distance(a) < 50 / 111_320 * 1.5


def test_time_filter_counts_only_the_stations_open_then(c):
    night = c.get(f"/api/coverage?minutes=15&open_at={NIGHT}").get_json()
    day = c.get("/api/coverage?minutes=15&open_at=2026-11-25T10:00").get_json()
    ids = {f["properties"]["id"] for f in night["layers"]["stations"]["features"]}
    assert "T03" not in ids
    assert len(ids) == len(GRID_STATIONS) - 1
    assert day["coverage"]["stations"]["count"] == len(GRID_STATIONS)
    assert night["coverage"]["query"]["open_at"].startswith("2026-11-25T02:00:00+08:00")


def test_no_station_and_unreachable_thresholds_are_answers(c):
    """Nothing counted, or a threshold shorter than the walk to any road: empty coverage,
    not an error."""
    none = c.get("/api/coverage?kind=caravan_base").get_json()
    assert none["coverage"]["stations"]["count"] == 0
    assert all(f["geometry"] is None for f in none["features"])
    assert none["coverage"]["district"]["thresholds"][-1]["covered_km"] == 0
    assert none["layers"]["uncovered"]["features"]
    tiny = c.get("/api/coverage?minutes=0.001").get_json()
    assert tiny["coverage"]["district"]["thresholds"][0]["covered_km"] < 0.01
    r = c.get("/api/coverage/suggest?minutes=0.001&n=2")
    assert r.status_code == 200


def test_suggested_sites_with_gains_before_after_and_baseline(c):
    r = c.get("/api/coverage/suggest?mode=walk&minutes=2&n=2")
    assert r.status_code == 200
    doc = r.get_json()
    assert doc["type"] == "FeatureCollection"
    s = doc["siting"]
    assert s["query"]["n"] == 2
    assert s["query"]["minutes"] == [2]
    assert 1 <= len(doc["features"]) <= 2
    assert [f["properties"]["rank"] for f in doc["features"]] == list(
        range(1, len(doc["features"]) + 1)
    )
    gains = [site["added_road_km"] for site in s["sites"]]
    assert all(g > 0 for g in gains)
    assert s["after"]["covered_km"] - s["before"]["covered_km"] == pytest.approx(
        sum(gains), abs=2e-3
    )
    assert s["solver"]["objective"] >= s["greedy"]["objective"] - 1e-6
    assert {"stations_needed", "optimal"} <= set(s["set_cover"])
    assert doc["revision"]


# -- bad parameters -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("mode=boat", "mode"),
        ("mode=walk&mode=bike", "mode"),
        ("minutes=0", "minutes"),
        ("minutes=-5", "minutes"),
        ("minutes=121", "minutes"),
        ("minutes=soon", "minutes"),
        ("minutes=nan", "minutes"),
        ("minutes=inf", "minutes"),
        ("minutes=1e999", "minutes"),
        ("minutes=1,2,3,4,5,6,7", "minutes"),
        ("open_at=25:99", "open_at"),
        ("open_at=yesterday", "open_at"),
        ("open_at=1999-01-01T00:00", "open_at"),
        ("kind=bakery", "kind"),
        ("amenity=sauna", "amenity"),
        ("buffer_m=60", "buffer_m"),
        ("buffer_m=0", "buffer_m"),
        ("layer=roads", "layer"),
        ("layers=roads", "layers"),
        ("layers=none,areas", "layers"),
        ("simplify_m=-1", "simplify_m"),
        ("simplify_m=51", "simplify_m"),
    ],
)
def test_bad_coverage_parameters_are_bilingual_400s(c, query, parameter):
    body = assert_bilingual_error(c.get(f"/api/coverage?{query}"), 400, parameter)
    assert parameter in body["message_zh"]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("n=0", "n"),
        ("n=51", "n"),
        ("n=2.5", "n"),
        ("n=ten", "n"),
        ("objective=people", "objective"),
        ("minutes=5,10", "minutes"),
        ("minutes=0", "minutes"),
        ("minutes=999", "minutes"),
        ("mode=plane", "mode"),
        ("open_at=noon", "open_at"),
        ("kind=bakery", "kind"),
    ],
)
def test_bad_suggest_parameters_are_bilingual_400s(c, query, parameter):
    assert_bilingual_error(c.get(f"/api/coverage/suggest?{query}"), 400, parameter)


# -- the answer cache ---------------------------------------------------------------------------


def test_answers_are_cached_revalidated_and_gzipped(tmp_path):
    app = _app(tmp_path, RATELIMIT_ENABLED=False)
    client = app.test_client()
    r = client.get("/api/coverage?minutes=15,5")
    tag = r.headers["ETag"]
    assert tag.startswith('W/"')
    assert r.headers["Cache-Control"] == "no-cache"
    assert "Accept-Encoding" in r.headers["Vary"]
    assert "Content-Encoding" not in r.headers
    # The same question spelt otherwise is the same answer.
    again = client.get("/api/coverage?minutes=5&minutes=15&mode=步行")
    assert again.headers["ETag"] == tag
    assert again.data == r.data
    # A browser holding it gets a 304 (nothing computed, nothing sent).
    r304 = client.get("/api/coverage?minutes=15,5", headers={"If-None-Match": tag})
    assert r304.status_code == 304
    assert r304.data == b""
    assert r304.headers["ETag"] == tag
    assert r304.headers["Content-Security-Policy"].startswith("default-src 'none'")
    # gzip for clients that take it.
    z = client.get("/api/coverage?minutes=15,5", headers={"Accept-Encoding": "gzip, br"})
    assert z.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(z.data) == r.data
    assert len(z.data) < len(r.data) / 3
    no = client.get("/api/coverage?minutes=15,5", headers={"Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in no.headers
    # An edit of the stations is a new revision: a new tag and a new answer.
    store = app.extensions[STORE_KEY]
    store.update("stations", lambda g: (g.loc[g["id"] != "T00"], None))
    edited = client.get("/api/coverage?minutes=15,5", headers={"If-None-Match": tag})
    assert edited.status_code == 200
    assert edited.headers["ETag"] != tag
    assert edited.get_json()["coverage"]["stations"]["count"] == len(GRID_STATIONS) - 1
    # Suggestions are cached the same way.
    s1 = client.get("/api/coverage/suggest?minutes=2&n=1")
    s2 = client.get("/api/coverage/suggest?n=1&minutes=2.0", headers={"If-None-Match": "x"})
    assert s1.headers["ETag"] == s2.headers["ETag"]
    assert s1.data == s2.data


def test_answer_cache_keeps_to_its_budget(tmp_path):
    from geoservice.web.answers import AnswerCache

    cache = AnswerCache(tmp_path / "answers", max_bytes=10_000)
    for i in range(50):
        cache.put(f"t{i}", json.dumps({"i": i, "x": "驿" * 500}).encode())
        assert cache.size <= 10_000
    assert cache.get("t49") is not None
    assert cache.get("t0") is None
    cache.put("huge", b"x" * 20_000)  # larger than the budget: sent, not kept
    assert cache.get("huge") is None
    assert cache.size <= 10_000


def test_expensive_endpoints_are_rate_limited(tmp_path):
    app = _app(tmp_path, RATELIMIT_SUGGEST="2 per minute", RATELIMIT_COVERAGE="3 per minute")
    client = app.test_client()
    codes = [client.get("/api/coverage/suggest?minutes=2&n=1").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    r = client.get("/api/coverage/suggest?n=1")
    assert r.status_code == 429
    assert "Retry-After" in r.headers
    assert r.get_json()["status"] == 429
    codes = [client.get("/api/coverage?minutes=5").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


# -- the Miyun network ------------------------------------------------------------------------


class _Fixed:
    """A coverage provider handing out one engine (the session's Miyun networks)."""

    def __init__(self, engine: CoverageEngine) -> None:
        self.engine = engine

    def get(self) -> CoverageEngine:
        return self.engine


@pytest.mark.slow
def test_miyun_answers_drive_coverage_and_a_suggestion(miyun_networks, tmp_path):
    app = make_app(tmp_path, NETWORK_DEFAULT=str(DEFAULT_NETWORK), RATELIMIT_ENABLED=False)
    store = app.extensions[STORE_KEY]
    with app.app_context():
        # Village positions come from the network's place nodes (schematic).
        engine = CoverageEngine(miyun_networks, store, get_library())
    app.extensions[COVERAGE_KEY] = _Fixed(engine)
    client = app.test_client()
    r = client.get(
        "/api/coverage?mode=drive&minutes=5,10&layers=cross,uncovered,stations",
        headers={"Accept-Encoding": "gzip"},
    )
    assert r.status_code == 200
    # What the page loads for a view stays light enough for a phone.
    assert len(r.data) < 1_000_000
    doc = json.loads(gzip.decompress(r.data))
    cov = doc["coverage"]
    assert cov["network"]["schematic"] is True
    assert {n["code"] for n in cov["notices"]} >= {
        "schematic_network",
        "sample_stations",
        "towns_approximate",
    }
    assert cov["stations"]["count"] == 92
    assert 0 < cov["district"]["thresholds"][0]["covered_share"] < 1
    assert len(cov["towns"]) >= 20
    assert cov["gaps"]
    assert len(doc["layers"]["uncovered"]["features"]) == len(cov["gaps"])
    assert [f["properties"]["minutes"] for f in doc["features"]] == [10, 5]
    r = client.get("/api/coverage/suggest?mode=drive&minutes=10&n=2&objective=villages")
    assert r.status_code == 200
    s = r.get_json()["siting"]
    assert len(s["sites"]) == 2
    assert s["after"]["villages_covered"] > s["before"]["villages_covered"]
    assert s["set_cover"]["stations_needed"] >= 2
