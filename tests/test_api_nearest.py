"""``/api/nearest``, ``/api/nearest/batch``, ``/api/network`` and the network CLI."""

from __future__ import annotations

import json

import numpy as np
import osmium
import osmnx
import pytest
from conftest import GRID_STATIONS, SMALL_OSM, assert_bilingual_error, make_app, stations_frame

from geoservice import crs
from geoservice.errors import EXCERPT_CHARS
from geoservice.network import osm


@pytest.fixture(scope="module")
def hostile_client(tmp_path_factory):
    """One grid app for the many read-only hostile-input requests (rate limits off)."""
    tmp = tmp_path_factory.mktemp("hostile")
    app = make_app(tmp, stations=stations_frame(GRID_STATIONS), RATELIMIT_ENABLED=False)
    return app.test_client()


def test_nearest_answer_shape(grid_client):
    r = grid_client.get("/api/nearest?lon=116.8312&lat=40.3690&mode=walk&k=3")
    assert r.status_code == 200
    body = r.get_json()
    assert body["network"]["mode"] == "walk"
    assert body["network"]["schematic"] is False
    assert body["origin"]["snap_distance_m"] < 20
    assert body["origin"]["outside_district"] is False
    assert len(body["results"]) == 3
    first = body["results"][0]
    for key in ("travel_time_s", "network_distance_m", "straight_distance_m", "route",
                "open_now", "next_open", "amenities", "phone", "navigation"):  # fmt: skip
        assert key in first
    assert first["route"]["type"] == "LineString"
    assert first["route"]["coordinates"][0] == pytest.approx([116.8312, 40.3690])
    times = [x["travel_time_s"] for x in body["results"]]
    assert times == sorted(times)


def test_gcj02_and_bd09_input_give_the_same_answer(grid_client):
    lon, lat = 116.8312, 40.3690
    base = grid_client.get(f"/api/nearest?lon={lon}&lat={lat}").get_json()
    for name, fn in (("gcj02", crs.wgs84_to_gcj02), ("bd09", crs.wgs84_to_bd09)):
        x, y = fn(lon, lat)
        got = grid_client.get(f"/api/nearest?lon={x:.9f}&lat={y:.9f}&crs={name}").get_json()
        assert got["origin"]["input"]["crs"] == name
        assert got["origin"]["lon"] == pytest.approx(lon, abs=1e-7)
        assert [r["id"] for r in got["results"]] == [r["id"] for r in base["results"]]


def test_navigation_links_use_shifted_coordinates(grid_client):
    body = grid_client.get("/api/nearest?lon=116.8312&lat=40.3690&mode=bike").get_json()
    st = body["results"][0]
    glon, glat = crs.wgs84_to_gcj02(st["lon"], st["lat"])
    blon, blat = crs.wgs84_to_bd09(st["lon"], st["lat"])
    assert st["navigation"]["amap"].startswith("https://uri.amap.com/navigation?")
    assert f"to={glon:.6f},{glat:.6f}," in st["navigation"]["amap"]
    assert "mode=ride" in st["navigation"]["amap"]
    assert f"latlng:{blat:.6f},{blon:.6f}" in st["navigation"]["baidu"]
    assert "mode=riding" in st["navigation"]["baidu"]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("lat=40.37", "lon"),
        ("lon=116.83", "lat"),
        ("lon=abc&lat=40.37", "lon"),
        ("lon=116.83&lat=NaN", "lat"),
        ("lon=inf&lat=40.37", "lon"),
        ("lon=200&lat=40.37", "lon"),
        ("lon=116.83&lat=91", "lat"),
        ("lon=116.83&lat=40.37&mode=boat", "mode"),
        ("lon=116.83&lat=40.37&k=0", "k"),
        ("lon=116.83&lat=40.37&k=21", "k"),
        ("lon=116.83&lat=40.37&k=two", "k"),
        ("lon=116.83&lat=40.37&amenity=sauna", "amenity"),
        ("lon=116.83&lat=40.37&kind=castle", "kind"),
        ("lon=116.83&lat=40.37&open_at=soon", "open_at"),
        ("lon=116.83&lat=40.37&crs=mars", "crs"),
        ("lon=116.83&lat=40.37&open=maybe", "open"),
    ],
)
def test_every_bad_parameter_is_400_naming_it(hostile_client, query, parameter):
    r = hostile_client.get(f"/api/nearest?{query}")
    assert_bilingual_error(r, 400, parameter)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("k", "²"),
        ("k", "٣"),
        ("k", "３"),
        ("k", "5" * 5000),
        ("k", "3.0"),
        ("k", "1e1"),
        ("lon", "1e309"),
        ("lon", "-Infinity"),
        ("lon", "١١٦"),
        ("lat", "nan"),
        ("lat", "4" * 5000),
        ("mode", "w" * 5000),
        ("open", "maybe"),
        ("crs", "\x00"),
        ("open_at", "0001-01-01T00:00+14:00"),
    ],
)
def test_hostile_values_are_short_bilingual_400s(hostile_client, name, value):
    query = {"lon": "116.8312", "lat": "40.3690", name: value}
    body = assert_bilingual_error(hostile_client.get("/api/nearest", query_string=query), 400, name)
    assert len(body["error"]) < 800
    if len(value) > EXCERPT_CHARS:
        assert value[: EXCERPT_CHARS + 1] not in body["error"]  # only an excerpt is echoed


