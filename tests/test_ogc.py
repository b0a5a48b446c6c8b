"""OGC API – Features at /ogc: every endpoint through the test client, pages with hostile
names, OWSLib against a live local server, and schemathesis over its OpenAPI 3.0 document."""

from __future__ import annotations

import csv
import ipaddress
import re
import socket
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import assert_bilingual_error, make_app, serving

from geoservice import ogc
from geoservice.store import catalog
from geoservice.web import STORE_KEY, security

CORE = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"
ITEMS = "/ogc/collections/{}/items"


def _links(doc: dict, rel: str) -> list[dict]:
    return [link for link in doc["links"] if link["rel"] == rel]


def _link(doc: dict, rel: str, media: str | None = None) -> str:
    found = [link for link in _links(doc, rel) if media is None or link["type"] == media]
    assert len(found) == 1, (rel, media, doc["links"])
    return found[0]["href"]


def _path(href: str) -> str:
    """A link as the test client takes it: its path and query."""
    parts = urlsplit(href)
    assert parts.scheme == "http"
    assert parts.netloc == "localhost"
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def _get(client, path: str, **kwargs) -> dict:
    r = client.get(path, **kwargs)
    assert r.status_code == 200, (path, r.get_data(as_text=True)[:300])
    return r.get_json(force=True)


# -- landing, conformance, OpenAPI ---------------------------------------------------------


def test_landing_page_in_the_district_words_with_its_links(client, store):
    for path in ("/ogc", "/ogc/"):  # OWSLib asks for the second
        r = client.get(path)
        assert r.status_code == 200
        assert r.mimetype == ogc.JSON
        doc = r.get_json()
        assert doc["title"].startswith("密云区总工会")
        assert "密云区" in doc["description"]
        assert _path(_link(doc, "self")) == "/ogc?f=json"
        assert _path(_link(doc, "alternate", ogc.HTML)) == "/ogc?f=html"
        assert _path(_link(doc, "service-desc", ogc.OPENAPI)) == "/ogc/api"
        assert _path(_link(doc, "service-doc", ogc.HTML)) == "/ogc/api?f=html"
        assert _path(_link(doc, "conformance")) == "/ogc/conformance"
        assert _path(_link(doc, "data")) == "/ogc/collections"
    # Another district's words, from the store's profile: nothing of Miyun is written in.
    store.update("boundary", lambda g: (g.assign(name="平谷区", org="平谷区总工会"), None))
    doc = _get(client, "/ogc")
    assert doc["title"].startswith("平谷区总工会")
    assert "密云" not in doc["title"] + doc["description"]
    titles = {c["id"]: c["title"] for c in _get(client, "/ogc/collections")["collections"]}
    assert titles["boundary"] == "平谷区界"


def test_conformance_and_openapi(client):
    doc = _get(client, "/ogc/conformance")
    assert set(doc["conformsTo"]) == {
        f"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/{c}"
        for c in ("core", "oas30", "html", "geojson")
    }
    r = client.get("/ogc/api")
    assert r.headers["Content-Type"] == "application/vnd.oai.openapi+json;version=3.0"
    api = r.get_json(force=True)
    assert api["openapi"] == "3.0.3"
    assert api["servers"] == [{"url": "http://localhost/ogc"}]
    for cid in ogc.COLLECTIONS:
        for tail in ("", "/queryables", "/items", "/items/{featureId}"):
            assert f"/collections/{cid}{tail}" in api["paths"]
    # The items' parameters come from their declarations, the collection's filters too.
    params = api["paths"]["/collections/stations/items"]["get"]["parameters"]
    names = [prm.get("name") or prm["$ref"].rsplit("/", 1)[1] for prm in params]
    assert names == [
        "bbox",
        "limit",
        "offset",
        "crs",
        "bbox-crs",
        "kind",
        "town_code",
        "source",
        "open_now",
        "f",
    ]
    # QGIS takes its page size from the limit's maximum and default.
    limit = next(prm for prm in params if prm.get("name") == "limit")
    assert (limit["schema"]["maximum"], limit["schema"]["default"]) == (1000, 10)
    kind = next(prm for prm in params if prm.get("name") == "kind")
    assert kind["schema"]["enum"] == [
        "warm_station",
        "worker_home",
        "public_worker_home",
        "caravan_base",
    ]


# -- collections ---------------------------------------------------------------------------


