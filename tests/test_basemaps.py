"""Basemaps (``TILES``): the choices and their errors, the pages' Content-Security-Policy,
the offline default; in Chromium, the JS port of the GCJ-02 shift against geoservice.crs,
and markers and clicks measured by pixel against stub tiles served from loopback."""

from __future__ import annotations

import dataclasses
import io
import json
import math
import re
import urllib.parse

import numpy as np
import pytest
from conftest import make_app, needs_chromium, serving, watched_page
from PIL import Image, ImageDraw
from werkzeug.wrappers import Request, Response

from geoservice import crs, maps
from geoservice.errors import BasemapError
from geoservice.web import create_app

KEY = "0123456789abcdef0123456789abcdef"

# -- the setting ------------------------------------------------------------------------------


def test_the_default_is_the_offline_roads_basemap(tmp_path):
    app = create_app({"TESTING": True, "STORE_PATH": str(tmp_path / "live.gpkg")})
    assert app.config["TILES"] == "roads"
    assert maps.basemaps(app.config["TILES"]) == (maps.Basemap("roads", "道路（离线）Roads"),)
    assert maps.basemaps(None) == maps.basemaps("") == maps.basemaps("roads")


def test_choices_in_order_the_first_shown_first():
    choices = maps.basemaps("roads, amap,tianditu ,osm", KEY)
    assert [c.key for c in choices] == ["roads", "amap", "tianditu", "osm"]
    assert [c.gcj02 for c in choices] == [False, True, False, False]
    amap = choices[1].tiles[0]
    assert amap.url.startswith("https://webrd0{s}.is.autonavi.com/appmaptile?")
    assert amap.subdomains == "1234"
    assert "高德地图" in amap.attribution
    vec, cva = choices[2].tiles
    assert "/vec_w/" in vec.url
    assert "/cva_w/" in cva.url
    assert vec.url.endswith(f"tk={KEY}")
    assert vec.subdomains == "01234567"
    # A list is the same as a comma-separated string.
    assert maps.basemaps(["roads", "amap", "tianditu", "osm"], KEY) == choices


def test_custom_urls_gcj02_prefix_and_attributions_with_commas():
    first, second = maps.basemaps(
        "gcj02:https://t.example.cn/{z}/{x}/{y}.png|© 例, 2024, roads ahead,/tiles/{z}/{x}/{y}.png"
    )
    assert first.gcj02
    assert first.tiles[0].url == "https://t.example.cn/{z}/{x}/{y}.png"
    assert first.tiles[0].attribution == "© 例, 2024, roads ahead"
    assert not second.gcj02
    assert second.tiles[0].url == "/tiles/{z}/{x}/{y}.png"
    # Without an attribution the URL is shown (escaped: it is HTML).
    assert second.tiles[0].attribution == "/tiles/&#123;z&#125;/&#123;x&#125;/&#123;y&#125;.png"


@pytest.mark.parametrize(
    ("tiles", "words"),
    [
        ("bing", "not roads, osm, amap, tianditu or a tile URL"),
        ("ftp://tiles.example.org/{z}/{x}/{y}.png", "only http(s) URLs"),
        ("javascript:alert(1)//{z}/{x}/{y}", "only http(s) URLs"),
        ("https://{s}/{z}/{x}/{y}.png", "only http(s) URLs"),
        ("https://tiles.example.org/{z}/{x}.png", "needs {z}, {x} and {y}"),
        ("roads,osm,roads", "roads more than once"),
        ("roads,", "roads more than once"),
        (",".join(["roads", *(f"/t{i}/{{z}}/{{x}}/{{y}}.png" for i in range(8))]), "at most 8"),
        ("tianditu", "TIANDITU_KEY"),
        (["osm", 3], "a non-empty list of strings"),
        ([], "a non-empty list of strings"),
        (5, "a non-empty list of strings"),
    ],
)
def test_bad_settings_stop_the_app_at_start_with_a_clear_message(tmp_path, tiles, words):
    with pytest.raises(BasemapError, match=re.escape(words)):
        make_app(tmp_path, TILES=tiles)


@pytest.mark.parametrize("key", ["", "short", "has space in it!", "k" * 65])
def test_tianditu_refuses_a_missing_or_bad_key(key):
    with pytest.raises(BasemapError, match="天地图底图需要设置 TIANDITU_KEY"):
        maps.basemaps("roads,tianditu", key)