def test_query_strings_that_are_not_utf8(hostile_client):
    for name in ("lon", "mode", "kind", "open_at"):
        query = {"lon": "116.8312", "lat": "40.3690"} | {name: "%FF%FE"}
        r = hostile_client.get("/api/nearest?" + "&".join(f"{k}={v}" for k, v in query.items()))
        assert_bilingual_error(r, 400, name)


def test_repeated_parameters(hostile_client):
    r = hostile_client.get("/api/nearest?lon=116.8312&lat=40.3690&lat=40.37")
    assert_bilingual_error(r, 400, "lat")
    r = hostile_client.get("/api/nearest?lon=116.8312&lat=40.3690&k=2&k=2")
    assert len(r.get_json()["results"]) == 2
    both = hostile_client.get("/api/nearest?lon=116.8312&lat=40.3690&open=0&kind=warm_station&k=20")
    kinds = hostile_client.get(
        "/api/nearest?lon=116.8312&lat=40.3690&open=0&kind=warm_station&kind=暖心驿站&k=20"
    )
    ids = [x["id"] for x in kinds.get_json()["results"]]
    assert ids == [x["id"] for x in both.get_json()["results"]]
    assert len(ids) == 4  # the fifth station is on an unconnected road


def test_points_across_the_globe_are_422_not_500(hostile_client):
    # The network's metric projection is meaningless far away: such points are not snapped.
    for lon, lat in ((19.0, 0.1), (-180, -90), (180, 90), (0, 0), (116.83, -40.37)):
        for crs_name in ("wgs84", "gcj02", "bd09"):
            r = hostile_client.get(f"/api/nearest?lon={lon}&lat={lat}&crs={crs_name}")
            body = assert_bilingual_error(r, 422, "lon")
            assert "km" in body["message_zh"]
    r = hostile_client.post(
        "/api/nearest/batch", json={"origins": [[19.0, 0.1], [116.8312, 40.3690], [-180, 90]]}
    )
    assert r.status_code == 200
    results = r.get_json()["results"]
    assert [x["travel_time_s"] is None for x in results] == [True, False, True]
    assert results[0]["snap_distance_m"] > 1_000_000


def test_far_from_roads_is_422_saying_how_far(grid_client):
    r = grid_client.get("/api/nearest?lon=117.2&lat=40.6")
    body = assert_bilingual_error(r, 422, "lon")
    assert "km" in body["message_zh"]


def test_no_match_is_200_with_reason(grid_client):
    r = grid_client.get("/api/nearest?lon=116.8312&lat=40.3690&kind=caravan_base")
    assert r.status_code == 200
    assert r.get_json()["results"] == []
    assert r.get_json()["reason"]


