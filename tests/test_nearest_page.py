"""The ``/nearest`` page: HTML served offline, and the whole flow in headless Chromium.

The browser tests run against a live server whose road network is the small real-format
extract ``tests/data/gulou_small.osm`` (a few streets in 鼓楼), with a handful of test
stations on it, so that a query takes milliseconds.
"""

from __future__ import annotations

import json
import re

import geopandas as gpd
import pytest
from conftest import ARTIFACTS, needs_chromium, offline_page, serving, stations_frame, watched_page

from geoservice.web import STORE_KEY

#: Every test here drives a browser: seconds each.
pytestmark = pytest.mark.slow

PHONE = {"width": 390, "height": 844}
#: Where the fake GPS puts the worker: on 西路 of the small grid.
HERE = {"longitude": 116.8312, "latitude": 40.3690}

# Stations on the small grid (as in tests/test_nearest.py), with hours and amenities that
# differ so the filters matter, and a name that would be markup if it were not escaped.
STATIONS = [
    (116.8301, 40.3689, "<b>西路</b>暖心驿站", "24/7", "hot_water;microwave;charging"),
    (116.8336, 40.3716, "北街暖心驿站", "24/7", "hot_water;toilet"),
    (116.8348, 40.3690, "东路暖心驿站", "24/7", "hot_water;charging;heating"),
    (116.8324, 40.3705, "中路暖心驿站（已关闭）", "off", "hot_water"),
    (116.8315, 40.3760, "服务路暖心驿站", "24/7", "hot_water"),
]


def _stations_frame() -> gpd.GeoDataFrame:
    return stations_frame(
        [(s[0], s[1]) for s in STATIONS],
        names=[s[2] for s in STATIONS],
        hours=[s[3] for s in STATIONS],
        amenities=[s[4] for s in STATIONS],
    )


# -- HTML ---------------------------------------------------------------------------------


def test_nearest_page_is_offline_zh_with_controls(client):
    html, links = offline_page(client, "/nearest")
    assert {"/static/nearest.js", "/static/nearest.css"} <= set(links)
    for text in ("找最近的暖心驿站", "定位我", "步行", "电动车", "驾车", "只看开放中", "全区地图"):
        assert text in html, text
    for label in ("热水", "微波炉", "手机充电", "卫生间", "取暖"):
        assert f">{label}</button>" in html, label
    assert "window.geoserviceMap" in html
    config = json.loads(re.search(r'id="nearest-config">(.*?)</script>', html).group(1))
    assert config["api"] == "/api/nearest"
    # The map script must run after the map exists: our hook is after folium's L.map(…).
    assert html.index("L.map(") < html.index("window.geoserviceMap =")


def test_home_page_links_to_nearest(client):
    html = client.get("/").get_data(as_text=True)
    assert 'href="/nearest"' in html
    assert "找最近驿站" in html


def test_nearest_page_escapes_names_and_follows_store(client, store):
    evil = '<img src=x onerror="alert(1)">'
    store.update(
        "stations", lambda g: (g.assign(name=g["name"].where(g["id"] != "WS001", evil)), None)
    )
    html = client.get("/nearest").get_data(as_text=True)
    assert "<img src=x" not in html
    # The tooltip label is HTML-escaped before folium JSON-encodes it (folium's tooltip
    # uses innerHTML), so the page holds "&lt;img" as JSON: "\u0026lt;img".
    assert "\\u0026lt;img src=x" in html
    store.update("stations", lambda g: (g.loc[g["id"] != "WS001"], None))
    assert "img src=x" not in client.get("/nearest").get_data(as_text=True)


# -- browser ------------------------------------------------------------------------------


@pytest.fixture
def live_app(grid_app):
    """The small-network app of conftest, with this page's own test stations."""
    grid_app.extensions[STORE_KEY].update("stations", lambda g: (_stations_frame(), None))
    return grid_app


@pytest.fixture
def live_server(live_app):
    with serving(live_app) as url:
        yield url