def test_collections_with_extents_computed_from_the_data(client, store):
    doc = _get(client, "/ogc/collections")
    assert _path(_link(doc, "self")) == "/ogc/collections?f=json"
    described = {c["id"]: c for c in doc["collections"]}
    assert list(described) == ["stations", "sites", "towns", "boundary"]
    layers = {
        "stations": store.stations(),
        "sites": store.sites(),
        "towns": store.read("towns"),
        "boundary": store.read("boundary"),
    }
    for cid, c in described.items():
        assert c["itemType"] == "feature"
        assert c["crs"] == [ogc.CRS84]
        spatial = c["extent"]["spatial"]
        assert spatial["crs"] == ogc.CRS84
        frame = layers[cid]
        frame = frame.loc[frame.geometry.notna()]
        assert spatial["bbox"] == [pytest.approx(list(frame.total_bounds))]
        assert _path(_link(c, "items", ogc.GEOJSON)) == f"{ITEMS.format(cid)}?f=json"
        assert _path(_link(c, "items", ogc.HTML)) == f"{ITEMS.format(cid)}?f=html"
        # The one collection answers the same description, with its own self link.
        one = _get(client, f"/ogc/collections/{cid}")
        assert {k: v for k, v in one.items() if k != "links"} == {
            k: v for k, v in c.items() if k != "links"
        }
        assert _path(_link(one, "self")) == f"/ogc/collections/{cid}?f=json"
        queryables = _link(one, "http://www.opengis.net/def/rel/ogc/1.0/queryables")
        assert _path(queryables) == f"/ogc/collections/{cid}/queryables"


def test_queryables_are_the_filters_items_take(client, store):
    r = client.get("/ogc/collections/stations/queryables")
    assert r.mimetype == ogc.SCHEMA_JSON
    doc = r.get_json(force=True)
    assert doc["type"] == "object"
    assert doc["additionalProperties"] is False
    assert set(doc["properties"]) == {"kind", "town_code", "source", "open_now"}
    assert doc["properties"]["kind"]["title"] == "类型"
    assert doc["properties"]["open_now"]["type"] == "boolean"
    assert set(_get(client, "/ogc/collections/sites/queryables")["properties"]) == {
        "kind",
        "town_code",
        "coord_source",
        "source",
    }
    assert _get(client, "/ogc/collections/boundary/queryables")["properties"] == {}


# -- items ---------------------------------------------------------------------------------