def test_the_record_form_gets_the_first_basemap_that_needs_no_shift():
    assert maps.tile_layer("roads") is None
    assert maps.tile_layer("amap") is None  # GCJ-02: the form's map does not shift
    assert maps.tile_layer("amap,osm") == maps.TILES["osm"]
    url, attribution = maps.tile_layer(maps.basemaps("roads,tianditu", KEY))
    assert url.startswith("https://t0.tianditu.gov.cn/vec_w/")
    assert "天地图" in attribution


def test_overlays_shift_only_for_a_district_in_china(store):
    from geoservice import district

    miyun = district.current(store)
    assert maps.shifts_to_gcj02(miyun) is True
    lyon = dataclasses.replace(miyun, bounds=(4.7, 45.6, 5.0, 45.9), metric_crs="EPSG:32631")
    assert maps.shifts_to_gcj02(lyon) is False


def test_in_china():
    assert crs.in_china(116.84, 40.37) is True
    assert crs.in_china(2.35, 48.85) is False
    assert crs.in_china(np.array([116.0, 0.0]), 40.0).tolist() == [True, False]


# -- pages and their policy --------------------------------------------------------------------


def _img_src(response) -> str:
    policy = response.headers["Content-Security-Policy"]
    return re.search(r"img-src ([^;]*);", policy).group(1)


@pytest.mark.parametrize(
    ("tiles", "img_src"),
    [
        ("roads", "'self' data:"),
        ("", "'self' data:"),
        ("osm", "'self' data: https://tile.openstreetmap.org"),
        ("amap", "'self' data: https://*.is.autonavi.com"),
        ("tianditu", "'self' data: https://*.tianditu.gov.cn"),
        ("gcj02:http://127.0.0.1:8123/{z}/{x}/{y}.png|s", "'self' data: http://127.0.0.1:8123"),
        (
            "roads,amap,tianditu,osm,/tiles/{z}/{x}/{y}.png",
            "'self' data: https://*.is.autonavi.com https://*.tianditu.gov.cn "
            "https://tile.openstreetmap.org",
        ),
    ],
)
def test_page_policy_allows_exactly_the_configured_tile_servers(tmp_path, tiles, img_src):
    app = make_app(tmp_path, TILES=tiles, TIANDITU_KEY=KEY)
    client = app.test_client()
    for path in ("/", "/nearest"):
        assert _img_src(client.get(path)) == img_src


PAGES = ("/", "/nearest", "/caravan", "/coverage")


def test_the_default_pages_ask_no_tile_server(client):
    for path in PAGES:
        html = client.get(path).get_data(as_text=True)
        assert "L.tileLayer" not in html, path
        assert "{z}" not in html, path
        assert "/static/crs.js" in html


def test_every_page_offers_the_configured_choices(tmp_path):
    app = make_app(tmp_path, TILES="roads,amap,tianditu", TIANDITU_KEY=KEY)
    client = app.test_client()
    for path in PAGES:
        html = client.get(path).get_data(as_text=True)
        assert "L.control.layers(" in html, path
        assert html.count("L.tileLayer(") == 3, path  # amap, tianditu's map and labels
        assert '"gcj02": true' in html, path
        assert '"gcj02Shift": true' in html, path
        base = re.search(r"base_layers : \{(.*?)\}", html, re.DOTALL).group(1)
        names = [json.loads(n) for n in re.findall(r'("[^"]*") :', base)]
        assert names == [
            str(maps.layer_name(label))
            for label in ("道路（离线）Roads", "高德地图 Amap", "天地图 Tianditu")
        ], path


# -- in Chromium --------------------------------------------------------------------------------


def _tile(z: int, x: int, y: int) -> bytes:
    """A 256×256 PNG tile with a grid (and its z/x/y written in it)."""
    image = Image.new("RGB", (256, 256), (246, 244, 238))
    draw = ImageDraw.Draw(image)
    for i in range(0, 256, 32):
        draw.line([(i, 0), (i, 255)], fill=(200, 200, 200))
        draw.line([(0, i), (255, i)], fill=(200, 200, 200))
    draw.rectangle([0, 0, 255, 255], outline=(90, 90, 90))
    draw.text((6, 6), f"{z}/{x}/{y}", fill=(60, 60, 60))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@Request.application
def _tiles_app(request: Request) -> Response:
    match = re.fullmatch(r"/[a-z]+/(\d+)/(\d+)/(\d+)\.png", request.path)
    if not match:
        return Response("not a tile", status=404)
    return Response(_tile(*(int(v) for v in match.groups())), mimetype="image/png")