def test_batch(grid_client):
    rng = np.random.default_rng(3)
    origins = np.column_stack(
        [rng.uniform(116.8295, 116.835, 500), rng.uniform(40.3676, 40.372, 500)]
    )
    r = grid_client.post("/api/nearest/batch", json={"origins": origins.tolist(), "mode": "drive"})
    assert r.status_code == 200
    body = r.get_json()
    assert body["count"] == 500
    assert body["reached"] > 400
    single = grid_client.get(f"/api/nearest?lon={origins[0, 0]}&lat={origins[0, 1]}&mode=drive&k=1")
    first = single.get_json()["results"][0]
    assert body["results"][0]["station_id"] == first["id"]
    assert body["results"][0]["travel_time_s"] == pytest.approx(first["travel_time_s"], abs=0.1)


ONE = [[116.8312, 40.3690]]


@pytest.mark.parametrize(
    ("payload", "parameter"),
    [
        ("not json", "body"),
        ("", "body"),
        ("   ", "body"),
        ("[]", "body"),
        ('"origins"', "body"),
        ("null", "body"),
        ('{"origins": [[116.8, NaN]]}', "body"),
        ('{"origins": [[Infinity, 40]]}', "body"),
        ('{"origins": [[1e309, 40]]}', "origins[0]"),
        ('{"origins": [[' + "9" * 5000 + ", 40]]}", "body"),
        ('{"origins": [[' + "9" * 4000 + ", 40]]}", "origins[0]"),
        ("[" * 10_000 + "]" * 10_000, "body"),
        ('{"origins": ' + "[" * 11 + "]" * 11 + "}", "body"),
        ({"origins": []}, "origins"),
        ({"origins": "x"}, "origins"),
        ({"origins": {"lon": 116.8}}, "origins"),
        ({"origins": [[1, 2, 3]]}, "origins[0]"),
        ({"origins": [["a", "b"]]}, "origins[0]"),
        ({"origins": [["116.8", "40.3"]]}, "origins[0]"),
        ({"origins": [[True, False]]}, "origins[0]"),
        ({"origins": [[[116.8312, 40.3690]]]}, "origins[0]"),
        ({"origins": [*ONE, [116.8, 95]]}, "origins[1]"),
        ({"origins": [[116.8, 40.3]] * 10_001}, "origins"),
        ({"origins": ONE, "mode": "rocket"}, "mode"),
        ({"origins": ONE, "mode": ["walk"]}, "mode"),
        ({"origins": ONE, "mode": {"walk": 1}}, "mode"),
        ({"origins": ONE, "crs": ["gcj02"]}, "crs"),
        ({"origins": ONE, "amenity": ["sauna"]}, "amenity"),
        ({"origins": ONE, "amenity": [["wifi"]]}, "amenity"),
        ({"origins": ONE, "kind": 5}, "kind"),
        ({"origins": ONE, "open": "maybe"}, "open"),
        ({"origins": ONE, "open": [True]}, "open"),
        ({"origins": ONE, "open_at": 20261125}, "open_at"),
        ({"origins": ONE, "open_at": "9999-12-31T23:59-12:00"}, "open_at"),
        ({"origins": ONE, "amenities": ["wifi"]}, "amenities"),
    ],
)
def test_batch_bad_input_is_a_bilingual_400(hostile_client, payload, parameter):
    data = payload if isinstance(payload, str) else json.dumps(payload)
    r = hostile_client.post("/api/nearest/batch", data=data, content_type="application/json")
    body = assert_bilingual_error(r, 400, parameter)
    assert len(body["error"]) < 800


