"""The JSON API: GeoJSON collections, filters, and 4xx errors that name the parameter."""

from __future__ import annotations

import re

import pytest
from conftest import assert_bilingual_error, make_app

from geoservice.errors import EXCERPT_CHARS
from geoservice.web import DEFAULT_NETWORK


@pytest.fixture(scope="module")
def shared_client(tmp_path_factory):
    """One app on the Miyun data for the many read-only bad-input requests."""
    return make_app(tmp_path_factory.mktemp("api")).test_client()


def test_stations_collection_is_geojson_flagged_as_sample(client):
    r = client.get("/api/stations")
    assert r.status_code == 200
    assert r.is_json
    doc = r.get_json()
    assert doc["type"] == "FeatureCollection"
    assert doc["count"] == 104 == len(doc["features"])
    assert doc["sample"] is True
    f = doc["features"][0]
    assert f["geometry"]["type"] == "Point"
    p = f["properties"]
    assert p["source"] == "sample"
    assert set(p) >= {
        "id",
        "name",
        "kind",
        "kind_label",
        "opening_hours",
        "open_now",
        "status",
        "amenities",
        "amenity_labels",
        "phone",
        "town",
        "town_code",
    }
    assert isinstance(p["amenities"], list)


def test_filter_by_kind_town_amenity(client):
    doc = client.get("/api/stations?kind=worker_home").get_json()
    assert doc["count"] == 9
    assert {f["properties"]["kind"] for f in doc["features"]} == {"worker_home"}
    both = client.get("/api/stations?kind=worker_home,caravan_base").get_json()
    assert both["count"] == 10
    gulou = client.get("/api/stations?town=鼓楼街道").get_json()
    by_code = client.get("/api/stations?town=110118001").get_json()
    assert gulou["count"] == by_code["count"] > 20
    wifi = client.get("/api/stations?amenity=wifi&amenity=microwave").get_json()
    assert wifi["count"] > 0
    for f in wifi["features"]:
        assert {"wifi", "microwave"} <= set(f["properties"]["amenities"])