@pytest.fixture
def tile_server():
    with serving(_tiles_app) as url:
        yield url


def _world_pixel(lon: float, lat: float, z: int) -> tuple[float, float]:
    """Web Mercator pixel of a position at zoom ``z`` (256-pixel tiles)."""
    size = 256 * 2**z
    phi = math.radians(lat)
    x = (lon + 180.0) / 360.0 * size
    y = (1.0 - math.log(math.tan(phi) + 1.0 / math.cos(phi)) / math.pi) / 2.0 * size
    return x, y


def _lonlat(px: float, py: float, z: int) -> tuple[float, float]:
    """Inverse of `_world_pixel`."""
    size = 256 * 2**z
    lon = px / size * 360.0 - 180.0
    lat = math.degrees(math.atan(math.sinh(math.pi * (1.0 - 2.0 * py / size))))
    return lon, lat


def _on_screen(page, prefix: str, lon: float, lat: float, z: int) -> tuple[float, float]:
    """Where a (tile-grid) position is drawn in the viewport: measured on the shown tile
    ``prefix/z/x/y.png`` that holds it."""
    px, py = _world_pixel(lon, lat, z)
    tx, ty = int(px // 256), int(py // 256)
    tile = page.locator(f'img.leaflet-tile[src$="/{prefix}/{z}/{tx}/{ty}.png"]')
    tile.wait_for(state="visible", timeout=10000)
    page.wait_for_function(
        "(src) => [...document.images].some(i => i.src.endsWith(src) && i.complete)",
        arg=f"/{prefix}/{z}/{tx}/{ty}.png",
    )
    box = tile.bounding_box()
    return box["x"] + px - 256 * tx, box["y"] + py - 256 * ty


# Centre of the station's circle marker on /nearest, measured in the DOM.
_MARKER = """([lon, lat]) => {
    let found = null;
    window.geoserviceMap.eachLayer((l) => {
        if (l instanceof L.CircleMarker && Math.abs(l.getLatLng().lat - lat) < 1e-9
            && Math.abs(l.getLatLng().lng - lon) < 1e-9) found = l;
    });
    const r = found._path.getBoundingClientRect();
    return [r.x + r.width / 2, r.y + r.height / 2];
}"""

Z = 16


def _station(app) -> tuple[float, float]:
    from geoservice.web import STORE_KEY

    stations = app.extensions[STORE_KEY].stations()
    point = stations.loc[stations["kind"] == "warm_station"].geometry.iloc[0]
    return point.x, point.y


def _open_at(page, url: str, lon: float, lat: float) -> None:
    page.goto(url + "/nearest", wait_until="networkidle")
    page.wait_for_function("() => document.body.classList.contains('nearest-ready')")
    page.evaluate(
        "([lon, lat, z]) => window.geoserviceMap.setView([lat, lon], z, {animate: false})",
        [lon, lat, Z],
    )


def _check(watch, page, tile_server: str) -> None:
    """No console error, no CSP violation, nothing asked of any server but the app and the
    stub tiles."""
    watch.external = [u for u in watch.external if not u.startswith(tile_server)]
    watch.check(page)


@needs_chromium
@pytest.mark.slow
def test_js_shift_equals_geoservice_crs(client, browser):
    with serving(client.application) as url:
        context, page, watch = watched_page(browser, url)
        page.goto(url + "/nearest", wait_until="networkidle")
        lon, lat = np.meshgrid(np.linspace(73.0, 135.0, 32), np.linspace(18.0, 53.5, 24))
        lon = np.concatenate([lon.ravel(), np.linspace(116.6, 117.4, 50), [2.35, -74.0, 150.0]])
        lat = np.concatenate([lat.ravel(), np.linspace(40.0, 40.8, 50), [48.85, 40.7, -33.9]])
        points = np.column_stack([lon, lat]).tolist()
        js = np.array(
            page.evaluate(
                "(pts) => pts.map(([x, y]) => [...geoserviceCrs.toGcj02(x, y),"
                " ...geoserviceCrs.toWgs84(x, y)])",
                points,
            )
        )
        for (x, y), (out_x, out_y) in (
            (crs.wgs84_to_gcj02(lon, lat), js[:, :2].T),
            (crs.gcj02_to_wgs84(lon, lat), js[:, 2:].T),
        ):
            assert np.max(crs.residual_m(x, y, out_x, out_y)) < 0.01
        # The test can fail: the shift is metres to hundreds of metres in China, none outside.
        assert np.all(crs.residual_m(lon[:-3], lat[:-3], js[:-3, 0], js[:-3, 1]) > 1)
        assert js[-3:, 0].tolist() == lon[-3:].tolist()
        watch.check(page)
        context.close()


@needs_chromium
@pytest.mark.slow
@pytest.mark.parametrize("gcj02", [True, False])
def test_a_station_sits_on_its_tile_grid_position(tmp_path, browser, tile_server, gcj02):
    prefix = "gcj02:" if gcj02 else ""
    app = make_app(tmp_path, TILES=f"{prefix}{tile_server}/g/{{z}}/{{x}}/{{y}}.png|stub")
    lon, lat = _station(app)
    shown = crs.wgs84_to_gcj02(lon, lat) if gcj02 else (lon, lat)
    other = (lon, lat) if gcj02 else crs.wgs84_to_gcj02(lon, lat)
    with serving(app) as url:
        context, page, watch = watched_page(browser, url, viewport={"width": 1000, "height": 800})
        _open_at(page, url, lon, lat)
        marker = page.evaluate(_MARKER, [lon, lat])
        expected = _on_screen(page, "g", *shown, Z)
        assert math.dist(marker, expected) <= 2
        # The two positions are far apart at this zoom: the test can tell them apart.
        assert math.dist(marker, _on_screen(page, "g", *other, Z)) > 100
        _check(watch, page, tile_server)
        context.close()


@needs_chromium
@pytest.mark.slow
def test_switching_basemap_reprojects_and_clicks_come_back_in_wgs84(tmp_path, browser, tile_server):
    app = make_app(
        tmp_path,
        TILES=f"gcj02:{tile_server}/g/{{z}}/{{x}}/{{y}}.png|GCJ,{tile_server}/w/{{z}}/{{x}}/{{y}}.png|WGS",
    )
    lon, lat = _station(app)
    with serving(app) as url:
        context, page, watch = watched_page(
            browser, url, api="/api/nearest", viewport={"width": 1000, "height": 800}
        )
        _open_at(page, url, lon, lat)
        assert (
            math.dist(
                page.evaluate(_MARKER, [lon, lat]),
                _on_screen(page, "g", *crs.wgs84_to_gcj02(lon, lat), Z),
            )
            <= 2
        )
        # A tap 60 px right of and 40 px below the marker, on the GCJ-02 tiles: the search
        # starts from the WGS84 position of that spot.
        x, y = page.evaluate(_MARKER, [lon, lat])
        page.mouse.click(x + 60, y + 40)
        page.wait_for_function("() => document.querySelector('#nearest-status') !== null")
        page.wait_for_timeout(500)
        tile_px = _world_pixel(*crs.wgs84_to_gcj02(lon, lat), Z)
        g_lon, g_lat = _lonlat(tile_px[0] + 60, tile_px[1] + 40, Z)
        want = crs.gcj02_to_wgs84(g_lon, g_lat)
        asked = urllib.parse.parse_qs(urllib.parse.urlsplit(watch.api[-1]).query)
        got = (float(asked["lon"][0]), float(asked["lat"][0]))
        assert crs.residual_m(*want, *got) < 4  # a pixel is ~1.8 m at zoom 16
        assert crs.residual_m(g_lon, g_lat, *got) > 100  # not the GCJ-02 position
        # Outside China (the map's gcj02Shift off) the same tiles shift nothing.
        assert page.evaluate(
            "() => { const m = window.geoserviceMap; m.options.gcj02Shift = false;"
            " geoserviceCrs.apply(m); const code = m.options.crs.code;"
            " m.options.gcj02Shift = true; geoserviceCrs.apply(m);"
            " return [code, m.options.crs.code]; }"
        ) == ["EPSG:3857", "GCJ02"]
        # The WGS84 tiles from the layer control: the marker moves onto them.
        page.hover(".leaflet-control-layers")
        page.get_by_text("底图 2（127.0.0.1").click()
        page.wait_for_function("() => window.geoserviceMap.options.crs.code === 'EPSG:3857'")
        # (The answer to the tap may have moved the view.)
        page.evaluate(
            "([lon, lat, z]) => window.geoserviceMap.setView([lat, lon], z, {animate: false})",
            [lon, lat, Z],
        )
        assert (
            math.dist(page.evaluate(_MARKER, [lon, lat]), _on_screen(page, "w", lon, lat, Z)) <= 2
        )
        _check(watch, page, tile_server)
        context.close()