def test_batch_body_encoding_media_type_and_size(grid_client, grid_app):
    post = grid_client.post
    url = "/api/nearest/batch"
    body = json.dumps({"origins": ONE}).encode()
    assert (
        post(url, data=b"\xef\xbb\xbf" + body, content_type="application/json").status_code == 200
    )
    r = post(url, data=body, content_type="application/json; charset=utf-8")
    assert r.status_code == 200
    assert_bilingual_error(post(url, data=b"\xff" + body, content_type="application/json"), 400,
                           "body")  # fmt: skip
    for media in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        assert_bilingual_error(post(url, data=body, content_type=media), 415, "body")
    assert_bilingual_error(post(url, data=body), 415, "body")  # no Content-Type
    huge = b'{"origins": [' + b" " * (5 * 1024 * 1024) + b"]}"
    err = assert_bilingual_error(post(url, data=huge, content_type="application/json"), 413, "body")
    assert "4,194,304" in err["message_en"]
    # The app-wide MAX_CONTENT_LENGTH, when smaller, is a JSON 413 too.
    grid_app.config["MAX_CONTENT_LENGTH"] = 1000
    big = json.dumps({"origins": ONE * 100}).encode()
    err = assert_bilingual_error(post(url, data=big, content_type="application/json"), 413, "body")
    assert "1,000" in err["message_zh"]


def test_network_info(grid_client):
    body = grid_client.get("/api/network").get_json()
    assert body["source"] == "gulou_small.osm"
    assert set(body["modes"]) == {"walk", "bike", "drive"}


# -- CLI -----------------------------------------------------------------------------------------


def _pbf(tmp_path):
    path = tmp_path / "gulou_small.osm.pbf"
    with osmium.SimpleWriter(str(path)) as w:
        for o in osmium.FileProcessor(str(SMALL_OSM)):
            if o.is_node():
                w.add_node(o)
            elif o.is_way():
                w.add_way(o)
    return path


@pytest.mark.parametrize("kind", ["osm", "pbf", "bz2"])
def test_cli_network_import_real_formats(app, tmp_path, kind):
    if kind == "osm":
        path = SMALL_OSM
    elif kind == "pbf":
        path = _pbf(tmp_path)
    else:
        import bz2

        path = tmp_path / "gulou_small.osm.bz2"
        path.write_bytes(bz2.compress(SMALL_OSM.read_bytes()))
    r = app.test_cli_runner().invoke(args=["network", "import", str(path)])
    assert r.exit_code == 0, r.output
    assert "walk" in r.output
    assert "drive" in r.output
    body = app.test_client().get("/api/network").get_json()
    assert body["source"] == path.name
    assert body["modes"]["drive"]["nodes"] == 13  # the motorway pair is drive-only
    assert body["modes"]["walk"]["nodes"] == 9


def test_cli_bad_network_file_keeps_the_active_network(app, tmp_path):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["network", "import", str(SMALL_OSM)]).exit_code == 0
    bad = tmp_path / "broken.osm"
    bad.write_text("<osm><node id='1' lat='x'")
    r = runner.invoke(args=["network", "import", str(bad)])
    assert r.exit_code == 1
    assert "not imported" in r.output
    no_roads = tmp_path / "empty.osm"
    no_roads.write_text('<osm version="0.6"><node id="1" lat="40.37" lon="116.83"/></osm>')
    r = runner.invoke(args=["network", "import", str(no_roads)])
    assert r.exit_code == 1
    assert "no roads" in r.output
    wrong = tmp_path / "roads.shp"
    wrong.write_text("x")
    assert runner.invoke(args=["network", "import", str(wrong)]).exit_code == 1
    assert app.test_client().get("/api/network").get_json()["source"] == "gulou_small.osm"


def test_cli_fetch_offline_fails_fast_with_a_clear_message(app, monkeypatch):
    # No real request: make osmnx fail as it does without a network connection.
    def offline(*args, **kwargs):
        raise ConnectionError("Failed to resolve 'nominatim.openstreetmap.org'")

    monkeypatch.setattr(osmnx, "graph_from_place", offline)
    r = app.test_cli_runner().invoke(args=["network", "fetch", "--place", "密云区, 北京市, 中国"])
    assert r.exit_code == 1
    assert "needs the internet" in r.output
    assert osmnx.settings.overpass_rate_limit is True  # settings restored