def test_paging_through_the_stations_to_the_end(client, store):
    ids = list(store.stations()["id"])
    assert len(ids) > 30
    r = client.get(ITEMS.format("stations"))
    assert r.mimetype == ogc.GEOJSON
    assert r.headers["Content-Crs"] == f"<{ogc.CRS84}>"
    first = r.get_json(force=True)
    assert first["type"] == "FeatureCollection"
    assert first["numberReturned"] == ogc.LIMIT_DEFAULT
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", first["timeStamp"])
    assert not _links(first, "prev")
    seen: list[str] = []
    page, pages = first, 0
    path = f"{ITEMS.format('stations')}?limit=13"
    page = _get(client, path)
    while True:
        pages += 1
        assert page["numberMatched"] == len(ids)
        assert page["numberReturned"] == len(page["features"])
        seen += [f["id"] for f in page["features"]]
        if pages > 1:
            assert _links(page, "prev")
        if not _links(page, "next"):
            break
        page = _get(client, _path(_link(page, "next")))
    assert seen == ids
    assert pages == -(-len(ids) // 13)
    # Each feature is the station record the API shows.
    station = client.get("/api/stations/WS001").get_json()
    for record in (first["features"][0], station):
        record["properties"].pop("next_open", None)
    assert station["properties"].pop("version") == 1  # one record's ETag, not a list's
    assert station["properties"].pop("open_reports") == 0  # the API's, from the reports
    assert first["features"][0]["properties"] == station["properties"]


def test_limit_is_cut_offset_bounded(client, store):
    n = len(store.stations())
    doc = _get(client, f"{ITEMS.format('stations')}?limit=5000")
    assert doc["numberReturned"] == min(n, ogc.LIMIT_MAX)
    assert parse_qs(urlsplit(_link(doc, "self")).query)["limit"] == [str(ogc.LIMIT_MAX)]
    doc = _get(client, f"{ITEMS.format('stations')}?limit=10&offset={n + 5}")
    assert (doc["numberMatched"], doc["numberReturned"], doc["features"]) == (n, 0, [])
    assert not _links(doc, "next")
    assert parse_qs(urlsplit(_link(doc, "prev")).query)["offset"] == [str(n - 5)]
    doc = _get(client, f"{ITEMS.format('stations')}?limit=10&offset={n - 3}")
    assert doc["numberReturned"] == 3
    assert not _links(doc, "next")


def test_bbox_and_property_filters(client, store):
    frame = store.stations()
    west, south = 116.80, 40.33
    east, north = 116.88, 40.40
    inside = frame.loc[frame["lon"].between(west, east) & frame["lat"].between(south, north)]
    assert 0 < len(inside) < len(frame)
    bbox = f"{west},{south},{east},{north}"
    doc = _get(client, f"{ITEMS.format('stations')}?bbox={bbox}&limit=1000")
    assert [f["id"] for f in doc["features"]] == list(inside["id"])
    homes = frame.loc[frame["kind"] == "worker_home"]
    assert len(homes)
    for spelling in ("worker_home", "职工之家"):
        doc = _get(client, f"{ITEMS.format('stations')}?kind={spelling}&limit=3")
        assert doc["numberMatched"] == len(homes)
        assert {f["properties"]["kind"] for f in doc["features"]} == {"worker_home"}
        # The next page keeps the filter.
        assert parse_qs(urlsplit(_link(doc, "next")).query)["kind"] == ["worker_home"]
    both = homes.loc[homes["town_code"] == homes["town_code"].iloc[0]]
    doc = _get(
        client, f"{ITEMS.format('stations')}?kind=worker_home&town_code={both['town_code'].iloc[0]}"
    )
    assert doc["numberMatched"] == len(both)
    query = parse_qs(urlsplit(_link(doc, "self")).query)
    assert query["town_code"] == [both["town_code"].iloc[0]]
    assert _get(client, f"{ITEMS.format('stations')}?town_code=nowhere")["numberMatched"] == 0
    opened = _get(client, f"{ITEMS.format('stations')}?open_now=true&limit=1000")
    assert {f["properties"]["open_now"] for f in opened["features"]} <= {True}
    closed = _get(client, f"{ITEMS.format('stations')}?open_now=0&limit=1000")
    assert opened["numberMatched"] + closed["numberMatched"] == len(frame)


def test_sites_without_coordinates_have_null_geometry(client, store):
    sites = store.sites()
    doc = _get(client, f"{ITEMS.format('sites')}?limit=1000")
    assert doc["numberMatched"] == len(sites)
    nulls = [f for f in doc["features"] if f["geometry"] is None]
    assert len(nulls) == sites.geometry.isna().sum() > 0
    # A box holds only features with a geometry in it.
    located = _get(client, f"{ITEMS.format('sites')}?bbox=-180,-90,180,90&limit=1000")
    assert located["numberMatched"] == sites.geometry.notna().sum()
    doc = _get(client, f"{ITEMS.format('sites')}?coord_source=missing&limit=1000")
    assert doc["numberMatched"] == len(nulls)


def test_towns_and_the_boundary(client, store):
    towns = store.read("towns")
    doc = _get(client, f"{ITEMS.format('towns')}?limit=100")
    assert [f["id"] for f in doc["features"]] == list(towns["code"])
    code = towns["code"].iloc[0]
    one = _get(client, f"{ITEMS.format('towns')}/{code}")
    assert one["properties"]["name"] == towns["name"].iloc[0]
    doc = _get(client, ITEMS.format("boundary"))
    assert doc["numberMatched"] == 1
    (feature,) = doc["features"]
    assert feature["id"] == "110118"
    assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert feature["properties"]["org"] == "密云区总工会"
    assert _get(client, f"{ITEMS.format('boundary')}/110118")["id"] == "110118"
    # Outside the district's box: no boundary.
    assert _get(client, f"{ITEMS.format('boundary')}?bbox=0,0,1,1")["numberMatched"] == 0


def test_one_feature(client):
    r = client.get(f"{ITEMS.format('stations')}/WS001")
    assert r.mimetype == ogc.GEOJSON
    doc = r.get_json(force=True)
    assert doc["type"] == "Feature"
    assert doc["id"] == "WS001"
    assert _path(_link(doc, "self")) == f"{ITEMS.format('stations')}/WS001?f=json"
    assert _path(_link(doc, "collection")) == "/ogc/collections/stations?f=json"


# -- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("foo=1", "foo"),
        ("kind=warm_station&towns=x", "towns"),
        ("limit=0", "limit"),
        ("limit=-1", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
        (f"offset={ogc.OFFSET_MAX + 1}", "offset"),
        ("bbox=1,2,3", "bbox"),
        ("bbox=1,2,3,4,5,6", "bbox"),
        ("bbox=a,b,c,d", "bbox"),
        ("bbox=116,40,nan,41", "bbox"),
        ("bbox=116,40,inf,41", "bbox"),
        ("bbox=116,40,1e309,41", "bbox"),
        ("bbox=-200,40,117,41", "bbox"),
        ("bbox=116,-91,117,41", "bbox"),
        ("bbox=117,40,116,41", "bbox"),
        ("bbox=116,41,117,40", "bbox"),
        ("kind=castle", "kind"),
        ("open_now=maybe", "open_now"),
        ("f=xml", "f"),
        ("f=json&f=html", "f"),
        ("crs=EPSG:3857", "crs"),
        ("datetime=2026-01-01", "datetime"),
        ("coord_source=missing", "coord_source"),  # a site's queryable, not a station's
    ],
)
def test_bad_items_parameters_are_bilingual_400s(client, query, parameter):
    r = client.get(f"{ITEMS.format('stations')}?{query}")
    assert_bilingual_error(r, 400, parameter)