def _phone(browser, origin: str, *, geolocation: bool):
    kwargs = {"viewport": PHONE, "has_touch": True, "is_mobile": True, "locale": "zh-CN"}
    if geolocation:
        kwargs["geolocation"] = HERE
    context, page, watch = watched_page(browser, origin, "/api/nearest", **kwargs)
    if geolocation:
        context.grant_permissions(["geolocation"], origin=origin)
    page.goto(origin + "/nearest", wait_until="networkidle")
    page.wait_for_function("() => document.body.classList.contains('nearest-ready')")
    return context, page, watch


def _screen_point(page, lon: float, lat: float) -> tuple[float, float]:
    """Page coordinates of a lon/lat, asserting the point is inside the visible map."""
    point = page.evaluate(
        """([lon, lat]) => {
            const m = window.geoserviceMap;
            const p = m.latLngToContainerPoint([lat, lon]);
            const r = m.getContainer().getBoundingClientRect();
            return {x: r.left + p.x, y: r.top + p.y, left: r.left, top: r.top,
                    right: r.right, bottom: r.bottom};
        }""",
        [lon, lat],
    )
    assert point["left"] < point["x"] < point["right"], point
    assert point["top"] < point["y"] < point["bottom"], point
    return point["x"], point["y"]


def _settle(page) -> None:
    """Let Leaflet's fitBounds animation and CSS transitions finish before a screenshot."""
    page.wait_for_function("() => !window.geoserviceMap._animatingZoom")
    page.wait_for_timeout(400)


def _card_ids(page) -> list[str]:
    return page.eval_on_selector_all(".result-card", "cards => cards.map(c => c.dataset.stationId)")