def test_fetch_switches_off_the_60s_rate_limit_probe(monkeypatch):
    seen = {}

    def record(*args, **kwargs):
        seen["rate_limit"] = osmnx.settings.overpass_rate_limit
        seen["timeout"] = osmnx.settings.requests_timeout
        raise ConnectionError("offline")

    monkeypatch.setattr(osmnx, "graph_from_place", record)
    with pytest.raises(osm.OsmError):
        osm.fetch_graph("x", timeout=5)
    assert seen == {"rate_limit": False, "timeout": 5}


def test_corrupt_cache_is_rebuilt(app, tmp_path):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["network", "import", str(SMALL_OSM)]).exit_code == 0
    cache = sorted((tmp_path / "networks" / "cache").glob("*-walk"))
    assert len(cache) == 1
    (cache[0] / "edge_time.npy").write_bytes(b"garbage")
    r = runner.invoke(args=["network", "info"])
    assert r.exit_code == 0, r.output
    assert "walk" in r.output


def test_missing_network_is_503_not_500(tmp_path):
    app = make_app(tmp_path, NETWORK_DEFAULT=str(tmp_path / "nope.osm"))
    r = app.test_client().get("/api/nearest?lon=116.83&lat=40.37")
    body = assert_bilingual_error(r, 503, None)
    assert "road network unavailable" in body["error"]
    assert app.test_client().get("/api/stations").status_code == 200


def test_major_roads_basemap(grid_client):
    r = grid_client.get("/api/network/roads")
    assert r.status_code == 200
    body = r.get_json()
    classes = {f["properties"]["highway"] for f in body["features"]}
    # gulou_small.osm: 中街 is secondary, 中路 tertiary, the rest residential (not drawn).
    assert classes == {"motorway", "secondary", "tertiary"}
    secondary = next(f for f in body["features"] if f["properties"]["highway"] == "secondary")
    # Two blocks of 中街, each drawn once (not once per direction).
    assert len(secondary["geometry"]["coordinates"]) == 2
    assert "max-age=3600" in r.headers["Cache-Control"]


def test_cli_network_import_graphml(app, tmp_path):
    import osmnx as ox

    path = tmp_path / "gulou_small.graphml"
    ox.save_graphml(osm.read_graph(SMALL_OSM), path)
    r = app.test_cli_runner().invoke(args=["network", "import", str(path)])
    assert r.exit_code == 0, r.output
    modes = app.test_client().get("/api/network").get_json()["modes"]
    assert modes["walk"]["nodes"] == 9
    assert modes["drive"]["nodes"] == 13


def test_extract_larger_than_the_district_is_clipped(app, tmp_path):
    # The small extract plus a road running from 鼓楼 to Beijing's centre (outside Miyun).
    text = SMALL_OSM.read_text(encoding="utf-8")
    extra = (
        '  <node id="900" lat="40.3200" lon="116.7000" version="1"/>\n'
        '  <node id="901" lat="39.9087" lon="116.3975" version="1"/>\n'
        '  <way id="900" version="1"><nd ref="1"/><nd ref="900"/><nd ref="901"/>'
        '<tag k="highway" v="primary"/></way>\n</osm>'
    )
    path = tmp_path / "bigger.osm"
    path.write_text(text.replace("</osm>", extra), encoding="utf-8")
    r = app.test_cli_runner().invoke(args=["network", "import", str(path)])
    assert r.exit_code == 0, r.output
    engine_nets = app.extensions["geoservice.engine"].get().networks
    for net in engine_nets.values():
        assert net.node_xy[:, 1].min() > 40.2  # Beijing's centre (39.9°N) is gone
        assert (net.node_xy[:, 0] > 116.69).all()