@pytest.mark.parametrize(
    ("path", "parameter", "named"),
    [
        ("/ogc/collections/nope", "collectionId", "nope"),
        ("/ogc/collections/nope/queryables", "collectionId", "nope"),
        ("/ogc/collections/nope/items", "collectionId", "nope"),
        ("/ogc/collections/nope/items/WS001", "collectionId", "nope"),
        ("/ogc/collections/stations/items/NOPE", "featureId", "NOPE"),
        ("/ogc/collections/sites/items/WS001", "featureId", "WS001"),
        ("/ogc/collections/boundary/items/110118%2F", "featureId", "110118/"),
    ],
)
def test_unknown_collections_and_features_are_404(client, path, parameter, named):
    body = assert_bilingual_error(client.get(path), 404, parameter)
    assert f"'{named}'" in body["message_en"]


def test_errors_are_json_for_pages_too(client):
    r = client.get(f"{ITEMS.format('stations')}?f=html&limit=0")
    assert_bilingual_error(r, 400, "limit")
    r = client.get("/ogc/collections/nope", headers={"Accept": "text/html"})
    assert_bilingual_error(r, 404, "collectionId")
    r = client.get(f"{ITEMS.format('stations')}/NOPE%01")
    assert_bilingual_error(r, 400, "featureId")
    for path in ("/ogc", "/ogc/conformance", "/ogc/collections", "/ogc/api"):
        assert_bilingual_error(client.get(f"{path}?bogus=1"), 400, "bogus")


# -- formats and pages ---------------------------------------------------------------------


def test_format_by_f_else_accept(client):
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    assert client.get("/ogc/collections", headers=browser).mimetype == "text/html"
    assert client.get("/ogc/collections?f=json", headers=browser).mimetype == ogc.JSON
    assert client.get("/ogc/collections?f=html").mimetype == "text/html"
    assert client.get("/ogc/collections?f=网页").mimetype == "text/html"
    for accept in ("*/*", "application/json", "application/geo+json"):
        r = client.get(ITEMS.format("stations"), headers={"Accept": accept})
        assert r.mimetype == ogc.GEOJSON, accept


def test_every_page_renders_in_chinese_without_scripts(client):
    paths = [
        "/ogc",
        "/ogc/conformance",
        "/ogc/api",
        "/ogc/collections",
        *(
            f"/ogc/collections/{cid}{tail}"
            for cid in ogc.COLLECTIONS
            for tail in ("", "/queryables", "/items")
        ),
        f"{ITEMS.format('stations')}/WS001",
        f"{ITEMS.format('sites')}/RS01",
        f"{ITEMS.format('towns')}/110118001",
        f"{ITEMS.format('boundary')}/110118",
    ]
    for path in paths:
        sep = "&" if "?" in path else "?"
        r = client.get(f"{path}{sep}f=html")
        assert r.status_code == 200, path
        assert r.mimetype == "text/html"
        html = r.get_data(as_text=True)
        assert '<html lang="zh-Hans">' in html
        assert "<script" not in html
        assert "nonce-" in r.headers["Content-Security-Policy"]
        assert r.headers["X-Frame-Options"] == "DENY"
        assert not re.search(r'(?:src|href)="(?:https?:)?//(?!localhost)', html), path
    r = client.get(ITEMS.format("stations"))
    assert r.headers["Content-Security-Policy"] == security.OTHER_POLICY


def test_items_page_pages_and_links_each_feature(client, store):
    html = client.get(f"{ITEMS.format('stations')}?f=html&limit=5&offset=5").get_data(as_text=True)
    assert "共 104 个，本页 5 个" in html
    assert 'rel="prev"' in html
    assert 'rel="next"' in html
    assert "offset=10&amp;f=html" in html
    for sid in list(store.stations()["id"])[5:10]:
        assert f'href="/ogc/collections/stations/items/{sid}?f=html"' in html