@needs_chromium
def test_phone_flow_locate_tap_mode_and_navigate(live_server, browser):
    context, page, watch = _phone(browser, live_server, geolocation=True)
    assert page.title() == "找最近的暖心驿站 · 密云区总工会"
    # Riders are the default audience: e-bike is preselected on a first visit.
    assert page.locator("input[name=mode][value=bike]").is_checked()

    page.get_by_role("button", name="定位我").tap()
    page.wait_for_selector(".result-card", timeout=10000)
    page.wait_for_selector("path.route", timeout=5000)
    assert "mode=bike" in watch.api[-1]
    assert "open=1" in watch.api[-1]
    cards = page.locator(".result-card")
    assert 1 <= cards.count() <= 3
    assert page.locator("path.route").count() == cards.count()
    ids = _card_ids(page)
    assert "T03" not in ids  # closed, and "只看开放中" is on
    first = cards.first
    assert re.fullmatch(
        r"约 \d+ 分钟 · \d+ 米|约 \d+ 分钟 · \d+\.\d 公里", first.locator(".card-time").inner_text()
    )
    assert "24小时开放" in first.inner_text()  # hours shown in Chinese
    assert first.locator("a[href^='tel:']").count() == 1
    # The name is shown as text, not interpreted as markup.
    assert page.locator(".result-card b").count() == 0
    assert "<b>西路</b>暖心驿站" in page.locator(".card-name").all_inner_texts()
    # The fastest route is the bold one.
    widths = page.eval_on_selector_all(
        "path.route",
        "ps => ps.map(p => [p.getAttribute('class'), +p.getAttribute('stroke-width')])",
    )
    best = [w for c, w in widths if "route-1" in c]
    others = [w for c, w in widths if "route-1" not in c]
    assert len(best) == 1
    assert all(best[0] > w for w in others)
    amap = page.locator(".nav-amap").first
    baidu = page.locator(".nav-baidu").first
    assert amap.get_attribute("href").startswith("https://uri.amap.com/navigation")
    assert baidu.get_attribute("href").startswith("https://api.map.baidu.com/direction")
    assert amap.get_attribute("target") == "_blank"
    assert "noopener" in amap.get_attribute("rel")
    assert page.locator(".card-status.is-open").count() == cards.count()
    ARTIFACTS.mkdir(exist_ok=True)
    _settle(page)
    page.screenshot(path=str(ARTIFACTS / "nearest_phone.png"))

    # Tap the map elsewhere: a new origin, a new query, new answers.
    before = len(watch.api)
    x, y = _screen_point(page, 116.8330, 40.3700)
    # Chromium's touch adjustment moves a tap by up to ~16 px towards clickable shapes
    # (the station dots), so the origin is "where the finger was", give or take that.
    slack = page.evaluate(
        """([x, y]) => {
            const m = window.geoserviceMap, r = m.getContainer().getBoundingClientRect();
            const a = m.containerPointToLatLng([x - r.left, y - r.top]);
            const b = m.containerPointToLatLng([x - r.left + 24, y - r.top + 24]);
            return [Math.abs(b.lng - a.lng), Math.abs(b.lat - a.lat)];
        }""",
        [x, y],
    )
    with page.expect_response(lambda r: "/api/nearest" in r.url) as resp:
        page.touchscreen.tap(x, y)
    assert resp.value.status == 200
    lon = float(re.search(r"lon=([\d.]+)", resp.value.url).group(1))
    lat = float(re.search(r"lat=([\d.]+)", resp.value.url).group(1))
    assert lon == pytest.approx(116.8330, abs=slack[0])
    assert lat == pytest.approx(40.3700, abs=slack[1])
    page.wait_for_function(
        "() => document.querySelector('.nearest-status').textContent.includes('地图选点')"
    )
    assert len(watch.api) == before + 1
    assert page.locator(".result-card").count() >= 1

    # Switch to driving: re-query for the same origin with mode=drive, remembered.
    with page.expect_request(lambda r: "/api/nearest" in r.url and "mode=drive" in r.url) as req:
        page.locator(".mode-option", has_text="驾车").tap()
    assert f"lon={lon:.6f}" in req.value.url
    page.wait_for_function(
        "() => document.querySelector('.nearest-status').textContent.includes('驾车')"
    )
    assert page.locator(".result-card").count() >= 1
    assert page.locator(".nav-amap").first.get_attribute("href").find("mode=car") > 0
    assert page.evaluate("() => localStorage.getItem('geoservice.nearest.mode')") == "drive"

    # Amenity chip: only stations with a microwave (T00 alone on the grid).
    with page.expect_request(lambda r: "amenity=microwave" in r.url):
        page.get_by_role("button", name="微波炉").tap()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.result-card')].map(c => c.dataset.stationId)"
        ".join() === 'T00'"
    )
    # Open-only off: the closed station becomes eligible again (no filter chips).
    page.get_by_role("button", name="微波炉").tap()
    page.wait_for_timeout(300)
    with page.expect_request(lambda r: "open=0" in r.url):
        page.locator(".open-switch").tap()
    page.wait_for_function(
        "() => !document.body.classList.contains('is-busy') &&"
        " document.querySelectorAll('.result-card').length === 3"
    )
    _settle(page)
    page.screenshot(path=str(ARTIFACTS / "nearest_phone_drive.png"))

    # Tapping a card highlights its route (and its card).
    cards.nth(1).locator(".card-name").tap()
    page.wait_for_selector("path.route-2.route-selected", timeout=3000)
    assert "is-selected" in cards.nth(1).get_attribute("class")
    assert page.locator("path.route-selected").count() == 1

    assert page.evaluate("window.__csp") == []  # the page satisfies its own policy

    # Reload: the mode is remembered.
    page.reload(wait_until="networkidle")
    assert page.locator("input[name=mode][value=drive]").is_checked()
    watch.check(page)
    context.close()