def test_extract_from_elsewhere_is_kept_whole_and_flagged(app, tmp_path):
    # The same streets moved 2° west: no node in Miyun.
    text = SMALL_OSM.read_text(encoding="utf-8").replace('lon="116.8', 'lon="114.8')
    path = tmp_path / "elsewhere.osm"
    path.write_text(text, encoding="utf-8")
    r = app.test_cli_runner().invoke(args=["network", "import", str(path)])
    assert r.exit_code == 0, r.output
    assert "outside the district" in r.output
    body = app.test_client().get("/api/nearest?lon=114.8312&lat=40.3690&open=0").get_json()
    assert body["origin"]["outside_district"] is True
    assert body["origin"]["snap_distance_m"] < 20
    # Miyun's stations are 170 km from these roads: no made-up routes to them.
    assert body["results"] == []
    assert "within 2 km of this road network" in body["reason"]


NASTY = ["", " ", "0", "-1", "1e309", "-1e309", "nan", "NaN", "inf", "-Infinity", "1,2",
         "116.8;40.3", "%00", "\u0000", "<script>", "' OR 1=1 --", "９", "一", "²", "١٢", "٣",
         "116.83\n", "[]", "{}", "9" * 400, "5" * 5000, "0x1F", "1_000", "true", "null",
         "2026-02-30T25:61", "0001-01-01T00:00+14:00", "9999-12-31T23:59-12:00", "drive,walk",
         "warm_station,,", "热水", "WALK", "${alert(1)}", "\u202e", "\ufffd"]  # fmt: skip
PARAMS = ["lon", "lat", "mode", "k", "kind", "amenity", "open_at", "open", "crs"]


@pytest.mark.slow
def test_no_query_string_gives_a_500(hostile_client):
    rng = np.random.default_rng(11)
    for _ in range(300):
        query = {"lon": "116.8312", "lat": "40.3690"}
        for name in rng.choice(PARAMS, size=rng.integers(1, 4), replace=False):
            # Sometimes the parameter is repeated, with two different hostile values.
            values = rng.choice(NASTY, size=rng.integers(1, 3)).tolist()
            query[str(name)] = values if len(values) > 1 else values[0]
        r = hostile_client.get("/api/nearest", query_string=query)
        assert r.status_code in (200, 400, 422), (query, r.status_code)
        assert r.is_json
        if r.status_code != 200:
            body = r.get_json()
            assert body["parameter"] in PARAMS
            assert body["error"] == f"{body['message_zh']} / {body['message_en']}"
            assert len(body["error"]) < 800
    for path, names in (
        ("/api/stations", ("kind", "town", "amenity", "open_at")),
        ("/api/sites", ("kind", "town", "located")),
        ("/api/stations/T01", ("open_at",)),
    ):
        for name in names:
            for value in NASTY:
                r = hostile_client.get(path, query_string={name: value})
                assert r.status_code in (200, 400, 404), (path, name, value, r.status_code)
                assert r.is_json


def test_no_batch_body_gives_a_500(hostile_client):
    rng = np.random.default_rng(5)
    values = [None, True, 0, -1, 1.5, 1e308, -1e308, 10**30, "", "x" * 300, [], {}, [[]],
              ["walk"], [116.8312, 40.369], [[116.8312, 40.369]], [["a"]], {"a": [1]},
              "warm_station", "热水", "2026-11-25T13:00", "1e309", "²"]  # fmt: skip
    keys = ["origins", "mode", "crs", "kind", "amenity", "open_at", "open"]
    for _ in range(200):
        body = {"origins": [[116.8312, 40.3690]]}
        for key in rng.choice(keys, size=rng.integers(1, 4), replace=False):
            body[str(key)] = values[int(rng.integers(len(values)))]
        r = hostile_client.post("/api/nearest/batch", json=body)
        assert r.status_code in (200, 400), (body, r.status_code)
        assert r.is_json
        if r.status_code == 400:
            assert r.get_json()["parameter"].split("[")[0] in keys