def test_open_at_changes_open_now(client):
    # Sunday 03:00: only 24/7 stations are open.
    night = client.get("/api/stations?open_at=2026-11-29T03:00").get_json()
    for f in night["features"]:
        assert f["properties"]["open_now"] == (f["properties"]["opening_hours"] == "24/7")
    assert night["evaluated_at"].startswith("2026-11-29T03:00:00+08:00")
    noon = client.get("/api/stations?open_at=2026-11-25T12:00:00%2B08:00").get_json()
    assert sum(f["properties"]["open_now"] for f in noon["features"]) > sum(
        f["properties"]["open_now"] for f in night["features"]
    )


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("kind=gas_station", "kind"),
        ("amenity=sauna", "amenity"),
        ("town=北京", "town"),
        ("open_at=yesterday", "open_at"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(shared_client, query, parameter):
    r = shared_client.get(f"/api/stations?{query}")
    assert r.status_code == 400
    assert_bilingual_error(r, 400, parameter)


def test_unknown_amenity_lists_the_chinese_labels(shared_client):
    body = assert_bilingual_error(shared_client.get("/api/stations?amenity=sauna"), 400, "amenity")
    assert "hot_water（热水）" in body["message_zh"]
    assert "'sauna'" in body["message_en"]
    body = assert_bilingual_error(shared_client.get("/api/sites?kind=castle"), 400, "kind")
    assert "village（村）" in body["message_zh"]


def test_chinese_labels_and_any_case_are_accepted(shared_client):
    by_label = shared_client.get("/api/stations?kind=职工之家&amenity=无线网络").get_json()
    by_key = shared_client.get("/api/stations?kind=WORKER_HOME&amenity=wifi").get_json()
    assert by_label["count"] == by_key["count"] > 0
    sites = shared_client.get("/api/sites?kind=水库保护点").get_json()
    assert sites["count"] == 20


HOSTILE_QUERIES = [
    ("kind", "x" * 5000),
    ("kind", "a," * 1000),
    ("amenity", "\x00"),
    ("amenity", "${alert(1)}"),
    ("town", "9" * 5000),
    ("open_at", "9" * 5000),
    ("open_at", "0001-01-01T00:00+14:00"),
    ("open_at", "9999-12-31T23:59-12:00"),
    ("open_at", "1e309"),
    ("open_at", "²"),
]


@pytest.mark.parametrize(("name", "value"), HOSTILE_QUERIES)
def test_hostile_filters_are_short_bilingual_400s(shared_client, name, value):
    r = shared_client.get("/api/stations", query_string={name: value})
    body = assert_bilingual_error(r, 400, name)
    assert len(body["error"]) < 2 * 400
    assert value[: EXCERPT_CHARS + 5] not in body["error"] or len(value) <= EXCERPT_CHARS


def test_repeated_scalar_parameters(shared_client):
    r = shared_client.get("/api/stations?open_at=2026-11-25T13:00&open_at=2026-11-29T03:00")
    assert_bilingual_error(r, 400, "open_at")
    same = shared_client.get("/api/stations?open_at=2026-11-25T13:00&open_at=2026-11-25T13:00")
    assert same.status_code == 200
    assert shared_client.get("/api/sites?located=1&located=0").status_code == 400


def test_station_by_id_and_404(client):
    r = client.get("/api/stations/WS001")
    assert r.status_code == 200
    assert r.get_json()["id"] == "WS001"
    r = client.get("/api/stations/NOPE")
    body = assert_bilingual_error(r, 404, "station_id")
    assert "NOPE" in body["error"]
    assert client.get("/api/nothing-here").status_code == 404
    # Any id, even with a slash or 5,000 characters, is a JSON 404 with a short excerpt.
    assert_bilingual_error(client.get("/api/stations/a/b"), 404, "station_id")
    body = assert_bilingual_error(client.get("/api/stations/" + "W" * 5000), 404, "station_id")
    assert len(body["error"]) < 300
    assert client.get("/api/stations/WS001?open_at=soon").status_code == 400


def test_sites(client):
    doc = client.get("/api/sites").get_json()
    assert doc["count"] == 449
    missing = [f for f in doc["features"] if f["geometry"] is None]
    assert len(missing) == 429
    assert all(f["properties"]["coord_source"] == "missing" for f in missing)
    rs = client.get("/api/sites?kind=reservoir_site").get_json()
    assert rs["count"] == 20
    assert rs["sample"] is True
    located = client.get("/api/sites?located=1").get_json()
    assert located["count"] == 20
    assert client.get("/api/sites?kind=castle").status_code == 400
    assert client.get("/api/sites?located=maybe").status_code == 400


def test_towns_and_health(client):
    towns = client.get("/api/towns").get_json()
    assert towns["count"] == 21
    seats = [f for f in towns["features"] if f["geometry"]]
    assert len(seats) == 17  # 15 from GeoNames, 2 from Wikipedia
    health = client.get("/api/health").get_json()
    assert health["status"] == "ok"
    assert health["stations"] == 104


def test_openapi_documents_every_api_route_and_its_examples_work(app, client):
    doc = client.get("/api/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    routes = {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", r.rule)
        for r in app.url_map.iter_rules()
        if r.rule.startswith("/api/")
    }
    assert routes == set(doc["paths"])
    # The documented tour request plans (a job, 202, done inline); the plan it saves and its
    # job are the examples of the operations that take a plan or job id.
    body = doc["paths"]["/api/tours"]["post"]["requestBody"]["content"]["application/json"]
    r = client.post("/api/tours", json=body["example"])
    assert r.status_code == 202, r.get_json()
    job = client.get(r.headers["Location"]).get_json()
    assert job["state"] == "done", job
    saved = {"tour_id": job["result"]["tour_id"], "job_id": job["id"]}
    for path, item in doc["paths"].items():
        if "get" not in item or path.startswith("/api/nearest") or path.startswith("/api/network"):
            continue  # routing endpoints are exercised in tests/test_api_nearest.py
        params = item["get"].get("parameters", [])
        url = path.replace("{station_id}", "WS001")
        for p in params:
            if p["in"] == "path" and p["name"] != "station_id":
                url = url.replace(f"{{{p['name']}}}", saved.get(p["name"], p["example"]))
        query = {p["name"]: p["example"] for p in params if p["in"] == "query" and "example" in p}
        r = client.get(url, query_string=query)
        assert r.status_code == 200, (path, query, r.get_json())


@pytest.mark.slow
def test_sites_carry_schematic_positions_never_stored(tmp_path):
    """Villages get their position from the schematic network's place nodes, labelled as
    such in the API and on the map, and never written into the store."""
    app = make_app(tmp_path, NETWORK_DEFAULT=str(DEFAULT_NETWORK))
    c = app.test_client()
    doc = c.get("/api/sites?kind=village,community&located=1").get_json()
    assert doc["count"] == 429
    props = [f["properties"] for f in doc["features"]]
    assert {p["coord_source"] for p in props} == {"schematic"}
    assert {p["coord_note"] for p in props} == {"示意位置"}
    stored = app.extensions["geoservice.store"].sites()
    villages = stored.loc[stored["kind"].isin(["village", "community"])]
    assert villages.geometry.isna().all()
    assert (villages["coord_source"] == "missing").all()
    page = c.get("/").get_data(as_text=True)
    assert "示意位置" in page