@needs_chromium
def test_far_tap_shows_the_422_message(live_server, browser):
    context, page, watch = _phone(browser, live_server, geolocation=False)
    page.evaluate("() => window.geoserviceMap.setView([40.7, 117.3], 12, {animate: false})")
    x, y = _screen_point(page, 117.3, 40.7)
    with page.expect_response(lambda r: "/api/nearest" in r.url) as resp:
        page.touchscreen.tap(x, y)
    assert resp.value.status == 422
    error = page.locator(".notice-error")
    error.wait_for(timeout=5000)
    text = error.inner_text()
    assert "该点距最近道路" in text
    assert "超过 2 km" in text
    assert page.locator(".result-card").count() == 0
    assert page.locator("path.route").count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    _settle(page)
    page.screenshot(path=str(ARTIFACTS / "nearest_phone_422.png"))
    watch.check(page, expected_status=(422,))
    context.close()


@needs_chromium
def test_denied_geolocation_says_tap_the_map(live_server, browser):
    context, page, watch = _phone(browser, live_server, geolocation=False)
    page.get_by_role("button", name="定位我").tap()
    error = page.locator(".notice-error")
    error.wait_for(timeout=10000)
    assert "点地图" in error.inner_text()
    assert watch.api == []
    watch.check(page)
    context.close()


@needs_chromium
def test_notices_for_schematic_sample_outside_and_empty(live_server, browser):
    """Notices driven by the answer's flags (the small test network is real, so the answer
    is stubbed here; the stub is served on the same origin)."""
    answer = {
        "origin": {
            "lon": 116.83,
            "lat": 40.37,
            "snapped": {"lon": 116.83, "lat": 40.37},
            "snap_distance_m": 3.0,
            "outside_district": True,
        },
        "network": {"mode": "bike", "mode_label": "电动自行车", "schematic": True},
        "mode": "bike",
        "reason": "",
        "results": [
            {
                "id": "X1",
                "name": '<img src=x onerror="window.pwned=1">',
                "lon": 116.831,
                "lat": 40.369,
                "address": "<i>地址</i>",
                "phone": "javascript:alert(1)",
                "opening_hours": "Mo-Fr 08:00-18:00",
                "open_now": False,
                "status": "已关闭 · 明天 08:00 开放",
                "amenity_labels": ["热水"],
                "source": "sample",
                "travel_time_min": 12,
                "network_distance_m": 2345.6,
                "route": {
                    "type": "LineString",
                    "coordinates": [[116.83, 40.37], [116.831, 40.369]],
                },
                "navigation": {
                    "amap": "javascript:alert(1)",
                    "baidu": "https://api.map.baidu.com/direction?x",
                },
            }
        ],
    }
    context, page, watch = _phone(browser, live_server, geolocation=False)
    replies = [
        answer,
        {**answer, "results": [], "reason": "此时没有开放的站点 / no matching station is open"},
    ]
    page.route(
        "**/api/nearest?*",
        lambda route: route.fulfill(
            status=200, content_type="application/json", body=json.dumps(replies.pop(0))
        ),
    )
    page.evaluate("() => window.geoserviceMap.fire('click', {latlng: L.latLng(40.37, 116.83)})")
    page.wait_for_selector(".result-card")
    notices = page.locator(".nearest-notices").inner_text()
    assert "示意路网" in notices
    assert "示例数据" in notices
    assert "密云区外" in notices
    card = page.locator(".result-card")
    assert "约 12 分钟 · 2.3 公里" in card.inner_text()
    assert card.locator(".card-status.is-closed").count() == 1
    assert page.evaluate("() => window.pwned") is None
    assert card.locator("img, i").count() == 0
    assert card.locator(".nav-amap").count() == 0  # a non-https link is dropped
    # A phone link needs a number (≥ 3 digits) and keeps only digits: a "javascript:"
    # phone is shown as text and cannot become a link of any kind.
    assert card.locator("a").count() == 1  # the Baidu button only
    assert "javascript:alert(1)" in card.locator(".card-facts").inner_text()
    page.evaluate("() => window.geoserviceMap.fire('click', {latlng: L.latLng(40.371, 116.832)})")
    page.wait_for_selector(".notice-empty")
    assert "此时没有开放的站点" in page.locator(".notice-empty").inner_text()
    assert page.locator(".result-card").count() == 0
    watch.check(page)
    context.close()