def test_rate_limits_answer_429_in_json(tmp_path):
    app = make_app(
        tmp_path,
        stations=stations_frame(GRID_STATIONS),
        RATELIMIT_NEAREST="3 per minute",
        RATELIMIT_BATCH="1 per minute",
    )
    client = app.test_client()
    codes = [client.get("/api/nearest?lon=116.8312&lat=40.3690").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    r = client.get("/api/nearest?lon=116.8312&lat=40.3690")
    assert_bilingual_error(r, 429, None)
    assert "Retry-After" in r.headers
    body = {"origins": [[116.8312, 40.3690]]}
    assert client.post("/api/nearest/batch", json=body).status_code == 200
    assert client.post("/api/nearest/batch", json=body).status_code == 429
    assert client.get("/api/stations").status_code == 200  # other endpoints are not limited


def test_openapi_examples_for_routing(grid_client):
    doc = grid_client.get("/api/openapi.json").get_json()
    params = doc["paths"]["/api/nearest"]["get"]["parameters"]
    query = {p["name"]: p["example"] for p in params}
    query.update(lon=116.8312, lat=40.3690)  # on the small test network
    r = grid_client.get("/api/nearest", query_string=query)
    assert r.status_code == 200, r.get_json()
    body = doc["paths"]["/api/nearest/batch"]["post"]["requestBody"]["content"]
    example = body["application/json"]["example"]
    example["origins"] = [[116.8312, 40.3690]]
    assert grid_client.post("/api/nearest/batch", json=example).status_code == 200
    assert grid_client.get("/api/network/roads").status_code == 200


def test_navigation_labels_are_bounded_and_cannot_break_parameters():
    from geoservice import navigation

    hostile = "站|name:evil,1;2\u202e" + "长" * 10_000
    links = navigation.links(116.83, 40.37, hostile, "walk")
    for url in links.values():
        assert len(url) < 1500
    assert "name%3Aevil" not in links["baidu"]
    assert links["baidu"].count("|name:") == 1


def test_one_nearest_request_reads_each_parameter_once(grid_client, monkeypatch):
    """Requests are parsed once, at the boundary: the engine takes typed values and never
    calls the parser again (one /api/nearest request used to enter params 6 times)."""
    from geoservice import params

    grid_client.get("/api/nearest?lon=116.8312&lat=40.3690")  # the engine is built
    calls: dict[str, list[str]] = {}
    readers = ("number", "integer", "choice", "names", "flag", "time", "coordinate_system")
    for fn in readers:
        original = getattr(params, fn)

        def counted(raw, name, *args, _fn=fn, _original=original, **kw):
            calls.setdefault(name, []).append(_fn)
            return _original(raw, name, *args, **kw)

        monkeypatch.setattr(params, fn, counted)
    query = (
        "/api/nearest?lon=116.8312&lat=40.3690&crs=wgs84&mode=bike&k=2&kind=warm_station"
        "&amenity=hot_water&open_at=2026-11-25T13:00&open=0"
    )
    r = grid_client.get(query)
    assert r.status_code == 200, r.get_json()
    assert calls == {
        "lon": ["number"],
        "lat": ["number"],
        "crs": ["coordinate_system"],
        "mode": ["choice"],
        "k": ["integer"],
        "kind": ["names"],
        "amenity": ["names"],
        "open_at": ["time"],
        "open": ["flag"],
    }


@pytest.mark.slow
def test_rate_limits_count_across_processes_on_redis(tmp_path, redis_url):
    """Two apps (two web processes, or two machines) on one Redis share a client's count:
    with per-process counters the client would get the limit once per process."""
    shared = {"RATELIMIT_STORAGE_URI": redis_url, "RATELIMIT_NEAREST": "3 per minute"}
    first = make_app(tmp_path / "a", stations=stations_frame(GRID_STATIONS), **shared)
    second = make_app(tmp_path / "b", stations=stations_frame(GRID_STATIONS), **shared)
    url = "/api/nearest?lon=116.8312&lat=40.3690"
    codes = [app.test_client().get(url).status_code for app in (first, second, first, second)]
    assert codes == [200, 200, 200, 429]
    assert_bilingual_error(first.test_client().get(url), 429, None)