EVIL = '<script>alert("驿站")</script>'


def test_hostile_names_are_escaped_on_the_pages(app, client, store, tmp_path):
    path = tmp_path / "evil.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["name", "lon", "lat", "opening_hours", "address"])
        writer.writerow([EVIL, 116.84, 40.37, "24/7", "<b>街</b>{{ 7*7 }}"])
    report = catalog.import_file(store, "stations", path)
    (sid,) = report.added
    store.update("boundary", lambda g: (g.assign(name="<i>区</i>"), None))
    pages = [
        f"{ITEMS.format('stations')}?f=html&limit=1000",
        f"{ITEMS.format('stations')}/{sid}?f=html",
        "/ogc?f=html",
        "/ogc/collections?f=html",
        "/ogc/collections/boundary?f=html",
        f"{ITEMS.format('boundary')}?f=html",
    ]
    for page in pages:
        html = client.get(page).get_data(as_text=True)
        assert "<script" not in html, page
        assert "<i>区</i>" not in html
        assert "<b>街</b>" not in html
    html = client.get(pages[0]).get_data(as_text=True)
    assert "&lt;script&gt;alert(&#34;驿站&#34;)&lt;/script&gt;" in html
    assert "{{ 7*7 }}" in html  # data, never a template
    assert "&lt;i&gt;区&lt;/i&gt;界" in client.get(pages[4]).get_data(as_text=True)
    # The JSON keeps the name as stored.
    feature = _get(client, f"{ITEMS.format('stations')}/{sid}")
    assert feature["properties"]["name"] == EVIL


# -- OWSLib, live ------------------------------------------------------------------------------


@pytest.fixture
def loopback_only(monkeypatch):
    """No proxy, and no connection anywhere but the loopback interface."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    connect = socket.socket.connect

    def loopback(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            assert ipaddress.ip_address(address[0]).is_loopback, address
        return connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", loopback)


@pytest.fixture
def live(tmp_path, loopback_only):
    """The app served on a free port of 127.0.0.1: (its base URL, its store)."""
    app = make_app(tmp_path)
    with serving(app) as url:
        yield url, app.extensions[STORE_KEY]


def test_owslib_reads_the_collections_and_pages_through_them(live):
    from owslib.ogcapi.features import Features

    url, store = live
    api = Features(f"{url}/ogc")
    assert api.links  # the landing page, read on construction
    assert CORE in api.conformance()["conformsTo"]
    assert api.api()["openapi"] == "3.0.3"  # found through the service-desc link
    listed = api.collections()["collections"]
    assert [c["id"] for c in listed] == list(ogc.COLLECTIONS)
    assert api.feature_collections() == list(ogc.COLLECTIONS)
    stations = api.collection("stations")
    assert stations["itemType"] == "feature"
    assert stations["extent"]["spatial"]["bbox"][0] == pytest.approx(
        list(store.stations().total_bounds)
    )
    assert "kind" in api.collection_queryables("stations")["properties"]
    for cid, layer in (("stations", store.stations()), ("sites", store.sites())):
        ids, offset = [], 0
        while True:
            page = api.collection_items(cid, limit=40, offset=offset)
            assert page["numberMatched"] == len(layer)
            ids += [f["id"] for f in page["features"]]
            if not any(link["rel"] == "next" for link in page["links"]):
                break
            offset += 40
        assert ids == list(layer["id"]), cid
    homes = api.collection_items("stations", kind="worker_home", bbox=[116, 40, 118, 41])
    assert homes["numberMatched"] == (store.stations()["kind"] == "worker_home").sum()
    assert api.collection_item("stations", "WS001")["properties"]["id"] == "WS001"
    with pytest.raises(RuntimeError, match="没有名为"):
        api.collection_items("nope")


def test_other_hosts_are_refused_by_the_guard(loopback_only):
    with pytest.raises(AssertionError), socket.create_connection(("192.0.2.1", 80), timeout=1):
        pass


# -- fuzzing the OpenAPI description -----------------------------------------------------------


@pytest.mark.slow
def test_schemathesis_over_the_ogc_description(tmp_path):
    """Every operation of /ogc/api, valid and invalid requests: no 5xx, documented status
    codes, media types and answers (the description is a usable OpenAPI 3.0 document)."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    schema = schemathesis.openapi.from_wsgi("/ogc/api", make_app(tmp_path))
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    operations = [op.ok() for op in schema.get_all_operations()]
    assert len(operations) >= 4 * len(ogc.COLLECTIONS)
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=10,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            def run(case):
                case.validate_response(case.call(), checks=checks)

            run()
