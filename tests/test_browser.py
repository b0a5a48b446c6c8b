"""The home page in a real headless Chromium: markers render, no console errors, no CDN."""

from __future__ import annotations

import pytest
from conftest import ARTIFACTS, needs_chromium, serving, watched_page

#: Every test here drives a browser: seconds each.
pytestmark = [needs_chromium, pytest.mark.slow]


@pytest.fixture
def live_server(app):
    with serving(app) as url:
        yield url


def test_home_page_renders_map_with_markers_offline(live_server, browser):
    context, page, watch = watched_page(
        browser, live_server, viewport={"width": 1280, "height": 860}, locale="zh-CN"
    )
    page.goto(live_server + "/", wait_until="networkidle")
    page.wait_for_selector(".leaflet-marker-icon", timeout=15000)
    assert page.title() == "密云区暖心驿站地图"
    assert page.locator("html").get_attribute("lang") == "zh-Hans"
    # The cluster holds all 104 stations; on screen they show as clusters.
    held = page.evaluate(
        "() => Object.values(window).filter(v => v instanceof L.MarkerClusterGroup)"
        ".reduce((n, g) => n + g.getLayers().length, 0)"
    )
    assert held == 104
    clustered = sum(int(t) for t in page.locator(".marker-cluster").all_inner_texts())
    assert clustered > 50
    assert page.locator(".leaflet-control-layers").count() == 1
    assert "示例数据" in page.locator(".geoservice-notice").inner_text()
    assert page.locator("path.leaflet-interactive").count() >= 2  # boundary + reservoir
    # The offline basemap: major roads of the routing network, drawn under everything.
    page.wait_for_selector("path.road", state="attached")
    assert page.locator(".leaflet-roads-pane path.road").count() >= 2
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "index.png"))
    # Open a station popup: zoom into the town centre (no animation, so the markers are
    # settled), then click a warm-station marker that lies inside the view.
    page.evaluate(
        "() => { const m = Object.values(window).find(v => v && v._leaflet_id && v.setView);"
        " m.setView([40.377, 116.845], 15, {animate: false}); }"
    )
    page.wait_for_function(
        "() => document.querySelectorAll('.awesome-marker-icon-red').length > 0"
        " && !document.querySelector('.leaflet-cluster-anim')"
    )
    view = page.viewport_size
    inside = [
        m
        for m in page.locator(".awesome-marker-icon-red").all()
        if (box := m.bounding_box())
        and 60 < box["x"] < view["width"] - 200
        and 160 < box["y"] < view["height"] - 60
    ]
    assert inside
    inside[0].click()
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for(timeout=5000)
    page.wait_for_timeout(500)
    assert popup.is_visible()
    assert "开放时间" in popup.inner_text()
    assert "暖心驿站" in popup.inner_text()
    page.screenshot(path=str(ARTIFACTS / "index_popup.png"))
    watch.check(page)  # no errors, nothing from elsewhere, the page keeps its own policy
    context.close()


def test_home_page_labels_a_schematic_road_network(live_server, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    body = '{"type": "FeatureCollection", "schematic": true, "features": []}'
    page.route(
        "**/api/network/roads",
        lambda route: route.fulfill(status=200, content_type="application/json", body=body),
    )
    page.goto(live_server + "/", wait_until="networkidle")
    note = page.locator(".geoservice-schematic-note")
    note.wait_for(timeout=10000)
    assert "示意路网" in note.inner_text()
    # The real (small, hand-written) test network is not schematic: no label.
    page.unroute("**/api/network/roads")
    page.goto(live_server + "/", wait_until="networkidle")
    page.wait_for_selector("path.road", state="attached")
    assert page.locator(".geoservice-schematic-note").count() == 0
